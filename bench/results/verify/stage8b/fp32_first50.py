"""The fp32 first-50 streamed line of tests/test_verify.py's shipped_onnx fixture, measured.

.venv/bin/python bench/results/verify/stage8b/fp32_first50.py   # needs /tmp/b8/onnx-fp32 (run.sh)
"""

from pathlib import Path

from echo_edge.checkpoint import load_checkpoint
from echo_edge.evalset import verify_set
from echo_edge.verify import verify_bundle

model, _ = load_checkpoint(None)
r = verify_bundle(Path("/tmp/b8/onnx-fp32"), model.eval(), None, verify_set()[:50], "first 50")
print("one pass", r["delta_wer"], "streamed", r["streaming_delta_wer"])
