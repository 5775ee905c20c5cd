"""Read checkable facts out of one criterion: ages, sex, time since onset, severity, conditions.

Each extractor is a small function over the criterion's normalised text and
returns facts it is sure of. Whatever looks checkable but can't be read with
confidence is reported as "unread", so the matcher says "uncertain" instead
of guessing. All times and ages are in days.

Facts describe a set of patients: in an inclusion criterion the set that may
join, in an exclusion criterion the set that is turned away.
"""

from __future__ import annotations

import bisect
import functools
import re
from dataclasses import dataclass, field
from typing import Any

from ..models import DAYS_PER
from ..seeds import knowledge

# -- numbers and units ------------------------------------------------------------

_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "twenty-one": 21, "twenty-four": 24,
    "thirty": 30, "thirty-six": 36, "forty": 40, "forty-eight": 48, "fifty": 50, "sixty": 60, "seventy": 70,
    "seventy-five": 75, "eighty": 80, "ninety": 90,
}  # fmt: skip
_UNIT_WORDS = r"(?:years?|yrs?|months?|mos?|weeks?|wks?|days?|hours?|hrs?)"
_WORD_NUMBER = re.compile(
    r"\b("
    + "|".join(sorted(_WORDS, key=len, reverse=True))
    + r")(?:\s*\((\d+(?:\.\d+)?)\))?(?=[\s-]+"
    + _UNIT_WORDS
    + r"\b)"
)
_DIGITS_IN_PARENS = re.compile(r"\b[a-z-]+\s*\((\d+(?:\.\d+)?)\)(?=\s*" + _UNIT_WORDS + r"\b)")
_THE_PAST_UNIT = re.compile(
    r"\b(within|in|during|over|for)\s+the\s+(past|last|previous|preceding)\s+(year|month|week|day)\b"
)
_A_UNIT = re.compile(
    r"\b(within|than|least|over|under|past|last|after|about|for|in)\s+(a|an|one)\s+(year|month|week|day|hour)\b"
)
_SYMBOLS = [
    ("≥", ">="),
    ("≤", "<="),
    ("=>", ">="),
    ("=<", "<="),
    ("–", "-"),
    ("—", "-"),
    ("‑", "-"),
    ("＞", ">"),
    ("＜", "<"),
]

# A number starts where a run of digits starts: trying every suffix of a long run is quadratic.
NUM = r"(?<!\d)(\d+(?:\.\d+)?)"
UNIT = (
    r"(years?|yrs?\.?|y(?=[\s).,;]|$)|months?|mos?\.?|weeks?|wks?\.?|days?|d(?=[\s).,;]|$)|"
    r"hours?|hrs?\.?|h(?=[\s).,;]|$))"
)
# "6 months", "72h", "6-month", and the odd "6 last months".
QTY = NUM + r"\s*-?\s*(?:(?:last|past|previous|prior|preceding)\s+)?" + UNIT

_MIN = (
    r"(?:>=|>|at least|more than|greater than|longer than|over|above|beyond|a minimum of|minimum of|minimum|"
    r"no less than|not less than|no sooner than|exceeding|in excess of|older than)"
)
_MAX = (
    r"(?:<=|<|less than|fewer than|shorter than|under|below|up to|no more than|not more than|no longer than|"
    r"not longer than|a maximum of|maximum of|maximum|"
    r"(?:within|in|during|over) (?:the )?(?:last|past|previous|first|prior|preceding)|"
    r"within the|within|in the|during the|"
    r"not exceeding|no later than|not later than|younger than|no older than)"
)
_STRICT = {">", "more than", "greater than", "longer than", "over", "above", "beyond", "exceeding", "in excess of",
           "older than", "<", "less than", "fewer than", "shorter than", "under", "below", "younger than"}  # fmt: skip
_POST_MIN = r"(?:or (?:more|longer|greater|older|over|above)|and (?:older|over|above)|\+|or later)"
_POST_MAX = r"(?:or (?:less|fewer|shorter|younger|under|below|earlier)|and (?:younger|under|below))"

_RANGE = re.compile(
    r"(?:between|from)?\s*" + NUM + r"\s*" + UNIT + r"?\s*(?:-|to|and|through|until)\s*" + QTY, re.IGNORECASE
)
_COMPARED = re.compile(r"(?P<cmp>" + _MIN + "|" + _MAX + r")\s*(?:the\s+age\s+of\s+|age\s+)?" + QTY)
_POST = re.compile(QTY + r"\s*(?:of age\s*|old\s*)?(?P<post>" + _POST_MIN + "|" + _POST_MAX + ")")
_PLUS = re.compile(NUM + r"\s*\+\s*" + UNIT)
# Both limits in one phrase: "≥ 18 years and ≤ 70 years", "between >30 and <80 years", "≥ 35 and ≤ 70 years old"
# (the first number takes the unit of the second), "18 years ≤ age ≤ 65 years", "65 > age > 18 years".
_MIN_TWO = r"(?:>=|>|at least|more than|greater than|older than|over|above|no less than|not less than|minimum of)"
_MAX_TWO = (
    r"(?:<=|<|less than|younger than|under|below|up to|no more than|not more than|no older than|maximum of|"
    r"not exceeding)"
)
_TWO_SIDED = re.compile(
    r"(?:between\s*)?(" + _MIN_TWO + "|" + _MAX_TWO + r")\s*" + NUM + r"\s*" + UNIT + r"?\s*(?:and|to|,|but)\s*"
    r"(?:(?:the\s+)?age\s+(?:of\s+)?)?(" + _MIN_TWO + "|" + _MAX_TWO + r")\s*(?:the\s+age\s+of\s+)?" + QTY
)
_AGE_BETWEEN = re.compile(
    NUM + r"\s*" + UNIT + r"?\s*(<=|<|>=|>)\s*(?:the\s+)?age[ds]?\s*(?:\(\s*years?\s*\)\s*)?(<=|<|>=|>)\s*" + QTY
)
# "injury must have occurred 6 months before the study": at least that long ago. Not "during the
# 6 months before", "in 28 days before", which are windows.
_AGO = re.compile(r"(?<!the )(?<!in )(?<!within )(?<!during )(?<!past )(?<!last )" + QTY + r"\s+(?:ago|before|prior)\b")


_SYMBOL_TABLE = str.maketrans({"≥": ">=", "≤": "<=", "–": "-", "—": "-", "‑": "-", "＞": ">", "＜": "<"})
# Substring tests are much cheaper than a regex alternation tried at every position.
_NUMBER_WORD_STEMS = (
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "teen",
    "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
)  # fmt: skip
_SPACES = re.compile(r"\s+")
_UNIT_STEMS = ("year", "month", "week", "day", "hour", "yr", "mos", "wk", "hr")


def _any_of(text: str, words: tuple[str, ...]) -> bool:
    return any(map(text.__contains__, words))


