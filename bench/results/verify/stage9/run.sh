#!/bin/bash
# #15's verify table on the stage-9 default (session 13): every bundle kind on the default set
# (250 utterances, 2252 words), one after another on the 2 cores; static int8 three ways
# (MinMax, Percentile 99.99, MinMax with the six layers bench/int8_sensitivity.py ranked worst
# kept float). Bundles go to /tmp/b9 (not kept).
cd "$(dirname "$0")/../../../.." && source .venv/bin/activate
out=bench/results/verify/stage9; b=/tmp/b9; cal=$HOME/.cache/echo-edge/evalset/cf6dfd2b9d88dcb5/manifest.jsonl
keep="encoder.blocks.0.mlp.fc2 encoder.blocks.1.mlp.fc2 encoder.blocks.2.mlp.fc2 encoder.blocks.3.mlp.fc2 encoder.blocks.0.attn.out_proj encoder.blocks.3.attn.out_proj"
mkdir -p $b
step() { local name=$1; shift; local t=$(date +%s); "$@"; echo "$name rc $? $(( $(date +%s) - t )) s" >> $out/wall.txt; }
: > $out/wall.txt
step export-fp32 echo-edge export --backend onnx --precision fp32 --out $b/onnx-fp32 --no-verify --force
step verify-fp32 echo-edge verify $b/onnx-fp32 --out $out/onnx-fp32.json
step export-fp16 echo-edge export --backend onnx --precision fp16 --from-onnx $b/onnx-fp32 --out $b/onnx-fp16 --no-verify --force
step verify-fp16 echo-edge verify $b/onnx-fp16 --out $out/onnx-fp16.json
step export-static echo-edge export --backend onnx --precision int8 --quant static --calibration $cal --from-onnx $b/onnx-fp32 --out $b/onnx-int8-static --no-verify --force
step verify-static echo-edge verify $b/onnx-int8-static --out $out/onnx-int8-static-devcal.json
step export-static-pct echo-edge export --backend onnx --precision int8 --quant static --calibrator percentile --calibration $cal --from-onnx $b/onnx-fp32 --out $b/onnx-int8-static-pct --no-verify --force
step verify-static-pct echo-edge verify $b/onnx-int8-static-pct --out $out/onnx-int8-static-percentile.json
step export-static-keep echo-edge export --backend onnx --precision int8 --quant static --calibration $cal --keep-float $keep --from-onnx $b/onnx-fp32 --out $b/onnx-int8-static-keep --no-verify --force
step verify-static-keep echo-edge verify $b/onnx-int8-static-keep --out $out/onnx-int8-static-keep6.json
step export-et-fp32 echo-edge export --backend executorch --precision fp32 --out $b/et-fp32 --no-verify --force
step verify-et-fp32 echo-edge verify $b/et-fp32 --out $out/executorch-fp32.json
step export-et-int8 echo-edge export --backend executorch --precision int8 --calibration $cal --out $b/et-int8 --no-verify --force
step verify-et-int8 echo-edge verify $b/et-int8 --out $out/executorch-int8-devcal.json
