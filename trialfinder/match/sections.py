"""Split an ``eligibilityCriteria`` text into criteria: section, group, nesting.

Registry criteria are Markdown: "Inclusion Criteria:" / "Exclusion Criteria:"
headers (sometimes "Key inclusion criteria", "Inclusion criteria for healthy
controls", or none at all), bullets nested by indentation, numbered lists,
group lines such as "Healthy volunteers:" and escapes like ``\\<``. Each
bullet, or each paragraph outside a list, becomes one ``Line``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!<>=~|])")
# The start of a header line; the rest of it is split in ``_header`` (a regex for the whole line,
# "rest, then spaces and punctuation, then ': after'", backtracks cubically over long runs of spaces).
_HEADER = re.compile(
    r"^[#*\s]*(?:(?:key|main|general|major|additional|other|specific|patient|participant)\s+)?"
    r"(?P<kind>inclusion|exclusion|eligibility|exclusionary|inclusionary)"
    r"(?:\s+(?:criteria|criterion|conditions?))?\b",
    re.IGNORECASE,
)
_CRITERIA_FOR = re.compile(r"^[#*\s]*criteria\s+for\s+(?P<kind>inclusion|exclusion)\b(?P<rest>[^:]*+):?\s*$", re.I)
_BULLET = re.compile(
    r"^(?P<indent>\s*)(?:[*\-•·▪◦‣●○]|\d{1,3}[.)]|\(\d{1,3}\)|[a-zA-Z][.)]|\([a-zA-Z]\)|\(?[ivxIVX]{1,4}[.)])\s+"
)
_GROUP_LINE = re.compile(r"^[^*\-•\d].{2,160}:\s*$")
_HEALTHY = re.compile(r"\b(healthy|control|controls|volunteers?|non-?injured|able-?bodied)\b", re.I)
_OTHER_PERSON = re.compile(
    r"\b(caregivers?|carers?|care partners?|partners?|spouses?|parents?|guardians?|family members?|"
    r"therapists?|clinicians?|staff|providers?|physicians?|siblings?|dyads?)\b",
    re.I,
)
_ALTERNATIVES = re.compile(
    r"\b(one|any|either)\s+of\s+the\s+following\b|\bat least (one|1) of\b|\bone or more of\b", re.I
)


@dataclass
class Line:
    """One criterion as written, with where it sits in the text."""

    text: str
    section: str  # "inclusion", "exclusion" or "unknown"
    group: str | None  # e.g. "Healthy volunteers", "Inclusion criteria for healthy controls"
    depth: int
    parent: int | None  # index of the enclosing bullet
    alternative: bool = False  # one of several options (its parent says "one of the following")


def unescape(text: str) -> str:
    return _ESCAPE.sub(r"\1", text or "")


def split(text: str) -> list[Line]:
    """The criteria of a text, in order."""
    lines: list[Line] = []
    section = "unknown"
    group: str | None = None
    stack: list[tuple[int, int]] = []  # (indent, index in lines) of open bullets
    for raw in unescape(text).replace("\r", "").split("\n"):
        if not raw.strip():
            continue
        stripped = raw.strip().strip("*_").strip()
        if not stripped:
            continue  # a bare bullet or emphasis marker ("*", "__") states nothing
        header = _header(stripped)
        if header:
            section, group, after = header
            stack.clear()
            if after:
                lines.append(Line(after, section, group, 0, None))
            continue
        bullet = _BULLET.match(raw)
        if bullet:
            indent = len(bullet.group("indent").expandtabs(4))
            body = raw[bullet.end() :].strip()
            if not body:
                continue  # an empty bullet
            while stack and stack[-1][0] >= indent:
                stack.pop()
            parent = stack[-1][1] if stack else None
            depth = len(stack)
            alternative = parent is not None and bool(_ALTERNATIVES.search(lines[parent].text))
            lines.append(Line(body, section, group, depth, parent, alternative))
            stack.append((indent, len(lines) - 1))
            continue
        if _GROUP_LINE.match(stripped) and len(stripped) < 160:
            # "Healthy volunteers:" or "Subjects must meet all of the following:" introduces a group.
            group = stripped.rstrip(":").strip()
            stack.clear()
            continue
        indent = len(raw) - len(raw.lstrip())
        if stack and lines and (indent > stack[-1][0] or stripped[:1].islower()):
            lines[stack[-1][1]].text += " " + stripped  # a wrapped bullet continues
            continue
        stack.clear()
        lines.append(Line(stripped, section, group, 0, None))
    return lines


def _header(line: str) -> tuple[str, str | None, str] | None:
    match = _CRITERIA_FOR.match(line)
    if match:
        rest = match.group("rest").strip(" -–:()")
        return match.group("kind").lower(), rest or None, ""
    match = _HEADER.match(line)
    if not match:
        return None
    kind = match.group("kind").lower()
    rest, colon, after = line[match.end() :].partition(":")
    rest = rest.rstrip().rstrip(".*").rstrip().strip(" -–:()*")
    after = after.lstrip(": \t").strip() if colon and after.strip(":.* \t") else ""
    # "Inclusion in another trial within 30 days" is a criterion, not a header: a header says
    # "criteria" or ends with a colon.
    if (rest or after) and not re.search(r"criteri", line, re.I) and not line.rstrip().endswith(":"):
        return None
    if kind == "eligibility":
        return "unknown", rest or None, after
    section = "exclusion" if kind.startswith("exclusion") else "inclusion"
    return section, rest or None, after


def scope(line: Line) -> str:
    """Whom a criterion is about: "patient", "healthy" (controls) or "other" (a caregiver, a partner…)."""
    if line.group and _HEALTHY.search(line.group) and not re.search(r"\bpatients?\b", line.group, re.I):
        return "healthy"
    if line.group and _OTHER_PERSON.search(line.group) and not re.search(r"\bpatients?\b", line.group, re.I):
        return "other"
    return "patient"