def normalise(text: str) -> str:
    """Lower case, symbols spelt one way, number words as digits: "six (6) months" → "6 months".

    Each rewrite runs only when a cheap test shows it could apply: this runs for every criterion stored.
    """
    text = text.lower()
    if not text.isascii():
        text = text.translate(_SYMBOL_TABLE)
    if "=>" in text or "=<" in text:
        text = text.replace("=>", ">=").replace("=<", "<=")
    # The rewrites below all end in a time unit: without one there is nothing to rewrite.
    if _any_of(text, _UNIT_STEMS):
        if _any_of(text, _NUMBER_WORD_STEMS):
            text = _WORD_NUMBER.sub(lambda m: m.group(2) or str(_WORDS[m.group(1)]), text)
        if "(" in text:
            text = _DIGITS_IN_PARENS.sub(r"\1", text)
        if " a " in text or " an " in text or " one " in text:
            text = _A_UNIT.sub(r"\1 1 \3", text)
        if _any_of(text, ("the past", "the last", "the previous", "the preceding", "the prior")):
            text = _THE_PAST_UNIT.sub(r"\1 the \2 1 \3", text)
    if "  " in text or "\n" in text or "\t" in text:
        text = _SPACES.sub(" ", text)
    return text


def unit_days(unit: str) -> float:
    u = unit.rstrip(".")
    if u.startswith("y"):
        return DAYS_PER["year"]
    if u.startswith("mo"):
        return DAYS_PER["month"]
    if u.startswith("w"):
        return DAYS_PER["week"]
    if u.startswith("d"):
        return DAYS_PER["day"]
    return DAYS_PER["hour"]


@dataclass
class Bound:
    """A set of durations, in days: low..high, each end open (strict) or closed."""

    low: float | None = None
    high: float | None = None
    low_strict: bool = False
    high_strict: bool = False
    phrase: str = ""
    start: int = 0
    end: int = 0


def quantities(text: str, *, inclusive_top_unit: bool = False) -> list[Bound]:
    """Every bounded duration in normalised text: ranges, "at least X", "X or more", "X+", "within X".

    ``inclusive_top_unit`` reads "up to 45 years" as everything before the 46th
    year (how registries mean ages); durations since an event are not widened.
    """
    found: list[Bound] = []
    taken: list[tuple[int, int]] = []  # disjoint spans already read, sorted (a text may hold thousands)

    def free(a: int, b: int) -> bool:
        i = bisect.bisect_left(taken, (a,))
        return not (i > 0 and taken[i - 1][1] > a) and not (i < len(taken) and taken[i][0] < b)

    if ">" in text or "<" in text or "than" in text or "least" in text or "up to" in text or "ver" in text:
        for m in _TWO_SIDED.finditer(text):
            first, second = m.group(1), m.group(4)
            if bool(re.fullmatch(_MIN_TWO, first)) == bool(re.fullmatch(_MIN_TWO, second)):
                continue  # two lower or two upper limits: not one range
            units = (m.group(3) or m.group(6), m.group(6))
            limits = [(first, float(m.group(2)), units[0]), (second, float(m.group(5)), units[1])]
            bound = _two_limits(limits, inclusive_top_unit)
            if bound is not None:
                bound.phrase, bound.start, bound.end = m.group(0).strip(), m.start(), m.end()
                found.append(bound)
                bisect.insort(taken, (m.start(), m.end()))
        for m in _AGE_BETWEEN.finditer(text) if "age" in text else ():
            first, second = m.group(3), m.group(4)
            if first[0] != second[0] or not free(m.start(), m.end()):
                continue  # "18 < age > 65" is not one range
            # "18 ≤ age ≤ 65": 18 is a lower limit; "65 ≥ age ≥ 18": 65 is an upper one.
            flip = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}
            units = (m.group(2) or m.group(6), m.group(6))
            limits = [(flip[first], float(m.group(1)), units[0]), (second, float(m.group(5)), units[1])]
            bound = _two_limits(limits, inclusive_top_unit)
            if bound is not None:
                bound.phrase, bound.start, bound.end = m.group(0).strip(), m.start(), m.end()
                found.append(bound)
                bisect.insort(taken, (m.start(), m.end()))
    for m in _RANGE.finditer(text):
        if not free(m.start(), m.end()):
            continue
        low_unit = m.group(2) or m.group(4)
        low = float(m.group(1)) * unit_days(low_unit)
        top_unit = unit_days(m.group(4))
        high = float(m.group(3)) * top_unit
        if low > high:
            continue
        if inclusive_top_unit:
            high += top_unit
        found.append(Bound(low, high, False, inclusive_top_unit, m.group(0).strip(), m.start(), m.end()))
        bisect.insort(taken, (m.start(), m.end()))
    for m in _COMPARED.finditer(text):
        if not free(m.start(), m.end()):
            continue
        cmp = m.group("cmp")
        value = float(m.group(2)) * unit_days(m.group(3))
        strict = cmp in _STRICT
        if re.fullmatch(_MIN, cmp):
            found.append(Bound(low=value, low_strict=strict, phrase=m.group(0), start=m.start(), end=m.end()))
        else:
            top = value + unit_days(m.group(3)) if inclusive_top_unit and not strict else value
            strict = strict or (inclusive_top_unit and not strict)
            found.append(Bound(high=top, high_strict=strict, phrase=m.group(0), start=m.start(), end=m.end()))
        bisect.insort(taken, (m.start(), m.end()))
    for m in _POST.finditer(text):
        if not free(m.start(), m.end()):
            continue
        value = float(m.group(1)) * unit_days(m.group(2))
        if re.fullmatch(_POST_MIN, m.group("post")):
            found.append(Bound(low=value, phrase=m.group(0), start=m.start(), end=m.end()))
        else:
            top = value + unit_days(m.group(2)) if inclusive_top_unit else value
            found.append(
                Bound(high=top, high_strict=inclusive_top_unit, phrase=m.group(0), start=m.start(), end=m.end())
            )
        bisect.insort(taken, (m.start(), m.end()))
    for pattern in (_PLUS, _AGO):
        for m in pattern.finditer(text):
            if free(m.start(), m.end()):
                value = float(m.group(1)) * unit_days(m.group(2))
                found.append(Bound(low=value, phrase=m.group(0), start=m.start(), end=m.end()))
                bisect.insort(taken, (m.start(), m.end()))
    return sorted(found, key=lambda b: b.start)


def _two_limits(limits: list[tuple[str, float, str]], inclusive_top_unit: bool) -> Bound | None:
    """One bound from a lower and an upper limit, each (comparison, number, unit); None if they don't overlap."""
    bound = Bound()
    for cmp, number, unit in limits:
        days = unit_days(unit)
        strict = cmp in _STRICT
        if re.fullmatch(_MIN_TWO, cmp):
            bound.low, bound.low_strict = number * days, strict
        else:
            top = number * days + days if inclusive_top_unit and not strict else number * days
            bound.high, bound.high_strict = top, strict or inclusive_top_unit
    if bound.low is None or bound.high is None or bound.low >= bound.high:
        return None
    return bound


# -- facts ---------------------------------------------------------------------


