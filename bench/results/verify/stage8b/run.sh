#!/bin/bash
# #15, session 13: static int8 on the stage-8 default two more ways than stage8/run.sh
# (MinMax: stage8/onnx-int8-static-devcal.json): Percentile 99.99 calibration, and MinMax with
# the six encoder layers bench/int8_sensitivity.py ranked worst kept float. Same dev-set
# calibration, same default verify set (250 utterances, 2252 words), same fp32 graphs
# (/tmp/b8/onnx-fp32 from stage8/run.sh).
cd "$(dirname "$0")/../../../.." && source .venv/bin/activate
out=bench/results/verify/stage8b; b=/tmp/b8; cal=$HOME/.cache/echo-edge/evalset/cf6dfd2b9d88dcb5/manifest.jsonl
keep="encoder.blocks.0.mlp.fc2 encoder.blocks.1.mlp.fc2 encoder.blocks.2.mlp.fc2 encoder.blocks.3.mlp.fc2 encoder.blocks.0.attn.out_proj encoder.blocks.3.attn.out_proj"
[ -d $b/onnx-fp32 ] || echo-edge export --backend onnx --precision fp32 --out $b/onnx-fp32 --no-verify --force
step() { local name=$1; shift; local t=$(date +%s); "$@"; echo "$name rc $? $(( $(date +%s) - t )) s" >> $out/wall.txt; }
: > $out/wall.txt
step export-static-pct echo-edge export --backend onnx --precision int8 --quant static --calibrator percentile --calibration $cal --from-onnx $b/onnx-fp32 --out $b/onnx-int8-static-pct --no-verify --force
step verify-static-pct echo-edge verify $b/onnx-int8-static-pct --out $out/onnx-int8-static-percentile.json
step export-static-keep echo-edge export --backend onnx --precision int8 --quant static --calibration $cal --keep-float $keep --from-onnx $b/onnx-fp32 --out $b/onnx-int8-static-keep6 --no-verify --force
step verify-static-keep echo-edge verify $b/onnx-int8-static-keep6 --out $out/onnx-int8-static-keep6.json
# The MinMax bundle of stage8/run.sh again, with the stream rule shipped since session 12 (its
# stage8/ streamed line is the old rule's), and ExecuTorch int8 with the same six layers float.
step verify-static-minmax echo-edge verify $b/onnx-int8-static --out $out/onnx-int8-static-minmax.json
step export-et-int8-keep echo-edge export --backend executorch --precision int8 --calibration $cal --keep-float $keep --out $b/et-int8-keep6 --no-verify --force
step verify-et-int8-keep echo-edge verify $b/et-int8-keep6 --out $out/executorch-int8-keep6.json
