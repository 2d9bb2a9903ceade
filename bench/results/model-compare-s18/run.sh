#!/bin/bash
# Session 18: two candidates against the shipped stage 8 on every held-out split (one pass),
# then the streamed lines and halves (cut-halves/compare.py) and the noisy-audio checks.
#   s18-cut:     stage 8 + 2 000 steps of its recipe with --cut-prob 0.3 (cut-halves/train-full.sh)
#   avg-s18-cut: the 1:1 weight average of stage 8 and s18-cut (bench/average_checkpoints.py)
cd "$(dirname "$0")/../../.." && source .venv/bin/activate
set -e
out=bench/results/model-compare-s18
[ -d runs/avg-s18-cut/final ] || python bench/average_checkpoints.py --out runs/avg-s18-cut/final runs/init-s8 runs/s18-cut/final
for run in s18-cut avg-s18-cut; do
  [ -d bundles/$run-int8 ] || echo-edge export runs/$run/final --backend onnx --precision int8 --quant dynamic --out bundles/$run-int8 --no-verify
done
python bench/model_compare.py --system shipped=echo_edge/assets/onnx-int8 s18-cut=bundles/s18-cut-int8 avg-s18-cut=bundles/avg-s18-cut-int8 \
  --split synth-test=data/synth10/test.jsonl verify-set=$HOME/.cache/echo-edge/evalset/9c84a8dc11b47fab/manifest.jsonl \
          festival=data/festival200/test.jsonl neural-test=data/neural/test.jsonl --limit 200 --out $out
PYTHONPATH=. python bench/results/cut-halves/compare.py run $out/streams shipped=echo_edge/assets/onnx-int8 \
  s18-cut=bundles/s18-cut-int8 avg-s18-cut=bundles/avg-s18-cut-int8
PYTHONPATH=. python bench/results/cut-halves/compare.py table $out/streams shipped s18-cut avg-s18-cut > $out/streams.md
