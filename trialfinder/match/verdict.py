"""Combine checks into a verdict for one trial, with the criterion text behind each reason.

Verdicts:
    ineligible  a criterion clearly fails for this profile (its text is shown)
    eligible    every checkable criterion on age, sex, condition, timing and
                severity is met and no exclusion applies (the study team still
                decides: most criteria can't be checked from a profile)
    uncertain   anything else: the profile lacks a fact the trial needs, or
                the text could not be read with confidence

Status and distance are reported too, as reasons, but they say whether the
trial is open and near, not whether the patient qualifies, so they never
change the verdict; ``match`` uses them to filter and rank.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..geo import nearest
from ..models import DAYS_PER, SEXES, age_in_days, age_limit_problems
from ..profiles import Profile
from ..render.plain import age_range, status_label
from ..seeds import knowledge
from ..trust import Trust, with_staleness
from . import extract, rules
from .criteria import _GROUP_IS_COHORT as _COHORT
from .criteria import Criterion, Parsed
from .extract import Fact

# Events that any illness has: a window counted from one is the patient's only if the criterion or the trial is
# about the patient's condition.
_GENERIC_EVENTS = ("onset", "diagnosis", "diagnosed", "symptom", "symptoms")
ELIGIBILITY_KINDS = ("age", "sex", "condition", "time_since_onset", "severity", "healthy_volunteers")
VERDICT_ORDER = {"eligible": 0, "uncertain": 1, "ineligible": 2}


@dataclass
class Reason:
    """One checked criterion: what it is, how it came out, why, and the registry text behind it."""

    criterion: (
        str  # age | sex | condition | time_since_onset | severity | healthy_volunteers | status | distance | other
    )
    result: str  # met | not_met | unknown
    text: str  # plain language
    source: str = ""  # the criterion as registered, or the registry field
    section: str = ""  # inclusion | exclusion | field | ""
    cohort: str | None = field(default=None, compare=False, repr=False)  # excludes from this study group only

    def to_dict(self) -> dict[str, Any]:
        return {
            "criterion": self.criterion,
            "result": self.result,
            "text": self.text,
            "source": self.source,
            "section": self.section,
        }


@dataclass
class Trial:
    """What matching needs to know about a trial (built from the cache, not the raw record)."""

    nct_id: str
    title: str
    status: str | None
    minimum_age: str | None
    maximum_age: str | None
    sex: str | None
    healthy_volunteers: bool | None
    conditions: list[str]
    targets: set[str]  # ids of the known conditions the trial is about
    parsed: Parsed
    sites: list[dict[str, Any]] = field(default_factory=list)
    last_update: str | None = None
    keywords: list[str] = field(default_factory=list)
    status_verified: str | None = None
    trust: Trust = field(default_factory=Trust)


@dataclass
class TrialMatch:
    nct_id: str
    title: str
    status: str | None
    verdict: str
    reasons: list[Reason]
    summary: str
    score: float = 0.0
    nearest_site_km: float | None = None
    nearest_site: dict[str, Any] | None = None
    last_update: str | None = None
    trust: Trust = field(default_factory=Trust)

    def to_dict(self) -> dict[str, Any]:
        return {
            "nct_id": self.nct_id,
            "title": self.title,
            "status": self.status,
            "verdict": self.verdict,
            "summary": self.summary,
            "reasons": [r.to_dict() for r in self.reasons],
            "score": round(self.score, 2),
            "nearest_site_km": round(self.nearest_site_km, 1) if self.nearest_site_km is not None else None,
            "nearest_site": self.nearest_site,
            "last_update": self.last_update,
            "trust": self.trust.to_dict(),
        }


# -- structured fields ---------------------------------------------------------------


def structured_reasons(trial: Trial, profile: Profile) -> list[Reason]:
    reasons = []
    bound = _age_bound(trial)
    if isinstance(bound, str):
        reasons.append(
            Reason(
                "age",
                "unknown",
                f"The registry's age limit can't be used ({bound}); ask the study team.",
                bound,
                "field",
            )
        )
    elif bound is not None:
        check = rules.age(bound, profile)
        limits = age_range(trial.minimum_age, trial.maximum_age)
        reasons.append(_reason("age", check, f"ages {limits} (registry)", f"registry age limits: {limits}", "field"))
    if trial.sex and trial.sex not in SEXES:
        text = f"The registry's sex value {trial.sex!r} is not one trialfinder knows; ask the study team."
        reasons.append(Reason("sex", "unknown", text, f"registry sex: {trial.sex}", "field"))
    if trial.sex in ("MALE", "FEMALE"):
        fact = Fact("sex", values=[trial.sex.lower()])
        who = "men / males" if trial.sex == "MALE" else "women / females"
        reasons.append(
            _reason("sex", rules.sex(fact, profile), f"{who} only (registry)", f"registry sex: {trial.sex}", "field")
        )
    reasons.append(_condition_reason(trial, profile))
    healthy_only = trial.conditions and all("healthy" in c.lower() for c in trial.conditions)
    if healthy_only:
        reasons.append(
            Reason(
                "healthy_volunteers",
                "not_met",
                "This study is for healthy volunteers only.",
                "registry conditions",
                "field",
            )
        )
    return reasons


def _age_bound(trial: Trial) -> Fact | str | None:
    problems = age_limit_problems(trial.minimum_age, trial.maximum_age)
    if problems:
        return "; ".join(problems)
    low = age_in_days(trial.minimum_age)
    high = age_in_days(trial.maximum_age)
    if low is None and high is None:
        return None
    if high is not None:
        unit = trial.maximum_age.split()[1].lower().rstrip("s") if trial.maximum_age else "year"
        high += DAYS_PER.get(unit, 0)  # "45 Years" takes people up to their 46th birthday
    return Fact("age", low=low, high=high, high_strict=True)


def _condition_reason(trial: Trial, profile: Profile) -> Reason:
    mine = {c.id: c for c in profile.known_conditions()}
    shared = [mine[i].label for i in trial.targets if i in mine]
    # Conditions typed as free text (not in seeds/conditions.toml) count when the trial names them.
    named = " | ".join([trial.title, *trial.conditions, *trial.keywords]).lower()
    shared += [term for term in profile.unknown_condition_terms() if term.lower() in named]
    if shared:
        return Reason(
            "condition",
            "met",
            f"The trial is for people with {' and '.join(shared)}.",
            "registry conditions: " + "; ".join(trial.conditions[:6]),
            "field",
        )
    listed = ", ".join(trial.conditions[:4]) or "none listed"
    return Reason(
        "condition",
        "unknown",
        f"The trial's conditions ({listed}) do not name yours; ask whether it is open to you.",
        "registry conditions",
        "field",
    )


# -- criteria text -----------------------------------------------------------------


def criterion_reasons(criterion: Criterion, trial: Trial, profile: Profile) -> list[Reason]:
    """The reasons one criterion gives, or nothing if it can't be checked from a profile."""
    if criterion.scope != "patient":
        return []
    reasons = [
        Reason(
            kind,
            "unknown",
            f"Could not read this {kind.replace('_', ' ')} criterion with confidence; ask the study team.",
            criterion.text,
            criterion.section,
        )
        for kind in criterion.unread
    ]
    if not criterion.facts:
        return reasons
    if criterion.section == "inclusion" or criterion.section == "unknown":
        return reasons + _inclusion(criterion, trial, profile)
    return reasons + _exclusion(criterion, trial, profile)


