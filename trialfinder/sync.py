"""Bring the cache up to date from the registry: API → ingest → cache.

A search is remembered with when it was last fetched. Within the freshness
window (default 24 h; the registry refreshes daily) it is answered from the
cache without a network call. After that, a re-run fetches only records
updated since the last fetch (``AREA[LastUpdatePostDate]RANGE[...]`` with a
day of overlap). The incremental fetch drops the status and distance
filters, so a trial that closed or lost its nearby site is seen too; the
filters are applied again locally when reading.

Every page is saved in one transaction together with the token of the next
page, so an interrupted sync resumes where it stopped and never refetches
what it already stored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import config
from .api import Client, Page
from .cache import Cache, QueryRecord, utcnow
from .errors import APIError, InputError
from .ingest import Counts, save_batch
from .models import SearchQuery, normalise_nct_id

Progress = Callable[[str], None]


@dataclass
class SyncResult:
    """What one sync of a search did."""

    fetched: bool  # False: answered from the cache (fresh, or offline)
    mode: str = "cached"  # "full", "incremental", "resumed" or "cached"
    pages: int = 0
    counts: Counts = field(default_factory=Counts)
    data_timestamp: str | None = None


def _parse_time(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def is_fresh(record: QueryRecord | None, now: str, freshness_hours: float) -> bool:
    """A remembered search whose last complete fetch is recent enough to reuse."""
    if record is None or record.fetched_at is None or record.resume_token or record.resume_params:
        return False
    age = _parse_time(now) - _parse_time(record.fetched_at)
    return age < dt.timedelta(hours=freshness_hours)


def incremental_params(query: SearchQuery, since: str) -> dict[str, str]:
    """Parameters for "records of this search updated since ``since``, minus a day"."""
    day = (_parse_time(since) - dt.timedelta(days=1)).date().isoformat()
    params = query.api_params()
    params.pop("filter.overallStatus", None)
    params.pop("filter.geo", None)
    window = f"AREA[LastUpdatePostDate]RANGE[{day},MAX]"
    if params.get("filter.advanced"):
        params["filter.advanced"] = f"({params['filter.advanced']}) AND {window}"
    else:
        params["filter.advanced"] = window
    return params


def sync_query(
    cache: Cache,
    client: Client,
    query: SearchQuery,
    *,
    page_size: int = config.DEFAULT_PAGE_SIZE,
    now: str | None = None,
    progress: Progress | None = None,
) -> SyncResult:
    """Fetch a search into the cache: resume, incremental or full, whichever applies."""
    now = now or utcnow()
    key = query.key
    with cache.transaction():
        cache.remember_query(key, query.api_params(), query.describe(), now)
    record = cache.get_query(key)
    if record is None:  # pragma: no cover - remembered just above
        raise RuntimeError("search was not remembered")

    token: str | None = None
    started = now
    if record.resume_params:
        mode, params, token = "resumed", record.resume_params, record.resume_token
        started = record.resume_started_at or now
    elif record.fetched_at:
        mode, params = "incremental", incremental_params(query, record.fetched_at)
    else:
        mode, params = "full", query.api_params()

    version = client.fetch_version()
    result = SyncResult(fetched=True, mode=mode, data_timestamp=version.data_timestamp)
    with cache.transaction():
        cache.set_query_progress(key, params=params, token=token, started_at=started)
    try:
        _fetch_into(cache, client, key, params, token, started, version.data_timestamp, page_size, result, progress)
    except APIError as exc:
        if not (token and exc.status == 400):
            raise
        # The registry no longer accepts the saved page token: start that fetch over.
        result.mode = "restarted"
        _fetch_into(cache, client, key, params, None, started, version.data_timestamp, page_size, result, progress)
    return result


def _fetch_into(
    cache: Cache,
    client: Client,
    key: str,
    params: dict[str, str],
    token: str | None,
    started: str,
    data_timestamp: str | None,
    page_size: int,
    result: SyncResult,
    progress: Progress | None,
) -> None:
    pages = client.fetch_pages(params, page_size=page_size, page_token=token, count_total=token is None)
    total: int | None = None
    for page in pages:
        total = page.total_count if page.total_count is not None else total
        result.pages += 1
        counts = save_batch(
            cache,
            [(f"page {result.pages}", s) for s in page.studies],
            data_timestamp=data_timestamp,
            source="api",
            query_key=key,
            also=_bookkeeping(key, params, page, started, data_timestamp),
        )
        result.counts.add(counts)
        cache.train_dictionaries()
        if progress:
            of = f" of {total}" if total is not None else ""
            progress(f"fetched page {result.pages}: {result.counts.stored}{of} studies ({result.counts.summary()})")


def _bookkeeping(
    key: str, params: dict[str, str], page: Page, started: str, data_timestamp: str | None
) -> Callable[[Cache], None]:
    """Saved with each page: where to resume, or, after the last page, that the fetch completed."""

    def record(cache: Cache) -> None:
        if page.next_token:
            cache.set_query_progress(key, params=params, token=page.next_token, started_at=started)
        else:
            cache.complete_query(key, started_at=started, data_timestamp=data_timestamp)

    return record


def ensure_fresh(
    cache: Cache,
    client_factory: Callable[[], Client],
    query: SearchQuery,
    *,
    offline: bool = False,
    refresh: bool = False,
    freshness_hours: float = config.DEFAULT_FRESHNESS_HOURS,
    page_size: int = config.DEFAULT_PAGE_SIZE,
    now: str | None = None,
    progress: Progress | None = None,
) -> SyncResult:
    """Fetch a search unless the cache already answers it (fresh) or we may not go online."""
    now = now or utcnow()
    if offline:
        return SyncResult(fetched=False, mode="offline")
    if not refresh and is_fresh(cache.get_query(query.key), now, freshness_hours):
        return SyncResult(fetched=False, mode="cached")
    with client_factory() as client:
        return sync_query(cache, client, query, page_size=page_size, now=now, progress=progress)


def get_study(
    cache: Cache,
    client_factory: Callable[[], Client],
    nct_id: str,
    *,
    offline: bool = False,
    refresh: bool = False,
    freshness_hours: float = config.DEFAULT_FRESHNESS_HOURS,
    now: str | None = None,
) -> dict[str, Any]:
    """One study's raw record: from the cache when fresh, else from the registry (and cached)."""
    nct_id = normalise_nct_id(nct_id)
    now = now or utcnow()
    row = cache.get_row(nct_id)
    fresh = row is not None and _parse_time(now) - _parse_time(row["fetched_at"]) < dt.timedelta(hours=freshness_hours)
    if row is not None and (offline or (fresh and not refresh)):
        return cache.get_record(nct_id) or {}
    if offline:
        raise InputError(f"{nct_id} is not in the cache; run the command without --offline to fetch it")
    with client_factory() as client:
        version = client.fetch_version()
        raw = client.fetch_study(nct_id)
    counts = save_batch(cache, [(nct_id, raw)], fetched_at=now, data_timestamp=version.data_timestamp, source="api")
    if counts.rejected:
        raise APIError(f"the registry's record for {nct_id} could not be read: {counts.rejected[0][1]}")
    # An NCT id alias redirects to the study's current id.
    return raw


