"""A watch's digest as plain text, Markdown and HTML (the email's two parts, the files)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from ..profiles import Profile
from ..watches import Item, Watch
from .html import environment
from .matching import DISCLAIMER
from .shortlist import md_escape

SECTIONS = (
    ("new", "New trials that may fit"),
    ("status", "Trials that opened, closed or changed status"),
    ("verdict", "Criteria that changed the verdict"),
    ("site", "New open sites within your distance"),
)
FOOTER = (
    "This digest informs; it is not medical advice. Talk about any trial with the study team and your own "
    "clinicians before deciding anything."
)


def subject(watch: Watch, items: Sequence[Item], day: dt.date) -> str:
    if not items:
        return f"trialfinder: nothing new for {watch.name} ({day})"
    return f"trialfinder: {len(items)} update{'s' * (len(items) != 1)} for {watch.name} ({day})"


def grouped(items: Sequence[Item]) -> list[tuple[str, list[Item]]]:
    return [
        (title, [i for i in items if i.kind == kind]) for kind, title in SECTIONS if any(i.kind == kind for i in items)
    ]


def text(watch: Watch, profile: Profile, items: Sequence[Item], day: dt.date) -> str:
    lines = [subject(watch, items, day), f"Profile: {profile.describe()}", ""]
    if not items:
        lines.append(f"Nothing new since the last digest ({watch.every} watch).")
    for title, group in grouped(items):
        lines += [title, "-" * len(title)]
        for item in group:
            lines.append(f"* {item.nct_id}  {item.title}")
            lines.append(f"  {item.reason}")
            lines += [f"  Warning sign: {w}" for w in item.warnings]
            if item.url:
                lines.append(f"  {item.url}")
            lines.append("")
    lines += ["", " ".join(DISCLAIMER.split()), "", _stop(watch)]
    return "\n".join(lines) + "\n"


def markdown(watch: Watch, profile: Profile, items: Sequence[Item], day: dt.date) -> str:
    lines = [f"# {md_escape(subject(watch, items, day))}", "", f"Profile: {md_escape(profile.describe())}", ""]
    if not items:
        lines.append(f"Nothing new since the last digest ({watch.every} watch).")
    for title, group in grouped(items):
        lines += [f"## {title}", ""]
        for item in group:
            head = f"[{item.nct_id}]({item.url})" if item.url else md_escape(item.nct_id or "")
            lines.append(f"- {head}: {md_escape(item.title)}  ")
            lines.append(f"  {md_escape(item.reason)}")
            lines += [f"  - **Warning sign**: {md_escape(w)}" for w in item.warnings]
        lines.append("")
    lines += ["---", "", md_escape(" ".join(DISCLAIMER.split())), "", md_escape(_stop(watch))]
    return "\n".join(lines) + "\n"


def html(watch: Watch, profile: Profile, items: Sequence[Item], day: dt.date) -> str:
    return (
        environment()
        .get_template("digest.html")
        .render(
            subject=subject(watch, items, day),
            profile=profile.describe(),
            every=watch.every,
            sections=grouped(items),
            disclaimer=" ".join(DISCLAIMER.split()),
            stop=_stop(watch),
        )
    )


def _stop(watch: Watch) -> str:
    return f"To stop these digests: trialfinder watch remove {watch.name}"
