"""Shared fixtures: a tiny random Echo config and speech-like test signals."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from echo_edge import constants as C
from echo_edge.config import EchoConfig

# espeak-ng speech for the tests' calibration manifests: varied sentences, voices and speeds
CALIBRATION_SENTENCES = (
    "the quick brown fox jumps over the lazy dog",
    "please turn on the kitchen lights at half past seven",
    "she sold twenty three tickets on the fourth of july",
    "how far is it from the station to the old bridge",
    "remind me to call my sister tomorrow morning",
    "a gentle rain fell over the quiet harbour all night",
    "set a timer for fifteen minutes and play some music",
    "the weather in the mountains changes very quickly",
)
CALIBRATION_VOICES = (("en-us", 160), ("en-gb", 140), ("en-us+f3", 180), ("en-gb-scotland", 150))
TINY = dict(d_model=32, n_heads=2, encoder_layers=2, decoder_layers=2, vocab_size=32)


def tiny_config(**overrides: object) -> EchoConfig:
    """A random-config model small enough for millisecond unit tests."""
    return EchoConfig(**{**TINY, "max_target_len": 48, **overrides})


def harmonic(seconds: float, f0: float = 150.0, seed: int = 0, gaps: bool = True) -> np.ndarray:
    """A voiced, speech-like test signal: harmonics of f0 with silent gaps, float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * C.SAMPLE_RATE)) / C.SAMPLE_RATE
    x = sum(0.3 / k * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6)) for k in range(1, 6))
    if gaps:
        x[(t % 0.5) > 0.35] = 0.0  # 150 ms of digital silence every 500 ms
    return x.astype(np.float32)


def synthesize_calibration(count: int):  # -> list[export.quantize.Utterance]
    """`count` espeak-ng utterances at -6 dB (sentences x voices, deterministic)."""
    import soundfile as sf
    import soxr

    from echo_edge.export.quantize import Utterance

    exe = shutil.which("espeak-ng")
    assert exe is not None, "callers skip without espeak-ng"
    out = []
    for i in range(count):
        text = CALIBRATION_SENTENCES[i % len(CALIBRATION_SENTENCES)]
        voice, speed = CALIBRATION_VOICES[i % len(CALIBRATION_VOICES)]
        cmd = [exe, "--stdout", "-v", voice, "-s", str(speed), text]
        wav = subprocess.run(cmd, capture_output=True, check=True, timeout=60).stdout
        audio, sr = sf.read(io.BytesIO(wav), dtype="float32")
        audio = soxr.resample(audio, sr, C.SAMPLE_RATE) if sr != C.SAMPLE_RATE else audio
        out.append(Utterance(0.5 * np.asarray(audio, dtype=np.float32), text))
    return out


def write_calibration_manifest(root: Path, count: int = 2) -> Path:
    """`count` espeak-ng calibration utterances as WAVs + a JSONL manifest in `root`."""
    import soundfile as sf

    rows = []
    for i, utt in enumerate(synthesize_calibration(count)):
        sf.write(root / f"u{i}.wav", utt.audio, C.SAMPLE_RATE, subtype="PCM_16")
        rows.append(json.dumps({"audio": f"u{i}.wav", "text": utt.text}))
    (root / "cal.jsonl").write_text("\n".join(rows) + "\n")
    return root / "cal.jsonl"


def export_in_worker(job: dict) -> str:
    """export_bundle(**job) in a worker process, its progress lines written to job["log"]."""
    from echo_edge.export.pipeline import export_bundle

    lines: list[str] = []
    out = export_bundle(**{k: v for k, v in job.items() if k != "log"}, log=lines.append)
    Path(job["log"]).write_text("\n".join(lines))
    return str(out)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def growing_and_fixed_steps(backend_class, manifest, cross_of, tokens: np.ndarray) -> dict:
    """Step-by-step decoding of `tokens` (1, L) on a bundle as its manifest says (the growing
    cache) and with the GROWING_CACHE flag removed (the full cache from the first step):
    {"growing"|"fixed": (logits (L, V), sorted slot counts seen, backend, cross)}.
    `cross_of(backend)` encodes."""
    from dataclasses import replace

    from echo_edge.runtime.bundle import GROWING_CACHE

    graphs = {**manifest.graphs, "decoder": {**manifest.graphs["decoder"]}}
    del graphs["decoder"][GROWING_CACHE]
    runs = {}
    for name, m in (("growing", manifest), ("fixed", replace(manifest, graphs=graphs))):
        backend = backend_class(m)
        cross = cross_of(backend)
        k, v = backend.empty_cache()
        slots, steps = [k.shape[3]], []
        for i in range(tokens.shape[1]):
            logits, k, v = backend.decode_step(tokens[:, i : i + 1], i, k, v, cross)
            slots.append(k.shape[3])
            steps.append(logits[0, 0])
        runs[name] = (np.stack(steps), sorted(set(slots)), backend, cross)
    return runs


def append_without_guard(ids: list[int], token: int) -> bool:
    """Stand-in for echo_edge.loopguard.append_or_stop: the search without the loop guard."""
    ids.append(token)
    return False
