"""A real HTTP server on loopback that imitates ClinicalTrials.gov API v2, and fails on demand.

It serves a list of record dicts (build them with ``records.study``) on the three
endpoints the client uses::

    GET /api/v2/version             {"apiVersion", "dataTimestamp"}
    GET /api/v2/studies             pageSize, pageToken -> nextPageToken, countTotal, filter.ids,
                                    query.cond / query.term (substring of title or conditions),
                                    filter.overallStatus; filter.advanced is ignored
    GET /api/v2/studies/{nctId}     the record, or a 404 JSON answer

Faults are planned per request: ``queue`` applies faults to the next matching
requests in order, ``at`` to the n-th request overall, ``always`` to every
matching request until ``clear_faults``. Each fault is one of::

    rate_limited(retry_after)   429 with a Retry-After header in seconds
    rate_limited_until(seconds) 429 with a Retry-After header as an HTTP date this far ahead
    unavailable()               503 with an HTML body
    dropped()                   the connection is closed without any response
    truncated()                 headers with the full Content-Length, then half the body, then close
    slow(seconds)               the answer comes after ``seconds`` (longer than the client's timeout)
    html_200()                  status 200 with an HTML error page instead of JSON

``page_delay`` slows every ``/studies`` answer down (a slow registry, not a
fault), so a test can kill a client in the middle of a sync. Every request is
logged (``requests``) with its path, parameters, the fault applied and when it
arrived, so tests can assert what was fetched and refetched.
"""

from __future__ import annotations

import base64
import email.utils
import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from records import nct_of

PREFIX = "/api/v2"
VERSION = {"apiVersion": "2.0.5", "dataTimestamp": "2026-11-21T09:00:03"}
HTML_503 = "<html><head><title>503 Service Unavailable</title></head><body><h1>Busy</h1></body></html>"
HTML_ERROR = "<!DOCTYPE html><html><body><p>Something went wrong. Please try again later.</p></body></html>"


@dataclass(frozen=True)
class Fault:
    kind: str  # "429", "503", "drop", "truncate", "slow", "html200"
    retry_after: str | None = None  # 429: the header value (None: an HTTP date ``seconds`` ahead)
    seconds: float = 0.0


def rate_limited(retry_after: float | str = 1) -> Fault:
    return Fault("429", retry_after=str(retry_after))


def rate_limited_until(seconds: float) -> Fault:
    return Fault("429", seconds=seconds)


def unavailable() -> Fault:
    return Fault("503")


def dropped() -> Fault:
    return Fault("drop")


def truncated() -> Fault:
    return Fault("truncate")


def slow(seconds: float) -> Fault:
    return Fault("slow", seconds=seconds)


def html_200() -> Fault:
    return Fault("html200")


@dataclass
class Request:
    """One request as the server saw it."""

    n: int  # 1-based, in arrival order
    path: str  # below /api/v2: "/version", "/studies", "/studies/NCT01000001"
    params: dict[str, str]
    at: float  # time.monotonic() on arrival
    wall: float  # time.time() on arrival
    fault: str | None = None
    status: int | None = None  # what was answered (None: nothing, or not yet)
    retry_after: str | None = None  # the Retry-After header sent with a 429

    @property
    def token(self) -> str | None:
        return self.params.get("pageToken")

    @property
    def ok(self) -> bool:
        return self.fault is None and self.status == 200


Match = Callable[[Request], bool]


def listing(request: Request) -> bool:
    """A match for ``/studies`` list requests."""
    return request.path == "/studies"


@dataclass
class _Planned:
    fault: Fault
    when: Match | None


