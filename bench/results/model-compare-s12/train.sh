#!/bin/bash
# Stage 8 (session 12): 1500 steps x 16 from runs/ab8-none/final (bench/results/ab-augment-s11,
# itself 1000 steps from stage 6), no waveform augmentation, VTLP 0.9-1.1 on the log-mel,
# lr 3e-4 after 50 warm-up steps, seed 9. 3 072 s on the 2 cores (other jobs beside it part of the time).
cd "$(dirname "$0")/../../.." && source .venv/bin/activate
echo-edge train --init runs/ab8-none/final \
  --train data/synth10/train.jsonl data/neural/train.jsonl data/neural/train.jsonl \
          data/neural2/train.jsonl data/neural2/train.jsonl data/neural3/train.jsonl data/neural3/train.jsonl \
  --hold-out data/synth10/dev.jsonl data/synth10/test.jsonl data/neural/dev.jsonl data/neural/test.jsonl data/festival200/test.jsonl \
  --dev data/neural/dev.jsonl --max-steps 1500 --batch-size 16 --lr 3e-4 --warmup-steps 50 \
  --eval-steps 500 --max-eval 40 --workers 2 --threads 2 --max-seconds 10 --join-prob 0.25 --seed 9 \
  --augment none --vtlp 0.9 1.1 --out runs/s9-vtlp "$@"
