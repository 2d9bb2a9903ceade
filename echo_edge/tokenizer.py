"""EchoTokenizer: character-level (default) or BPE, stored as a Hugging Face tokenizer.json.

Special ids are fixed across every vocabulary: [pad]=0, [bos]=1, [eos]=2, [unk]=3.
Text is normalised with `echo_edge.text.normalize_text` before encoding, so after the
specials the alphabet is space, apostrophe and a-z. Torch-free (only `tokenizers`):
the runtime loads the same file.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

from echo_edge.constants import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from echo_edge.text import normalize_text

PAD, BOS, EOS, UNK = "[pad]", "[bos]", "[eos]", "[unk]"
SPECIAL_TOKENS = [PAD, BOS, EOS, UNK]  # index == id
ALPHABET = [" ", "'", *string.ascii_lowercase]
DEFAULT_TOKENIZER_PATH = Path(__file__).parent / "assets" / "tokenizer.json"
# BPE words carry their leading space (" the"), so decoding is plain concatenation.
_WORD_PATTERN = Regex(r" ?[^ ]+| +")

assert [PAD_ID, BOS_ID, EOS_ID, UNK_ID] == [0, 1, 2, 3]


class EchoTokenizer:
    """A thin wrapper over `tokenizers.Tokenizer` with Echo's normaliser and special ids."""

    pad_id = PAD_ID
    bos_id = BOS_ID
    eos_id = EOS_ID
    unk_id = UNK_ID

    def __init__(self, tokenizer: Tokenizer) -> None:
        for token, expected in zip(SPECIAL_TOKENS, (PAD_ID, BOS_ID, EOS_ID, UNK_ID)):
            actual = tokenizer.token_to_id(token)
            if actual != expected:
                raise ValueError(f"tokenizer has {token} at id {actual}, expected {expected}")
        self.tokenizer = tokenizer
        self._special = set(range(len(SPECIAL_TOKENS)))

    @classmethod
    def from_file(cls, path: str | Path) -> EchoTokenizer:
        """Load a tokenizer.json written by `save` (or by any tool keeping our special ids)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"tokenizer file not found: {path}")
        return cls(Tokenizer.from_file(str(path)))

    @classmethod
    def from_str(cls, json_text: str) -> EchoTokenizer:
        """Load from the JSON text of a tokenizer.json (e.g. read from a bundle)."""
        return cls(Tokenizer.from_str(json_text))

    def save(self, path: str | Path) -> None:
        """Write tokenizer.json (pretty-printed, so diffs stay readable)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save(str(path), pretty=True)

    def to_str(self) -> str:
        """The tokenizer.json text."""
        return self.tokenizer.to_str()

    @property
    def vocab_size(self) -> int:
        """Number of ids, specials included."""
        return self.tokenizer.get_vocab_size(with_added_tokens=True)

    @property
    def kind(self) -> str:
        """Vocabulary type: "char" when every non-special token is one character, else "bpe"."""
        vocab = self.tokenizer.get_vocab(with_added_tokens=False)
        return "char" if all(len(t) == 1 for t in vocab if t not in SPECIAL_TOKENS) else "bpe"

    def encode(self, text: str, normalize: bool = True) -> list[int]:
        """Token ids of `text`, without specials.

        With `normalize` (the default) the text goes through `normalize_text` first, so
        characters outside the alphabet are transliterated or dropped and [unk] never
        appears; with `normalize=False` an out-of-alphabet character becomes [unk].
        """
        if normalize:
            text = normalize_text(text)
        if not text:
            return []
        return list(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def decode(self, ids: Iterable[int]) -> str:
        """Text of `ids`: stops at the first [eos], drops other specials and negative ids (-100)."""
        kept: list[int] = []
        for i in ids:
            i = int(i)
            if i == EOS_ID:
                break
            if i >= 0 and i not in self._special:
                kept.append(i)
        return self.tokenizer.decode(kept, skip_special_tokens=True)

    def decode_batch(self, rows: Iterable[Iterable[int]]) -> list[str]:
        """`decode` for each row of a batch (a list of lists, an array or a tensor)."""
        return [self.decode(row) for row in rows]

    def token(self, i: int) -> str:
        """The token string of one id."""
        token = self.tokenizer.id_to_token(int(i))
        if token is None:
            raise IndexError(f"id {i} outside a vocabulary of {self.vocab_size}")
        return token

    def __len__(self) -> int:
        return self.vocab_size

    def __repr__(self) -> str:
        return f"EchoTokenizer(kind={self.kind!r}, vocab_size={self.vocab_size})"


def _with_pipeline(tokenizer: Tokenizer, split_words: bool) -> Tokenizer:
    """No normaliser in the JSON (Python normalises); concatenating decoder."""
    if split_words:
        tokenizer.pre_tokenizer = pre_tokenizers.Split(_WORD_PATTERN, behavior="isolated")
    tokenizer.decoder = decoders.Fuse()
    return tokenizer


def build_char_tokenizer() -> EchoTokenizer:
    """The default vocabulary: 4 specials, space, apostrophe, a-z (32 ids)."""
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS + ALPHABET)}
    model = models.BPE(vocab=vocab, merges=[], unk_token=UNK)
    tokenizer = Tokenizer(model)
    tokenizer.add_special_tokens(SPECIAL_TOKENS)
    return EchoTokenizer(_with_pipeline(tokenizer, split_words=False))


def train_bpe(texts: Iterable[str], vocab_size: int) -> EchoTokenizer:
    """Train a BPE vocabulary of `vocab_size` ids (specials and the 28 characters included)
    on normalised `texts`."""
    minimum = len(SPECIAL_TOKENS) + len(ALPHABET)
    if vocab_size < minimum:
        raise ValueError(f"BPE vocab_size must be at least {minimum}, got {vocab_size}")
    tokenizer = _with_pipeline(Tokenizer(models.BPE(unk_token=UNK)), split_words=True)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=ALPHABET,
        limit_alphabet=len(ALPHABET),
        show_progress=False,
    )
    normalised = (t for t in (normalize_text(x) for x in texts) if t)
    tokenizer.train_from_iterator(normalised, trainer=trainer)
    return EchoTokenizer(tokenizer)


def default_tokenizer() -> EchoTokenizer:
    """The shipped tokenizer (echo_edge/assets/tokenizer.json, character-level)."""
    return EchoTokenizer.from_file(DEFAULT_TOKENIZER_PATH)


def write_default_tokenizer(path: str | Path = DEFAULT_TOKENIZER_PATH) -> Path:
    """Regenerate the shipped tokenizer.json: `python -m echo_edge.tokenizer`."""
    build_char_tokenizer().save(path)
    return Path(path)


if __name__ == "__main__":
    print(write_default_tokenizer())
