from __future__ import annotations

import time

import httpx
import pytest

from records import name_not_found_error, page, refused_error, study
from trialfinder.api import Client, RateLimiter, RetryPolicy, parse_retry_after
from trialfinder.errors import APIError, InputError, NetworkError, RegistryUnreachable, StudyNotFound

API = "https://ctgov.test/api/v2"
HTML_503 = "<html><head><title>503 Service Unavailable</title></head><body>busy</body></html>"


def test_two_pages_follow_next_page_token(httpx_mock, client):
    httpx_mock.add_response(json=page([study("NCT00000001"), study("NCT00000002")], next_token="tok2", total=3))
    httpx_mock.add_response(json=page([study("NCT00000003")]))

    pages = list(client.fetch_pages({"query.cond": "spinal cord injury"}, page_size=2, count_total=True))

    assert [len(p.studies) for p in pages] == [2, 1]
    assert pages[0].total_count == 3
    first, second = httpx_mock.get_requests()
    assert first.url.params["query.cond"] == "spinal cord injury"
    assert first.url.params["pageSize"] == "2"
    assert first.url.params["countTotal"] == "true"
    assert "pageToken" not in first.url.params
    assert second.url.params["pageToken"] == "tok2"
    assert "countTotal" not in second.url.params


def test_full_last_page_with_token_then_empty_page_ends_listing(httpx_mock, client):
    httpx_mock.add_response(json=page([study("NCT00000001"), study("NCT00000002")], next_token="tok2"))
    httpx_mock.add_response(json={"studies": []})

    studies = list(client.fetch_studies({"query.cond": "x"}, page_size=2))

    assert [s["protocolSection"]["identificationModule"]["nctId"] for s in studies] == ["NCT00000001", "NCT00000002"]
    assert len(httpx_mock.get_requests()) == 2


def test_pages_are_generated_lazily(httpx_mock, client):
    httpx_mock.add_response(json=page([study("NCT00000001")], next_token="tok2"))
    pages = client.fetch_pages({"query.cond": "x"}, page_size=1)
    next(pages)
    # Only one request so far: the caller can stop early without fetching more.
    assert len(httpx_mock.get_requests()) == 1


def test_repeated_page_token_is_an_error_not_a_loop(httpx_mock, client):
    httpx_mock.add_response(json=page([study("NCT00000001")], next_token="same"))
    httpx_mock.add_response(json=page([study("NCT00000002")], next_token="same"))
    with pytest.raises(APIError, match="same page token"):
        list(client.fetch_pages({"query.cond": "x"}, page_size=1))


def test_429_waits_as_long_as_retry_after_says(httpx_mock, client, fake_time):
    httpx_mock.add_response(status_code=429, headers={"Retry-After": "7"}, text="Too Many Requests")
    httpx_mock.add_response(json={"apiVersion": "2.0.5", "dataTimestamp": "2026-11-21T09:00:03"})

    version = client.fetch_version()

    assert version.data_timestamp == "2026-11-21T09:00:03"
    assert len(fake_time.sleeps) == 1
    assert 7 <= fake_time.sleeps[0] <= 7.5


def test_503_with_html_body_is_retried_with_backoff(httpx_mock, client, fake_time):
    httpx_mock.add_response(status_code=503, text=HTML_503, headers={"Content-Type": "application/json"})
    httpx_mock.add_response(status_code=503, text=HTML_503, headers={"Content-Type": "application/json"})
    httpx_mock.add_response(json=page([study()]))

    pages = list(client.fetch_pages({"query.cond": "x"}))

    assert len(pages[0].studies) == 1
    # Backoff grows: attempt 1 waits ~0.75 s, attempt 2 ~1.5 s (jitter fixed at the midpoint).
    assert fake_time.sleeps == [0.75, 1.5]


def test_html_error_page_sent_with_status_200_is_retried(httpx_mock, client):
    httpx_mock.add_response(status_code=200, text=HTML_503, headers={"Content-Type": "application/json"})
    httpx_mock.add_response(json=page([study()]))
    assert len(list(client.fetch_studies({"query.cond": "x"}))) == 1


