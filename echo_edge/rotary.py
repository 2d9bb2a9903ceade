"""Real-valued rotary positions at continuous, pitch-aware positions (seed idea 4).

Rotation uses cos/sin only (no complex tensors: no exporter takes them). Pairs are the two
halves of a head: (x1, x2) = (x[..., :D/2], x[..., D/2:]) is the complex number x1 + i*x2,
rotated by p * inv_freq and scaled by a per-frame radius r.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from echo_edge import constants as C
from echo_edge.config import EchoConfig


class Rotary(nn.Module):
    """Rotary embedding with optionally learned inverse frequencies."""

    def __init__(self, head_dim: int, base: float = 10000.0, learned: bool = False) -> None:
        super().__init__()
        inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
        if learned:
            # Learned in log space so frequencies stay positive.
            self.log_inv_freq = nn.Parameter(inv_freq.log())
        else:
            self.register_buffer("inv_freq_buf", inv_freq, persistent=False)
        self.learned = learned

    @property
    def inv_freq(self) -> torch.Tensor:
        return self.log_inv_freq.exp() if self.learned else self.inv_freq_buf  # (D/2,)

    def cos_sin(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """positions (B, T) float -> cos, sin (B, 1, T, D/2), broadcast over heads."""
        angles = positions.float()[:, None, :, None] * self.inv_freq  # (B, 1, T, D/2)
        return angles.cos(), angles.sin()


def apply_rotary(
    x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, radius: torch.Tensor | None = None
) -> torch.Tensor:
    """Rotate x (B, H, T, D) by angles given as cos/sin (B, 1, T, D/2); scale by radius (B, T)."""
    x1, x2 = x.chunk(2, dim=-1)  # (B, H, T, D/2) each
    out = torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)  # (B, H, T, D)
    if radius is not None:
        out = out * radius[:, None, :, None]
    return out


def betweenness(h: torch.Tensor, mask: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """How nearly each frame lies on the straight path between its neighbours, in [0, 1].

    h (B, T, K), mask (B, T) of real frames -> (B, T):
    1 - relu((d(t-1,t) + d(t,t+1) - d(t-1,t+1)) / d(t-1,t+1)), clipped. A missing neighbour
    (before the first frame, after the last real one) is the frame itself (betweenness 1).
    """
    prev = torch.cat([h[:, :1], h[:, :-1]], dim=1)  # (B, T, K)
    nxt = torch.cat([h[:, 1:], h[:, -1:]], dim=1)  # (B, T, K)
    has_next = torch.cat([mask[:, 1:], torch.zeros_like(mask[:, :1])], dim=1) > 0.5  # (B, T)
    nxt = torch.where(has_next[..., None], nxt, h)

    def dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return ((a - b).pow(2).sum(-1) + eps).sqrt()  # (B, T)

    detour = (dist(prev, h) + dist(h, nxt) - dist(prev, nxt)) / dist(prev, nxt)
    return (1.0 - F.relu(detour)).clamp(0.0, 1.0)


class PitchPositions(nn.Module):
    """Encoder positions, radii and attention bias from pitch; plain RoPE while γ=ρ=λ=β=0.

    p_t = Σ_{τ≤t} (1 + γ·u_τ) + β·(btw_t − 0.5) with u = voiced·(f0/f_ref − 1);
    r_t = exp(ρ·z_t) with z = voiced·log(f0/f_ref); b_ij = λ·exp(−|z_i − z_j|) on voiced pairs.
    """

    def __init__(self, config: EchoConfig) -> None:
        super().__init__()
        self.config = config
        zero = lambda: nn.Parameter(torch.zeros(()))  # noqa: E731
        self.gamma = zero() if config.pitch_theta else None
        self.rho = zero() if config.pitch_radius else None
        self.lam = zero() if config.pitch_bias else None
        if config.betweenness:
            self.beta = zero()
            self.btw_proj = nn.Linear(config.d_model, config.betweenness_dim, bias=False)
        else:
            self.beta = None

    def forward(
        self, x: torch.Tensor, pitch: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """x (B, S, D) encoder input, pitch (B, 3, S), mask (B, S) at the encoder rate ->
        positions (B, S), radius (B, S) or None, bias (B, 1, S, S) or None."""
        voiced = pitch[:, 1] * mask  # (B, S)
        z = pitch[:, 0] * C.LOG_F0_SCALE * voiced  # (B, S): log(f0 / f_ref), 0 where unvoiced
        steps = torch.ones_like(z)
        if self.gamma is not None:
            u = voiced * (z.exp() - 1.0)  # f0 / f_ref - 1 on voiced frames
            steps = steps + self.gamma * u
        positions = steps.cumsum(dim=1) - 1.0  # (B, S), starts at 0
        if self.beta is not None:
            positions = positions + self.beta * (betweenness(self.btw_proj(x), mask) - 0.5)
        radius = (self.rho * z).exp() if self.rho is not None else None
        bias = None
        if self.lam is not None:
            dz = (z[:, :, None] - z[:, None, :]).abs()  # (B, S, S)
            pair = voiced[:, :, None] * voiced[:, None, :]
            bias = (self.lam * torch.exp(-dz) * pair)[:, None]  # (B, 1, S, S)
        return positions, radius, bias

    def report(self) -> dict[str, float]:
        names = {"gamma": self.gamma, "rho": self.rho, "lambda": self.lam, "beta": self.beta}
        return {k: float(v.detach()) for k, v in names.items() if v is not None}


__all__ = ["Rotary", "apply_rotary", "betweenness", "PitchPositions"]
