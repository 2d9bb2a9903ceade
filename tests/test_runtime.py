"""The torch-free runtime against the reference: Recognizer, backends, greedy decoding, CLI errors.

A tiny random Echo is exported once to an ONNX fp32 bundle (cached in the temp directory,
keyed by the source code) and every test reads that bundle. A random model transcribes
garbage, so the runtime is compared with the reference's token ids, not with words.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from echo_edge import constants as C
from tests.conftest import TINY, append_without_guard, harmonic, tiny_config

ROOT = Path(__file__).resolve().parents[1]
SEED = 0
SLOW_ENV = "ECHO_EDGE_SLOW_TESTS"  # set to 1 to run the tests that export for minutes


def _source_key() -> str:
    """Hash of everything that shapes the exported bundle, so a cached one is never stale."""
    h = hashlib.sha256(json.dumps(TINY, sort_keys=True).encode())
    sources = [*(ROOT / "echo_edge").glob("*.py"), *(ROOT / "export").glob("*.py")]
    for path in sorted(sources) + [ROOT / "runtime" / "bundle.py"]:
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()[:16]


def tiny_bundle_root() -> Path:
    """root/checkpoint (a seeded random tiny Echo) and root/bundle (its ONNX fp32 export)."""
    root = Path(tempfile.gettempdir()) / "echo-edge-tests" / f"tiny-onnx-{_source_key()}"
    if (root / "bundle" / "manifest.json").is_file():
        return root
    import torch

    from echo_edge.export.pipeline import export_bundle
    from echo_edge.model import Echo

    tmp = root.with_name(f"{root.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    torch.manual_seed(SEED)
    Echo(tiny_config()).eval().save_pretrained(tmp / "checkpoint")
    export_bundle(tmp / "checkpoint", "onnx", "fp32", tmp / "bundle", log=lambda line: None)
    try:
        tmp.rename(root)
    except OSError:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
    return root


@pytest.fixture(scope="module")
def bundle() -> Path:
    return tiny_bundle_root() / "bundle"


@pytest.fixture(scope="module")
def recognizer(bundle: Path):
    from echo_edge.runtime.recognizer import Recognizer

    return Recognizer.from_bundle(bundle)


@pytest.fixture(scope="module")
def reference():
    from echo_edge.model import Echo

    return Echo.from_pretrained(tiny_bundle_root() / "checkpoint")


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run `echo-edge transcribe ...` in a subprocess."""
    cmd = [sys.executable, "-m", "echo_edge.runtime.transcribe", *args]
    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0, proc
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("echo-edge: error:"), lines
    for needle in needles:
        assert needle in lines[0], lines[0]


def stripped(ids: list[int]) -> list[int]:
    from echo_edge.decoding import strip_special

    return strip_special([C.BOS_ID, *ids, C.EOS_ID])


def test_greedy_matches_reference_generate(recognizer, reference) -> None:
    import torch

    from tests.speech import speak

    clips = [harmonic(2.3, seed=1), harmonic(4.1, f0=210.0, seed=2), speak("turn the lights off")]
    for x in clips:
        ours = recognizer.recognize(x)
        ref = reference.generate(torch.from_numpy(x)[None])[0].tolist()
        assert stripped(list(ours.tokens)) == stripped(ref)
        assert ours.text == recognizer.tokenizer.decode(ref)


def test_features_match_reference_frontend(recognizer, reference) -> None:
    import torch

    x = harmonic(1.7, seed=4)
    # Echo.features removes DC with the runtime's own filter: compare conditioned frames.
    ours = recognizer.conditioned_features(x)
    ref = reference.features(torch.from_numpy(x)[None])
    assert ours.mel.shape == ref.mel.shape[1:]
    # Export-level error: ORT and torch pick different conv algorithms (~1e-4 on log-mel).
    np.testing.assert_allclose(ours.mel, ref.mel[0].numpy(), atol=5e-4)
    np.testing.assert_allclose(ours.wave, ref.wave[0].numpy(), atol=0)
    voiced = ours.pitch[1] == ref.pitch[0, 1].numpy()
    assert voiced.mean() > 0.98