def test_truncated_body_is_retried(httpx_mock, client):
    httpx_mock.add_response(text='{"studies": [{"protocolSection": {"identificationModule"')
    httpx_mock.add_response(json=page([study()]))
    assert len(list(client.fetch_studies({"query.cond": "x"}))) == 1


def test_connection_dropped_mid_body_is_retried(httpx_mock, client):
    httpx_mock.add_exception(httpx.RemoteProtocolError("peer closed connection without sending complete message body"))
    httpx_mock.add_response(json=page([study()]))
    assert len(list(client.fetch_studies({"query.cond": "x"}))) == 1


def test_timeout_is_retried(httpx_mock, client):
    httpx_mock.add_exception(httpx.ReadTimeout("timed out"))
    httpx_mock.add_response(json={"apiVersion": "2.0.5", "dataTimestamp": "t"})
    assert client.fetch_version().api_version == "2.0.5"


def test_gives_up_after_bounded_time_naming_what_failed(httpx_mock, fake_time):
    # A connection that keeps being dropped mid-answer is a passing fault: retried until the budget is spent.
    httpx_mock.add_exception(httpx.ReadError("connection reset by peer"), is_reusable=True)
    client = Client(API, retry=RetryPolicy(max_total=20), clock=fake_time.clock, sleep=fake_time.sleep, rng=lambda: 0.5)
    with client, pytest.raises(NetworkError) as info:
        client.fetch_version()
    assert not isinstance(info.value, RegistryUnreachable)
    message = str(info.value)
    assert f"{API}/version" in message
    assert "connection failed" in message
    assert sum(fake_time.sleeps) <= 20
    assert len(httpx_mock.get_requests()) == len(fake_time.sleeps) + 1 >= 3


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (refused_error, "the connection to ctgov.test was refused"),
        (name_not_found_error, "the name ctgov.test could not be looked up"),
        (lambda: httpx.ConnectError("[Errno 113] No route to host"), "could not connect to ctgov.test"),
    ],
    ids=["refused", "dns", "other"],
)
def test_an_unreachable_registry_fails_fast_after_one_quick_retry(httpx_mock, fake_time, make, says):
    httpx_mock.add_exception(make(), is_reusable=True)
    retried = []
    client = Client(
        API,
        retry=RetryPolicy(max_total=60),
        clock=fake_time.clock,
        sleep=fake_time.sleep,
        rng=lambda: 0.5,
        on_retry=retried.append,
    )
    with client, pytest.raises(RegistryUnreachable) as info:
        client.fetch_version()
    assert len(httpx_mock.get_requests()) == 2  # one quick retry, not a minute of backoff
    assert len(fake_time.sleeps) == 1 and fake_time.sleeps[0] <= 2
    assert retried == []  # the quick retry is not worth a line of its own
    assert says in str(info.value)
    assert info.value.url == API


def test_an_unreachable_registry_is_not_retried_when_there_is_no_retry_budget(httpx_mock, fake_time):
    httpx_mock.add_exception(refused_error())
    client = Client(API, retry=RetryPolicy(max_total=0), clock=fake_time.clock, sleep=fake_time.sleep)
    with client, pytest.raises(RegistryUnreachable):
        client.fetch_version()
    assert fake_time.sleeps == []


def test_a_refused_connection_after_server_errors_still_fails_fast(httpx_mock, fake_time):
    # A registry that answers 503 and then goes away: the 503 is retried with backoff, the refusal once, quickly.
    httpx_mock.add_response(status_code=503, text="busy")
    httpx_mock.add_exception(refused_error(), is_reusable=True)
    client = Client(API, retry=RetryPolicy(max_total=60), clock=fake_time.clock, sleep=fake_time.sleep, rng=lambda: 0.5)
    with client, pytest.raises(RegistryUnreachable):
        client.fetch_version()
    assert fake_time.sleeps == [0.75, 1.0]
    assert len(httpx_mock.get_requests()) == 3


def test_a_refused_connection_that_recovers_on_the_quick_retry_succeeds(httpx_mock, fake_time):
    httpx_mock.add_exception(refused_error())
    httpx_mock.add_response(json={"apiVersion": "2.0.5", "dataTimestamp": "t"})
    client = Client(API, retry=RetryPolicy(max_total=60), clock=fake_time.clock, sleep=fake_time.sleep, rng=lambda: 0.5)
    with client:
        assert client.fetch_version().api_version == "2.0.5"
    assert fake_time.sleeps == [1.0]