@dataclass
class Fact:
    """One checkable statement read from a criterion (serialised as a dict)."""

    kind: str  # age | sex | time | ais | level | gmfcs | condition
    phrase: str = ""
    low: float | None = None
    high: float | None = None
    low_strict: bool = False
    high_strict: bool = False
    event: str | None = None  # time: the event words it counts from ("injury", "stroke", "onset"…)
    phase: str | None = None  # time: "acute" | "subacute" | "chronic" when named without numbers
    values: list[str] = field(default_factory=list)  # sex, ais grades, gmfcs levels, level range, condition ids
    negated: bool = False  # condition: "no history of stroke"
    qualified: bool = False  # condition: "severe head injury", a kind of it that a profile can't tell

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, "", [], False) or k == "kind"}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fact:
        return cls(**data)


# -- age -----------------------------------------------------------------------

_AGE_CUE = re.compile(r"\bage[ds]?\b|\byears? old\b|\byears? of age\b|\by/?o\b|\bolder\b|\byounger\b|\badults?\b")
_THIRD_PARTY = re.compile(
    r"\b(caregivers?|carers?|partners?|spouses?|parents?|guardians?|mothers?|fathers?|siblings?|infants?|babies|"
    r"baby|offspring|household|family members?|relatives?)\b"
)


_AGE_BEFORE = re.compile(
    r"(?:\b(?:age[ds]?|ages|aged|age of|adults?|patients?|participants?|subjects?|men|women|males?|females?|children|"
    r"individuals|persons|people|boys|girls|volunteers)\b[^.;\d]{0,14})$"
)
_AGE_AFTER = re.compile(r"\s*(?:years?\s*)?(?:old|of age|y/?o)\b|\s*(?:or|and) (?:older|younger)\b")
_TIME_AFTER = re.compile(
    r"\s*(?:ago|prior|before|post|after|since|following)\b|\s*(?:of|from)\s+(?:injury|stroke|onset)"
)


_AGE_MENTIONED = re.compile(r"\bage[ds]?\b[^.;]{0,30}\d|(?<!\d)\d+\s*(?:years?|yrs?) (?:old|of age)")
# Strong cues that a duration is someone's age: used where weaker ones ("women 2 years …") are not enough.
_AGE_RIGHT_STRONG = re.compile(r"\s*(?:years?\s*|yrs?\.?\s*)?(?:old|of age|y/?o)\b|\s*(?:or|and) (?:older|younger)\b")
_AGE_LEFT_STRONG = re.compile(r"\b(?:age[ds]?|ages)\s*(?:of\s*|between\s*|from\s*|is\s*|[:=]\s*)?$")
_AGE_IN_PHRASE = re.compile(r"\b(?:old|older|younger|of age)\b")
_AGE_WORD = re.compile(r"\bage[ds]?\b")
# A criterion that says what counts as postmenopausal ("defined as aged over 50 and amenorrhoeic for 12
# months", "women under 50 are considered postmenopausal if…") states no age limit for joining.
_MENOPAUSE_DEFINED = re.compile(r"defin|consider|amenorr|menstru|menses|\bif\b|\bfsh\b|follicle|hormon|lmp\b")


def is_age_phrase(text: str, b: Bound) -> bool:
    """Is this duration clearly somebody's age ("aged 18 years and older", "12 years of age", "18 years old")?"""
    return bool(
        _AGE_IN_PHRASE.search(b.phrase)
        or _AGE_WORD.search(b.phrase)
        or _AGE_RIGHT_STRONG.match(text, b.end)
        or _AGE_LEFT_STRONG.search(text[max(0, b.start - 20) : b.start])
    )


def ages(text: str) -> tuple[list[Fact], bool]:
    """Age limits stated for the participant; second value: an age is mentioned but couldn't be read."""
    if not _AGE_CUE.search(text) or _THIRD_PARTY.search(text) or _REPRODUCTIVE.search(text):
        return [], False  # "women of childbearing age must use contraception" states no age limit
    # "Postmenopausal female, 55-75 years old" limits age; "within 2 years of menopause" does not.
    strict = "menopaus" in text
    if strict and _MENOPAUSE_DEFINED.search(text):
        return [], False
    facts: list[Fact] = []
    for b in quantities(text, inclusive_top_unit=True):
        if re.match(
            r"(?:within|in the|in (?:last|past|previous|prior|preceding)|during|over the|over (?:last|past))\b",
            b.phrase,
        ):
            continue  # a window ("within 2 years of…") is not an age
        left, right = text[max(0, b.start - 30) : b.start], text[b.end : b.end + 20]
        if _NOT_CHRONOLOGICAL_AGE.search(left):
            continue  # "gestational age > 37 weeks"
        if _TIME_AFTER.match(right):
            continue  # "injury more than 12 months ago" is a time since injury, not an age
        if strict:
            if is_age_phrase(text, b):
                facts.append(Fact("age", b.phrase, b.low, b.high, b.low_strict, b.high_strict))
        elif (
            _AGE_BEFORE.search(left)
            or _AGE_AFTER.match(right)
            or _AGE_IN_PHRASE.search(b.phrase)
            or (b.low is not None and b.high is not None and _AGE_WORD.search(b.phrase))
        ):
            facts.append(Fact("age", b.phrase, b.low, b.high, b.low_strict, b.high_strict))
    if not facts and "age" in text:
        facts = _unitless_ages(text)
    unread = not facts and bool(_AGE_MENTIONED.search(text))
    return facts, unread


# "Age 18-65", "age between 18 and 65", "Age >= 18", "Age 18+", "aged 18 or older": the word "age" itself
# gives the unit (years). Read only when it directly introduces the numbers, and only when no other unit
# follows them ("age-adjusted score 3-5 points", "gestational age 28-32 weeks" are not ages in years).
_AGE_NUM = r"(\d{1,3}(?:\.\d+)?)(?![\d.]*\d)"
_BARE_MIN = r">=|>|at least|more than|greater than|older than|over|above|no less than|not less than|minimum(?: of)?"
_BARE_MAX = r"<=|<|less than|younger than|under|below|up to|no more than|not more than|no older than|maximum(?: of)?"
_BARE_RANGE = rf"(?:between\s+|from\s+)?{_AGE_NUM}\s*(?:-|to|and|through)\s*{_AGE_NUM}"
_BARE_LIMITS = (
    rf"(?:between\s+)?(?P<cmp>{_BARE_MIN}|{_BARE_MAX})\s*{_AGE_NUM}"
    rf"(?:\s*(?:and|,)\s*(?P<cmp2>{_BARE_MIN}|{_BARE_MAX})\s*{_AGE_NUM}(?:\s*years?\b)?)?"
)
_BARE_OPEN = rf"{_AGE_NUM}\s*(?P<post>\+|(?:or|and) (?:older|over|above|more|younger|under|below|less))"
_BARE_AGE = re.compile(
    r"\b(?:age[ds]?|aged)\s*(?:\(\s*(?:in\s+)?years?\s*\)\s*)?(?:range\s*)?(?:[:=]\s*|is\s+|of\s+)?"
    rf"(?:{_BARE_RANGE}|{_BARE_LIMITS}|{_BARE_OPEN})"
    # what may follow: the end, punctuation, or a word that is not a unit
    r"(?=\s*$|\s*[.,;:)\]]|\s+(?:and|or|inclusive|with|who|at|in|on|both|male|female|men|women|patients?|"
    r"participants?|subjects?)\b)"
)
# "gestational age > 37 weeks", "bone age 10-14 years": not the participant's age.
_NOT_CHRONOLOGICAL_AGE = re.compile(
    r"\b(?:gestational|gestation|bone|skeletal|mental|developmental|corrected|post-?menstrual|reading|biological)"
    r"\s*-?\s*age[ds]?\s*(?:of\s*|is\s*|[:=]\s*)?$"
)
# "gestational age 30", "bone age 10-14", "mental age 6": not the participant's age in years.
_NOT_CHRONOLOGICAL = re.compile(
    r"\b(?:gestational|gestation|bone|skeletal|mental|developmental|corrected|post-?menstrual|reading|biological|"
    r"brain|vascular|heart|lung|retinal|adjusted|motor|language|cognitive|equivalent)\s*-?\s*$"
)


