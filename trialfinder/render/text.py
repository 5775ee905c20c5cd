"""Readable text for people: tables and one-study pages."""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from collections.abc import Sequence
from typing import Any

from ..geo import site_may_recruit
from ..models import Study
from ..search import Hit
from ..trust import Trust
from .plain import (
    SEX_LABELS,
    age_range,
    phases_label,
    short_phase,
    status_label,
    unescape_markdown,
)
from .trust import panel as trust_panel


def terminal_width(default: int = 100) -> int:
    return max(60, shutil.get_terminal_size((default, 24)).columns)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, width: int | None = None) -> str:
    """A plain aligned table; the last column is cut to fit the width."""
    width = width or terminal_width()
    cols = list(zip(headers, *rows, strict=False)) if rows else [[h] for h in headers]
    sizes = [max(len(str(v)) for v in col) for col in cols]
    fixed = sum(sizes[:-1]) + 2 * (len(sizes) - 1)
    sizes[-1] = max(10, min(sizes[-1], width - fixed))
    lines = []
    for row in [headers, ["-" * s for s in sizes], *rows]:
        cells = []
        for i, value in enumerate(row):
            value = str(value)
            if len(value) > sizes[i]:
                value = value[: sizes[i] - 1] + "…"
            cells.append(value.ljust(sizes[i]) if i < len(row) - 1 else value)
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def search_table(hits: Sequence[Hit]) -> str:
    with_distance = any(h.nearest_km is not None for h in hits)
    headers = ["NCT ID", "Status", "Phase", "Ages", "Sex"] + (["Nearest"] if with_distance else []) + ["Title"]
    rows = []
    for hit in hits:
        r = hit.row
        row = [
            r["nct_id"],
            status_label(r["status"]),
            short_phase(json.loads(r["phases"] or "[]")),
            age_range(r["min_age"], r["max_age"]),
            {"MALE": "M", "FEMALE": "F"}.get(r["sex"] or "", "all"),
        ]
        if with_distance:
            row.append(f"{hit.nearest_km:.0f} km" if hit.nearest_km is not None else "")
        rows.append(row + [r["title"] or ""])
    return table(headers, rows)


def _wrap(text: str, indent: str = "  ", width: int | None = None) -> str:
    width = min(width or terminal_width(), 100)
    out = []
    for para in text.splitlines():
        if not para.strip():
            out.append("")
            continue
        lead = len(para) - len(para.lstrip())
        bullet = re.match(r"[*\-•]\s+|\d+[.)]\s+", para.lstrip())
        hang = lead + (len(bullet.group(0)) if bullet else 0)
        out.append(
            textwrap.fill(
                para.strip(),
                width=width,
                initial_indent=indent + " " * lead,
                subsequent_indent=indent + " " * hang,
            )
        )
    return "\n".join(out)


def study_page(study: Study, trust: Trust | None = None, *, criteria_limit: int | None = None) -> str:
    """One trial in plain language: what, who, where, whom to contact, and how it is overseen."""
    lines = [f"{study.nct_id}  {study.title}"]
    if study.official_title and study.official_title != study.title:
        lines.append(_wrap(study.official_title, indent="  "))
    status = status_label(study.overall_status)
    if study.overall_status == "UNKNOWN" and study.last_known_status:
        status += f"; last known: {status_label(study.last_known_status).lower()}"
    lines += [
        "",
        f"Status:        {status}",
        f"Last update:   {study.last_update_post_date or 'not given'}"
        + (f" (status verified {study.status_verified_date})" if study.status_verified_date else ""),
        f"Registry page: {study.registry_url}",
        "",
        "What it tests",
    ]
    kind = (study.study_type or "study").replace("_", " ").lower()
    phase = f" (phase: {phases_label(study.phases)})" if study.phases else ""
    lines.append(f"  A{'n' if kind[0] in 'aeiou' else ''} {kind} study{phase}.")
    for item in study.interventions:
        label = (item.type or "").replace("_", " ").lower()
        lines.append(f"  - {label + ': ' if label else ''}{item.name}")
    if study.brief_summary:
        lines += ["", _wrap(unescape_markdown(study.brief_summary))]

    lines += ["", "Who can join"]
    sex = SEX_LABELS.get(study.sex or "ALL", study.sex or "")
    volunteers = {True: "accepts healthy volunteers", False: "does not take healthy volunteers"}.get(
        study.healthy_volunteers, "healthy volunteers: not stated"
    )
    lines.append(f"  Ages {age_range(study.minimum_age, study.maximum_age)} · {sex} · {volunteers}")
    for problem in study.age_problems:
        lines.append(f"  Note: the registry's {problem}; ask the study team.")
    if study.conditions:
        lines.append("  Conditions: " + ", ".join(study.conditions))
    if study.eligibility_criteria:
        criteria = unescape_markdown(study.eligibility_criteria)
        if criteria_limit and len(criteria) > criteria_limit:
            criteria = criteria[:criteria_limit].rsplit("\n", 1)[0] + "\n  … (see the registry page for the rest)"
        lines += ["  Eligibility criteria, as registered:", _wrap(criteria, indent="    ")]

    lines += ["", "Where"]
    if not study.locations:
        lines.append("  No sites listed.")
    for loc in study.locations:
        closed = "" if site_may_recruit(loc.status) else " (this site is not recruiting)"
        own = f" [{status_label(loc.status).lower()}]" if loc.status else ""
        lines.append(f"  - {loc.facility or 'Unnamed site'}, {loc.place}{own}{closed}")
        for line in site_contact_lines(loc.contacts):
            lines.append("      " + line)

    lines += ["", "Contacts"]
    contacts = [contact_line(c) for c in study.central_contacts]
    officials = [
        f"{o.name} ({(o.role or '').replace('_', ' ').lower()}, {o.affiliation})" for o in study.overall_officials
    ]
    if not contacts and not officials:
        lines.append("  None listed; use the registry page.")
    lines += [f"  {c}" for c in contacts] + [f"  {o}" for o in officials]
    if study.lead_sponsor and study.lead_sponsor.name:
        lines += ["", f"Sponsor: {study.lead_sponsor.name}"]
    if trust is not None:
        lines += ["", trust_panel(trust)]
    if study.unknown_values():
        lines += [
            "",
            "Note: this record uses values trialfinder doesn't know yet: " + ", ".join(study.unknown_values()),
        ]
    return "\n".join(lines)


