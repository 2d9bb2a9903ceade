"""Word times from a CTC forced alignment of a final transcript (numpy; torch-free).

The encoder's auxiliary CTC head (exported as the encoder graph's `ctc_logprobs` when the
model has one) gives log-probabilities per 50 Hz encoder frame over the vocabulary plus the
blank, which is the pad id (Echo.ctc_loss: pad never occurs in labels). `forced_align` finds
the single most likely CTC path (Viterbi over the usual trellis: blank, t1, blank, t2, ...,
tL, blank; a state moves on by one, or by two over a blank between two different tokens)
that spells exactly the given tokens, and returns each token's first and last frame.
`word_times` turns those into words: runs of tokens between whitespace tokens (a character
vocabulary's space; a BPE token's own leading space also starts a word), each from the first
frame of its first token to the end of the last frame of its last token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from echo_edge import constants as C

BLANK_ID = C.PAD_ID  # the CTC blank of Echo's head
FRAME_SECONDS = C.SAMPLES_PER_ENCODER_FRAME / C.SAMPLE_RATE  # one encoder frame: 20 ms
assert abs(FRAME_SECONDS - 0.02) < 1e-12


@dataclass(frozen=True)
class Word:
    """One word of a final result; times in seconds from the stream start."""

    text: str
    start: float
    end: float


def min_frames(tokens: Sequence[int]) -> int:
    """The fewest frames a CTC path of `tokens` needs: one per token, one blank per repeat."""
    repeats = sum(a == b for a, b in zip(tokens, tokens[1:]))
    return len(tokens) + repeats


def forced_align(logprobs: np.ndarray, tokens: Sequence[int]) -> list[tuple[int, int]] | None:
    """Viterbi CTC alignment of `tokens` to log-probs (S, V) -> per token (first, last) frame.

    None when no path exists: more tokens (and blanks between repeats) than frames, or a
    token that is the blank itself or outside the vocabulary."""
    tokens = [int(t) for t in tokens]
    frames, vocab = logprobs.shape
    if not tokens:
        return []
    if any(t == BLANK_ID or not 0 <= t < vocab for t in tokens) or min_frames(tokens) > frames:
        return None
    ext = np.full(2 * len(tokens) + 1, BLANK_ID, dtype=np.int64)  # (E,) blank, t1, blank, ...
    ext[1::2] = tokens
    states = len(ext)
    # A skip (s - 2 -> s) passes over one blank: allowed into a token unlike the one before.
    skip = np.zeros(states, dtype=bool)
    skip[3::2] = ext[3::2] != ext[1:-2:2]
    emit = logprobs.astype(np.float64)[:, ext]  # (S, E)
    no_skip = ~skip[2:]
    alpha = np.full(states, -np.inf)
    alpha[:2] = emit[0, :2]
    back = np.zeros((frames, states), dtype=np.int8)  # how far each state stepped: 0, 1, 2
    moves = np.full((3, states), -np.inf)  # (stay, step, skip) scores into each state
    columns = np.arange(states)
    for t in range(1, frames):
        moves[0] = alpha
        moves[1, 1:] = alpha[:-1]
        moves[2, 2:] = alpha[:-2]
        moves[2, 2:][no_skip] = -np.inf
        back[t] = moves.argmax(0)
        alpha = moves[back[t], columns] + emit[t]
    last = states - 1 if alpha[-1] >= alpha[-2] else states - 2
    if not np.isfinite(alpha[last]):
        return None
    path = np.empty(frames, dtype=np.int64)  # (S,) the state of each frame
    for t in range(frames - 1, -1, -1):
        path[t] = last
        last -= int(back[t, last])
    spans = []
    for j in range(len(tokens)):
        hits = np.flatnonzero(path == 2 * j + 1)
        spans.append((int(hits[0]), int(hits[-1])))
    return spans


def word_times(
    tokens: Sequence[int],
    texts: Sequence[str],
    logprobs: np.ndarray,
    offset: float = 0.0,
    limit: float | None = None,
) -> tuple[Word, ...]:
    """Words of `tokens` with times from their CTC alignment; () when none is possible.

    `texts[i]` is token id i's string (TokenTable.tokens); `offset` is the time of the first
    encoder frame; word ends are clipped to `limit` (the end of the utterance's audio)."""
    spans = forced_align(logprobs, tokens)
    if not spans:
        return ()
    words: list[Word] = []
    text, first, last = "", -1, -1

    def close() -> None:
        if text:
            end = offset + (last + 1) * FRAME_SECONDS
            end = end if limit is None else min(end, limit)
            words.append(Word(text, offset + first * FRAME_SECONDS, end))

    for token, (a, b) in zip(tokens, spans):
        piece = texts[token] if token > C.UNK_ID else ""  # specials (unk) spell nothing
        if piece[:1].isspace():  # a space, or a BPE word with its own leading space
            close()
            text = ""
        if not text:
            first = a
        text += piece.strip()
        last = b
    close()
    return tuple(words)
