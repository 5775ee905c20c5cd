"""Where a digest goes: email (text and HTML), files (Markdown and HTML), or a stream.

Each deliverer either delivers the whole digest or raises ``DeliveryError``;
``digest.run`` marks items sent only after it returns.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path

from .digest import Deliverer
from .errors import UserDataError
from .mailer import DeliveryError, SmtpSettings, build_message, send
from .profiles import Profile
from .render import digest as render_digest
from .userdata import write_atomically
from .watches import Item, Watch


class Email(Deliverer):
    """Mail to the watch's address; a watch without one goes to ``fallback``."""

    def __init__(self, settings: SmtpSettings | None, fallback: Deliverer):
        self.settings = settings
        self.fallback = fallback

    def deliver(self, watch: Watch, profile: Profile, items: list[Item], day: dt.date) -> tuple[str, str | None]:
        if not watch.email:
            return self.fallback.deliver(watch, profile, items, day)
        if self.settings is None:
            raise DeliveryError(
                f"watch {watch.name!r} sends to {watch.email}, but no mail server is configured: "
                "set $TRIALFINDER_SMTP_HOST (see the README) or use --out DIR"
            )
        message = build_message(
            self.settings.sender,
            watch.email,
            render_digest.subject(watch, items, day),
            render_digest.text(watch, profile, items, day),
            render_digest.html(watch, profile, items, day),
        )
        send(self.settings, message)
        return "email", watch.email


class Files(Deliverer):
    """``<out>/<watch>-<day>.md`` and ``.html``, each written whole or not at all."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def deliver(self, watch: Watch, profile: Profile, items: list[Item], day: dt.date) -> tuple[str, str | None]:
        stem = self.folder / f"{_slug(watch.name)}-{day}"
        n = 1
        while stem.with_suffix(".md").exists() or stem.with_suffix(".html").exists():
            n += 1
            stem = self.folder / f"{_slug(watch.name)}-{day}-{n}"
        try:
            write_atomically(stem.with_suffix(".md"), render_digest.markdown(watch, profile, items, day))
            write_atomically(stem.with_suffix(".html"), render_digest.html(watch, profile, items, day))
        except UserDataError as exc:
            raise DeliveryError(str(exc)) from None
        return "file", str(stem.with_suffix(".md"))


class Stream(Deliverer):
    """Plain text to a writer (the command's stdout)."""

    def __init__(self, write: Callable[[str], None]):
        self.write = write

    def deliver(self, watch: Watch, profile: Profile, items: list[Item], day: dt.date) -> tuple[str, str | None]:
        self.write(render_digest.text(watch, profile, items, day))
        return "stdout", None


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "watch"
