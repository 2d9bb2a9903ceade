#!/bin/bash
# #12 §2 A/B at an equal budget (session 11): the same fine-tune of the shipped stage 6 with and
# without the online augmentation. Rebalanced mix (neural corpora x2), 1000 steps x 16, seed 8.
# Usage: bench/results/ab-augment-s11/run.sh aug none   (writes runs/ab8-ARM, logs/ab8-ARM.log)
cd "$(dirname "$0")/../../.." && source .venv/bin/activate
common="--init runs/stage6/final \
  --train data/synth10/train.jsonl data/neural/train.jsonl data/neural/train.jsonl \
          data/neural2/train.jsonl data/neural2/train.jsonl data/neural3/train.jsonl data/neural3/train.jsonl \
  --hold-out data/synth10/dev.jsonl data/synth10/test.jsonl data/neural/dev.jsonl data/neural/test.jsonl data/festival200/test.jsonl \
  --dev data/neural/dev.jsonl --max-steps 1000 --batch-size 16 --lr 5e-4 --warmup-steps 100 \
  --eval-steps 1000 --max-eval 40 --workers 2 --threads 2 --max-seconds 10 --join-prob 0.25 --seed 8"
for arm in "$@"; do
  case $arm in
    aug) flags="--augment full --spec-augment";;
    none) flags="--augment none";;
  esac
  start=$(date +%s)
  echo-edge train $common --out runs/ab8-$arm $flags > logs/ab8-$arm.log 2>&1
  echo "arm $arm rc $? wall $(( $(date +%s) - start )) s" >> logs/ab8.times
done