def _checks(criterion: Criterion, trial: Trial, profile: Profile) -> list[tuple[Fact, rules.Check]]:
    """Each non-condition fact checked, with the safety rules that keep doubtful readings "unknown"."""
    mine = {c.id for c in profile.known_conditions()}
    other_than_mine = any(f.kind == "condition" and f.negated and mine & set(f.values) for f in criterion.facts)
    names_mine = any(f.kind == "condition" and not f.negated and mine & set(f.values) for f in criterion.facts)
    out = []
    for fact in criterion.facts:
        if fact.kind == "condition":
            continue
        check = rules.CHECKS[fact.kind](fact, profile)
        if fact.kind == "time" and other_than_mine:
            # "other CNS injuries, other than spinal cord injury, 6 months before": not about the patient's injury.
            check = rules.Check(None, "this is about another injury or illness than yours")
        elif (
            fact.kind == "time"
            and (fact.event or "onset") in _GENERIC_EVENTS
            and check.inside is not None
            and not names_mine
            and not mine & trial.targets
        ):
            # "NAION onset within 45 days" in a trial that is not about the patient's condition: the onset or
            # diagnosis may be of another illness, so the patient's own date says nothing.
            other = "this may count from the onset or diagnosis of another condition than yours"
            check = rules.Check(None, f"{check.patient}, but {other}" if mine else other)
        if fact.kind == "sex" and trial.sex not in ("MALE", "FEMALE") and check.inside is False:
            # Only the criteria text restricts sex while the registry says all sexes: ask, don't exclude.
            check = rules.Check(None, f"{check.patient}, and the registry itself lists all sexes")
        out.append((fact, check))
    return out


