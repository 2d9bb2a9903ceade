"""Greedy and joint CTC/attention greedy decoding with the explicit KV cache, and their options.

`greedy_decode` is attention greedy search; `joint_greedy_decode` re-ranks each step's
attention top-k and eos with the CTC head's prefix scores (ESPnet's joint decoding, greedy).
Both are batched over the decoder; the joint search steps each item through
echo_edge.runtime.ctc.joint_step, so the reference and the runtime run one search and
`echo-edge verify` compares like with like.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, fields

import torch

from echo_edge import constants as C
from echo_edge.decoder import Decoder
from echo_edge.loopguard import append_or_stop
from echo_edge.runtime import decoding as runtime_decoding
from echo_edge.runtime.backend import CrossAttention
from echo_edge.runtime.bundle import first_slots
from echo_edge.runtime.ctc import CtcPrefixScorer, PrefixState, joint_step
from echo_edge.runtime.decoding import log_softmax
from echo_edge.runtime.lm import LMUnavailable, WordLM, default_lm
from echo_edge.runtime.lm_search import LMSearchOptions, spells_words
from echo_edge.runtime.lm_search import lm_beam_decode as runtime_lm_beam_decode


@dataclass(frozen=True)
class DecodingOptions:
    # Hard cap on generated tokens (bos excluded); None = the model's max_target_len - 1.
    max_new_tokens: int | None = None
    # Loop guard: at most this many tokens per second of audio (plus MIN_TOKENS); None = config.
    max_tokens_per_second: float | None = None
    # Tokens always allowed, however short the audio.
    min_tokens: int = 8
    # Weight of the CTC prefix score in joint CTC/attention greedy search; 0 = attention
    # greedy. The runtime's default (runtime/decoding.py, picked on a dev split), so the
    # reference and a bundle decode alike unless told otherwise; a model without a CTC head
    # decodes with attention greedy whatever this says.
    ctc_weight: float = runtime_decoding.CTC_WEIGHT
    # Joint search: the attention candidates re-scored by CTC at each step (eos always added).
    ctc_top_k: int = runtime_decoding.CTC_TOP_K
    # The word LM's weight in a beam search over the joint scores (the runtime's search,
    # runtime/lm_search.py); 0 (the default, as the runtime's) = joint greedy. Needs the CTC
    # head and pocketsphinx.
    lm_weight: float = 0.0
    beam: int = runtime_decoding.LM_BEAM

    def __post_init__(self) -> None:
        runtime_decoding.check_search(self)

    @classmethod
    def like(cls, options: runtime_decoding.DecodingOptions) -> DecodingOptions:
        """The reference's options for the search a runtime `options` asks of a bundle's finals
        (every field the two share, copied; verify_prefix concerns partials only)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in asdict(options).items() if k in names})


def token_budget(seconds: torch.Tensor, options: DecodingOptions, decoder: Decoder) -> torch.Tensor:
    """Per-item cap on generated tokens (B,) from audio durations (B,) in seconds."""
    cfg = decoder.config
    rate = options.max_tokens_per_second or cfg.max_tokens_per_second
    hard = min(options.max_new_tokens or cfg.max_target_len - 1, cfg.max_target_len - 1)
    caps = (seconds * rate).ceil().long() + options.min_tokens
    return caps.clamp(max=hard)


