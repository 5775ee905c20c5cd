"""Which known conditions a trial is about, from its conditions, keywords, title and MeSH terms."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from ..seeds import Condition, knowledge


@functools.cache
def _patterns() -> list[
    tuple[
        Condition,
        re.Pattern[str],
        re.Pattern[str] | None,
        re.Pattern[str] | None,
        frozenset[str],
        tuple[str, ...] | None,
        tuple[str, ...],
    ]
]:
    out = []
    for c in knowledge().conditions.values():
        words = [t for t in c.trial_terms if not (t.isupper() and len(t) <= 5)]
        abbreviations = [t for t in c.trial_terms if t.isupper() and len(t) <= 5]
        text = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + ")", re.IGNORECASE)
        alternation = "|".join(re.escape(a) for a in abbreviations)
        # Matched against all entries at once, one per line: an entry that is only the abbreviation.
        abbr = re.compile(r"^[ \t]*(?:" + alternation + r")[ \t]*$", re.MULTILINE) if abbreviations else None
        in_title = re.compile(r"\b(?:" + alternation + r")\b") if abbreviations else None
        # What must appear for any pattern to match: a cheap substring screen before the regexes.
        screen = tuple(w.lower() for w in words) if all(w.isascii() for w in words) else None
        out.append((c, text, abbr, in_title, frozenset(m.lower() for m in c.mesh), screen, tuple(abbreviations)))
    return out


def targeted(
    title: str | None, conditions: Iterable[str], keywords: Iterable[str], mesh_terms: Iterable[str]
) -> set[str]:
    """Ids of the known conditions the trial names as what it studies."""
    entries = "\n".join(e.replace("\n", " ") for e in [*conditions, *keywords])
    fields = (title or "") + "\n" + entries
    mesh = {m.lower() for m in mesh_terms}
    lowered = fields.lower()
    found = set()
    for condition, text, abbr, in_title, condition_mesh, screen, abbreviations in _patterns():
        if mesh & condition_mesh:
            found.add(condition.id)
            continue
        if (screen is None or any(w in lowered for w in screen)) and text.search(fields):
            found.add(condition.id)
            continue
        if abbreviations and any(a in fields for a in abbreviations):
            if (abbr is not None and abbr.search(entries)) or (in_title is not None and in_title.search(title or "")):
                found.add(condition.id)
    return found
