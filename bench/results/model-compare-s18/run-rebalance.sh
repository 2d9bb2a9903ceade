#!/bin/bash
# Session 18: s18-rebal (train-rebalance.sh) and its 1:1 average with stage 8 against stage 8,
# one pass on every held-out split (rebalance/compare.md), then the stream lines (rebalance/streams.md).
cd "$(dirname "$0")/../../.." && source .venv/bin/activate
set -e
out=bench/results/model-compare-s18/rebalance
mkdir -p $out
[ -d runs/avg-s18-rebal/final ] || python bench/average_checkpoints.py --out runs/avg-s18-rebal/final runs/init-s8 runs/s18-rebal/final
for run in s18-rebal avg-s18-rebal; do
  [ -d bundles/$run-int8 ] || echo-edge export runs/$run/final --backend onnx --precision int8 --quant dynamic --out bundles/$run-int8 --no-verify
done
python bench/model_compare.py --system shipped=echo_edge/assets/onnx-int8 s18-rebal=bundles/s18-rebal-int8 avg-s18-rebal=bundles/avg-s18-rebal-int8 \
  --split synth-test=data/synth10/test.jsonl verify-set=$HOME/.cache/echo-edge/evalset/9c84a8dc11b47fab/manifest.jsonl \
          festival=data/festival200/test.jsonl neural-test=data/neural/test.jsonl --limit 200 --out $out
mkdir -p $out/streams && cp bench/results/model-compare-s18/streams/shipped.json $out/streams/  # same bundle, same sets
PYTHONPATH=. python bench/results/cut-halves/compare.py run $out/streams \
  s18-rebal=bundles/s18-rebal-int8 avg-s18-rebal=bundles/avg-s18-rebal-int8
PYTHONPATH=. python bench/results/cut-halves/compare.py table $out/streams shipped s18-rebal avg-s18-rebal > $out/streams.md
