#!/bin/bash
# #15: the ExecuTorch bundles of stage 8 again after export/executorch.py stopped memory-planning
# graph inputs (session 14), with the defaults of stage8c (calibration set, int8.json layers).
# Same default verify set (250 utterances, 2252 words).
cd "$(dirname "$0")/../../../.." && source .venv/bin/activate
out=bench/results/verify/stage8d; b=/tmp/b8
step() { local name=$1; shift; local t=$(date +%s); "$@"; echo "$name rc $? $(( $(date +%s) - t )) s" >> $out/wall.txt; }
: > $out/wall.txt
step export-et-fp32 echo-edge export --backend executorch --precision fp32 --out $b/et-fp32-inputs --no-verify --force
step verify-et-fp32 echo-edge verify $b/et-fp32-inputs --out $out/executorch-fp32.json
step export-et-int8 echo-edge export --backend executorch --precision int8 --out $b/et-int8-inputs --no-verify --force
step verify-et-int8 echo-edge verify $b/et-int8-inputs --out $out/executorch-int8.json
