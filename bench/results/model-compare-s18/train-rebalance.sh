#!/bin/bash
# Session 18, a short try at the next step: 600 steps from avg-s18-cut with synth10 weighted
# up (listed twice, each neural corpus once), lr 1e-4, --cut-prob 0.3; otherwise stage 8's recipe.
set -e
cd "$(dirname "$0")/../../.." && source .venv/bin/activate
echo-edge train --init runs/avg-s18-cut/final \
  --train data/synth10/train-words.jsonl data/synth10/train-words.jsonl data/neural/train-words.jsonl \
          data/neural2/train-words.jsonl data/neural3/train-words.jsonl \
  --hold-out data/synth10/dev.jsonl data/synth10/test.jsonl data/neural/dev.jsonl data/neural/test.jsonl data/festival200/test.jsonl \
  --dev data/neural/dev.jsonl --max-steps 600 --batch-size 16 --lr 1e-4 --warmup-steps 30 \
  --eval-steps 600 --max-eval 40 --workers 2 --threads 2 --max-seconds 10 --join-prob 0.25 --seed 181 \
  --augment none --vtlp 0.9 1.1 --cut-prob 0.3 --out runs/s18-rebal "$@"