def _inclusion(criterion: Criterion, trial: Trial, profile: Profile) -> list[Reason]:
    reasons = []
    section = criterion.section
    checks = _checks(criterion, trial, profile)
    ages = [(f, c) for f, c in checks if f.kind == "age"]
    if len(ages) > 1:
        # Two age ranges in one criterion are alternatives ("18 or older, or 8 or older at the children's site").
        inside = True if any(c.inside for _, c in ages) else None if any(c.inside is None for _, c in ages) else False
        merged = rules.Check(inside, ages[0][1].patient)
        words = " or ".join(requirement(f) for f, _ in ages)
        checks = [(f, c) for f, c in checks if f.kind != "age"] + [(Fact("age", phrase=words), merged)]
    for fact, check in checks:
        if (
            check.inside is False
            and fact.kind == "time"
            and rules.patient_condition_for_event(fact.event, profile) is None
        ):
            check = rules.Check(None, check.patient)  # the trial asks about a condition the profile doesn't list
        words = (
            requirement(fact)
            if fact.low is not None or fact.high is not None or fact.values or fact.phase
            else fact.phrase
        )
        reason = _reason(rules.KIND[fact.kind], check, words, criterion.text, section)
        if reason.result == "not_met" and (criterion.alternative or section == "unknown"):
            reason.result = "unknown"
            why = "one of several options" if criterion.alternative else "its list (inclusion or exclusion) is unclear"
            reason.text = f"{words[:1].upper() + words[1:]} — {check.patient}, but this is {why}; ask the study team."
        elif reason.result == "met" and section == "unknown":
            reason.result = "unknown"
            reason.text = (
                f"{words[:1].upper() + words[1:]} — {check.patient}, but it is unclear whether this includes or "
                "excludes; ask the study team."
            )
        reasons.append(reason)
    for fact in criterion.facts:
        if fact.kind != "condition":
            continue
        check = rules.has_condition(fact, profile)
        if fact.negated and section == "inclusion" and fact.qualified and check.inside:
            # "No severe head injury", "absence of other causes of stroke": not plainly "no <condition>".
            said = criterion.text if len(criterion.text) <= 100 else criterion.text[:99] + "…"
            text = f"“{said}” — {check.patient}, but we can't tell whether this rules you out; ask the study team."
            reasons.append(Reason("condition", "unknown", text, criterion.text, section))
        elif fact.negated and section == "inclusion":
            # "No history of stroke" among the inclusion criteria works as an exclusion.
            inside = rules.Check(not check.inside, check.patient)
            reasons.append(_reason("condition", inside, "no " + requirement(fact), criterion.text, section))
        elif check.inside and section == "inclusion":
            reasons.append(_reason("condition", check, requirement(fact), criterion.text, section))
    return reasons


