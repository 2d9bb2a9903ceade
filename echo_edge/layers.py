"""Building blocks: RMSNorm, the GELU MLP, and the feature-stream stems with their blend."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from echo_edge import constants as C
from echo_edge.config import EchoConfig


class RMSNorm(nn.Module):
    """Root-mean-square norm written out (exports everywhere, unlike opset-23 RMSNormalization)."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class MLP(nn.Module):
    def __init__(self, config: EchoConfig) -> None:
        super().__init__()
        hidden = config.d_model * config.mlp_ratio
        self.fc1 = nn.Linear(config.d_model, hidden)
        self.fc2 = nn.Linear(hidden, config.d_model)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.fc2(F.gelu(self.fc1(x))))


class ChannelNorm(nn.Module):
    """RMSNorm over channels of a (B, C, T) map: per frame, so no utterance statistic."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = RMSNorm(channels, eps=1e-5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


class FrameStem(nn.Module):
    """100 Hz frames (B, C, T) -> 50 Hz (B, d, ceil(T/2)): whisper's two-conv stem.

    Padding frames are zeroed between the convs, so a padded batch item sees exactly the
    zeros it would see alone (the convs' own zero padding)."""

    def __init__(self, in_channels: int, d: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(in_channels, d, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(d, d, kernel_size=3, stride=C.ENCODER_STRIDE, padding=1)

    def forward(self, x: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        m = frame_mask[:, None]  # (B, 1, T)
        x = F.gelu(self.conv1(x * m)) * m  # (B, d, T)
        return F.gelu(self.conv2(x))  # (B, d, S)


class WaveformStem(nn.Module):
    """Raw samples (B, T*HOP) -> (B, d, ceil(T/2)): a learned filterbank on the mel frame grid.

    The first conv has the STFT's window (N_FFT) and hop, padded so that its frame t is centred
    on sample t*HOP like the mel frames; the second halves the rate. Total stride 320 samples.
    """

    def __init__(self, d: int) -> None:
        super().__init__()
        self.filters = nn.Conv1d(1, d, kernel_size=C.N_FFT, stride=C.HOP)
        self.norm = ChannelNorm(d)
        self.down = nn.Conv1d(d, d, kernel_size=3, stride=C.ENCODER_STRIDE, padding=1)

    def forward(self, wave: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        # T*HOP samples + (N_FFT/2 left, N_FFT/2 - HOP right) -> exactly T frames.
        x = F.pad(wave[:, None], (C.N_FFT // 2, C.N_FFT // 2 - C.HOP))  # (B, 1, T*HOP + 240)
        x = F.gelu(self.norm(self.filters(x))) * frame_mask[:, None]  # (B, d, T)
        return F.gelu(self.down(x))  # (B, d, ceil(T/2))


class StreamBlend(nn.Module):
    """Stems for each active stream, fused as Σ_f softmax(w)_f · stem_f (seed idea 1)."""

    def __init__(self, config: EchoConfig) -> None:
        super().__init__()
        d = config.d_model
        self.names = list(config.features)
        stems = {
            "spectrogram": lambda: FrameStem(C.N_MELS, d),
            "pitch": lambda: FrameStem(3, d),
            "waveform": lambda: WaveformStem(d),
        }
        self.stems = nn.ModuleDict({n: stems[n]() for n in self.names})
        self.logits = nn.Parameter(torch.zeros(len(self.names)))

    def weights(self) -> torch.Tensor:
        return self.logits.softmax(dim=0)  # (F,)

    def forward(
        self, mel: torch.Tensor, pitch: torch.Tensor, wave: torch.Tensor, frame_mask: torch.Tensor
    ) -> torch.Tensor:
        """mel (B, 80, T), pitch (B, 3, T), wave (B, T*HOP), frame_mask (B, T) -> (B, S, d)."""
        inputs = {"spectrogram": mel, "pitch": pitch, "waveform": wave}
        w = self.weights()
        x = sum(w[i] * self.stems[n](inputs[n], frame_mask) for i, n in enumerate(self.names))
        return x.transpose(1, 2)

    def report(self) -> dict[str, float]:
        return {n: float(v) for n, v in zip(self.names, self.weights().detach())}
