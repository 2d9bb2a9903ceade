"""Greedy decoding in numpy over a Backend's decode_step, with the token cap and loop guard.

The same search as echo_edge.decoding.greedy_decode (batch 1): bos, then one cached step per
token until eos, the token cap or a loop (echo_edge.loopguard). A previous hypothesis of the
same utterance (a partial result) can be checked in ONE batched decoder pass: its tokens are
kept up to the first position where greedy search would have chosen differently, and
decoding goes on from there (the stale cache slots beyond are overwritten before any query
can see them). In exact arithmetic this is the same search; in int8 (activation scales
computed per call) it may differ slightly, which is why only partials use it.

A caller that wants a confidence passes a list as `logprobs`: it receives the log-probability
(log-softmax in float64) of each returned token and then of eos at the next position, read
from the logits the search computed anyway (no extra decoder call).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from echo_edge import constants as C
from echo_edge.loopguard import append_or_stop, first_cut
from echo_edge.runtime.backend import Backend, CrossAttention

# The default weight of the CTC prefix score in joint CTC/attention greedy decoding of finals,
# picked on a dev split (verify's recipe, seed 16 000 001, 150 utterances, never the verify or
# test sets): attention greedy 43.7 % WER, joint λ 0.3 / 0.4 / 0.5: 38.2 / 36.1 / 36.8 %
# (λ 0.4: -7.6 points, 95 % interval [-11.2, -4.4]). bench/results/decoders/README.md
CTC_WEIGHT = 0.4
CTC_TOP_K = 5  # attention candidates re-scored by CTC at each step (eos always added)
# The word language model's weight in the finals' beam search (runtime/lm_search.py) that
# `--lm` asks for, and the beam, picked on the same dev split: joint greedy 32.0 % WER, LM
# search 22.1 % (bench/results/lm/README.md). Off by default: it costs ~3x the decoding time
# (one decoder call per hypothesis per step), which breaks the live path's latency target.
LM_WEIGHT = 0.3
LM_BEAM = 4


@dataclass(frozen=True)
class DecodingOptions:
    # Hard cap on generated tokens (bos excluded); None = the model's max_target_len - 1.
    max_new_tokens: int | None = None
    # Loop guard: at most this many tokens per second of audio (+ min_tokens); None = config.
    max_tokens_per_second: float | None = None
    # Tokens always allowed, however short the audio.
    min_tokens: int = 8
    # Partial results: check the previous partial in one batched decoder pass instead of
    # re-decoding it. Finals always decode from scratch (a Stream passes no prefix): with int8
    # dynamic quantisation the batched pass scales activations differently and can choose
    # other tokens (8 of 93 finals of a 5-minute reading), and a final must not depend on
    # whether partials were computed.
    verify_prefix: bool = True
    # Finals only: the weight of the CTC prefix score in joint CTC/attention greedy search
    # (runtime/ctc.py; default CTC_WEIGHT), 0 = attention greedy. It needs a bundle whose
    # encoder exports CTC log-probs (the shipped one does); without them finals fall back to
    # attention greedy with one warning. Partials always decode with attention greedy, so
    # their latency is unchanged.
    ctc_weight: float = CTC_WEIGHT
    # Joint decoding: the attention candidates re-scored by CTC at each step (eos always added).
    ctc_top_k: int = CTC_TOP_K
    # Finals only: the weight of a general English word language model (runtime/lm.py) in a
    # beam search over the joint scores (runtime/lm_search.py); 0 (the default) = joint
    # greedy, no LM; LM_WEIGHT is the weight picked on a dev split. It needs CTC log-probs
    # (joint scores) and the pocketsphinx package (the model); without the package finals
    # fall back to joint greedy with one warning.
    lm_weight: float = 0.0
    # The LM search's beam (hypotheses kept per step; one decoder call each).
    beam: int = LM_BEAM

    def __post_init__(self) -> None:
        check_search(self)


def check_search(options: object) -> None:
    """Refuse search settings out of range (ValueError); the runtime's and the reference's
    DecodingOptions share these fields and this check."""
    o = options
    if not 0.0 <= o.ctc_weight < 1.0:  # also refuses NaN
        raise ValueError(f"ctc_weight must be in [0, 1), got {o.ctc_weight}")
    if not o.ctc_top_k >= 1:
        raise ValueError(f"ctc_top_k must be >= 1, got {o.ctc_top_k}")
    if not 0.0 <= o.lm_weight <= 10.0:  # also refuses NaN
        raise ValueError(f"lm_weight must be in [0, 10], got {o.lm_weight}")
    if not o.beam >= 1:
        raise ValueError(f"beam must be >= 1, got {o.beam}")


def search_name(ctc_weight: float, lm_weight: float = 0.0, beam: int = LM_BEAM) -> str:
    """The search finals run with these weights: "attention greedy", "joint CTC/attention
    greedy, ctc_weight 0.4" or "joint CTC/attention beam 4 + word LM, ctc_weight 0.4,
    lm_weight 0.3" (the caller zeroes lm_weight where the word model cannot load)."""
    if ctc_weight <= 0:
        return "attention greedy"
    if lm_weight > 0:
        return (
            f"joint CTC/attention beam {beam} + word LM, ctc_weight {ctc_weight:g}, "
            f"lm_weight {lm_weight:g}"
        )
    return f"joint CTC/attention greedy, ctc_weight {ctc_weight:g}"


