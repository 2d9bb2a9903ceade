# The fp32 first-50 streamed line of tests/test_verify.py's shipped_onnx fixture, measured.
from echo_edge.checkpoint import load_checkpoint
from echo_edge.evalset import verify_set
from echo_edge.verify import verify_bundle
from pathlib import Path

model, _ = load_checkpoint(None)
r = verify_bundle(Path("/tmp/b8/onnx-fp32"), model.eval(), None, verify_set()[:50], "first 50")
print("one pass", r["delta_wer"], "streamed", r["streaming_delta_wer"])