# Around the numbers: "18 < age < 70", "age < 18 or > 80" (a limit on each side; in an exclusion, either one
# excludes), "one risk factor such as age > 55": not one plain limit, so nothing is read.
_BARE_NUMBER_BEFORE = re.compile(r"\d\s*(?:<=?|>=?)\s*$")
_BARE_MORE_AFTER = re.compile(r"\s*(?:,|and|or|and/or)?\s*(?:" + _BARE_MIN + "|" + _BARE_MAX + r")\s*\d")
_EXAMPLE_BEFORE = re.compile(r"\b(?:such as|e\.g|eg|for example|for instance|including|like|risk factors?)\b[^.;]*$")


# "18 <= age <= 65", "65 > age > 18": a limit on each side of the word.
_BARE_BETWEEN = re.compile(rf"(?<![\d.]){_AGE_NUM}\s*(<=|<|>=|>)\s*age[ds]?\s*(<=|<|>=|>)\s*{_AGE_NUM}(?!\s*[a-z%])")


def _unitless_ages(text: str) -> list[Fact]:
    facts: list[Fact] = []
    year = DAYS_PER["year"]
    for m in _BARE_BETWEEN.finditer(text):
        first, second = m.group(2), m.group(3)
        if first[0] != second[0] or float(m.group(1)) > 120 or float(m.group(4)) > 120:
            continue
        a, b = float(m.group(1)) * year, float(m.group(4)) * year
        low, high = (a, b) if first[0] == "<" else (b, a)
        low_strict = (first if first[0] == "<" else second) in ("<", ">")
        high_strict_cmp = (second if first[0] == "<" else first) in ("<", ">")
        high = high if high_strict_cmp else high + year
        if low < high:
            facts.append(Fact("age", m.group(0), low, high, low_strict, True))
    if facts:
        return facts
    for m in _BARE_AGE.finditer(text):
        before = text[max(0, m.start() - 40) : m.start()]
        if _NOT_CHRONOLOGICAL.search(before[-20:]) or _BARE_NUMBER_BEFORE.search(before):
            continue
        if _EXAMPLE_BEFORE.search(before) or _BARE_MORE_AFTER.match(text, m.end()):
            continue
        if any(float(n) > 120 for n in m.group(1, 2, 4, 6, 7) if n):
            continue  # not an age in years
        phrase = m.group(0)
        if m.group(1):  # a range
            low, high = float(m.group(1)), float(m.group(2))
            if low <= high:
                facts.append(Fact("age", phrase, low * year, (high + 1) * year, False, True))
        elif m.group(7):  # "18+", "18 or older", "65 or younger"
            value = float(m.group(7)) * year
            post = m.group("post")
            if post == "+" or post.split()[1] in ("older", "over", "above", "more"):
                facts.append(Fact("age", phrase, low=value))
            else:
                facts.append(Fact("age", phrase, high=value + year, high_strict=True))
        else:  # "age >= 18", "age >= 18 and <= 75"
            limits = [(c, n) for c, n in ((m.group("cmp"), m.group(4)), (m.group("cmp2"), m.group(6))) if c]
            lower = [bool(re.fullmatch(_BARE_MIN, c)) for c, _ in limits]
            if len(set(lower)) != len(limits):
                continue  # two lower or two upper limits: not one range
            fact = Fact("age", phrase)
            for (cmp, number), is_lower in zip(limits, lower, strict=True):
                value = float(number) * year
                if is_lower:
                    fact.low, fact.low_strict = value, cmp in _STRICT
                else:
                    fact.high, fact.high_strict = (value if cmp in _STRICT else value + year), True
            if fact.low is None or fact.high is None or fact.low < fact.high:
                facts.append(fact)
    return facts


# -- sex -----------------------------------------------------------------------

_MALE = re.compile(
    r"^(?:(?:adult|healthy|eligible)\s+)?(?:men|males?|boys)\b(?!\s*(?:and|or|/|,)\s*(?:women|females?|girls))"
    r"|\b(?:men|males?) only\b|\bonly (?:men|males?)\b|\b(?:sex|gender)\s*[:=]?\s*male\b(?!\s*(?:and|or|/)\s*female)"
)
_FEMALE = re.compile(
    r"^(?:(?:adult|healthy|eligible|postmenopausal|post-menopausal|premenopausal)\s+)?(?:women|females?|girls)\b"
    r"(?!\s*(?:and|or|/|,)\s*(?:men|males?|boys))"
    r"|\b(?:women|females?) only\b|\bonly (?:women|females?)\b|\b(?:sex|"
    r"gender)\s*[:=]?\s*female\b(?!\s*(?:and|or|/)\s*male)"
)
_BOTH = re.compile(
    r"\b(men and women|male and female|males and females|male or female|men or women|both sexes|either sex)\b"
)


# Words written joined, hyphenated or spaced: "birth control", "birth-control", "child bearing", "breast-feeding".
_REPRODUCTIVE_WORDS = (
    r"child[\s-]*bearing|pregnan|contracept|lactat|breast[\s-]*feed|birth[\s-]*control|family[\s-]*planning"
)
_SEX_CONDITIONAL = re.compile(
    _REPRODUCTIVE_WORDS + r"|nursing|menopaus|sterili[sz]|sperm|condom|\b(?:must|should|shall|will|agree|willing|if)\b"
)
# Rules about contraception and pregnancy mention ages and sexes without limiting who may join.
_REPRODUCTIVE = re.compile(_REPRODUCTIVE_WORDS)


def sexes(text: str) -> list[Fact]:
    """A criterion that restricts who may join by sex ("Men aged 18 to 45 with…").

    Rules for participants of one sex ("Women of childbearing potential must…")
    are not restrictions and are skipped.
    """
    if _BOTH.search(text) or _SEX_CONDITIONAL.search(text):
        return []
    if _MALE.search(text):
        return [Fact("sex", "men only", values=["male"])]
    if _FEMALE.search(text):
        return [Fact("sex", "women only", values=["female"])]
    return []


# -- time since injury or onset ----------------------------------------------------


