"""The repetition guard of greedy decoding, shared by the reference and the torch-free runtime.

An attention decoder that loses its place in the audio tends to loop: "moved to moved to
moved to ...", or one letter over and over, until the token cap. Greedy search stops as
soon as the hypothesis ends in a unit of tokens repeated back to back and keeps one copy of
the unit. A unit of LONG_UNIT tokens or more (characters: two words or a long one) must
occur LONG_REPEATS times; a shorter one SHORT_REPEATS times, because real text repeats
short words: "zero zero zero zero" in a phone number, "twenty twenty twenty two" in a date.
With these values the guard fires on none of 37,267 corpus and generator sentences and cuts
the shipped model's test WER by 3.4 points (see the README).

Plain Python: the runtime imports it on devices without torch. Because greedy search is
deterministic, stopping early here gives exactly the transcript that `trim` gives on the
unguarded hypothesis, which is how the tests check the decoders.
"""

from __future__ import annotations

from collections.abc import Sequence

LONG_UNIT = 8  # tokens (characters): "moved to " is 9, "twenty " 7
LONG_REPEATS = 3
SHORT_REPEATS = 5  # a unit shorter than LONG_UNIT must occur this many times in a row
MAX_UNIT = 40  # longest unit looked for: a few words of characters


def loop_cut(ids: Sequence[int]) -> int | None:
    """If `ids` ends in a loop, the length to keep (one copy of the unit); else None."""
    n = len(ids)
    for unit in range(1, min(MAX_UNIT, n // LONG_REPEATS) + 1):
        if ids[n - 1] != ids[n - 1 - unit]:
            continue  # cheap rejection: most units fail here
        repeats = LONG_REPEATS if unit >= LONG_UNIT else SHORT_REPEATS
        span = unit * repeats
        if span > n:
            continue
        tail = list(ids[n - unit :])
        if all(list(ids[n - k * unit : n - (k - 1) * unit]) == tail for k in range(2, repeats + 1)):
            return n - span + unit
    return None


def append_or_stop(ids: list[int], token: int) -> bool:
    """Append a generated token; if `ids` now ends in a loop, cut it to one copy (in place)
    and return True: the search stops there."""
    ids.append(token)
    cut = loop_cut(ids)
    if cut is None:
        return False
    del ids[cut:]
    return True


def first_cut(ids: Sequence[int]) -> int | None:
    """The cut where guarded greedy search would have stopped inside `ids`, or None."""
    for end in range(1, len(ids) + 1):
        cut = loop_cut(ids[:end])
        if cut is not None:
            return cut
    return None


def trim(ids: Sequence[int]) -> list[int]:
    """The hypothesis greedy search with the guard returns, given the unguarded one."""
    cut = first_cut(ids)
    return list(ids if cut is None else ids[:cut])
