#!/bin/bash
# The ONNX fp32 and fp16 bundles of stage8/run.sh verified again with the current stream rule
# (their stage8/ streamed lines are the rule before session 12), for one table of every bundle
# kind with the code as it is (bench/results/verify/README.md, "Every bundle, current code").
cd "$(dirname "$0")/../../../.." && source .venv/bin/activate
out=bench/results/verify/stage8d; b=/tmp/b8
step() { local name=$1; shift; local t=$(date +%s); "$@"; echo "$name rc $? $(( $(date +%s) - t )) s" >> $out/wall.txt; }
step verify-onnx-fp32 echo-edge verify $b/onnx-fp32 --out $out/onnx-fp32.json
step verify-onnx-fp16 echo-edge verify $b/onnx-fp16 --out $out/onnx-fp16.json
