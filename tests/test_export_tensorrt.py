"""TensorRT export: what runs without TensorRT (profiles, trtexec recipe, the missing-library
error) always; engine builds only where TensorRT is installed (marker requires_tensorrt).

TensorRT is not installable on our CI machines: the engine tests skip there, with the reason.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from echo_edge import constants as C
from echo_edge.export.graphs import MAX_FRAMES, MAX_SAMPLES, MIN_FRAMES
from echo_edge.export.tensorrt import (
    TRT_MISSING,
    TensorRTUnavailableError,
    profile_shapes,
    require_tensorrt,
    trtexec_command,
)
from echo_edge.runtime.bundle import GRAPH_INPUTS
from tests.conftest import tiny_config

HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None


def test_profiles_cover_every_input_and_the_audio_range() -> None:
    cfg = tiny_config()
    profiles = profile_shapes(cfg)
    for graph, profile in profiles.items():
        assert set(profile) == set(GRAPH_INPUTS[graph])
        for name, (lo, opt, hi) in profile.items():
            assert len(lo) == len(opt) == len(hi), name
            assert all(a <= b <= c for a, b, c in zip(lo, opt, hi)), (graph, name)
    samples = profiles["frontend"]["samples"]
    assert samples[0][1] == 2 * C.HOP and samples[2][1] == MAX_SAMPLES
    assert MAX_SAMPLES >= 30 * C.SAMPLE_RATE + C.FRONTEND_LEFT_CONTEXT + C.FRONTEND_LOOKAHEAD
    mel = profiles["encoder"]["mel"]
    assert mel[0][2] == MIN_FRAMES <= C.num_frames(C.SAMPLE_RATE // 2)  # 0.5 s is inside
    assert mel[2][2] == MAX_FRAMES >= C.num_frames(30 * C.SAMPLE_RATE)
    for i in range(3):  # the waveform is always HOP samples per frame
        assert profiles["encoder"]["wave"][i][1] == C.HOP * mel[i][2]
    tokens = profiles["decoder"]["tokens"]
    assert (tokens[0][1], tokens[1][1], tokens[2][1]) == (1, 1, cfg.max_target_len)
    cache = (cfg.decoder_layers, 1, cfg.n_heads, cfg.max_target_len, cfg.head_dim)
    assert profiles["decoder"]["self_k"] == (cache, cache, cache)
    cross = profiles["decoder"]["cross_k"]
    for i in range(3):  # encoder frames of the encoder's own profile
        assert cross[i][3] == profiles["decoder"]["cross_bias"][i][1]
        assert cross[i][3] == (mel[i][2] - 1) // C.ENCODER_STRIDE + 1


def test_trtexec_command_names_only_dynamic_inputs() -> None:
    profile = profile_shapes(tiny_config())["decoder"]
    cmd = trtexec_command("decoder.onnx", "decoder.engine", profile, "timing.cache")
    assert cmd[:4] == [
        "trtexec",
        "--onnx=decoder.onnx",
        "--saveEngine=decoder.engine",
        "--stronglyTyped",
    ]
    shapes = {arg.split("=", 1)[0]: arg.split("=", 1)[1] for arg in cmd if "Shapes=" in arg}
    assert set(shapes) == {"--minShapes", "--optShapes", "--maxShapes"}
    assert shapes["--minShapes"].startswith("tokens:1x1,cross_k:2x1x2x2x16")
    assert shapes["--maxShapes"].startswith("tokens:1x48,")
    assert "self_k" not in shapes["--maxShapes"] and "offset" not in shapes["--maxShapes"]
    assert "--timingCacheFile=timing.cache" in cmd


@pytest.mark.skipif(HAS_TENSORRT, reason="TensorRT is installed here")
def test_missing_tensorrt_fails_early_with_one_line(tmp_path: Path) -> None:
    from echo_edge.export.pipeline import export_bundle

    with pytest.raises(TensorRTUnavailableError) as err:
        require_tensorrt()
    assert str(err.value) == TRT_MISSING and isinstance(err.value, ValueError)
    out = tmp_path / "trt"
    with pytest.raises(
        ValueError, match="^TensorRT is not installed: build the engines on the target"
    ):
        export_bundle(None, "tensorrt", "fp16", out, log=lambda _: None)
    assert not out.exists()  # nothing was written before the check


@pytest.mark.requires_tensorrt
@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_engines_build_and_load(tmp_path: Path, precision: str) -> None:
    if not HAS_TENSORRT:
        pytest.skip("TensorRT is not installed (build and run these tests on the Jetson)")
    import tensorrt as trt
    import torch

    from echo_edge.export.pipeline import export_bundle
    from echo_edge.model import Echo
    from echo_edge.runtime.bundle import read_bundle

    torch.manual_seed(0)
    checkpoint = Echo(tiny_config()).eval().save_pretrained(tmp_path / "ckpt")
    bundle = export_bundle(
        checkpoint,
        "tensorrt",
        precision,
        tmp_path / "bundle",
        timing_cache=tmp_path / "timing.cache",
        log=lambda _: None,
    )
    m = read_bundle(bundle)
    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    for graph, names in GRAPH_INPUTS.items():
        assert m.graphs[graph]["onnx"] in m.files and m.graphs[graph]["file"].endswith(".engine")
        engine = runtime.deserialize_cuda_engine(m.graph_file(graph).read_bytes())
        assert engine is not None, graph
        io = {engine.get_tensor_name(i) for i in range(engine.num_io_tensors)}
        assert set(names) <= io
    assert (tmp_path / "timing.cache").stat().st_size > 0
