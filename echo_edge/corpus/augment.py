"""Waveform augmentation for the synthetic corpus: noise, gain, speed, reverb, telephone band.

numpy + soxr only. A chain is a list of `Effect`s drawn by `sample_chain` (plain Python
random, so a corpus plan is reproducible) and applied by `apply_chain` with a numpy
generator for the noise itself; `describe` renders the chain for the manifest's
"augment" field ("clean" when empty).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import soxr

SNR_DB = (5.0, 30.0)  # additive noise range
GAIN_DB = (-12.0, 6.0)
SPEED = (0.9, 1.1)  # resample-based: tempo and pitch change together
RT60_S = (0.15, 0.8)  # reverberation time of the synthetic room
TELEPHONE_BAND_HZ = (300.0, 3400.0)
TELEPHONE_RATE = 8000
NOISE_KINDS = ("white", "pink", "brown", "babble")
PEAK_LIMIT = 0.99  # after the chain, audio is scaled down (never clipped) to this peak


@dataclass(frozen=True)
class Effect:
    """One step of an augmentation chain."""

    name: str  # speed | reverb | noise | telephone | gain
    value: float = 0.0  # factor, RT60 seconds, SNR dB or gain dB
    kind: str = ""  # noise colour

    def describe(self) -> str:
        if self.name == "speed":
            return f"speed={self.value:.2f}"
        if self.name == "reverb":
            return f"reverb={self.value:.2f}s"
        if self.name == "noise":
            return f"noise={self.kind}@{self.value:.0f}dB"
        if self.name == "gain":
            return f"gain={self.value:+.0f}dB"
        return self.name


ORDER = ("speed", "reverb", "noise", "telephone", "gain")  # room, then channel, then level


def sample_chain(rng: random.Random, noisy: bool) -> list[Effect]:
    """Draw a chain. `noisy` chains always carry additive noise; others pick effects freely
    (and always at least one)."""
    chosen: list[Effect] = []
    if rng.random() < 0.35:
        chosen.append(Effect("speed", round(rng.uniform(*SPEED), 2)))
    if rng.random() < 0.3:
        chosen.append(Effect("reverb", round(rng.uniform(*RT60_S), 2)))
    if noisy or rng.random() < 0.6:
        chosen.append(Effect("noise", round(rng.uniform(*SNR_DB)), rng.choice(NOISE_KINDS)))
    if rng.random() < 0.15:
        chosen.append(Effect("telephone"))
    if rng.random() < 0.5:
        chosen.append(Effect("gain", round(rng.uniform(*GAIN_DB))))
    if not chosen:
        chosen.append(Effect("noise", round(rng.uniform(*SNR_DB)), rng.choice(NOISE_KINDS)))
    return sorted(chosen, key=lambda e: ORDER.index(e.name))


def describe(chain: list[Effect]) -> str:
    """Manifest text of a chain: "clean" or e.g. "speed=0.95,noise=pink@12dB"."""
    return ",".join(e.describe() for e in chain) if chain else "clean"


def apply_chain(
    x: np.ndarray, chain: list[Effect], sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    """Apply `chain` to a float32 mono waveform; the result is peak-limited float32."""
    for effect in chain:
        if effect.name == "speed":
            x = speed_perturb(x, effect.value, sample_rate)
        elif effect.name == "reverb":
            x = reverberate(x, effect.value, sample_rate, rng)
        elif effect.name == "noise":
            x = add_noise(x, effect.value, effect.kind, rng)
        elif effect.name == "telephone":
            x = telephone(x, sample_rate)
        elif effect.name == "gain":
            x = x * np.float32(10 ** (effect.value / 20))
        else:
            raise ValueError(f"unknown effect {effect.name!r}")
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > PEAK_LIMIT:
        x = x * np.float32(PEAK_LIMIT / peak)
    return x.astype(np.float32)


def speed_perturb(x: np.ndarray, factor: float, sample_rate: int) -> np.ndarray:
    """Play `factor` times faster (Kaldi-style): resample as if recorded at sample_rate * factor."""
    return soxr.resample(x, sample_rate * factor, sample_rate).astype(np.float32)


def _shaped_noise(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise with a 1/f^exponent power spectrum (0 white, 1 pink, 2 brown)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.arange(spectrum.size, dtype=np.float64)
    freqs[0] = 1.0
    return np.fft.irfft(spectrum / freqs ** (exponent / 2), n)


def _babble(speech: np.ndarray, rng: np.random.Generator, talkers: int = 5) -> np.ndarray:
    """Speech-shaped, unintelligible babble: time-reversed, shifted copies of the utterance."""
    out = np.zeros_like(speech, dtype=np.float64)
    reversed_ = speech[::-1].astype(np.float64)
    for _ in range(talkers):
        out += rng.uniform(0.5, 1.0) * np.roll(reversed_, int(rng.integers(0, max(1, speech.size))))
    return out


def add_noise(x: np.ndarray, snr_db: float, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Mix noise of `kind` at `snr_db` relative to the signal's power."""
    if kind == "babble":
        noise = _babble(x, rng)
    else:
        noise = _shaped_noise(x.size, {"white": 0.0, "pink": 1.0, "brown": 2.0}[kind], rng)
    signal_power = float(np.mean(x.astype(np.float64) ** 2))
    noise_power = float(np.mean(noise**2))
    if signal_power == 0.0 or noise_power == 0.0:
        return x
    scale = np.sqrt(signal_power / (noise_power * 10 ** (snr_db / 10)))
    return (x + scale * noise).astype(np.float32)


