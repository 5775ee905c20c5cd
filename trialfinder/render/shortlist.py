"""Patients and shortlists as text, CSV and Markdown (HTML is in ``html.py``).

Every renderer takes the same ``shortlists.Item`` list, so the terminal, the
spreadsheet and the printed page say the same things.
"""

from __future__ import annotations

import csv
import io
import re
import textwrap
from collections.abc import Sequence
from typing import Any

from .. import config
from ..match.verdict import ELIGIBILITY_KINDS
from ..profiles import Profile, frozen_fields
from ..shortlists import Item, Site
from ..userdata import Event, Patient
from .matching import DISCLAIMER, VERDICT_LABELS, questions_for
from .plain import status_label
from .text import contact_line, table, terminal_width
from .trust import short as short_trust

PIPELINE_NOTE = "Pipeline: candidate → contacted → screening → enrolled, or declined / not-eligible (with a reason)."


# -- patients ---------------------------------------------------------------------------


def patients_table(rows: Sequence[tuple[Patient, int]]) -> str:
    if not rows:
        return "No patients yet. Add one with: trialfinder patient add NAME --profile FILE"
    body = [[p.name, str(n), ", ".join(p.profile.get("conditions", [])), p.updated_at[:10]] for p, n in rows]
    return table(["Patient", "Shortlisted", "Conditions", "Profile updated"], body)


