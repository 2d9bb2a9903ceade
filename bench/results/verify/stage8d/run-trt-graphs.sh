#!/bin/bash
# #15 §4: the ONNX graphs a tensorrt int8 export of the shipped model builds its engines from
# (export.tensorrt: export_onnx with symmetric activations, the int8.json layers and the
# calibration set, as `echo-edge export --backend tensorrt --precision int8` takes them by
# default), as an ONNX bundle verified on this CPU. The engines themselves are not built here
# (no GPU, no tensorrt package).
cd "$(dirname "$0")/../../../.." && source .venv/bin/activate
out=bench/results/verify/stage8d; b=/tmp/b8
step() { local name=$1; shift; local t=$(date +%s); "$@"; echo "$name rc $? $(( $(date +%s) - t )) s" >> $out/wall.txt; }
step export-trt-graphs echo-edge export --backend onnx --precision int8 --quant static --activations symmetric --from-onnx $b/onnx-fp32 --out $b/onnx-int8-static-symmetric --no-verify --force
step verify-trt-graphs echo-edge verify $b/onnx-int8-static-symmetric --out $out/onnx-int8-static-symmetric.json