@functools.cache
def _event_pattern() -> re.Pattern[str]:
    words = {w for c in knowledge().conditions.values() for w in c.event_words}
    # Not "symptoms": "unstable neurological symptoms within 4 weeks" is about having symptoms, not their onset.
    words |= {"onset", "diagnosis", "diagnosed", "post-injury", "postinjury", "post-stroke", "poststroke"}
    alternation = "|".join(sorted((re.escape(w) for w in words), key=len, reverse=True))
    return re.compile(r"\b(" + alternation + r")(?:s|ies|ed)?\b")


@functools.cache
def _event_stems() -> tuple[str, ...]:
    """Substrings every event word contains, for a cheap first test."""
    words = {w for c in knowledge().conditions.values() for w in c.event_words} | {"onset", "diagnos", "post"}
    return tuple(sorted({w[:5] for w in words}))


_EVENT_NEAR = re.compile(
    r"\b(injur\w*|sci|trauma\w*|lesion|stroke|onset|diagnos\w*|ictus|infarct\w*|post-?(?:injury|stroke))\b"
)
# A quantity about something else: "on stable medication for at least 3 months", "seizure within 6 months",
# "cancer diagnosed within 5 years", "recent (within 6 months) myocardial infarction".
_OTHER_SUBJECT_WORDS = (
    r"medications?|drugs?|treatment|therapy|therapies|botulinum|botox|toxin|injections?|surgery|surgical|"
    r"operation|procedure|implant\w*|training|program\w*|rehabilitation|physiotherapy|seizures?|infection|"
    r"myocardial|cardiac|heart|angina|coronary|mi|acs|angioplasty|stent\w*|bypass|cabg|pci|ptca|revasculari[sz]\w*|"
    r"cancer|malignan\w*|tumou?rs?|carcinoma|lymphoma|leuka?emia|sarcoma|melanoma|neoplasm\w*|"
    r"chemotherapy|radiation|radiotherapy|diabetes|hypertension|copd|asthma|hiv|hepatitis|tuberculosis|"
    r"pneumonia|sepsis|covid\w*|pregnan\w*|"
    r"participat\w*|trials?|studies|study drug|investigational|vaccin\w*|alcohol|smok\w*|dose|doses|"
    r"fracture|ulcers?|pressure sores?|hospitali[sz]\w*|admission|discharge|relapse|exacerbation|symptoms? of|"
    r"transfusion|thrombo\w*|embolism|dvt|bleeding|weight"
)
_OTHER_SUBJECT = re.compile(r"\b(" + _OTHER_SUBJECT_WORDS + r")\b")
# Right after the number: "within 6 months of cardiac surgery", "(within 6 months) myocardial infarction".
_OTHER_SUBJECT_AFTER = re.compile(
    r"[\s)]*(?:-\s*)?(?:(?:of|after|since|following|from|post|the|a|an|any|their|last|first|initial|previous|"
    r"prior|recent|most recent|elective|major|acute|index|unstable|new)[\s-]+)*(?:" + _OTHER_SUBJECT_WORDS + r")\b"
)
# After a parenthesised window, words that do not start a noun: the window is about what came before it.
_LINK_WORD = re.compile(
    r"\s*(?:$|[,;:.()\[\]/]|-\s|(?:or|and|nor|with|without|who|whose|that|which|as|in|at|on|by|before|prior|ago|"
    r"after|since|following|from|of|post|is|are|was|were|has|have|had|to|for|during|until|if|unless|except|"
    r"e\.g|i\.e|including|such|must|should|will)\b)"
)
_GENERIC_EVENTS = ("onset", "diagnosis", "diagnosed")
_PHASE_WORD = re.compile(r"\b(acute|sub-?acute|chronic)\b")
_PHASE_BETWEEN = (
    r"(?:(?:traumatic|non-?traumatic|spinal|cord|cervical|thoracic|lumbar|complete|incomplete|motor|sensory|"
    r"ischemic|ischaemic|hemorrhagic|haemorrhagic|first-ever|first|brain|supratentorial|unilateral|hemispheric|"
    r"phase|stage|period|of|after|following|post|the|an?)\s+){0,3}"
)
_PHASE_CONTEXT = re.compile(
    r"\b(acute|sub-?acute|chronic)\s+"
    + _PHASE_BETWEEN
    + r"(injur\w*|sci\b|spinal cord|stroke|tbi\b|brain injur\w*|tetrapleg\w*|quadripleg\w*|parapleg\w*|"
    r"hemipare\w*|hemipleg\w*|myelopathy)"
    r"|\b(injur\w*|sci|stroke|tbi)\b\s+(?:in the\s+|at the\s+|in\s+)?(acute|sub-?acute|"
    r"chronic)\s+(?:phase|stage|period)"
)
# "acute kidney injury", "chronic obstructive…": the phase word belongs to another organ.
_PHASE_OTHER_ORGAN = re.compile(r"\b(kidney|renal|liver|hepatic|lung|pulmonary|myocardial|heart|cardiac|coronary)\b")


def times(text: str) -> tuple[list[Fact], bool]:
    """Time since injury or onset: minimum, maximum, range, or a phase named without numbers."""
    event_re = _event_pattern()
    if not (_any_of(text, _event_stems()) or "acute" in text or "chronic" in text):
        return [], False
    if not event_re.search(text) and not _PHASE_WORD.search(text):
        return [], False
    facts: list[Fact] = []
    bounds = quantities(text)
    for b in bounds:
        if is_age_phrase(text, b):
            continue  # "stroke patients aged 18 years and older": an age, not a time since the stroke
        event = _event_for(text, b, event_re)
        if event is None:
            continue
        facts.append(Fact("time", b.phrase, b.low, b.high, b.low_strict, b.high_strict, event=event))
    if not facts:
        for m in _PHASE_CONTEXT.finditer(text):
            phase = (m.group(1) or m.group(4) or "").replace("-", "")
            if phase and not _PHASE_OTHER_ORGAN.search(m.group(0)):
                facts.append(Fact("time", m.group(0), event=_phase_event(m.group(0)), phase=phase))
                break
    has_number = bool(re.search(QTY, text))
    unread = not facts and has_number and bool(event_re.search(text)) and _looks_like_time_since(text)
    return facts, unread


