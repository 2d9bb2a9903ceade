"""The Echo encoder: blended feature stems, then pre-norm blocks with pitch-aware rotary."""

from __future__ import annotations

import torch
from torch import nn

from echo_edge import constants as C
from echo_edge.attention import Attention, key_bias
from echo_edge.config import EchoConfig
from echo_edge.layers import MLP, RMSNorm, StreamBlend
from echo_edge.rotary import PitchPositions, Rotary, apply_rotary


class EncoderBlock(nn.Module):
    def __init__(self, config: EchoConfig) -> None:
        super().__init__()
        self.attn_norm = RMSNorm(config.d_model)
        self.attn = Attention(config)
        self.mlp_norm = RMSNorm(config.d_model)
        self.mlp = MLP(config)

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        radius: torch.Tensor | None,
        bias: torch.Tensor,
    ) -> torch.Tensor:
        """x (B, S, D); cos/sin (B, 1, S, Dh/2); radius (B, S); bias (B, 1, S, S)."""
        h = self.attn_norm(x)
        a = self.attn
        q = apply_rotary(a.split(a.q_proj(h)), cos, sin, radius)  # (B, H, S, Dh)
        k = apply_rotary(a.split(a.k_proj(h)), cos, sin, radius)
        x = x + a.attend(q, k, a.split(a.v_proj(h)), bias)
        return x + self.mlp(self.mlp_norm(x))


def encoder_key_bias(
    frame_mask: torch.Tensor, silence: torch.Tensor, config: EchoConfig
) -> torch.Tensor:
    """frame_mask, silence (B, S) at the encoder rate -> additive key bias (B, S).

    Padding keys: hard (or soft with pad_mask="soft"); silent keys: soft, log(silence_scale) (hard when 0)."""
    pad = frame_mask < 0.5
    pad_scale = 0.0 if config.pad_mask == "hard" else config.silence_scale
    bias = key_bias(pad, pad_scale)
    if config.silence_scale < 1.0:
        bias = bias + key_bias((silence > 0.5) & ~pad, config.silence_scale)
    return bias


class Encoder(nn.Module):
    def __init__(self, config: EchoConfig) -> None:
        super().__init__()
        self.config = config
        self.blend = StreamBlend(config)
        self.positions = PitchPositions(config)
        self.rotary = Rotary(config.head_dim, config.rope_base, config.learned_freq)
        self.blocks = nn.ModuleList(EncoderBlock(config) for _ in range(config.encoder_layers))
        self.norm = RMSNorm(config.d_model)

    def forward(
        self,
        mel: torch.Tensor,
        pitch: torch.Tensor,
        silence: torch.Tensor,
        wave: torch.Tensor,
        frame_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """100 Hz features -> encoder states (B, S, D) and the key bias (B, S) at 50 Hz.

        mel (B, 80, T), pitch (B, 3, T), silence (B, T), wave (B, T*HOP), frame_mask (B, T)."""
        x = self.blend(mel, pitch, wave, frame_mask)  # (B, S, D)
        stride = C.ENCODER_STRIDE
        # Frame 2s of the 100 Hz grid is the centre of encoder frame s.
        mask_s = frame_mask[:, ::stride]  # (B, S)
        keys = encoder_key_bias(mask_s, silence[:, ::stride], self.config)
        positions, radius, pitch_bias = self.positions(x, pitch[:, :, ::stride], mask_s)
        cos, sin = self.rotary.cos_sin(positions)  # (B, 1, S, Dh/2)
        bias = keys[:, None, None, :]  # (B, 1, 1, S)
        if pitch_bias is not None:
            bias = bias + pitch_bias  # (B, 1, S, S)
        for block in self.blocks:
            x = block(x, cos, sin, radius, bias)
        return self.norm(x), keys
