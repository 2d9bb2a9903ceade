"""Beam search over joint CTC/attention scores with a word language model (shallow fusion).

Each hypothesis is scored by
    (1 - ctc_weight) * attention log-prob + ctc_weight * CTC prefix score
    + lm_weight * (word LM log-probs of its completed words, OOV penalty for a word outside
      the vocabulary) + word_bonus * words.
A word is complete at a space or at eos (which also adds P(end of sentence)); a partial word
that can no longer become a vocabulary word pays the OOV penalty at once, so a misspelling
drops out of the beam as soon as it is one rather than at its last letter. Every step
expands each live hypothesis by attention's top-k tokens and eos; the best `beam` that did
not end live on (but none more than `margin` below the best), and every one that ended is
kept. The search ends when the best ended one
scores above every live one by more than a word's bonus (scores only fall, but for the
bonus), or at the token cap. Numpy only, over a
Backend's decode_step (one call per live hypothesis per step), with the repetition guard
of greedy search ending a hypothesis that loops.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from echo_edge import constants as C
from echo_edge.loopguard import loop_cut
from echo_edge.runtime.backend import Backend, CrossAttention
from echo_edge.runtime.ctc import SPECIAL_IDS, CtcPrefixScorer, PrefixState
from echo_edge.runtime.decoding import CTC_TOP_K, CTC_WEIGHT, LM_BEAM, LM_WEIGHT, log_softmax
from echo_edge.runtime.lm import WordLM

# Picked on verify's recipe at dev seed 16 000 001 with the LM weight (bench/results/lm).
WORD_BONUS = 1.0  # added per word: offsets the LM's cost of ending a word
OOV_LOGPROB = -20.0  # ln-probability charged for a word outside the vocabulary
# Live hypotheses scoring this far below the step's best are dropped (fewer decoder calls):
# on dev, margin inf / 10 / 6 / 4 / 3: WER 22.1 / 22.1 / 22.1 / 22.4 / 22.7 %, 200 / 172 / 129
# / 107 / 92 decoder calls per utterance (bench/results/lm/README.md).
MARGIN = 6.0


@dataclass(frozen=True)
class LMSearchOptions:
    beam: int = LM_BEAM
    top_k: int = CTC_TOP_K  # attention candidates per hypothesis per step (eos always added)
    ctc_weight: float = CTC_WEIGHT
    lm_weight: float = LM_WEIGHT
    word_bonus: float = WORD_BONUS
    oov_logprob: float = OOV_LOGPROB
    margin: float = MARGIN

    @classmethod
    def like(cls, options: object) -> LMSearchOptions:
        """The search a runtime or reference DecodingOptions asks for (beam, top-k, weights)."""
        return cls(
            beam=options.beam,
            top_k=options.ctc_top_k,
            ctc_weight=options.ctc_weight,
            lm_weight=options.lm_weight,
        )


@dataclass
class _Hyp:
    tokens: list[int]
    att: float  # sum of attention log-probs of the tokens
    ctc: PrefixState
    words: tuple[str, ...] = ()  # completed words
    partial: str = ""  # letters of the word being spelled
    partial_oov: bool = False  # the partial word has left the vocabulary (penalty paid)
    lm: float = 0.0  # LM log-probs and OOV penalties so far
    token_lps: tuple[float, ...] = ()  # attention log-prob of each token; then eos's, once ended
    cache: tuple[np.ndarray, np.ndarray] | None = None  # self-attention caches after tokens[:-1]
    done: bool = False
    score: float = field(default=0.0)


def _total(h: _Hyp, ctc: float, o: LMSearchOptions) -> float:
    n_words = len(h.words) + (1 if h.partial else 0)
    return (
        (1 - o.ctc_weight) * h.att
        + o.ctc_weight * ctc
        + o.lm_weight * h.lm
        + o.word_bonus * n_words
    )


def lm_beam_decode(
    backend: Backend,
    cross: CrossAttention,
    cap: int,
    lm: WordLM,
    vocab: list[str],
    options: LMSearchOptions = LMSearchOptions(),
    logprobs: list[float] | None = None,
) -> tuple[list[int], int]:
    """The best hypothesis's token ids after bos (eos excluded) and the decoder calls made.

    `vocab` maps token ids to their strings (a character tokenizer: " " separates words).
    Needs cross.ctc (the CTC prefix score). `logprobs`, if given, is filled as greedy_decode
    fills it: the attention log-probability of each returned id, then of eos after them."""
    if cross.ctc is None:
        raise ValueError("LM beam search needs a bundle with CTC log-probs")
    if not spells_words(vocab):
        raise ValueError("LM beam search needs a character vocabulary with a space token")
    o = options
    space = vocab.index(" ")
    scorer = CtcPrefixScorer(cross.ctc)
    live = [_Hyp([C.BOS_ID], 0.0, scorer.initial(), cache=backend.empty_cache())]
    ended: list[_Hyp] = []
    calls = 0
    for step in range(cap + 1):
        cands: list[_Hyp] = []
        for h in live:
            k, v = h.cache
            tokens = np.array([[h.tokens[-1]]], dtype=np.int64)
            logits, k, v = backend.decode_step(tokens, step, k, v, cross)
            calls += 1
            lp = log_softmax(logits[0, -1])  # (V,)
            order = [int(i) for i in np.argsort(-lp, kind="stable")[: o.top_k]]
            letters = [c for c in order if c not in SPECIAL_IDS]
            if step >= cap:
                letters = []  # the cap: only eos
            states = (
                dict(zip(letters, scorer.extend(h.ctc, np.array(letters, np.int64))))
                if letters
                else {}
            )
            for c, state in states.items():
                if c == space and not h.partial:
                    continue  # no empty words
                child = replace(
                    h,
                    tokens=[*h.tokens, c],
                    att=h.att + float(lp[c]),
                    ctc=state,
                    cache=(k, v),
                    token_lps=(*h.token_lps, float(lp[c])),
                )
                if c == space:
                    _complete(child, lm, o)
                else:
                    _spell(child, vocab[c], lm, o)
                if loop_cut(child.tokens[1:]) is not None:
                    continue  # a loop: greedy search would stop here; the beam drops it
                child.score = _total(child, state.score, o)
                cands.append(child)
            # eos: the partial word completes, then the sentence ends
            eos = float(lp[C.EOS_ID])
            end = replace(h, att=h.att + eos, cache=None, done=True, token_lps=(*h.token_lps, eos))
            if end.partial:
                _complete(end, lm, o)
            end.lm += lm.end_logprob(end.words)
            end.score = _total(end, scorer.full(h.ctc), o)
            cands.append(end)
        cands.sort(key=lambda x: -x.score)
        ended += [c for c in cands if c.done]
        live = [c for c in cands if not c.done][: o.beam]
        live = [c for c in live if c.score >= live[0].score - o.margin] if live else live
        best_end = max(e.score for e in ended)
        if not live or best_end > live[0].score + o.word_bonus:
            break  # no live hypothesis can catch up (scores only fall, but for the bonus)
    # Every step offers eos and the step at the cap offers nothing else: something ended.
    best = max(ended, key=lambda x: x.score)
    if logprobs is not None:
        logprobs[:] = list(best.token_lps)
    return best.tokens[1:], calls


def spells_words(vocab: list[str]) -> bool:
    """Whether a vocabulary spells words letter by letter with a space token between them
    (the search's assumption); a BPE vocabulary does not."""
    ordinary = [t for i, t in enumerate(vocab) if i not in SPECIAL_IDS]
    return " " in ordinary and all(len(t) == 1 for t in ordinary)


def _spell(h: _Hyp, letter: str, lm: WordLM, o: LMSearchOptions) -> None:
    h.partial += letter
    if not h.partial_oov and not lm.is_prefix(h.partial):
        h.partial_oov = True
        h.lm += o.oov_logprob


def _complete(h: _Hyp, lm: WordLM, o: LMSearchOptions) -> None:
    word = h.partial
    score = None if h.partial_oov else lm.logprob(word, h.words)
    if score is None and not h.partial_oov:
        score = o.oov_logprob  # a prefix of vocabulary words, but not itself one
    h.lm += score if score is not None else 0.0
    h.words = (*h.words, word)
    h.partial, h.partial_oov = "", False