def reverberate(
    x: np.ndarray, rt60: float, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    """Convolve with a synthetic room: direct path + exponentially decaying noise tail
    (-60 dB at `rt60`); output keeps the input's RMS and length."""
    n = int(rt60 * sample_rate)
    t = np.arange(n) / sample_rate
    ir = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)  # ln(1000) = 6.9078: -60 dB
    ir[: int(0.002 * sample_rate)] = 0.0  # the first reflections arrive after ~2 ms
    ir *= 0.3 / np.sqrt(np.sum(ir**2))  # direct-to-reverberant ratio about +10 dB
    ir[0] = 1.0
    size = x.size + n - 1
    nfft = 1 << (size - 1).bit_length()
    y = np.fft.irfft(np.fft.rfft(x, nfft) * np.fft.rfft(ir, nfft), nfft)[: x.size]
    rms_in, rms_out = np.sqrt(np.mean(x**2)), np.sqrt(np.mean(y**2))
    return (y * (rms_in / rms_out if rms_out > 0 else 1.0)).astype(np.float32)


def telephone(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """Narrowband channel: 300-3400 Hz band-pass, 8 kHz down/up, 8-bit mu-law companding."""
    low, high = TELEPHONE_BAND_HZ
    spectrum = np.fft.rfft(x.astype(np.float64))
    freqs = np.fft.rfftfreq(x.size, 1.0 / sample_rate)
    gain = np.clip((freqs - low * 0.7) / (low * 0.3), 0, 1) * np.clip(
        (high * 1.1 - freqs) / (high * 0.1), 0, 1
    )
    y = np.fft.irfft(spectrum * gain, x.size)
    narrow = soxr.resample(y, sample_rate, TELEPHONE_RATE)
    peak = max(float(np.max(np.abs(narrow))), 1e-9)
    mu = 255.0
    companded = np.sign(narrow / peak) * np.log1p(mu * np.abs(narrow / peak)) / np.log1p(mu)
    quantised = np.round(companded * 127) / 127
    narrow = peak * np.sign(quantised) * np.expm1(np.abs(quantised) * np.log1p(mu)) / mu
    wide = soxr.resample(narrow, TELEPHONE_RATE, sample_rate)
    out = np.zeros(x.size, dtype=np.float32)
    out[: min(x.size, wide.size)] = wide[: x.size]
    return out