def _event_for(text: str, b: Bound, event_re: re.Pattern[str]) -> str | None:
    """The event a duration counts from, if it is the start of a condition (not a drug, a seizure, an MI…).

    When it is not clear what the duration is about, the answer is None: nothing is read.
    """
    before = re.split(r"[;.]\s", text[max(0, b.start - 70) : b.start])[-1]
    after = re.split(r"[;.]\s|, (?:and|or) ", text[b.end : b.end + 60])[0]
    if re.search(r"\b(for|during|lasting|duration of)\s*$", before):
        return None  # "stable for at least 3 months": a duration of something else
    right = event_re.search(after[:40])
    if right and re.match(r"\s*(?:\)\s*)?(?:post|after|from|since|following|of|prior|before|ago|,)?[\s-]*", after):
        lead = after[: right.start()]
        if not _OTHER_SUBJECT.search(lead) and re.fullmatch(
            r"[\s,()-]*(?:(?:post|after|from|since|following|of|prior to|before|ago|the|(?:their|"
            r"the)\s+(?:initial\s+)?|"
            r"index|first|last|current|most recent|qualifying|onset of|date of|time of|occurrence of)[\s-]*)*",
            lead,
        ):
            if not _OTHER_SUBJECT.search(before[-25:]):
                event = _canonical_event(right.group(1))
                if event in _GENERIC_EVENTS and _OTHER_SUBJECT.search(_clause(after[right.end() :])):
                    return None  # "within 6 months of diagnosis of cancer"
                return event
    if _OTHER_SUBJECT_AFTER.match(after):
        return None  # "stroke within 6 months of cardiac surgery": counted from the surgery
    closing = re.match(r"\s*\)", after)
    if closing and re.search(r"\(\s*$", before) and not _LINK_WORD.match(after, closing.end()):
        # A parenthesised window in front of words is about them: "recent (< 6 months) stroke" is read above;
        # "recent (within 6 months) myocardial infarction" is not about the patient's condition.
        rest = after[closing.end() :].lstrip()
        if _PHASE_WORD.search(before[-30:]) and _condition_index()[0].match(rest):
            return "onset"  # "chronic (> 12 months) paraplegia"
        return None
    lefts = list(event_re.finditer(before))
    if lefts:
        last = lefts[-1]
        between = before[last.end() :]
        if not _OTHER_SUBJECT.search(between) and len(between) < 45:
            event = _canonical_event(last.group(1))
            if event in _GENERIC_EVENTS and _OTHER_SUBJECT.search(_clause_end(before[: last.start()])):
                return None  # "cancer diagnosed within 5 years"
            return event
    if re.search(r"\b(?:acute|sub-?acute|chronic)(?:\s+(?:phase|stage|period))?\s*\(\s*$", before):
        return "onset"  # "chronic (> 12 months)"
    return None


def _clause(text: str) -> str:
    """The start of ``text`` up to the first comma, semicolon, colon or bracket."""
    return re.split(r"[,;:()]", text[:50], maxsplit=1)[0]


def _clause_end(text: str) -> str:
    """The end of ``text`` from the last comma, semicolon, colon or bracket."""
    return re.split(r"[,;:()]", text[-50:])[-1]


def _canonical_event(word: str) -> str:
    w = word.lower()
    if w.startswith("symptom"):
        return "onset"
    if w.startswith(("post-", "post")):
        w = w.replace("post-", "").replace("post", "")
    return w


def _phase_event(phrase: str) -> str:
    m = _EVENT_NEAR.search(phrase)
    return _canonical_event(m.group(1)) if m else "onset"


def _looks_like_time_since(text: str) -> bool:
    return bool(
        re.search(
            r"\b(post|after|since|ago|prior|following|from|within|time since|duration)\b[^.;]{0,40}"
            r"\b(injur\w*|stroke|onset|diagnos\w*|sci|trauma|lesion|ictus)",
            text,
        )
        or re.search(r"\b(injur\w*|stroke|onset|sci|trauma)\b[^.;]{0,30}\b(ago|prior|before|duration|time)\b", text)
    )


# -- severity --------------------------------------------------------------------

_GRADE_LIST = r"([a-e](?:\s*(?:,\s*(?:or|and)?|/|or|and|to|through|-)\s*(?:grade\s+)?[a-e]\b)*)"
_AIS = re.compile(
    r"\b(?:ais|asia(?: impairment scale)?(?: \(ais\))?|"
    r"american spinal injury association(?: impairment scale)?(?: \(asia\))?)"
    r"(?: impairment scale)?(?:\s+(?:grades?|scores?|levels?|class(?:ification)?|categor(?:y|"
    r"ies)))?\s*(?:of\s+|is\s+|:|=)?\s*" + _GRADE_LIST + r"(?![a-z])"
)
_AIS_WORDS = re.compile(
    r"\b(motor complete|motor incomplete|sensory incomplete|incomplete|complete)\s+"
    r"(?:\w+\s+){0,2}?(?:spinal cord injur\w*|sci\b|injur\w*|lesions?|tetrapleg\w*|quadripleg\w*|parapleg\w*)"
    r"|\b(?:sci|spinal cord injury|injury|lesion)\b\s+(?:that is |which is |classified as )?"
    r"(motor complete|motor incomplete|sensory incomplete|incomplete|complete)\b"
)
_LEVEL = r"([ctls])-?\s?(\d{1,2})"
_LEVEL_RANGE = re.compile(r"\b" + _LEVEL + r"\s*(?:-|to|through|and)\s*" + _LEVEL + r"\b")
_LEVEL_ABOVE = re.compile(
    r"\b(?:at or above|at or higher than|at and above|above|higher than|rostral to|superior to|"
    r"cephalad to)\s+(?:the\s+)?(?:level\s+(?:of\s+)?)?"
    + _LEVEL
    + r"\b|\b"
    + _LEVEL
    + r"\s+(?:or|and)\s+(above|higher)\b"
)
_LEVEL_BELOW = re.compile(
    r"\b(?:at or below|at or lower than|at and below|below|lower than|caudal to|"
    r"inferior to)\s+(?:the\s+)?(?:level\s+(?:of\s+)?)?"
    + _LEVEL
    + r"\b|\b"
    + _LEVEL
    + r"\s+(?:or|and)\s+(below|lower)\b"
)
_REGION = re.compile(
    r"\b(supra[- ]?sacral|(?<!supra )(?<!supra-)(?:cervical|thoracic|lumbar|sacral))\s+"
    r"(?:level\s+|spinal cord\s+|sci\b|injur|lesion|segment|region|cord)"
    r"|\b(tetrapleg\w*|quadripleg\w*|parapleg\w*)\b"
)
_LEVEL_CUE = re.compile(r"\b(?:level|nli|lesion|injur\w*|sci|spinal cord|segments?|neurological)\b")
# A level is the patient's neurological level only when the sentence is about the injury, the lesion or the
# neurological level ("neurological level of injury C5-T1", "SCI at or above T6", "cervical spinal cord injury")...
_NEURO_LEVEL = re.compile(
    r"\b(?:spinal cord|sci|injur\w*|neurolog\w* levels?|nli|(?:motor|sensory) levels?|lesions?|"
    r"levels? of (?:the )?(?:injury|lesion|sci|spinal cord|impairment)|(?:injury|lesion|sci) levels?|"
    r"tetrapleg\w*|quadripleg\w*|parapleg\w*)\b"
)
# ...and never when its clause is about vertebrae, discs, surgery or treatment ("surgical level of L4-S1",
# "1-2 level (L4-L5 and/or L5-S1)", "the lumbar segment to be treated", "previous trauma to the C3 to C7 levels").
_ANATOMY_LEVEL = re.compile(
    r"\b(?:vertebra\w*|dis[ck]s?|discal|discogenic|discectom\w*|dis[ck]ectom\w*|surg\w*|operat\w*|treat\w*|"
    r"fusions?|fused|stenosis|herniat\w*|spondyl\w*|radicul\w*|dermatom\w*|acdf|lamin\w*|foramin\w*|implant\w*|"
    r"decompress\w*|instrument\w*|immobile|segments?|segmental|spine|spinal (?:canal|column)|fractur\w*|osteophyt\w*|"
    r"facets?|nerve roots?|roots?|index|arthroplast\w*|pedicles?|intervertebral|bony|osseous|regions?|"
    r"trauma to|ddd|ldh|(?:one|two|three|four|single|multi|multiple|\d)[- ]?levels?)\b"
)
_GMFCS = re.compile(
    r"\b(?:gmfcs|gross motor function classification system(?: \(gmfcs\))?)(?:\s+(?:levels?|"
    r"grades?|scores?))?\s*(?:of\s+|:|=)?\s*"
    r"((?:iv|v|i{1,3}|[1-5])(?:\s*(?:,|/|or|and|to|through|-)\s*(?:level\s+)?(?:iv|v|i{1,3}|[1-5])\b)*)"
)


