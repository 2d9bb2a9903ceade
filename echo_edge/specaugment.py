"""Feature-space augmentation of log-mel in training: SpecAugment and VTLP.

Both act on the frontend's log-mel (B, N_MELS, T) after the frontend (or the feature cache,
echo_edge/feature_cache.py), so they cost next to nothing and work with cached features.
Echo applies a `FeatureAugment` only in training mode (`Echo.forward(..., augment=)`): eval,
export and verify never see it. Draws come from torch's RNG (which Trainer seeds and saves
in checkpoints) or from a given generator, so a seed reproduces them.

- SpecAugment (Park et al. 2019): FREQ_MASKS bands of up to FREQ_WIDTH mel bands and
  TIME_MASKS spans of up to TIME_WIDTH frames (and at most TIME_FRACTION of the utterance)
  replaced by the utterance's mean log-mel over its real frames. Defaults for 80 bands and
  10 ms frames, milder than the LibriSpeech policy (F=27, T=100) because our utterances are
  2-5 s long.
- VTLP (Jaitly & Hinton 2013): the frequency axis warped by a factor a drawn per utterance,
  piecewise linear so that 0 Hz and Nyquist stay put: f -> a f below F_HI min(a, 1) / a,
  linear above. Band j of the output reads the input at the warped-back frequency of its
  centre, interpolated linearly between neighbouring bands. a = 1 is the identity.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from echo_edge import constants as C
from echo_edge.melfilters import hz_to_mel, mel_to_hz

FREQ_MASKS = 2  # frequency masks per utterance
FREQ_WIDTH = 15  # widest frequency mask, mel bands (of 80)
TIME_MASKS = 2  # time masks per utterance
TIME_WIDTH = 40  # widest time mask, frames (0.4 s)
TIME_FRACTION = 0.2  # no time mask wider than this share of the utterance's real frames
VTLP_F_HI = 4800.0  # Hz: the warp's knee (Jaitly & Hinton), below Nyquist (8 kHz)


@dataclass(frozen=True)
class SpecAugmentOptions:
    freq_masks: int = FREQ_MASKS  # frequency masks per utterance
    freq_width: int = FREQ_WIDTH  # widest frequency mask in mel bands
    time_masks: int = TIME_MASKS  # time masks per utterance
    time_width: int = TIME_WIDTH  # widest time mask in frames
    time_fraction: float = TIME_FRACTION  # widest time mask as a share of the real frames


def spec_augment(
    mel: torch.Tensor,
    frame_mask: torch.Tensor,
    options: SpecAugmentOptions = SpecAugmentOptions(),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """mel (B, M, T) with masks -> a new (B, M, T); frame_mask (B, T) 1.0 on real frames.

    Masked cells get the utterance's mean log-mel over its real frames; padding frames are
    left as they are and time masks fall inside the real frames."""
    batch, bands, frames = mel.shape
    real = frame_mask.sum(-1)  # (B,)
    weights = frame_mask[:, None, :].to(mel.dtype)  # (B, 1, T)
    mean = (mel * weights).sum((1, 2)) / (real * bands).clamp_min(1)  # (B,)
    keep = torch.ones_like(mel, dtype=torch.bool)  # (B, M, T)
    band_idx = torch.arange(bands, device=mel.device)
    frame_idx = torch.arange(frames, device=mel.device)
    for _ in range(options.freq_masks):
        width = _uniform_int(options.freq_width + 1, batch, generator)  # (B,) in [0, F]
        start = _uniform_int(1, batch, generator, (bands - width).clamp_min(0) + 1)
        inside = (band_idx[None] >= start[:, None]) & (band_idx[None] < (start + width)[:, None])
        keep &= ~inside[:, :, None]
    limit = torch.minimum(
        torch.full_like(real, options.time_width), (real * options.time_fraction).floor()
    ).long()  # (B,) widest time mask per utterance
    for _ in range(options.time_masks):
        width = _uniform_int(1, batch, generator, limit + 1)  # (B,) in [0, limit]
        start = _uniform_int(1, batch, generator, (real.long() - width).clamp_min(0) + 1)
        inside = (frame_idx[None] >= start[:, None]) & (frame_idx[None] < (start + width)[:, None])
        keep &= ~inside[:, None, :]
    keep |= frame_mask[:, None, :] < 0.5  # padding frames stay as the frontend made them
    return torch.where(keep, mel, mean[:, None, None].to(mel.dtype))


def _uniform_int(
    high: int,
    batch: int,
    generator: torch.Generator | None,
    highs: torch.Tensor | None = None,
) -> torch.Tensor:
    """(B,) integers uniform in [0, high) (or [0, highs[b]) per row)."""
    u = torch.rand(batch, generator=generator)
    bound = highs.cpu().double() if highs is not None else torch.full((batch,), float(high))
    return (u.double() * bound).floor().long().clamp_max((bound - 1).clamp_min(0).long())


def band_centres_hz(bands: int = C.N_MELS) -> np.ndarray:
    """Centre frequency (Hz) of each band of the frontend's Slaney filterbank, (M,)."""
    edges = np.linspace(hz_to_mel(0.0), hz_to_mel(C.SAMPLE_RATE / 2), bands + 2)
    return mel_to_hz(edges[1:-1])


