#!/bin/bash
# Stage 9 candidate (session 13): 2 000 more steps x 16 from stage 8 (runs/s9-vtlp/final) with stage 8's
# recipe (bench/results/model-compare-s12/train.sh): no waveform augmentation, VTLP 0.9-1.1,
# lr 2e-4 (cosine) after 50 warm-up steps, seed 10.
cd "$(dirname "$0")/../../.." && source .venv/bin/activate
echo-edge train --init runs/s9-vtlp/final \
  --train data/synth10/train.jsonl data/neural/train.jsonl data/neural/train.jsonl \
          data/neural2/train.jsonl data/neural2/train.jsonl data/neural3/train.jsonl data/neural3/train.jsonl \
  --hold-out data/synth10/dev.jsonl data/synth10/test.jsonl data/neural/dev.jsonl data/neural/test.jsonl data/festival200/test.jsonl \
  --dev data/neural/dev.jsonl --max-steps 2000 --batch-size 16 --lr 2e-4 --warmup-steps 50 \
  --eval-steps 500 --max-eval 40 --workers 2 --threads 2 --max-seconds 10 --join-prob 0.25 --seed 10 \
  --augment none --vtlp 0.9 1.1 --out runs/s10 "$@"
