"""Festival: the cross-engine evaluation voices (ked and kal diphone, slt HTS).

Never trained on: every festival voice belongs to the test split, and the planner refuses a
plan with festival outside a test-only corpus (synth.EVALUATION_ONLY). Debian packages:
festival festvox-kdlpc16k festvox-kallpc16k festvox-us-slt-hts.
"""

from __future__ import annotations

import random
import shutil
import tempfile
from functools import cache
from pathlib import Path

import numpy as np
import soundfile as sf

from echo_edge.corpus.engines import Utterance, Voice, run, to_corpus_rate

# text2wave voice function -> short name in manifests.
FESTIVAL_VOICES = {
    "voice_ked_diphone": "ked",
    "voice_kal_diphone": "kal",
    "voice_cmu_us_slt_arctic_hts": "slt",
}
STRETCH = (0.9, 1.15)  # Duration_Stretch: > 1 is slower
WORDS_PER_SECOND = 2.8  # planning estimate at stretch 1.0
MIN_STRETCH = 0.5
LICENCE = "festival and festvox voices (CSTR/CMU free licences): evaluation only"


def text2wave(text: str, voice: str, stretch: float | None, out: Path) -> None:
    """festival's text2wave: `text` in `voice` (a voice function) -> WAV `out`.

    `stretch` sets Duration_Stretch; None keeps the voice's own pace, which is not 1.0 for
    every voice (ked and kal set their own: an explicit 1.0 makes them about 10 % faster)."""
    cmd = ["text2wave", "-eval", f"({voice})"]
    if stretch is not None:
        cmd += ["-eval", f"(Parameter.set 'Duration_Stretch {stretch})"]
    run(cmd + ["-o", str(out)], stdin=text.encode(), timeout=120)


@cache
def festival_voices() -> tuple[Voice, ...]:
    """The FESTIVAL_VOICES that load here, all owned by the test split."""
    found = []
    with tempfile.TemporaryDirectory() as tmp:
        for voice, short in FESTIVAL_VOICES.items():
            probe = Path(tmp) / "probe.wav"
            try:
                text2wave("test", voice, 1.0, probe)
            except RuntimeError:
                continue
            if probe.is_file() and probe.stat().st_size > 1000:
                found.append(Voice("festival", voice, short, "test"))
    return tuple(found)


class Festival:
    """festival's text2wave (rate: Duration_Stretch)."""

    name = "festival"
    licence = LICENCE
    install = "apt-get install festival festvox-kdlpc16k festvox-kallpc16k festvox-us-slt-hts"

    def available(self) -> bool:
        return shutil.which("text2wave") is not None and bool(festival_voices())

    def voices(self) -> tuple[Voice, ...]:
        return festival_voices()

    def draw(self, voice: Voice, rng: random.Random) -> tuple[float, float, tuple]:
        return round(rng.uniform(*STRETCH), 2), 0.0, ()

    def seconds(self, words: int, rate: float) -> float:
        return words / WORDS_PER_SECOND * rate

    def faster(self, rate: float, scale: float) -> float:
        return max(rate / scale, MIN_STRETCH)

    def synthesise(self, utt: Utterance, rate: float) -> np.ndarray:
        if utt.split != "test":  # the planner refuses this first; a hand-made plan stops here
            raise RuntimeError("festival is for evaluation only: it writes test rows only")
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "u.wav"
            text2wave(utt.spoken, utt.voice.name, rate, out)
            audio, sr = sf.read(out, dtype="float32")
        return to_corpus_rate(audio, sr)

    def settings(self, utt: Utterance) -> dict:
        return {"duration_stretch": utt.rate}


ENGINE = Festival()
