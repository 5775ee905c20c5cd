"""The ``trialfinder`` command line: parse options, call the library, render.

This is the only module that imports click and the only one that prints.
Library errors (``TrialFinderError``) become one line on stderr and exit
status 1; usage errors exit with 2.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import click

from . import __version__, config
from .api import Client
from .cache import Cache
from .errors import NetworkError, TrialFinderError
from .importer import import_paths
from .ingest import Counts
from .match.criteria import parse as parse_criteria
from .matcher import explain as explain_trial
from .matcher import match, prepare_cache
from .models import (
    OPEN_STATUSES,
    STATUSES,
    SearchQuery,
    Study,
    normalise_status,
    parse_distance_km,
    parse_lat_lon,
)
from .profiles import Profile, load_profile
from .render import data as render_data
from .render import matching as render_matching
from .render import text as render_text
from .render import trust as render_trust
from .search import find
from .sync import ensure_fresh, get_study, sync_query, sync_remembered
from .trust import assess as assess_trust
from .trust import with_staleness

STATUS_CHOICES = [s.lower().replace("_", "-") for s in STATUSES]


class TrialFinderGroup(click.Group):
    """Turns library errors into one clear line and a non-zero exit, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NetworkError as exc:
            raise click.ClickException(
                f"can't reach the registry: {exc}. Check the connection or --api-url, "
                "or add --offline to answer from the cache."
            ) from None
        except TrialFinderError as exc:
            raise click.ClickException(str(exc)) from None
        except BrokenPipeError:  # `trialfinder search | head`
            sys.stderr.close()
            sys.exit(0)


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
    return _options(
        f,
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
            within_km=parse_distance_km(within) if within else None,
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
            click.option("--within", metavar="DISTANCE", help="Distance for --near, e.g. 100km or 60mi."),
        ],
    )


def _has_text(query: SearchQuery) -> bool:
    return any((query.condition, query.term, query.intervention, query.location))


def _client_factory(api_url: str | None, reporter: Reporter | None = None) -> Callable[[], Client]:
    return functools.partial(Client, config.api_url(api_url), on_retry=reporter.note if reporter else None)


def _open_cache(db_path: str | None) -> Cache:
    return Cache(config.db_path(db_path))


# -- commands -------------------------------------------------------------------


@click.group(cls=TrialFinderGroup)
@click.version_option(__version__, prog_name="trialfinder")
def cli() -> None:
    """Find ClinicalTrials.gov trials and see, with reasons, which ones may fit a patient.

    trialfinder informs; it does not give medical advice. Talk about any trial
    with the study team and your own clinicians.
    """


@cli.command()
@query_options
@click.option("--limit", type=click.IntRange(min=1), default=25, show_default=True, help="At most this many trials.")
@db_option
@network_options
@json_option
def search(
    query: SearchQuery,
    limit: int,
    db_path: str | None,
    api_url: str | None,
    offline: bool,
    refresh: bool,
    as_json: bool,
) -> None:
    """Search trials by condition, words, intervention, status and place.

    Results come through the local cache: a search repeated within a day is
    answered without going online; --offline never goes online.

    \b
    Examples:
      trialfinder search --condition "spinal cord injury"
      trialfinder search -c stroke --near 47.37,8.54 --within 100km --json
      trialfinder search -c "cerebral palsy" --status recruiting --status completed
    """
    if not _has_text(query):
        raise click.UsageError("say what to search for: --condition, --term, --intervention or --location")
    reporter = Reporter()
    with _open_cache(db_path) as cache:
        result = ensure_fresh(
            cache, _client_factory(api_url, reporter), query, offline=offline, refresh=refresh, progress=reporter
        )
        reporter.done()
        hits = find(cache, query, limit=limit)
    if as_json:
        click.echo(render_data.dumps(render_data.search_items(hits)))
        return
    if not hits:
        where = "in the cache" if not result.fetched else "on ClinicalTrials.gov"
        click.echo(f"No trials found {where} for {query.describe()}.")
        return
    click.echo(render_text.search_table(hits))
    source = "fetched just now" if result.fetched else "from the cache"
    click.echo(f"\n{len(hits)} trial(s), {source}. See one with: trialfinder show NCT_ID", err=True)