def _grade_set(spec: str, scale: tuple[str, ...]) -> list[str]:
    """ "a, b or c" / "a-c" / "i to iii" → the grades named, in scale order."""
    tokens = re.findall(r"[a-z0-9]+|-|to|through", spec.lower())
    out: list[str] = []
    i = 0
    norm = [_scale_value(t, scale) for t in tokens]
    while i < len(tokens):
        value = norm[i]
        if value is None:
            i += 1
            continue
        if i + 2 < len(tokens) and tokens[i + 1] in ("-", "to", "through") and norm[i + 2] is not None:
            a, b = scale.index(value), scale.index(norm[i + 2])
            out += list(scale[min(a, b) : max(a, b) + 1])
            i += 3
            continue
        out.append(value)
        i += 1
    return sorted(set(out), key=scale.index)


def _scale_value(token: str, scale: tuple[str, ...]) -> str | None:
    roman = {"1": "I", "2": "II", "3": "III", "4": "IV", "5": "V"}
    t = token.upper()
    if t in scale:
        return t
    if roman.get(t) in scale:
        return roman[t]
    return None


_DEFICIT = re.compile(
    r"\b(?:(functional|focal|fixed|persistent|residual|motor|sensory|objective)\s+)?"
    r"(?:neurologic(?:al)?|motor)\s+(?:deficits?|impairments?)\b"
)
_DEFICIT_UNSURE = re.compile(
    r"\b(progressive|new|worsening|severe|significant|major|acute|sudden|rapidly)\s+(?:\w+\s+)?$"
)


# "No neurological deficit", "as long as there are no neurologic deficits", "with or without neurologic deficit",
# "neurological deficit other than from the injury": not a plain statement that the person has a deficit.
_DEFICIT_NEGATED = re.compile(r"\b(?:no|not|without|absence of|absent|free of|nor|none|lack of|never)\b[^.;,:]*$")
_DEFICIT_EXCEPT = re.compile(
    r"[^.;,:]{0,30}?\b(?:other than|unrelated|not related|not due|not caused|except|apart from|besides|excluding)\b"
)
# "severe neurological deficits", "… deficits or severe neurologic deficits"; not "progressive or severe deficits",
# "severe and progressive deficits" (a kind that a profile can't tell).
_DEFICIT_SEVERE = re.compile(
    r"(?:^|[,;:(]\s*|\b(?:with|of|has|have|having|any|deficits?|impairments?)\s+(?:or\s+)?)severe\s+$"
)


def _deficits(text: str) -> tuple[list[Fact], bool]:
    """ "Neurological deficit" (anyone with a lasting one) and "severe neurological deficit" (motor-complete SCI)."""
    facts: list[Fact] = []
    unread = False
    severe: Fact | None = None
    for m in _DEFICIT.finditer(text):
        before = text[max(0, m.start() - 40) : m.start()]
        if "with or without" in before[-25:]:
            continue  # states no requirement
        is_severe = bool(_DEFICIT_SEVERE.search(before))
        if not is_severe and _DEFICIT_UNSURE.search(before[-30:]):
            continue  # "progressive", "new", "significant" deficits: a kind a profile can't tell
        exception = _DEFICIT_EXCEPT.match(text, m.end())
        if _DEFICIT_NEGATED.search(before) or (exception and _names_a_condition(text[exception.end() : m.end() + 90])):
            unread = True  # "no neurological deficit", "deficits other than from the spinal cord injury"
            continue
        if is_severe:
            severe = severe or Fact("deficit", ("severe " + m.group(0)).strip(), values=["severe"])
        elif not facts:
            facts.append(Fact("deficit", m.group(0)))
    if severe is not None and not facts:
        facts.append(severe)  # "deficits or severe deficits" is no more than "deficits"
    return facts, unread


def _names_a_condition(text: str) -> bool:
    """Does the text name a known condition, or an injury or lesion (which may be the patient's)?"""
    clause = re.split(r"[.;:,]", text, maxsplit=1)[0]
    return bool(_condition_index()[0].search(clause) or re.search(r"\b(?:injur\w*|lesions?|trauma\w*)\b", clause))


def severities(text: str) -> tuple[list[Fact], bool]:
    """AIS grades, neurological level ranges, GMFCS levels, and "neurological deficit"."""
    k = knowledge()
    facts, unsure_deficit = _deficits(text) if "defici" in text or "impairment" in text else ([], False)
    for m in _AIS.finditer(text):
        grades = _grade_set(m.group(1), k.ais_grades)
        if grades:
            facts.append(Fact("ais", m.group(0).strip(), values=grades))
    if not any(f.kind == "ais" for f in facts):
        for m in _AIS_WORDS.finditer(text):
            words = m.group(1) or m.group(2)
            grades = list(k.ais_terms.get(words, ()))
            if grades and not re.search(r"\b(fully|to)\s+complete\b|\bcompleted?\s+(the|a|all)\b", m.group(0)):
                facts.append(Fact("ais", m.group(0).strip(), values=grades))
                break
    levels, unsure_level = _levels(text)
    facts += levels
    for m in _GMFCS.finditer(text):
        levels = _grade_set(m.group(1), k.gmfcs_levels)
        if levels:
            facts.append(Fact("gmfcs", m.group(0).strip(), values=levels))
    mentioned = bool(
        re.search(r"\b(ais|asia)\b|\bgmfcs\b|\bgross motor function classification", text)
        or (_NEURO_LEVEL.search(text) and re.search(r"\b[ctl]\s?\d{1,2}\b", text))
    )
    unread = (mentioned and not facts) or unsure_level or unsure_deficit
    return facts, unread


def _level_name(letter: str, number: str) -> str | None:
    name = f"{letter.upper()}{int(number)}"
    return name if name in knowledge().levels else None


