"""Plain values for the page templates, from the engine's own results (no matching happens here).

The words are the CLI's: verdict labels, reasons, trust labels and questions
all come from ``render`` and ``trust``, so the terminal, the exports and the
web pages say the same things.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import config
from ..geo import distance_km, site_may_recruit
from ..match.verdict import TrialMatch
from ..models import Study
from ..profiles import Profile
from ..render.digest import grouped
from ..render.html import reason_rows
from ..render.matching import VERDICT_LABELS, questions_for
from ..render.plain import SEX_LABELS, age_range, phases_label, status_label, unescape_markdown
from ..render.shortlist import contact_lines
from ..render.trust import CONFIDENT
from ..render.trust import label as trust_label
from ..render.trust import short as short_trust
from ..trust import Trust
from ..trust import questions as trust_questions
from ..watches import Item as DigestItem


def trust_view(trust: Trust) -> dict[str, Any]:
    return {
        "short": short_trust(trust),
        "signals": [trust_label(s) for s in trust.signals if s.name in CONFIDENT],
        "other_signals": [trust_label(s) for s in trust.signals if s.name not in CONFIDENT],
        "warnings": [{"text": w.text, "evidence": w.evidence} for w in trust.warnings],
    }


def nearest_text(site: dict[str, Any] | None, km: float | None) -> str:
    if not site:
        return ""
    where = ", ".join(p for p in (site.get("facility"), site.get("city"), site.get("state"), site.get("country")) if p)
    return where + (f" — {km:.0f} km" if km is not None else "")


def result_view(m: TrialMatch) -> dict[str, Any]:
    """One row of the Find results."""
    return {
        "nct_id": m.nct_id,
        "title": m.title,
        "verdict": m.verdict,
        "verdict_label": VERDICT_LABELS[m.verdict],
        "summary": m.summary,
        "status": status_label(m.status),
        "nearest": nearest_text(m.nearest_site, m.nearest_site_km),
        "last_update": m.last_update,
        "url": config.REGISTRY_STUDY_URL.format(nct_id=m.nct_id),
        "trust": trust_view(m.trust),
    }


def checklist(m: TrialMatch) -> dict[str, Any]:
    """The criterion checklist of ``explain``, as rows."""
    rows = reason_rows(m)
    return {
        "verdict": m.verdict,
        "verdict_label": VERDICT_LABELS[m.verdict],
        "summary": m.summary,
        "rows": rows["checklist"],
        "availability": rows["availability"],
        "not_checked": next((r.text for r in m.reasons if r.criterion == "other"), ""),
    }


def sites_view(study: Study, profile: Profile | None) -> list[dict[str, Any]]:
    """Every site: open ones first, nearest first when the profile has a place."""
    out = []
    for s in study.locations:
        km = None
        if profile is not None and profile.location is not None and s.lat is not None and s.lon is not None:
            km = distance_km(profile.location.lat, profile.location.lon, s.lat, s.lon)
        out.append(
            {
                "facility": s.facility or "Unnamed site",
                "place": s.place,
                "status": status_label(s.status) if s.status else "",
                "open": site_may_recruit(s.status or study.overall_status),
                "km": None if km is None else round(km),
                "contacts": contact_lines(s.contacts),
            }
        )
    out.sort(key=lambda s: (not s["open"], s["km"] is None, s["km"] or 0))
    return out


def study_view(study: Study) -> dict[str, Any]:
    """The plain-language summary of ``show``: what it tests, who can join."""
    kind = (study.study_type or "study").replace("_", " ").lower()
    volunteers = {True: "accepts healthy volunteers", False: "does not take healthy volunteers"}.get(
        study.healthy_volunteers, "healthy volunteers: not stated"
    )
    status = status_label(study.overall_status)
    if study.overall_status == "UNKNOWN" and study.last_known_status:
        status += f"; last known: {status_label(study.last_known_status).lower()}"
    return {
        "nct_id": study.nct_id,
        "title": study.title,
        "official_title": study.official_title if study.official_title != study.title else "",
        "status": status,
        "last_update": study.last_update_post_date or "not given",
        "status_verified": study.status_verified_date or "",
        "url": study.registry_url,
        "kind": kind,
        "phase": phases_label(study.phases) if study.phases else "",
        "interventions": [
            (f"{(i.type or '').replace('_', ' ').lower()}: " if i.type else "") + (i.name or "")
            for i in study.interventions
        ],
        "summary": unescape_markdown(study.brief_summary or ""),
        "ages": age_range(study.minimum_age, study.maximum_age),
        "sex": SEX_LABELS.get(study.sex or "ALL", study.sex or ""),
        "volunteers": volunteers,
        "age_problems": list(study.age_problems),
        "conditions": list(study.conditions),
        "criteria": unescape_markdown(study.eligibility_criteria or ""),
        "contacts": contact_lines(study.central_contacts),
        "officials": [
            f"{o.name} ({(o.role or '').replace('_', ' ').lower()}, {o.affiliation})" for o in study.overall_officials
        ],
        "sponsor": study.lead_sponsor.name if study.lead_sponsor else "",
    }


def questions(match: TrialMatch | None, trust: Trust) -> list[str]:
    return questions_for(match) if match is not None else trust_questions(trust)


def digest_sections(items: Sequence[DigestItem]) -> list[tuple[str, list[DigestItem]]]:
    return grouped(items)
