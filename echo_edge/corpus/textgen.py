"""A generator of varied English for the synthetic corpus.

Sentences come from a small grammar over the embedded word list (echo_edge.corpus.wordlist):
statements in several tenses, negations, questions, assistant commands, and sentences
built around numbers, digit strings, dates, times, money and addresses. Output is raw
written text (digits, symbols, punctuation); `echo_edge.text` turns it into words.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator

from echo_edge.corpus.wordlist import irregular_plurals, irregular_verbs, is_group, words
from echo_edge.text import normalize_text

MAX_WORDS = 20  # normalised words per sentence: keeps slow voices under ~10 s
CATEGORIES = {  # category -> weight
    "statement": 34,
    "question": 12,
    "command": 16,
    "number": 8,
    "digits": 6,
    "date": 7,
    "time": 6,
    "money": 6,
    "address": 5,
}
PAST_TIMES = (
    "yesterday|last night|last week|this morning|two days ago|on {day}|last {month}|in {year}"
)
FUTURE_TIMES = "tomorrow|next week|tonight|on {day}|later today|next {month}|in a few minutes"
PRESENT_TIMES = "every day|on weekends|every {day}|in the morning|most evenings|twice a week"
PREPOSITIONS = "in|near|behind|inside|outside|next to|across from|at|by"
PRONOUNS = {"I": "1s", "you": "2", "he": "3s", "she": "3s", "we": "pl", "they": "pl"}
MODALS = "can|could|should|might|must|would"


def _pick(rng: random.Random, group: str) -> str:
    """A random entry of a word-list group ("NOUNS"), or of a `|`-separated list of literals
    and groups ("the|a|FOOD")."""
    if "|" in group:
        group = rng.choice(group.split("|"))
        if not is_group(group):
            return group
    return rng.choice(words(group))


def plural(noun: str) -> str:
    """Plural of a singular noun."""
    irregular = irregular_plurals()
    if noun in irregular:
        return irregular[noun]
    if noun.endswith(("s", "x", "z", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def third_person(verb: str) -> str:
    """Present tense, third person singular."""
    if verb == "have":
        return "has"
    if verb.endswith(("s", "x", "z", "ch", "sh", "o")):
        return verb + "es"
    if verb.endswith("y") and verb[-2:-1] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def _regular(verb: str, suffix: str) -> str:
    if verb in words("VERBS_DOUBLE"):
        return verb + verb[-1] + suffix
    if verb.endswith("ic"):  # panic -> panicked, panicking
        return verb + "k" + suffix
    if suffix == "ing":
        if verb.endswith("ie"):
            return verb[:-2] + "ying"
        if verb.endswith("e") and not verb.endswith(("ee", "ye", "oe")):
            return verb[:-1] + "ing"
        return verb + "ing"
    if verb.endswith("e"):
        return verb + "d"
    if verb.endswith("y") and verb[-2:-1] not in "aeiou":
        return verb[:-1] + "ied"
    return verb + "ed"


def past(verb: str) -> str:
    """Simple past."""
    return irregular_verbs().get(verb, (_regular(verb, "ed"),))[0]


def participle(verb: str) -> str:
    """Past participle."""
    forms = irregular_verbs().get(verb)
    return forms[1] if forms else _regular(verb, "ed")


def gerund(verb: str) -> str:
    """The -ing form."""
    return _regular(verb, "ing")


def article(word: str) -> str:
    """'a' or 'an' by sound (a spelling heuristic)."""
    w = word.lower()
    vowel = w[0] in "aeiou" and not w.startswith(("uni", "use", "usu", "eu", "one"))
    return "an" if vowel or w.startswith(("hour", "honest", "honor")) else "a"


class _Writer:
    """All sentence builders over one random generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def pick(self, group: str) -> str:
        return _pick(self.rng, group)

    def group(self, names: str) -> str:
        """One of `|`-separated group names (not a word from it)."""
        return self.rng.choice(names.split("|"))

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def fill(self, template: str) -> str:
        """Fill {day}, {month}, {year} slots."""
        return template.format(
            day=self.pick("DAYS").title(),
            month=self.pick("MONTHS").title(),
            year=self.rng.randint(1950, 2030),
        )

    # --- noun phrases -------------------------------------------------------

    def noun_phrase(self, group: str, allow_plural: bool = True) -> tuple[str, bool]:
        """(text, is_plural) for a determiner + optional adjective + noun of `group`."""
        noun = self.pick(group)
        adjective = self.pick("ADJECTIVES") + " " if self.chance(0.45) else ""
        if group == "MASS_NOUNS":
            det = self.pick("the|some|my|this|that|our|no|enough|more|the fresh")
            return f"{det} {adjective}{noun}", False
        if allow_plural and self.chance(0.35):
            count = self.pick("the|my|some|these|those|two|three|several|many|a few|our|their")
            if count in ("two", "three") and self.chance(0.5):
                count = str(self.rng.randint(2, 24))
            return f"{count} {adjective}{plural(noun)}", True
        det = self.pick("the|the|a|my|your|his|her|our|their|this|that|every")
        phrase = f"{adjective}{noun}"
        if det == "a":
            det = article(phrase)
        return f"{det} {phrase}", False

    def thing(self) -> str:
        group = self.group("OBJECTS|OBJECTS|FOOD|MASS_NOUNS|ANIMALS|NATURE|ABSTRACT|ABSTRACT")
        return self.noun_phrase(group)[0]

    def person(self) -> tuple[str, str]:
        """(text, grammatical person) of a subject or object that is someone."""
        r = self.rng.random()
        if r < 0.3:
            pronoun = self.pick("|".join(PRONOUNS))
            return pronoun, PRONOUNS[pronoun]
        if r < 0.5:
            name = self.pick("FIRST_NAMES").title()
            if self.chance(0.25):
                name += " " + self.pick("SURNAMES").title()
            elif self.chance(0.1):
                name = self.pick("Mr.|Mrs.|Dr.") + " " + self.pick("SURNAMES").title()
            return name, "3s"
        group = "ANIMALS" if r > 0.9 else "PEOPLE"
        text, is_plural = self.noun_phrase(group)
        return text, "pl" if is_plural else "3s"

    def place(self) -> str:
        if self.chance(0.25):
            return self.pick("in|near|from|to") + " " + self.pick("CITIES|COUNTRIES").title()
        return self.pick(PREPOSITIONS) + " " + self.noun_phrase("PLACES", False)[0]

    # --- clauses --------------------------------------------------------------

    def verb_phrase(self, subject_person: str) -> str:
        """A conjugated verb with its object and adjuncts, tense and polarity at random."""
        kind = self.group("VERBS_THING|VERBS_THING|VERBS_PERSON|VERBS_INTRANSITIVE")
        verb = self.pick(kind)
        tense = self.pick("present|past|past|future|progressive|perfect|modal|past_progressive")
        negative = self.chance(0.2)
        third = subject_person == "3s"
        be_now = {"1s": "am", "3s": "is"}.get(subject_person, "are")
        be_past = "was" if subject_person in ("1s", "3s") else "were"
        contract = self.chance(0.5)
        nt = "n't" if contract else " not"
        if tense == "present":
            vp = (
                (("does" if third else "do") + nt + " " + verb)
                if negative
                else (third_person(verb) if third else verb)
            )
        elif tense == "past":
            vp = ("did" + nt + " " + verb) if negative else past(verb)
        elif tense == "future":
            vp = ("won't " if contract else "will not ") + verb if negative else "will " + verb
        elif tense == "progressive":
            not_ = " not " if negative else " "
            vp = be_now + not_ + gerund(verb)
        elif tense == "past_progressive":
            vp = be_past + (nt + " " if negative else " ") + gerund(verb)
        elif tense == "perfect":
            aux = "has" if third else "have"
            vp = aux + (nt + " " if negative else " ") + participle(verb)
        else:
            modal = self.pick(MODALS)
            neg = {"can": "can't" if contract else "cannot", "must": "must not"}.get(
                modal, modal + nt
            )
            vp = (neg if negative else modal) + " " + verb
        if kind == "VERBS_THING":
            vp += " " + self.thing()
        elif kind == "VERBS_PERSON":
            vp += " " + self._object_person()
        elif self.chance(0.4):
            vp += " " + self.pick("ADVERBS")
        if self.chance(0.35):
            vp += " " + self.place()
        if self.chance(0.3):
            times = {"past": PAST_TIMES, "past_progressive": PAST_TIMES, "future": FUTURE_TIMES}
            vp += " " + self.fill(self.pick(times.get(tense, PRESENT_TIMES)))
        return vp

    def _object_person(self) -> str:
        text, _ = self.person()
        return {"I": "me", "he": "him", "she": "her", "we": "us", "they": "them"}.get(text, text)

    def clause(self) -> str:
        subject, person = self.person()
        return f"{subject} {self.verb_phrase(person)}"

    def copula(self) -> str:
        text, is_plural = self.noun_phrase(self.group("OBJECTS|FOOD|PLACES|ANIMALS|NATURE|PEOPLE"))
        be = self.pick(
            "are|were|are not|weren't|will be|might be"
            if is_plural
            else "is|was|isn't|was not|will be|seems|looks"
        )
        degree = (
            self.pick("very|quite|rather|too|so|really|a bit|extremely") + " "
            if self.chance(0.4)
            else ""
        )
        return f"{text} {be} {degree}{self.pick('ADJECTIVES')}"

    # --- categories -------------------------------------------------------------

    def statement(self) -> str:
        r = self.rng.random()
        if r < 0.3:
            s = self.clause()
        elif r < 0.45:
            s = self.clause() + ", " + self.pick("and|but|so|because|while") + " " + self.clause()
        elif r < 0.57:
            s = (
                self.pick("When|Because|If|Although|After|Before|Since|Unless")
                + " "
                + self.clause()
            )
            s += ", " + self.clause()
        elif r < 0.67:
            subject, person = self.person()
            verb = self.pick("VERBS_SAY")
            verb = (
                past(verb) if self.chance(0.6) else (third_person(verb) if person == "3s" else verb)
            )
            s = f"{subject} {verb} that {self.clause()}"
        elif r < 0.8:
            s = self.copula()
        elif r < 0.9:
            text, is_plural = self.noun_phrase(self.group("OBJECTS|FOOD|ANIMALS|PEOPLE|MASS_NOUNS"))
            be = self.pick("are|were|aren't" if is_plural else "is|was|isn't")
            s = f"there {be} {text} {self.place()}"
        else:
            s = self.pick("SENTENCE_ADVERBS") + ", " + self.clause()
        return s[0].upper() + s[1:] + self.pick(".|.|.|!")

    def question(self) -> str:
        subject, person = self.person()
        verb = self.pick("VERBS_THING")
        obj = self.thing()
        do = "does" if person == "3s" else "do"
        forms = [
            f"did {subject} {verb} {obj}",
            f"{do} {subject} really {verb} {obj}",
            f"{self.pick('where|when|why|how')} did {subject} {verb} {obj}",
            f"{self.pick('can|could|would|should|will')} {subject} {verb} {obj}",
            f"have you ever {participle(self.pick('VERBS_THING|VERBS_INTRANSITIVE'))} {self.place()}",
            f"who {past(verb)} {obj}",
            f"what {self.pick('did|will|can')} {subject} {self.pick('VERBS_THING')}",
            f"is {self.noun_phrase(self.group('FOOD|OBJECTS|PLACES'), False)[0]} {self.pick('ADJECTIVES')}",
            f"how many {plural(self.pick('OBJECTS|ANIMALS|FOOD'))} are there {self.place()}",
            f"which {self.pick('OBJECTS|FOOD|PLACES')} do you {self.pick('prefer|like|want|need')}",
            f"why {'is' if person == '3s' else 'are'} {subject} so {self.pick('ADJECTIVES')}",
            f"what time does the {self.pick('PLACES')} {self.pick('open|close')} on {self.pick('DAYS').title()}",
        ]
        s = self.rng.choice(forms)
        return s[0].upper() + s[1:] + "?"

    def command(self) -> str:
        room, device = self.pick("ROOMS"), self.pick("DEVICES")
        name = self.pick("FIRST_NAMES").title()
        forms = [
            f"set a timer for {self._duration()}",
            f"set an alarm for {self._clock()}",
            f"wake me up at {self._clock()} {self.pick('tomorrow|on ' + self.pick('DAYS').title())}",
            f"turn {self.pick('on|off')} the {room} {device}",
            f"switch {self.pick('on|off')} the {device} in the {room}",
            f"dim the {room} lights to {self.rng.randrange(10, 100, 5)}%",
            f"set the thermostat to {self.rng.randint(16, 78)} degrees",
            f"play some {self.pick('GENRES')} in the {room}",
            f"{self.pick('pause|stop|resume|skip')} the {self.pick('music|song|podcast|audiobook|track')}",
            f"turn the volume {self.pick('up|down')} to {self.rng.randint(1, 10)}",
            f"remind me to {self.pick('ERRANDS')} at {self._clock()}",
            f"remind me to {self.pick('ERRANDS')} on {self.pick('DAYS').title()}",
            f"remind me in {self._duration()} to {self.pick('ERRANDS')}",
            f"call {name} {self.pick('SURNAMES').title()}",
            f"text {name} that I'll be {self.rng.randint(5, 45)} minutes late",
            f"send a message to {name} saying {self.clause()}",
            f"what's the weather in {self.pick('CITIES').title()} {self.pick('today|tomorrow|this weekend|on ' + self.pick('DAYS').title())}",
            f"will it {self.pick('rain|snow')} in {self.pick('CITIES').title()} on {self.pick('DAYS').title()}",
            f"add {self.pick('MASS_NOUNS')} to my shopping list",
            f"add {self.rng.randint(2, 12)} {plural(self.pick('FOOD'))} to the grocery list",
            f"navigate to {self._address()}",
            f"how long does it take to drive to {self.pick('CITIES').title()}",
            f"find a {self.pick('PLACES')} near me",
            f"what's {self.rng.randint(2, 999)} {self.pick('plus|minus|times')} {self.rng.randint(2, 99)}",
            f"{self.pick('open|close|lock|unlock')} the {self.pick('garage|front|back|side|patio')} door",
            f"schedule a meeting with {name} on {self._date()} at {self._clock()}",
            f"cancel my {self._clock()} appointment",
            f"what time is it in {self.pick('CITIES').title()}",
            f"how do you spell {self.pick('ABSTRACT|ADJECTIVES|ANIMALS')}",
            f"{self.pick('please |')}{self.pick('VERBS_THING')} the {self.pick('OBJECTS')} {self.pick('now|before dinner|when you can|right away|later')}",
        ]
        s = self.rng.choice(forms)
        question = s.startswith(("what", "will", "how"))
        return s[0].upper() + s[1:] + ("?" if question else self.pick(".|"))

    def number(self) -> str:
        n = self._magnitude()
        dec = f"{self.rng.randint(0, 99)}.{self.rng.randint(1, 9)}"
        forms = [
            f"about {n} {plural(self.pick('PEOPLE'))} came to the {self.pick('ABSTRACT')}",
            f"the {self.pick('OBJECTS')} weighs {dec} {self.pick('kilograms|pounds|grams|ounces')}",
            f"the temperature {self.pick('dropped|rose')} to {self.pick('-|')}{self.rng.randint(0, 45)} degrees",
            f"prices {self.pick('rose|fell')} by {dec}% {self.pick('last year|this month|in ' + str(self.rng.randint(1990, 2029)))}",
            f"the stadium holds {n} fans",
            f"she scored {self.rng.randint(0, 100)} out of 100 on the {self.pick('ABSTRACT')}",
            f"chapter {self.rng.randint(1, 40)} begins on page {self.rng.randint(2, 900)}",
            f"the {plural(self.pick('PEOPLE'))} won {self.rng.randint(0, 9)} to {self.rng.randint(0, 9)}",
            f"{self.pick('he|she|they|we')} ran {dec} {self.pick('miles|kilometers')} {self.pick('today|on ' + self.pick('DAYS').title())}",
            f"there are {n} {plural(self.pick('OBJECTS|ANIMALS|FOOD'))} in the {self.pick('PLACES')}",
            f"the population of {self.pick('CITIES').title()} is about {self.rng.randint(1, 20)}.{self.rng.randint(1, 9)} million",
            f"add {self.rng.randint(1, 9)}/{self.pick('2|3|4|8')} cup of {self.pick('MASS_NOUNS')}",
            f"it was the {self._ordinal(self.rng.randint(1, 120))} {self.pick('ABSTRACT')} this year",
        ]
        s = self.rng.choice(forms)
        return s[0].upper() + s[1:] + "."

    def digits(self) -> str:
        r = self.rng.randint
        code = " ".join(str(r(0, 9)) for _ in range(r(4, 6)))
        forms = [
            f"My phone number is {r(200, 999)}-{r(0, 9999):04d}.",
            f"Call me at ({r(200, 999)}) {r(200, 999)}-{r(0, 9999):04d}.",
            f"Your verification code is {code}.",
            f"The pin code for the {self.pick('OBJECTS')} is {code}.",
            f"Flight {r(100, 2999)} to {self.pick('CITIES').title()} leaves from gate {self.pick('B|C|D|E|F')}{r(1, 40)}.",
            f"Take bus {r(1, 199)} to {self.pick('PLACES')} {self.pick('STREET_TYPES').title()}.",
            f"The account number is {r(0, 9999):04d}-{r(0, 9999):04d}.",
            f"Room {r(100, 999)} is on the {self._ordinal(r(1, 30))} floor.",
            f"The zip code is {' '.join(str(r(0, 9)) for _ in range(5))}.",
            f"Order number {r(10, 99)}-{r(100, 999)}-{r(1000, 9999)} has shipped.",
        ]
        return self.rng.choice(forms)

    def date(self) -> str:
        subject, person = self.person()
        be = {"1s": "was", "3s": "was"}.get(person, "were")
        forms = [
            f"{subject} {be} born on {self._date()}",
            f"the {self.pick('ABSTRACT')} is on {self._date()}",
            f"the {self.pick('PLACES')} reopens on {self._date()}",
            f"in {self.rng.randint(1800, 2030)}, the {self.pick('PEOPLE')} moved to {self.pick('CITIES').title()}",
            f"our lease ends on the {self._ordinal(self.rng.randint(1, 31))} of {self.pick('MONTHS').title()}",
            f"the deadline is {self.pick('DAYS').title()}, {self._date(False)}",
            f"the {self._ordinal(self.rng.randint(1, 100))} anniversary falls on {self._date()}",
            f"{self.pick('music|fashion|cars|movies')} changed a lot in the {self.rng.randrange(1920, 2020, 10)}s",
        ]
        s = self.rng.choice(forms)
        return s[0].upper() + s[1:] + "."

    def time(self) -> str:
        forms = [
            f"the {self.pick('train|bus|ferry|flight|meeting|show|class')} {self.pick('leaves|starts|ends|arrives')} at {self._clock()}",
            f"it's {self.pick('half past|a quarter past|a quarter to|ten past|twenty to')} {self.pick('one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve')}",
            f"the {self.pick('PLACES')} opens at {self.rng.randint(6, 11)} o'clock",
            f"the trip takes {self._duration()}",
            f"dinner is at {self.rng.randint(17, 21)}:{self.pick('00|15|30|45')}",
            f"{self.person()[0]} {self.pick('woke up|left|arrived|called')} at {self._clock()} {self.fill(self.pick(PAST_TIMES))}",
        ]
        s = self.rng.choice(forms)
        return s[0].upper() + s[1:] + "."

    def money(self) -> str:
        cur = self.pick("$|$|$|£|€")
        small = f"{cur}{self.rng.randint(0, 99)}.{self.rng.randint(0, 99):02d}"
        big = f"{cur}{self.rng.randint(1, 999):,}{self.pick(',000|,500|')}"
        forms = [
            f"the {self.pick('OBJECTS')} costs {small}",
            f"I paid {big} for the {self.pick('OBJECTS')}",
            f"the house sold for {cur}{self.rng.randint(80, 990)},000",
            f"the company raised {cur}{self.rng.randint(1, 99)}.{self.rng.randint(1, 9)} {self.pick('million|billion')}",
            f"can you lend me {cur}{self.rng.randint(5, 200)}",
            f"a {self.pick('FOOD')} costs {small} at the {self.pick('PLACES')}",
            f"the fine is {big}",
        ]
        s = self.rng.choice(forms)
        return s[0].upper() + s[1:] + ("?" if s.startswith("can") else ".")

    def address(self) -> str:
        forms = [
            f"I live at {self._address()}",
            f"the office moved to {self._address()}, suite {self.rng.randint(100, 950)}",
            f"deliver it to apartment {self.rng.randint(1, 30)}{self.pick('B|C|D|')} at {self._address()}",
            f"the {self.pick('PLACES')} is at {self._address()} in {self.pick('CITIES').title()}",
            f"send the package to {self._address()}",
        ]
        s = self.rng.choice(forms)
        return s[0].upper() + s[1:] + "."

    # --- pieces --------------------------------------------------------------

    def _clock(self) -> str:
        hour, minute = self.rng.randint(1, 12), self.rng.randrange(0, 60, 5)
        if self.chance(0.3):
            return f"{hour} o'clock"
        return f"{hour}:{minute:02d}"

    def _duration(self) -> str:
        n = self.rng.randint(1, 90)
        unit = self.pick("minute|second|hour") if n < 13 else self.pick("minute|second")
        text = f"{n} {unit}{'s' if n > 1 else ''}"
        if unit == "hour" and self.chance(0.4):
            text += f" and {self.rng.randint(5, 55)} minutes"
        return text

    def _date(self, with_year: bool | None = None) -> str:
        month, day = self.pick("MONTHS").title(), self.rng.randint(1, 28)
        text = f"{month} {self._ordinal(day) if self.chance(0.7) else day}"
        if with_year if with_year is not None else self.chance(0.5):
            text += f", {self.rng.randint(1900, 2035)}"
        return text

    def _ordinal(self, n: int) -> str:
        suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
        return f"{n}{suffix}"

    def _magnitude(self) -> str:
        n = int(10 ** self.rng.uniform(1, 6.5))
        return f"{n:,}" if n >= 10000 or self.chance(0.5) else str(n)

    def _address(self) -> str:
        street = self.pick("SURNAMES|NATURE|ADJECTIVES|FIRST_NAMES").title()
        return f"{self.rng.randint(1, 9999)} {street} {self.pick('STREET_TYPES').title()}"


def iter_labelled(seed: int = 0) -> Iterator[tuple[str, str]]:
    """An endless stream of (category, sentence), reproducible by `seed`; a sentence whose
    normalised text was already produced is redrawn (up to 20 times)."""
    rng = random.Random(seed)
    writer = _Writer(rng)
    builders: dict[str, Callable[[], str]] = {name: getattr(writer, name) for name in CATEGORIES}
    names, weights = list(CATEGORIES), list(CATEGORIES.values())
    seen: set[str] = set()
    while True:
        category = rng.choices(names, weights)[0]
        for _ in range(20):
            sentence = builders[category]()
            norm = normalize_text(sentence)
            if norm not in seen and 0 < len(norm.split()) <= MAX_WORDS:
                break
        seen.add(norm)
        yield category, sentence


def generate_labelled(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """`n` (category, sentence) pairs, reproducible by `seed`, distinct where possible."""
    return list(itertools.islice(iter_labelled(seed), n))


def generate_sentences(n: int, seed: int = 0) -> list[str]:
    """`n` raw sentences (digits, symbols, punctuation kept), reproducible by `seed`."""
    return [sentence for _, sentence in generate_labelled(n, seed)]
