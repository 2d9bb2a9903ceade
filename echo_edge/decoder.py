"""The Echo decoder and its one explicit-cache step function.

`decode_step` is the only decoder implementation: training runs it once over the whole
teacher-forced sequence (offset 0, a cache of that length), greedy generation runs it a token
at a time, and every exporter traces it. The self-attention cache is an explicit tensor of C
slots written at [offset, offset + L) by a one-hot blend — no hooks, no concatenation; any
C > offset + L - 1 gives the same logits, so searches start small and grow it (`fit_cache`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from echo_edge.attention import MASK_VALUE, Attention
from echo_edge.config import EchoConfig
from echo_edge.layers import MLP, RMSNorm
from echo_edge.rotary import Rotary, apply_rotary
from echo_edge.runtime.bundle import grown_slots


class DecoderBlock(nn.Module):
    def __init__(self, config: EchoConfig) -> None:
        super().__init__()
        self.self_norm = RMSNorm(config.d_model)
        self.self_attn = Attention(config)
        self.cross_norm = RMSNorm(config.d_model)
        self.cross_attn = Attention(config)
        self.mlp_norm = RMSNorm(config.d_model)
        self.mlp = MLP(config)
        # Gate on the cross-attention residual: 2·σ(g), so it starts at 1 (plain residual).
        self.gate = nn.Parameter(torch.zeros(())) if config.cross_gate else None

    @staticmethod
    def written(write: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """k (B, H, L, Dh) moved to its one-hot cache slots write (L, C) -> (B, H, C, Dh)."""
        return torch.einsum("lc,bhld->bhcd", write, k)

    def cross_gate(self) -> torch.Tensor | float:
        return 2.0 * torch.sigmoid(self.gate) if self.gate is not None else 1.0

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        write: torch.Tensor,
        self_k: torch.Tensor,
        self_v: torch.Tensor,
        self_bias: torch.Tensor,
        cross_k: torch.Tensor,
        cross_v: torch.Tensor,
        cross_bias: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (B, L, D); write (L, C) one-hot cache slots; self_k/v (B, H, C, Dh);
        self_bias (L, C); cross_k/v (B, H, S, Dh); cross_bias (B, 1, 1, S)."""
        a = self.self_attn
        h = self.self_norm(x)
        q = apply_rotary(a.split(a.q_proj(h)), cos, sin)  # (B, H, L, Dh)
        k = apply_rotary(a.split(a.k_proj(h)), cos, sin)
        v = a.split(a.v_proj(h))
        keep = 1.0 - write.sum(0)[None, None, :, None]  # (1, 1, C, 1)
        self_k = self_k * keep + self.written(write, k)  # (B, H, C, Dh)
        self_v = self_v * keep + self.written(write, v)
        x = x + a.attend(q, self_k, self_v, self_bias)
        c = self.cross_attn
        q = c.split(c.q_proj(self.cross_norm(x)))  # (B, H, L, Dh)
        x = x + self.cross_gate() * c.attend(q, cross_k, cross_v, cross_bias)
        return x + self.mlp(self.mlp_norm(x)), self_k, self_v


class Decoder(nn.Module):
    def __init__(self, config: EchoConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.d_model)
        nn.init.normal_(self.embed.weight, std=config.d_model**-0.5)
        self.rotary = Rotary(config.head_dim, config.rope_base, config.learned_freq)
        self.blocks = nn.ModuleList(DecoderBlock(config) for _ in range(config.decoder_layers))
        self.norm = RMSNorm(config.d_model)

    def cross_kv(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder states (B, S, D) -> per-layer cross K, V (layers, B, H, S, Dh), computed once."""
        ks, vs = [], []
        for block in self.blocks:
            c = block.cross_attn
            ks.append(c.split(c.k_proj(states)))
            vs.append(c.split(c.v_proj(states)))
        return torch.stack(ks), torch.stack(vs)

    def empty_cache(
        self, batch: int, length: int | None = None, device: torch.device | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Zeroed self-attention caches (layers, B, H, C, Dh), C = max_target_len by default."""
        cfg = self.config
        c = cfg.max_target_len if length is None else length
        shape = (cfg.decoder_layers, batch, cfg.n_heads, c, cfg.head_dim)
        return torch.zeros(shape, device=device), torch.zeros(shape, device=device)

    def fit_cache(
        self, self_k: torch.Tensor, self_v: torch.Tensor, slots: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The caches with at least `slots` slots: doubled (zeros appended) until they hold
        them, at most max_target_len; unchanged when they already do. A search that starts
        small and grows gets the full cache's logits (slots past the query are masked) at a
        fraction of the cost, as the runtime's Backend.fit_cache does."""
        have = self_k.shape[3]
        size = grown_slots(have, slots, self.config.max_target_len)
        if size == have:
            return self_k, self_v
        pad = (0, 0, 0, size - have)  # (Dh, C) ends
        return F.pad(self_k, pad), F.pad(self_v, pad)

    def decode_step(
        self,
        tokens: torch.Tensor,
        offset: torch.Tensor,
        self_k: torch.Tensor,
        self_v: torch.Tensor,
        cross_k: torch.Tensor,
        cross_v: torch.Tensor,
        cross_bias: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """tokens (B, L) at positions offset..offset+L-1 (offset: int64, 0-d) ->
        logits (B, L, V) and the caches (layers, B, H, C, Dh) with those positions written.

        cross_bias (B, S) is the encoder's key bias (padding hard, silence soft)."""
        b, n = tokens.shape
        slots = torch.arange(self_k.shape[3], device=tokens.device)  # (C,)
        pos = offset + torch.arange(n, device=tokens.device)  # (L,)
        write = (slots[None, :] == pos[:, None]).float()  # (L, C)
        # Causal and cache-validity mask in one: query at pos sees slots <= pos.
        self_bias = (slots[None, :] > pos[:, None]).float() * MASK_VALUE  # (L, C)
        cos, sin = self.rotary.cos_sin(pos.float()[None, :].expand(b, n))  # (B, 1, L, Dh/2)
        cb = cross_bias[:, None, None, :]  # (B, 1, 1, S)
        x = self.embed(tokens)  # (B, L, D)
        new_k, new_v = [], []
        for i, block in enumerate(self.blocks):
            x, k, v = block(
                x, cos, sin, write, self_k[i], self_v[i], self_bias, cross_k[i], cross_v[i], cb
            )
            new_k.append(k)
            new_v.append(v)
        logits = self.norm(x) @ self.embed.weight.t()  # (B, L, V), tied embedding
        return logits, torch.stack(new_k), torch.stack(new_v)

    def report(self) -> dict[str, float]:
        return {
            f"cross_gate_{i}": float(torch.as_tensor(b.cross_gate()).detach())
            for i, b in enumerate(self.blocks)
            if b.gate is not None
        }
