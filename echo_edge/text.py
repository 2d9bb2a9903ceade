"""The one text normaliser: training targets, synthesiser input and every WER go through it.

`verbalize` spells numbers, money, times and symbols out as words but keeps case and
sentence punctuation (it is what the synthesiser reads, so audio and label agree);
`normalize_text` then lowercases and strips everything outside a-z, apostrophe and space.
Torch-free: the runtime imports it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen"
).split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
SCALES = "_ thousand million billion trillion quadrillion quintillion".split()
ORDINAL_IRREGULAR = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}
SYMBOLS = {
    "%": " percent ",
    "&": " and ",
    "+": " plus ",
    "=": " equals ",
    "@": " at ",
    "°": " degrees ",
    "#": " number ",
}
CURRENCIES = {"$": ("dollar", "cent"), "£": ("pound", "penny"), "€": ("euro", "cent")}
ABBREVIATIONS = {
    "mr": "mister",
    "mrs": "missus",
    "dr": "doctor",
    "vs": "versus",
    "etc": "et cetera",
}
FRACTIONS = {(1, 2): "one half", (1, 4): "one quarter", (3, 4): "three quarters"}
LETTER_MAP = {"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th"}
APOSTROPHES = "\u2018\u2019\u02bc\u0060\u00b4"

_ALLOWED = re.compile(r"[^a-z' ]+")
_SPACES = re.compile(r"\s+")


def number_to_words(n: int) -> str:
    """Cardinal words for an integer, American style (no "and"): 1205 -> one thousand two hundred five."""
    if n < 0:
        return "minus " + number_to_words(-n)
    if n < 20:
        return ONES[n]
    if n < 100:
        tens, rest = divmod(n, 10)
        return TENS[tens] + (" " + ONES[rest] if rest else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return ONES[hundreds] + " hundred" + (" " + number_to_words(rest) if rest else "")
    if n >= 1000 ** len(SCALES):
        return digits_to_words(str(n))
    words: list[str] = []
    for power in range(len(SCALES) - 1, 0, -1):
        chunk, n = divmod(n, 1000**power)
        if chunk:
            words.append(number_to_words(chunk) + " " + SCALES[power])
    if n:
        words.append(number_to_words(n))
    return " ".join(words)


def ordinal_words(n: int) -> str:
    """Ordinal words: 21 -> twenty first, 100 -> one hundredth."""
    *head, last = number_to_words(n).split(" ")
    if last in ORDINAL_IRREGULAR:
        last = ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return " ".join([*head, last])


def year_words(n: int) -> str:
    """Year reading: 1984 -> nineteen eighty four, 1900 -> nineteen hundred, 2005 -> two thousand five."""
    if 2000 <= n <= 2009 or not 1100 <= n <= 9999 or n % 1000 == 0:
        return number_to_words(n)
    century, rest = divmod(n, 100)
    if rest == 0:
        return number_to_words(century) + " hundred"
    if rest < 10:
        return number_to_words(century) + " oh " + ONES[rest]
    return number_to_words(century) + " " + number_to_words(rest)


def digits_to_words(digits: str) -> str:
    """Digit by digit: "0071" -> zero zero seven one."""
    return " ".join(ONES[int(d)] for d in digits if d.isdigit())


def _integer(text: str) -> str:
    """Words for a bare digit run: codes with a leading zero and very long runs digit by digit,
    plausible years as years, everything else as a cardinal."""
    if (len(text) > 1 and text[0] == "0") or len(text) > 18:
        return digits_to_words(text)
    n = int(text)
    if len(text) == 4 and 1100 <= n <= 2099:
        return year_words(n)
    return number_to_words(n)


def _money(m: re.Match[str]) -> str:
    unit, sub_unit = CURRENCIES[m.group(1)]
    whole = int(m.group(2).replace(",", ""))
    cents = int(m.group(3).ljust(2, "0")) if m.group(3) else 0
    scale = m.group(4)
    if scale:
        amount = number_to_words(whole) + (" point " + digits_to_words(m.group(3)) if cents else "")
        return f" {amount} {scale.lower()} {unit}s "
    parts = []
    if whole or not cents:
        parts.append(f"{number_to_words(whole)} {unit}" + ("" if whole == 1 else "s"))
    if cents:
        plural = "pence" if sub_unit == "penny" else sub_unit + "s"
        parts.append(f"{number_to_words(cents)} {sub_unit if cents == 1 else plural}")
    return " " + " and ".join(parts) + " "


def _time(m: re.Match[str]) -> str:
    hour, minute, suffix = int(m.group(1)), int(m.group(2) or 0), m.group(3)
    words = number_to_words(hour)
    if minute == 0 and not suffix and m.group(2):
        words += " o'clock"
    elif 0 < minute < 10:
        words += " oh " + ONES[minute]
    elif minute:
        words += " " + number_to_words(minute)
    if suffix:
        words += " " + " ".join(suffix.replace(".", "").upper())
    return f" {words} "


def _digit_groups(m: re.Match[str]) -> str:
    """Phone numbers and codes ("555-0134") digit by digit; short ranges ("10-20") as numbers."""
    groups = re.findall(r"\d+", m.group(0))
    if len(groups) >= 3 or max(len(g) for g in groups) >= 3:
        return " " + " ".join(digits_to_words(g) for g in groups) + " "
    return " " + " ".join(_integer(g) for g in groups) + " "


def _decade(m: re.Match[str]) -> str:
    """Decades and plural numbers: 1990s -> nineteen nineties, '80s -> eighties."""
    digits = m.group(1)
    head, _, last = (
        year_words(int(digits)) if len(digits) == 4 else number_to_words(int(digits))
    ).rpartition(" ")
    last = last[:-1] + "ies" if last.endswith("y") else last + "s"
    return f" {head} {last} "


