"""The "registration and oversight" panel: signals, warning signs, questions to ask.

Never "safe" or "unsafe": it says how a study is set up and overseen, what in
the record looks like a documented warning sign, and what to ask.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from ..trust import Finding, Trust, disclaimer, questions

LABELS = {
    "interventional": "Interventional study (tests a treatment)",
    "observational": "Observational study (no treatment is given by the study)",
    "expanded_access": "Expanded access (treatment outside a trial)",
    "early_phase_1": "Early phase 1",
    "phase_1": "Phase 1 (first tests of safety)",
    "phase_2": "Phase 2",
    "phase_3": "Phase 3",
    "phase_4": "Phase 4 (after approval)",
    "phase_na": 'No drug phase ("not applicable")',
    "randomized": "Randomised: participants are assigned to groups by chance",
    "masked": "Blinded (masked)",
    "data_monitoring_committee": "Has a data monitoring committee watching safety",
    "fda_regulated_drug": "Tests a drug regulated by the U.S. FDA",
    "fda_regulated_device": "Tests a device regulated by the U.S. FDA",
    "results_posted": "Results are posted on the registry",
    "sponsor_nih": "Sponsor: U.S. National Institutes of Health",
    "sponsor_other_federal": "Sponsor: a U.S. federal agency",
    "sponsor_other_government": "Sponsor: a government body",
    "sponsor_industry": "Sponsor: a company",
    "sponsor_network": "Sponsor: a research network",
    "sponsor_other": "Sponsor: a university, hospital or other organisation",
    "sponsor_individual": "Sponsor: an individual",
    "status_verified_recently": "Status verified recently",
    "status_stale": "Status not verified recently: the listing may be out of date",
}
CONFIDENT = {
    "randomized",
    "masked",
    "data_monitoring_committee",
    "fda_regulated_drug",
    "fda_regulated_device",
    "results_posted",
    "sponsor_nih",
    "sponsor_other_federal",
    "status_verified_recently",
}
SHORT = {
    "randomized": "randomised",
    "masked": "blinded",
    "data_monitoring_committee": "DMC",
    "fda_regulated_drug": "FDA",
    "fda_regulated_device": "FDA",
    "results_posted": "results",
    "sponsor_nih": "NIH",
}


def _wrap(text: str, indent: int, width: int = 100) -> str:
    return textwrap.fill(text, width=width, initial_indent=" " * indent, subsequent_indent=" " * (indent + 2))


def label(finding: Finding) -> str:
    label = LABELS.get(finding.name, finding.name.replace("_", " ").capitalize())
    if finding.name == "masked":
        label += f": {finding.evidence.split(': ')[-1].lower()}"
    if finding.name.startswith("sponsor_"):
        label += f" ({finding.evidence.split(': ', 1)[-1]})"
    return label


def panel(trust: Trust, *, with_disclaimer: bool = True, with_questions: bool = True) -> str:
    """The full panel, as shown by ``show`` and ``explain``."""
    lines = ["Registration and oversight"]
    confident = [s for s in trust.signals if s.name in CONFIDENT]
    other = [s for s in trust.signals if s.name not in CONFIDENT]
    if confident:
        lines.append("  What the record shows about oversight:")
        lines += [_wrap(f"+ {label(s)}", 4) for s in confident]
    if other:
        lines.append("  Also:")
        lines += [_wrap(f"- {label(s)}", 4) for s in other]
    if trust.warnings:
        lines.append("  Warning signs (patterns documented in pay-to-participate listings):")
        for w in trust.warnings:
            lines.append(_wrap(f"! {w.text}", 4))
            lines.append(_wrap(f"because {w.evidence}", 6))
    else:
        lines.append("  No warning signs found in the record.")
    if with_questions:
        lines.append("  Questions to ask the study team:")
        lines += [_wrap(f"- {q}", 4) for q in questions(trust)]
    if with_disclaimer:
        lines.append(_wrap(disclaimer(), 2))
    return "\n".join(lines)


def short(trust: Trust) -> str:
    """A few words for a table column: warning first, else the strongest signals."""
    if trust.warnings:
        return "⚠ " + trust.warnings[0].name.replace("_", " ")
    words = list(dict.fromkeys(SHORT[s.name] for s in trust.signals if s.name in SHORT))
    stale = any(s.name == "status_stale" for s in trust.signals)
    return ", ".join(words + (["stale"] if stale else [])) or "-"


def questions_section(items: Sequence[tuple[str, Trust]]) -> str:
    """For ``match``: the questions to ask, once for all the trials listed (they are the same for each),
    with the cell-product ones when any listed trial is a cell product."""
    if not items:
        return ""
    always = questions(Trust())
    lines = ["Questions to ask the study team (the same for every trial listed):"]
    lines += [_wrap(f"- {q}", 2) for q in always]
    cells = [nct for nct, trust in items if trust.cell_product]
    if cells:
        extra = [q for q in questions(Trust(cell_product=True)) if q not in always]
        lines.append(_wrap(f"For cell-product trials ({', '.join(cells)}), also ask:", 2))
        lines += [_wrap(f"- {q}", 4) for q in extra]
    return "\n".join(lines)


def warnings_section(items: Sequence[tuple[str, Trust]]) -> str:
    """For ``match``: each flagged trial with the reason each warning sign fired."""
    flagged = [(nct, t) for nct, t in items if t.warnings]
    if not flagged:
        return ""
    lines = ["Warning signs (these trials are listed last; --hide-flagged leaves them out):"]
    for nct, trust in flagged:
        for w in trust.warnings:
            lines.append(_wrap(f"{nct}: {w.text}", 2))
            lines.append(_wrap(f"because {w.evidence}", 4))
    return "\n".join(lines)