@cli.command()
@click.argument("nct_id")
@db_option
@network_options
@json_option
def show(nct_id: str, db_path: str | None, api_url: str | None, offline: bool, refresh: bool, as_json: bool) -> None:
    """Show one trial in plain language: what it tests, who can join, where, contacts, oversight.

    \b
    Example:
      trialfinder show NCT06347575
      trialfinder show NCT06347575 --json    # the raw registry record
    """
    reporter = Reporter()
    with _open_cache(db_path) as cache:
        record = get_study(cache, _client_factory(api_url, reporter), nct_id, offline=offline, refresh=refresh)
    reporter.done()
    study = Study.from_record(record)
    trust = with_staleness(assess_trust(study), study.overall_status, study.status_verified_date, dt.date.today())
    if as_json:
        click.echo(render_data.dumps({**record, "trust": trust.to_dict()}))
        return
    click.echo(render_text.study_page(study, trust))


@cli.command(name="import")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@db_option
def import_(paths: tuple[str, ...], db_path: str | None) -> None:
    """Load studies from files into the cache, without going online.

    PATHS may be single-study JSON files, API list responses, the website's
    "Download → JSON" file (ctg-studies.json), zip files of these (the
    registry's bulk download), or folders holding any of them. Bad files and
    records are reported and skipped; the rest is imported.

    \b
    Example:
      trialfinder import ctg-studies.json downloads/
    """
    reporter = Reporter()

    def progress(total: Counts) -> None:
        reporter(f"imported {total.stored + len(total.rejected)} records: {total.summary()}")

    with _open_cache(db_path) as cache:
        counts = import_paths(cache, paths, progress=progress)
    reporter.done()
    for where, why in counts.rejected[:20]:
        click.echo(f"rejected {where}: {why}", err=True)
    if len(counts.rejected) > 20:
        click.echo(f"... and {len(counts.rejected) - 20} more rejected", err=True)
    click.echo(f"Imported: {counts.summary()}.")
    if counts.stored == 0 and counts.rejected:
        raise click.ClickException("nothing could be imported; see the reasons above")


@cli.command()
@query_options
@click.option(
    "--page-size",
    type=click.IntRange(1, 1000),
    default=config.DEFAULT_PAGE_SIZE,
    show_default=True,
    help="Studies per request.",
)
@click.option(
    "--rate-limit",
    type=click.IntRange(min=0),
    default=config.DEFAULT_RATE_LIMIT,
    show_default=True,
    help="At most this many requests per minute (0 = no limit).",
)
@db_option
@click.option("--api-url", envvar=config.ENV_API_URL, show_envvar=True, help="Registry API base URL.")
def sync(
    query: SearchQuery,
    page_size: int,
    rate_limit: int,
    db_path: str | None,
    api_url: str | None,
) -> None:
    """Bring the cache up to date from the registry.

    With search options, fetches that search (only what changed since the last
    fetch, if it was fetched before). Without, refreshes every remembered
    search. An interrupted sync resumes where it stopped.

    \b
    Examples:
      trialfinder sync --condition "spinal cord injury"
      trialfinder sync
    """
    reporter = Reporter()
    client = Client(config.api_url(api_url), rate_limit=rate_limit, on_retry=reporter.note)
    with _open_cache(db_path) as cache, client:
        if _has_text(query):
            results = [(query.describe(), sync_query(cache, client, query, page_size=page_size, progress=reporter))]
        else:
            done = sync_remembered(cache, client, page_size=page_size, progress=reporter)
            results = [(record.description, result) for record, result in done]
    reporter.done()
    if not results:
        click.echo("Nothing to sync: no remembered searches yet. Give a search, e.g. --condition stroke.")
    for description, result in results:
        click.echo(f"{description}: {result.mode} fetch, {result.pages} page(s); {result.counts.summary()}.")


