#!/bin/bash
# Session 13: the stage-9 candidate against the shipped stage 8 on every held-out split.
#   s10:     2000 more steps from stage 8 (runs/s9-vtlp/final) with its recipe, lr 2e-4, seed 10 (train.sh)
#   avg-s10: the 1:1 weight average of stage 8 and s10 (bench/average_checkpoints.py)
cd "$(dirname "$0")/../../.." && source .venv/bin/activate
set -e
[ -d runs/avg-s10/final ] || python bench/average_checkpoints.py --out runs/avg-s10/final runs/s9-vtlp/final runs/s10/final
for run in s10 avg-s10; do
  [ -d bundles/$run-int8 ] || echo-edge export runs/$run/final --backend onnx --precision int8 --quant dynamic --out bundles/$run-int8 --no-verify
done
python bench/model_compare.py --system shipped=echo_edge/assets/onnx-int8 s10=bundles/s10-int8 avg-s10=bundles/avg-s10-int8 \
  --split synth-test=data/synth10/test.jsonl verify-set=$HOME/.cache/echo-edge/evalset/9c84a8dc11b47fab/manifest.jsonl \
          festival=data/festival200/test.jsonl neural-test=data/neural/test.jsonl \
          festival-ked=data/festival200/test-ked.jsonl festival-kal=data/festival200/test-kal.jsonl \
          festival-slt=data/festival200/test-slt.jsonl --limit 200 --out bench/results/model-compare-s13
