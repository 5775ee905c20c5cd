"""The ClinicalTrials.gov API v2 client: the only module that goes to the network.

Every request goes through ``Client._get_json``, which applies the client-side
rate limit and the retry policy (``RetryPolicy``): capped exponential backoff
with jitter, ``Retry-After`` honoured on 429, retries on 5xx, timeouts, dropped
connections and bodies that don't parse, and a bounded total time after which
a ``NetworkError`` names what kept failing. A registry that can't be connected
to at all (connection refused, a name that doesn't resolve, no route) is not a
passing fault: one quick retry, then ``RegistryUnreachable``. Clock, sleep and
randomness are injectable so tests never wait.
"""

from __future__ import annotations

import collections
import email.utils
import errno
import random
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from . import __version__, config
from .errors import APIError, NetworkError, RegistryUnreachable, StudyNotFound
from .models import normalise_nct_id

Clock = Callable[[], float]
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how often to retry a failing request: every retry decision is made here.

    Passing faults (429, 5xx, timeouts, dropped or cut-short answers) are retried
    with backoff until ``max_total`` seconds have gone. A registry that can't be
    connected to at all (refused, unknown name, no route) gets ``unreachable_retries``
    quick retries ``unreachable_delay`` seconds apart, then the request fails: it
    is a wrong address or no network, which waiting a minute does not fix.
    """

    base_delay: float = 1.0
    max_delay: float = 30.0
    max_total: float = field(default_factory=config.retry_seconds)
    unreachable_retries: int = 1
    unreachable_delay: float = 1.0

    def delay(self, attempt: int, rng: Callable[[], float]) -> float:
        """Backoff before retry number ``attempt`` (1-based): exponential, capped, jittered."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        # "Equal jitter": never less than half the ceiling, so retries stay spaced.
        return ceiling / 2 + rng() * ceiling / 2

    def next_delay(
        self,
        attempt: int,
        *,
        elapsed: float,
        rng: Callable[[], float],
        server_wait: float | None = None,
        unreachable: int = 0,
    ) -> float | None:
        """Seconds to wait before retrying, or None to give up.

        ``attempt`` counts every try of this request so far, ``unreachable`` those
        that could not connect at all, ``server_wait`` is what a 429's
        ``Retry-After`` asked for, and ``elapsed`` the seconds since the first try.
        """
        if unreachable:
            if unreachable > self.unreachable_retries:
                return None
            delay = self.unreachable_delay
        elif server_wait is not None:
            delay = server_wait + rng() * 0.5
        else:
            delay = self.delay(attempt, rng)
        return None if elapsed + delay > self.max_total else delay


class RateLimiter:
    """At most ``limit`` requests in any rolling ``window`` seconds (``limit`` 0 = off).

    ``margin`` is added to each wait so that small differences between when we
    send and when the server sees the request never push the server's own
    window over its limit.
    """

    def __init__(
        self,
        limit: int = config.DEFAULT_RATE_LIMIT,
        window: float = config.DEFAULT_RATE_WINDOW_S,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        margin: float = 1.0,
    ):
        if limit < 0 or window <= 0:
            raise ValueError("rate limit must be >= 0 and window > 0")
        self.limit = limit
        self.window = window
        self.margin = margin
        self._clock = clock
        self._sleep = sleep
        self._sent: collections.deque[float] = collections.deque()

    def acquire(self) -> None:
        """Block until one more request may be sent, and count it."""
        if not self.limit:
            return
        while True:
            now = self._clock()
            while self._sent and self._sent[0] <= now - self.window:
                self._sent.popleft()
            if len(self._sent) < self.limit:
                self._sent.append(now)
                return
            self._sleep(self._sent[0] + self.window - now + self.margin)


@dataclass
class Page:
    """One page of a ``/studies`` listing."""

    studies: list[dict[str, Any]]
    next_token: str | None
    total_count: int | None = None


@dataclass(frozen=True)
class Version:
    api_version: str | None
    data_timestamp: str | None


