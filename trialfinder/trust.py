"""Registration and oversight: signals that inspire confidence and warning signs, read from a record.

Pure functions over a ``Study``: no network, no cache. The phrase lists and
thresholds come from ``seeds/trust.toml`` (with their sources), so a reviewer
can change them without touching this code. Each finding carries the field or
the text that produced it, so a reader can check it.

Nothing here says "safe" or "unsafe": signals describe how a study is set up
and overseen; warning signs are patterns documented in pay-to-participate
listings (Turner 2017). The study team and the patient's own clinicians judge.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass, field
from typing import Any

from .models import Study, partial_date
from .seeds import fingerprint, load_toml, normalise_term

# Bump when the rules change in code; changes to seeds/trust.toml are picked up by its fingerprint.
TRUST_VERSION = 1


def trust_version() -> str:
    return f"{TRUST_VERSION}:{fingerprint()}"


SPONSOR_CLASSES = {
    "NIH": "sponsor_nih",
    "FED": "sponsor_other_federal",
    "OTHER_GOV": "sponsor_other_government",
    "INDUSTRY": "sponsor_industry",
    "NETWORK": "sponsor_network",
    "OTHER": "sponsor_other",
    "INDIV": "sponsor_individual",
}
# Signals that count towards a study's standing in ``match`` rankings.
CONFIDENCE = {
    "randomized": 2.0,
    "masked": 1.0,
    "data_monitoring_committee": 1.5,
    "fda_regulated_drug": 1.0,
    "fda_regulated_device": 1.0,
    "results_posted": 1.0,
    "phase_2": 0.5,
    "phase_3": 1.0,
    "phase_4": 0.5,
    "sponsor_nih": 1.0,
    "sponsor_other_federal": 1.0,
    "sponsor_other_government": 0.5,
    "sponsor_network": 0.5,
    "status_verified_recently": 0.5,
    "status_stale": -2.0,
}
_PERSON = re.compile(
    r"^(?:dr\.?\s+)?[A-Z][a-zà-ÿ'’-]+(?:\s+[A-Z]\.?)*(?:\s+[A-Z][a-zà-ÿ'’-]+){1,2}(?:,?\s*(?:M\.?D\.?|Ph\.?D\.?|D\.?O\.?|MBBS|MSc))*\.?$"
)


@dataclass(frozen=True)
class Finding:
    """A signal or a warning sign, with what produced it."""

    name: str
    evidence: str  # the field and value, or the words of the record
    text: str = ""  # plain language, for people

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "evidence": self.evidence}


@dataclass
class Trust:
    signals: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    cell_product: bool = False

    @property
    def flagged(self) -> bool:
        return bool(self.warnings)

    def names(self) -> list[str]:
        return [s.name for s in self.signals]

    def confidence(self) -> float:
        return sum(CONFIDENCE.get(s.name, 0.0) for s in self.signals)

    def to_dict(self) -> dict[str, Any]:
        """The ``trust`` object of ``match --json`` and ``show --json``."""
        return {"signals": self.names(), "warnings": [w.to_dict() for w in self.warnings]}

    def to_json_data(self) -> dict[str, Any]:
        """Everything, for the cache."""
        return {
            "signals": [s.__dict__ for s in self.signals],
            "warnings": [w.__dict__ for w in self.warnings],
            "cell_product": self.cell_product,
        }

    @classmethod
    def from_json_data(cls, data: dict[str, Any]) -> Trust:
        return cls(
            [Finding(**s) for s in data.get("signals", ())],
            [Finding(**w) for w in data.get("warnings", ())],
            data.get("cell_product", False),
        )


@functools.cache
def rules() -> dict[str, Any]:
    return load_toml("trust.toml")


def _phrase_pattern(phrases: list[str]) -> re.Pattern[str]:
    """One regex for many phrases, as a tree of their words (words may be joined by spaces or hyphens).

    Python's regex engine tries every alternative at every position of the text; sharing
    first words and checking the first letter up front makes the search of a 10 kB record
    about a third faster than a flat list of phrases, with the same matches (longest first).
    """
    tree: dict[str, Any] = {}
    for phrase in phrases:
        node = tree
        for word in normalise_term(phrase).split():
            node = node.setdefault(word, {})
        node[""] = {}  # a phrase ends here

    def alternatives(node: dict[str, Any]) -> str:
        branches = []
        for word, rest in sorted(node.items()):
            if not word:
                continue
            more = ""
            if set(rest) - {""}:  # longer phrases go on from here; "?" when one may also end here
                more = r"(?:[\s-]+" + alternatives(rest) + ")" + ("?" if "" in rest else "")
            branches.append(re.escape(word) + more)
        return "(?:" + "|".join(branches) + ")"

    first_letters = "".join(sorted({re.escape(word[0]) for word in tree}))
    return re.compile(rf"\b(?=[{first_letters}])" + alternatives(tree) + r"\b")


@functools.cache
def _patterns() -> dict[str, re.Pattern[str]]:
    r = rules()
    return {
        "payment": _phrase_pattern(r["payment"]["phrases"]),
        "not_payment": re.compile("|".join(re.escape(w.lower()) for w in r["payment"]["not_when"])),
        "cell": _phrase_pattern(r["cell_product"]["terms"]),
        "clinic": _phrase_pattern(r["sponsor"]["clinic_words"]),
        "institution": re.compile("|".join(re.escape(w.lower()) for w in r["sponsor"]["institution_words"])),
    }


def _texts(study: Study) -> list[tuple[str, str]]:
    """Where a record may say that participants pay: (field, text)."""
    out = [
        ("briefTitle", study.brief_title or ""),
        ("officialTitle", study.official_title or ""),
        ("briefSummary", study.brief_summary or ""),
        ("detailedDescription", study.detailed_description or ""),
        ("eligibilityCriteria", study.eligibility_criteria or ""),
    ]
    out += [(f"interventions[{i}].description", x.description or "") for i, x in enumerate(study.interventions)]
    out += [(f"armGroups[{i}].description", a.description or "") for i, a in enumerate(study.arm_groups)]
    return [(name, text) for name, text in out if text]


def _sentence(text: str, start: int, end: int) -> str:
    left = max(text.rfind(". ", 0, start), text.rfind("\n", 0, start), -1) + 1
    right_candidates = [i for i in (text.find(". ", end), text.find("\n", end)) if i != -1]
    right = min(right_candidates) + 1 if right_candidates else len(text)
    return " ".join(text[left:right].split())


def payment_evidence(study: Study) -> Finding | None:
    """A sentence saying participants pay for or fund the treatment (ordinary cost wording excluded)."""
    p = _patterns()
    for name, text in _texts(study):
        folded = _fold(text)
        for m in p["payment"].finditer(folded):
            sentence = _sentence(text, m.start(), m.end())
            if _ordinary_cost_wording(sentence.lower()):
                continue
            return Finding(
                "participant_pays", f'{name}: "{_clip(sentence)}"', rules()["rules"]["participant_pays"]["text"]
            )
    return None


# "not covered by insurance", "will not be reimbursed": a guard word that is itself negated guards nothing.
_NEGATED = re.compile(r"\b(?:not|no|never|nor|non)\b(?:[\s-]+[\w']+){0,3}[\s-]*$")


def _ordinary_cost_wording(sentence: str) -> bool:
    """Does the sentence hold one of the ``not_when`` words, and not negated?"""
    for guard in _patterns()["not_payment"].finditer(sentence):
        if not _NEGATED.search(sentence, max(0, guard.start() - 40), guard.start()):
            return True
    return False


def _fold(text: str) -> str:
    """Lower case with apostrophes unified; same length as the input so spans map back."""
    return text.lower().replace("’", "'")


def is_cell_product(study: Study) -> Finding | None:
    """A cell- or tissue-based intervention, named as such, or a biological in a study about cells."""
    cell = _patterns()["cell"]
    for i, item in enumerate(study.interventions):
        for text in (item.name or "", item.description or "", *item.other_names):
            if cell.search(_fold(text)):
                return Finding("cell_product", f'interventions[{i}]: "{_clip(item.name or text)}"')
    about_cells = cell.search(
        _fold(" ".join(filter(None, (study.brief_title, study.official_title, study.brief_summary))))
    )
    for i, item in enumerate(study.interventions):
        if item.type == "BIOLOGICAL" and about_cells:
            return Finding(
                "cell_product",
                f'interventions[{i}]: "{_clip(item.name or "")}" in a study about {about_cells.group(0)}',
            )
    return None


def sponsor_kind(study: Study) -> str:
    """ "individual", "clinic", "institution", "company" or "other", from the class and the name."""
    sponsor = study.lead_sponsor
    name = (sponsor.name if sponsor else "") or ""
    cls = (sponsor.sponsor_class if sponsor else "") or ""
    p = _patterns()
    if cls == "INDIV":
        return "individual"
    if p["institution"].search(name.lower()) or cls in ("NIH", "FED", "OTHER_GOV"):
        return "institution"
    if p["clinic"].search(_fold(name)):
        return "clinic"
    if _PERSON.match(name.strip()):
        return "individual"
    return "company" if cls == "INDUSTRY" else "other"


def _no_phase(study: Study) -> bool:
    return not study.phases or set(study.phases) <= {"NA"}


def _single_arm(study: Study) -> bool:
    return study.intervention_model == "SINGLE_GROUP" or (
        study.allocation in (None, "NA") and len([a for a in study.arm_groups if a.type != "NO_INTERVENTION"]) <= 1
    )


def _branches(study: Study) -> set[str]:
    return {b.name for b in study.browse_branches if b.name and b.name != "All Conditions"}


def assess(study: Study) -> Trust:
    """The signals and warning signs of one study (everything that does not depend on today's date)."""
    r = rules()["rules"]
    trust = Trust()
    add = trust.signals.append
    kind = (study.study_type or "").lower()
    if kind:
        add(Finding(kind, f"studyType: {study.study_type}"))
    for phase in study.phases:
        add(Finding(_phase_signal(phase), f"phases: {phase}"))
    if study.allocation == "RANDOMIZED":
        add(Finding("randomized", "designInfo.allocation: RANDOMIZED"))
    if study.masking and study.masking != "NONE":
        add(Finding("masked", f"designInfo.maskingInfo.masking: {study.masking}"))
    if study.has_dmc:
        add(Finding("data_monitoring_committee", "oversightModule.oversightHasDmc: true"))
    if study.fda_regulated_drug:
        add(Finding("fda_regulated_drug", "oversightModule.isFdaRegulatedDrug: true"))
    if study.fda_regulated_device:
        add(Finding("fda_regulated_device", "oversightModule.isFdaRegulatedDevice: true"))
    sponsor = study.lead_sponsor
    if sponsor and sponsor.sponsor_class:
        name = SPONSOR_CLASSES.get(sponsor.sponsor_class, f"sponsor_{sponsor.sponsor_class.lower()}")
        add(Finding(name, f"leadSponsor: {sponsor.name} ({sponsor.sponsor_class})"))
    if study.has_results:
        add(Finding("results_posted", "hasResults: true"))

    cell = is_cell_product(study)
    trust.cell_product = cell is not None
    paying = payment_evidence(study)
    if paying:
        trust.warnings.append(paying)
    who = sponsor_kind(study)
    who_words = (
        f"sponsor {sponsor.name!r} looks like {'an individual' if who == 'individual' else 'a private clinic'}"
        if sponsor
        else ""
    )
    no_oversight = not study.has_dmc and not study.fda_regulated_drug and not study.fda_regulated_device
    if cell and who in ("individual", "clinic") and _no_phase(study) and no_oversight:
        evidence = f"{cell.evidence}; {who_words}; phases: {study.phases or 'none'}; no DMC; no FDA oversight"
        trust.warnings.append(Finding("unregulated_cell_product", evidence, r["unregulated_cell_product"]["text"]))
    branches = _branches(study)
    rule = r["many_unrelated_conditions"]
    if (
        cell
        and kind == "interventional"
        and len(study.conditions) >= rule["min_conditions"]
        and len(branches) >= rule["min_branches"]
    ):
        areas = ", ".join(sorted(branches)[:5])
        evidence = f"{len(study.conditions)} conditions in {len(branches)} disease areas ({areas}…); {cell.evidence}"
        trust.warnings.append(Finding("many_unrelated_conditions", evidence, rule["text"]))
    unmasked = not study.masking or study.masking == "NONE"
    loose = _no_phase(study) or who == "clinic" or (who == "individual" and not study.has_dmc)
    if cell and kind == "interventional" and _single_arm(study) and unmasked and loose:
        design = study.intervention_model or study.allocation
        evidence = f"designInfo: {design}, masking {study.masking or 'none'}; {cell.evidence}"
        text = r["single_arm_unmasked_cell_product"]["text"]
        trust.warnings.append(Finding("single_arm_unmasked_cell_product", evidence, text))
    if kind == "expanded_access" and who in ("individual", "clinic"):
        trust.warnings.append(
            Finding(
                "commercial_expanded_access",
                f"studyType: EXPANDED_ACCESS; {who_words}",
                r["commercial_expanded_access"]["text"],
            )
        )
    return trust


def _phase_signal(phase: str) -> str:
    """ "PHASE2" → "phase_2", "EARLY_PHASE1" → "early_phase_1", "NA" → "phase_na"."""
    low = phase.lower()
    return "phase_na" if low == "na" else re.sub(r"phase(\d)", r"phase_\1", low)


def staleness(status: str | None, verified: str | None, as_of: dt.date) -> Finding:
    """Whether the status was verified recently (a status verified long ago, or UNKNOWN, is stale)."""
    months = rules()["stale"]["months"]
    if status == "UNKNOWN":
        return Finding("status_stale", "overallStatus: UNKNOWN (not verified for 2 years)")
    when = partial_date(verified)
    if when is None:
        return Finding("status_stale", "statusVerifiedDate: missing")
    age_months = (as_of.year - when.year) * 12 + as_of.month - when.month
    if age_months > months:
        return Finding("status_stale", f"statusVerifiedDate: {verified} ({age_months} months ago)")
    return Finding("status_verified_recently", f"statusVerifiedDate: {verified}")


def with_staleness(trust: Trust, status: str | None, verified: str | None, as_of: dt.date) -> Trust:
    return Trust([*trust.signals, staleness(status, verified, as_of)], list(trust.warnings), trust.cell_product)


def questions(trust: Trust) -> list[str]:
    r = rules()
    return list(r["questions"]["always"]) + (list(r["questions"]["cell_product"]) if trust.cell_product else [])


def disclaimer() -> str:
    return rules()["disclaimer"].split(" [")[0]


def _clip(text: str, limit: int = 220) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
