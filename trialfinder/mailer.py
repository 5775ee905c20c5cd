"""Email: SMTP settings from a config file and the environment, and sending one message.

Settings come from ``[smtp]`` in the config file (``--config``,
``$TRIALFINDER_CONFIG`` or ``~/.config/trialfinder/config.toml``), each
overridden by an environment variable. The password is read only from
``$TRIALFINDER_SMTP_PASSWORD``: never from the file, never stored.
"""

from __future__ import annotations

import os
import smtplib
import ssl
import tomllib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from .errors import InputError, TrialFinderError

ENV_CONFIG = "TRIALFINDER_CONFIG"
DEFAULT_CONFIG = Path("~/.config/trialfinder/config.toml")
SECURITY = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
FIELDS = ("host", "port", "security", "user", "from")


class DeliveryError(TrialFinderError):
    """A digest could not be delivered (mail server down, refused, bad settings)."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str
    sender: str
    user: str | None = None
    password: str | None = None
    timeout: float = 30.0

    def describe(self) -> str:
        return f"{self.host}:{self.port} ({self.security})"


def config_path(explicit: str | os.PathLike | None = None) -> Path:
    return Path(explicit or os.environ.get(ENV_CONFIG) or DEFAULT_CONFIG).expanduser()


def read_config(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"can't read the config file {path}: {exc}") from None


def smtp_settings(config_file: str | os.PathLike | None = None) -> SmtpSettings | None:
    """The SMTP settings, or None when no host is configured anywhere."""
    path = config_path(config_file)
    section = read_config(path).get("smtp", {})
    if not isinstance(section, dict):
        raise InputError(f"{path}: [smtp] must be a table")
    if "password" in section:
        raise InputError(f"{path}: don't keep the SMTP password in a file; set $TRIALFINDER_SMTP_PASSWORD instead")
    unknown = sorted(set(section) - set(FIELDS))
    if unknown:
        raise InputError(f"{path}: unknown [smtp] setting {unknown[0]!r}; allowed: {', '.join(FIELDS)}")
    values = {k: section.get(k) for k in FIELDS}
    for key in FIELDS:
        env = os.environ.get(f"TRIALFINDER_SMTP_{key.upper()}")
        if env:
            values[key] = env
    if not values["host"]:
        return None
    security = str(values["security"] or "starttls").lower()
    if security not in SECURITY:
        raise InputError(f"SMTP security must be one of {', '.join(SECURITY)}, not {security!r}")
    try:
        port = int(values["port"] or DEFAULT_PORTS[security])
    except ValueError:
        raise InputError(f"SMTP port must be a number, not {values['port']!r}") from None
    user = values["user"] or None
    password = os.environ.get("TRIALFINDER_SMTP_PASSWORD") or None
    if user and not password:
        raise InputError("an SMTP user is set but $TRIALFINDER_SMTP_PASSWORD is not")
    sender = values["from"] or user or f"trialfinder@{values['host']}"
    return SmtpSettings(str(values["host"]), port, security, str(sender), user, password)


def build_message(sender: str, to: str, subject: str, text: str, html: str) -> EmailMessage:
    """A multipart/alternative message: plain text first, HTML second."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain="trialfinder.local")
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: don't auto-reply to this
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def send(settings: SmtpSettings, message: EmailMessage) -> None:
    """Hand the message to the server; any failure is a ``DeliveryError`` with the server's words."""
    try:
        if settings.security == "ssl":
            context = ssl.create_default_context()
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout, context=context
            )
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        with client:
            if settings.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if settings.user:
                client.login(settings.user, settings.password or "")
            refused = client.send_message(message)
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(f"the mail server {settings.describe()} refused the login: {_said(exc)}") from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(f"the mail server refused the address {message['To']}: {exc.recipients}") from None
    except smtplib.SMTPException as exc:
        raise DeliveryError(f"the mail server {settings.describe()} failed: {_said(exc)}") from None
    except (OSError, ssl.SSLError) as exc:
        raise DeliveryError(f"can't reach the mail server {settings.describe()}: {exc}") from None
    if refused:
        raise DeliveryError(f"the mail server refused {', '.join(refused)}")


def _said(exc: smtplib.SMTPException) -> str:
    error = getattr(exc, "smtp_error", None)
    if isinstance(error, bytes):
        return f"{getattr(exc, 'smtp_code', '')} {error.decode(errors='replace')}".strip()
    return str(exc)
