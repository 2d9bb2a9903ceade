"""The one small interface every synthesis engine of the corpus implements, and the registry.

An engine lists its voices (each owned by one split, by a fixed rule), draws the per-utterance
settings of a voice from the plan's random generator, estimates the spoken length for the
planner, and renders one planned utterance to float32 mono audio at SAMPLE_RATE. Engines are
imported lazily by name, so planning an espeak-ng corpus never imports onnxruntime.
"""

from __future__ import annotations

import importlib
import random
import subprocess
import zlib
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import soxr

from echo_edge.constants import SAMPLE_RATE
from echo_edge.corpus.augment import Effect

# Engine name -> module in echo_edge.corpus that defines ENGINE.
MODULES = {
    "espeak-ng": "espeak",
    "flite": "flite",
    "piper": "piper",
    "kokoro": "kokoro",
    "festival": "festival",
}


@dataclass(frozen=True)
class Voice:
    """A synthesiser voice: engine, the name the engine takes, and the split that owns it."""

    engine: str  # a key of MODULES
    name: str  # what the engine reads (espeak-ng "<file>[+<variant>]", a flite voice, ...)
    label: str  # human-readable id part, e.g. "en-gb-scotland+m3"
    split: str

    @property
    def id(self) -> str:
        return f"{self.engine}:{self.label}"


@dataclass(frozen=True)
class Utterance:
    """Everything needed to render one utterance, fixed at planning time."""

    index: int
    split: str
    category: str
    raw: str  # generated written text
    text: str  # normalised label
    spoken: str  # what the synthesiser reads
    voice: Voice
    rate: float  # the engine's tempo knob (espeak-ng wpm, flite/piper stretch, kokoro speed)
    pitch: float  # espeak-ng pitch 0-99, flite mean f0 in Hz; 0 where the engine has none
    margins: tuple[float, float]  # leading, trailing silence (s)
    chain: tuple[Effect, ...]
    extra: tuple[tuple[str, float], ...] = ()  # further engine settings (piper noise scales)

    @property
    def audio_path(self) -> str:
        return f"audio/{self.split}_{self.index:06d}.wav"


class Engine(Protocol):
    """A synthesis engine of the corpus (one module each, ENGINE at module level)."""

    name: str  # a key of MODULES
    licence: str  # what a manifest row records
    install: str  # the command that installs it, for the one-line error

    def available(self) -> bool:
        """Whether this machine can render (binaries, packages, model files)."""

    def voices(self) -> tuple[Voice, ...]:
        """Every voice, each with the split that owns it (the same on every call)."""

    def draw(
        self, voice: Voice, rng: random.Random
    ) -> tuple[float, float, tuple[tuple[str, float], ...]]:
        """Per-utterance settings of `voice`: (rate, pitch, extra)."""

    def seconds(self, words: int, rate: float) -> float:
        """Planning estimate of the trimmed spoken length of `words` words at `rate`."""

    def faster(self, rate: float, scale: float) -> float:
        """The rate that makes speech `scale` times shorter (for the length cap)."""

    def synthesise(self, utt: Utterance, rate: float) -> np.ndarray:
        """(N,) float32 mono audio at SAMPLE_RATE of `utt` spoken at `rate`."""

    def settings(self, utt: Utterance) -> dict:
        """What the manifest row records of the utterance's settings."""


def get(name: str) -> Engine:
    """The engine called `name`; RuntimeError (one line) for an unknown name."""
    if name not in MODULES:
        raise RuntimeError(f"unknown engine {name!r} (known: {', '.join(MODULES)})")
    return importlib.import_module(f"echo_edge.corpus.{MODULES[name]}").ENGINE


def require(name: str) -> Engine:
    """The engine called `name`, refusing in one line (with its install command) when absent."""
    engine = get(name)
    if not engine.available():
        raise RuntimeError(f"engine {name} is not installed: {engine.install}")
    return engine


def run(cmd: list[str], stdin: bytes | None = None, timeout: float = 60) -> bytes:
    """stdout of a synthesiser subprocess; RuntimeError with its stderr when it fails."""
    result = subprocess.run(cmd, input=stdin, capture_output=True, check=False, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout


def to_corpus_rate(audio: np.ndarray, sr: int) -> np.ndarray:
    """(N,) or (N, C) audio at `sr` -> (M,) float32 mono at SAMPLE_RATE (soxr)."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    if sr != SAMPLE_RATE:
        audio = soxr.resample(audio, sr, SAMPLE_RATE)
    return np.asarray(audio, dtype=np.float32)


def ort_session(path: str):  # -> onnxruntime.InferenceSession
    """A CPU session with one intra-op and one inter-op thread: the pool runs one per core."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # warnings about unused initialisers are not ours to fix
    return ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])


def utterance_seed(utt: Utterance) -> int:
    """A seed fixed by the utterance (for engines that sample noise inside their graph)."""
    return zlib.crc32(f"{utt.split}:{utt.index}:{utt.text}".encode()) & 0x7FFFFFFF
