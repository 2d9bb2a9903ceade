"""Multi-head attention with dot / cosine / blended scores and additive (soft) masks.

Masks are additive biases on the logits: a hard mask adds MASK_VALUE (weight exactly 0 in
fp32), a soft mask adds log(ε), which scales that key's weight by ε before normalisation:
    weight_ij = s_j·exp(l_ij) / Σ_k s_k·exp(l_ik).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from echo_edge.config import EchoConfig

MASK_VALUE = -1e4  # hard mask: exp(-1e4) underflows to exactly 0, and the value is fp16-safe
COSINE_INIT_TEMPERATURE = 10.0


def key_bias(keys_masked: torch.Tensor, scale: float) -> torch.Tensor:
    """(B, S) bool of keys to mask -> additive bias (B, S): log(scale) there, 0 elsewhere.

    scale 0 means a hard mask (MASK_VALUE)."""
    value = MASK_VALUE if scale <= 0.0 else math.log(scale)
    return keys_masked.float() * value


class Score(nn.Module):
    """Turns (q, k) into the pair (q', k') whose scaled dot product is the configured score.

    dot:    q·k / sqrt(D)
    cosine: τ·cos(q, k), τ learnable
    blend:  σ(β)·q·k/sqrt(D) + (1−σ(β))·τ·cos(q, k) = [a·q, b·q̂]·[a·k, b·k̂]
    """

    def __init__(self, kind: str, head_dim: int) -> None:
        super().__init__()
        self.kind = kind
        self.head_dim = head_dim
        if kind in ("cosine", "blend"):
            self.log_tau = nn.Parameter(torch.tensor(math.log(COSINE_INIT_TEMPERATURE)))
        if kind == "blend":
            self.beta = nn.Parameter(torch.zeros(()))

    def forward(self, q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q (B, H, Tq, D), k (B, H, Tk, D) -> q', k' for a scale-1 dot product."""
        if self.kind == "dot":
            s = self.head_dim**-0.25
            return q * s, k * s
        qn, kn = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        tau = self.log_tau.exp()
        if self.kind == "cosine":
            return qn * tau, kn
        w = torch.sigmoid(self.beta)
        a = (w / math.sqrt(self.head_dim)).sqrt()
        b = ((1.0 - w) * tau).sqrt()
        return torch.cat([a * q, b * qn], dim=-1), torch.cat([a * k, b * kn], dim=-1)

    def report(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.kind in ("cosine", "blend"):
            out["tau"] = float(self.log_tau.exp().detach())
        if self.kind == "blend":
            out["dot_weight"] = float(torch.sigmoid(self.beta).detach())
        return out


class Attention(nn.Module):
    """Multi-head attention; rotary and biases are applied by the caller's arguments."""

    def __init__(self, config: EchoConfig) -> None:
        super().__init__()
        d = config.d_model
        self.n_heads = config.n_heads
        self.head_dim = config.head_dim
        self.q_proj = nn.Linear(d, d)
        self.k_proj = nn.Linear(d, d, bias=False)
        self.v_proj = nn.Linear(d, d)
        self.out_proj = nn.Linear(d, d)
        self.score = Score(config.score, config.head_dim)
        self.dropout = config.dropout

    def split(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, D_model) -> (B, H, T, D). The time size is inferred (-1): XNNPACK's
        reshape takes one -1 but no symbolic size (export.executorch.BmmAttention)."""
        return x.view(x.shape[0], -1, self.n_heads, self.head_dim).transpose(1, 2)

    def attend(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None
    ) -> torch.Tensor:
        """q (B, H, Tq, D), k/v (B, H, Tk, D), bias broadcastable to (B, H, Tq, Tk) -> (B, Tq, D_model)."""
        q2, k2 = self.score(q, k)
        p = self.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q2, k2, v, attn_mask=bias, dropout_p=p, scale=1.0)
        b, h, t, d = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, t, h * d))

    def weights(self, q: torch.Tensor, k: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """The attention weights (B, H, Tq, Tk) that `attend` uses; for inspection and tests."""
        q2, k2 = self.score(q, k)
        logits = q2 @ k2.transpose(-1, -2)
        if bias is not None:
            logits = logits + bias
        return logits.softmax(dim=-1)
