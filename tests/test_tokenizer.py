"""EchoTokenizer: fixed special ids, char round trips, BPE, the shipped tokenizer.json."""

from __future__ import annotations

import json
import string
import subprocess
import sys
from pathlib import Path

import pytest

from echo_edge.constants import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from echo_edge.corpus.textgen import generate_sentences
from echo_edge.text import normalize_text
from echo_edge.tokenizer import (
    DEFAULT_TOKENIZER_PATH,
    EchoTokenizer,
    build_char_tokenizer,
    default_tokenizer,
    train_bpe,
)

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Don't panic: it's 10:30 and the ticket costs $4.50!",
    "Café au lait, s'il vous plaît.",
]


def test_special_ids_fixed() -> None:
    tok = build_char_tokenizer()
    assert (tok.pad_id, tok.bos_id, tok.eos_id, tok.unk_id) == (PAD_ID, BOS_ID, EOS_ID, UNK_ID)
    assert [tok.token(i) for i in range(4)] == ["[pad]", "[bos]", "[eos]", "[unk]"]
    assert tok.vocab_size == 4 + 2 + 26
    assert [tok.token(i) for i in range(4, tok.vocab_size)] == [" ", "'", *string.ascii_lowercase]


@pytest.mark.parametrize("text", SENTENCES)
def test_char_round_trip_is_normalised_text(text: str) -> None:
    tok = build_char_tokenizer()
    ids = tok.encode(text)
    assert all(4 <= i < tok.vocab_size for i in ids)  # no specials, no unk
    assert len(ids) == len(normalize_text(text))  # one id per character
    assert tok.decode(ids) == normalize_text(text)


def test_decode_drops_specials_and_stops_at_eos() -> None:
    tok = build_char_tokenizer()
    hi, there = tok.encode("hi"), tok.encode("there")
    assert tok.decode([BOS_ID, *hi, PAD_ID, EOS_ID, *there]) == "hi"
    assert tok.decode([*hi, -100, -100]) == "hi"  # label padding is ignored
    assert tok.decode_batch([[BOS_ID, *hi, EOS_ID], there]) == ["hi", "there"]


def test_unknown_characters() -> None:
    """With normalisation (default) nothing is unknown: accents are stripped, digits spelled,
    other symbols dropped. Without it, an out-of-alphabet character becomes [unk]."""
    tok = build_char_tokenizer()
    assert UNK_ID not in tok.encode("naïve 7 ☃")
    assert tok.decode(tok.encode("naïve 7 ☃")) == "naive seven"
    raw = tok.encode("a7é", normalize=False)
    assert raw == [tok.encode("a")[0], UNK_ID, UNK_ID]
    assert tok.decode(raw) == "a"


def test_bpe_trains_and_round_trips(tmp_path: Path) -> None:
    texts = generate_sentences(400, seed=3)
    tok = train_bpe(texts, vocab_size=120)
    assert tok.kind == "bpe" and tok.vocab_size == 120
    assert (tok.pad_id, tok.bos_id, tok.eos_id, tok.unk_id) == (0, 1, 2, 3)
    for text in texts[:50] + SENTENCES:
        ids = tok.encode(text)
        assert tok.decode(ids) == normalize_text(text)
    sample = " ".join(normalize_text(t) for t in texts[:50])
    assert len(tok.encode(sample)) < 0.7 * len(sample)  # merges shorten sequences
    tok.save(tmp_path / "bpe.json")
    again = EchoTokenizer.from_file(tmp_path / "bpe.json")
    assert again.encode(SENTENCES[0]) == tok.encode(SENTENCES[0])


def test_bpe_rejects_tiny_vocab() -> None:
    with pytest.raises(ValueError, match="at least"):
        train_bpe(["hello"], vocab_size=10)


def test_shipped_tokenizer_loads_and_matches_builder() -> None:
    assert DEFAULT_TOKENIZER_PATH.is_file()
    shipped = default_tokenizer()
    built = build_char_tokenizer()
    assert shipped.kind == "char"
    assert json.loads(shipped.to_str()) == json.loads(built.to_str())
    assert shipped.decode(shipped.encode(SENTENCES[1])) == normalize_text(SENTENCES[1])


def test_wrong_special_ids_rejected(tmp_path: Path) -> None:
    data = json.loads(build_char_tokenizer().to_str())
    vocab = data["model"]["vocab"]
    vocab["[pad]"], vocab["a"] = vocab["a"], vocab["[pad]"]
    for added in data["added_tokens"]:
        if added["content"] == "[pad]":
            added["id"] = vocab["[pad]"]
    with pytest.raises(ValueError, match=r"\[pad\]"):
        EchoTokenizer.from_str(json.dumps(data))


def test_missing_file_is_clear(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="tokenizer file not found"):
        EchoTokenizer.from_file(tmp_path / "nope.json")


def test_tokenizer_loads_without_torch() -> None:
    """The runtime has no torch: text + tokenizer must import and work with torch blocked."""
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from echo_edge.tokenizer import default_tokenizer\n"
        "t = default_tokenizer(); assert t.decode(t.encode('Hi 2')) == 'hi two'\n"
        "assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
