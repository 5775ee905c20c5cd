"""Remembered searches: freshness, incremental refresh, resuming an interrupted sync."""

from __future__ import annotations

import functools
import re

import httpx
import pytest

from records import changed, page, study
from trialfinder.api import Client, RetryPolicy
from trialfinder.errors import NetworkError
from trialfinder.models import SearchQuery
from trialfinder.search import find
from trialfinder.sync import ensure_fresh, get_study, incremental_params, is_fresh, sync_query

API = "https://ctgov.test/api/v2"
LIST = re.compile(r"https://ctgov\.test/api/v2/studies\?.*")
VERSION = {"apiVersion": "2.0.5", "dataTimestamp": "2026-11-21T09:00:03"}


@pytest.fixture
def factory(fake_time):
    return functools.partial(
        Client, API, retry=RetryPolicy(max_total=5), clock=fake_time.clock, sleep=fake_time.sleep, rng=lambda: 0.5
    )


def api_requests(httpx_mock, path="/studies"):
    return [r for r in httpx_mock.get_requests() if r.url.path == f"/api/v2{path}"]


def test_first_search_fetches_and_remembers(httpx_mock, cache, factory):
    httpx_mock.add_response(url=f"{API}/version", json=VERSION)
    httpx_mock.add_response(url=LIST, json=page([study("NCT01000001"), study("NCT01000002")], total=2))
    query = SearchQuery.build(condition="Spinal Cord Injury")

    result = ensure_fresh(cache, factory, query, now="2026-11-22T10:00:00Z")

    assert (result.fetched, result.mode, result.counts.new) == (True, "full", 2)
    (request,) = api_requests(httpx_mock)
    assert request.url.params["query.cond"] == "Spinal Cord Injury"
    assert request.url.params["filter.overallStatus"] == "NOT_YET_RECRUITING,RECRUITING"
    record = cache.get_query(query.key)
    assert record.fetched_at == "2026-11-22T10:00:00Z"
    assert record.data_timestamp == "2026-11-21T09:00:03"
    assert record.n_studies == 2
    assert [h.nct_id for h in find(cache, query)] == ["NCT01000001", "NCT01000002"]


def test_repeat_within_freshness_window_makes_no_network_call(httpx_mock, cache, factory):
    httpx_mock.add_response(url=f"{API}/version", json=VERSION)
    httpx_mock.add_response(url=LIST, json=page([study()]))
    query = SearchQuery.build(condition="spinal cord injury")
    ensure_fresh(cache, factory, query, now="2026-11-22T10:00:00Z")

    again = ensure_fresh(
        cache, factory, SearchQuery.build(condition="  SPINAL cord injury "), now="2026-11-23T09:00:00Z"
    )

    assert (again.fetched, again.mode) == (False, "cached")
    assert len(httpx_mock.get_requests()) == 2  # version + the one page, nothing more


def test_offline_never_touches_the_network(httpx_mock, cache, factory):
    result = ensure_fresh(cache, factory, SearchQuery.build(condition="stroke"), offline=True)
    assert result.mode == "offline"
    assert httpx_mock.get_requests() == []


def test_stale_search_refreshes_incrementally_with_a_day_of_overlap(httpx_mock, cache, factory):
    query = SearchQuery.build(condition="spinal cord injury", near=(47.4, 8.5), within_km=100)
    old = study(status="NOT_YET_RECRUITING", last_update="2026-10-01")
    httpx_mock.add_response(url=f"{API}/version", json=VERSION, is_reusable=True)
    httpx_mock.add_response(url=LIST, json=page([old]))
    ensure_fresh(cache, factory, query, now="2026-11-01T08:00:00Z")

    httpx_mock.add_response(url=LIST, json=page([changed(old, status="RECRUITING", last_update="2026-11-10")]))
    result = ensure_fresh(cache, factory, query, now="2026-11-22T08:00:00Z")

    assert (result.mode, result.counts.updated) == ("incremental", 1)
    request = api_requests(httpx_mock)[-1]
    assert request.url.params["filter.advanced"] == "AREA[LastUpdatePostDate]RANGE[2026-10-31,MAX]"
    # Status and distance filters are dropped so closures and moved sites are seen too.
    assert "filter.overallStatus" not in request.url.params
    assert "filter.geo" not in request.url.params
    assert request.url.params["query.cond"] == "spinal cord injury"
    assert cache.history("NCT01000001")[0]["status"] == "NOT_YET_RECRUITING"


def test_incremental_params_keep_a_users_own_advanced_filter():
    query = SearchQuery.build(condition="stroke", advanced="AREA[Phase]PHASE2")
    params = incremental_params(query, "2026-03-01T00:30:00Z")
    assert params["filter.advanced"] == "(AREA[Phase]PHASE2) AND AREA[LastUpdatePostDate]RANGE[2026-02-28,MAX]"


def test_refresh_forces_a_fetch_even_when_fresh(httpx_mock, cache, factory):
    httpx_mock.add_response(url=f"{API}/version", json=VERSION, is_reusable=True)
    httpx_mock.add_response(url=LIST, json=page([study()]))
    httpx_mock.add_response(url=LIST, json=page([]))
    query = SearchQuery.build(condition="x")
    ensure_fresh(cache, factory, query, now="2026-11-22T10:00:00Z")
    result = ensure_fresh(cache, factory, query, refresh=True, now="2026-11-22T10:05:00Z")
    assert result.fetched and result.mode == "incremental"