# What tells two entries for the same name apart: if these disagree, they are kept as two people.
_CONTACT_DETAILS = ("phone", "phone_ext", "email")
CONTACT_ROLES = {
    "CONTACT": "contact",
    "PRINCIPAL_INVESTIGATOR": "principal investigator",
    "SUB_INVESTIGATOR": "sub-investigator",
    "STUDY_CHAIR": "study chair",
    "STUDY_DIRECTOR": "study director",
}


def site_contact_lines(contacts: Sequence[Any]) -> list[str]:
    """A site's contacts, each person once with every role the record gives them.

    Records often list the same person twice at a site, as CONTACT and as PRINCIPAL_INVESTIGATOR:
    entries with the same name are merged when their phone and email don't disagree (one may lack
    them); entries that give different details are kept apart, so no number or address is lost.
    """
    merged: list[tuple[Any, list[str]]] = []  # (contact with the details found so far, roles)
    for contact in contacts:
        role = (contact.role or "").strip()
        for i, (seen, roles) in enumerate(merged):
            if _same_person(seen, contact):
                details = {f: getattr(seen, f) or getattr(contact, f) for f in _CONTACT_DETAILS}
                merged[i] = (seen.model_copy(update=details), roles + ([role] if role and role not in roles else []))
                break
        else:
            merged.append((contact, [role] if role else []))
    return [contact_line(c, roles) for c, roles in merged]


def _same_person(a: Any, b: Any) -> bool:
    name = " ".join((a.name or "").split()).casefold()
    if not name or name != " ".join((b.name or "").split()).casefold():
        return False
    return all(not getattr(a, f) or not getattr(b, f) or getattr(a, f) == getattr(b, f) for f in _CONTACT_DETAILS)


def _roles(roles: Sequence[str]) -> str:
    words = [CONTACT_ROLES.get(r, r.replace("_", " ").lower()) for r in roles]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def contact_line(contact: Any, roles: Sequence[str] = ()) -> str:
    parts = [(contact.name or "Contact") + (f" ({_roles(roles)})" if roles else "")]
    if contact.phone:
        parts.append(contact.phone + (f" ext. {contact.phone_ext}" if contact.phone_ext else ""))
    if contact.email:
        parts.append(contact.email)
    return " · ".join(parts)


def cache_info(info: dict[str, Any]) -> str:
    size_mb = info["size_bytes"] / 1e6
    lines = [
        f"Cache:               {info['path']}",
        f"Size on disk:        {size_mb:.1f} MB",
        f"Studies:             {info['studies']}",
    ]
    for status, n in info["by_status"].items():
        lines.append(f"  {status_label(status) if status != '?' else 'no status':<40} {n}")
    lines += [
        f"Remembered searches: {info['remembered_searches']}",
        f"Older versions kept: {info['history_versions']}",
        f"Registry data as of: {info['data_timestamp'] or 'unknown (imported from files only)'}",
        f"Oldest fetch:        {info['oldest_fetch'] or '-'}",
        f"Newest fetch:        {info['newest_fetch'] or '-'}",
    ]
    return "\n".join(lines)