PROFILE_OPTIONS = [
    click.option("--profile", "profile_path", type=click.Path(dir_okay=False), help="Profile file (TOML or JSON)."),
    click.option("--condition", "conditions", multiple=True, help='Condition; repeat for several, e.g. "stroke".'),
    click.option("--age", type=float, help="Age in years."),
    click.option("--birth-date", help="Date of birth, YYYY-MM-DD (instead of --age)."),
    click.option("--sex", help="male or female."),
    click.option("--injury-date", help="Date of injury, YYYY-MM-DD."),
    click.option("--onset-date", help="Date of onset (stroke, MS…), YYYY-MM-DD."),
    click.option("--time-since-onset", help='Time since injury or onset, e.g. "18 months".'),
    click.option("--phase", help="acute, subacute or chronic (worked out from a date when one is given)."),
    click.option("--ais-grade", help="AIS grade A-E (spinal cord injury)."),
    click.option("--level", "neurological_level", help="Neurological level, C1-S5 (spinal cord injury)."),
    click.option("--gmfcs", "gmfcs_level", help="GMFCS level I-V (cerebral palsy)."),
    click.option("--location", help="City, US ZIP code or LAT,LON (matched offline)."),
    click.option("--max-distance", "max_distance_km", type=float, help="Only sites within this many km."),
    click.option("--as-of", help="Reckon ages and times from this date (YYYY-MM-DD) instead of today."),
]
PROFILE_FIELDS = (
    "age", "birth_date", "sex", "injury_date", "onset_date", "time_since_onset", "phase", "ais_grade",
    "neurological_level", "gmfcs_level", "location", "max_distance_km", "as_of",
)  # fmt: skip


