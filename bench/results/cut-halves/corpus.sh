#!/bin/bash
# The corpora of stage 8's recipe (bench/results/model-compare-s6, -s7), regenerated where a
# machine lacks them, and their word times for --cut-prob. Each step is skipped once its
# manifest exists; a killed synth leaves no manifest and reruns from the start. ~45 min on 2 cores.
set -e
cd "$(dirname "$0")/../../.." && source .venv/bin/activate
[ -f data/synth10/train.jsonl ] || echo-edge data synth --out data/synth10 --hours 10 --seed 0 --workers 2
[ -f data/neural/train.jsonl ] || echo-edge data synth --out data/neural --engines piper=0.6 kokoro=0.4 --hours 1.2 --seed 1 --workers 2
[ -f data/neural2/train.jsonl ] || echo-edge data synth --out data/neural2 --engines piper=0.6 kokoro=0.4 --hours 1.2 --seed 3 \
  --dev-fraction 0 --test-fraction 0 --workers 2
[ -f data/neural3/train.jsonl ] || echo-edge data synth --out data/neural3 --engines piper=0.6 kokoro=0.4 --hours 1.8 --seed 4 \
  --dev-fraction 0 --test-fraction 0 --workers 2
for d in synth10 neural neural2 neural3; do
  [ -f data/$d/train-words.jsonl ] || echo-edge data align --data data/$d/train.jsonl --out data/$d/train-words.jsonl
done
