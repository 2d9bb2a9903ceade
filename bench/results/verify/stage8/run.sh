#!/bin/bash
# #15's verify table on the stage-8 default (session 12): every bundle kind on the default set
# (250 utterances, 2252 words), one after another on the 2 cores.
cd "$(dirname "$0")/../../../.." && source .venv/bin/activate
out=bench/results/verify/stage8; b=/tmp/b8; cal=$HOME/.cache/echo-edge/evalset/cf6dfd2b9d88dcb5/manifest.jsonl
mkdir -p $b
step() { local name=$1; shift; local t=$(date +%s); "$@"; echo "$name rc $? $(( $(date +%s) - t )) s" >> $out/wall.txt; }
step export-fp32 echo-edge export --backend onnx --precision fp32 --out $b/onnx-fp32 --no-verify --force
step verify-fp32 echo-edge verify $b/onnx-fp32 --out $out/onnx-fp32.json
step export-fp16 echo-edge export --backend onnx --precision fp16 --from-onnx $b/onnx-fp32 --out $b/onnx-fp16 --no-verify --force
step verify-fp16 echo-edge verify $b/onnx-fp16 --out $out/onnx-fp16.json
step export-static echo-edge export --backend onnx --precision int8 --quant static --calibration $cal --from-onnx $b/onnx-fp32 --out $b/onnx-int8-static --no-verify --force
step verify-static echo-edge verify $b/onnx-int8-static --out $out/onnx-int8-static-devcal.json
step export-et-fp32 echo-edge export --backend executorch --precision fp32 --out $b/et-fp32 --no-verify --force
step verify-et-fp32 echo-edge verify $b/et-fp32 --out $out/executorch-fp32.json
step export-et-int8 echo-edge export --backend executorch --precision int8 --calibration $cal --out $b/et-int8 --no-verify --force
step verify-et-int8 echo-edge verify $b/et-int8 --out $out/executorch-int8-devcal.json