def _fraction(m: re.Match[str]) -> str:
    num, den = int(m.group(1)), int(m.group(2))
    if (num, den) in FRACTIONS:
        return " " + FRACTIONS[(num, den)] + " "
    return f" {number_to_words(num)} over {number_to_words(den)} "


def _decimal(m: re.Match[str]) -> str:
    whole, frac = m.group(1), m.group(2)
    head = number_to_words(int(whole.replace(",", ""))) if whole else ""
    return f" {head} point {digits_to_words(frac)} "


_RULES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"(?:(?<=\s)|^)-(?=\d)"), lambda m: " minus "),
    (
        re.compile(
            r"([$£€])\s?(\d[\d,]*)(?:\.(\d{1,2}))?(?:\s?(thousand|million|billion)\b)?", re.I
        ),
        _money,
    ),
    (re.compile(r"\b(\d{1,2}):(\d{2})(?:\s?([ap]\.?m\.?)(?![a-z]))?", re.I), _time),
    (re.compile(r"\b(\d{1,2})()\s?([ap]\.?m\.?)(?![a-z])", re.I), _time),
    (re.compile(r"\(\d{3}\)\s?\d{3}-\d{4}|\b\d+(?:-\d+)+\b"), _digit_groups),
    (re.compile(r"\b(\d+)/(\d+)\b"), _fraction),
    (re.compile(r"(?:\B'|\b)(\d{2}|\d{4})s\b"), _decade),
    (
        re.compile(r"\b(\d[\d,]*)(st|nd|rd|th)\b", re.I),
        lambda m: " " + ordinal_words(int(m.group(1).replace(",", ""))) + " ",
    ),
    (re.compile(r"(?<![\d.])(\d[\d,]*)?\.(\d+)"), _decimal),
    (
        re.compile(r"\b\d{1,3}(?:,\d{3})+\b"),
        lambda m: " " + number_to_words(int(m.group(0).replace(",", ""))) + " ",
    ),
    (re.compile(r"\d+"), lambda m: " " + _integer(m.group(0)) + " "),
]


def _clean_unicode(s: str) -> str:
    s = unicodedata.normalize("NFKC", s).replace("\u2044", "/")
    for ch in APOSTROPHES:
        s = s.replace(ch, "'")
    s = "".join(LETTER_MAP.get(ch, LETTER_MAP.get(ch.lower(), ch)) for ch in s)
    s = unicodedata.normalize("NFKD", s)
    return "".join(ch for ch in s if not unicodedata.combining(ch))


def _tidy(s: str) -> str:
    """Collapse whitespace and drop spaces before punctuation."""
    return re.sub(r"\s+([.,?!;:])", r"\1", _SPACES.sub(" ", s)).strip()


def verbalize(s: str) -> str:
    """Spell out numbers, money, times, symbols and a few abbreviations; keep case and punctuation.

    The result is what a speaker (or the synthesiser) says: "$3.50 at 10:05" ->
    "three dollars and fifty cents at ten oh five".
    """
    s = _clean_unicode(s)
    for pattern, repl in _RULES:
        s = pattern.sub(repl, s)
    for symbol, words in SYMBOLS.items():
        s = s.replace(symbol, words)
    s = re.sub(
        r"\b(" + "|".join(ABBREVIATIONS) + r")\b\.?",
        lambda m: ABBREVIATIONS[m.group(1).lower()],
        s,
        flags=re.I,
    )
    s = re.sub(r"(?<=\w)-(?=\w)", " ", s)
    return _tidy(s)


def normalize_text(s: str) -> str:
    """Lowercase words only: output alphabet is a-z, apostrophe (inside words) and space."""
    s = verbalize(s).lower()
    s = _ALLOWED.sub(" ", s)
    s = re.sub(r"(?<![a-z])'|'(?![a-z])", " ", s)
    return _SPACES.sub(" ", s).strip()


def spoken_form(s: str) -> str:
    """What the synthesiser reads: verbalised words plus the punctuation that shapes prosody."""
    s = verbalize(s)
    s = re.sub(r"[^A-Za-z' .,?!;:]+", " ", s)
    s = re.sub(r"(?<![A-Za-z])'|'(?![A-Za-z])", " ", s)
    return _tidy(s)