def profile_options(f: Callable) -> Callable:
    """--profile FILE plus every profile field as an option (options win); the command gets ``profile``."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        fields = {name: kwargs.pop(name) for name in PROFILE_FIELDS}
        conditions = list(kwargs.pop("conditions")) or None
        kwargs["profile"] = load_profile(kwargs.pop("profile_path"), conditions=conditions, **fields)
        return f(*args, **kwargs)

    return _options(wrapper, PROFILE_OPTIONS)


def _statuses(statuses: tuple[str, ...], include_all: bool) -> tuple[str, ...]:
    if include_all:
        return STATUSES
    return tuple(normalise_status(s) for s in statuses) or OPEN_STATUSES


@cli.command(name="match")
@profile_options
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(STATUS_CHOICES, case_sensitive=False),
    help="Trial status to consider; repeat for several [default: recruiting, not-yet-recruiting].",
)
@click.option(
    "--all", "include_all", is_flag=True, help="Every candidate trial, whatever its status, verdict or distance."
)
@click.option(
    "--hide-flagged", is_flag=True, help="Leave out trials with warning signs (otherwise they are listed last)."
)
@click.option("--limit", type=click.IntRange(min=1), default=25, show_default=True, help="At most this many trials.")
@db_option
@network_options
@json_option
def match_(
    profile: Profile,
    statuses: tuple[str, ...],
    include_all: bool,
    hide_flagged: bool,
    limit: int,
    db_path: str | None,
    api_url: str | None,
    offline: bool,
    refresh: bool,
    as_json: bool,
) -> None:
    """Find the trials for a patient profile and say, trial by trial, whether they may qualify.

    Each trial gets a verdict: "may qualify" (nothing we could check rules the
    patient out), "unclear" (the profile lacks something the trial needs, or the
    text could not be read with confidence) or "not eligible" (a criterion
    clearly fails; its text is shown by `trialfinder explain`). Only the
    condition terms go to the registry; age, sex, dates and severity stay here.

    \b
    Examples:
      trialfinder match --profile seeds/profiles/chronic-cervical-sci.toml
      trialfinder match --condition stroke --age 67 --sex female --time-since-onset "2 years"
      trialfinder match --profile me.toml --all --json
    """
    wanted = _statuses(statuses, include_all)
    reporter = Reporter()
    with _open_cache(db_path) as c:
        results = prepare_cache(
            c, _client_factory(api_url, reporter), profile, statuses=wanted, offline=offline, refresh=refresh,
            progress=reporter,
        )  # fmt: skip
        reporter.done()
        found = match(c, profile, statuses=wanted, include_all=include_all, hide_flagged=hide_flagged, limit=limit)
        stamp = next((r.data_timestamp for r in results if r.data_timestamp), None) or c.info()["data_timestamp"]
    if as_json:
        click.echo(render_data.dumps([render_data.match_item(m) for m in found]))
        return
    click.echo(render_matching.match_header(profile, stamp))
    if not found:
        click.echo(
            "\nNo open trials found for this profile. Try --all to see every candidate, or widen --max-distance."
        )
    else:
        click.echo("\n" + render_matching.match_table(found))
        warnings = render_trust.warnings_section([(m.nct_id, m.trust) for m in found])
        if warnings:
            click.echo("\n" + warnings)
        click.echo("\nSee why, criterion by criterion: trialfinder explain NCT_ID --profile ...")
    click.echo("\n" + render_matching.PRIVACY + "\n" + render_matching.DISCLAIMER)


@cli.command()
@click.argument("nct_id")
@profile_options
@db_option
@network_options
@json_option
def explain(
    nct_id: str,
    profile: Profile,
    db_path: str | None,
    api_url: str | None,
    offline: bool,
    refresh: bool,
    as_json: bool,
) -> None:
    """Check one trial against a profile, criterion by criterion, in plain language.

    Shows which criteria are met, which fail (with the registry's own text),
    which the profile can't answer, and what to ask the study team.

    \b
    Example:
      trialfinder explain NCT06347575 --profile seeds/profiles/chronic-cervical-sci.toml
    """
    reporter = Reporter()
    with _open_cache(db_path) as c:
        get_study(c, _client_factory(api_url, reporter), nct_id, offline=offline, refresh=refresh)
        reporter.done()
        result = explain_trial(c, profile, nct_id)
    if as_json:
        click.echo(render_data.dumps(render_data.match_item(result)))
        return
    click.echo(render_matching.checklist(result, profile))


@cli.command()
@click.argument("nct_id")
@db_option
@network_options
@json_option
def criteria(
    nct_id: str, db_path: str | None, api_url: str | None, offline: bool, refresh: bool, as_json: bool
) -> None:
    """Show what trialfinder read from a trial's eligibility criteria.

    Every criterion with its section, and the facts read from it (ages, sex,
    time since injury or onset, AIS grade, level, GMFCS, conditions), so anyone
    can see, and report, a misreading.

    \b
    Example:
      trialfinder criteria NCT06347575
    """
    with _open_cache(db_path) as c:
        record = get_study(c, _client_factory(api_url), nct_id, offline=offline, refresh=refresh)
    study = Study.from_record(record)
    parsed = parse_criteria(study.eligibility_criteria)
    if as_json:
        click.echo(render_data.dumps({"nct_id": study.nct_id, **json.loads(parsed.to_json())}))
        return
    click.echo(render_matching.parsed_criteria(study.nct_id, parsed))


@cli.group()
def cache() -> None:
    """Look after the local cache of registry data."""


@cache.command()
@db_option
@json_option
def info(db_path: str | None, as_json: bool) -> None:
    """Counts, size on disk, registry data timestamp, oldest and newest fetch."""
    with _open_cache(db_path) as c:
        details = c.info()
    click.echo(render_data.dumps(details) if as_json else render_text.cache_info(details))


@cache.command()
@db_option
@click.option("--yes", is_flag=True, help="Don't ask for confirmation.")
def clear(db_path: str | None, yes: bool) -> None:
    """Delete every cached study and remembered search.

    Only fetched data goes: patients, shortlists, notes and watches live in a
    separate file and are never touched.
    """
    path = config.db_path(db_path)
    if not yes:
        click.confirm(f"Delete all cached registry data in {path}?", abort=True, err=True)
    with Cache(path) as c:
        n = c.clear()
    click.echo(f"Cleared the cache: {n} studies removed. Your patients, shortlists and watches are untouched.")


if __name__ == "__main__":  # python -m trialfinder.cli
    cli()
