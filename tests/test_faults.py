"""Reliability against a real HTTP server on loopback (tests/faultserver.py), not mocks.

Rate limits and Retry-After, server errors and broken transfers across many pages, faults that
outlast the retry budget, processes killed at random points, several processes on one cache, and
a cache on a read-only or full disk. Every command-line run is a real subprocess.
"""

from __future__ import annotations

import email.utils
import gc
import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import faultserver as fs
from faultserver import FaultServer, encode_token, listing
from records import changed, nct_of, study, write_records
from trialfinder.api import Client, RetryPolicy
from trialfinder.cache import Cache, fts_expression
from trialfinder.cli import cli
from trialfinder.errors import CacheError, NetworkError
from trialfinder.models import SearchQuery
from trialfinder.sync import sync_query
from trialfinder.userdata import UserData

SCI = "spinal cord injury"
COMMAND = [sys.executable, "-m", "trialfinder.cli"]
LONG_SUMMARY = "A study of a walking programme with body-weight support and a treadmill. " * 30


# -- helpers -------------------------------------------------------------------------------------


def nct(number: int) -> str:
    return f"NCT{number:08d}"


def corpus(first: int, count: int, title: str, **kwargs: Any) -> list[dict[str, Any]]:
    """``count`` small records with consecutive NCT ids, titled "<title> <n>"."""
    return [study(nct(first + i), title=f"{title} {i + 1}", **kwargs) for i in range(count)]


def retitled(record: dict[str, Any], title: str, **changes: Any) -> dict[str, Any]:
    new = changed(record, **changes)
    new["protocolSection"]["identificationModule"]["briefTitle"] = title
    return new


def run(*args: str):
    """The command line, in this process (for setting things up and reading them back)."""
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def ok(*args: str):
    result = run(*args)
    assert result.exit_code == 0, (args, result.output)
    return result


@dataclass
class Done:
    code: int
    stdout: str
    stderr: str
    seconds: float


def cli_env(api_url: str | None = None, **extra: str) -> dict[str, str]:
    """The environment for a subprocess: this test's cache, the fault server, a short retry budget."""
    env = dict(os.environ)
    env.update(
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        PYTHONDONTWRITEBYTECODE="1",
        TRIALFINDER_RETRY_SECONDS="20",
    )
    if api_url:
        env["TRIALFINDER_API_URL"] = api_url
    env.update(extra)
    return env


def start(*args: str, env: dict[str, str], prefix: list[str] | tuple[str, ...] = ()) -> subprocess.Popen:
    """A trialfinder command as a subprocess in its own process group (so its workers can be killed too)."""
    proc = subprocess.Popen(
        [*prefix, *COMMAND, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    proc.started = time.monotonic()  # type: ignore[attr-defined]
    return proc


def finish(proc: subprocess.Popen, timeout: float = 90) -> Done:
    stdout, stderr = proc.communicate(timeout=timeout)
    return Done(proc.returncode, stdout, stderr, time.monotonic() - proc.started)  # type: ignore[attr-defined]


def run_cli(*args: str, env: dict[str, str], prefix: list[str] | tuple[str, ...] = (), timeout: float = 90) -> Done:
    return finish(start(*args, env=env, prefix=prefix), timeout)


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the command and every process it started, then reap it and close its pipes."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate(timeout=30)


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen]]:
    """Subprocesses a test started; any still running when it ends (a failed assertion) are killed."""
    started: list[subprocess.Popen] = []
    yield started
    for proc in started:
        if proc.returncode is None:
            kill_group(proc)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error:")]


def assert_one_error_line(done: Done, *words: str) -> str:
    """Exit status 1, no traceback, and exactly one error line, the last thing said, holding ``words``."""
    assert done.code == 1, done
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    errors = error_lines(done.stderr)
    assert len(errors) == 1 and lines[-1] == errors[0], done.stderr
    for word in words:
        assert word in errors[0], (word, errors[0])
    return errors[0]


def integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def stored_records(path: Path) -> dict[str, dict[str, Any]]:
    """Every study in the cache, its stored record decoded (``Cache.get_record``)."""
    with Cache(path) as cache:
        ids = [row[0] for row in cache.db.execute("SELECT nct_id FROM studies ORDER BY nct_id")]
        return {nct_id: cache.get_record(nct_id) for nct_id in ids}


