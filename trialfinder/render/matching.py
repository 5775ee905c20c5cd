"""Text for match results, the criterion checklist (explain) and what the parser read (criteria)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

from ..match.criteria import Parsed
from ..match.extract import Fact
from ..match.verdict import ELIGIBILITY_KINDS, TrialMatch, requirement
from ..profiles import Profile
from ..trust import questions as trust_questions
from .plain import status_label
from .text import table, terminal_width
from .trust import panel as trust_panel
from .trust import short as short_trust

VERDICT_LABELS = {"eligible": "May qualify", "uncertain": "Unclear, ask", "ineligible": "Not eligible"}
MARKS = {"met": "✓", "not_met": "✗", "unknown": "?"}

DISCLAIMER = (
    "This is information, not medical advice, and a listing on ClinicalTrials.gov is not an endorsement.\n"
    '"May qualify" means nothing we could check rules you out; only the study team can say whether you can\n'
    "join. Talk about any trial with the study team and with your own clinicians."
)
PRIVACY = "Only your condition terms (and the search area, when you set a distance) were sent to the registry."
PRIVACY_NO_AREA = "Only your condition terms were sent to the registry."
SITE_NAME_LIMIT = 30


def nearest_site_cell(match: TrialMatch) -> str:
    """The table cell for the nearest open site: distance, then the facility (or city, country)."""
    if match.nearest_site_km is None:
        return "-"
    return f"{match.nearest_site_km:.0f} km {_clip(site_name(match.nearest_site), SITE_NAME_LIMIT)}".rstrip()


def site_name(site: dict[str, Any] | None) -> str:
    """A site's facility, or its city and country when no facility is given."""
    if not site:
        return ""
    facility = (site.get("facility") or "").strip()
    return facility or ", ".join(p for p in (site.get("city"), site.get("country")) if p)


def match_table(matches: Sequence[TrialMatch]) -> str:
    """One row per trial (verdict, status, nearest open site, oversight), its one-line reason beneath it.

    The reason has a line of its own so that it is never cut to a few letters by the columns before it.
    """
    width = max(terminal_width(), 140)
    with_distance = any(m.nearest_site_km is not None for m in matches)
    headers = ["#", "Verdict", "NCT ID", "Status"] + (["Nearest open site"] if with_distance else []) + ["Oversight"]
    rows = []
    for i, m in enumerate(matches, 1):
        row = [str(i), VERDICT_LABELS[m.verdict], m.nct_id, status_label(m.status)]
        if with_distance:
            row.append(nearest_site_cell(m))
        rows.append(row + [short_trust(m.trust)])
    lines = table(headers, rows, width=width).splitlines()
    indent = " " * (len(str(len(matches))) + 2)  # under the verdict
    out = lines[:2]
    for line, m in zip(lines[2:], matches, strict=True):
        out += [line, indent + _clip(m.summary, width - len(indent))]
    return "\n".join(out)


def match_header(profile: Profile, data_timestamp: str | None) -> str:
    lines = [f"Matching for: {profile.describe()}", f"As of {profile.as_of}."]
    if data_timestamp:
        lines[-1] += f" Registry data from {data_timestamp}."
    return "\n".join(lines)


def checklist(match: TrialMatch, profile: Profile) -> str:
    """The explain page: every criterion checked, what decided the verdict, what to ask."""
    width = min(terminal_width(), 110)
    out = [
        f"{match.nct_id}  {match.title}",
        f"https://clinicaltrials.gov/study/{match.nct_id}",
        "",
        f"Verdict: {VERDICT_LABELS[match.verdict]}. {match.summary}",
        f"Profile: {profile.describe()} (as of {profile.as_of})",
        "",
        "Checked against your profile:",
    ]
    questions = []
    for reason in match.reasons:
        if reason.criterion not in ELIGIBILITY_KINDS:
            continue
        out.append(f"  {MARKS[reason.result]} {reason.criterion.replace('_', ' '):<18} {reason.text}")
        if reason.source and reason.section in ("inclusion", "exclusion", "unknown"):
            label = {"inclusion": "Inclusion", "exclusion": "Exclusion", "unknown": "Criterion"}[reason.section]
            out.append(_indent(f'{label}: "{_clip(reason.source, 300)}"', 23, width))
        if reason.result == "unknown":
            questions.append(reason)
    availability = [r for r in match.reasons if r.criterion in ("status", "distance")]
    if availability:
        out += ["", "Can you join now, and where:"]
        out += [f"  {MARKS[r.result]} {r.criterion:<18} {r.text}" for r in availability]
    other = [r for r in match.reasons if r.criterion == "other"]
    if other:
        out += ["", f"Not checked: {other[0].text}"]
    if questions:
        out += ["", "Ask the study team about:"]
        out += [f"  - {_question(r.text)}" for r in questions]
    out += ["", trust_panel(match.trust, with_disclaimer=False)]
    out += ["", DISCLAIMER]
    return "\n".join(out)


def parsed_criteria(nct_id: str, parsed: Parsed) -> str:
    """What the parser read from a trial's criteria, criterion by criterion."""
    width = min(terminal_width(), 110)
    out = [f"{nct_id}: {len(parsed.criteria)} criteria read (parser version {parsed.version})"]
    if not parsed.has_headers:
        out.append("The text has no inclusion/exclusion headers, so no criterion can decide on its own.")
    section = None
    for c in parsed.criteria:
        if c.section != section:
            section = c.section
            out += ["", {"inclusion": "Inclusion", "exclusion": "Exclusion"}.get(section, "Without a heading") + ":"]
        flags = []
        if c.scope != "patient":
            flags.append({"healthy": "for healthy volunteers", "other": "about another person"}.get(c.scope, c.scope))
        if c.alternative:
            flags.append("one of several options")
        if c.partial:
            flags.append("states more than was read")
        if c.group:
            flags.append(f"group: {c.group}")
        out.append(_indent("- " + _clip(c.text, 400) + (f"  [{'; '.join(flags)}]" if flags else ""), 2, width))
        for fact in c.facts:
            out.append(_indent(f"→ {describe_fact(fact)}", 6, width))
        for kind in c.unread:
            out.append(_indent(f"→ mentions {kind.replace('_', ' ')}, but could not be read with confidence", 6, width))
    out += ["", "See a misreading? Report it with the NCT id and the line above."]
    return "\n".join(out)


def describe_fact(fact: Fact) -> str:
    kind = {"time": "time since onset", "ais": "AIS grade", "level": "level", "gmfcs": "GMFCS"}.get(
        fact.kind, fact.kind
    )
    words = requirement(fact)
    if fact.kind == "condition":
        words += " (negated)" if fact.negated else ""
        words += " (a particular kind or severity)" if fact.qualified else ""
    return f"{kind}: {words}" + (f'  (from "{fact.phrase}")' if fact.phrase and fact.kind != "condition" else "")


def questions_for(match: TrialMatch) -> list[str]:
    """What to ask the study team: what the profile couldn't answer, then the standard questions."""
    asked = [_question(r.text) for r in match.reasons if r.criterion in ELIGIBILITY_KINDS and r.result == "unknown"]
    return list(dict.fromkeys(asked)) + trust_questions(match.trust)


def _question(text: str) -> str:
    return text.replace("; ask the study team.", "").replace("; ask the study team", "").rstrip(".") + "?"


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _indent(text: str, by: int, width: int) -> str:
    return textwrap.fill(text, width=width, initial_indent=" " * by, subsequent_indent=" " * (by + 2))