def _exclusion(criterion: Criterion, trial: Trial, profile: Profile) -> list[Reason]:
    """An exclusion turns away whoever is inside every fact it states (listed conditions count as one "or").

    Conservative on purpose: when the criterion states more than was read ("6 or older *and* under 19 kg"),
    names a kind of the condition a profile can't tell ("severe head injury"), or limits a listed condition
    to a time window that could not be tied to it, the answer is "can't tell", never "excluded".
    """
    conditions = [f for f in criterion.facts if f.kind == "condition" and not f.negated]
    checks = _checks(criterion, trial, profile)
    parts: list[tuple[str, str, rules.Check]] = []
    if conditions:
        merged = Fact("condition", values=[v for f in conditions for v in f.values])
        check = rules.has_condition(merged, profile)
        mine = {c.id for c in profile.known_conditions()}
        has_listed = [f for f in conditions if mine & set(f.values)]
        times = [f for f, _ in checks if f.kind == "time"]
        if check.inside and times:
            # "Stroke or spinal cord injury within the last 6 months": the window is about the listed condition.
            checks = [(f, _since_onset(f, profile) if f.kind == "time" else c) for f, c in checks]
        elif check.inside and all(f.qualified for f in has_listed):
            check = rules.Check(None, f"{check.patient}, but the criterion names a particular kind or severity of it")
        elif check.inside and (window := _lone_window(criterion.text)) is not None:
            # "MI, stroke, PTCA or vascular surgery within 3 months": the one window given most likely covers
            # the listed condition. Inside it, both readings exclude; outside it, we can't be sure.
            since = _since_onset(window, profile)
            note = "the criterion's time window may not be about it"
            check = rules.Check(
                True if since.inside else None, f"{since.patient}" + ("" if since.inside else f"; {note}")
            )
        elif check.inside and _mentions_recent(criterion.text, [f.phrase for f in has_listed]):
            check = rules.Check(
                None, f"{check.patient}, and the criterion limits it to a recent time we could not read"
            )
        elif check.inside and set(merged.values) & trial.targets and not checks:
            # A stroke trial excluding "previous stroke" means another stroke than the one it studies.
            check = rules.Check(None, f"{check.patient}, and the trial is about it: this may mean another episode")
        parts.append(("condition", requirement(merged), check))
    parts += [(rules.KIND[f.kind], requirement(f), c) for f, c in checks]
    if not parts:
        return []
    described = "; ".join(words for _, words, _ in parts)
    answers = [c.inside for _, _, c in parts]
    if (
        all(a is True for a in answers)
        and criterion.alternative
        and criterion.group
        and _COHORT.search(criterion.group)
    ):
        # An exclusion of one of several cohorts ("CP/CPPS cohort exclusion criteria"): another may still fit.
        kind, _, check = next((p for p in parts if p[0] != "condition"), parts[0])
        text = f"Excludes {described} — {check.patient}, but only from one of the study's groups; ask the study team."
        return [Reason(kind, "unknown", text, criterion.text, "exclusion", cohort=criterion.group)]
    if all(a is True for a in answers) and not criterion.partial:
        kind, _, check = next((p for p in parts if p[0] != "condition"), parts[0])
        return [Reason(kind, "not_met", f"Excludes {described} — {check.patient}.", criterion.text, "exclusion")]
    if any(a is False for a in answers):
        kind, _, check = next(p for p in parts if p[2].inside is False)
        return [
            Reason(kind, "met", f"Excludes {described} — does not apply: {check.patient}.", criterion.text, "exclusion")
        ]
    kind, _, check = next((p for p in parts if p[2].inside is None), parts[0])
    extra = ", and it states more than we could read" if criterion.partial else ""
    text = f"Excludes {described} — can't tell: {check.patient}{extra}; ask the study team."
    return [Reason(kind, "unknown", text, criterion.text, "exclusion")]


def _since_onset(fact: Fact, profile: Profile) -> rules.Check:
    """A time window checked against the patient's own injury or onset, whatever word the criterion used."""
    interval = profile.onset_interval()
    if interval is None:
        return rules.Check(None, "your profile has no date of injury or onset")
    patient = f"{rules.describe_days(interval[0])} since your injury or onset"
    if fact.phase:
        condition = profile.known_conditions()[0]
        return rules.Check(rules.in_phase(interval, condition, fact.phase), patient)
    return rules.Check(rules.interval_in_bound(interval, fact), patient)


def _lone_window(text: str) -> Fact | None:
    """The single "within N months"-style window of a criterion, if it has exactly one."""
    low = extract.normalise(text)
    windows = [
        b for b in extract.quantities(low) if b.high is not None and b.low is None and not extract.is_age_phrase(low, b)
    ]
    if len(windows) != 1:
        return None
    b = windows[0]
    return Fact("time", b.phrase, high=b.high, high_strict=b.high_strict)


# Any sign that an exclusion limits a condition in time: "within", "in last 6 months", "during the last", "past 6
# months", "< 6 months", "6 months", "since 2020"…
_TIME_SIGN = re.compile(
    r"\b(?:recent\w*|lately|latest|within|last|past|prior|previous\w*|preceding|current\w*|active|during|ago)\b"
    r"|\d\s*-?\s*(?:years?|yrs?|months?|mos?|weeks?|wks?|days?|hours?|hrs?|[ymwdh])\b"
    r"|\b(?:19|20)\d\d\b"
)


