#!/bin/bash
# The noisy-audio checks a candidate must pass before it ships (session 13), one thread each,
# two at a time, with the stream rule shipped since session 12 (2.0 s, 0.14 s,
# 7.5 dB): the endpointer on the 5-minute reading (clean and pink 10 dB) and the dev set, and
# the level sweep at -20/-35/-50 dBFS (the shipped bundle beside it).
# Usage: bench/results/model-compare-s13/checks.sh RUN   (runs/RUN/final, bundles/RUN-int8)
cd "$(dirname "$0")/../../.." && source .venv/bin/activate
run=$1; out=bench/results/model-compare-s13
OMP_NUM_THREADS=1 PYTHONPATH=. python bench/segmentation_sweep.py bundles/$run-int8 2.0,0.14,7.5 > $out/segmentation-$run.txt 2>&1 &
OMP_NUM_THREADS=1 python bench/levels.py --limit 100 --checkpoint runs/$run/final \
  --bundle $run=bundles/$run-int8 --bundle shipped=echo_edge/assets/onnx-int8 --out $out/levels-$run > $out/levels-$run.log 2>&1 &
wait
