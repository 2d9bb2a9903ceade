"""espeak-ng: a formant synthesiser with many English accents and speaker variants.

Voices are accent files x distinct speaker variants; a variant (a speaker) belongs to one split
by a fixed hash of its name, the same for every seed, so held-out speakers stay held out.
"""

from __future__ import annotations

import io
import random
import shutil
import zlib
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import numpy as np
import soundfile as sf

from echo_edge.corpus.engines import Utterance, Voice, run, to_corpus_rate

ESPEAK_WPM = (120, 220)
ESPEAK_PITCH = (30, 70)
# Variants that are not ordinary speech: unstable tempo, or no voicing at all.
EXCLUDED_VARIANTS = frozenset({"fast", "whisper", "whisperf"})
# Planning estimate, measured on trimmed clean audio (realised / estimated = 1.0 +- 0.13).
ESPEAK_DURATION_SCALE = 0.89  # seconds = scale * words * 60 / wpm
MAX_WPM = 400.0  # the fastest the length cap re-renders at


def _split_of(name: str) -> str:
    """Fixed hold-out rule for espeak-ng variants: ~10 % dev, ~10 % test, by name hash."""
    bucket = zlib.crc32(name.encode()) % 10
    return "test" if bucket == 0 else "dev" if bucket == 1 else "train"


@cache
def espeak_accents() -> dict[str, str]:
    """English espeak-ng voice files -> language name (mbrola voices left out: they need mbrola)."""
    accents: dict[str, str] = {}
    for line in run(["espeak-ng", "--voices=en"]).decode().splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 5 and cols[4].startswith("gmw/"):
            accents.setdefault(cols[4], cols[1])
    return accents


@cache
def espeak_variants() -> tuple[str, ...]:
    """espeak-ng speaker variant names, without the excluded ones."""
    names = []
    for line in run(["espeak-ng", "--voices=variant"]).decode().splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 5 and cols[4].removeprefix("!v/") not in EXCLUDED_VARIANTS:
            names.append(cols[4].removeprefix("!v/"))
    return tuple(names)


@cache
def espeak_voices() -> tuple[Voice, ...]:
    """English espeak-ng voices (accent files x distinct speaker variants), with their split."""
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng not found: install it (apt-get install espeak-ng)")
    accents, names = espeak_accents(), espeak_variants()
    with ThreadPoolExecutor(8) as pool:  # subprocess-bound: threads are enough
        probes = pool.map(
            lambda v: run(["espeak-ng", "--stdout", "-v", v, "one two three"]),
            ["en-us"] + [f"en-us+{n}" for n in names],
        )
    seen_audio: set[bytes] = set()
    variants: list[str] = []
    for name, audio in zip(["", *names], probes):
        if audio not in seen_audio:  # some variant files are copies of others
            seen_audio.add(audio)
            variants.append(name)
    if not accents:
        raise RuntimeError("espeak-ng has no English voices (espeak-ng --voices=en is empty)")
    voices = []
    for variant in sorted(variants):
        split = "train" if variant == "" else _split_of(variant)
        for file, lang in sorted(accents.items()):
            suffix = f"+{variant}" if variant else ""
            voices.append(Voice("espeak-ng", file + suffix, lang + suffix, split))
    return tuple(voices)


class Espeak:
    """espeak-ng through its command line (rate in words per minute, pitch 0-99)."""

    name = "espeak-ng"
    licence = "GPL-3.0-or-later"
    install = "apt-get install espeak-ng"

    def available(self) -> bool:
        return shutil.which("espeak-ng") is not None

    def voices(self) -> tuple[Voice, ...]:
        return espeak_voices()

    def draw(self, voice: Voice, rng: random.Random) -> tuple[float, float, tuple]:
        return float(rng.randint(*ESPEAK_WPM)), float(rng.randint(*ESPEAK_PITCH)), ()

    def seconds(self, words: int, rate: float) -> float:
        return ESPEAK_DURATION_SCALE * words * 60 / rate

    def faster(self, rate: float, scale: float) -> float:
        return min(rate * scale, MAX_WPM)

    def synthesise(self, utt: Utterance, rate: float) -> np.ndarray:
        cmd = ["espeak-ng", "--stdout", "-v", utt.voice.name, "-s", str(int(rate))]
        cmd += ["-p", str(int(utt.pitch)), utt.spoken]
        audio, sr = sf.read(io.BytesIO(run(cmd)), dtype="float32")
        return to_corpus_rate(audio, sr)

    def settings(self, utt: Utterance) -> dict:
        return {"wpm": utt.rate, "pitch": utt.pitch}


ENGINE = Espeak()