@dataclass
class _Attempt:
    problem: str
    wait: float | None = None  # server-requested wait (Retry-After)
    details: list[str] = field(default_factory=list)
    unreachable: bool = False  # no connection could be made at all (refused, unknown name, no route)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


class Client:
    """A resilient client for the ClinicalTrials.gov API v2.

    Use it as a context manager so the connection pool is closed::

        with Client() as client:
            for page in client.fetch_pages({"query.cond": "spinal cord injury"}):
                ...

    ``base_url`` defaults to ``$TRIALFINDER_API_URL`` or the public API.
    ``on_retry`` is told, in one line, each time a request is retried.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        timeout: float = config.DEFAULT_TIMEOUT_S,
        rate_limit: int = config.DEFAULT_RATE_LIMIT,
        rate_window: float = config.DEFAULT_RATE_WINDOW_S,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        rng: Callable[[], float] = random.random,
        on_retry: Callable[[str], None] | None = None,
    ):
        self.base_url = config.api_url(base_url)
        self.on_retry = on_retry
        self.retry = retry or RetryPolicy()
        self.requests_sent = 0
        self._clock = clock
        self._sleep = sleep
        self._rng = rng
        self._limiter = RateLimiter(rate_limit, rate_window, clock=clock, sleep=sleep)
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={
                "User-Agent": f"trialfinder/{__version__} (+https://github.com/trialfinder)",
                "Accept": "application/json",
            },
            follow_redirects=True,  # the API answers 301 for an NCT id alias
            transport=transport,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- endpoints ---------------------------------------------------------

    def fetch_version(self) -> Version:
        """``/version``: the API version and the registry's data timestamp."""
        body = self._get_json("/version")
        if not isinstance(body, dict):
            raise APIError("/version answered with something other than a JSON object")
        return Version(body.get("apiVersion"), body.get("dataTimestamp"))

    def fetch_study(self, nct_id: str) -> dict[str, Any]:
        """``/studies/{nctId}``: one full study record, as the API returns it."""
        nct_id = normalise_nct_id(nct_id)
        body = self._get_json(f"/studies/{nct_id}", not_found=nct_id)
        if not isinstance(body, dict) or "protocolSection" not in body:
            raise APIError(f"the registry's answer for {nct_id} is not a study record")
        return body

    def fetch_pages(
        self,
        params: dict[str, str],
        *,
        page_size: int = config.DEFAULT_PAGE_SIZE,
        page_token: str | None = None,
        count_total: bool = False,
    ) -> Iterator[Page]:
        """``/studies``: yield pages, following ``nextPageToken`` until there is none.

        A page filled to ``page_size`` may carry a token that leads to an empty
        last page; that page is yielded (so its empty token can be recorded) and
        ends the listing. Memory stays flat: one page at a time.
        """
        if not 1 <= page_size <= 1000:
            raise ValueError("page_size must be between 1 and 1000")
        seen: set[str] = set()
        token = page_token
        first = True
        while True:
            query = dict(params, pageSize=str(page_size))
            if count_total and first:
                query["countTotal"] = "true"
            if token:
                query["pageToken"] = token
            body = self._get_json("/studies", query, expect_studies=True)
            next_token = body.get("nextPageToken") or None
            total = body.get("totalCount")
            yield Page(body["studies"], next_token, total if isinstance(total, int) else None)
            if not next_token:
                return
            if next_token in seen:
                raise APIError("the registry sent the same page token twice; stopping to avoid a loop")
            seen.add(next_token)
            token = next_token
            first = False

    def fetch_studies(self, params: dict[str, str], **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every study of a listing, one at a time (see ``fetch_pages``)."""
        for page in self.fetch_pages(params, **kwargs):
            yield from page.studies

    # -- the one place requests are made -----------------------------------

    def _get_json(
        self,
        path: str,
        params: dict[str, str] | None = None,
        *,
        not_found: str | None = None,
        expect_studies: bool = False,
    ) -> Any:
        started = self._clock()
        attempts = unreachable = 0
        url = self.base_url + path
        while True:
            self._limiter.acquire()
            attempts += 1
            self.requests_sent += 1
            outcome = self._try_once(path, params, not_found=not_found, expect_studies=expect_studies)
            if not isinstance(outcome, _Attempt):
                return outcome
            unreachable = unreachable + 1 if outcome.unreachable else 0
            elapsed = self._clock() - started
            delay = self.retry.next_delay(
                attempts, elapsed=elapsed, rng=self._rng, server_wait=outcome.wait, unreachable=unreachable
            )
            if delay is None and outcome.unreachable:
                raise RegistryUnreachable(outcome.problem, url=self.base_url)
            if delay is None:
                raise NetworkError(
                    f"gave up on {url} after {attempts} attempt{'s' * (attempts != 1)} "
                    f"in {elapsed:.0f}s: {outcome.problem}",
                    url=url,
                )
            if self.on_retry and not outcome.unreachable:  # a quick retry is not worth a line
                self.on_retry(f"{outcome.problem}; retrying in {delay:.0f}s")
            self._sleep(delay)

    def _try_once(
        self,
        path: str,
        params: dict[str, str] | None,
        *,
        not_found: str | None,
        expect_studies: bool,
    ) -> Any:
        """One request. Returns the parsed body, an ``_Attempt`` to retry, or raises."""
        try:
            response = self._http.get(path, params=params)
        except httpx.TimeoutException:
            return _Attempt("the request timed out")
        except httpx.ConnectError as exc:
            # No connection at all: nothing was sent, so trying again soon rarely helps.
            return _Attempt(_connect_problem(exc, self._http.base_url), unreachable=True)
        except httpx.TransportError as exc:
            # Dropped connections and bodies cut short (the server promised more
            # bytes than it sent) land here: the registry was there, so retry.
            return _Attempt(f"the connection failed ({type(exc).__name__}: {exc})")
        status = response.status_code
        if status == 429:
            wait = parse_retry_after(response.headers.get("Retry-After"))
            return _Attempt("rate limited by the registry (HTTP 429)", wait=wait)
        if status >= 500:
            return _Attempt(f"the registry answered HTTP {status}")
        if status == 404 and not_found:
            raise StudyNotFound(f"no study {not_found} on ClinicalTrials.gov", status=404, url=str(response.url))
        if status != 200:
            message = _first_line(response.text) or response.reason_phrase
            raise APIError(
                f"the registry refused the request (HTTP {status}): {message}",
                status=status,
                url=str(response.url),
            )
        try:
            body = response.json()
        except ValueError:
            return _Attempt("the answer was not valid JSON (cut short, or an error page)")
        if expect_studies and not (isinstance(body, dict) and isinstance(body.get("studies"), list)):
            return _Attempt("the answer had no list of studies")
        return body


_NO_ROUTE = (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EHOSTDOWN)
_NAME_NOT_FOUND = ("name or service not known", "nodename nor servname", "name resolution", "getaddrinfo")


def _connect_problem(exc: httpx.ConnectError, base_url: httpx.URL) -> str:
    """Why no connection could be made, in words: refused, a name that doesn't resolve, no route, TLS."""
    host = base_url.host
    where = f"{host}:{base_url.port}" if base_url.port else host
    causes: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and len(causes) < 10:
        causes.append(cause)
        cause = cause.__cause__ or cause.__context__
    for cause in causes:
        if isinstance(cause, ConnectionRefusedError):
            return f"the connection to {where} was refused (nothing is listening there)"
        if isinstance(cause, socket.gaierror):
            return f"the name {host} could not be looked up ({cause.strerror or cause})"
        if isinstance(cause, ssl.SSLError):
            return f"a secure connection to {where} could not be made ({cause})"
        if isinstance(cause, OSError) and cause.errno in _NO_ROUTE:
            return f"there is no route to {where} ({cause.strerror})"
    text = str(exc)
    if "refused" in text.lower():
        return f"the connection to {where} was refused (nothing is listening there)"
    if any(words in text.lower() for words in _NAME_NOT_FOUND):
        return f"the name {host} could not be looked up ({text})"
    return f"could not connect to {where} ({text or type(exc).__name__})"


def _first_line(text: str, limit: int = 200) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line[:limit]