def test_a_real_refused_port_on_loopback_fails_within_two_seconds(monkeypatch):
    # Nothing listens on port 1 of 127.0.0.1: a real ConnectionRefusedError, real sleeps.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    began = time.monotonic()
    with Client("http://127.0.0.1:1/api/v2", retry=RetryPolicy(max_total=60)) as client:
        with pytest.raises(RegistryUnreachable, match="127.0.0.1:1 was refused"):
            client.fetch_version()
    assert time.monotonic() - began < 2.5


def test_404_is_study_not_found_without_retrying(httpx_mock, client, fake_time):
    httpx_mock.add_response(status_code=404, text="Not Found")
    with pytest.raises(StudyNotFound, match="NCT09999999"):
        client.fetch_study("NCT09999999")
    assert fake_time.sleeps == []


def test_400_is_an_api_error_with_the_servers_reason(httpx_mock, client):
    httpx_mock.add_response(status_code=400, text="`query.foo` is unknown parameter")
    with pytest.raises(APIError, match="unknown parameter") as info:
        list(client.fetch_pages({"query.foo": "x"}))
    assert info.value.status == 400


def test_invalid_nct_id_raises_before_any_request(httpx_mock, client):
    with pytest.raises(InputError, match="not an NCT id"):
        client.fetch_study("NCT-12")
    assert httpx_mock.get_requests() == []


def test_fetch_study_normalises_id_and_follows_alias_redirect(httpx_mock, client):
    httpx_mock.add_response(
        url=f"{API}/studies/NCT00000410", status_code=301, headers={"Location": f"{API}/studies/NCT00000411"}
    )
    httpx_mock.add_response(url=f"{API}/studies/NCT00000411", json=study("NCT00000411"))
    record = client.fetch_study("nct410")
    assert record["protocolSection"]["identificationModule"]["nctId"] == "NCT00000411"


def test_requests_carry_user_agent_and_go_to_configured_base_url(httpx_mock, monkeypatch):
    monkeypatch.setenv("TRIALFINDER_API_URL", "http://127.0.0.1:8999/api/v2/")
    httpx_mock.add_response(json={"apiVersion": "2.0.5"})
    with Client() as c:
        c.fetch_version()
    request = httpx_mock.get_requests()[0]
    assert str(request.url) == "http://127.0.0.1:8999/api/v2/version"
    assert request.headers["User-Agent"].startswith("trialfinder/")


def test_rate_limiter_keeps_to_its_rolling_window(fake_time):
    limiter = RateLimiter(3, 10.0, clock=fake_time.clock, sleep=fake_time.sleep, margin=0.0)
    sent = []
    for _ in range(7):
        limiter.acquire()
        sent.append(fake_time.now)
        fake_time.now += 1.0  # each request takes a second
    # In any 10 s window at most 3 requests were sent.
    for t in sent:
        assert sum(1 for s in sent if t <= s < t + 10) <= 3
    assert sent[3] == sent[0] + 10


def test_client_counts_every_attempt_against_the_rate_limit(httpx_mock, fake_time):
    httpx_mock.add_response(status_code=503, text="busy")
    httpx_mock.add_response(json={"apiVersion": "2.0.5"})
    httpx_mock.add_response(json={"apiVersion": "2.0.5"})
    client = Client(API, rate_limit=2, rate_window=60, clock=fake_time.clock, sleep=fake_time.sleep, rng=lambda: 0.5)
    with client:
        client.retry = RetryPolicy(max_total=300)
        client.fetch_version()  # two attempts
        client.fetch_version()  # third request must wait for the window
    assert fake_time.now >= 1000 + 60


def test_parse_retry_after_accepts_seconds_and_http_dates():
    assert parse_retry_after("12") == 12
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480) == 10
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_backoff_is_capped_and_jittered():
    policy = RetryPolicy(base_delay=1, max_delay=8)
    assert policy.delay(1, lambda: 0.0) == 0.5
    assert policy.delay(1, lambda: 1.0) == 1.0
    assert policy.delay(10, lambda: 1.0) == 8
    assert policy.delay(10, lambda: 0.0) == 4
