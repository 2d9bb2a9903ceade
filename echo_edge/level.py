"""Level normalisation: the encoder's input brought to the speech level the model was trained at.

The frontend's log-mel is a fixed affine map of log10 mel power, so a gain g moves every
log-mel value by log10(g) / 2 (until the floor clamps), scales the waveform stream by g and
moves frame energy, and with it the silence flag, by 20 log10(g) dB. `LevelEncoder` undoes
that inside the encoder, before the stems, from a statistic of the utterance's own frames:

- frame energy e_t (dBFS) is recomputed from the waveform stream as the frontend defines
  it (mean square over the N_FFT samples centred on t * HOP, zero outside);
- the speech level L is the power mean of the frames within SPEECH_WINDOW_DB of the power
  mean itself (iterated SPEECH_ITERATIONS times from the mean over all real frames), the
  "RMS over speech": frames in pauses (and most of a noise floor) fall out of it;
- gain G = REFERENCE_DBFS - L dB, clamped to [-MAX_CUT_DB, MAX_BOOST_DB] (silence-only input
  is not boosted into noise); log-mel moves by G / (10 LOG_MEL_SCALE) and is clamped at the
  floor again, the waveform stream is scaled by 10^(G/20), and silence is recomputed as
  e_t + G < silence_dbfs (frames at digital silence stay silent).

The log-mel floor: the frontend clamps log10 mel power at LOG_MEL_FLOOR (-8), and at
-50 dBFS RMS a quarter to a half of the bins of speech frames sit on it (5-21 % at -35 dBFS;
six verify utterances, bench/results/levels):
their value is lost, only "at most -8" is left. A boost would lift them to the floor plus
the shift (inventing energy) and leaving them on the floor drops real energy; both move the
input by up to the whole shift. So the bins on the floor are measured again: `LogMel`
recomputes log10 mel power from the waveform stream (the frontend's own DFT and filterbank,
clamped at LOG10_MIN, far below the floor) and fills them in, then every bin moves by the
gain and is clamped at the frontend's floor: the result is the frontend's log-mel of the
utterance as if it had been recorded at REFERENCE_DBFS, bins above the floor keeping the
frontend's values. Only the first and last frames of a Stream's segment can differ from
the frontend in floored bins (the segment's wave has no context outside it).

Every step is a function of the utterance's whole feature sequence, which the encoder
receives in one call (one-pass transcription, each final and each partial of a Stream):
the frontend's chunked = offline contract is untouched, nothing here runs per chunk. A
partial's level is that of the audio so far, so a partial may still change as it grows;
finals are decoded from the whole utterance.
No weights. All of it (`LevelNorm`, at module path LEVEL_MODULE, whose DFT and filterbank
are a Conv and a MatMul) must stay fp32: export/quantize.py keeps it out of int8 and fp16,
as it does the waveform stem.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from echo_edge import constants as C
from echo_edge.config import EchoConfig
from echo_edge.encoder import Encoder
from echo_edge.melfilters import hann_window, real_dft_basis, slaney_mel_filterbank
from echo_edge.pitch import hop_conv, register_constant

LEVEL_MODULE = "encoder.level"  # module path of LevelNorm in Echo (kept fp32 by exporters)

# Speech level (dBFS RMS over speech frames, `speech_level_db`) the gain brings every
# utterance to: the median of the shipped model's training corpus (synth10, synth-s1,
# synth-s2 train manifests, 600 random rows each: -19.6 / -19.9 / -19.9 dBFS, p10-p90
# -27 .. -15; bench/results/levels/README.md).
REFERENCE_DBFS = -20.0
SPEECH_WINDOW_DB = 20.0  # frames within this of the running power mean count as speech
SPEECH_ITERATIONS = 3  # refinements of the speech level (it moves < 0.1 dB after the third)
MAX_BOOST_DB = 40.0  # speech down to -60 dBFS RMS is brought up to the reference
MAX_CUT_DB = 30.0
DIGITAL_SILENCE_DB = 10.0 * math.log10(C.ENERGY_EPS) + 1.0  # -99 dBFS: no signal at all
LOG_MEL_FLOOR_NORM = (C.LOG_MEL_FLOOR + C.LOG_MEL_SHIFT) / C.LOG_MEL_SCALE  # -1: the floor
LOG10_MIN = -16.0  # LogMel's own floor: below LOG_MEL_FLOOR - MAX_BOOST_DB / 10 (-12)


class LogMel(nn.Module):
    """Waveform stream (B, T*HOP) -> log10 mel power (B, N_MELS, T), clamped at LOG10_MIN.

    The frontend's spectrum (Hann window, DFT by a strided convolution, Slaney filterbank,
    zero outside the stream) before its floor and affine map; non-persistent buffers."""

    def __init__(self) -> None:
        super().__init__()
        cos, sin = real_dft_basis(C.N_FFT)  # (F, N_FFT) each
        kernels = np.concatenate([cos, sin]) * hann_window(C.N_FFT)[None, :]  # (2F, N_FFT)
        register_constant(self, "stft_kernels", kernels[:, None, None, :])
        register_constant(
            self, "mel_filters", slaney_mel_filterbank(C.SAMPLE_RATE, C.N_FFT, C.N_MELS)
        )

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        half = C.N_FFT // 2
        frames = wave.shape[-1] // C.HOP
        spectrum = hop_conv(F.pad(wave, (half, half)), self.stft_kernels)[..., :frames]
        real, imag = spectrum.chunk(2, dim=1)  # (B, F, T) each
        mel = torch.matmul(self.mel_filters, real * real + imag * imag)  # (B, N_MELS, T)
        return torch.log(mel.clamp_min(10.0**LOG10_MIN)) * (1.0 / math.log(10.0))


def frame_energy_db(wave: torch.Tensor) -> torch.Tensor:
    """Waveform stream (B, T*HOP) -> the frontend's frame energy (B, T) in dBFS.

    Mean square over N_FFT samples centred on t * HOP, zero outside the stream (the
    frontend's definition; an average pool, so no weight for a quantiser to touch)."""
    half = C.N_FFT // 2
    x = F.pad(wave * wave, (half, half))  # (B, T*HOP + N_FFT)
    power = F.avg_pool2d(x[:, None, None, :], (1, C.N_FFT), stride=(1, C.HOP))  # (B, 1, 1, T+1)
    frames = wave.shape[-1] // C.HOP
    power = power[:, 0, 0, :frames]  # (B, T)
    return torch.log(power + C.ENERGY_EPS) * (10.0 / math.log(10.0))


def speech_level_db(energy: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
    """Frame energy (B, T) dBFS over real frames (frame_mask 1) -> speech level (B,) dBFS RMS.

    Power mean over the frames within SPEECH_WINDOW_DB of the level, refined from the mean
    over all real frames. Moves exactly with gain while the frames stay above -90 dBFS."""
    power = torch.exp(energy * (math.log(10.0) / 10.0))  # (B, T)
    weight = frame_mask.to(power.dtype)  # (B, T)
    level = power_mean_db(power, weight)  # (B,)
    for _ in range(SPEECH_ITERATIONS):
        speech = weight * (energy > (level - SPEECH_WINDOW_DB)[:, None]).to(power.dtype)
        level = power_mean_db(power, speech)
    return level


def power_mean_db(power: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """10 log10 of the weighted mean of power (B, T) -> (B,); -100 dBFS where no weight."""
    mean = (power * weight).sum(-1) / weight.sum(-1).clamp_min(1.0)
    return torch.log(mean + C.ENERGY_EPS) * (10.0 / math.log(10.0))


class LevelNorm(nn.Module):
    """Encoder inputs at the utterance's level -> (mel, silence, wave) at REFERENCE_DBFS.

    One module (LEVEL_MODULE in Echo) so that exporters keep all of it in fp32: power
    spectra and frame powers span far more than fp16 or int8 can hold."""

    def __init__(self, silence_dbfs: float) -> None:
        super().__init__()
        self.silence_dbfs = float(silence_dbfs)
        self.log_mel = LogMel()  # measures the bins the frontend left on its floor

    def forward(
        self, mel: torch.Tensor, silence: torch.Tensor, wave: torch.Tensor, frame_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """mel (B, 80, T), silence (B, T), wave (B, T*HOP), frame_mask (B, T), each as the
        frontend made them -> the same three at the reference level."""
        energy = frame_energy_db(wave)  # (B, T)
        level = speech_level_db(energy, frame_mask)  # (B,)
        gain_db = (REFERENCE_DBFS - level).clamp(-MAX_CUT_DB, MAX_BOOST_DB)  # (B,)
        on_floor = mel <= LOG_MEL_FLOOR_NORM + 1e-6  # (B, 80, T): the frontend lost their value
        log10 = torch.where(on_floor, self.log_mel(wave), mel * C.LOG_MEL_SCALE - C.LOG_MEL_SHIFT)
        log10 = (log10 + (gain_db / 10.0)[:, None, None]).clamp_min(C.LOG_MEL_FLOOR)
        mel = (log10 + C.LOG_MEL_SHIFT) / C.LOG_MEL_SCALE  # (B, 80, T), the frontend's map
        quiet = (energy + gain_db[:, None] < self.silence_dbfs) | (energy < DIGITAL_SILENCE_DB)
        wave = wave * torch.exp(gain_db * (math.log(10.0) / 20.0))[:, None]  # (B, T*HOP)
        return mel, quiet.to(silence.dtype), wave


class LevelEncoder(Encoder):
    """The Encoder with LevelNorm applied to its inputs (same parameters and names, so a
    checkpoint loads into either; EchoConfig.level_norm picks it)."""

    def __init__(self, config: EchoConfig) -> None:
        super().__init__(config)
        self.level = LevelNorm(config.silence_dbfs)  # LEVEL_MODULE

    def forward(
        self,
        mel: torch.Tensor,
        pitch: torch.Tensor,
        silence: torch.Tensor,
        wave: torch.Tensor,
        frame_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder.forward on level-normalised mel, silence and wave (pitch is level-free
        but for its silence gate, which stays the frontend's)."""
        mel, silence, wave = self.level(mel, silence, wave, frame_mask)
        return super().forward(mel, pitch, silence, wave, frame_mask)


def encoder_class(config: EchoConfig) -> type[Encoder]:
    """The encoder a config asks for: LevelEncoder when level_norm is on, else Encoder."""
    return LevelEncoder if config.level_norm else Encoder
