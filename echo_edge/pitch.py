"""YIN pitch tracking as fixed tensor algebra: f0, voicing and periodicity per 10 ms frame.

The YIN difference function of frame t (centre c = t * HOP) over an integration window
of W samples starting at s = c - span // 2 (span = W + tau_max) is

    d_t(tau) = sum_{j < W} (x[s + j] - x[s + j + tau])^2
             = r_t(0) + r_t(tau) - 2 a_t(tau),   r_t(tau) = sum_j x[s + j + tau]^2,
                                                 a_t(tau) = sum_j x[s + j] x[s + j + tau].

Both sums split into W / HOP consecutive blocks of HOP samples that neighbouring frames
share, so they are computed once per block and summed over a frame's blocks. A block's
cross-correlation a(tau), tau = 0 .. tau_max, is the real DFT product conj(A) B of its HOP
samples (A) and its HOP + tau_max samples (B) with no wrap-around, evaluated as strided
convolutions with fixed cos/sin kernels and one matmul back to lags. Memory is
O(T * (HOP + tau_max)); nothing of size (T, tau_max, W) is ever built, and no complex dtype
or FFT op appears, so the graph exports to ONNX and ExecuTorch. The span a frame reads,
W + tau_max samples, is centred on c (frontend_context in constants.py).

Then: cumulative-mean-normalised difference d'(tau) = d(tau) tau / sum_{k <= tau} d(k); the
first lag in [SR / f0_max, SR / f0_min] where d' dips below the threshold, followed down to
that dip's local minimum; parabolic interpolation of d' around it; f0 = SR / lag. A frame
is voiced when such a dip exists and its energy is above the silence threshold.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from echo_edge import constants as C
from echo_edge.melfilters import inverse_real_dft_weights, real_dft_basis


def register_constant(
    module: nn.Module, name: str, array: np.ndarray, dtype: torch.dtype = torch.float32
) -> None:
    """A fixed non-persistent buffer, rounded once from float64, with canonical strides
    (ExecuTorch rejects the stride-0 dims that numpy broadcasting leaves behind)."""
    tensor = torch.empty(array.shape, dtype=dtype).copy_(torch.from_numpy(array))
    module.register_buffer(name, tensor, persistent=False)


def hop_conv(signal: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Dot products of `kernels` (C, 1, 1, k) with windows of `signal` (B, L) every HOP samples.

    Returns (B, C, (L - k) // HOP + 1). A conv2d over a (1, L) image rather than a conv1d:
    ExecuTorch's XNNPACK lowering caps a conv1d's dynamic length at 20480 samples.
    """
    return F.conv2d(signal[:, None, None, :], kernels, stride=(1, C.HOP)).squeeze(2)


