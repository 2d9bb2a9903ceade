"""Bad input through the real entry points: one clear line, a non-zero exit, no traceback.

Table-driven (DESIGN §9): audio files, checkpoints, manifests, numeric flags and API arrays.
Every case checks the exit status, that no traceback reaches stderr, that the message names
the flag or the file, and, in a batch, that the good items beside the bad one still ran. Most
cases call `echo_edge.cli.main` in-process (fast); a few run `python -m echo_edge.cli` in a
subprocess to prove that nothing but the one line reaches a real terminal. A tiny random Echo
is saved and exported once per module (ONNX fp32, not verified: a random model says nothing).
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from echo_edge import constants as C
from echo_edge.cli import main
from tests.conftest import harmonic, tiny_config

ROOT = Path(__file__).resolve().parents[1]
SR = C.SAMPLE_RATE
SUBPROCESS_TIMEOUT = 120


# --- fixtures and helpers ----------------------------------------------------------------


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bad-input")


@pytest.fixture(scope="module")
def checkpoint(workdir: Path) -> Path:
    import torch

    from echo_edge.model import Echo

    torch.manual_seed(0)
    return Echo(tiny_config()).eval().save_pretrained(workdir / "ckpt")


@pytest.fixture(scope="module")
def bundle(workdir: Path, checkpoint: Path) -> Path:
    """test_runtime's cached tiny bundle when it is there, else an unverified export."""
    from echo_edge.export.pipeline import export_bundle
    from tests.test_runtime import _source_key

    cached = Path(tempfile.gettempdir()) / "echo-edge-tests" / f"tiny-onnx-{_source_key()}"
    if (cached / "bundle" / "manifest.json").is_file():
        return cached / "bundle"
    out = workdir / "bundle"
    export_bundle(checkpoint, "onnx", "fp32", out, log=lambda line: None, verify=False)
    return out


@pytest.fixture(scope="module")
def recognizer(bundle: Path):  # noqa: ANN201
    from echo_edge.runtime.recognizer import Recognizer

    rec = Recognizer.from_bundle(bundle, threads=1)
    yield rec
    rec.close()


@pytest.fixture(scope="module")
def good_wav(workdir: Path) -> Path:
    path = workdir / "good.wav"
    sf.write(path, harmonic(1.5), SR, subtype="PCM_16")
    return path


def cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    """main(argv) in-process -> (exit status, stdout, stderr); usage errors included."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def subprocess_cli(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("ECHO_EDGE_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "echo_edge.cli", *map(str, argv)],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        cwd=ROOT,
        env=env,
    )


def error_lines(err: str) -> list[str]:
    """stderr lines that are errors (not progress bars, warnings or library chatter)."""
    return [line for line in err.splitlines() if ": error:" in line]


def assert_clean(code: int, err: str, status: int, *needles: str, lines: int = 1) -> None:
    """The exit status, no traceback, `lines` error lines that name every needle."""
    assert code == status, (code, err)
    assert "Traceback" not in err, err
    errors = error_lines(err)
    assert len(errors) == lines, err
    for needle in needles:
        assert any(needle in line for line in errors), (needle, err)


# --- audio files: one bad file in a batch between two good ones -----------------------------


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _wav_header(channels: int, rate: int, bits: int = 16, frames: int = 0) -> bytes:
    """A hand-made PCM WAV header (sizes and rate as given, whatever they say)."""
    align = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * align, align, bits)
    data = frames * align
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data)
        + b"WAVEfmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", data)
    )


def _cut(path: Path, fraction: float) -> Path:
    data = path.read_bytes()
    return _write(path.with_name(f"cut-{path.name}"), data[: int(len(data) * fraction)])


def _truncated(tmp: Path, suffix: str) -> Path:
    if suffix.upper() not in sf.available_formats():
        pytest.skip(f"libsndfile {sf.__libsndfile_version__} cannot write {suffix}")
    full = tmp / f"full.{suffix}"
    noise = 0.01 * np.random.default_rng(0).standard_normal(6 * SR)  # Ogg pages fill up
    sf.write(full, harmonic(6.0) + noise.astype(np.float32), SR)
    return _cut(full, 0.5)


def _fifo(tmp: Path) -> Path:
    path = tmp / "pipe.wav"
    os.mkfifo(path)
    return path


def _float_wav(tmp: Path, value: float) -> Path:
    x = harmonic(1.0)
    x[4000:4010] = value
    sf.write(tmp / "float.wav", x, SR, subtype="FLOAT")
    return tmp / "float.wav"


def _wav_as(tmp: Path, name: str) -> Path:
    sf.write(tmp / "real.wav", harmonic(1.5), SR, subtype="PCM_16")
    return (tmp / "real.wav").rename(tmp / name)


def _symlink_to_nothing(tmp: Path) -> Path:
    (tmp / "dangling.wav").symlink_to(tmp / "gone.wav")
    return tmp / "dangling.wav"


# (case id, make the file, "error" or "warning" or "ok", text the message must hold)
AUDIO_CASES: list[tuple[str, Callable[[Path], Path], str, str]] = [
    ("missing", lambda t: t / "absent.wav", "error", "no such file"),
    ("dangling-symlink", _symlink_to_nothing, "error", "no such file"),
    ("empty", lambda t: _write(t / "empty.wav", b""), "error", "empty file"),
    ("header-12-bytes", lambda t: _write(t / "h.wav", _wav_header(1, SR)[:12]), "error", "h.wav"),
    ("garbage", lambda t: _write(t / "g.wav", np.random.default_rng(0).bytes(4000)), "error", ""),
    ("text-as-wav", lambda t: _write(t / "notes.wav", b"not audio\n" * 100), "error", ""),
    ("text-as-mp3", lambda t: _write(t / "notes.mp3", b"not audio\n" * 100), "error", ""),
    ("directory", lambda t: t, "error", "is a directory"),
    ("fifo", _fifo, "error", "FIFO"),
    ("dev-zero", lambda t: Path("/dev/zero"), "error", "device"),
    (
        "rate-1-hz",
        lambda t: _write(t / "r.wav", _wav_header(1, 1, frames=8) + bytes(16)),
        "error",
        "1 Hz",
    ),  # fmt: skip
    (
        "rate-10-mhz",
        lambda t: _write(t / "r.wav", _wav_header(1, 10**7, frames=8) + bytes(16)),
        "error",
        "Hz",
    ),  # fmt: skip
    ("zero-channels", lambda t: _write(t / "z.wav", _wav_header(0, SR) + bytes(64)), "error", ""),
    ("header-no-samples", lambda t: _write(t / "n.wav", _wav_header(1, SR)), "error", ""),
    (
        "200-channels",
        lambda t: _write(t / "c.wav", _wav_header(200, SR, frames=100) + bytes(40000)),
        "error",
        "channels",
    ),  # fmt: skip
    ("nan-samples", lambda t: _float_wav(t, np.nan), "error", "NaN"),
    ("inf-samples", lambda t: _float_wav(t, np.inf), "error", "infinite"),
    (
        "silent",
        lambda t: _write(t / "s.wav", _wav_header(1, SR, frames=3 * SR) + bytes(6 * SR)),
        "silence",
        "no speech found",
    ),  # fmt: skip
    ("wav-named-mp3", lambda t: _wav_as(t, "really-a-wav.mp3"), "ok", ""),
    ("wav-named-txt", lambda t: _wav_as(t, "really-a-wav.txt"), "ok", ""),
    ("truncated-wav", lambda t: _truncated(t, "wav"), "warning", "truncated: header says 6.0 s"),
    ("truncated-flac", lambda t: _truncated(t, "flac"), "warning", "truncated"),
    ("truncated-ogg", lambda t: _truncated(t, "ogg"), "warning", "truncated"),
    ("truncated-mp3", lambda t: _truncated(t, "mp3"), "warning", "truncated: header says 6.0 s"),
]


@pytest.mark.parametrize(
    ("make", "outcome", "needle"),
    [pytest.param(m, o, n, id=i) for i, m, o, n in AUDIO_CASES],
)
def test_bad_audio_in_a_batch(
    bundle: Path,
    good_wav: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    make: Callable[[Path], Path],
    outcome: str,
    needle: str,
) -> None:
    bad = make(tmp_path)
    args = ["transcribe", "--bundle", bundle, "--threads", "1", "--json", good_wav, bad, good_wav]
    code, out, err = cli(capsys, *args)
    first, middle, last = json.loads(out)["files"]
    for entry in (first, last):  # the good files still ran
        assert "error" not in entry and entry["segments"], entry
    assert middle["file"] == str(bad)
    if outcome == "error":
        assert_clean(code, err, 1, str(bad), needle)
        assert str(bad) in middle["error"] and needle in middle["error"]
    elif outcome == "silence":  # as in the API: an empty transcript, a warning, exit status 0
        assert_clean(code, err, 0, lines=0)
        assert f"echo-edge: warning: {bad}: {needle}" in err
        assert middle["text"] == "" and middle["segments"] == [] and "error" not in middle
        assert needle in middle["warning"]
    else:
        assert_clean(code, err, 0, lines=0)
        assert "error" not in middle and middle["segments"], middle
    if outcome == "warning":
        assert needle in middle["warning"] and str(bad) in middle["warning"]
        assert f"echo-edge: warning: {bad}: {needle}" in err
    elif outcome == "ok":
        assert "warning" not in middle


def test_bad_audio_batch_in_a_subprocess(bundle: Path, good_wav: Path, tmp_path: Path) -> None:
    """A real process: one error line per bad file, the good one printed, exit status 1."""
    empty = _write(tmp_path / "empty.wav", b"")
    proc = subprocess_cli("transcribe", "--bundle", bundle, empty, good_wav, tmp_path)
    assert_clean(proc.returncode, proc.stderr, 1, "empty.wav", "is a directory", lines=2)
    assert proc.stdout.startswith(f"{good_wav}: ")
    assert len(proc.stderr.strip().splitlines()) == 2, proc.stderr


# --- numeric flags: nan, inf, negative and huge values, refused by argparse naming the flag -----

TRANSCRIBE_FLAGS = {
    "--trailing-silence": ["nan", "inf", "-1", "1e9"],
    "--max-utterance": ["nan", "inf", "0", "-5", "1e9"],
    "--long-utterance": ["nan", "inf", "-1", "1e9"],
    "--short-pause": ["nan", "inf", "-0.1", "0", "1e9"],
    "--start-threshold": ["nan", "-inf", "5", "-1e9"],
    "--voicing-threshold": ["nan", "5", "-0.1"],
    "--partial-interval": ["nan", "inf", "-1"],
    "--threads": ["-3", "100000", "nan", "two"],
}
SYNTH_FLAGS = {
    "--hours": ["inf", "nan", "-1", "0", "1e9"],
    "--workers": ["1000", "-1"],
    "--flite-share": ["nan", "2"],
    "--dev-fraction": ["1"],
    "--seed": ["-1"],
}
TRAIN_FLAGS = {
    "--lr": ["nan", "0"],
    "--batch-size": ["0"],
    "--max-seconds": ["inf", "0"],
    "--workers": ["1000"],
    "--epochs": ["-1"],
    "--ctc-weight": ["1"],
    "--silence-scale": ["nan"],
    "--eval-steps": ["0"],
}
OPTION_CASES = (
    [("transcribe", f, v) for f, vs in TRANSCRIBE_FLAGS.items() for v in vs]
    + [("data synth", f, v) for f, vs in SYNTH_FLAGS.items() for v in vs]
    + [("train", f, v) for f, vs in TRAIN_FLAGS.items() for v in vs]
    + [("eval", "--limit", "0"), ("eval", "--limit", "nan")]
)
BASE_ARGS = {
    "transcribe": ["a.wav", "b.wav"],
    "data synth": ["--out", "corpus"],
    "train": ["--train", "train.jsonl"],
    "eval": ["--data", "dev.jsonl"],
}


@pytest.mark.parametrize(
    ("command", "flag", "value"),
    [pytest.param(c, f, v, id=f"{c.split()[-1]}{f}={v}") for c, f, v in OPTION_CASES],
)
def test_bad_option_is_a_usage_error(
    capsys: pytest.CaptureFixture, command: str, flag: str, value: str
) -> None:
    code, out, err = cli(capsys, *command.split(), *BASE_ARGS[command], f"{flag}={value}")
    assert_clean(code, err, 2, f"argument {flag}:", value)
    assert out == ""


def test_bad_option_in_a_subprocess() -> None:
    proc = subprocess_cli("transcribe", "--trailing-silence", "inf", "a.wav", "b.wav")
    assert_clean(proc.returncode, proc.stderr, 2, "--trailing-silence", "finite")
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_list_devices_without_any(capsys: pytest.CaptureFixture, monkeypatch) -> None:  # noqa: ANN001
    from echo_edge.runtime import transcribe

    monkeypatch.setattr(transcribe, "input_devices", lambda: [])
    code, out, err = cli(capsys, "transcribe", "--list-devices")
    assert_clean(code, err, 1, "no audio input devices", "PulseAudio")
    assert out == ""


# --- checkpoints ------------------------------------------------------------------------------


def _copy_checkpoint(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for name in ("config.json", "model.safetensors"):
        (dst / name).write_bytes((src / name).read_bytes())
    return dst


def _edit_config(ckpt: Path, edit: Callable[[dict], object]) -> None:
    data = json.loads((ckpt / "config.json").read_text())
    (ckpt / "config.json").write_text(json.dumps(edit(data)))


def _damage(src: Path, dst: Path, how: str) -> Path:
    ckpt = _copy_checkpoint(src, dst)
    weights, config = ckpt / "model.safetensors", ckpt / "config.json"
    if how == "truncated-weights":
        weights.write_bytes(weights.read_bytes()[:500])
    elif how == "garbage-weights":
        weights.write_bytes(np.random.default_rng(1).bytes(3000))
    elif how == "empty-weights":
        weights.write_bytes(b"")
    elif how == "missing-weights":
        weights.unlink()
    elif how == "missing-config":
        config.unlink()
    elif how == "config-list":
        _edit_config(ckpt, lambda d: list(d))
    elif how == "n-heads-0":
        _edit_config(ckpt, lambda d: {**d, "n_heads": 0})
    elif how == "d-model-string":
        _edit_config(ckpt, lambda d: {**d, "d_model": "big"})
    elif how == "unknown-field":
        _edit_config(ckpt, lambda d: {**d, "colour": "blue"})
    elif how == "bad-feature":
        _edit_config(ckpt, lambda d: {**d, "features": ["colour"]})
    elif how == "config-not-json":
        config.write_text("{ not json")
    elif how == "config-not-utf8":
        config.write_bytes(b"\xff\xfe\x00{")
    elif how == "wrong-sizes":
        _edit_config(ckpt, lambda d: {**d, "d_model": 64})
    return ckpt


CHECKPOINT_CASES = [
    ("truncated-weights", "model.safetensors", "not a safetensors file"),
    ("garbage-weights", "model.safetensors", "not a safetensors file"),
    ("empty-weights", "model.safetensors", "not a safetensors file"),
    ("missing-weights", "ckpt", "no model.safetensors"),
    ("missing-config", "ckpt", "no config.json"),
    ("config-list", "config.json", "JSON object"),
    ("n-heads-0", "config.json", "n_heads must be an integer >= 1"),
    ("d-model-string", "config.json", "d_model"),
    ("unknown-field", "config.json", "colour"),
    ("bad-feature", "config.json", "features"),
    ("config-not-json", "config.json", "invalid JSON"),
    ("config-not-utf8", "config.json", "not UTF-8"),
    ("wrong-sizes", "model.safetensors", "weights do not match config.json"),
]


@pytest.mark.parametrize(
    ("how", "file", "needle"), [pytest.param(*c, id=c[0]) for c in CHECKPOINT_CASES]
)
def test_bad_checkpoint_info(
    checkpoint: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    how: str,
    file: str,
    needle: str,
) -> None:
    ckpt = _damage(checkpoint, tmp_path / "ckpt", how)
    code, out, err = cli(capsys, "info", ckpt)
    assert_clean(code, err, 1, file, needle)
    assert str(ckpt) in error_lines(err)[0] and out == ""


def test_wrong_sizes_are_one_short_line(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    ckpt = _damage(checkpoint, tmp_path / "ckpt", "wrong-sizes")
    code, _, err = cli(capsys, "info", ckpt)
    assert_clean(code, err, 1, "wrong shape; first:")
    assert len(err.strip().splitlines()) == 1 and len(err) < 400, err


def test_checkpoint_path_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _write(tmp_path / "weights.bin", b"x")
    code, _, err = cli(capsys, "info", tmp_path / "weights.bin")
    assert_clean(code, err, 1, "weights.bin", "not a checkpoint directory")


def _manifest(path: Path, rows: list[object], raw: bytes = b"") -> Path:
    path.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in rows) + raw)
    return path


# Every command that loads a checkpoint, given a truncated model.safetensors.
def _checkpoint_commands(ckpt: Path, tmp: Path, good_wav: Path, bundle: Path) -> dict:
    manifest = _manifest(tmp / "m.jsonl", [{"audio": str(good_wav), "text": "hello"}])
    return {
        "eval": ["eval", ckpt, "--data", manifest],
        "export": ["export", ckpt, "--out", tmp / "out-bundle"],
        "train-init": ["train", "--train", manifest, "--init", ckpt, "--out", tmp / "run"],
        "verify-reference": ["verify", bundle, "--reference", ckpt, "--data", manifest],
        "demo": ["demo", "--checkpoint", ckpt],
    }


@pytest.mark.parametrize("command", ["eval", "export", "train-init", "verify-reference", "demo"])
def test_truncated_checkpoint_in_every_command(
    checkpoint: Path,
    bundle: Path,
    good_wav: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    command: str,
) -> None:
    ckpt = _damage(checkpoint, tmp_path / "ckpt", "truncated-weights")
    argv = _checkpoint_commands(ckpt, tmp_path, good_wav, bundle)[command]
    code, _, err = cli(capsys, *argv)
    assert_clean(code, err, 1, "model.safetensors", "not a safetensors file")
    assert not (tmp_path / "out-bundle").exists()


def test_bad_checkpoint_in_a_subprocess(checkpoint: Path, tmp_path: Path) -> None:
    ckpt = _damage(checkpoint, tmp_path / "ckpt", "garbage-weights")
    proc = subprocess_cli("info", ckpt)
    assert_clean(proc.returncode, proc.stderr, 1, "model.safetensors")
    assert "Error while deserializing" in proc.stderr or "not a safetensors" in proc.stderr


# --- manifests --------------------------------------------------------------------------------


def _eval_manifest(tmp: Path, good: Path, how: str) -> tuple[Path, int]:
    """A manifest and how many of its rows are usable."""
    ok = {"audio": str(good), "text": "hello there"}
    path = tmp / "m.jsonl"
    if how == "empty":
        return _manifest(path, []), 0
    if how == "blank-lines":
        return _write(path, b"\n\n  \n"), 0
    if how == "bad-json-line":
        return _manifest(path, [ok], b"{not json\n" + json.dumps(ok).encode() + b"\n"), 2
    if how == "missing-audio":
        return _manifest(path, [ok, {"audio": "absent.wav", "text": "x"}]), 1
    if how == "missing-text":
        return _manifest(path, [{"audio": str(good)}, ok]), 1
    if how == "not-an-object":
        return _manifest(path, [[1, 2], ok]), 1
    if how == "not-utf8-line":
        return _manifest(path, [ok], b'{"audio": "x.wav", "text": "\xff\xfe"}\n'), 1
    if how == "unreadable-audio":
        bad = _write(tmp / "broken.wav", b"RIFF" + bytes(40))
        return _manifest(path, [{"audio": str(bad), "text": "x"}, ok]), 1
    if how == "audio-is-a-directory":
        return _manifest(path, [{"audio": str(tmp), "text": "x"}, ok]), 1
    if how == "all-bad":
        return _manifest(path, [{"audio": "absent.wav", "text": "x"}], b"[oops\n"), 0
    raise AssertionError(how)


EVAL_MANIFEST_CASES = [
    "empty",
    "blank-lines",
    "bad-json-line",
    "missing-audio",
    "missing-text",
    "not-an-object",
    "not-utf8-line",
    "unreadable-audio",
    "audio-is-a-directory",
    "all-bad",
]


@pytest.mark.parametrize("how", EVAL_MANIFEST_CASES)
def test_bad_manifest_eval(
    checkpoint: Path, good_wav: Path, tmp_path: Path, capsys: pytest.CaptureFixture, how: str
) -> None:
    manifest, usable = _eval_manifest(tmp_path, good_wav, how)
    code, out, err = cli(capsys, "eval", checkpoint, "--data", manifest, "--json", "--by", "voice")
    assert "Traceback" not in err
    if usable == 0:
        assert_clean(code, err, 2, str(manifest), "no rows to evaluate")
        return
    assert code == 0, err
    report = json.loads(out)
    assert report["n"] == usable and report["skipped"] >= 1  # the others were evaluated
    warning = [line for line in err.splitlines() if "echo-edge: warning:" in line]
    assert len(warning) == 1 and str(manifest) in warning[0] and "skipped" in warning[0]


def test_missing_manifest_and_directory_manifest(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    code, _, err = cli(capsys, "eval", checkpoint, "--data", tmp_path / "absent.jsonl")
    assert_clean(code, err, 1, "absent.jsonl")
    code, _, err = cli(capsys, "eval", checkpoint, "--data", tmp_path)
    assert_clean(code, err, 1, str(tmp_path), "is a directory")


def _train_args(tmp: Path, good: Path, how: str) -> list[object]:
    ok = [{"audio": str(good), "text": "hello there"}, {"audio": str(good), "text": "go home"}]
    train = tmp / "train.jsonl"
    if how == "empty":
        return ["--train", _manifest(train, [])]
    if how == "all-filtered":
        return ["--train", _manifest(train, ok), "--max-seconds", "0.5"]
    if how == "all-held-out":
        return ["--train", _manifest(train, ok), "--hold-out", _manifest(tmp / "h.jsonl", ok)]
    if how == "not-utf8":
        return ["--train", _write(train, b'{"audio": "a.wav", "text": "\xff"}\n')]
    if how == "audio-missing":
        return ["--train", _manifest(train, [{"audio": "gone.wav", "text": "x", "duration": 1}])]
    if how == "out-unwritable":
        return ["--train", _manifest(train, ok), "--out", "/proc/echo-edge-test"]
    raise AssertionError(how)


@pytest.mark.parametrize(
    ("how", "status", "needle"),
    [
        ("empty", 2, "no training rows (the manifests are empty)"),
        ("all-filtered", 2, "longer than --max-seconds 0.5"),
        ("all-held-out", 2, "--hold-out"),
        ("not-utf8", 2, "every row is bad"),
        ("audio-missing", 2, "unreadable"),
        ("out-unwritable", 1, "--out /proc/echo-edge-test"),
    ],
)
def test_bad_training_data(
    good_wav: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    how: str,
    status: int,
    needle: str,
) -> None:
    args = _train_args(tmp_path, good_wav, how)
    out = [] if "--out" in args else ["--out", tmp_path / "run"]
    code, _, err = cli(capsys, "train", *args, *out, "--max-steps", "1")
    assert_clean(code, err, status, needle)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["data", "synth", "--out", "/proc/echo-edge-x", "--hours", "0.001", "--workers", "1"],
         "/proc/echo-edge-x"),
        (["export", "--out", "/proc/echo-edge-x"], "/proc/"),
    ],
    ids=["synth", "export"],
)  # fmt: skip
def test_unwritable_out_is_one_line(
    checkpoint: Path, capsys: pytest.CaptureFixture, argv: list[str], needle: str
) -> None:
    if argv[0] == "export":
        argv = [argv[0], str(checkpoint), *argv[1:]]
    code, _, err = cli(capsys, *argv)
    assert_clean(code, err, 1, needle)
    assert "Errno" not in err, err


# --- API arrays: Stream.accept_waveform and Recognizer.transcribe_samples -----------------------


ARRAY_CASES = [
    pytest.param(SR, np.zeros((2, SR), np.float32), "(samples, channels)", id="channels-first"),
    pytest.param(SR, np.full(SR, 128, np.uint8), "uint8", id="uint8"),
    pytest.param(SR, np.ones(SR, bool), "bool", id="bool"),
    pytest.param(SR, np.zeros((2, 2, 2), np.float32), "(samples, channels)", id="3-d"),
    pytest.param(SR, np.zeros(SR, complex), "complex", id="complex"),
    pytest.param(SR, np.array([0.0, np.nan] * 800, np.float32), "NaN", id="nan-samples"),
    pytest.param(1, np.zeros(SR, np.float32), "sample rate", id="rate-1"),
    pytest.param(float("inf"), np.zeros(SR, np.float32), "sample rate", id="rate-inf"),
    pytest.param(float("nan"), np.zeros(SR, np.float32), "sample rate", id="rate-nan"),
    pytest.param("16k", np.zeros(SR, np.float32), "sample rate", id="rate-string"),
    pytest.param(SR, ["a", "b"] * 800, "float or int16", id="strings"),
]


@pytest.mark.parametrize(("rate", "samples", "needle"), ARRAY_CASES)
def test_stream_refuses_bad_arrays(recognizer, rate: object, samples: object, needle: str) -> None:  # noqa: ANN001
    stream = recognizer.create_stream()
    with pytest.raises(ValueError) as error:
        stream.accept_waveform(rate, samples)
    message = str(error.value)
    assert "\n" not in message and needle in message, message
    assert stream.accept_waveform(SR, harmonic(0.2)) is not None  # the stream still works


@pytest.mark.parametrize(("rate", "samples", "needle"), ARRAY_CASES)
def test_transcribe_samples_refuses_bad_arrays(
    recognizer,  # noqa: ANN001
    rate: object,
    samples: object,
    needle: str,
) -> None:
    with pytest.raises(ValueError) as error:
        recognizer.transcribe_samples(samples, rate)
    assert "\n" not in str(error.value) and needle in str(error.value), error.value


def test_empty_chunk_is_no_results(recognizer) -> None:  # noqa: ANN001
    stream = recognizer.create_stream()
    assert stream.accept_waveform(SR, np.zeros(0, np.float32)) == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert isinstance(stream.input_finished(), list)
