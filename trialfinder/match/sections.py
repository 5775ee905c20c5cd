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
    r"^[#*\s]*(?:(?:key|main|general|major|additional|other|specific|patient|participant|subject|study)\s+)?"
    r"(?P<kind>non-?\s?inclusion|inclusion|exclusion|eligibility|exclusionary|inclusionary)"
    r"(?:\s+(?:criteria|criterion|conditions?))?\b",
    re.IGNORECASE,
)
# A header that does not start its line: "Stable relationship Exclusion Criteria:", "…hyperlipidemia Exclusion
# Criteria:- Primary…", "Informed Consent Inclusion Criteria Partner". Written as a heading (capitalised, "criteria",
# then a colon, a full stop and a new sentence, or the end of the line), so that sentences which merely mention
# the criteria ("meets none of the exclusion criteria", "Other exclusion criteria apply") are left whole.
_MID_HEADER = re.compile(
    r"(?<=\S)[ \t]*(?=(?P<head>(?:(?:Key|KEY|Main|MAIN|General|GENERAL|Major|Additional|Other|Specific|Study|STUDY|"
    r"Patient|Participant|Subject|Partner)[ \t]+)?(?:Inclusion|INCLUSION|Exclusion|EXCLUSION|Non-inclusion)[ \t]+"
    r"(?:Criteria|CRITERIA|criteria|Criterion|criterion)\b)"
    r"(?:[ \t]*:|[ \t]*\.[ \t]+[A-Z]|(?:[ \t]+[A-Z][a-z]+){0,2}[ \t]*$))"
)
# The word before a mid-line header that makes it part of a sentence: "all of the Exclusion Criteria:".
_SENTENCE_WORD = re.compile(
    r"(?<![\w-])(?:the|following|any|all|these|those|of|no|none|not|meet|meets|meeting|met|above|below|listed|and|or|"
    r"per|see|to|with|by|in|other|protocol|defined|additional|further|specific|main|key)\W*$",
    re.IGNORECASE,
)
# Words naming whose or which criteria a header introduces ("Erectile dysfunction cohort", "Intra-operative",
# "III.6"): a few words, no sentence punctuation.
_GROUP_WORDS = re.compile(r"[^\W_][\w/&()'’.\-]*(?: [\w/&()'’.\-]+){0,4}")
_GROUP_HEADER = re.compile(
    r"^(?P<group>[^\W_][\w/&()'’.\-]*(?: [\w/&()'’.\-]+){0,4}?)\s+"
    r"(?P<kind>non-?\s?inclusion|inclusion|exclusion)\s+criteri(?:a|on)\s*:?$",
    re.IGNORECASE,
)
# Words after "criteria" that make a line a sentence about the criteria, not a header.
_SENTENCE_AFTER = re.compile(
    r"(?:apply|applies|applied|may|might|will|would|are|is|were|could|can|should|must|as|per|according|listed|"
    r"defined|specified|described)\b",
    re.IGNORECASE,
)
# A bullet run on after a header's colon: "Inclusion Criteria:- Age…", "Exclusion Criteria:• Patient…".
_RUN_ON_BULLET = re.compile(r"^(?:[-–•*·▪][ \t]*)+(?=[^\d\s])")
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
    for raw in _raw_lines(unescape(text).replace("\r", "")):
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


def _raw_lines(text: str) -> list[str]:
    """The lines of a text, with each header that starts mid-line put on a line of its own."""
    out: list[str] = []
    for raw in text.split("\n"):
        if "clusion" not in raw and "CLUSION" not in raw:
            out.append(raw)
            continue
        start = 0
        for m in _MID_HEADER.finditer(raw):
            if _SENTENCE_WORD.search(raw, start, m.start()):
                continue
            head = raw[start : m.start()]
            bullet = _BULLET.match(head + " ") if start == 0 else None
            body = head[bullet.end() :] if bullet else head
            if not re.search(r"[^\W_]", body):
                pass  # only a bullet marker or emphasis before the header ("1. Inclusion Criteria")
            elif start == 0 and _GROUP_WORDS.fullmatch(body.strip()) and (not bullet or " " not in body.strip()):
                break  # "Intraoperative Exclusion Criteria:", "Partner Inclusion Criteria": one header
            else:
                out.append(head)
            start = m.end()
        out.append(raw[start:])
    return out


def _header(line: str) -> tuple[str, str | None, str] | None:
    match = _CRITERIA_FOR.match(line)
    if match:
        rest = match.group("rest").strip(" -–:()")
        return match.group("kind").lower(), rest or None, ""
    match = _HEADER.match(line)
    if not match:
        match = _GROUP_HEADER.match(line) if "clusion" in line or "CLUSION" in line else None
        if not match or _SENTENCE_WORD.search(match.group("group") + " "):
            return None
        kind = match.group("kind").lower()
        group = None if re.fullmatch(r"[\divxlcIVXLC.)(]+", match.group("group")) else match.group("group")
        return ("exclusion" if kind.startswith(("exclusion", "non")) else "inclusion"), group, ""
    kind = match.group("kind").lower()
    sentence = re.match(r"\s*\.\s+(?=[A-Z])", line[match.end() :])
    if sentence and re.search(r"criteri", match.group(0), re.I):
        # "Inclusion criteria. Age ≥22. English speaking.": the criteria follow on the same line.
        after = line[match.end() + sentence.end() :].strip()
        return ("exclusion" if kind.startswith(("exclusion", "non")) else "inclusion"), None, after
    rest, colon, after = line[match.end() :].partition(":")
    rest = rest.rstrip().rstrip(".*").rstrip().strip(" -–:()*")
    after = after.lstrip(": \t").strip() if colon and after.strip(":.* \t") else ""
    after = _RUN_ON_BULLET.sub("", after)
    # "Inclusion in another trial within 30 days" is a criterion, not a header: a header says
    # "criteria" or ends with a colon. "Other exclusion criteria apply per the label" is a sentence.
    if (rest or after) and not re.search(r"criteri", line, re.I) and not line.rstrip().endswith(":"):
        return None
    if not colon and _SENTENCE_AFTER.match(rest):
        return None
    if kind == "eligibility":
        return "unknown", rest or None, after
    section = "exclusion" if kind.startswith(("exclusion", "non")) else "inclusion"
    return section, rest or None, after


def scope(line: Line) -> str:
    """Whom a criterion is about: "patient", "healthy" (controls) or "other" (a caregiver, a partner…)."""
    if line.group and _HEALTHY.search(line.group) and not re.search(r"\bpatients?\b", line.group, re.I):
        return "healthy"
    if line.group and _OTHER_PERSON.search(line.group) and not re.search(r"\bpatients?\b", line.group, re.I):
        return "other"
    return "patient"
