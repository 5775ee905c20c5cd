"""Parse a trial's eligibility text into criteria with the facts that can be checked.

``parse(text)`` is pure and fast (it runs for every study stored); its result
is saved in the cache as JSON together with ``PARSER_VERSION``, and parsed
again only when that version changes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from . import extract
from .extract import Fact
from .sections import Line, scope, split

# Bump whenever parsing changes what it reads: cached parses with another version are redone.
PARSER_VERSION = 3


def parser_version() -> str:
    """The version stored with each parse: the code's, and the seed files' (they hold the condition names)."""
    from ..seeds import fingerprint

    return f"{PARSER_VERSION}:{fingerprint()}"


_GROUP_IS_COHORT = re.compile(
    r"\b(group|cohort|arm|part [a-z0-9]|population|stage [0-9]|(?:patients|participants|subjects|individuals) with)\b",
    re.I,
)
# Cheap substring screens so that most criteria skip the expensive extractors (Python's regex engine
# is slow at trying many alternatives at every position; `in` is not).
_AGE_WORDS = ("age", "old", "adult", "young", "y/o")
_SEX_WORDS = ("men", "male", "boy", "girl", "sex", "gender")
_TIME_WORDS = ("acute", "chronic")
_SEVERITY_WORDS = (
    "ais", "asia", "gmfcs", "gross motor", "complete", "cervical", "thoracic", "lumbar", "sacral", "pleg", "deficit",
    "impairment",
)  # fmt: skip
_DIGIT = re.compile(r"\d")
_LEVEL_TOKEN = re.compile(r"\b[ctl]-?\s?\d")


def _any(text: str, words: tuple[str, ...]) -> bool:
    return any(map(text.__contains__, words))


@dataclass
class Criterion:
    """One criterion as written, where it sits, and what could be read from it."""

    text: str
    section: str  # inclusion | exclusion | unknown
    group: str | None = None
    scope: str = "patient"  # patient | healthy | other | conditional ("if aged 6 or older, …")
    alternative: bool = False  # an option among several: failing it alone excludes no one
    partial: bool = False  # states more than the facts read (e.g. "6 years or older and weighs < 19 kg")
    facts: list[Fact] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)  # kinds mentioned but not read with confidence

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text, "section": self.section}
        if self.group:
            out["group"] = self.group
        if self.scope != "patient":
            out["scope"] = self.scope
        if self.alternative:
            out["alternative"] = True
        if self.partial:
            out["partial"] = True
        if self.facts:
            out["facts"] = [f.to_dict() for f in self.facts]
        if self.unread:
            out["unread"] = self.unread
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Criterion:
        return cls(
            text=data["text"],
            section=data["section"],
            group=data.get("group"),
            scope=data.get("scope", "patient"),
            alternative=data.get("alternative", False),
            partial=data.get("partial", False),
            facts=[Fact.from_dict(f) for f in data.get("facts", ())],
            unread=list(data.get("unread", ())),
        )


@dataclass
class Parsed:
    """All criteria of one trial."""

    criteria: list[Criterion]
    version: int = PARSER_VERSION
    has_headers: bool = True

    def to_json(self) -> str:
        data = {
            "version": self.version,
            "has_headers": self.has_headers,
            "criteria": [c.to_dict() for c in self.criteria],
        }
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Parsed:
        data = json.loads(text)
        return cls([Criterion.from_dict(c) for c in data["criteria"]], data["version"], data.get("has_headers", True))


def parse(text: str | None) -> Parsed:
    """Split criteria text into criteria and read the checkable facts of each."""
    lines = split(text or "")
    cohorts = {ln.group for ln in lines if ln.section == "inclusion" and ln.group and _GROUP_IS_COHORT.search(ln.group)}
    parsed = [_criterion(line, alternative_group=len(cohorts) > 1 and line.group in cohorts) for line in lines]
    return Parsed(parsed, has_headers=any(c.section != "unknown" for c in parsed))


def parse_many(texts: list[str | None]) -> list[str]:
    """Parsed criteria as JSON for many texts (run in a worker process during imports)."""
    return [parse(t).to_json() for t in texts]


def _criterion(line: Line, *, alternative_group: bool) -> Criterion:
    criterion = Criterion(
        text=line.text,
        section=line.section,
        group=line.group,
        scope=scope(line),
        alternative=line.alternative or alternative_group,
    )
    low = extract.normalise(line.text)
    has_digit = bool(_DIGIT.search(low))
    if _any(low, _AGE_WORDS):
        facts, unread = extract.ages(low)
        criterion.facts += facts
        if unread:
            criterion.unread.append("age")
    if line.section == "inclusion" and _any(low, _SEX_WORDS):
        criterion.facts += extract.sexes(low)
    if has_digit or _any(low, _TIME_WORDS):
        facts, unread = extract.times(low)
        criterion.facts += facts
        if unread:
            criterion.unread.append("time_since_onset")
    if _any(low, _SEVERITY_WORDS) or ("level" in low) or (has_digit and _LEVEL_TOKEN.search(low)):
        facts, unread = extract.severities(low)
        criterion.facts += facts
        if unread:
            criterion.unread.append("severity")
    criterion.facts += extract.conditions(low)
    criterion.facts = _merge_age_limits(criterion.facts)
    if criterion.facts and criterion.scope == "patient" and _is_conditional(low):
        criterion.scope = "conditional"
    criterion.partial = bool(criterion.facts) and _states_more(low, criterion.facts)
    return criterion


def _is_conditional(low: str) -> bool:
    if not (
        low.startswith(("if ", "for ", "when ", "in case", "in the case", "unless ", "where "))
        or "only" in low
        or ("age" in low and _any(low, ("must", "should", "will", "shall", "need", "required", " can ", " may ")))
    ):
        return False
    return bool(_CONDITIONAL.search(low))


# A criterion that applies only to some participants: "If 6 years or older and…", "For subjects aged 65+:",
# "Subjects aged 18 and older must give consent" (the younger ones give assent).
_CONDITIONAL = re.compile(
    r"^(?:if|for|when|in case|in the case|unless|where)\b"
    r"|^(?:subjects?|patients?|participants?|individuals|those|children|adults|"
    r"persons)\s+(?:who are\s+)?(?:aged?|ages?)\b"
    r"[^.;:]{0,40}\b(?:must|should|will|shall|needs?|are required|can|may)\b"
    r"|\((?:[^)]*\bonly\b[^)]*)\)|\bonly applicable\b|\bapplies only\b|\bapplicable only\b"
)
# Things a criterion may state beside the facts read from it.
_MORE = re.compile(
    r"(?<!\d)\d+(?:\.\d+)?\s*(?:kg|lbs?|pounds|g/dl|mg|mmol|µmol|umol|%|points?|mmhg|bpm|cm|ml|iu)\b"
    r"|\b(?:if|unless|only applicable|only if|provided that|whose|weigh\w*|except)\b"
)


_MAX_PHRASES = 50  # real criteria state at most a handful of facts


def _states_more(text: str, facts: list[Fact]) -> bool:
    if not (_DIGIT.search(text) or _any(text, ("if", "unless", "only", "provided", "whose", "weigh", "except"))):
        return False
    phrases = list(dict.fromkeys(f.phrase for f in facts if f.phrase))
    if len(phrases) > _MAX_PHRASES:
        return True  # not a criterion a person wrote (and removing each phrase would take quadratic time)
    rest = text
    for phrase in phrases:
        rest = rest.replace(phrase, " ")
    return bool(_MORE.search(rest))


def _merge_age_limits(facts: list[Fact]) -> list[Fact]:
    """ "Age >= 18 and <= 80 years" is one range; two full ranges stay apart (they are alternatives)."""
    ages = [f for f in facts if f.kind == "age"]
    lows = [f for f in ages if f.low is not None and f.high is None]
    highs = [f for f in ages if f.high is not None and f.low is None]
    if len(ages) == 2 and len(lows) == 1 and len(highs) == 1:
        low, high = lows[0], highs[0]
        merged = Fact("age", f"{low.phrase} … {high.phrase}", low.low, high.high, low.low_strict, high.high_strict)
        return [f for f in facts if f.kind != "age"] + [merged]
    return facts
