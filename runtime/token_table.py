"""The runtime's reader of tokenizer.json: ids -> text without the `tokenizers` package.

The runtime only decodes, and Echo's vocabularies decode by concatenation: a BPE model (the
character vocabulary is a BPE with no merges) with no subword prefix or word suffix, no byte
fallback, and a Fuse decoder; BPE words carry their own leading space. Reading the file's
vocabulary and joining tokens is all that takes, so a device does not install `tokenizers`
(and the huggingface_hub, httpx and hf-xet it pulls in) for a character table. A file that
needs more than concatenation to decode is refused with one line, never decoded wrongly.
The reference (echo_edge/tokenizer.py) keeps `tokenizers` for training: both read the same
file, and tests/test_token_table.py checks they decode alike.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from echo_edge import constants as C

SPECIAL_TOKENS = ("[pad]", "[bos]", "[eos]", "[unk]")  # id == index, as in echo_edge/tokenizer.py
DECODERS = (None, "Fuse")  # decoders whose output is the concatenation of the tokens


class TokenTableError(ValueError):
    """A tokenizer.json the runtime cannot decode with, in one line."""


class TokenTable:
    """id -> token string of an Echo tokenizer.json; `decode` joins the non-special tokens."""

    pad_id, bos_id, eos_id, unk_id = C.PAD_ID, C.BOS_ID, C.EOS_ID, C.UNK_ID

    def __init__(self, tokens: list[str]) -> None:
        for i, special in enumerate(SPECIAL_TOKENS):
            if i >= len(tokens) or tokens[i] != special:
                got = tokens[i] if i < len(tokens) else None
                raise TokenTableError(f"id {i} must be {special}, got {got!r}")
        self.tokens = tokens
        self.special = set(range(len(SPECIAL_TOKENS)))

    @classmethod
    def from_file(cls, path: str | Path) -> TokenTable:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise TokenTableError(f"{path}: unreadable tokenizer.json ({e})") from None
        try:
            return cls.from_json(data)
        except TokenTableError as e:
            raise TokenTableError(f"{path}: {e}") from None

    @classmethod
    def from_json(cls, data: object) -> TokenTable:
        """Check that `data` (a parsed tokenizer.json) decodes by concatenation; read its ids."""
        if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
            raise TokenTableError("not a tokenizer.json (no model object)")
        model = data["model"]
        if model.get("type") != "BPE":
            raise TokenTableError(f"model type {model.get('type')!r}; this runtime reads BPE")
        for key in ("continuing_subword_prefix", "end_of_word_suffix"):
            if model.get(key):
                raise TokenTableError(f"model.{key} {model[key]!r} is not supported")
        if model.get("byte_fallback"):
            raise TokenTableError("byte_fallback vocabularies are not supported")
        decoder = (data.get("decoder") or {}).get("type") if data.get("decoder") else None
        if decoder not in DECODERS:
            raise TokenTableError(f"decoder {decoder!r} is not supported (only Fuse)")
        vocab = model.get("vocab")
        if not isinstance(vocab, dict):
            raise TokenTableError("model.vocab is not an object")
        by_id: dict[int, str] = {}
        entries = list(vocab.items())
        entries += [(t.get("content"), t.get("id")) for t in data.get("added_tokens") or []]
        for token, i in entries:
            if not isinstance(token, str) or isinstance(i, bool) or not isinstance(i, int):
                raise TokenTableError(f"bad vocabulary entry {token!r}: {i!r}")
            if by_id.setdefault(i, token) != token:
                raise TokenTableError(f"id {i} is both {by_id[i]!r} and {token!r}")
        if sorted(by_id) != list(range(len(by_id))):
            raise TokenTableError("ids are not 0..N-1 without gaps")
        return cls([by_id[i] for i in range(len(by_id))])

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def decode(self, ids: Iterable[int]) -> str:
        """Text of `ids`: stops at the first [eos], drops other specials and out-of-range ids."""
        parts = []
        for i in ids:
            i = int(i)
            if i == self.eos_id:
                break
            if 0 <= i < len(self.tokens) and i not in self.special:
                parts.append(self.tokens[i])
        return "".join(parts)

    def __len__(self) -> int:
        return self.vocab_size
