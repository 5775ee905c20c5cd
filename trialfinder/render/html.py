"""The printable, self-contained HTML page of a patient's shortlist.

Rendered with Jinja2 and autoescaping on, so text from records and notes
(titles hold ``<``, ``&`` and quotes) can never become markup. The page
loads nothing from elsewhere: styles are inline, there are no scripts,
images or fonts, and it prints one trial per block.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jinja2

from .. import config
from ..match.verdict import ELIGIBILITY_KINDS, TrialMatch
from ..profiles import Profile
from ..shortlists import Item
from ..trust import disclaimer as trust_disclaimer
from ..userdata import Patient
from .matching import DISCLAIMER, VERDICT_LABELS, questions_for
from .plain import status_label
from .shortlist import contact_lines, entry_day, site_text
from .trust import CONFIDENT
from .trust import label as trust_label

MARKS = {"met": ("✓", "met"), "not_met": ("✗", "not met"), "unknown": ("?", "unclear")}
SECTIONS = {"inclusion": "Inclusion", "exclusion": "Exclusion", "unknown": "Criterion", "field": "Registry field"}


@functools.cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("trialfinder", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def shortlist_html(
    patient: Patient, profile: Profile, items: Sequence[Item], data_timestamp: str | None, generated_at: str
) -> str:
    return (
        environment()
        .get_template("shortlist.html")
        .render(
            patient=patient.name,
            profile=profile.describe(),
            as_of=str(profile.as_of),
            data_timestamp=data_timestamp,
            generated_at=generated_at,
            trials=[trial_view(item) for item in items],
            disclaimer=" ".join(DISCLAIMER.split()),
            oversight_note=trust_disclaimer(),
        )
    )


def trial_view(item: Item) -> dict[str, Any]:
    """Plain values for the template: no logic beyond loops and conditions there."""
    m = item.match
    view: dict[str, Any] = {
        "nct_id": item.nct_id,
        "title": item.title,
        "url": config.REGISTRY_STUDY_URL.format(nct_id=item.nct_id),
        "pipeline": item.entry.status,
        "pipeline_reason": item.status_reason,
        "status_since": entry_day(item.status_since),
        "note": item.entry.note,
        "shortlisted_on": item.entry.added_at[:10],
        "changes": [c.to_dict() for c in item.changes],
        "checked": m is not None,
    }
    if m is None:
        return view
    view |= {
        "verdict": m.verdict,
        "verdict_label": VERDICT_LABELS[m.verdict],
        "summary": m.summary,
        "trial_status": status_label(m.status),
        "record_updated": item.study.last_update_post_date if item.study else None,
        **reason_rows(m),
        "sites": [
            {
                "where": site_text(s),
                "status": status_label(s.status) if s.status else "",
                "contacts": contact_lines(s.contacts),
            }
            for s in item.sites
        ],
        "study_contacts": contact_lines(item.central_contacts),
        "signals": [trust_label(s) for s in m.trust.signals if s.name in CONFIDENT],
        "other_signals": [trust_label(s) for s in m.trust.signals if s.name not in CONFIDENT],
        "warnings": [{"text": w.text, "evidence": w.evidence} for w in m.trust.warnings],
        "questions": questions_for(m),
    }
    return view


def reason_rows(m: TrialMatch) -> dict[str, list[dict[str, Any]]]:
    """The criterion checklist of ``explain`` as rows (``checklist``), and whether the trial is open
    and near (``availability``): shared by the HTML export and the web app's trial page."""
    return {
        "checklist": [
            {
                "mark": MARKS[r.result][0],
                "result": MARKS[r.result][1],
                "result_class": r.result,
                "criterion": r.criterion.replace("_", " "),
                "text": r.text,
                "source": r.source if r.section in ("inclusion", "exclusion", "unknown") else "",
                "section": SECTIONS.get(r.section, ""),
            }
            for r in m.reasons
            if r.criterion in ELIGIBILITY_KINDS
        ],
        "availability": [
            {
                "mark": MARKS[r.result][0],
                "result": MARKS[r.result][1],
                "criterion": {"status": "Open now?", "distance": "Distance"}[r.criterion],
                "text": r.text,
            }
            for r in m.reasons
            if r.criterion in ("status", "distance")
        ],
    }
