"""Level normalisation (echo_edge/level.py): the encoder's input does not move with gain.

Tolerances:
- level-normalised log-mel of x and g*x, g over -30 .. +30 dB around -30 dBFS speech:
  within 2e-3 max abs (of a range of [-1, 1.5]; measured ~3e-4). Every bin, floor
  included, is the same spectrum shifted in float32, whose rounding at 40 dB of boost
  is ~1e-4 of the loud bins; a level error of 0.01 dB would show as 2.5e-4.
- waveform stream: g*x brought back within 1e-4 relative (float32 gains); silence flags
  equal but for frames within rounding of the threshold (at most 1 %).
- the exported fp32 encoder (level on) against eager: 1e-4 relative, as tests/test_export_onnx.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from echo_edge import constants as C
from echo_edge.config import EchoConfig
from echo_edge.encoder import Encoder
from echo_edge.frontend import frame_aligned_waveform
from echo_edge.level import (
    LEVEL_MODULE,
    MAX_BOOST_DB,
    REFERENCE_DBFS,
    LevelEncoder,
    LogMel,
    frame_energy_db,
    speech_level_db,
)
from echo_edge.model import Echo
from tests.conftest import harmonic, tiny_config

MEL_ATOL = 2e-3
WAVE_REL = 1e-4
SILENCE_FLIPS = 0.01
FP32_REL = 1e-4
BASE_DBFS = -30.0
GAINS_DB = (-30.0, -15.0, 0.0, 15.0, 30.0)


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(float(np.linalg.norm(b)), 1e-12))


def level_of(x: torch.Tensor) -> float:
    """Speech level (dBFS) of (1, N) audio, as LevelNorm measures it."""
    energy = frame_energy_db(frame_aligned_waveform(x))
    return float(speech_level_db(energy, torch.ones_like(energy))[0])


def speech(seconds: float = 1.6, seed: int = 0, dbfs: float = BASE_DBFS) -> torch.Tensor:
    """A speech-like signal (harmonics, digital-silence gaps, a little noise) at `dbfs`, (1, N)."""
    x = harmonic(seconds, f0=130.0, seed=seed)
    x = x + np.random.default_rng(seed).normal(0, 3e-3, x.size).astype(np.float32)  # -50 dB
    t = torch.from_numpy(x)[None]
    return t * 10.0 ** ((dbfs - level_of(t)) / 20.0)


def model_with(level_norm: bool, seed: int = 0) -> Echo:
    torch.manual_seed(seed)
    return Echo(tiny_config(level_norm=level_norm)).eval()


@torch.no_grad()
def normalised(model: Echo, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    f = model.features(x)
    return model.encoder.level(f.mel, f.silence, f.wave, f.frame_mask)


def test_normalised_features_of_x_and_gx_agree_over_60_db() -> None:
    model = model_with(True)
    x = speech()
    mel0, silence0, wave0 = normalised(model, x)
    raw_spread = []
    for gain in GAINS_DB:
        g = 10.0 ** (gain / 20.0)
        mel, silence, wave = normalised(model, g * x)
        assert (mel - mel0).abs().max() < MEL_ATOL, gain
        assert rel(wave.numpy(), wave0.numpy()) < WAVE_REL, gain
        assert (silence != silence0).float().mean() <= SILENCE_FLIPS, gain
        raw_spread.append(float((model.features(g * x).mel - model.features(x).mel).abs().max()))
    assert max(raw_spread) > 0.5  # without it the same gains move log-mel by up to 0.75
    assert abs(level_of(wave0[:, : x.shape[1]]) - REFERENCE_DBFS) < 0.05


def test_speech_level_ignores_pauses_and_follows_gain() -> None:
    x = speech(dbfs=-40.0)
    padded = torch.cat([torch.zeros(1, 3 * C.SAMPLE_RATE), x, torch.zeros(1, C.SAMPLE_RATE)], 1)
    assert abs(level_of(padded) - (-40.0)) < 0.1  # 4 s of added silence: still the speech's
    assert abs(level_of(0.1 * x) - (-60.0)) < 0.01


def test_boost_is_capped_and_digital_silence_stays_silent() -> None:
    model = model_with(True)
    x = torch.zeros(1, C.SAMPLE_RATE)
    x[0, 4000:4400] = 1e-6  # a -120 dBFS burst in digital silence: no speech to bring up
    f = model.features(x)
    mel, silence, wave = normalised(model, x)
    boost = 10.0 ** (MAX_BOOST_DB / 20.0)
    assert rel(wave.numpy(), boost * f.wave.numpy()) < WAVE_REL  # capped at MAX_BOOST_DB
    assert bool((silence == 1).all())  # -80 dBFS after the boost, and digital silence
    assert float((mel - f.mel).max()) <= MAX_BOOST_DB / (10 * C.LOG_MEL_SCALE) + 1e-5


def test_log_mel_is_the_frontends_above_its_floor() -> None:
    model = model_with(False)
    x = speech(dbfs=-20.0)
    f = model.features(x)
    ours = (LogMel()(f.wave).clamp_min(C.LOG_MEL_FLOOR) + C.LOG_MEL_SHIFT) / C.LOG_MEL_SCALE
    assert (ours - f.mel).abs().max() < 1e-4


def test_off_is_the_plain_encoder_bit_for_bit() -> None:
    off, on = model_with(False), model_with(True)
    assert type(off.encoder) is Encoder and isinstance(on.encoder, LevelEncoder)
    assert off.state_dict().keys() == on.state_dict().keys()  # a checkpoint loads into either
    on.load_state_dict(off.state_dict())
    x = speech(dbfs=-45.0)
    with torch.no_grad():
        f = off.features(x)
        args = (f.mel, f.pitch, f.silence, f.wave, f.frame_mask)
        got = off.encode(*args)
        plain = Encoder(off.config).eval()
        plain.load_state_dict(off.encoder.state_dict())
        states, bias = plain(*args)
        want_k, want_v = off.decoder.cross_kv(states)
        assert torch.equal(got[0], want_k) and torch.equal(got[1], want_v)
        assert torch.equal(got[2], bias)
        assert not torch.allclose(on.encode(*args)[0], got[0], atol=1e-3)  # on does act


def test_shipped_config_turns_it_on_and_the_field_is_checked() -> None:
    """The shipped model (stage 5 and on) was trained with level_norm on; a new config keeps it off."""
    from echo_edge.checkpoint import DEFAULT_CHECKPOINT

    assert EchoConfig.load(DEFAULT_CHECKPOINT / "config.json").level_norm is True
    assert EchoConfig().level_norm is False
    with pytest.raises(ValueError, match="level_norm must be true or false"):
        EchoConfig(level_norm="yes")  # type: ignore[arg-type]
    on = EchoConfig(level_norm=True)
    assert EchoConfig.from_dict(on.to_dict()).level_norm is True


@pytest.fixture(scope="module")
def level_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Echo, Path]:
    """A tiny level-on checkpoint and its ONNX fp32 bundle."""
    from echo_edge.export.pipeline import export_bundle

    root = tmp_path_factory.mktemp("level")
    model = model_with(True, seed=3)
    model.save_pretrained(root / "ckpt")
    out = export_bundle(
        root / "ckpt", "onnx", "fp32", root / "fp32", log=lambda _: None, verify=False
    )
    return Echo.from_pretrained(root / "ckpt"), out


def test_exported_encoder_includes_it_and_matches_torch(level_bundle: tuple[Echo, Path]) -> None:
    import onnx
    import onnxruntime as ort

    from echo_edge.export.quantize import waveform_stem_nodes

    model, bundle = level_bundle
    proto = onnx.load(str(bundle / "encoder.onnx"))
    kept = waveform_stem_nodes(proto)  # what int8 and fp16 leave in fp32
    level_nodes = [
        n.name
        for n in proto.graph.node
        if any(LEVEL_MODULE + ":" in p.value for p in n.metadata_props if p.key == "namespace")
    ]
    assert level_nodes and set(level_nodes) <= set(kept)
    assert {"Conv", "MatMul"} <= {n.op_type for n in proto.graph.node if n.name in level_nodes}
    session = ort.InferenceSession(str(bundle / "encoder.onnx"))
    for gain_db in (0.0, -25.0):
        x = speech(1.3, seed=1, dbfs=-20.0 + gain_db)
        with torch.no_grad():
            f = model.features(x)
            args = (f.mel, f.pitch, f.silence, f.wave, f.frame_mask)
            want = model.encode(*args)
        names = [i.name for i in session.get_inputs()]
        got = session.run(None, {n: a.numpy() for n, a in zip(names, args)})
        for g, w in zip(got, want):
            assert g.shape == w.shape and rel(g, w.numpy()) < FP32_REL


def test_fp16_keeps_the_level_normalisation_in_float32(
    level_bundle: tuple[Echo, Path], tmp_path: Path
) -> None:
    """The fp16 encoder's level normalisation reads float32 tensors only: no float32 ->
    float16 -> float32 cast pair is left on its way (the converter puts one on every graph
    input and on kept outputs that also feed float16 nodes), and its outputs, the normalised
    log-mel and silence flags of quiet speech, equal the fp32 graph's within 1e-3 and exactly.

    Before the fix (session 12) the shipped model's fp16 bundle read the waveform and log-mel
    through float16: encoder key bias 6.91 (flipped silence flags), cross K/V 0.046."""
    import onnx
    import onnxruntime as ort

    from echo_edge.export.pipeline import export_bundle
    from echo_edge.export.quantize import waveform_stem_nodes

    _, fp32 = level_bundle
    half = export_bundle(
        fp32.parent / "ckpt",
        "onnx",
        "fp16",
        tmp_path / "fp16",
        onnx_from=fp32,
        log=lambda _: None,
        verify=False,
    )
    proto = onnx.load(str(half / "encoder.onnx"))
    producer = {out: n for n in proto.graph.node for out in n.output}

    def cast_to(node: object) -> int | None:
        if node is None or node.op_type != "Cast":  # type: ignore[attr-defined]
            return None
        return next(a.i for a in node.attribute if a.name == "to")  # type: ignore[attr-defined]

    round_trips = [
        n.name
        for n in proto.graph.node
        if cast_to(n) == onnx.TensorProto.FLOAT
        and cast_to(producer.get(n.input[0])) == onnx.TensorProto.FLOAT16
    ]
    assert round_trips == []

    # Nor does any node inside the region run in float16: a node the exporter's optimiser
    # made without a module path (the Split fused from the spectrum's slices) between two
    # level nodes, reached through Casts, reads float32 (session 12 left one in float16).
    typed = onnx.shape_inference.infer_shapes(proto)
    dtype = {v.name: v.type.tensor_type.elem_type for v in typed.graph.value_info}
    dtype |= {v.name: v.type.tensor_type.elem_type for v in typed.graph.input}
    consumers: dict[str, list[object]] = {}
    for n in proto.graph.node:
        for name in n.input:
            consumers.setdefault(name, []).append(n)

    def in_level(n: object) -> bool:
        return any(LEVEL_MODULE + ":" in p.value for p in n.metadata_props)  # type: ignore[attr-defined]

    def upstream_level(name: str) -> bool:
        n = producer.get(name)
        while n is not None and n.op_type == "Cast":
            n = producer.get(n.input[0])
        return n is not None and in_level(n)

    def downstream_level(n: object) -> bool:
        for out in n.output:  # type: ignore[attr-defined]
            for c in consumers.get(out, []):
                if in_level(c) or (c.op_type == "Cast" and downstream_level(c)):
                    return True
        return False

    sandwiched = [
        n
        for n in proto.graph.node
        if n.op_type != "Cast"
        and not in_level(n)
        and any(upstream_level(i) for i in n.input)
        and downstream_level(n)
    ]
    assert sandwiched  # the region has such nodes: the check below reads something
    half_inside = [
        n.name
        for n in sandwiched
        if any(dtype.get(i) == onnx.TensorProto.FLOAT16 for i in n.input)
        or any(dtype.get(o) == onnx.TensorProto.FLOAT16 for o in n.output)
    ]
    assert half_inside == [], half_inside

    # The level module's outputs (kept-region tensors read by float16 nodes), fp16 vs fp32.
    source = onnx.load(str(fp32 / "encoder.onnx"))
    kept = set(waveform_stem_nodes(source))
    readers: dict[str, list[str]] = {}
    for n in source.graph.node:
        for name in n.input:
            readers.setdefault(name, []).append(n.name)
    level_out = sorted(
        out
        for n in source.graph.node
        if n.name in kept and any(LEVEL_MODULE + ":" in p.value for p in n.metadata_props)
        for out in n.output
        if any(r not in kept for r in readers.get(out, []))
    )
    assert level_out

    def session(model: onnx.ModelProto) -> ort.InferenceSession:
        for name in level_out:
            model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
        return ort.InferenceSession(model.SerializeToString())

    model, _ = level_bundle
    x = speech(1.5, seed=4, dbfs=-45.0)  # 25 dB of boost: frames near the silence threshold
    with torch.no_grad():
        f = model.features(x)
    feeds = dict(
        zip(
            ("mel", "pitch", "silence", "wave", "frame_mask"),
            (t.numpy() for t in (f.mel, f.pitch, f.silence, f.wave, f.frame_mask)),
        )
    )
    want = session(source).run(level_out, feeds)
    got = session(proto).run(level_out, feeds)
    for name, g, w in zip(level_out, got, want):
        if w.dtype == np.float32 and w.size > 1:
            assert np.abs(g - w).max() <= 1e-3, name


def test_the_torch_free_runtime_transcribes_as_the_reference(
    level_bundle: tuple[Echo, Path],
) -> None:
    from echo_edge.runtime import Recognizer

    model, bundle = level_bundle
    rec = Recognizer.from_bundle(bundle)
    for dbfs in (-20.0, -50.0):
        x = speech(1.5, seed=2, dbfs=dbfs)
        ids = model.generate(x)[0].tolist()
        want = [t for t in ids if t not in (C.PAD_ID, C.BOS_ID, C.EOS_ID)]
        got = rec.recognize(x[0].numpy())
        assert list(got.tokens) == want and len(want) > 0


def test_with_level_norm_toggles_on_the_same_weights() -> None:
    off = model_with(False)
    on = Echo(dataclasses.replace(off.config, level_norm=True))
    on.load_state_dict(off.state_dict(), strict=True)  # no new parameters or buffers saved
    assert on.num_parameters() == off.num_parameters()