def token_cap(seconds: float, options: DecodingOptions, config: dict) -> int:
    """Generated-token cap for `seconds` of audio: ceil(seconds * rate) + min_tokens, clamped."""
    rate = options.max_tokens_per_second or float(config["max_tokens_per_second"])
    hard = int(config["max_target_len"]) - 1
    hard = min(options.max_new_tokens or hard, hard)
    return min(math.ceil(seconds * rate) + options.min_tokens, hard)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log-softmax over the last axis, in float64 (the logits may be float16 or int8-noisy)."""
    x = logits.astype(np.float64)
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def greedy_decode(
    backend: Backend,
    cross: CrossAttention,
    cap: int,
    prefix: Sequence[int] = (),
    logprobs: list[float] | None = None,
) -> tuple[list[int], int]:
    """Greedy token ids after bos (eos excluded) and the number of decoder calls made.

    `logprobs`, if given, is filled with len(ids) + 1 log-probabilities: each returned id's,
    then eos's after them (also where the cap or the loop guard ended the search)."""
    self_k, self_v = backend.empty_cache()
    out: list[int] = []
    # Per position: the model's log-probability of the token chosen there, and of eos.
    chosen_lp: list[float] = []
    eos_lp: list[float] = []

    def finish(ids: list[int]) -> tuple[list[int], int]:
        if logprobs is not None:
            logprobs[:] = [*chosen_lp[: len(ids)], eos_lp[len(ids)]]
        return ids, calls

    token, calls = C.BOS_ID, 0
    prefix = list(prefix)[:cap]
    if prefix:
        tokens = np.array([[C.BOS_ID, *prefix]], dtype=np.int64)  # (1, L)
        logits, self_k, self_v = backend.decode_step(tokens, 0, self_k, self_v, cross)
        calls += 1
        chosen = logits[0].argmax(-1)  # (L,) greedy choice after each position
        kept = 0
        while kept < len(prefix) and int(chosen[kept]) == prefix[kept]:
            kept += 1
        if logprobs is not None:
            lp = log_softmax(logits[0, : kept + 1])  # (kept + 1, V)
            chosen_lp += [float(lp[i, chosen[i]]) for i in range(kept + 1)]
            eos_lp += [float(v) for v in lp[:, C.EOS_ID]]
        out = prefix[:kept]
        cut = first_cut(out)  # the guard would have stopped inside the kept prefix
        if cut is not None:
            return finish(out[:cut])
        token = C.EOS_ID if kept >= cap else int(chosen[kept])
        if token == C.EOS_ID or append_or_stop(out, token):
            return finish(out)
    step = len(out)
    while True:
        tokens = np.array([[token]], dtype=np.int64)  # (1, 1)
        logits, self_k, self_v = backend.decode_step(tokens, step, self_k, self_v, cross)
        calls += 1
        token = C.EOS_ID if step >= cap else int(logits[0, -1].argmax())
        if logprobs is not None:
            lp = log_softmax(logits[0, -1])  # (V,)
            chosen_lp.append(float(lp[token]))
            eos_lp.append(float(lp[C.EOS_ID]))
        if token == C.EOS_ID or append_or_stop(out, token):
            return finish(out)
        step += 1


def confidence(logprobs: Sequence[float]) -> float | None:
    """Mean log-probability of a hypothesis's tokens and its eos; None for no tokens."""
    return float(np.mean(logprobs)) if len(logprobs) > 1 else None
