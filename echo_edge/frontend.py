"""The audio frontend: waveform (B, N) -> log-mel, pitch, energy and silence frames.

Frame arithmetic (all integers in echo_edge/constants.py, torch-free):

- T = 1 + N // HOP frames; frame t is centred on sample c = t * HOP.
- The signal is taken as ZERO outside [0, N) at both ends (not reflected), so a frame depends
  only on the samples it reads, wherever they came from. Frame t reads samples
  [c - left, c + ahead] with (left, ahead) = `frontend_context(f0_min, yin_window)`:
  (534, 533) for the defaults, set by the pitch tracker (50 ms window + 268 lags); the
  mel/energy window alone reads [c - 200, c + 199].
- Streaming: a buffer holding samples [s0, s0 + M) with s0 % HOP == 0 determines frames
  [first, stop) = `determined_frames(s0, M, final)`: first = 0 if s0 == 0 else
  ceil((s0 + left) / HOP); stop = 1 + (s0 + M) // HOP if the buffer ends the signal, else
  (s0 + M - 1 - ahead) // HOP + 1. Running `Frontend.forward` on the buffer gives
  buffer-local frames j = t - s0 / HOP, exact for those t. To continue at frame t a runtime
  keeps samples from `window_start(t)`. `frames_from_window` does both steps; the exported
  frontend graph is `forward` itself, and the runtime slices with the same integers.
- Precision: with dtype=float64 chunked frames equal offline frames to 1e-9. In float32 the
  arithmetic is the same but BLAS/conv kernels sum in an order that depends on the buffer
  length: pitch, energy and log-mel bands within 50 dB of their frame's loudest band agree
  to 1e-5; a band 60-100 dB down carries the rounding of the loud ones (up to ~2e-4).

Streams:
- mel (B, N_MELS, T): periodic Hann window of N_FFT, power spectrum by a strided
  convolution with fixed cos/sin kernels (a DFT as a matmul: no complex dtype, no stft),
  Slaney mel filterbank, log10(max(mel, 1e-10)), clamped below at LOG_MEL_FLOOR (-8),
  then (x + 4) / 4: a FIXED affine map, so digital silence is -1 and a full-scale tone is
  about 1.5. No per-utterance statistic: chunked features equal offline features.
- pitch (B, 3, T): see echo_edge/pitch.py (log-f0 / LOG_F0_SCALE, voiced, periodicity).
- energy (B, T): 10 log10(mean of x^2 over the N_FFT samples around c + 1e-10) in dBFS,
  rectangular window, mean-square convention (full-scale square wave 0 dBFS, full-scale
  sine -3 dBFS, digital silence -100 dBFS).
- silence (B, T): 1.0 where energy < silence_dbfs, else 0.0. Silent frames are unvoiced.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from echo_edge import constants as C
from echo_edge.melfilters import hann_window, real_dft_basis, slaney_mel_filterbank
from echo_edge.pitch import YinPitch, f0_hz, hop_conv, log_f0_ratio, register_constant

__all__ = [
    "STREAMS",
    "Features",
    "Frontend",
    "f0_hz",
    "frame_aligned_waveform",
    "frames_from_window",
    "log_f0_ratio",
]

DEFAULT_MAX_FRAMES = 3000  # frames per block in Frontend.compute: 30 s, ~80 MB of scratch


STREAMS = ("mel", "pitch", "energy", "silence")  # names of the outputs, in order

# (mel (B, N_MELS, T), pitch (B, 3, T), energy (B, T) dBFS, silence (B, T) 0/1). A plain tuple:
# exported graphs return it as is.
Features = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


class Frontend(nn.Module):
    """Waveform (B, N) float32 in [-1, 1] -> Features with T = 1 + N // HOP frames.

    Buffers only (non-persistent: they are rebuilt from the constructor arguments, which
    EchoConfig stores), rounded once from float64 to `dtype` (float64 gives a reference
    exact to ~1e-12). `forward` is the exportable graph for one buffer of audio; `compute`
    runs long audio in bounded blocks with identical results.
    """

    def __init__(
        self,
        f0_min: float = C.F0_MIN,
        f0_max: float = C.F0_MAX,
        silence_dbfs: float = C.SILENCE_DBFS,
        yin_threshold: float = C.YIN_THRESHOLD,
        yin_window: int = C.YIN_WINDOW,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        self.silence_dbfs = float(silence_dbfs)
        self.left_context, self.lookahead = C.frontend_context(f0_min, yin_window)
        cos, sin = real_dft_basis(C.N_FFT)  # (F, N_FFT) each
        window = hann_window(C.N_FFT)[None, :]
        kernels = np.concatenate([cos * window, sin * window])  # (2F, N_FFT)
        mel = slaney_mel_filterbank(C.SAMPLE_RATE, C.N_FFT, C.N_MELS)  # (N_MELS, F)
        register_constant(self, "stft_kernels", kernels[:, None, None, :], dtype)
        register_constant(self, "mel_filters", mel, dtype)
        register_constant(self, "energy_kernel", np.full((1, 1, 1, C.N_FFT), 1.0 / C.N_FFT), dtype)
        self.pitch = YinPitch(f0_min, f0_max, yin_threshold, yin_window, dtype)

    def forward(self, waveform: torch.Tensor) -> Features:
        """All T = 1 + N // HOP frames of `waveform` (B, N), zero outside [0, N)."""
        half = C.N_FFT // 2
        x = F.pad(waveform, (half, half))  # (B, N + N_FFT)
        spectrum = hop_conv(x, self.stft_kernels)  # (B, 2F, T)
        real, imag = spectrum.chunk(2, dim=1)  # (B, F, T) each
        mel = torch.matmul(self.mel_filters, real * real + imag * imag)  # (B, N_MELS, T)
        log_mel = torch.log(mel.clamp_min(1e-10)) * (1.0 / math.log(10.0))
        log_mel = (log_mel.clamp_min(C.LOG_MEL_FLOOR) + C.LOG_MEL_SHIFT) / C.LOG_MEL_SCALE

        power = hop_conv(x * x, self.energy_kernel).squeeze(1)  # (B, T)
        energy = torch.log(power + C.ENERGY_EPS) * (10.0 / math.log(10.0))  # (B, T) dBFS
        silence = (energy < self.silence_dbfs).to(waveform.dtype)  # (B, T)
        pitch = self.pitch(waveform, 1.0 - silence)  # (B, 3, T)
        return log_mel, pitch, energy, silence

    @torch.no_grad()
    def compute(self, waveform: torch.Tensor, max_frames: int = DEFAULT_MAX_FRAMES) -> Features:
        """`forward` for audio of any length, in blocks of at most `max_frames` frames.

        Each block is computed from its own samples plus left context and look-ahead, so
        peak memory depends on `max_frames`, not on N, and the result equals `forward`
        (within float rounding). Runs in the frontend's dtype with autocast off.
        """
        if max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, got {max_frames}")
        with torch.autocast(waveform.device.type, enabled=False):  # bf16 would wreck YIN
            return self._compute(waveform.to(self.stft_kernels.dtype), max_frames)

    def _compute(self, waveform: torch.Tensor, max_frames: int) -> Features:
        n = waveform.shape[-1]
        total = C.num_frames(n)
        parts: list[Features] = []
        frame = 0
        while frame < total:
            start = C.window_start(frame, self.left_context)
            end = min(n, (frame + max_frames) * C.HOP + self.lookahead)
            parts.append(frames_from_window(self, waveform[..., start:end], start, frame, end == n))
            frame += parts[-1][2].shape[-1]
        return tuple(torch.cat(streams, dim=-1) for streams in zip(*parts))


