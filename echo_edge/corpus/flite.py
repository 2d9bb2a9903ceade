"""flite: CMU's small diphone/cluster-unit synthesiser with a handful of built-in voices.

Each voice belongs to one split (FLITE_SPLITS); the training voices are all male, so their
mean f0 is spread over both male and female ranges.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from functools import cache

import numpy as np
import soundfile as sf

from echo_edge.corpus.engines import Utterance, Voice, run, to_corpus_rate

FLITE_SPLITS = {"kal": "train", "kal16": "train", "awb": "train", "rms": "dev", "slt": "test"}
# Mean f0 per flite voice. The training voices are all male, the test voice (slt) female:
# their pitch is spread over both ranges (int_f0_target_mean moves kal and awb from ~105 to
# ~200 Hz, checked with our pitch tracker) so that pitch alone does not make a voice unseen.
FLITE_F0 = {
    "kal": (85, 240),
    "kal16": (85, 240),
    "awb": (85, 240),
    "rms": (95, 95),
    "slt": (150, 230),
}
FLITE_STRETCH = (0.8, 1.25)  # duration_stretch: > 1 is slower
FLITE_WORDS_PER_SECOND = 3.1  # planning estimate at duration_stretch 1.0 (trimmed audio)
MIN_STRETCH = 0.5  # the fastest the length cap re-renders at


@cache
def flite_voices() -> tuple[Voice, ...]:
    """flite's built-in voices that have a split (empty when flite is not installed)."""
    if shutil.which("flite") is None:
        return ()
    listed = run(["flite", "-lv"]).decode().split(":", 1)[-1].split()
    return tuple(Voice("flite", v, v, FLITE_SPLITS[v]) for v in listed if v in FLITE_SPLITS)


class Flite:
    """flite through its command line (rate: duration_stretch, pitch: mean f0 in Hz)."""

    name = "flite"
    licence = "flite licence (BSD-style)"
    install = "apt-get install flite"

    def available(self) -> bool:
        return shutil.which("flite") is not None

    def voices(self) -> tuple[Voice, ...]:
        return flite_voices()

    def draw(self, voice: Voice, rng: random.Random) -> tuple[float, float, tuple]:
        low, high = FLITE_F0[voice.name]
        return round(rng.uniform(*FLITE_STRETCH), 2), float(rng.randint(low, high)), ()

    def seconds(self, words: int, rate: float) -> float:
        return words / FLITE_WORDS_PER_SECOND * rate

    def faster(self, rate: float, scale: float) -> float:
        return max(rate / scale, MIN_STRETCH)

    def synthesise(self, utt: Utterance, rate: float) -> np.ndarray:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "out.wav")
            cmd = ["flite", "-voice", utt.voice.name, "--setf", f"duration_stretch={rate}"]
            cmd += ["--setf", f"int_f0_target_mean={utt.pitch}", "-t", utt.spoken, "-o", path]
            run(cmd)
            audio, sr = sf.read(path, dtype="float32")
        return to_corpus_rate(audio, sr)

    def settings(self, utt: Utterance) -> dict:
        return {"duration_stretch": utt.rate, "f0": utt.pitch}


ENGINE = Flite()