def _mentions_recent(text: str, names: Sequence[str] = ()) -> bool:
    """Any hint that an exclusion is limited in time: then naming the condition alone decides nothing.

    Only the sentences that name the condition (``names``, as written) count: "…stroke…. We will also exclude
    patients who withdraw during the research" limits nothing about the stroke.
    """
    low = extract.normalise(text)
    sentences = re.split(r"(?<=[.;])\s+(?=\S)", low)
    named = [s for s in sentences if any(n.lower() in s for n in names)]
    low = " ".join(named) if named else low
    durations = extract.quantities(low)
    if any(not extract.is_age_phrase(low, b) for b in durations):
        return True
    for b in durations:  # an age ("stroke before the age of 50 years") is no time limit
        low = low[: b.start] + " " * (b.end - b.start) + low[b.end :]
    low = re.sub(r"\b(?:age[ds]?|aged)\b[^.;,\d]{0,12}\d+(?:\s*(?:years?|yrs?|y)\b)?", " ", low)
    return bool(_TIME_SIGN.search(low))


def _reason(kind: str, check: rules.Check, words: str, source: str, section: str) -> Reason:
    words = words[:1].upper() + words[1:]
    if check.inside is True:
        return Reason(kind, "met", f"{words} — {check.patient}, which fits.", source, section)
    if check.inside is False:
        return Reason(kind, "not_met", f"{words} — {check.patient}, which does not fit.", source, section)
    return Reason(kind, "unknown", f"{words} — {check.patient}; ask the study team.", source, section)


def requirement(fact: Fact) -> str:
    """Plain words for the set of people a fact describes, e.g. "at least 6 months since the injury"."""
    if fact.kind == "age":
        # Ages read as registered ("18 to 45 years"): the stored bound runs to the 46th birthday.
        return "age " + (fact.phrase if fact.phrase else _span(fact))
    if fact.kind == "sex":
        return "men / males only" if fact.values == ["male"] else "women / females only"
    if fact.kind == "time":
        event = "the " + (fact.event or "onset")
        if fact.phase:
            return f"the {fact.phase} phase after {event}"
        return f"{_span(fact)} since {event}"
    if fact.kind == "ais":
        return "AIS grade " + _or(fact.values)
    if fact.kind == "level":
        top, bottom = fact.values
        levels = knowledge().levels
        if top == levels[0]:
            return f"neurological level {bottom} or above"
        if bottom == levels[-1]:
            return f"neurological level {top} or below"
        return f"neurological level between {top} and {bottom}"
    if fact.kind == "gmfcs":
        return "GMFCS level " + _or(fact.values)
    if fact.kind == "deficit":
        if "severe" in fact.values:
            return f"a severe neurological deficit ({fact.phrase})"
        return f"a lasting neurological deficit ({fact.phrase})"
    if fact.kind == "condition":
        return _or([knowledge().conditions[v].label for v in fact.values if v in knowledge().conditions])
    return fact.phrase


def _or(values: Sequence[str]) -> str:
    values = list(dict.fromkeys(values))
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]


def _span(fact: Fact) -> str:
    fmt = rules.describe_days
    if fact.low is not None and fact.high is not None:
        return f"{fmt(fact.low)} to {fmt(fact.high)}"
    if fact.low is not None:
        return f"{'more than' if fact.low_strict else 'at least'} {fmt(fact.low)}"
    if fact.high is not None:
        return f"{'under' if fact.high_strict else 'at most'} {fmt(fact.high)}"
    return fact.phrase


# -- availability: status and distance --------------------------------------------


def status_reason(trial: Trial) -> Reason:
    label = status_label(trial.status)
    if trial.status == "RECRUITING":
        return Reason("status", "met", "Recruiting now.", label, "field")
    if trial.status == "NOT_YET_RECRUITING":
        return Reason("status", "met", "Not yet recruiting: it is expected to open.", label, "field")
    if trial.status == "ENROLLING_BY_INVITATION":
        return Reason("status", "unknown", "Enrolling by invitation only.", label, "field")
    return Reason("status", "not_met", f"Not recruiting ({label.lower()}).", label, "field")


def distance_reason(trial: Trial, profile: Profile) -> tuple[Reason | None, float | None, dict[str, Any] | None]:
    if profile.location is None:
        return None, None, None
    found = nearest((profile.location.lat, profile.location.lon), trial.sites, only_recruiting=True)
    if found is None:
        return Reason("distance", "unknown", "No open site with a known location is listed.", "", "field"), None, None
    km, site = found
    where = ", ".join(p for p in (site.get("facility"), site.get("city"), site.get("country")) if p)
    if profile.max_distance_km is not None and km > profile.max_distance_km:
        text = f"Nearest open site is {km:.0f} km away ({where}), beyond your {profile.max_distance_km:g} km."
        return Reason("distance", "not_met", text, where, "field"), km, dict(site)
    return (
        Reason("distance", "met", f"Nearest open site is {km:.0f} km away ({where}).", where, "field"),
        km,
        dict(site),
    )


