"""The runtime's tokenizer.json reader decodes exactly like the reference `tokenizers` path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from echo_edge.runtime.token_table import TokenTable, TokenTableError
from echo_edge.tokenizer import (
    DEFAULT_TOKENIZER_PATH,
    EchoTokenizer,
    build_char_tokenizer,
    train_bpe,
)

TEXTS = [
    "the quick brown fox jumps over the lazy dog",
    "please turn the kitchen lights off at ten thirty",
    "seven hundred and forty two people came to the meeting",
    "it's the dog's bone isn't it",
] * 5


def random_ids(rng: np.random.Generator, vocab: int, rows: int = 200) -> list[list[int]]:
    """Id rows with specials (eos included) scattered among ordinary tokens."""
    return [list(rng.integers(0, vocab, size=rng.integers(0, 40))) for _ in range(rows)]


@pytest.mark.parametrize("kind", ["char", "bpe", "shipped"])
def test_token_table_decodes_like_the_reference(kind: str, tmp_path: Path, rng) -> None:
    if kind == "char":
        reference = build_char_tokenizer()
    elif kind == "bpe":
        reference = train_bpe(TEXTS, vocab_size=80)
    else:
        reference = EchoTokenizer.from_file(DEFAULT_TOKENIZER_PATH)
    path = tmp_path / "tokenizer.json"
    reference.save(path)
    table = TokenTable.from_file(path)
    assert table.vocab_size == reference.vocab_size
    rows = random_ids(rng, reference.vocab_size)
    assert [table.decode(r) for r in rows] == [reference.decode(r) for r in rows]
    ids = reference.encode(TEXTS[3])
    assert table.decode(ids) == TEXTS[3]


def test_token_table_refuses_what_it_cannot_decode(tmp_path: Path) -> None:
    data = json.loads(build_char_tokenizer().to_str())
    cases = {
        "decoder": {**data, "decoder": {"type": "WordPiece", "prefix": "##"}},
        "model type": {**data, "model": {**data["model"], "type": "Unigram"}},
        "byte_fallback": {**data, "model": {**data["model"], "byte_fallback": True}},
        "continuing_subword_prefix": {
            **data,
            "model": {**data["model"], "continuing_subword_prefix": "##"},
        },
    }
    for word, broken in cases.items():
        with pytest.raises(TokenTableError, match=word):
            TokenTable.from_json(broken)
    swapped = {**data, "model": {**data["model"], "vocab": {"[bos]": 0, "[pad]": 1}}}
    with pytest.raises(TokenTableError, match="id 0 must be"):
        TokenTable.from_json({**swapped, "added_tokens": []})
    bad = tmp_path / "tokenizer.json"
    bad.write_bytes(b"\xff\xfe not json")
    with pytest.raises(TokenTableError, match="tokenizer.json"):
        TokenTable.from_file(bad)