def _levels(text: str) -> tuple[list[Fact], bool]:
    """Neurological level ranges; second value: a level of the injury is named but could not be told apart
    from a vertebral, disc or surgical level."""
    k = knowledge()
    order = k.levels
    if not _LEVEL_CUE.search(text) and not _REGION.search(text):
        return [], False
    found: list[tuple[re.Match[str], list[str]]] = []
    for m in _LEVEL_RANGE.finditer(text):
        a, b = _level_name(m.group(1), m.group(2)), _level_name(m.group(3), m.group(4))
        if a and b and order.index(a) <= order.index(b):
            found.append((m, [a, b]))
    for m in _LEVEL_ABOVE.finditer(text):
        name = _level_name(*(m.group(1, 2) if m.group(1) else m.group(3, 4)))
        if name:
            inclusive = "at" in m.group(0) or "or" in m.group(0) or " and " in m.group(0)
            i = order.index(name) - (0 if inclusive else 1)
            if i >= 0:
                found.append((m, [order[0], order[i]]))
    for m in _LEVEL_BELOW.finditer(text):
        name = _level_name(*(m.group(1, 2) if m.group(1) else m.group(3, 4)))
        if name:
            inclusive = "at" in m.group(0) or "or" in m.group(0) or " and " in m.group(0)
            i = order.index(name) + (0 if inclusive else 1)
            if i < len(order):
                found.append((m, [order[i], order[-1]]))
    for m in _REGION.finditer(text):
        word = (m.group(1) or m.group(2) or "").replace("-", "").replace(" ", "")
        key = next((r for r in k.level_regions if word.startswith(r[:6])), None)
        if word.startswith("suprasacral"):
            found.append((m, [order[0], "L5"]))
        elif key:
            found.append((m, list(k.level_regions[key])))
    facts: list[Fact] = []
    unsure = False
    for m, values in found:
        sentence = _around(text, m.start(), m.end(), r"[;]|\.\s")
        if not (m.group(0).startswith(("tetra", "quadri", "para")) or _NEURO_LEVEL.search(sentence)):
            continue  # "disc disease at L4-L5", "tumours in the cervical region": not a level of injury
        if _ANATOMY_LEVEL.search(_around(text, m.start(), m.end(), r"[;,]|\.\s")):
            unsure = True  # "SCI patients with spinal fusion at T10-L2": can't tell which level is meant
            continue
        facts.append(Fact("level", m.group(0).strip(), values=values))
    return facts, unsure


def _around(text: str, start: int, end: int, stops: str) -> str:
    """The clause of ``text`` around [start, end): from the last stop before it to the first stop after it."""
    before = re.split(stops, text[max(0, start - 120) : start])[-1]
    after = re.split(stops, text[end : end + 80], maxsplit=1)[0]
    return before + text[start:end] + after


# -- conditions --------------------------------------------------------------------


@functools.cache
def _condition_index() -> tuple[re.Pattern[str], dict[str, str]]:
    """One pattern for every condition name used in criteria, and which condition each name is."""
    names: dict[str, str] = {}
    for c in knowledge().conditions.values():
        for word in c.criteria_terms:
            names.setdefault(word.lower(), c.id)
    alternation = "|".join(re.escape(w) for w in sorted(names, key=len, reverse=True))
    return re.compile(r"\b(" + alternation + r")\b"), names


# "severe head injury", "head trauma with persistent deficits": a kind of the condition we can't check.
_QUALIFIER_BEFORE = re.compile(
    r"\b(severe|moderate|moderate-to-severe|significant|major|serious|unstable|active|uncontrolled|disabling|"
    r"persistent|residual|clinically significant|progressive|recent|penetrating|congenital|"
    r"non-?traumatic)\s+(?:\w+\s+){0,2}$"
    # examples of something broader ("raised intracranial pressure, e.g. head trauma") and after-effects
    r"|\b(?:e\.g\.?|eg|for example|such as|i\.e\.?)[\s,:]+(?:[\w-]+[\s,]+){0,6}$|\bpost-?\s?$"
    # about something else than having it: "other causes of stroke", "risk factors for stroke", "stroke mimics"
    r"|\b(?:causes?|etiolog\w*|aetiolog\w*|risk factors?|complications?|signs?|mimics?|sequelae|predictors?|"
    r"prevention)\s+(?:of|for)\s+(?:\w+\s+){0,1}$"
)
_QUALIFIER_AFTER = re.compile(
    r"^\s*(?:\w+\s+){0,2}?(?:with|requiring|resulting in|causing|associated with|leading to)\b"
    r"|^\s*-?\s*(?:mimics?|like|risk factors?)\b"  # "stroke mimics", "stroke-like episodes"
)

# The nearest negation within four words before a condition ("no history of stroke", "other than SCI").
_NEGATION = re.compile(
    r".*\b(no|not|without|never|absence of|free of|other than|besides|except|apart from|excluding|unrelated to|"
    r"not related to|not due to|not caused by|non-)\s*((?:\w+\s+){0,4}?)$"
)
# Between a negation and the condition, only plain history or diagnosis wording negates the condition itself.
# "No other causes of stroke", "no risk factors for stroke", "no signs of SCI", "no more than 2 strokes",
# "no hemorrhagic stroke" are about something else than having it: they are kept as unclear.
_PLAIN_NEGATION = re.compile(
    r"(?:(?:a|an|any|known|prior|previous|past|personal|documented|confirmed|clinical|history|diagnosis|diagnosed|"
    r"evidence|of|with|having|had|has|have|been|suffered|sustained|experienced|ever)\s+)*"
)
# Substrings every negation above contains: a cheap first test.
_NEGATION_STEMS = (
    "no", "with", "never", "absence", "free", "other", "besides", "except", "apart", "excluding", "unrelated",
)  # fmt: skip
# Conditions listed after a negated one share its negation: "no history of stroke, SCI or TBI".
_LIST_GAP = re.compile(r"[\s,/]*(?:(?:or|and|nor|and/or)\s+)?(?:(?:a|an|any)\s+)?")


@functools.cache
def _condition_stems() -> tuple[str, ...]:
    """Short substrings covering every condition name (a name always contains its first 4 letters)."""
    return tuple(sorted({name[:4] for name in _condition_index()[1]}))


def conditions(text: str) -> list[Fact]:
    """Known conditions named in the criterion, and whether the naming is negated ("no history of stroke").

    A negation whose wording is not plainly about having the condition ("absence of other causes of
    stroke") gives a negated fact that is also ``qualified``: it is never read as "no stroke".
    """
    pattern, names = _condition_index()
    if not _any_of(text, _condition_stems()):
        return []
    facts: dict[str, Fact] = {}
    previous_end = -1
    previous: tuple[bool, bool] | None = None  # (negated, unclear) of the last mention
    for m in pattern.finditer(text):
        cid = names[m.group(1)]
        before = text[max(0, m.start() - 40) : m.start()]
        if previous and previous[0] and _LIST_GAP.fullmatch(text, previous_end, m.start()):
            negated, unclear = previous
        else:
            negation = _NEGATION.match(before) if _any_of(before, _NEGATION_STEMS) else None
            negated = negation is not None
            unclear = negated and not _PLAIN_NEGATION.fullmatch(negation.group(2))
        previous_end, previous = m.end(), (negated, unclear)
        if cid in facts:
            continue
        after = text[m.end() : m.end() + 40]
        qualified = unclear or bool(_QUALIFIER_BEFORE.search(before) or _QUALIFIER_AFTER.match(after))
        facts[cid] = Fact("condition", m.group(0), values=[cid], negated=negated, qualified=qualified)
    return list(facts.values())