def table_counts(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        tables = ("studies", "records", "sites", "criteria", "trust", "query_studies", "studies_fts")
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
    finally:
        conn.close()


def query_state(path: Path) -> tuple[str | None, str | None, int | None] | None:
    """(resume token, fetched_at, n_studies) of the one remembered search, or None."""
    if not path.exists():
        return None
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT resume_token, fetched_at, n_studies FROM queries").fetchall()
    except sqlite3.OperationalError:  # killed before the schema was made
        return None
    finally:
        conn.close()
    assert len(rows) <= 1, rows
    return rows[0] if rows else None


def offset_of(token: str | None) -> int:
    return fs.decode_token(token) if token else 0


def snapshot(db: Path | None = None) -> dict[str, Any]:
    """The user's data as `trialfinder backup` writes it, minus the time it was written."""
    handle, name = tempfile.mkstemp(suffix=".json")
    os.close(handle)
    os.unlink(name)
    try:
        ok("backup", name, *(("--db", str(db)) if db else ()))
        data = json.loads(Path(name).read_text())
    finally:
        Path(name).unlink(missing_ok=True)
    data.pop("saved_at")
    return data


def seed_user_data(folder: Path, record: dict[str, Any], db: Path | None = None) -> dict[str, Any]:
    """A patient, a shortlisted trial with a note, and a watch, made through the command line."""
    where = ("--db", str(db)) if db else ()
    ok("import", str(write_records(folder, [record])), *where)
    ok("patient", "add", "P-017", "--condition", SCI, "--age", "40", "--sex", "male", *where)
    ok("shortlist", "add", "P-017", nct_of(record), "--offline", "--note", "from the October clinic", *where)
    ok("shortlist", "status", "P-017", nct_of(record), "contacted", *where)
    ok("watch", "add", "p17", "--patient", "P-017", *where)
    data = snapshot(db)
    assert "P-017" in json.dumps(data) and "from the October clinic" in json.dumps(data)
    return data


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def file_hashes(folder: Path) -> dict[str, str]:
    return {p.name: sha(p) for p in sorted(folder.iterdir()) if p.is_file()}


def fast_client(url: str, **kwargs: Any) -> Client:
    """A client with short waits, so a test of many faults stays quick."""
    kwargs.setdefault("timeout", 1.0)
    kwargs.setdefault("rate_limit", 0)
    kwargs.setdefault("retry", RetryPolicy(base_delay=0.05, max_delay=0.4, max_total=15))
    return Client(url, **kwargs)


@pytest.fixture(autouse=True)
def loopback_without_proxy(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


# -- rate limiting --------------------------------------------------------------------------------


def test_429_bursts_are_waited_out_as_told_within_the_clients_own_rate_limit(tmp_path):
    records = corpus(1_100_001, 12, "Walking after spinal cord injury")
    limit, window = 4, 2.0
    with FaultServer(records) as server:
        # A burst on the first page (delta-seconds), and one on page four (an HTTP date).
        server.queue(fs.rate_limited(1), fs.rate_limited(1), when=lambda r: listing(r) and r.token is None)
        server.queue(fs.rate_limited_until(2), when=lambda r: listing(r) and r.token == encode_token(6))
        sleeps: list[float] = []

        def sleep(seconds: float) -> None:
            sleeps.append(seconds)
            time.sleep(seconds)

        client = Client(server.url, rate_limit=limit, rate_window=window, retry=RetryPolicy(max_total=30), sleep=sleep)
        with Cache(tmp_path / "c.db") as cache, client:
            result = sync_query(cache, client, SearchQuery.build(condition=SCI), page_size=2)
            sent = client.requests_sent
        seen = server.requests

    assert server.faults_left() == 0
    assert result.counts.new == 12 and result.pages == 6
    assert set(stored_records(tmp_path / "c.db")) == {nct_of(r) for r in records}
    # One request per page and the version, plus exactly one retry per 429: no extra requests.
    assert len(seen) == sent == 7 + 3
    for i, request in enumerate(seen[:-1]):
        if request.status != 429:
            continue
        header = request.retry_after or ""
        if header.isdigit():
            told = float(header)
        else:
            told = email.utils.parsedate_to_datetime(header).timestamp() - request.wall
        assert told >= 0.9
        # The client waited as long as the server said before asking again (and not much longer).
        assert seen[i + 1].at - request.at >= told - 0.05, (header, seen[i + 1].at - request.at)
        assert any(told <= s <= told + 0.5 + 1e-6 for s in sleeps), (told, sleeps)
    # Never more than ``limit`` requests in any rolling ``window``, as the server saw them.
    arrivals = [r.at for r in seen]
    for i in range(len(arrivals) - limit):
        assert arrivals[i + limit] - arrivals[i] >= window - 0.05, [round(a - arrivals[0], 2) for a in arrivals]


def test_a_retry_after_beyond_the_retry_budget_stops_at_once_with_one_line(tmp_path):
    records = corpus(1_200_001, 4, "Walking after spinal cord injury")
    with FaultServer(records) as server:
        server.always(fs.rate_limited(3600), when=listing)
        done = run_cli("sync", "--condition", SCI, env=cli_env(server.url, TRIALFINDER_RETRY_SECONDS="10"))
        asked = server.count(listing)
    line = assert_one_error_line(done, "HTTP 429", f"{server.url}/studies", "resumes")
    assert "--offline" not in line  # sync has no --offline
    # It neither waited an hour nor asked again before the server said it may.
    assert asked == 1
    assert done.seconds < 8


# -- server errors and broken transfers ------------------------------------------------------------


def test_mixed_faults_across_many_pages_store_every_study_exactly_once(tmp_path):
    rng = random.Random(1234)
    records = corpus(1_000_001, 36, "Walking after spinal cord injury")
    faults = [
        fs.unavailable(), fs.dropped(), fs.truncated(), fs.slow(3.0), fs.html_200(),
        fs.rate_limited(0), fs.unavailable(), fs.dropped(), fs.truncated(), fs.slow(3.0),
    ]  # fmt: skip
    pages = 12
    with FaultServer(records) as server:
        # 13 good answers (the version and 12 pages) and 10 faults make 23 requests, the last one
        # good: faults on requests 1..22 all land (the version call, pages, some twice in a row).
        for number, fault in zip(sorted(rng.sample(range(1, 23), len(faults))), faults, strict=True):
            server.at(number, fault)
        with Cache(tmp_path / "c.db") as cache, fast_client(server.url) as client:
            result = sync_query(cache, client, SearchQuery.build(condition=SCI), page_size=3)
        seen = server.requests

    assert server.faults_left() == 0
    assert [r.fault for r in seen if r.fault] == [f.kind for f in faults]
    assert result.counts.new == 36 and not result.counts.rejected and result.pages == pages
    stored = stored_records(tmp_path / "c.db")
    assert stored == {nct_of(r): r for r in records}
    counts = table_counts(tmp_path / "c.db")
    assert counts == dict.fromkeys(counts, 36), counts  # each study once, everywhere
    token, fetched_at, n_studies = query_state(tmp_path / "c.db")
    assert token is None and fetched_at is not None and n_studies == 36
    # Each page was answered in full exactly once: nothing stored was fetched again.
    good = Counter(r.token for r in seen if listing(r) and r.ok)
    assert good == Counter([None] + [encode_token(3 * i) for i in range(1, pages)])


def test_the_cli_sync_rides_out_mixed_faults(tmp_path):
    rng = random.Random(99)
    records = corpus(1_300_001, 30, "Walking after spinal cord injury")
    faults = [fs.unavailable(), fs.dropped(), fs.truncated(), fs.html_200(), fs.rate_limited(1)]
    with FaultServer(records) as server:
        # 11 good answers and 5 faults: 16 requests, the last one good.
        for number, fault in zip(sorted(rng.sample(range(1, 16), len(faults))), faults, strict=True):
            server.at(number, fault)
        done = run_cli("sync", "--condition", SCI, "--page-size", "3", env=cli_env(server.url))
        left = server.faults_left()
    assert done.code == 0, done.stderr
    assert left == 0
    assert "full fetch, 10 page(s); 30 new, 0 updated, 0 unchanged, 0 rejected" in done.stdout
    assert done.stderr.count("retrying in") == len(faults)  # each retry said once, in one line
    assert "Traceback" not in done.stderr and not error_lines(done.stderr)
    db = tmp_path / "cache" / "trialfinder.db"
    assert stored_records(db) == {nct_of(r): r for r in records}
    counts = table_counts(db)
    assert counts == dict.fromkeys(counts, 30), counts


@pytest.mark.parametrize(
    ("fault", "says"),
    [(fs.unavailable(), "HTTP 503"), (fs.dropped(), "connection failed"), (fs.truncated(), "connection failed")],
    ids=["503-html", "dropped", "truncated"],
)
def test_a_lasting_failure_stops_with_one_line_keeps_pages_and_a_rerun_resumes(tmp_path, fault, says):
    records = corpus(1_400_001, 20, "Walking after spinal cord injury")
    third = encode_token(8)  # the third page of four studies
    args = ("sync", "--condition", SCI, "--page-size", "4")
    db = tmp_path / "cache" / "trialfinder.db"
    with FaultServer(records) as server:
        server.always(fault, when=lambda r: listing(r) and r.token == third)
        first = run_cli(*args, env=cli_env(server.url, TRIALFINDER_RETRY_SECONDS="2"))
        attempts = server.count(lambda r: r.token == third)
        line = assert_one_error_line(first, says, f"{server.url}/studies", "gave up", "resumes")
        assert "--offline" not in line
        assert attempts >= 2  # it did retry, within its budget
        assert first.seconds < 12

        assert integrity(db) == "ok"
        assert stored_records(db) == {nct_of(r): r for r in records[:8]}  # the two pages it got are kept
        assert query_state(db)[:2] == (third, None)

        server.clear_faults()
        before = len(server.requests)
        second = run_cli(*args, env=cli_env(server.url))
        again = [r.token for r in server.requests[before:] if listing(r)]
    assert second.code == 0, second.stderr
    assert "resumed fetch, 3 page(s); 12 new" in second.stdout
    assert again == [third, encode_token(12), encode_token(16)]  # pages one and two were not fetched again
    assert stored_records(db) == {nct_of(r): r for r in records}
    token, fetched_at, n_studies = query_state(db)
    assert token is None and fetched_at is not None and n_studies == 20


def test_a_registry_slower_than_the_timeout_is_given_up_within_the_retry_budget(tmp_path):
    records = corpus(1_500_001, 12, "Walking after spinal cord injury")
    third = encode_token(6)
    query = SearchQuery.build(condition=SCI)
    retry = RetryPolicy(base_delay=0.1, max_delay=0.5, max_total=2.5)
    with FaultServer(records) as server, Cache(tmp_path / "c.db") as cache:
        server.always(fs.slow(30), when=lambda r: listing(r) and r.token == third)
        began = time.monotonic()
        with fast_client(server.url, timeout=0.5, retry=retry) as client:
            with pytest.raises(NetworkError, match=r"gave up on .*/studies after \d+ attempts .*timed out"):
                sync_query(cache, client, query, page_size=3)
        took = time.monotonic() - began
        assert server.count(lambda r: r.token == third) >= 3
        # Gave up only when the next wait would pass the budget, and not long after it.
        assert retry.max_total - retry.max_delay - 0.1 <= took <= retry.max_total + 0.5 + 2.0
        assert [cache.get_record(nct_of(r)) for r in records] == records[:6] + [None] * 6
        assert cache.get_query(query.key).resume_token == third

        server.clear_faults()
        before = len(server.requests)
        with fast_client(server.url) as client:
            result = sync_query(cache, client, query, page_size=3)
        assert result.mode == "resumed" and result.counts.new == 6
        assert [r.token for r in server.requests[before:] if listing(r)] == [third, encode_token(9)]
        assert all(cache.get_record(nct_of(r)) == r for r in records)


# -- crash safety -----------------------------------------------------------------------------------


def test_import_killed_at_random_points_never_corrupts_the_cache_or_touches_user_data(tmp_path, procs):
    rng = random.Random(1234)
    old = corpus(2_000_001, 400, "Alphaword walking trial")  # two import batches (250 + 150)
    new = [
        retitled(r, f"Betaword walking trial {i + 1}", status="ACTIVE_NOT_RECRUITING", last_update="2026-03-01")
        for i, r in enumerate(old)
    ]
    versions = {nct_of(r): (r, n) for r, n in zip(old, new, strict=True)}
    seed = study(nct(2_999_999), title="Seed trial for the shortlist")
    before = seed_user_data(tmp_path / "seed", seed)
    user_db = tmp_path / "cache" / "trialfinder-userdata.db"
    user_bytes = sha(user_db)
    db = tmp_path / "cache" / "trialfinder.db"
    old_dir, new_dir = write_records(tmp_path / "old", old), write_records(tmp_path / "new", new)
    env = cli_env()

    # Kill at a random moment within ``window`` seconds of the start. When a run finished before
    # its kill (a fast or idle machine), aim earlier; when a kill left the store as it was (a slow or
    # busy machine), aim later: so kills land before, between and after the import's batches.
    kills, runs, window, states = 0, 0, 1.6, [(1, 0)]
    deadline = time.monotonic() + 30
    while kills < 8 and runs < 16 and time.monotonic() < deadline:
        source = old_dir if kills < 4 else new_dir
        proc = start("import", str(source), env=env)
        procs.append(proc)
        runs += 1
        time.sleep(rng.uniform(0.25, 1.0) * window)
        finished = proc.poll() is not None
        kills += not finished
        kill_group(proc)

        assert integrity(db) == "ok", f"after run {runs}"
        stored = stored_records(db)
        assert stored.pop(nct(2_999_999)) == seed
        for nct_id, record in stored.items():
            assert record in versions[nct_id], f"{nct_id} damaged after run {runs}"
        state = (len(stored), sum(record in old for record in stored.values()))  # (stored, still old)
        window *= 0.7 if finished else 1.0 if state != states[-1] else 1.3
        states.append(state)
    assert kills >= 6, f"only {kills} of {runs} runs were still going when killed: {states}"

    finished = run_cli("import", str(new_dir), env=env)
    assert finished.code == 0, finished.stderr
    stored = stored_records(db)
    assert stored.pop(nct(2_999_999)) == seed
    assert stored == {nct_of(r): r for r in new}
    with Cache(db) as cache:
        # The full-text index followed every replacement exactly: no old words left, every new title found.
        assert cache.search_text(fts_expression("alphaword")) == []
        assert len(cache.search_text(fts_expression("betaword"))) == len(new)
        most = cache.db.execute("SELECT max(n) FROM (SELECT count(*) AS n FROM study_history GROUP BY nct_id)")
        assert (most.fetchone()[0] or 0) <= 1  # an update was never recorded twice
    assert sha(user_db) == user_bytes  # not a byte of the user's file changed
    assert snapshot() == before


def test_sync_killed_at_random_points_resumes_and_never_corrupts(tmp_path, procs):
    rng = random.Random(1234)
    records = corpus(3_000_001, 72, "Walking after spinal cord injury", summary=LONG_SUMMARY)
    order = [nct_of(r) for r in records]
    sources = {nct_of(r): r for r in records}
    seed = study(nct(3_999_999), title="Seed trial for the shortlist")
    before = seed_user_data(tmp_path / "seed", seed)
    db = tmp_path / "cache" / "trialfinder.db"
    args = ("sync", "--condition", SCI, "--page-size", "4", "--rate-limit", "0")
    pages = 18

    with FaultServer(records, page_delay=0.04) as server:
        env = cli_env(server.url)
        kills = 0
        for round_ in range(10):
            state = query_state(db)
            if state and state[1]:  # the fetch completed: nothing left to interrupt
                break
            saved = state[0] if state else None
            first = len(server.requests)
            proc = start(*args, env=env)
            procs.append(proc)
            depth = rng.choice([0, 1, 1, 2, 2, 3])
            if depth == 0:  # during start-up or the /version call
                time.sleep(rng.uniform(0.05, 0.7))
            else:  # while fetching, or storing, a page
                target, deadline = server.count(listing) + depth, time.monotonic() + 30
                while server.count(listing) < target and proc.poll() is None and time.monotonic() < deadline:
                    server.wait_for(target, listing, timeout=0.05)
                time.sleep(rng.uniform(0.0, 0.08))
            kills += proc.poll() is None
            kill_group(proc)

            run_pages = [r.token for r in server.requests[first:] if listing(r)]
            assert run_pages[:1] in ([], [saved]), f"run {round_} did not resume from {saved}: {run_pages}"
            assert integrity(db) == "ok", f"after kill {round_}"
            stored = stored_records(db)
            assert stored.pop(nct(3_999_999)) == seed
            assert all(record == sources[nct_id] for nct_id, record in stored.items())
            state = query_state(db)
            if state and not state[1]:
                # Each page was committed together with the token of the next: exactly the pages before it are here.
                assert set(stored) == set(order[: offset_of(state[0])]), f"after kill {round_}"
        assert kills >= 7, f"only {kills} runs were killed mid-sync"

        done = run_cli(*args, env=env)
        listed = server.count(listing)
    assert done.code == 0, done.stderr
    assert "resumed fetch" in done.stdout
    stored = stored_records(db)
    assert stored.pop(nct(3_999_999)) == seed
    assert stored == sources
    assert query_state(db)[0] is None and query_state(db)[2] == 72
    # At most the page in flight was lost to each kill.
    assert listed <= pages + kills, (listed, kills)
    assert snapshot() == before


# -- concurrency ------------------------------------------------------------------------------------------


def test_digest_sync_import_and_searches_at_once_share_the_cache(tmp_path, procs):
    sci = corpus(4_000_001, 40, "Walking after spinal cord injury")
    stroke = corpus(4_100_001, 30, "Arm training after stroke", conditions=("Stroke",), mesh=("Stroke",))
    palsy = corpus(4_200_001, 20, "Gait training in cerebral palsy", conditions=("Cerebral Palsy",), mesh=())
    more = corpus(4_300_001, 300, "Cycling after spinal cord injury", summary=LONG_SUMMARY)
    ok("import", str(write_records(tmp_path / "sci", sci)))
    ok("patient", "add", "P-017", "--condition", SCI, "--age", "40", "--sex", "male")
    ok("watch", "add", "p17", "--patient", "P-017")
    before = snapshot()
    more_dir = write_records(tmp_path / "more", more)

    with FaultServer(stroke + palsy, page_delay=0.02) as server:
        env = cli_env(server.url)
        jobs = {
            "digest": ("digest", "--offline", "--as-of", "2026-11-22"),
            "sync": ("sync", "--condition", "stroke", "--page-size", "3", "--rate-limit", "0"),
            "search online": ("search", "--condition", "cerebral palsy", "--json", "--limit", "100"),
            "import": ("import", str(more_dir)),
            **{f"search {i}": ("search", "-c", SCI, "--offline", "--json", "--limit", "500") for i in range(4)},
        }
        running = {name: start(*args, env=env) for name, args in jobs.items()}
        procs.extend(running.values())
        done = {name: finish(proc) for name, proc in running.items()}

    for name, result in done.items():
        assert result.code == 0, (name, result.stderr)
        assert not error_lines(result.stderr), (name, result.stderr)
        for word in ("locked", "busy", "Traceback"):
            assert word not in result.stderr, (name, result.stderr)
    everything = {nct_of(r): r for r in sci + stroke + palsy + more}
    stored = stored_records(tmp_path / "cache" / "trialfinder.db")
    assert stored == everything  # no write was lost
    for i in range(4):
        found = {item["nct_id"] for item in json.loads(done[f"search {i}"].stdout)}
        assert found >= {nct_of(r) for r in sci}
    assert {item["nct_id"] for item in json.loads(done["search online"].stdout)} == {nct_of(r) for r in palsy}
    assert nct_of(sci[0]) in done["digest"].stdout
    after = snapshot()
    assert after["tables"]["patients"] == before["tables"]["patients"]


@pytest.mark.parametrize("opener", [Cache, UserData], ids=["cache", "user data"])
def test_several_processes_opening_a_new_file_at_once_all_succeed(tmp_path, opener):
    failures: list[str] = []
    with warnings.catch_warnings():
        # A failed open leaves its connection to the garbage collector (newer Pythons warn about that).
        warnings.simplefilter("ignore", ResourceWarning)
        for round_ in range(5):
            path = tmp_path / f"round-{round_}" / "new.db"
            gate = threading.Barrier(6)

            def first_use(path: Path = path, gate: threading.Barrier = gate) -> None:
                gate.wait()
                try:
                    opener(path).close()
                except CacheError as exc:
                    failures.append(str(exc))

            threads = [threading.Thread(target=first_use) for _ in range(6)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            gc.collect()
            assert integrity(path) == "ok"
    assert failures == []


# -- read-only and full disks ------------------------------------------------------------------------------


@pytest.fixture
def unprivileged() -> Iterator[tuple[list[str], Path]]:
    """A command prefix that runs as a user who can't write a folder we own, and that folder."""
    folder = Path(tempfile.mkdtemp(prefix="trialfinder-ro-"))  # outside tmp_path: nobody may enter that
    folder.chmod(0o755)
    try:
        if os.geteuid() == 0:
            setpriv = shutil.which("setpriv")
            if setpriv is None:
                pytest.skip("running as root without setpriv: can't make a folder read-only for the command")
            prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
        else:
            prefix = []
        locked = folder / "probe"
        locked.mkdir(mode=0o555)
        locked.chmod(0o555)
        probe = subprocess.run(
            [*prefix, sys.executable, "-c", f"import trialfinder; open({str(locked / 'x')!r}, 'w')"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if "PermissionError" not in probe.stderr:
            pytest.skip(f"can't run trialfinder as a user who can't write {locked}: {probe.stderr[-200:]}")
        locked.chmod(0o755)
        locked.rmdir()
        yield prefix, folder
    finally:
        for path in [folder, *folder.rglob("*")]:
            if path.is_dir():
                path.chmod(0o755)
        shutil.rmtree(folder)


@pytest.mark.parametrize(
    "command",
    ["sync", "import", "import to a new cache", "patient add", "shortlist note"],
)
def test_a_read_only_cache_or_user_file_gives_one_line_and_changes_nothing(
    tmp_path, monkeypatch, unprivileged, command
):
    prefix, folder = unprivileged
    cache_dir = folder / "cache"
    db = cache_dir / "trialfinder.db"
    monkeypatch.setenv("TRIALFINDER_DB", str(db))
    seed = study(nct(5_000_001), title="Seed trial for the shortlist")
    before = seed_user_data(folder / "seed", seed)
    incoming = write_records(folder / "incoming", corpus(5_000_101, 10, "Walking after spinal cord injury"))
    if os.geteuid() != 0:
        cache_dir.chmod(0o555)
        for path in cache_dir.iterdir():
            path.chmod(0o444)
    hashes = file_hashes(cache_dir)

    with FaultServer(corpus(5_000_201, 6, "Walking after spinal cord injury")) as server:
        env = cli_env(server.url, TRIALFINDER_DB=str(db))
        args = {
            "sync": ("sync", "--condition", SCI),
            "import": ("import", str(incoming)),
            "import to a new cache": ("import", str(incoming), "--db", str(cache_dir / "new" / "c.db")),
            "patient add": ("patient", "add", "P-018", "--condition", "stroke"),
            "shortlist note": ("shortlist", "note", "P-017", nct(5_000_001), "left a message"),
        }[command]
        done = run_cli(*args, env=env, prefix=prefix)

    line = assert_one_error_line(done)
    assert "read-only" in line or "can't open" in line, line
    assert "nothing was changed" in line or "choose another place" in line, line
    assert file_hashes(cache_dir) == hashes  # not a byte changed
    assert integrity(db) == "ok" and integrity(cache_dir / "trialfinder-userdata.db") == "ok"
    assert set(stored_records(db)) == {nct(5_000_001)}
    assert snapshot() == before


SMALL_DISK = """
set -u
mount -t tmpfs -o size="$TF_SIZE" tmpfs "$TF_MNT" || exit 97
cp -a "$TF_SRC"/. "$TF_MNT"/ || exit 98
if [ "$TF_FILL" = 1 ]; then dd if=/dev/zero of="$TF_MNT/filler" bs=4096 2>/dev/null; fi
"$@"
rc=$?
rm -f "$TF_MNT/filler"
cp -a "$TF_MNT"/. "$TF_OUT"/ || exit 99
exit $rc
"""

FILE_SIZE_LIMIT = """
import os, resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), int(sys.argv[1])))
os.execv(sys.argv[2], sys.argv[2:])
"""


def can_mount_tmpfs(tmp_path: Path) -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    probe = tmp_path / "probe-mount"
    probe.mkdir()
    test = ["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {probe} && touch {probe}/x"]
    return subprocess.run(test, capture_output=True, timeout=60).returncode == 0


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def run_on_a_small_disk(
    how: str, tmp_path: Path, source: Path, spare: int, args: tuple[str, ...], env: dict[str, str], fill: bool = False
) -> tuple[Done, Path]:
    """Run a command with the cache folder ``source`` on a disk with about ``spare`` bytes free.

    ``tmpfs``: a private tmpfs mount (only this command sees it) that really runs out of space;
    ``rlimit``: RLIMIT_FSIZE, so a file can't grow past its size + ``spare`` (SIGXFSZ ignored).
    Returns what the command did and the folder as it left it.
    """
    out = tmp_path / f"after-{how}"
    out.mkdir()
    if how == "tmpfs":
        mount = tmp_path / "small-disk"
        mount.mkdir(exist_ok=True)
        size = (folder_bytes(source) + spare + 4095) // 4096 * 4096
        env = dict(env, TF_SIZE=str(size), TF_MNT=str(mount), TF_SRC=str(source), TF_OUT=str(out))
        env.update(TF_FILL="1" if fill else "0", TRIALFINDER_DB=str(mount / "trialfinder.db"))
        return run_cli(*args, env=env, prefix=["unshare", "-m", "sh", "-c", SMALL_DISK, "sh"]), out
    shutil.copytree(source, out, dirs_exist_ok=True)
    limit = 4096 if fill else max(p.stat().st_size for p in out.iterdir()) + spare
    prefix = [sys.executable, "-c", FILE_SIZE_LIMIT, str(limit)]  # then execs COMMAND
    return run_cli(*args, env=dict(env, TRIALFINDER_DB=str(out / "trialfinder.db")), prefix=prefix), out


@pytest.fixture
def small_disk(tmp_path) -> str:
    """How to give a command a small disk: a real one that fills up when we may mount, else a file-size limit."""
    if can_mount_tmpfs(tmp_path):
        return "tmpfs"
    if sys.platform != "linux":
        pytest.skip("neither a private tmpfs nor a file-size limit (RLIMIT_FSIZE) is available here")
    return "rlimit"


def full_disk_line(done: Done, how: str) -> str:
    line = assert_one_error_line(done)
    if how == "tmpfs":
        assert "the disk is full" in line, line
        assert "nothing already saved was lost" in line or "nothing was changed" in line, line
    else:  # a file-size limit: SQLite reports a short write as "full", a refused one as an I/O error
        assert "disk is full" in line or "disk I/O error" in line, line
    return line


def test_a_full_disk_during_import_gives_one_line_and_keeps_what_was_stored(tmp_path, small_disk):
    source = tmp_path / "cache"
    seed = study(nct(6_000_001), title="Seed trial for the shortlist")
    before = seed_user_data(tmp_path / "seed", seed)
    records = corpus(6_000_101, 300, "Walking after spinal cord injury", summary=LONG_SUMMARY)
    incoming = write_records(tmp_path / "incoming", records)
    env = cli_env()
    roomy = tmp_path / "roomy"
    shutil.copytree(source, roomy)
    grew = run_cli("import", str(incoming), env=dict(env, TRIALFINDER_DB=str(roomy / "trialfinder.db")))
    assert grew.code == 0, grew.stderr
    growth = folder_bytes(roomy) - folder_bytes(source)

    done, out = run_on_a_small_disk(small_disk, tmp_path, source, growth // 3, ("import", str(incoming)), env)

    full_disk_line(done, small_disk)
    db = out / "trialfinder.db"
    assert integrity(db) == "ok"
    stored = stored_records(db)
    assert stored.pop(nct(6_000_001)) == seed
    sources = {nct_of(r): r for r in records}
    assert len(stored) < len(records)
    assert all(record == sources[nct_id] for nct_id, record in stored.items())
    assert snapshot(db) == before
    # With room again, the same import completes.
    assert run_cli("import", str(incoming), env=dict(env, TRIALFINDER_DB=str(db))).code == 0
    assert stored_records(db) == {**sources, nct(6_000_001): seed}


def test_a_full_disk_during_sync_keeps_every_stored_page_and_a_rerun_resumes(tmp_path, small_disk):
    source = tmp_path / "cache"
    seed = study(nct(7_000_001), title="Seed trial for the shortlist")
    before = seed_user_data(tmp_path / "seed", seed)
    records = corpus(7_000_101, 120, "Walking after spinal cord injury", summary=LONG_SUMMARY)
    order = [nct_of(r) for r in records]
    args = ("sync", "--condition", SCI, "--page-size", "10", "--rate-limit", "0")
    with FaultServer(records) as server:
        env = cli_env(server.url)
        roomy = tmp_path / "roomy"
        shutil.copytree(source, roomy)
        assert run_cli(*args, env=dict(env, TRIALFINDER_DB=str(roomy / "trialfinder.db"))).code == 0
        growth = folder_bytes(roomy) - folder_bytes(source)

        done, out = run_on_a_small_disk(small_disk, tmp_path, source, growth // 3, args, env)
        full_disk_line(done, small_disk)
        db = out / "trialfinder.db"
        assert integrity(db) == "ok"
        stored = stored_records(db)
        assert stored.pop(nct(7_000_001)) == seed
        token, fetched_at, _ = query_state(db)
        assert fetched_at is None and set(stored) == set(order[: offset_of(token)])
        assert all(record == records[order.index(nct_id)] for nct_id, record in stored.items())
        assert snapshot(db) == before

        first = len(server.requests)
        resumed = run_cli(*args, env=dict(env, TRIALFINDER_DB=str(db)))
        asked = [r.token for r in server.requests[first:] if listing(r)]
    assert resumed.code == 0, resumed.stderr
    assert asked[0] == token  # from the saved page on, nothing stored fetched again
    assert stored_records(db) == {**{nct_of(r): r for r in records}, nct(7_000_001): seed}


def test_a_change_to_user_data_on_a_full_disk_changes_nothing_and_says_so(tmp_path, small_disk):
    source = tmp_path / "cache"
    seed = study(nct(8_000_001), title="Seed trial for the shortlist")
    before = seed_user_data(tmp_path / "seed", seed)
    args = ("shortlist", "note", "P-017", nct(8_000_001), "left a message " * 200)
    done, out = run_on_a_small_disk(small_disk, tmp_path, source, 0, args, cli_env(), fill=True)
    full_disk_line(done, small_disk)
    assert integrity(out / "trialfinder-userdata.db") == "ok"
    assert snapshot(out / "trialfinder.db") == before