def test_interrupted_sync_resumes_without_refetching_stored_pages(httpx_mock, cache, factory, fake_time):
    query = SearchQuery.build(condition="spinal cord injury")
    httpx_mock.add_response(url=f"{API}/version", json=VERSION, is_reusable=True)
    httpx_mock.add_response(url=LIST, json=page([study("NCT01000001")], next_token="p2", total=3))
    httpx_mock.add_exception(httpx.ConnectError("network down"), url=LIST, is_reusable=True)

    with pytest.raises(NetworkError), factory() as client:
        sync_query(cache, client, query, page_size=1, now="2026-11-22T10:00:00Z")

    record = cache.get_query(query.key)
    assert record.resume_token == "p2" and record.fetched_at is None
    assert cache.get_row("NCT01000001") is not None
    assert not is_fresh(record, "2026-11-22T10:01:00Z", 24)

    httpx_mock.reset()
    httpx_mock.add_response(url=f"{API}/version", json=VERSION)
    httpx_mock.add_response(url=LIST, json=page([study("NCT01000002")], next_token="p3"))
    httpx_mock.add_response(url=LIST, json=page([study("NCT01000003")]))
    with factory() as client:
        result = sync_query(cache, client, query, page_size=1, now="2026-11-22T11:00:00Z")

    assert result.mode == "resumed"
    tokens = [r.url.params.get("pageToken") for r in api_requests(httpx_mock)]
    assert tokens == ["p2", "p3"]  # page one was not fetched again
    record = cache.get_query(query.key)
    assert record.resume_token is None
    assert record.fetched_at == "2026-11-22T10:00:00Z"  # the fetch counts from when it started
    assert record.n_studies == 3


def test_rejected_resume_token_restarts_the_fetch(httpx_mock, cache, factory):
    query = SearchQuery.build(condition="x")
    with cache.transaction():
        cache.remember_query(query.key, query.api_params(), "x", "2026-11-22T09:00:00Z")
        cache.set_query_progress(
            query.key, params=query.api_params(), token="expired", started_at="2026-11-22T09:00:00Z"
        )
    httpx_mock.add_response(url=f"{API}/version", json=VERSION)
    httpx_mock.add_response(url=LIST, status_code=400, text="invalid pageToken")
    httpx_mock.add_response(url=LIST, json=page([study()]))

    with factory() as client:
        result = sync_query(cache, client, query, now="2026-11-22T10:00:00Z")

    assert result.mode == "restarted" and result.counts.new == 1
    assert cache.get_query(query.key).fetched_at is not None


def test_get_study_uses_fresh_cache_then_refetches_when_stale(httpx_mock, cache, factory):
    httpx_mock.add_response(url=f"{API}/version", json=VERSION, is_reusable=True)
    httpx_mock.add_response(url=f"{API}/studies/NCT01000001", json=study(title="First"))
    assert get_study(cache, factory, "NCT01000001", now="2026-11-22T10:00:00Z")["protocolSection"]
    get_study(cache, factory, "nct1000001", now="2026-11-22T20:00:00Z")  # fresh: no request
    assert len(api_requests(httpx_mock, "/studies/NCT01000001")) == 1

    httpx_mock.add_response(
        url=f"{API}/studies/NCT01000001", json=changed(study(title="First"), last_update="2026-11-23")
    )
    get_study(cache, factory, "NCT01000001", now="2026-11-24T10:00:00Z")
    assert len(api_requests(httpx_mock, "/studies/NCT01000001")) == 2
    assert cache.get_row("NCT01000001")["last_update"] == "2026-11-23"


def test_search_applies_status_and_distance_locally(cache):
    from records import site
    from trialfinder.ingest import save_batch

    save_batch(
        cache,
        [
            ("a", study("NCT01000001", locations=[site(city="Zurich", lat=47.37, lon=8.54)])),
            ("b", study("NCT01000002", locations=[site(city="Lisbon", lat=38.72, lon=-9.14)])),
            ("c", study("NCT01000003", status="COMPLETED")),
        ],
    )
    near_zurich = SearchQuery.build(condition="spinal cord injury", near=(47.5, 8.7), within_km=50)
    hits = find(cache, near_zurich)
    assert [h.nct_id for h in hits] == ["NCT01000001"]
    assert hits[0].nearest_km == pytest.approx(19.1, abs=0.5)
    assert [
        h.nct_id for h in find(cache, SearchQuery.build(condition="spinal cord injury", statuses=["completed"]))
    ] == ["NCT01000003"]
    assert [h.nct_id for h in find(cache, SearchQuery.build(location="lisbon"))] == ["NCT01000002"]


def test_refresh_ids_asks_by_id_in_chunks(httpx_mock, cache, factory):
    from trialfinder.sync import refresh_ids

    httpx_mock.add_response(url=f"{API}/version", json=VERSION)
    httpx_mock.add_response(url=LIST, json=page([study("NCT01000001"), study("NCT01000002")]))
    httpx_mock.add_response(url=LIST, json=page([study("NCT01000003")]))
    with factory() as client:
        counts = refresh_ids(cache, client, ["NCT01000003", "nct1000001", "NCT01000002"], chunk=2)
    assert counts.new == 3
    asked = [r.url.params["filter.ids"] for r in api_requests(httpx_mock)]
    assert asked == ["NCT01000001,NCT01000002", "NCT01000003"]