def start_cache(
    decoder: Decoder, batch: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """The caches a search starts with: MIN_CACHE_SLOTS slots (at most max_target_len), grown
    by Decoder.fit_cache as tokens come, as the runtime's searches do."""
    return decoder.empty_cache(batch, first_slots(decoder.config.max_target_len), device)


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
    self_k, self_v = start_cache(decoder, batch, device)
    tokens = torch.full((batch, 1), C.BOS_ID, dtype=torch.long, device=device)
    texts: list[list[int]] = [[] for _ in range(batch)]
    done = [False] * batch
    for step in range(int(caps.max()) + 1):
        offset = torch.tensor(step, device=device)
        self_k, self_v = decoder.fit_cache(self_k, self_v, step + 1)
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
    return padded_ids(texts, device)


@torch.no_grad()
def joint_greedy_decode(
    decoder: Decoder,
    cross_k: torch.Tensor,
    cross_v: torch.Tensor,
    cross_bias: torch.Tensor,
    ctc: torch.Tensor,
    frames: torch.Tensor,
    caps: torch.Tensor,
    weight: float,
    top_k: int,
) -> torch.Tensor:
    """Joint CTC/attention greedy search -> (B, L) ids: bos, text, eos, then pad.

    ctc (B, S, V): the CTC head's log-probs; frames (B,): each item's real encoder frames.
    Each step runs the decoder once for the whole batch; every item then picks its token with
    runtime.ctc.joint_step from its attention log-softmax (float64, as the runtime computes
    it) and its own prefix scorer. Caps and the loop guard as in greedy_decode."""
    batch = cross_k.shape[1]
    device = cross_k.device
    scorers = [
        CtcPrefixScorer(ctc[b, : int(frames[b])].double().cpu().numpy()) for b in range(batch)
    ]
    states: list[PrefixState | None] = [s.initial() for s in scorers]
    self_k, self_v = start_cache(decoder, batch, device)
    tokens = torch.full((batch, 1), C.BOS_ID, dtype=torch.long, device=device)
    texts: list[list[int]] = [[] for _ in range(batch)]
    done = [False] * batch
    for step in range(int(caps.max()) + 1):
        offset = torch.tensor(step, device=device)
        self_k, self_v = decoder.fit_cache(self_k, self_v, step + 1)
        logits, self_k, self_v = decoder.decode_step(
            tokens, offset, self_k, self_v, cross_k, cross_v, cross_bias
        )
        lp = logits[:, -1].float().cpu().numpy()  # (B, V)
        nxt = [C.EOS_ID] * batch
        for b in range(batch):
            if done[b] or step >= int(caps[b]):
                done[b] = True
                continue
            nxt[b], states[b] = joint_step(log_softmax(lp[b]), scorers[b], states[b], weight, top_k)
            done[b] = nxt[b] == C.EOS_ID or append_or_stop(texts[b], nxt[b])
        if all(done):
            break
        tokens = torch.tensor(nxt, dtype=torch.long, device=device)[:, None]  # (B, 1)
    return padded_ids(texts, device)


_warned: set[str] = set()  # warnings said once per process


def reference_lm(vocab: list[str]) -> WordLM | None:
    """The word LM for the reference's LM search over `vocab` (id -> token), or None (with
    one warning per process) where it cannot run: the pocketsphinx package is missing, or the
    vocabulary does not spell words letter by letter (the search completes words at a space
    token)."""
    if not spells_words(vocab):
        return None
    try:
        return default_lm()
    except LMUnavailable as e:
        if "lm" not in _warned:
            _warned.add("lm")
            warnings.warn(f"{e}; the reference decodes with joint greedy search", stacklevel=3)
        return None


class _ReferenceSteps:
    """The reference decoder behind the two calls of a runtime Backend that the LM search
    makes (empty_cache, decode_step), batch 1: the runtime's search runs on it unchanged."""

    def __init__(self, decoder: Decoder, cross_k: torch.Tensor, cross_v: torch.Tensor,
                 cross_bias: torch.Tensor) -> None:  # fmt: skip
        self.decoder, self.cross = decoder, (cross_k, cross_v, cross_bias)

    def empty_cache(self) -> tuple[torch.Tensor, torch.Tensor]:
        return start_cache(self.decoder, 1, self.cross[0].device)

    def decode_step(self, tokens, offset, self_k, self_v, cross):  # noqa: ANN001, ANN201
        device = self.cross[0].device
        self_k, self_v = self.decoder.fit_cache(self_k, self_v, offset + tokens.shape[1])
        logits, k, v = self.decoder.decode_step(
            torch.from_numpy(tokens).to(device), torch.tensor(offset, device=device),
            self_k, self_v, *self.cross,
        )  # fmt: skip
        return logits.float().cpu().numpy(), k, v


@torch.no_grad()
def lm_beam_decode(
    decoder: Decoder,
    cross_k: torch.Tensor,
    cross_v: torch.Tensor,
    cross_bias: torch.Tensor,
    ctc: torch.Tensor,
    frames: torch.Tensor,
    caps: torch.Tensor,
    lm: WordLM,
    vocab: list[str],
    options: DecodingOptions,
) -> torch.Tensor:
    """The runtime's LM beam search (runtime/lm_search.py) item by item -> (B, L) ids: bos,
    text, eos, then pad. Arguments as joint_greedy_decode's, and the word model."""
    search = LMSearchOptions.like(options)
    texts = []
    for b in range(cross_k.shape[1]):
        steps = _ReferenceSteps(
            decoder, cross_k[:, b : b + 1], cross_v[:, b : b + 1], cross_bias[b : b + 1]
        )
        logp = ctc[b, : int(frames[b])].double().cpu().numpy()
        cross = CrossAttention(None, None, None, logp)
        ids, _ = runtime_lm_beam_decode(steps, cross, int(caps[b]), lm, vocab, search)
        texts.append(ids)
    return padded_ids(texts, cross_k.device)


def padded_ids(texts: list[list[int]], device: torch.device) -> torch.Tensor:
    """Generated ids per item -> (B, L): bos, text, eos, then pad."""
    length = 2 + max(len(t) for t in texts)
    out = torch.full((len(texts), length), C.PAD_ID, dtype=torch.long, device=device)
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
