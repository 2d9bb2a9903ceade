#!/bin/bash
# #15: static int8 exports as a plain `echo-edge export` makes them now, with no --calibration
# and no --keep-float: the calibration set (export.quantize.load_calibration) and the six
# encoder layers of echo_edge/assets/int8.json (bench/int8_sensitivity.py --write-int8 6 on
# stage 8: bench/results/int8-sensitivity-stage8). Same default verify set (250 utterances,
# 2252 words) and the same fp32 graphs as stage8/run.sh (/tmp/b8/onnx-fp32).
cd "$(dirname "$0")/../../../.." && source .venv/bin/activate
out=bench/results/verify/stage8c; b=/tmp/b8
[ -d $b/onnx-fp32 ] || echo-edge export --backend onnx --precision fp32 --out $b/onnx-fp32 --no-verify --force
step() { local name=$1; shift; local t=$(date +%s); "$@"; echo "$name rc $? $(( $(date +%s) - t )) s" >> $out/wall.txt; }
: > $out/wall.txt
step export-static echo-edge export --backend onnx --precision int8 --quant static --from-onnx $b/onnx-fp32 --out $b/onnx-int8-static-default --no-verify --force
step verify-static echo-edge verify $b/onnx-int8-static-default --out $out/onnx-int8-static.json
step export-et-int8 echo-edge export --backend executorch --precision int8 --out $b/et-int8-default --no-verify --force
step verify-et-int8 echo-edge verify $b/et-int8-default --out $out/executorch-int8.json
