"""A word language model for the runtime's final search: PocketSphinx's general English trigram.

The acoustic model spells words letter by letter; on voices it never heard it spells them
the way they sound ("denner", "chere"). A word n-gram model over general English knows which
spellings are words and which words follow which, as any recogniser's decoder does. We do
not ship one (a 27 MB model is no part of a 10 MB bundle, and nothing taken from another
project is committed here): `PocketSphinxLM` reads the trigram that the `pocketsphinx`
package installs (CMU's en-us.lm.bin, 72 547 words, BSD licence) through that package's
NGramModel, in C, ~0.5 µs a query. Its vocabulary is the pronouncing dictionary's words that
the model knows (cmudict-en-us.dict, shipped beside it).

`WordLM` is what the search (echo_edge.runtime.lm_search) needs of any word model: natural-log
P(word | the two words before), P(end of sentence | them), whether a word is known and whether
a partial word can still become one.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from functools import cache, cached_property

LOG_BASE = 1.0001  # PocketSphinx's LogMath base: its scores are log_1.0001 probabilities
OOV_SCORE = -536870912  # what NGramModel.prob returns for a word outside its vocabulary


class LMUnavailable(RuntimeError):
    """No word language model here (the pocketsphinx package is not installed)."""


class WordLM:
    """Natural-log word probabilities given up to two previous words."""

    def logprob(self, word: str, history: Sequence[str]) -> float | None:
        """ln P(word | history), None when `word` is outside the vocabulary."""
        raise NotImplementedError

    def end_logprob(self, history: Sequence[str]) -> float:
        """ln P(end of sentence | history)."""
        raise NotImplementedError

    def known(self, word: str) -> bool:
        raise NotImplementedError

    def is_prefix(self, partial: str) -> bool:
        """Whether some vocabulary word starts with `partial`."""
        raise NotImplementedError


class PocketSphinxLM(WordLM):
    """CMU's general English trigram, read through the pocketsphinx package."""

    def __init__(self, model_dir: str | None = None) -> None:
        try:
            import pocketsphinx
        except ImportError as e:
            raise LMUnavailable(
                "the word language model needs the pocketsphinx package "
                "(pip install 'echo-edge[lm]')"
            ) from e
        base = model_dir or os.path.join(pocketsphinx.get_model_path(), "en-us")
        self._lm_path = os.path.join(base, "en-us.lm.bin")
        self._dict_path = os.path.join(base, "cmudict-en-us.dict")
        for path in (self._lm_path, self._dict_path):
            if not os.path.isfile(path):
                raise LMUnavailable(f"pocketsphinx's English model is missing: {path}")
        self._model = pocketsphinx.NGramModel.readfile(self._lm_path)
        self._scale = math.log(LOG_BASE)

    def _prob(self, words: list[str]) -> float | None:
        # NGramModel.prob takes the word first, then its history, nearest first.
        raw = self._model.prob(words)
        return None if raw <= OOV_SCORE else raw * self._scale

    def logprob(self, word: str, history: Sequence[str]) -> float | None:
        if word not in self.vocabulary:
            return None
        return self._prob([word, *_context(history)])

    def end_logprob(self, history: Sequence[str]) -> float:
        value = self._prob(["</s>", *_context(history)])
        return value if value is not None else 0.0

    @cached_property
    def vocabulary(self) -> frozenset[str]:
        words = set()
        with open(self._dict_path, encoding="utf-8") as f:
            for line in f:
                head = line.split(maxsplit=1)[0] if line.strip() else ""
                word = head.split("(", 1)[0]  # "read(2)": a second pronunciation
                if word and self._prob([word]) is not None:
                    words.add(word)
        return frozenset(words)

    @cached_property
    def prefixes(self) -> frozenset[str]:
        return frozenset(w[:i] for w in self.vocabulary for i in range(1, len(w) + 1))

    def known(self, word: str) -> bool:
        return word in self.vocabulary

    def is_prefix(self, partial: str) -> bool:
        return partial in self.prefixes


def _context(history: Sequence[str]) -> list[str]:
    """The trigram's history, nearest word first; <s> where the sentence starts."""
    last = list(history[-2:])[::-1]
    return last if len(last) == 2 else [*last, "<s>"]


@cache
def default_lm() -> WordLM:
    """The runtime's word model, loaded once per process (LMUnavailable where it cannot be)."""
    return PocketSphinxLM()


def lm_available() -> bool:
    """Whether the runtime's word model loads here (the pocketsphinx package and its model)."""
    try:
        default_lm()
    except LMUnavailable:
        return False
    return True
