"""Greedy decoding with the explicit KV cache, and its options."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from echo_edge import constants as C
from echo_edge.decoder import Decoder
from echo_edge.loopguard import append_or_stop


@dataclass(frozen=True)
class DecodingOptions:
    # Hard cap on generated tokens (bos excluded); None = the model's max_target_len - 1.
    max_new_tokens: int | None = None
    # Loop guard: at most this many tokens per second of audio (plus MIN_TOKENS); None = config.
    max_tokens_per_second: float | None = None
    # Tokens always allowed, however short the audio.
    min_tokens: int = 8


def token_budget(seconds: torch.Tensor, options: DecodingOptions, decoder: Decoder) -> torch.Tensor:
    """Per-item cap on generated tokens (B,) from audio durations (B,) in seconds."""
    cfg = decoder.config
    rate = options.max_tokens_per_second or cfg.max_tokens_per_second
    hard = min(options.max_new_tokens or cfg.max_target_len - 1, cfg.max_target_len - 1)
    caps = (seconds * rate).ceil().long() + options.min_tokens
    return caps.clamp(max=hard)


@torch.no_grad()
def greedy_decode(
    decoder: Decoder,
    cross_k: torch.Tensor,
    cross_v: torch.Tensor,
    cross_bias: torch.Tensor,
    caps: torch.Tensor,
) -> torch.Tensor:
    """Greedy search, one cached step per token -> (B, L) ids: bos, text, eos, then pad.

    caps (B,) bounds each item's generated tokens; an item that reaches its cap gets eos. An
    item whose text ends in a loop (echo_edge.loopguard) keeps one copy of it and gets eos."""
    batch = cross_k.shape[1]
    device = cross_k.device
    self_k, self_v = decoder.empty_cache(batch, device=device)
    tokens = torch.full((batch, 1), C.BOS_ID, dtype=torch.long, device=device)
    texts: list[list[int]] = [[] for _ in range(batch)]
    done = [False] * batch
    for step in range(int(caps.max()) + 1):
        offset = torch.tensor(step, device=device)
        logits, self_k, self_v = decoder.decode_step(
            tokens, offset, self_k, self_v, cross_k, cross_v, cross_bias
        )
        nxt = logits[:, -1].argmax(-1)  # (B,)
        nxt = torch.where(step >= caps, torch.full_like(nxt, C.EOS_ID), nxt)
        for b, token in enumerate(nxt.tolist()):
            if done[b]:
                continue
            if token == C.EOS_ID:
                done[b] = True
                continue
            done[b] = append_or_stop(texts[b], token)
        if all(done):
            break
        tokens = nxt[:, None]
    length = 2 + max(len(t) for t in texts)
    out = torch.full((batch, length), C.PAD_ID, dtype=torch.long, device=device)
    for b, text in enumerate(texts):
        out[b, : len(text) + 2] = torch.tensor([C.BOS_ID, *text, C.EOS_ID])
    return out


def strip_special(ids: list[int]) -> list[int]:
    """Token ids of the text alone: drop bos, stop at eos, drop pads."""
    text = []
    for i in ids:
        if i == C.EOS_ID:
            break
        if i not in (C.BOS_ID, C.PAD_ID):
            text.append(i)
    return text


def seconds_of(num_samples: torch.Tensor) -> torch.Tensor:
    return num_samples.float() / C.SAMPLE_RATE
