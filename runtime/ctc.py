"""Decoding with the encoder's CTC head, numpy only: CTC greedy and joint CTC/attention greedy.

`ctc_greedy` reads the per-frame argmax, collapses repeats and drops blank (the pad id) and
the other special ids. `CtcPrefixScorer` gives, for a hypothesis prefix g and candidate
tokens c, the log-probability that the CTC output starts with g + c (the prefix score) and
that it is exactly g (for eos), by the forward recursion over frames kept per prefix:
r_n[t] (alignments of g over frames < t ending in g's last token) and r_b[t] (ending in
blank). `joint_step` re-ranks one step's attention top-k and eos by
(1 - weight) * attention log-prob + weight * (prefix score of g + c - prefix score of g);
`joint_greedy_decode` is greedy search through it over a Backend, with greedy_decode's token
cap and loop guard (the reference, echo_edge.decoding, steps through the same joint_step).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from echo_edge import constants as C
from echo_edge.loopguard import append_or_stop
from echo_edge.runtime.backend import Backend, CrossAttention
from echo_edge.runtime.decoding import CTC_TOP_K, log_softmax

BLANK_ID = C.PAD_ID  # the CTC head's blank (the pad id never occurs in labels)
SPECIAL_IDS = (C.PAD_ID, C.BOS_ID, C.EOS_ID, C.UNK_ID)  # never emitted by CTC decoding
# Frame log-probabilities are floored here: the recursion is computed from cumulative sums,
# where a -inf would make inf - inf; e^-1000 is zero for every practical purpose.
LOG_FLOOR = -1000.0


def ctc_greedy(logp: np.ndarray) -> list[int]:
    """(T, V) CTC log-probs -> per-frame argmax, repeats collapsed, blank and specials dropped."""
    best = logp.argmax(-1)  # (T,)
    keep = np.ones(best.shape, bool)
    keep[1:] = best[1:] != best[:-1]
    return [int(i) for i in best[keep] if int(i) not in SPECIAL_IDS]


def _cum_logsumexp_before(x: np.ndarray) -> np.ndarray:
    """out[..., t] = log sum_{s < t} exp(x[..., s]) for t = 0..T (out[..., 0] = -inf)."""
    out = np.full((*x.shape[:-1], x.shape[-1] + 1), -np.inf)
    out[..., 1:] = np.logaddexp.accumulate(x, axis=-1)
    return out


class PrefixState(NamedTuple):
    """The forward variables of one prefix over virtual time 0 (before any frame) .. T."""

    r_n: np.ndarray  # (T + 1,) log P(frames < t align to g, last frame = g's last token)
    r_b: np.ndarray  # (T + 1,) log P(frames < t align to g, last frame = blank)
    score: float  # log P(the CTC output starts with g)
    last: int  # g's last token (BLANK_ID for the empty prefix)


class CtcPrefixScorer:
    """Prefix scores over one utterance's (T, V) CTC log-probabilities, blank = BLANK_ID."""

    def __init__(self, logp: np.ndarray) -> None:
        self.logp = np.maximum(logp.astype(np.float64), LOG_FLOOR)  # (T, V)
        blank = self.logp[:, BLANK_ID]  # (T,)
        # Cumulative log-probability of blank over frames < t, t = 0..T.
        self.blank_cum = np.concatenate([[0.0], np.cumsum(blank)])  # (T + 1,)

    def initial(self) -> PrefixState:
        """The empty prefix: only blanks so far (r_b = cumulative blank), score log 1."""
        r_n = np.full(self.blank_cum.shape, -np.inf)
        return PrefixState(r_n, self.blank_cum.copy(), 0.0, BLANK_ID)

    def full(self, state: PrefixState) -> float:
        """log P(the CTC output is exactly the prefix): all T frames used."""
        return float(np.logaddexp(state.r_n[-1], state.r_b[-1]))

    def extend(self, state: PrefixState, tokens: np.ndarray) -> list[PrefixState]:
        """The states of prefix + c for each (non-blank, non-special) token c in `tokens`.

        The recursion, over frames t (frame t - 1 read at virtual time t):
          r_n'[t] = (r_n'[t-1] + phi[t-1]) * p_t(c),  r_b'[t] = (r_b'[t-1] + r_n'[t-1]) * p_t(blank)
        with phi = r_b + r_n (r_b alone when c repeats g's last token); both are linear
        recurrences, so each is one cumulative log-sum-exp over frames: O(T) per candidate."""
        tokens = np.asarray(tokens, dtype=np.int64)  # (K,)
        logx = self.logp[:, tokens].T  # (K, T)
        x_cum = np.concatenate([np.zeros((len(tokens), 1)), np.cumsum(logx, -1)], -1)  # (K, T+1)
        both = np.logaddexp(state.r_n, state.r_b)  # (T + 1,)
        phi = np.where((tokens == state.last)[:, None], state.r_b[None], both[None])  # (K, T+1)
        # r_n'[t] = X[t] + log sum_{s<t} exp(phi[s] - X[s]), X the cumulative log p(c).
        r_n = x_cum + _cum_logsumexp_before(phi[:, :-1] - x_cum[:, :-1])  # (K, T + 1)
        # r_b'[t] = B[t] + log sum_{s<t} exp(r_n'[s] - B[s]), B the cumulative log p(blank).
        b = self.blank_cum[None]  # (1, T + 1)
        r_b = b + _cum_logsumexp_before(r_n[:, :-1] - b[:, :-1])  # (K, T + 1)
        # Prefix score: g + c emitted by some frame t, whatever follows.
        score = np.logaddexp.reduce(phi[:, :-1] + logx, axis=-1)  # (K,)
        return [
            PrefixState(r_n[i], r_b[i], float(score[i]), int(tokens[i])) for i in range(len(tokens))
        ]


