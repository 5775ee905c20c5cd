"""Check facts read from a trial against a patient profile: pure functions, no I/O.

Every check answers the same question: is this patient inside the set of
people the fact describes? ``True``, ``False``, or ``None`` when the profile
does not say or the answer depends on where, inside an imprecise range, the
patient really is. Patient facts are half-open intervals of days (see
``profiles``), so "34 years old" against "up to 34 years" is True while
"34 years old" against "under 34.5 years" is None.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..profiles import Profile
from ..seeds import Condition, Window, knowledge
from .extract import Fact

Membership = bool | None


@dataclass(frozen=True)
class Check:
    """A membership answer with the patient-side words to explain it."""

    inside: Membership
    patient: str  # e.g. "you are 67", "your level is C5", "your profile has no AIS grade"


def interval_in_bound(value: tuple[float, float] | None, fact: Fact) -> Membership:
    """Is every possible value in [lo, hi) inside the fact's bound (True), none (False), or some (None)?"""
    if value is None:
        return None
    lo, hi = value
    low, high = fact.low, fact.high
    all_in = (low is None or (lo > low if fact.low_strict else lo >= low)) and (high is None or hi <= high)
    if all_in:
        return True
    none_in = (low is not None and hi <= low) or (high is not None and (lo >= high if fact.high_strict else lo > high))
    return False if none_in else None


def describe_days(days: float) -> str:
    years = days / 365.25
    if years >= 2:
        return f"{years:.0f} years"
    if days >= 60:
        return f"{days / 30.4375:.0f} months"
    if days >= 14:
        return f"{days / 7:.0f} weeks"
    if days >= 2:
        return f"{days:.0f} days"
    return f"{days * 24:.0f} hours"


def age(fact: Fact, profile: Profile) -> Check:
    interval = profile.age_interval()
    if interval is None:
        return Check(None, "your profile has no age")
    return Check(interval_in_bound(interval, fact), f"you are {int(interval[0] // 365.25)}")


def sex(fact: Fact, profile: Profile) -> Check:
    if profile.sex is None:
        return Check(None, "your profile does not give your sex")
    return Check(profile.sex in fact.values, f"you are {profile.sex}")


def patient_condition_for_event(event: str | None, profile: Profile) -> Condition | None:
    """Which of the patient's conditions a trial's event word ("injury", "stroke", "onset") refers to."""
    known = profile.known_conditions()
    if not known:
        return None
    word = (event or "onset").lower()
    for condition in known:
        if any(word == w or word.startswith(w) for w in condition.event_words):
            return condition
    if word in ("onset", "diagnosis", "diagnosed", "symptoms", "symptom"):
        return known[0]
    return None


def _event_is_known_condition(event: str | None) -> bool:
    word = (event or "").lower()
    return any(word == w or word.startswith(w) for c in knowledge().conditions.values() for w in c.event_words)


def time_since(fact: Fact, profile: Profile) -> Check:
    """Time since injury or onset against a minimum, maximum, range or named phase."""
    condition = patient_condition_for_event(fact.event, profile)
    if condition is None:
        if _event_is_known_condition(fact.event):
            return Check(False, f"your profile does not list a {fact.event}")
        return Check(None, f"your profile does not say when the {fact.event or 'onset'} was")
    interval = profile.onset_interval()
    if interval is None:
        return Check(None, "your profile has no date of injury or onset")
    if fact.event in ("diagnosis", "diagnosed") and condition.id not in knowledge().phases:
        # Diagnosis can come long after onset: only the onset side of the interval is known.
        interval = (0.0, interval[1])
    since = f"{describe_days(interval[0])} since your {_event_noun(condition)}"
    if fact.phase:
        return Check(_in_phase(interval, condition, fact.phase), since)
    return Check(interval_in_bound(interval, fact), since)


def _event_noun(condition: Condition) -> str:
    return "injury" if "injury" in condition.event_words else "stroke" if condition.id == "stroke" else "onset"


def _in_phase(interval: tuple[float, float], condition: Condition, phase: str) -> Membership:
    windows = knowledge().phases.get(condition.id)
    if not windows or phase not in windows:
        return None  # this condition has no such phase (e.g. "chronic" multiple sclerosis)
    window: Window = windows[phase]
    possible = (window.start[0], window.end[1] if window.end else float("inf"))
    certain = (window.start[1], window.end[0] if window.end else float("inf"))
    lo, hi = interval
    if lo >= certain[0] and hi <= certain[1]:
        return True
    if hi <= possible[0] or lo >= possible[1]:
        return False
    return None


def ais(fact: Fact, profile: Profile) -> Check:
    if profile.ais_grade is None:
        return Check(None, "your profile has no AIS grade")
    return Check(profile.ais_grade in fact.values, f"your AIS grade is {profile.ais_grade}")


def level(fact: Fact, profile: Profile) -> Check:
    if profile.neurological_level is None:
        return Check(None, "your profile has no neurological level")
    k = knowledge()
    top, bottom = (k.level_index(v) for v in fact.values)
    here = k.level_index(profile.neurological_level)
    return Check(top <= here <= bottom, f"your level is {profile.neurological_level}")


def gmfcs(fact: Fact, profile: Profile) -> Check:
    if profile.gmfcs_level is None:
        return Check(None, "your profile has no GMFCS level")
    return Check(profile.gmfcs_level in fact.values, f"your GMFCS level is {profile.gmfcs_level}")


def in_phase(interval: tuple[float, float], condition: Condition, phase: str) -> Membership:
    return _in_phase(interval, condition, phase)


def has_condition(fact: Fact, profile: Profile) -> Check:
    mine = {c.id for c in profile.known_conditions()}
    named = [knowledge().conditions[v].label for v in fact.values if v in knowledge().conditions]
    if mine & set(fact.values):
        return Check(True, f"you have {', '.join(named)}")
    return Check(False, f"your profile does not list {' or '.join(named)}")


def deficit(fact: Fact, profile: Profile) -> Check:
    """Does the patient live with a lasting neurological deficit (seeds/severity.toml [deficit])?"""
    k = knowledge()
    if "severe" in fact.values:
        # A motor-complete spinal cord injury (AIS A or B: no motor function below the level) is a severe
        # neurological deficit; for anyone else a profile can't say how severe a deficit is. Never False: whether
        # a deficit is "severe" is a judgement, so failing to show one excludes no one.
        if profile.ais_grade is not None and profile.ais_grade in k.ais_terms.get("motor complete", ()):
            return Check(True, f"your AIS grade is {profile.ais_grade} (motor complete)")
        return Check(None, "your profile does not say whether you have a severe neurological deficit")
    mine = {c.id for c in profile.known_conditions()}
    if mine & set(k.deficit_conditions):
        return Check(True, "your condition is a lasting neurological deficit")
    if profile.ais_grade is not None:
        return Check(profile.ais_grade in k.deficit_ais, f"your AIS grade is {profile.ais_grade}")
    return Check(None, "your profile does not say whether you have a lasting neurological deficit")


CHECKS = {"age": age, "sex": sex, "time": time_since, "ais": ais, "level": level, "gmfcs": gmfcs, "deficit": deficit}

# The criterion kind each fact reports under (the ``criterion`` field of a reason).
KIND = {
    "age": "age",
    "sex": "sex",
    "time": "time_since_onset",
    "ais": "severity",
    "level": "severity",
    "gmfcs": "severity",
    "deficit": "severity",
    "condition": "condition",
}
