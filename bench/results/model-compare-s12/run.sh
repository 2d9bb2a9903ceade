#!/bin/bash
# Session 12: the stage-8 candidates against the shipped stage 6 on every held-out split.
#   ab8-none: bench/results/ab-augment-s11 (1000 steps from stage 6, no augmentation)
#   s9-vtlp:  1500 more steps from ab8-none, no waveform augmentation, VTLP 0.9-1.1, lr 3e-4, seed 9
#   avg-s9:   the 1:1 weight average of the two (bench/average_checkpoints.py)
cd "$(dirname "$0")/../../.." && source .venv/bin/activate
set -e
[ -d runs/avg-s9/final ] || python bench/average_checkpoints.py --out runs/avg-s9/final runs/ab8-none/final runs/s9-vtlp/final
for run in s9-vtlp avg-s9; do
  [ -d bundles/$run-int8 ] || echo-edge export runs/$run/final --backend onnx --precision int8 --quant dynamic --out bundles/$run-int8 --no-verify
done
python bench/model_compare.py --system shipped=echo_edge/assets/onnx-int8 ab8-none=bundles/ab8-none-int8 s9-vtlp=bundles/s9-vtlp-int8 avg-s9=bundles/avg-s9-int8 \
  --split synth-test=data/synth10/test.jsonl verify-set=$HOME/.cache/echo-edge/evalset/9c84a8dc11b47fab/manifest.jsonl \
          festival=data/festival200/test.jsonl neural-test=data/neural/test.jsonl \
          festival-ked=data/festival200/test-ked.jsonl festival-kal=data/festival200/test-kal.jsonl \
          festival-slt=data/festival200/test-slt.jsonl --limit 200 --out bench/results/model-compare-s12