def test_prefix_verification_gives_the_same_result(recognizer, monkeypatch) -> None:
    import echo_edge.runtime.decoding as decoding
    from echo_edge.loopguard import trim
    from echo_edge.runtime.decoding import greedy_decode

    f = recognizer.features(harmonic(3.0, seed=5))
    cross = recognizer.encode(f.mel[None], f.pitch[None], f.silence[None], f.wave[None])
    plain, calls = greedy_decode(recognizer.backend, cross, 40)
    with monkeypatch.context() as m:  # the same search without the loop guard
        m.setattr(decoding, "append_or_stop", append_without_guard)
        m.setattr(decoding, "first_cut", lambda ids: None)
        unguarded, unguarded_calls = greedy_decode(recognizer.backend, cross, 40)
    assert unguarded_calls == len(unguarded) + 1  # one call per token, then eos
    assert plain == trim(unguarded)  # the guard stops early with the same transcript
    assert calls <= unguarded_calls
    rng = np.random.default_rng(0)
    prefixes = [plain, plain[: len(plain) // 2], list(rng.integers(4, 32, size=7)), plain + [5, 6]]
    for prefix in prefixes:
        ids, _ = greedy_decode(recognizer.backend, cross, 40, prefix)
        assert ids == plain
    _, verified_calls = greedy_decode(recognizer.backend, cross, 40, plain)
    if plain == unguarded:
        assert verified_calls <= 2  # one batched pass over the prefix, one step to eos
    else:  # the loop is decoded again up to where the guard sees it, still fewer calls
        assert verified_calls < calls


def test_loop_guard_caps_tokens(recognizer) -> None:
    from echo_edge.runtime.decoding import DecodingOptions, greedy_decode, token_cap

    cfg = recognizer.config
    assert token_cap(1.0, DecodingOptions(), cfg) == int(cfg["max_tokens_per_second"]) + 8
    assert token_cap(600.0, DecodingOptions(), cfg) == cfg["max_target_len"] - 1
    assert token_cap(1.0, DecodingOptions(max_new_tokens=3), cfg) == 3
    f = recognizer.features(harmonic(1.0, seed=6))
    cross = recognizer.encode(f.mel[None], f.pitch[None], f.silence[None], f.wave[None])
    for cap in (0, 1, 3):
        ids, calls = greedy_decode(recognizer.backend, cross, cap)
        assert len(ids) <= cap and calls <= cap + 1


def test_backend_choice_is_checked(bundle: Path) -> None:
    from echo_edge.runtime.backend import BackendError, resolve_providers
    from echo_edge.runtime.recognizer import Recognizer

    with pytest.raises(BackendError, match="exported for onnx"):
        Recognizer.from_bundle(bundle, backend="executorch")
    with pytest.raises(BackendError, match="not available"):
        resolve_providers("nosuchprovider")
    assert resolve_providers("cpu") == ["CPUExecutionProvider"]
    assert "CPUExecutionProvider" in resolve_providers("auto")


@pytest.mark.slow
def test_executorch_backend_matches_onnx(recognizer) -> None:
    from echo_edge.runtime.recognizer import Recognizer

    root = tiny_bundle_root()
    if not (root / "executorch" / "manifest.json").is_file():
        if not os.environ.get(SLOW_ENV):
            pytest.skip(f"exporting the tiny model to ExecuTorch takes ~3 min: set {SLOW_ENV}=1")
        pytest.importorskip("executorch", reason="executorch is not installed")
        from echo_edge.export.pipeline import export_bundle

        export_bundle(root / "checkpoint", "executorch", "fp32", root / "executorch", log=print)
    pte = Recognizer.from_bundle(root / "executorch")
    assert pte.backend.name == "executorch"
    x = harmonic(2.5, seed=12)
    ours, theirs = pte.features(x), recognizer.features(x)
    np.testing.assert_allclose(ours.mel, theirs.mel, atol=1e-4)
    assert pte.recognize(x).tokens == recognizer.recognize(x).tokens


@pytest.mark.requires_tensorrt
def test_tensorrt_backend_imports() -> None:
    pytest.importorskip("tensorrt", reason="TensorRT is not installed on this machine")
    from echo_edge.runtime.tensorrt_backend import TensorRTBackend, _cudart

    assert TensorRTBackend.name == "tensorrt"
    assert _cudart() is not None


def test_transcribe_file_json(bundle: Path, tmp_path: Path) -> None:
    import soundfile as sf

    from tests.speech import speak

    x = np.concatenate([speak("hello there"), np.zeros(16000, np.float32), speak("good night")])
    sf.write(tmp_path / "two.wav", x, C.SAMPLE_RATE, subtype="PCM_16")
    proc = cli("--bundle", str(bundle), "--json", str(tmp_path / "two.wav"))
    assert proc.returncode == 0, proc.stderr
    (item,) = json.loads(proc.stdout)["files"]
    assert len(item["segments"]) == 2
    assert item["seconds"] == pytest.approx(len(x) / C.SAMPLE_RATE, abs=0.01)
    first, second = item["segments"]
    assert first["end"] <= second["start"]


def _broken_bundle(bundle: Path, tmp_path: Path, how: str) -> Path:
    copy = tmp_path / how
    shutil.copytree(bundle, copy)
    if how == "altered":
        with open(copy / "decoder.onnx", "r+b") as f:
            f.seek(100)
            f.write(b"\x00\x01\x02")
    elif how == "missing":
        (copy / "encoder.onnx").unlink()
    elif how == "version":
        manifest = json.loads((copy / "manifest.json").read_text())
        manifest["format_version"] = 999
        (copy / "manifest.json").write_text(json.dumps(manifest))
    return copy


@pytest.mark.parametrize(
    "how, needle",
    [("altered", "checksum"), ("missing", "missing"), ("version", "format version")],
)
def test_bad_bundle_is_one_line(bundle: Path, tmp_path: Path, how: str, needle: str) -> None:
    import soundfile as sf

    sf.write(tmp_path / "a.wav", harmonic(1.0), C.SAMPLE_RATE)
    proc = cli("--bundle", str(_broken_bundle(bundle, tmp_path, how)), str(tmp_path / "a.wav"))
    assert_one_line_error(proc, needle)


def _bad_audio(tmp_path: Path, how: str) -> Path:
    import soundfile as sf

    path = tmp_path / f"{how}.wav"
    if how == "empty":
        path.write_bytes(b"")
    elif how == "corrupt":
        path.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + os.urandom(200))
    elif how == "nan":
        x = harmonic(1.0)
        x[4000:4010] = np.nan
        sf.write(path, x, C.SAMPLE_RATE, subtype="FLOAT")
    elif how == "silent":
        sf.write(path, np.zeros(3 * C.SAMPLE_RATE, np.float32), C.SAMPLE_RATE, subtype="PCM_16")
    return path


@pytest.mark.parametrize("how", ["missing", "empty", "corrupt", "nan"])
def test_bad_audio_is_one_line(bundle: Path, tmp_path: Path, how: str) -> None:
    path = _bad_audio(tmp_path, how)
    assert_one_line_error(cli("--bundle", str(bundle), str(path)), path.name)


def test_silent_file_is_an_empty_transcript_as_in_the_api(bundle: Path, tmp_path: Path) -> None:
    from echo_edge.runtime.recognizer import Recognizer

    path = _bad_audio(tmp_path, "silent")
    proc = cli("--bundle", str(bundle), str(path))
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    assert proc.stdout.strip() == ""
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("echo-edge: warning:") and "no speech found" in line
    with Recognizer.from_bundle(bundle) as recognizer:
        transcript = recognizer.transcribe_file(path)
    assert transcript.text == "" and transcript.segments == []


def test_usage_errors_are_one_line(bundle: Path, tmp_path: Path) -> None:
    assert_one_line_error(cli("--bundle", str(bundle)), "nothing to transcribe")
    assert_one_line_error(cli("--bundle", str(tmp_path / "nope"), "x.wav"), "no such directory")


def test_default_bundle_is_built_once_and_cached(bundle: Path, tmp_path: Path, monkeypatch) -> None:
    import echo_edge.export.pipeline as pipeline
    from echo_edge.runtime import transcribe
    from echo_edge.runtime.recognizer import CACHE_ENV

    calls = []

    def fake_export(checkpoint, backend, precision, out, **kwargs):
        calls.append((checkpoint, backend, precision))
        kwargs["log"]("exporting")
        shutil.copytree(bundle, out)

    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(pipeline, "export_bundle", fake_export)
    first = transcribe.default_bundle()
    second = transcribe.default_bundle()
    assert first == second and first.parent.parent == tmp_path
    assert calls == [(None, "onnx", "fp32")]
