#!/bin/bash
# The noisy-audio checks a candidate model must pass before it ships, one thread each, two at a
# time: the endpointer on the dev set and the 5-minute reading (clean and pink 10 dB), and the
# level sweep at -20/-35/-50 dBFS with the shipped bundle beside it.
# Usage: bench/candidate_checks.sh RUN OUT [L,PAUSE,HYST]   (runs/RUN/final, bundles/RUN-int8;
#        the stream rule defaults to the shipped one, 2.0,0.14,7.5)
cd "$(dirname "$0")/.." && source .venv/bin/activate
run=$1; out=$2; rule=${3:-2.0,0.14,7.5}
OMP_NUM_THREADS=1 PYTHONPATH=. python bench/segmentation_sweep.py bundles/$run-int8 $rule > $out/segmentation-$run.txt 2>&1 &
OMP_NUM_THREADS=1 python bench/levels.py --limit 100 --checkpoint runs/$run/final \
  --bundle $run=bundles/$run-int8 --bundle shipped=echo_edge/assets/onnx-int8 --out $out/levels-$run > $out/levels-$run.log 2>&1 &
wait