def sync_remembered(
    cache: Cache,
    client: Client,
    *,
    page_size: int = config.DEFAULT_PAGE_SIZE,
    progress: Progress | None = None,
) -> list[tuple[QueryRecord, SyncResult]]:
    """Refresh every remembered search (incrementally); used by ``sync`` with no arguments."""
    done = []
    for record in cache.list_queries():
        query = SearchQuery.model_validate_json(record.key)
        if progress:
            progress(f"syncing {record.description}")
        done.append((record, sync_query(cache, client, query, page_size=page_size, progress=progress)))
    return done


def refresh_ids(
    cache: Cache,
    client: Client,
    nct_ids: list[str],
    *,
    chunk: int = 100,
    progress: Progress | None = None,
) -> Counts:
    """Fetch these studies again by id (``filter.ids``), a hundred per request."""
    ids = sorted({normalise_nct_id(n) for n in nct_ids})
    total = Counts()
    if not ids:
        return total
    version = client.fetch_version()
    for start in range(0, len(ids), chunk):
        wanted = ids[start : start + chunk]
        for page in client.fetch_pages({"filter.ids": ",".join(wanted)}, page_size=len(wanted)):
            total.add(
                save_batch(
                    cache,
                    [("filter.ids page", s) for s in page.studies],
                    data_timestamp=version.data_timestamp,
                    source="api",
                )
            )
        if progress:
            progress(f"refreshed {min(start + chunk, len(ids))} of {len(ids)} studies")
    return total
