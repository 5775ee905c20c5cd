"""The ``trialfinder`` command line: parse options, call the library, render.

This is the only module that imports click and the only one that prints.
Library errors (``TrialFinderError``) become one line on stderr and exit
status 1; usage errors exit with 2.
"""

from __future__ import annotations

import functools
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
from .models import STATUSES, SearchQuery, Study, parse_distance_km, parse_lat_lon
from .render import data as render_data
from .render import text as render_text
from .search import find
from .sync import ensure_fresh, get_study, sync_query, sync_remembered

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
    for option in reversed(
        [
            click.option(
                "--api-url",
                envvar=config.ENV_API_URL,
                show_envvar=True,
                help=f"Registry API base URL [default: {config.DEFAULT_API_URL}].",
            ),
            click.option("--offline", is_flag=True, help="Never use the network; answer from the cache only."),
            click.option("--refresh", is_flag=True, help="Fetch again even if the cache is fresh (< 24 h old)."),
        ]
    ):
        f = option(f)
    return f


def json_option(f: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for programs instead of text.")(f)


def query_options(f: Callable) -> Callable:
    for option in reversed(
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
        ]
    ):
        f = option(f)
    return f


def _query(
    condition: str | None,
    term: str | None,
    intervention: str | None,
    location: str | None,
    statuses: tuple[str, ...],
    near: str | None,
    within: str | None,
) -> SearchQuery:
    return SearchQuery.build(
        condition=condition,
        term=term,
        intervention=intervention,
        location=location,
        statuses=statuses,
        near=parse_lat_lon(near) if near else None,
        within_km=parse_distance_km(within) if within else None,
    )


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
    condition: str | None,
    term: str | None,
    intervention: str | None,
    location: str | None,
    statuses: tuple[str, ...],
    near: str | None,
    within: str | None,
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
    query = _query(condition, term, intervention, location, statuses, near, within)
    if not any((query.condition, query.term, query.intervention, query.location)):
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
    """Show one trial in plain language: what it tests, who can join, where, contacts.

    \b
    Example:
      trialfinder show NCT06347575
      trialfinder show NCT06347575 --json    # the raw registry record
    """
    reporter = Reporter()
    with _open_cache(db_path) as cache:
        record = get_study(cache, _client_factory(api_url, reporter), nct_id, offline=offline, refresh=refresh)
    reporter.done()
    if as_json:
        click.echo(render_data.dumps(record))
        return
    click.echo(render_text.study_page(Study.from_record(record)))


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
    condition: str | None,
    term: str | None,
    intervention: str | None,
    location: str | None,
    statuses: tuple[str, ...],
    near: str | None,
    within: str | None,
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
    query = _query(condition, term, intervention, location, statuses, near, within)
    reporter = Reporter()
    client = Client(config.api_url(api_url), rate_limit=rate_limit, on_retry=reporter.note)
    with _open_cache(db_path) as cache, client:
        if any((query.condition, query.term, query.intervention, query.location)):
            results = [(query.describe(), sync_query(cache, client, query, page_size=page_size, progress=reporter))]
        else:
            done = sync_remembered(cache, client, page_size=page_size, progress=reporter)
            results = [(record.description, result) for record, result in done]
    reporter.done()
    if not results:
        click.echo("Nothing to sync: no remembered searches yet. Give a search, e.g. --condition stroke.")
    for description, result in results:
        click.echo(f"{description}: {result.mode} fetch, {result.pages} page(s); {result.counts.summary()}.")


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
