"""What every command shares: error handling, progress, and the option decorators.

The decorators turn groups of options into one object (``query_options`` →
``query: SearchQuery``, ``profile_options`` → ``profile: Profile``) so a
command's signature says what it works on, not how it was spelled.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .. import config
from ..api import Client
from ..cache import Cache
from ..errors import InputError, NetworkError, RegistryUnreachable, TrialFinderError
from ..models import OPEN_STATUSES, STATUSES, SearchQuery, normalise_status, parse_distance_km, parse_lat_lon
from ..profiles import load_profile
from ..userdata import UserData

STATUS_CHOICES = [s.lower().replace("_", "-") for s in STATUSES]
# Set in the click context's meta (shared by nested contexts) while a command with --offline runs,
# so an unreachable registry can be answered with "add --offline" only where that option exists.
HAS_OFFLINE = "trialfinder.has_offline"


class _UsageLine(click.ClickException):
    """A wrong option or value, said in one line (click's own shows the usage text first)."""

    exit_code = 2


class TrialFinderGroup(click.Group):
    """Turns library errors and wrong options into one clear line and a non-zero exit, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.exceptions.NoArgsIsHelpError:
            raise  # a group named without a command: its help is the answer
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else ctx.command_path
            raise _UsageLine(f"{exc.format_message()} See `{where} --help`.") from None
        except NetworkError as exc:
            raise click.ClickException(network_error_line(exc, offline=bool(ctx.meta.get(HAS_OFFLINE)))) from None
        except TrialFinderError as exc:
            raise click.ClickException(str(exc)) from None
        except BrokenPipeError:  # `trialfinder search | head`
            sys.stderr.close()
            sys.exit(0)


def network_error_line(exc: NetworkError, *, offline: bool) -> str:
    """The one line for a registry that can't be reached or keeps failing, with the fixes that fit the command.

    ``offline``: the command has an --offline option, so answering from the cache is a way out.
    """
    if isinstance(exc, RegistryUnreachable):
        said = (
            f"can't reach the registry at {exc.url}: {exc}. Check --api-url (or ${config.ENV_API_URL}) and the network"
        )
        if offline:
            return f"{said}, or add --offline to answer from the cache."
        return f"{said}; this command works only online."
    said = f"can't reach the registry: {exc}. Try again later, or check --api-url"
    if offline:
        return f"{said}; or add --offline to answer from the cache."
    return f"{said}; what was fetched is kept, and running it again resumes from there."


class Reporter:
    """Progress on stderr: a live line on a terminal, an occasional line otherwise."""

    def __init__(self, every: float = 2.0):
        self.tty = sys.stderr.isatty()
        self.every = every
        self.last = 0.0
        self.pending = ""

    def __call__(self, message: str) -> None:
        if self.tty:
            click.echo("\r" + message[:150].ljust(150), err=True, nl=False)
            self.pending = message
            return
        now = time.monotonic()
        if now - self.last >= self.every:
            click.echo(message, err=True)
            self.last = now
            self.pending = ""
        else:
            self.pending = message

    def note(self, message: str) -> None:
        """An event worth seeing every time (a retry, a warning)."""
        if self.tty:
            click.echo("\r" + " " * 150 + "\r", err=True, nl=False)
        click.echo(message, err=True)
        if self.tty and self.pending:
            click.echo(self.pending[:150], err=True, nl=False)

    def done(self) -> None:
        if self.tty and self.pending:
            click.echo("", err=True)
        elif self.pending:
            click.echo(self.pending, err=True)
        self.pending = ""


# -- shared options -----------------------------------------------------------


def db_option(f: Callable) -> Callable:
    return click.option(
        "--db",
        "db_path",
        type=click.Path(dir_okay=False),
        envvar=config.ENV_DB,
        show_envvar=True,
        help=f"Cache database file [default: {config.DEFAULT_DB_PATH}].",
    )(f)


def network_options(f: Callable) -> Callable:
    """--api-url, --offline and --refresh. --offline on a cache that doesn't exist yet is one line, not a new file."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        click.get_current_context().meta[HAS_OFFLINE] = True
        if kwargs.get("offline") and not getattr(f, "shows_user_work", False):
            missing = no_cache_yet(kwargs.get("db_path"))
            if missing:
                raise InputError(
                    f"{missing}, so what you asked for is not in the cache; run the command without --offline "
                    "to fetch it, or fill the cache with `trialfinder sync` or `trialfinder import`"
                )
        return f(*args, **kwargs)

    return _options(
        wrapper,
        [
            click.option(
                "--api-url",
                envvar=config.ENV_API_URL,
                show_envvar=True,
                help=f"Registry API base URL [default: {config.DEFAULT_API_URL}].",
            ),
            click.option("--offline", is_flag=True, help="Never use the network; answer from the cache only."),
            click.option("--refresh", is_flag=True, help="Fetch again even if the cache is fresh (< 24 h old)."),
        ],
    )


def json_option(f: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for programs instead of text.")(f)


def _options(f: Callable, options: list[Callable]) -> Callable:
    for option in reversed(options):
        f = option(f)
    return f


QUERY_FIELDS = ("condition", "term", "intervention", "location", "statuses", "near", "within")


def query_options(f: Callable) -> Callable:
    """The search options; the command receives them as one ``query: SearchQuery``."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        given = {name: kwargs.pop(name) for name in QUERY_FIELDS}
        near, within = given.pop("near"), given.pop("within")
        kwargs["query"] = SearchQuery.build(
            **given,
            near=parse_lat_lon(near) if near else None,
            within_km=parse_distance_km(within, option="--within") if within else None,
        )
        return f(*args, **kwargs)

    return _options(
        wrapper,
        [
            click.option("--condition", "-c", help='Condition or disease, e.g. "spinal cord injury".'),
            click.option("--term", "-t", help="Other words anywhere in the record."),
            click.option("--intervention", "-i", help='Treatment or intervention, e.g. "stem cell".'),
            click.option("--location", help="Words in a site's name, city, state or country, e.g. Zurich."),
            click.option(
                "--status",
                "statuses",
                multiple=True,
                type=click.Choice(STATUS_CHOICES, case_sensitive=False),
                help="Overall status; repeat for several [default: recruiting, not-yet-recruiting].",
            ),
            click.option("--near", metavar="LAT,LON", help="Only trials with a site near here, e.g. 47.37,8.54."),
            click.option(
                "--within", metavar="DISTANCE", help="Distance for --near with its unit, km or mi: e.g. 100km or 60mi."
            ),
        ],
    )


def has_text(query: SearchQuery) -> bool:
    return any((query.condition, query.term, query.intervention, query.location))


def client_factory(api_url: str | None, reporter: Reporter | None = None) -> Callable[[], Client]:
    return functools.partial(Client, config.api_url(api_url), on_retry=reporter.note if reporter else None)


def shows_user_work(f: Callable) -> Callable:
    """Mark a command that shows the user's own work (a shortlist): with --offline it still runs
    when the cache is missing, since what matters most is in the user's file, not the cache."""
    f.shows_user_work = True  # type: ignore[attr-defined]
    return f


def open_cache(db_path: str | None) -> Cache:
    return Cache(config.db_path(db_path))


def no_cache_yet(db_path: str | None) -> str | None:
    """``"no cache at PATH yet"`` when the cache file doesn't exist; None when it does.

    Commands that only read the cache ask this first, so that reading never
    creates a folder and an empty database.
    """
    path: Path = config.db_path(db_path)
    return None if path.exists() else f"no cache at {path} yet"


def open_userdata(db_path: str | None) -> UserData:
    """Patients and shortlists: $TRIALFINDER_USER_DB, else a file beside the cache (never inside it)."""
    return UserData(config.user_db_path(None, config.db_path(db_path)))


# -- profiles ---------------------------------------------------------------------

PROFILE_OPTIONS = [
    click.option("--profile", "profile_path", type=click.Path(dir_okay=False), help="Profile file (TOML or JSON)."),
    click.option("--condition", "conditions", multiple=True, help='Condition; repeat for several, e.g. "stroke".'),
    # Numbers are checked with the profile (one line naming the field and what is allowed), not by click.
    click.option("--age", help="Age in years."),
    click.option("--birth-date", help="Date of birth, YYYY-MM-DD (instead of --age)."),
    click.option("--sex", help="male or female."),
    click.option("--injury-date", help="Date of injury, YYYY-MM-DD."),
    click.option("--onset-date", help="Date of onset (stroke, MS…), YYYY-MM-DD."),
    click.option("--time-since-onset", help='Time since injury or onset, e.g. "18 months".'),
    click.option("--phase", help="acute, subacute or chronic (worked out from a date when one is given)."),
    click.option("--ais-grade", help="AIS grade A-E (spinal cord injury)."),
    click.option("--level", "neurological_level", help="Neurological level, C1-S5 (spinal cord injury)."),
    click.option("--gmfcs", "gmfcs_level", help="GMFCS level I-V (cerebral palsy)."),
    click.option("--location", help='City ("Toronto, ON", "London, UK"), US ZIP code or LAT,LON (matched offline).'),
    click.option("--max-distance", "max_distance_km", help="Only sites within this many km."),
    click.option("--as-of", help="Reckon ages and times from this date (YYYY-MM-DD) instead of today."),
]
PROFILE_FIELDS = (
    "age", "birth_date", "sex", "injury_date", "onset_date", "time_since_onset", "phase", "ais_grade",
    "neurological_level", "gmfcs_level", "location", "max_distance_km", "as_of",
)  # fmt: skip


def profile_options(f: Callable | None = None, *, patient: bool = True, base_from: str | None = None) -> Callable:
    """--profile FILE plus every profile field as an option; the command gets ``profile``.

    With ``patient`` (the default) there is also --patient NAME: the profile kept
    for that patient, with --profile and the options laid over it. The command
    then gets ``patient`` too (a ``Patient`` or None). ``base_from`` names a
    command argument that holds the patient instead (``patient update NAME``).
    """
    if f is None:
        return functools.partial(profile_options, patient=patient, base_from=base_from)

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        fields = {name: kwargs.pop(name) for name in PROFILE_FIELDS}
        conditions = list(kwargs.pop("conditions")) or None
        base, source = None, None
        name = kwargs.pop("patient_name") if patient else kwargs.get(base_from) if base_from else None
        if patient:
            kwargs["patient"] = None
        if name and not kwargs.get("replace"):
            with open_userdata(kwargs.get("db_path")) as data:
                found = data.patient(name)
            if patient:
                kwargs["patient"] = found
            base, source = found.profile, f"patient {found.name}"
        path = kwargs.pop("profile_path")
        kwargs["profile"] = load_profile(path, base=base, source=source, conditions=conditions, **fields)
        return f(*args, **kwargs)

    options = list(PROFILE_OPTIONS)
    if patient:
        options.insert(
            0,
            click.option(
                "--patient",
                "patient_name",
                metavar="NAME",
                help="A patient kept by trialfinder (see `trialfinder patient`); other options are laid over.",
            ),
        )
    return _options(wrapper, options)


def wanted_statuses(statuses: tuple[str, ...], include_all: bool) -> tuple[str, ...]:
    if include_all:
        return STATUSES
    return tuple(normalise_status(s) for s in statuses) or OPEN_STATUSES