def joint_step(
    lp: np.ndarray,
    scorer: CtcPrefixScorer | None,
    state: PrefixState | None,
    weight: float,
    top_k: int,
) -> tuple[int, PrefixState | None]:
    """One step of joint search: the token chosen after prefix `state`, and the prefix state
    it leads to (None for eos or without a scorer).

    `lp` (V,) is attention's log-softmax at this position. The attention top-k and eos are
    scored by (1 - weight) * lp + weight * CTC prefix-score gain; without a scorer (weight 0)
    this is attention's argmax. The runtime and the reference (echo_edge.decoding) both step
    through this function, so they run one search over their own decoder's log-probs."""
    order = np.argsort(-lp, kind="stable")[:top_k]  # (k,) attention's best first
    cands = np.array([*order, *([] if C.EOS_ID in order else [C.EOS_ID])])  # (k or k + 1,)
    score = lp[cands]
    states: dict[int, PrefixState] = {}
    if scorer is not None and state is not None:
        gain = np.full(len(cands), -np.inf)
        ok = np.array([int(c) not in SPECIAL_IDS for c in cands])
        states = dict(zip(np.flatnonzero(ok).tolist(), scorer.extend(state, cands[ok])))
        for i, s in states.items():
            gain[i] = s.score - state.score
        gain[cands == C.EOS_ID] = scorer.full(state) - state.score
        score = (1.0 - weight) * score + weight * gain
    best = int(np.argmax(score))
    return int(cands[best]), states.get(best)


def joint_greedy_decode(
    backend: Backend,
    cross: CrossAttention,
    cap: int,
    weight: float,
    top_k: int = CTC_TOP_K,
    logprobs: list[float] | None = None,
) -> tuple[list[int], int]:
    """Greedy token ids after bos (eos excluded) re-ranked by CTC, and the decoder calls made.

    `weight` 0 is attention greedy search (greedy_decode without a prefix); it needs
    cross.ctc otherwise. Each step scores the attention top-k and eos by
    (1 - weight) * attention log-prob + weight * CTC prefix-score gain. `logprobs`, if
    given, is filled as greedy_decode fills it: the ATTENTION log-probability of each
    returned id, then of eos after them (a confidence on the same scale as greedy's)."""
    if weight > 0 and cross.ctc is None:
        raise ValueError("joint CTC/attention decoding needs a bundle with CTC log-probs")
    scorer = CtcPrefixScorer(cross.ctc) if weight > 0 else None
    state = scorer.initial() if scorer is not None else None
    self_k, self_v = backend.empty_cache()
    out: list[int] = []
    # Per position: attention's log-probability of the token chosen there, and of eos.
    chosen_lp: list[float] = []
    eos_lp: list[float] = []

    def finish() -> tuple[list[int], int]:
        if logprobs is not None:
            logprobs[:] = [*chosen_lp[: len(out)], eos_lp[len(out)]]
        return out, calls

    token, step, calls = C.BOS_ID, 0, 0
    while True:
        tokens = np.array([[token]], dtype=np.int64)  # (1, 1)
        logits, self_k, self_v = backend.decode_step(tokens, step, self_k, self_v, cross)
        calls += 1
        lp = log_softmax(logits[0, -1])  # (V,)
        eos_lp.append(float(lp[C.EOS_ID]))
        if step >= cap:
            return finish()
        token, new_state = joint_step(lp, scorer, state, weight, top_k)
        chosen_lp.append(float(lp[token]))
        if token == C.EOS_ID or append_or_stop(out, token):
            return finish()
        state = new_state
        step += 1
