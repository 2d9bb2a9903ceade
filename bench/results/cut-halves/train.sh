#!/bin/bash
# The cut A/B (session 17): 400 steps x 16 from stage 8 on data/synth10 (espeak-ng + flite;
# the neural corpora were not on this machine), stage 8's recipe otherwise (no waveform
# augmentation, VTLP 0.9-1.1, --join-prob 0.25), lr 1e-4 after 20 warm-up steps, seed 17;
# "nocut" without and "cut" with --cut-prob 0.3 on the aligned manifest (same rows; words
# unused without --cut-prob). Usage: bench/results/cut-halves/train.sh nocut|cut
set -e
cd "$(dirname "$0")/../../.." && source .venv/bin/activate
variant=$1
extra=()
[ "$variant" = cut ] && extra=(--cut-prob 0.3)
echo-edge train --init runs/init-s8 \
  --train data/synth10/train-words.jsonl \
  --hold-out data/synth10/dev.jsonl data/synth10/test.jsonl data/festival200/test.jsonl \
  --dev data/synth10/dev.jsonl --max-steps 400 --batch-size 16 --lr 1e-4 --warmup-steps 20 \
  --eval-steps 400 --max-eval 20 --workers 2 --threads 2 --max-seconds 10 --join-prob 0.25 --seed 17 \
  --augment none --vtlp 0.9 1.1 --out runs/cut-ab-$variant "${extra[@]}"