@dataclass
class _State:
    records: list[dict[str, Any]]
    requests: list[Request] = field(default_factory=list)
    queued: list[_Planned] = field(default_factory=list)
    by_number: dict[int, Fault] = field(default_factory=dict)
    persistent: list[_Planned] = field(default_factory=list)


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def decode_token(token: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    kind, _, number = text.partition(":")
    return int(number) if kind == "offset" and number.isdigit() else None


class FaultServer:
    """The server; use it as a context manager, or call ``start`` and ``stop``."""

    def __init__(self, records: list[dict[str, Any]] | None = None, *, page_delay: float = 0.0):
        self._lock = threading.Condition()
        self._state = _State(list(records or []))
        self._stopping = threading.Event()
        self.page_delay = page_delay
        self.version = dict(VERSION)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> FaultServer:
        server = self

        class Handler(_Handler):
            owner = server

        self._httpd = _HTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="faultserver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The API base URL, as ``TRIALFINDER_API_URL`` or ``Client(base_url)`` take it."""
        assert self._httpd is not None, "start the server first"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{PREFIX}"

    # -- what it serves ------------------------------------------------------

    @property
    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._state.records)

    @records.setter
    def records(self, records: list[dict[str, Any]]) -> None:
        with self._lock:
            self._state.records = list(records)

    # -- the fault plan --------------------------------------------------------

    def queue(self, *faults: Fault, when: Match | None = None) -> None:
        """Apply these faults, in order, to the next requests that match ``when`` (any request if None)."""
        with self._lock:
            self._state.queued += [_Planned(f, when) for f in faults]

    def at(self, n: int, fault: Fault) -> None:
        """Apply ``fault`` to the n-th request overall (1-based)."""
        with self._lock:
            self._state.by_number[n] = fault

    def always(self, fault: Fault, when: Match | None = None) -> None:
        """Apply ``fault`` to every matching request until ``clear_faults``."""
        with self._lock:
            self._state.persistent.append(_Planned(fault, when))

    def clear_faults(self) -> None:
        with self._lock:
            self._state.queued.clear()
            self._state.by_number.clear()
            self._state.persistent.clear()

    def faults_left(self) -> int:
        """Queued and numbered faults not yet applied."""
        with self._lock:
            return len(self._state.queued) + len(self._state.by_number)

    # -- the log ---------------------------------------------------------------

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._state.requests)

    def count(self, when: Match | None = None) -> int:
        with self._lock:
            return sum(1 for r in self._state.requests if when is None or when(r))

    def wait_for(self, n: int, when: Match | None = None, timeout: float = 30.0) -> bool:
        """Block until at least ``n`` requests matching ``when`` have arrived; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while sum(1 for r in self._state.requests if when is None or when(r)) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
        return True

    # -- used by the handler -------------------------------------------------------

    def _arrive(self, path: str, params: dict[str, str]) -> tuple[Request, Fault | None]:
        with self._lock:
            state = self._state
            request = Request(len(state.requests) + 1, path, params, time.monotonic(), time.time())
            fault = state.by_number.pop(request.n, None)
            if fault is None:
                for i, planned in enumerate(state.queued):
                    if planned.when is None or planned.when(request):
                        fault = state.queued.pop(i).fault
                        break
            if fault is None:
                for planned in state.persistent:
                    if planned.when is None or planned.when(request):
                        fault = planned.fault
                        break
            request.fault = fault.kind if fault else None
            state.requests.append(request)
            self._lock.notify_all()
            return request, fault

    def _answered(self, request: Request, status: int | None) -> None:
        with self._lock:
            request.status = status

    def _pause(self, seconds: float) -> None:
        """Sleep, but wake up at once when the server stops."""
        self._stopping.wait(seconds)

    def _answer(self, path: str, params: dict[str, str]) -> tuple[int, dict[str, Any] | str]:
        """The normal (fault-free) answer: status and JSON body."""
        if path == "/version":
            return 200, dict(self.version)
        if path == "/studies":
            return self._list(params)
        if path.startswith("/studies/"):
            nct_id = urllib.parse.unquote(path.removeprefix("/studies/")).upper()
            for record in self.records:
                if nct_of(record) == nct_id:
                    return 200, record
            return 404, {"message": f"Study {nct_id} not found"}
        return 404, {"message": f"no such endpoint {path}"}

    def _list(self, params: dict[str, str]) -> tuple[int, dict[str, Any] | str]:
        try:
            size = int(params.get("pageSize", "10"))
        except ValueError:
            return 400, "pageSize must be a number"
        if not 1 <= size <= 1000:
            return 400, "pageSize must be between 1 and 1000"
        offset = 0
        if params.get("pageToken"):
            decoded = decode_token(params["pageToken"])
            if decoded is None:
                return 400, f"invalid pageToken {params['pageToken']!r}"
            offset = decoded
        found = [r for r in self.records if _matches(r, params)]
        body: dict[str, Any] = {"studies": found[offset : offset + size]}
        if offset + size < len(found):
            body["nextPageToken"] = encode_token(offset + size)
        if params.get("countTotal") == "true":
            body["totalCount"] = len(found)
        return 200, body


def _matches(record: dict[str, Any], params: dict[str, str]) -> bool:
    ps = record["protocolSection"]
    title = ps["identificationModule"].get("briefTitle", "").lower()
    conditions = " | ".join(ps.get("conditionsModule", {}).get("conditions", [])).lower()
    summary = ps.get("descriptionModule", {}).get("briefSummary", "").lower()
    if params.get("filter.ids"):
        wanted = {i.strip().upper() for i in params["filter.ids"].split(",")}
        if nct_of(record) not in wanted:
            return False
    if params.get("query.cond") and params["query.cond"].lower() not in f"{title} | {conditions}":
        return False
    if params.get("query.term") and params["query.term"].lower() not in f"{title} | {summary}":
        return False
    if params.get("filter.overallStatus"):
        if ps["statusModule"]["overallStatus"] not in params["filter.overallStatus"].split(","):
            return False
    return True


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and hung up while we were still answering: expected here.
        pass


class _Handler(BaseHTTPRequestHandler):
    owner: FaultServer
    protocol_version = "HTTP/1.1"  # keep-alive, as the real registry does

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass  # the server keeps its own log

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        parsed = urllib.parse.urlsplit(self.path)
        path = parsed.path.removeprefix(PREFIX) if parsed.path.startswith(PREFIX) else parsed.path
        params = {k: v[-1] for k, v in urllib.parse.parse_qs(parsed.query, keep_blank_values=True).items()}
        request, fault = self.owner._arrive(path, params)
        try:
            self._respond(request, fault)
        except OSError:  # the client gave up (a timeout) and closed the connection
            self.close_connection = True

    def _respond(self, request: Request, fault: Fault | None) -> None:
        owner = self.owner
        if fault is not None and fault.kind == "slow":
            owner._pause(fault.seconds)
        elif request.path == "/studies" and owner.page_delay:
            owner._pause(owner.page_delay)
        if fault is not None and fault.kind == "drop":
            self.close_connection = True
            self._hang_up()
            owner._answered(request, None)
            return
        if fault is not None and fault.kind == "429":
            retry_after = fault.retry_after or email.utils.formatdate(time.time() + fault.seconds, usegmt=True)
            request.retry_after = retry_after
            self._send(429, "Too Many Requests\n", "text/plain", {"Retry-After": retry_after})
            owner._answered(request, 429)
            return
        if fault is not None and fault.kind == "503":
            self._send(503, HTML_503, "text/html")
            owner._answered(request, 503)
            return
        if fault is not None and fault.kind == "html200":
            self._send(200, HTML_ERROR, "application/json")
            owner._answered(request, 200)
            return
        status, body = owner._answer(request.path, request.params)
        if isinstance(body, str):
            data, kind = body.encode(), "text/plain"
        else:
            data, kind = json.dumps(body).encode(), "application/json"
        if fault is not None and fault.kind == "truncate":
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            self._hang_up()
            owner._answered(request, status)
            return
        self._send(status, data, kind)
        owner._answered(request, status)

    def _send(self, status: int, body: str | bytes, kind: str, headers: dict[str, str] | None = None) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _hang_up(self) -> None:
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
