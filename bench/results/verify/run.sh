#!/usr/bin/env bash
# The figures of bench/results/verify/README.md: export the shipped model's ONNX fp32 and
# int8 (dynamic) bundles, verify both on the default set (made in the cache on first use).
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=bench/results/verify
for precision in fp32 int8; do
  .venv/bin/echo-edge export --backend onnx --precision "$precision" --no-verify \
    --out "/tmp/vb/onnx-$precision"
done
for precision in fp32 int8; do
  start=$(date +%s.%N)
  status=0
  .venv/bin/echo-edge verify "/tmp/vb/onnx-$precision" --out "$out/onnx-$precision.json" \
    > "$out/onnx-$precision.txt" || status=$?
  end=$(date +%s.%N)
  echo "onnx-$precision: exit $status, wall $(echo "$end - $start" | bc) s" | tee -a "$out/wall.txt"
done