def patient_page(patient: Patient, profile: Profile, counts: dict[str, int]) -> str:
    lines = [
        f"Patient {patient.name}",
        f"  Profile: {profile.describe()} (as of {profile.as_of})",
        f"  Added {patient.created_at[:10]}, profile updated {patient.updated_at[:10]}",
        "  Stored fields:",
    ]
    lines += [f"    {k}: {_field(v)}" for k, v in sorted(patient.profile.items())]
    frozen = frozen_fields(patient.profile)
    if frozen:
        lines.append(f"  Note: {frozen} (stored {patient.updated_at[:10]}).")
    if counts:
        lines.append("  Shortlist: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    else:
        lines.append("  Shortlist: empty")
    return "\n".join(lines)


def _field(value: Any) -> str:
    if isinstance(value, dict):  # a location
        return value.get("label") or f"{value.get('lat')},{value.get('lon')}"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


# -- the shortlist on a terminal ---------------------------------------------------------


def shortlist_page(patient: Patient, profile: Profile, items: Sequence[Item], data_timestamp: str | None) -> str:
    width = min(terminal_width(), 110)
    lines = [f"Shortlist for {patient.name}: {len(items)} trial(s)", f"Profile: {profile.describe()}"]
    lines.append(
        f"Re-checked as of {profile.as_of}"
        + (f" against registry data from {data_timestamp}." if data_timestamp else ".")
    )
    if not items:
        lines += [
            "",
            f"Nothing shortlisted yet. Add trials with: trialfinder shortlist add {_quote(patient.name)} NCT_ID",
        ]
    for i, item in enumerate(items, 1):
        lines += ["", f"{i}. {item.nct_id}  {item.title}"]
        lines += [_wrap(f"{label:<11} {text}", width, 3) for label, text in item_lines(item)]
    lines += ["", DISCLAIMER]
    return "\n".join(lines)


def item_lines(item: Item) -> list[tuple[str, str]]:
    """The labelled lines of one shortlisted trial (terminal and Markdown)."""
    entry = item.entry
    pipeline = f"{entry.status} (since {entry_day(item.status_since)})"
    if item.status_reason:
        pipeline += f": {item.status_reason}"
    out = [("Pipeline:", pipeline)]
    if entry.note:
        out.append(("Note:", entry.note))
    if item.match is None:
        out.append(("Verdict:", "can't re-check: the trial is not in the cache; run without --offline to fetch it"))
        return out
    out.append(("Verdict:", f"{VERDICT_LABELS[item.match.verdict]}. {item.match.summary}"))
    record = status_label(item.match.status)
    if item.study and item.study.last_update_post_date:
        record += f" (record updated {item.study.last_update_post_date})"
    out.append(("Status:", record))
    if item.sites:
        for n, site in enumerate(item.sites[:1]):
            out.append(("Nearest:" if n == 0 else "", site_text(site)))
            out += [("", line) for line in contact_lines(site.contacts)[:2]]
    else:
        out.append(("Nearest:", "no open site listed"))
    if item.central_contacts:
        out.append(("Contact:", contact_line(item.central_contacts[0])))
    out.append(("Oversight:", short_trust(item.match.trust)))
    for warning in item.match.trust.warnings:
        out.append(("Warning:", f"{warning.text} (because {warning.evidence})"))
    if item.changes:
        out.append(("Changed:", f"since shortlisted on {entry.added_at[:10]}; re-check before contacting the site"))
        out += [("", f"! {c.text}" + (f" ({c.date})" if c.date else "")) for c in item.changes]
    else:
        out.append(("Changed:", f"nothing since shortlisted on {entry.added_at[:10]}"))
    return out


def contact_lines(contacts: Sequence[Any]) -> list[str]:
    """One line per contact, the same person listed twice shown once."""
    return list(dict.fromkeys(contact_line(c) for c in contacts))


def site_text(site: Site) -> str:
    where = ", ".join(p for p in (site.facility, site.place) if p)
    return where + (f" — {site.km:.0f} km" if site.km is not None else "")


def entry_day(stamp: str) -> str:
    return stamp[:10]


def added_from_match(name: str, added: Sequence[str], present: Sequence[str]) -> str:
    if not added and not present:
        return f"Nothing added to {name}'s shortlist: no listed trial may qualify or is unclear."
    text = f"Added {len(added)} trial(s) to {name}'s shortlist as candidates"
    if present:
        text += f" ({len(present)} already there)"
    return text + f". See: trialfinder shortlist show {name}"


def history_text(patient: Patient, events: Sequence[Event]) -> str:
    if not events:
        return f"No history yet for {patient.name}."
    rows = []
    for e in events:
        if e.kind == "added":
            what = "added as candidate" + (f"; note: {e.reason}" if e.reason else "")
        elif e.kind == "status":
            what = f"{e.old} → {e.new}" + (f" ({e.reason})" if e.reason else "")
        elif e.kind == "note":
            what = f"note: {e.new}"
        else:
            what = f"removed (was {e.old})"
        rows.append([e.at.replace("T", " ").rstrip("Z"), e.nct_id, what])
    return table(["When (UTC)", "Trial", "Change"], rows, width=max(terminal_width(), 120))


# -- CSV ----------------------------------------------------------------------------------

CSV_COLUMNS = (
    "nct_id", "title", "pipeline_status", "pipeline_reason", "status_since", "note", "verdict", "why", "trial_status",
    "record_updated", "nearest_site", "distance_km", "site_contact", "study_contact", "oversight", "warnings",
    "changed_since_shortlisted", "shortlisted_on", "registry_url",
)  # fmt: skip
# A cell starting with one of these is run as a formula by spreadsheets; a leading
# apostrophe makes it text (the OWASP advice for CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_row(item: Item) -> dict[str, Any]:
    m = item.match
    site = item.sites[0] if item.sites else None
    return {
        "nct_id": item.nct_id,
        "title": item.title,
        "pipeline_status": item.entry.status,
        "pipeline_reason": item.status_reason or "",
        "status_since": entry_day(item.status_since),
        "note": item.entry.note or "",
        "verdict": VERDICT_LABELS[m.verdict] if m else "not re-checked (not in the cache)",
        "why": m.summary if m else "",
        "trial_status": status_label(m.status) if m else "",
        "record_updated": (item.study.last_update_post_date if item.study else "") or "",
        "nearest_site": site_text(site) if site else "",
        "distance_km": f"{site.km:.0f}" if site and site.km is not None else "",
        "site_contact": contact_line(site.contacts[0]) if site and site.contacts else "",
        "study_contact": contact_line(item.central_contacts[0]) if item.central_contacts else "",
        "oversight": short_trust(m.trust) if m else "",
        "warnings": "; ".join(w.text for w in m.trust.warnings) if m else "",
        "changed_since_shortlisted": "; ".join(c.text + (f" ({c.date})" if c.date else "") for c in item.changes),
        "shortlisted_on": item.entry.added_at[:10],
        "registry_url": config.REGISTRY_STUDY_URL.format(nct_id=item.nct_id),
    }


def csv_text(items: Sequence[Item]) -> str:
    """One row per trial; UTF-8 with a byte-order mark so spreadsheets read accents and symbols right."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for item in items:
        writer.writerow({k: _cell(v) for k, v in csv_row(item).items()})
    return out.getvalue()


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


# -- Markdown -------------------------------------------------------------------------------

# Record text never starts a line here, so only inline markup needs escaping.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&])")


def md_escape(text: str) -> str:
    """Text from records and notes as literal Markdown: no markup, no HTML, no links."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def markdown(patient: Patient, profile: Profile, items: Sequence[Item], data_timestamp: str | None) -> str:
    lines = [
        f"# Shortlist for {md_escape(patient.name)}",
        "",
        f"Profile: {md_escape(profile.describe())}  ",
        f"Re-checked as of {profile.as_of}"
        + (f" against registry data from {data_timestamp}" if data_timestamp else ""),
        "",
    ]
    if not items:
        lines.append("Nothing shortlisted yet.")
    for item in items:
        url = config.REGISTRY_STUDY_URL.format(nct_id=item.nct_id)
        lines += [f"## [{item.nct_id}]({url}): {md_escape(item.title)}", ""]
        for label, text in item_lines(item):
            lines.append(f"- **{label.rstrip(':')}**: {md_escape(text)}" if label else f"  - {md_escape(text)}")
        if item.match is not None:
            checked = [r for r in item.match.reasons if r.criterion in ELIGIBILITY_KINDS]
            if checked:
                lines += ["", "Criteria checked:", ""]
                marks = {"met": "met", "not_met": "**not met**", "unknown": "unclear"}
                lines += [f"- {marks[r.result]}: {md_escape(r.text)}" for r in checked]
            lines += ["", "Ask the study team:", ""]
            lines += [f"- {md_escape(q)}" for q in questions_for(item.match)]
        lines.append("")
    lines += ["---", "", md_escape(" ".join(DISCLAIMER.split()))]
    return "\n".join(lines) + "\n"


def _wrap(text: str, width: int, indent: int) -> str:
    return textwrap.fill(text, width=width, initial_indent=" " * indent, subsequent_indent=" " * (indent + 12))


def _quote(name: str) -> str:
    return f'"{name}"' if " " in name else name