def vtlp(mel: torch.Tensor, factors: torch.Tensor, f_hi: float = VTLP_F_HI) -> torch.Tensor:
    """mel (B, M, T) warped along the band axis by factors (B,) -> (B, M, T).

    Output band j takes the input at frequency w^-1(f_j), w the piecewise-linear warp by
    the row's factor; rows whose factor is exactly 1 are returned unchanged."""
    batch, bands, _ = mel.shape
    nyquist = C.SAMPLE_RATE / 2
    centres = band_centres_hz(bands)  # (M,)
    lo_mel, hi_mel = hz_to_mel(0.0), hz_to_mel(nyquist)
    step = (hi_mel - lo_mel) / (bands + 1)
    sources = []
    for a in factors.double().cpu().tolist():
        knee = f_hi * min(a, 1.0) / a  # input frequency where the linear part ends
        # w(f) = a f for f <= knee, else the line from (knee, a knee) to (nyquist, nyquist).
        slope = (nyquist - a * knee) / (nyquist - knee)
        inverse = np.where(
            centres <= a * knee, centres / a, knee + (centres - a * knee) / slope
        )  # (M,) Hz
        sources.append((hz_to_mel(np.clip(inverse, 0.0, nyquist)) - lo_mel) / step - 1.0)
    index = torch.tensor(np.stack(sources), dtype=mel.dtype, device=mel.device)  # (B, M)
    index = index.clamp(0, bands - 1)
    below = index.floor().long().clamp_max(bands - 2)  # (B, M)
    frac = (index - below.to(mel.dtype))[:, :, None]  # (B, M, 1)
    lower = mel.gather(1, below[:, :, None].expand(-1, -1, mel.shape[2]))
    upper = mel.gather(1, (below + 1)[:, :, None].expand(-1, -1, mel.shape[2]))
    warped = lower + frac * (upper - lower)  # (B, M, T)
    same = (factors == 1.0).to(mel.device)[:, None, None]
    return torch.where(same, mel, warped)


@dataclass(frozen=True)
class FeatureAugment:
    """What `Echo.forward` applies to the features in training: SpecAugment and/or VTLP."""

    spec_augment: SpecAugmentOptions | None = None  # None: no masks
    vtlp_range: tuple[float, float] | None = None  # (low, high) warp factors; None: off

    def __call__(self, features, generator: torch.Generator | None = None):  # noqa: ANN001, ANN204
        """Features (echo_edge.model.Features) -> the same with an augmented mel."""
        mel = features.mel
        if self.vtlp_range is not None:
            low, high = self.vtlp_range
            u = torch.rand(mel.shape[0], generator=generator, dtype=torch.float64)
            mel = vtlp(mel, low + (high - low) * u)
        if self.spec_augment is not None:
            mel = spec_augment(mel, features.frame_mask, self.spec_augment, generator)
        return replace(features, mel=mel)