# -- the verdict -------------------------------------------------------------------


def evaluate(trial: Trial, profile: Profile) -> TrialMatch:
    """Every reason for one trial, and the verdict they add up to."""
    reasons = structured_reasons(trial, profile)
    for criterion in trial.parsed.criteria:
        reasons += criterion_reasons(criterion, trial, profile)
    _every_cohort_excludes(trial, reasons)
    others = [c for c in trial.parsed.criteria if c.scope == "patient" and not c.facts and not c.unread]
    if not trial.parsed.criteria:
        # Nothing to read is not the same as nothing to meet.
        text = "The registry lists no eligibility criteria for this trial; ask the study team what they are."
        reasons.append(Reason("other", "unknown", text, "", "field"))
    elif others:
        reasons.append(
            Reason(
                "other",
                "unknown",
                f"{len(others)} other criteria can only be checked by the study team.",
                others[0].text,
                others[0].section,
            )
        )
    eligibility = [r for r in reasons if r.criterion in ELIGIBILITY_KINDS]
    if any(r.result == "not_met" for r in eligibility):
        verdict = "ineligible"
    elif any(r.result == "unknown" for r in eligibility):
        verdict = "uncertain"
    else:
        verdict = "eligible"
    reasons.append(status_reason(trial))
    distance, km, site = distance_reason(trial, profile)
    if distance:
        reasons.append(distance)
    # Many criteria repeat the same point ("Men with…", "Men who…"): keep one reason for each.
    reasons = list({(r.criterion, r.result, r.text): r for r in reversed(reasons)}.values())[::-1]
    reasons.sort(
        key=lambda r: {"not_met": 0, "unknown": 1, "met": 2}[r.result] if r.criterion in ELIGIBILITY_KINDS else 3
    )
    return TrialMatch(
        nct_id=trial.nct_id,
        title=trial.title,
        status=trial.status,
        verdict=verdict,
        reasons=reasons,
        summary=_summary(verdict, eligibility),
        nearest_site_km=km,
        nearest_site=site,
        last_update=trial.last_update,
        trust=with_staleness(trial.trust, trial.status, trial.status_verified, profile.as_of),
    )


def _every_cohort_excludes(trial: Trial, reasons: list[Reason]) -> None:
    """When every one of the study's groups has an exclusion that turns the patient away, none is open to them."""
    excluded = {r.cohort for r in reasons if r.cohort}
    if not excluded:
        return
    groups = {c.group for c in trial.parsed.criteria if c.alternative and c.group and _COHORT.search(c.group)}
    if excluded >= groups:
        for r in reasons:
            if r.cohort:
                r.result = "not_met"
                r.text = r.text.replace(", but only from one of the study's groups; ask the study team.", ".")
                r.text = r.text.replace(" — ", " (every group of the study) — ", 1)


def _summary(verdict: str, reasons: Sequence[Reason]) -> str:
    if verdict == "ineligible":
        return next(r.text for r in reasons if r.result == "not_met")
    if verdict == "uncertain":
        first = next(r for r in reasons if r.result == "unknown")
        return first.text
    checked = sorted({r.criterion.replace("_", " ") for r in reasons if r.result == "met"})
    return "Nothing we could check rules you out (" + ", ".join(checked) + "); the study team decides."


def score(match: TrialMatch, profile: Profile) -> float:
    """Ranking: warning signs last; then verdict; open with a site near the patient; stronger registration
    and oversight; fewer open questions; recency."""
    value = {"eligible": 300.0, "uncertain": 200.0, "ineligible": 0.0}[match.verdict]
    if match.trust.flagged:
        value -= 1000.0
    value += 4.0 * match.trust.confidence()
    value += {"RECRUITING": 40.0, "NOT_YET_RECRUITING": 25.0}.get(match.status or "", 0.0)
    if match.nearest_site_km is not None:
        value += 30.0 * max(0.0, 1.0 - match.nearest_site_km / 2000.0)
    value -= 2.0 * sum(1 for r in match.reasons if r.result == "unknown" and r.criterion in ELIGIBILITY_KINDS)
    if match.last_update and match.last_update[:4].isdigit():  # a malformed date earns nothing, breaks nothing
        value += min(10.0, max(0.0, (int(match.last_update[:4]) - 2015) * 1.0))
    return value
