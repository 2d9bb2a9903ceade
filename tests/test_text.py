"""The text normaliser and the sentence generator."""

from __future__ import annotations

import re

import pytest

from echo_edge.corpus.textgen import generate_labelled, generate_sentences, past, plural
from echo_edge.text import (
    normalize_text,
    number_to_words,
    ordinal_words,
    spoken_form,
    verbalize,
    year_words,
)

ALPHABET = re.compile(r"^[a-z' ]*$")


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "zero"),
        (13, "thirteen"),
        (40, "forty"),
        (105, "one hundred five"),
        (1_000, "one thousand"),
        (21_512, "twenty one thousand five hundred twelve"),
        (3_000_000_004, "three billion four"),
        (-7, "minus seven"),
    ],
)
def test_number_to_words(n: int, words: str) -> None:
    assert number_to_words(n) == words


def test_ordinals_and_years() -> None:
    assert ordinal_words(1) == "first"
    assert ordinal_words(21) == "twenty first"
    assert ordinal_words(12) == "twelfth"
    assert ordinal_words(40) == "fortieth"
    assert ordinal_words(100) == "one hundredth"
    assert year_words(1984) == "nineteen eighty four"
    assert year_words(1905) == "nineteen oh five"
    assert year_words(1900) == "nineteen hundred"
    assert year_words(2005) == "two thousand five"
    assert year_words(2024) == "twenty twenty four"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Hello, World!", "hello world"),
        ("It was 3.5 degrees.", "it was three point five degrees"),
        (
            "the 21st of May, 2nd place, 103rd",
            "the twenty first of may second place one hundred third",
        ),
        ("Born in 1984.", "born in nineteen eighty four"),
        ("1,000,000 people", "one million people"),
        ("50% & more", "fifty percent and more"),
        (
            "$3.50 and £1 and $0.99",
            "three dollars and fifty cents and one pound and ninety nine cents",
        ),
        ("€2.5 million", "two point five million euros"),
        ("at 10:05 or 7 p.m. or 9:00", "at ten oh five or seven p m or nine o'clock"),
        ("call 555-0134 now", "call five five five zero one three four now"),
        ("agent 007", "agent zero zero seven"),
        ("pages 10-20", "pages ten twenty"),
        ("a well-known fact", "a well known fact"),
        ("-5 degrees", "minus five degrees"),
        ("-3.5 or COVID-19", "minus three point five or covid nineteen"),
        ("½ cup", "one half cup"),
        ("in the 1990s", "in the nineteen nineties"),
        ("Mr. Smith vs. Dr. Jones", "mister smith versus doctor jones"),
    ],
)
def test_normalize_text(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_apostrophes_kept_inside_words_only() -> None:
    assert (
        normalize_text("Don't say 'hello' to the dogs' owner")
        == "don't say hello to the dogs owner"
    )
    assert normalize_text("It\u2019s O\u2019Brien\u2019s") == "it's o'brien's"
    assert normalize_text("rock 'n' roll") == "rock n roll"


def test_accents_and_foreign_letters() -> None:
    assert normalize_text("Café naïve RÉSUMÉ") == "cafe naive resume"
    assert normalize_text("Straße Ærø Łódź") == "strasse aero lodz"


def test_output_alphabet_and_idempotence() -> None:
    messy = "¿Qué?! 42nd St. — #1 @home; x=3+4 (really) \t\n 98.6°F «ok» 日本"
    out = normalize_text(messy)
    assert ALPHABET.match(out), out
    assert "  " not in out and out == out.strip()
    assert normalize_text(out) == out


def test_spoken_form_keeps_prosody_and_matches_label() -> None:
    raw = "Meet me at 10:05, okay? It's $3.50!"
    spoken = spoken_form(raw)
    assert spoken == "Meet me at ten oh five, okay? It's three dollars and fifty cents!"
    assert normalize_text(spoken) == normalize_text(raw)
    assert verbalize("Room 12") == "Room twelve"


def test_textgen_vocabulary_and_distinctness() -> None:
    sentences = generate_sentences(5000, seed=0)
    normalised = [normalize_text(s) for s in sentences]
    assert len(set(normalised)) >= 0.95 * len(normalised)
    assert len({w for s in normalised for w in s.split()}) >= 2000
    assert all(s and ALPHABET.match(s) for s in normalised)


def test_textgen_reproducible_by_seed() -> None:
    assert generate_sentences(200, seed=7) == generate_sentences(200, seed=7)
    assert generate_sentences(200, seed=7) != generate_sentences(200, seed=8)


def test_textgen_categories_present() -> None:
    labelled = generate_labelled(2000, seed=1)
    by_category: dict[str, list[str]] = {}
    for category, sentence in labelled:
        by_category.setdefault(category, []).append(sentence)
    assert set(by_category) >= {
        "statement",
        "question",
        "command",
        "number",
        "digits",
        "date",
        "time",
        "money",
        "address",
    }
    assert all(s.endswith("?") for s in by_category["question"])
    assert any(re.search(r"\d{3}-\d{4}", s) for s in by_category["digits"])
    assert any(re.search(r"\b(January|March|July|December)\b", s) for s in by_category["date"])
    assert any(re.search(r"\d:\d\d", s) for s in by_category["time"])
    assert any(
        s.lower().startswith(("set a timer", "turn", "remind me")) for s in by_category["command"]
    )
    assert any(re.search(r"[$£€]\d", s) for s in by_category["money"])
    assert any(
        re.search(r"\b(didn't|did not|won't|isn't|not)\b", s) for s in by_category["statement"]
    )


def test_inflection() -> None:
    assert [plural(w) for w in ("box", "city", "day", "knife", "child", "sheep")] == [
        "boxes",
        "cities",
        "days",
        "knives",
        "children",
        "sheep",
    ]
    assert [past(w) for w in ("stop", "carry", "bake", "go", "play", "panic")] == [
        "stopped",
        "carried",
        "baked",
        "went",
        "played",
        "panicked",
    ]
