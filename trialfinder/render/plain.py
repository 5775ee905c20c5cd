"""Small plain-language helpers shared by every renderer."""

from __future__ import annotations

import re

from ..models import age_in_days

STATUS_LABELS = {
    "RECRUITING": "Recruiting",
    "NOT_YET_RECRUITING": "Not yet recruiting",
    "ENROLLING_BY_INVITATION": "Enrolling by invitation only",
    "ACTIVE_NOT_RECRUITING": "Active, not recruiting",
    "SUSPENDED": "Suspended",
    "TERMINATED": "Terminated",
    "COMPLETED": "Completed",
    "WITHDRAWN": "Withdrawn",
    "UNKNOWN": "Status unknown (not verified recently)",
    "AVAILABLE": "Available (expanded access)",
    "NO_LONGER_AVAILABLE": "No longer available",
    "TEMPORARILY_NOT_AVAILABLE": "Temporarily not available",
    "APPROVED_FOR_MARKETING": "Approved for marketing",
    "WITHHELD": "Withheld",
}

PHASE_LABELS = {
    "NA": "not applicable",
    "EARLY_PHASE1": "early phase 1",
    "PHASE1": "phase 1",
    "PHASE2": "phase 2",
    "PHASE3": "phase 3",
    "PHASE4": "phase 4",
}

SEX_LABELS = {"ALL": "all sexes", "MALE": "men / males only", "FEMALE": "women / females only"}

_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!<>=~|])")


def status_label(status: str | None) -> str:
    if not status:
        return "Status not given"
    return STATUS_LABELS.get(status, status.replace("_", " ").capitalize())


def phases_label(phases: list[str]) -> str:
    if not phases:
        return "no phase given"
    return ", ".join(PHASE_LABELS.get(p, p.lower()) for p in phases)


def short_phase(phases: list[str]) -> str:
    short = {"NA": "n/a", "EARLY_PHASE1": "E1", "PHASE1": "1", "PHASE2": "2", "PHASE3": "3", "PHASE4": "4"}
    return "/".join(short.get(p, p) for p in phases) or "-"


def age_label(text: str | None) -> str:
    """``"18 Years"`` → ``"18 years"``; a unit of one loses its plural."""
    if not text:
        return ""
    try:
        age_in_days(text)
    except ValueError:
        return text
    number, unit = text.split()
    unit = unit.lower()
    if number == "1" and unit.endswith("s"):
        unit = unit[:-1]
    elif number != "1" and not unit.endswith("s"):
        unit += "s"
    return f"{number} {unit}"


def age_range(minimum: str | None, maximum: str | None) -> str:
    low, high = age_label(minimum), age_label(maximum)
    if low and high:
        return f"{low} to {high}"
    if low:
        return f"{low} and older"
    if high:
        return f"up to {high}"
    return "any age"


def unescape_markdown(text: str) -> str:
    """Registry text is Markdown with escapes like ``\\<`` and ``\\>=``; show the characters."""
    return _MD_ESCAPE.sub(r"\1", text or "")
