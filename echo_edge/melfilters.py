"""Fixed matrices of the audio frontend, built once in numpy (float64).

- `hann_window`: the periodic Hann window (what `scipy.signal.get_window("hann", n)` gives).
- `real_dft_basis`: cos/sin rows of a real DFT, so spectra are plain matmuls or strided
  convolutions (no complex dtypes, no FFT op: every exporter takes them).
- `slaney_mel_filterbank`: the Slaney-style mel filterbank with area normalisation, the same
  as `librosa.filters.mel(..., htk=False, norm="slaney")`, derived here from its definition.

Torch-free, so a device runtime could rebuild them too.
"""

from __future__ import annotations

import numpy as np

# Slaney's mel scale: linear below 1 kHz (3 mels per 200 Hz), logarithmic above
# (27 mels per factor 6.4 in frequency).
_F_SP = 200.0 / 3.0  # Hz per mel in the linear region
_MIN_LOG_HZ = 1000.0  # where the log region starts
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP  # 15 mels
_LOG_STEP = np.log(6.4) / 27.0  # natural-log step per mel in the log region


def hann_window(length: int) -> np.ndarray:
    """Periodic Hann window of `length` samples: 0.5 - 0.5 cos(2 pi n / length)."""
    n = np.arange(length, dtype=np.float64)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * n / length)


def real_dft_basis(length: int, num_samples: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Rows cos(2 pi k n / length) and sin(2 pi k n / length) for k = 0 .. length // 2.

    The DFT of a real signal x of `length` samples is X_k = cos_k . x - i sin_k . x.
    `num_samples` (<= length) keeps only the first columns, for signals that are known
    to be zero beyond them. Returns two (length // 2 + 1, num_samples) arrays.
    """
    num_samples = length if num_samples is None else num_samples
    k = np.arange(length // 2 + 1, dtype=np.float64)[:, None]
    n = np.arange(num_samples, dtype=np.float64)[None, :]
    # Reduce k * n modulo length in exact integers before scaling, to keep the angles accurate.
    angle = 2.0 * np.pi * np.mod(k * n, length) / length
    return np.cos(angle), np.sin(angle)


def inverse_real_dft_weights(length: int) -> np.ndarray:
    """Weights w_k / length that fold the conjugate-symmetric half of a real spectrum back in.

    x[n] = sum_k w_k / length * (Re X_k cos(2 pi k n / length) - Im X_k sin(...)),
    w_k = 1 for k = 0 (and k = length / 2 when length is even), 2 otherwise.
    """
    weights = np.full(length // 2 + 1, 2.0)
    weights[0] = 1.0
    if length % 2 == 0:
        weights[-1] = 1.0
    return weights / length


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / _F_SP
    log = _MIN_LOG_MEL + np.log(np.maximum(hz, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOG_STEP
    return np.where(hz >= _MIN_LOG_HZ, log, linear)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """Inverse of `hz_to_mel`."""
    mel = np.asarray(mel, dtype=np.float64)
    linear = mel * _F_SP
    log = _MIN_LOG_HZ * np.exp(_LOG_STEP * (np.maximum(mel, _MIN_LOG_MEL) - _MIN_LOG_MEL))
    return np.where(mel >= _MIN_LOG_MEL, log, linear)


def slaney_mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None
) -> np.ndarray:
    """Triangular mel filters, each scaled to unit area in Hz: (n_mels, n_fft // 2 + 1).

    Band m rises from edge m to edge m + 1 and falls to edge m + 2, the n_mels + 2 edges
    evenly spaced on the Slaney mel scale between fmin and fmax (default Nyquist); each
    triangle is multiplied by 2 / (edge[m + 2] - edge[m]) ("slaney" normalisation).
    """
    fmax = sample_rate / 2.0 if fmax is None else fmax
    bin_hz = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)  # (F,)
    edges_hz = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))  # (M + 2,)
    widths = np.diff(edges_hz)  # (M + 1,)
    offsets = edges_hz[:, None] - bin_hz[None, :]  # (M + 2, F)
    rising = -offsets[:-2] / widths[:-1, None]  # (M, F)
    falling = offsets[2:] / widths[1:, None]  # (M, F)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]
    return weights