class YinPitch(nn.Module):
    """Frame-synchronous YIN: waveform (B, N) -> pitch (B, 3, T), T = 1 + N // HOP.

    Channels: [0] log(f0 / F_REF) / LOG_F0_SCALE (0 where unvoiced), [1] voiced flag 0/1,
    [2] periodicity clip(1 - min d', 0, 1). Buffers only; the signal is zero outside [0, N).
    """

    def __init__(
        self,
        f0_min: float = C.F0_MIN,
        f0_max: float = C.F0_MAX,
        threshold: float = C.YIN_THRESHOLD,
        window: int = C.YIN_WINDOW,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        if not 0 < f0_min < f0_max <= C.SAMPLE_RATE / 4:
            raise ValueError(
                f"need 0 < f0_min < f0_max <= {C.SAMPLE_RATE / 4}, got {f0_min}, {f0_max}"
            )
        if window % C.HOP or window <= 0:
            raise ValueError(f"YIN window must be a positive multiple of HOP={C.HOP}, got {window}")
        self.threshold = float(threshold)
        self.max_lag = C.yin_max_lag(f0_min)  # lags 0 .. max_lag are computed
        self.min_search_lag = int(C.SAMPLE_RATE // f0_max)  # search lags [min, max_lag - 1]
        self.blocks_per_frame = window // C.HOP
        span = window + self.max_lag  # samples one frame reads
        self.pad_left = span // 2
        self.pad_right = span - span // 2  # makes exactly T + blocks_per_frame - 1 blocks

        block = C.HOP + self.max_lag  # DFT length: a lag of max_lag never wraps around
        cos, sin = real_dft_basis(block)  # (Fb, block)
        lags = np.arange(self.max_lag + 1)
        weights = inverse_real_dft_weights(block)[:, None]  # (Fb, 1)
        band = (lags[:, None] <= np.arange(block)[None, :]) & (
            np.arange(block)[None, :] < lags[:, None] + C.HOP
        )  # (max_lag + 1, block): row tau sums block samples tau .. tau + HOP - 1

        head = np.arange(block) < C.HOP  # A: the block's first HOP samples only
        basis = np.concatenate([cos, sin, cos * head, sin * head])  # (4Fb, block): B then A
        to_lags = np.concatenate([weights * cos, -weights * sin]).T[lags]  # (lags, 2Fb)
        search_lags = np.arange(self.min_search_lag, self.max_lag, dtype=np.float64)  # (R,)
        register_constant(self, "block_basis", basis[:, None, None, :], dtype)
        register_constant(self, "to_lags", to_lags, dtype)
        register_constant(self, "band", band.astype(np.float64)[:, None, None, :], dtype)
        register_constant(self, "search_lags", search_lags[:, None], dtype)  # (R, 1)

    def difference(self, waveform: torch.Tensor) -> torch.Tensor:
        """YIN difference function d_t(tau) for tau = 0 .. max_lag: (B, max_lag + 1, T)."""
        x = F.pad(waveform, (self.pad_left, self.pad_right))  # (B, N + span)
        energy = hop_conv(x * x, self.band)  # (B, lags, K) K blocks
        spectra = hop_conv(x, self.block_basis)  # (B, 4Fb, K)
        cos_b, sin_b, cos_a, sin_a = spectra.chunk(4, dim=1)  # (B, Fb, K) each
        blocks = spectra.shape[-1]  # K = T + blocks_per_frame - 1
        cross = torch.cat([cos_a * cos_b + sin_a * sin_b, sin_a * cos_b - cos_a * sin_b], dim=1)
        corr = torch.matmul(self.to_lags, cross)  # (B, lags, K)
        frames = blocks - self.blocks_per_frame + 1  # T
        r = energy[..., :frames]
        a = corr[..., :frames]
        for b in range(1, self.blocks_per_frame):
            r = r + energy[..., b : b + frames]
            a = a + corr[..., b : b + frames]
        return (r[:, :1] + r - 2.0 * a).clamp_min(0.0)  # (B, lags, T)

    def forward(self, waveform: torch.Tensor, audible: torch.Tensor) -> torch.Tensor:
        """waveform (B, N), audible (B, T) 0/1 (frames above the silence floor) -> (B, 3, T)."""
        d = self.difference(waveform)[:, 1:]  # (B, max_lag, T): lags 1 .. max_lag
        total = torch.cumsum(d, dim=1)  # (B, max_lag, T)
        lags = torch.arange(1, self.max_lag + 1, dtype=d.dtype, device=d.device).unsqueeze(-1)
        cmnd = torch.where(total > 0, d * lags / total.clamp_min(1e-30), torch.ones_like(d))

        lo = self.min_search_lag - 1  # row of lag min_search_lag in cmnd
        hi = self.max_lag - 1  # one past the row of the last searched lag
        search = cmnd[:, lo:hi]  # (B, R, T)
        dips = (search < self.threshold) & (search <= cmnd[:, lo + 1 : hi + 1])
        never = float(self.max_lag + 1)
        first_dip = torch.where(dips, self.search_lags, never).amin(dim=1)  # (B, T)
        found = first_dip < never
        lag = torch.where(found, first_dip, float(self.min_search_lag)).long()  # (B, T)

        row = (lag - 1).unsqueeze(1)  # (B, 1, T) row of `lag` in cmnd
        prev, here, nxt = (torch.gather(cmnd, 1, row + k).squeeze(1) for k in (-1, 0, 1))
        curve = prev - 2.0 * here + nxt
        shift = torch.where(curve > 0, 0.5 * (prev - nxt) / curve.clamp_min(1e-12), 0.0)
        f0 = C.SAMPLE_RATE / (lag.to(d.dtype) + shift.clamp(-0.5, 0.5))  # (B, T)

        voiced = (found & (audible > 0.5)).to(d.dtype)  # (B, T)
        log_f0 = torch.log(f0 / C.F_REF) * (voiced / C.LOG_F0_SCALE)
        periodicity = (1.0 - search.amin(dim=1)).clamp(0.0, 1.0)
        return torch.stack([log_f0, voiced, periodicity], dim=1)  # (B, 3, T)


def f0_hz(pitch: torch.Tensor) -> torch.Tensor:
    """f0 in Hz from a pitch stream (B, 3, T): (B, T), 0 where unvoiced."""
    voiced = pitch[:, 1]
    return torch.exp(pitch[:, 0] * C.LOG_F0_SCALE) * C.F_REF * voiced


def log_f0_ratio(pitch: torch.Tensor) -> torch.Tensor:
    """z_t = voiced_t * log(f0_t / F_REF) from a pitch stream (B, 3, T): (B, T)."""
    return pitch[:, 0] * C.LOG_F0_SCALE
