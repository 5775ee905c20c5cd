"""Commands about trials themselves: search, show, import, sync, and looking after the cache."""

from __future__ import annotations

import datetime as dt

import click

from .. import config
from ..api import Client
from ..cache import Cache
from ..importer import import_paths
from ..ingest import Counts
from ..models import SearchQuery, Study
from ..render import data as render_data
from ..render import text as render_text
from ..search import find
from ..sync import ensure_fresh, get_study, sync_query, sync_remembered
from ..trust import assess as assess_trust
from ..trust import with_staleness
from .options import (
    Reporter,
    client_factory,
    db_option,
    has_text,
    json_option,
    network_options,
    no_cache_yet,
    open_cache,
    query_options,
)


@click.command()
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
    if not has_text(query):
        raise click.UsageError("say what to search for: --condition, --term, --intervention or --location")
    reporter = Reporter()
    with open_cache(db_path) as cache:
        result = ensure_fresh(
            cache, client_factory(api_url, reporter), query, offline=offline, refresh=refresh, progress=reporter
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


@click.command()
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
    with open_cache(db_path) as cache:
        record = get_study(cache, client_factory(api_url, reporter), nct_id, offline=offline, refresh=refresh)
    reporter.done()
    study = Study.from_record(record)
    trust = with_staleness(assess_trust(study), study.overall_status, study.status_verified_date, dt.date.today())
    if as_json:
        click.echo(render_data.dumps({**record, "trust": trust.to_dict()}))
        return
    click.echo(render_text.study_page(study, trust))


@click.command(name="import")
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

    with open_cache(db_path) as cache:
        counts = import_paths(cache, paths, progress=progress)
    reporter.done()
    for where, why in counts.rejected[:20]:
        click.echo(f"rejected {where}: {why}", err=True)
    if len(counts.rejected) > 20:
        click.echo(f"... and {len(counts.rejected) - 20} more rejected", err=True)
    click.echo(f"Imported: {counts.summary()}.")
    if counts.stored == 0 and counts.rejected:
        raise click.ClickException("nothing could be imported; see the reasons above")


@click.command()
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
    with open_cache(db_path) as cache, client:
        if has_text(query):
            results = [(query.describe(), sync_query(cache, client, query, page_size=page_size, progress=reporter))]
        else:
            done = sync_remembered(cache, client, page_size=page_size, progress=reporter)
            results = [(record.description, result) for record, result in done]
    reporter.done()
    if not results:
        click.echo("Nothing to sync: no remembered searches yet. Give a search, e.g. --condition stroke.")
    for description, result in results:
        click.echo(f"{description}: {result.mode} fetch, {result.pages} page(s); {result.counts.summary()}.")


@click.group()
def cache() -> None:
    """Look after the local cache of registry data."""


@cache.command()
@db_option
@json_option
def info(db_path: str | None, as_json: bool) -> None:
    """Counts, size on disk, registry data timestamp, oldest and newest fetch."""
    missing = no_cache_yet(db_path)
    if missing:  # reading never creates a cache
        path = str(config.db_path(db_path))
        click.echo(
            render_data.dumps({"path": path, "exists": False})
            if as_json
            else f"{missing}; `trialfinder sync` or `trialfinder import` creates it"
        )
        return
    with open_cache(db_path) as c:
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
    missing = no_cache_yet(db_path)
    if missing:
        click.echo(f"{missing}: nothing to clear")
        return
    if not yes:
        click.confirm(f"Delete all cached registry data in {path}?", abort=True, err=True)
    with Cache(path) as c:
        n = c.clear()
    click.echo(f"Cleared the cache: {n} studies removed. Your patients, shortlists and watches are untouched.")
