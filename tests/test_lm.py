"""The word-LM beam search (runtime/lm_search.py) on a scripted decoder and a hand-made word
model, PocketSphinx's trigram behind WordLM (runtime/lm.py), and the Recognizer's fallbacks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from echo_edge import constants as C
from echo_edge.runtime.backend import CrossAttention
from echo_edge.runtime.lm import LMUnavailable, WordLM
from echo_edge.runtime.lm_search import LMSearchOptions, lm_beam_decode, spells_words

VOCAB = ["[pad]", "[bos]", "[eos]", "[unk]", " ", "'", *"abcdefghijklmnopqrstuvwxyz"]


class ScriptedDecoder:
    """A decoder whose next-token log-probs follow a few scored spellings: after a history
    that starts one of them, that spelling's next letter (or eos at its end) gets the
    spelling's score; everything else -20. The cache carries the history (the search hands
    each hypothesis its own)."""

    def __init__(self, spellings: dict[str, float]) -> None:
        self.spellings = spellings
        self.calls = 0

    def empty_cache(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(0, np.int64), np.zeros(0)

    def decode_step(self, tokens, offset, self_k, self_v, cross):  # noqa: ANN001, ANN201
        self.calls += 1
        history = np.append(self_k, tokens[0, -1])
        assert len(history) == offset + 1  # the search feeds one token per position
        text = "".join(VOCAB[i] for i in history[1:])
        logits = np.full(len(VOCAB), -20.0)
        for spelling, score in self.spellings.items():
            if spelling.startswith(text):
                nxt = C.EOS_ID if len(text) == len(spelling) else VOCAB.index(spelling[len(text)])
                logits[nxt] = max(logits[nxt], score)
        return logits[None, None], history, self_v


class TableLM(WordLM):
    """Bigram log-probs from a table; any other known word -8; end of sentence -1."""

    def __init__(self, words: set[str], bigrams: dict[tuple[str, str], float]) -> None:
        self.words, self.bigrams = words, bigrams

    def logprob(self, word, history):  # noqa: ANN001, ANN201
        if word not in self.words:
            return None
        prev = history[-1] if history else "<s>"
        return self.bigrams.get((prev, word), -8.0)

    def end_logprob(self, history):  # noqa: ANN001, ANN201
        return -1.0

    def known(self, word):  # noqa: ANN001, ANN201
        return word in self.words

    def is_prefix(self, partial):  # noqa: ANN001, ANN201
        return any(w.startswith(partial) for w in self.words)


def uniform_ctc(frames: int = 60) -> CrossAttention:
    """CTC log-probs that favour no spelling (the tests weigh them 0)."""
    return CrossAttention(None, None, None, np.full((frames, len(VOCAB)), -np.log(len(VOCAB))))


def search(spellings, lm, **kw):  # noqa: ANN001, ANN201, ANN003
    decoder = ScriptedDecoder(spellings)
    options = LMSearchOptions(**{"ctc_weight": 0.0, "beam": 4, **kw})
    logprobs: list[float] = []
    ids, calls = lm_beam_decode(decoder, uniform_ctc(), 40, lm, VOCAB, options, logprobs)
    assert calls == decoder.calls
    return "".join(VOCAB[i] for i in ids), logprobs


LM = TableLM({"for", "dinner", "diner", "the"}, {("for", "dinner"): -2.0, ("for", "diner"): -9.0})


def test_without_the_lm_the_acoustic_best_wins() -> None:
    text, _ = search({"for denner": -0.1, "for dinner": -0.4}, LM, lm_weight=0.0, word_bonus=0.0)
    assert text == "for denner"


def test_the_lm_turns_a_misspelling_into_the_word() -> None:
    text, _ = search({"for denner": -0.1, "for dinner": -0.4}, LM, lm_weight=0.5)
    assert text == "for dinner"


def test_the_lm_context_picks_between_two_words() -> None:
    # Acoustically "diner" is a little better; after "for" the bigram prefers "dinner".
    spellings = {"for diner": -0.1, "for dinner": -0.3}
    assert search(spellings, LM, lm_weight=0.5)[0] == "for dinner"
    flat = TableLM(LM.words, {})
    assert search(spellings, flat, lm_weight=0.5)[0] == "for diner"


def test_logprobs_are_the_attention_log_probs_of_the_tokens_and_eos() -> None:
    text, logprobs = search({"for dinner": -0.25}, LM, lm_weight=0.5)
    assert text == "for dinner"
    assert len(logprobs) == len(text) + 1
    # each step: the letter's logit -0.25 against 31 others at -20
    assert np.allclose(logprobs, -np.log(1 + (len(VOCAB) - 1) * np.exp(-19.75)))


def test_the_search_stops_at_the_token_cap() -> None:
    decoder = ScriptedDecoder({"for dinner the dinner": -0.1})
    options = LMSearchOptions(ctc_weight=0.0, lm_weight=0.5)
    ids, _ = lm_beam_decode(decoder, uniform_ctc(), 6, LM, VOCAB, options)
    assert len(ids) <= 6


def test_the_search_needs_ctc_and_a_character_vocabulary() -> None:
    decoder = ScriptedDecoder({"for": 0.0})
    with pytest.raises(ValueError, match="CTC"):
        lm_beam_decode(decoder, CrossAttention(None, None, None, None), 8, LM, VOCAB)
    bpe = [*VOCAB[:4], "▁for", "▁the", "din", "ner"]
    assert not spells_words(bpe) and spells_words(VOCAB)
    with pytest.raises(ValueError, match="character"):
        lm_beam_decode(decoder, uniform_ctc(), 8, LM, bpe)


@pytest.mark.parametrize(
    ("field", "value", "needle"), [("lm_weight", -0.1, "lm_weight"), ("lm_weight", float("nan"),
                                   "lm_weight"), ("beam", 0, "beam")]
)  # fmt: skip
def test_decoding_options_refuse_bad_lm_settings(field: str, value: float, needle: str) -> None:
    from echo_edge.runtime.decoding import DecodingOptions

    with pytest.raises(ValueError, match=needle):
        DecodingOptions(**{field: value})


# ---- PocketSphinx's trigram --------------------------------------------------------------
def test_pocketsphinx_lm_knows_english_words_and_their_order() -> None:
    pytest.importorskip("pocketsphinx")
    from echo_edge.runtime.lm import default_lm

    lm = default_lm()
    assert lm.known("dinner") and not lm.known("denner")
    assert lm.is_prefix("dinn") and not lm.is_prefix("dnnr")
    assert lm.logprob("denner", ["for"]) is None
    assert lm.logprob("dinner", ["time", "for"]) > lm.logprob("dinner", ["time", "of"])
    assert lm.logprob("the", []) > lm.logprob("zulu", [])
    assert lm.end_logprob(["for", "dinner"]) > lm.end_logprob(["for", "the"])
    assert 50_000 < len(lm.vocabulary) < 200_000


def test_a_missing_pocketsphinx_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    from echo_edge.runtime.lm import PocketSphinxLM

    real = builtins.__import__

    def no_pocketsphinx(name, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if name == "pocketsphinx":
            raise ImportError("no module named pocketsphinx")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pocketsphinx)
    with pytest.raises(LMUnavailable, match=r"pip install 'echo-edge\[lm\]'"):
        PocketSphinxLM()


# ---- the Recognizer: LM finals, and the fallback to joint greedy --------------------------
def test_recognizer_falls_back_to_joint_greedy_without_the_lm(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("onnxruntime")
    from echo_edge.runtime import recognizer as rec_module
    from echo_edge.runtime.decoding import LM_WEIGHT, DecodingOptions
    from echo_edge.runtime.recognizer import Recognizer
    from tests.conftest import harmonic

    recognizer = Recognizer.default(threads=1)
    x = harmonic(1.5, seed=3)
    greedy = recognizer.recognize(x).tokens  # the default: joint greedy
    with_lm = DecodingOptions(lm_weight=LM_WEIGHT)

    def unavailable() -> WordLM:
        raise LMUnavailable("the word language model needs the pocketsphinx package")

    monkeypatch.setattr(rec_module, "default_lm", unavailable)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = recognizer.recognize(x, options=with_lm).tokens
        second = recognizer.recognize(x, options=with_lm).tokens
    said = [w for w in caught if "pocketsphinx" in str(w.message)]
    assert len(said) == 1 and "joint greedy" in str(said[0].message)
    assert first == second == greedy
    recognizer.close()


def test_transcribe_says_once_that_the_lm_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path, capsys: pytest.CaptureFixture
) -> None:  # noqa: ANN001
    pytest.importorskip("onnxruntime")
    import soundfile as sf

    from echo_edge.runtime import transcribe
    from tests.conftest import harmonic

    def unavailable() -> WordLM:
        raise LMUnavailable("the word language model needs the pocketsphinx package")

    monkeypatch.setattr(transcribe, "default_lm", unavailable)
    paths = []
    for i in range(2):
        paths.append(str(tmp_path / f"{i}.wav"))
        sf.write(paths[-1], harmonic(1.0, seed=i), C.SAMPLE_RATE)
    assert transcribe.main(["--lm", *paths]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if "pocketsphinx" in line]
    assert len(err) == 1 and err[0].startswith("echo-edge: warning:") and "joint greedy" in err[0]


def test_the_lm_is_off_unless_asked_for() -> None:
    from echo_edge.cli import Parser
    from echo_edge.decoding import DecodingOptions as ReferenceOptions
    from echo_edge.runtime.decoding import LM_WEIGHT, DecodingOptions
    from echo_edge.runtime.transcribe import add_transcribe_args

    assert DecodingOptions().lm_weight == ReferenceOptions().lm_weight == 0.0
    assert ReferenceOptions.like(DecodingOptions(lm_weight=0.7)).lm_weight == 0.7
    parser = add_transcribe_args(Parser(prog="t"))
    assert parser.parse_args(["a.wav"]).lm_weight == 0.0
    assert parser.parse_args(["--lm", "a.wav"]).lm_weight == LM_WEIGHT
    assert parser.parse_args(["--lm-weight", "0.6", "a.wav"]).lm_weight == 0.6


def test_the_margin_drops_hopeless_hypotheses() -> None:
    spellings = {"for dinner": -0.1, "for diner": -0.2, "the dinner": -3.0}
    wide = ScriptedDecoder(spellings)
    narrow = ScriptedDecoder(spellings)
    full = LMSearchOptions(ctc_weight=0.0, lm_weight=0.5, margin=float("inf"))
    pruned = LMSearchOptions(ctc_weight=0.0, lm_weight=0.5, margin=1.0)
    a, _ = lm_beam_decode(wide, uniform_ctc(), 40, LM, VOCAB, full)
    b, _ = lm_beam_decode(narrow, uniform_ctc(), 40, LM, VOCAB, pruned)
    assert a == b and "".join(VOCAB[i] for i in a) == "for dinner"
    assert narrow.calls < wide.calls