def frames_from_window(
    frontend: Frontend, samples: torch.Tensor, start: int, first_frame: int, final: bool = False
) -> Features:
    """Frames first_frame, first_frame + 1, ... that a buffer of audio fully determines.

    `samples` (B, M) holds samples [start, start + M) of a signal (start a multiple of HOP,
    at most `window_start(first_frame)`); `final` says the signal ends with this buffer.
    Returns the frames [first_frame, stop) of `determined_frames`, possibly none, each equal
    to the offline frame within float rounding.
    """
    first, stop = C.determined_frames(
        start, samples.shape[-1], final, frontend.left_context, frontend.lookahead
    )
    if first_frame < first:
        need = C.window_start(first_frame, frontend.left_context)
        raise ValueError(f"frame {first_frame} needs the samples from {need} on, got {start} on")
    offset = start // C.HOP
    out = frontend(samples)
    return tuple(s[..., first_frame - offset : max(first_frame, stop) - offset] for s in out)


def frame_aligned_waveform(waveform: torch.Tensor) -> torch.Tensor:
    """The waveform stream: (B, N) zero-padded at the end to T * HOP samples, (B, T * HOP)."""
    n = waveform.shape[-1]
    return F.pad(waveform, (0, C.num_frames(n) * C.HOP - n))
