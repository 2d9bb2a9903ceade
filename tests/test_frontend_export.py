"""The frontend exports to ONNX (dynamo) and ExecuTorch (XNNPACK) and matches eager PyTorch."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.export import Dim

from echo_edge import constants as C
from echo_edge.frontend import STREAMS, Frontend

TOLERANCE = 1e-4  # relative to each stream's largest magnitude (at least 1)
EXAMPLE_SECONDS = (
    3.0  # > 20480 samples: XNNPACK's conv lowering caps the bound at a shorter example
)


def voice(seconds: float, seed: int = 0) -> torch.Tensor:
    """Harmonics of a gliding f0 with a silent gap and 20 dB white noise, float32 (1, N)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * C.SAMPLE_RATE)) / C.SAMPLE_RATE
    phase = 2 * np.pi * np.cumsum(120.0 + 60.0 * t / max(seconds, 1e-3)) / C.SAMPLE_RATE
    x = sum(0.2 * 0.7**k * np.sin((k + 1) * phase) for k in range(5))
    x[(t > 0.2 * seconds) & (t < 0.3 * seconds)] = 0.0
    x = x + 0.014 * rng.standard_normal(len(t))
    return torch.tensor(x, dtype=torch.float32)[None]


def assert_matches_eager(outputs: list, frontend: Frontend, waveform: torch.Tensor) -> None:
    expected = frontend(waveform)
    for name, got, want in zip(STREAMS, outputs, expected):
        got = torch.as_tensor(np.asarray(got))
        assert got.shape == want.shape, name
        scale = max(1.0, float(want.abs().max()))
        error = float((got - want).abs().max()) / scale
        assert error < TOLERANCE, f"{name}: relative error {error:.2e}"


def samples_dim() -> Dim:
    return Dim("samples", min=C.HOP, max=C.FRONTEND_MAX_SAMPLES)


def test_onnx_export_matches_eager(tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    frontend = Frontend().eval()
    path = tmp_path / "frontend.onnx"
    torch.onnx.export(
        frontend,
        (voice(EXAMPLE_SECONDS),),
        str(path),
        dynamo=True,
        input_names=["waveform"],
        output_names=list(STREAMS),
        dynamic_shapes={"waveform": {1: samples_dim()}},
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for seconds in (0.5, 3.0, 7.3):
        waveform = voice(seconds, seed=int(seconds * 10))
        assert_matches_eager(session.run(None, {"waveform": waveform.numpy()}), frontend, waveform)


def with_persistent_buffers(module: torch.nn.Module) -> torch.nn.Module:
    """A copy whose buffers are persistent: executorch 1.5's XNNPACK lowering rejects
    non-persistent ones ("Non-persistent buffer ... is in the state dict")."""
    module = copy.deepcopy(module)
    for submodule in module.modules():
        for name, buffer in list(submodule.named_buffers(recurse=False)):
            submodule.register_buffer(name, buffer, persistent=True)
    return module


def test_executorch_export_matches_eager() -> None:
    pytest.importorskip("executorch")
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower
    from executorch.runtime import Runtime

    frontend = Frontend().eval()
    program = torch.export.export(
        with_persistent_buffers(frontend),
        (voice(EXAMPLE_SECONDS),),
        dynamic_shapes={"waveform": {1: samples_dim()}},
    )
    lowered = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
    buffer = lowered.to_executorch().buffer  # the loaded program points into these bytes
    loaded = Runtime.get().load_program(buffer)
    method = loaded.load_method("forward")
    for seconds in (0.5, 3.0, C.FRONTEND_MAX_SAMPLES / C.SAMPLE_RATE):
        waveform = voice(seconds, seed=int(seconds * 10))[:, : C.FRONTEND_MAX_SAMPLES]
        assert_matches_eager(method.execute([waveform]), frontend, waveform)
