#!/bin/bash
# Run in session 18 (bench/results/model-compare-s18): stage 8's recipe (bench/results/model-compare-s12/train.sh) from stage 8
# with --cut-prob 0.3 on the aligned manifests of corpus.sh; 2 000 steps. Across sittings:
# `train-full.sh --resume` continues from runs/s18-cut's last checkpoint. runs/init-s8 = the
# config.json, model.safetensors and tokenizer.json of echo_edge/assets.
set -e
cd "$(dirname "$0")/../../.." && source .venv/bin/activate
echo-edge train --init runs/init-s8 \
  --train data/synth10/train-words.jsonl data/neural/train-words.jsonl data/neural/train-words.jsonl \
          data/neural2/train-words.jsonl data/neural2/train-words.jsonl data/neural3/train-words.jsonl data/neural3/train-words.jsonl \
  --hold-out data/synth10/dev.jsonl data/synth10/test.jsonl data/neural/dev.jsonl data/neural/test.jsonl data/festival200/test.jsonl \
  --dev data/neural/dev.jsonl --max-steps 2000 --batch-size 16 --lr 2e-4 --warmup-steps 50 \
  --eval-steps 500 --max-eval 40 --workers 2 --threads 2 --max-seconds 10 --join-prob 0.25 --seed 18 \
  --augment none --vtlp 0.9 1.1 --cut-prob 0.3 --out runs/s18-cut "$@"
