from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from records import study
from trialfinder.cache import Cache, fts_expression
from trialfinder.errors import CacheError
from trialfinder.ingest import save_batch


def test_opening_creates_the_folder_and_uses_wal(tmp_path):
    path = tmp_path / "deep" / "er" / "cache.db"
    with Cache(path) as c:
        assert c.db.journal_mode == "wal"
    assert path.exists()


def test_migrations_run_once_and_reopen_keeps_data(tmp_path):
    path = tmp_path / "c.db"
    with Cache(path) as c:
        save_batch(c, [("r", study())])
    with Cache(path) as c:
        assert c.get_row("NCT01000001") is not None
        applied = [r["name"] for r in c.db.query("SELECT name FROM _sqlite_migrations")]
    assert applied == ["m001_initial", "m002_criteria", "m003_trust", "m004_dictionaries", "m005_changed_at"]


@pytest.mark.parametrize(
    "text",
    ['spinal "cord', "stem*", "NEAR(a b)", "a OR b", "(unbalanced", "col:injury", "-x ^y", "''", "AND"],
)
def test_fts_expression_makes_any_user_text_safe(cache, text):
    save_batch(cache, [("r", study())])
    expr = fts_expression(text)
    if expr is not None:
        cache.search_text(expr)  # must not raise


def test_fts_expression_requires_every_word():
    assert fts_expression('spinal "cord') == '"spinal" "cord"'
    assert fts_expression("  ") is None


def test_search_text_ranks_title_matches_first_and_filters_status(cache):
    save_batch(
        cache,
        [
            ("a", study("NCT01000001", title="Exoskeleton gait training", summary="other", status="RECRUITING")),
            ("b", study("NCT01000002", title="Other", summary="mentions exoskeleton once", status="RECRUITING")),
            ("c", study("NCT01000003", title="Exoskeleton", status="COMPLETED")),
        ],
    )
    hits = cache.search_text(fts_expression("exoskeleton"), statuses=["RECRUITING"])
    assert [h["nct_id"] for h in hits] == ["NCT01000001", "NCT01000002"]


def test_clear_removes_everything_cached(cache):
    save_batch(cache, [("r", study())])
    assert cache.clear() == 1
    assert cache.info()["studies"] == 0
    assert cache.search_text(fts_expression("walking")) == []


def test_info_reports_counts_and_fetch_times(cache):
    save_batch(cache, [("r", study())], fetched_at="2026-11-01T00:00:00Z", data_timestamp="2026-10-31T09:00:00")
    save_batch(cache, [("r", study("NCT01000002", status="COMPLETED"))], fetched_at="2026-11-02T00:00:00Z")
    info = cache.info()
    assert info["studies"] == 2
    assert info["by_status"] == {"RECRUITING": 1, "COMPLETED": 1}
    assert (info["oldest_fetch"], info["newest_fetch"]) == ("2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z")
    assert info["data_timestamp"] == "2026-10-31T09:00:00"
    assert info["size_bytes"] > 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to read-only files")
def test_read_only_cache_gives_a_clear_error(tmp_path):
    path = tmp_path / "c.db"
    with Cache(path) as c:
        save_batch(c, [("r", study())])
    os.chmod(path, stat.S_IRUSR)
    with pytest.raises(CacheError, match="read-only|can't open"):
        with Cache(path) as c:
            save_batch(c, [("r", study("NCT01000002"))])


def test_damaged_file_says_it_is_only_a_cache(tmp_path):
    path = tmp_path / "c.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(CacheError, match="damaged"):
        Cache(path)


def test_two_connections_write_without_locking_errors(tmp_path):
    path = tmp_path / "c.db"
    with Cache(path) as a, Cache(path) as b:
        save_batch(a, [("r", study("NCT01000001"))])
        save_batch(b, [("r", study("NCT01000002"))])
        assert a.info()["studies"] == 2


CRASHER = """
import sys, time, pathlib
sys.path[:0] = [sys.argv[3], sys.argv[4]]
from records import study
from trialfinder.cache import Cache
from trialfinder.ingest import save_batch
cache = Cache(sys.argv[1])
save_batch(cache, [("r", study("NCT01000001"))])
def hang(_):
    pathlib.Path(sys.argv[2]).write_text("in the middle of a page")
    time.sleep(60)
save_batch(cache, [("r", study("NCT01000002")), ("r", study("NCT01000003"))], also=hang)
"""


def test_killed_mid_page_loses_only_that_page(tmp_path):
    path, flag = tmp_path / "c.db", tmp_path / "flag"
    tests_dir, repo = Path(__file__).parent, Path(__file__).parents[1]
    proc = subprocess.Popen([sys.executable, "-c", CRASHER, str(path), str(flag), str(tests_dir), str(repo)])
    deadline = time.monotonic() + 30
    while not flag.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert flag.exists(), "the writer never reached the middle of its second page"
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT nct_id FROM studies").fetchall() == [("NCT01000001",)]
    conn.close()
    with Cache(path) as c:  # and the cache keeps working
        save_batch(c, [("r", study("NCT01000002"))])
        assert c.info()["studies"] == 2


def test_unwritable_location_gives_a_clear_error():
    with pytest.raises(CacheError, match="can't open the cache at /proc/.*--db"):
        Cache("/proc/no-such-dir/c.db")


def test_sqlite_failures_become_one_line_advice(cache):
    for raw, expected in [
        ("database or disk is full", "disk is full"),
        ("attempt to write a readonly database", "read-only"),
        ("database is locked", "busy"),
    ]:
        with pytest.raises(CacheError, match=expected):
            with cache.errors("save"):
                raise sqlite3.OperationalError(raw)


def test_a_very_broad_search_lists_open_trials_first_newest_first_without_ranking(monkeypatch):
    from trialfinder import search
    from trialfinder.models import STATUSES, SearchQuery

    cache = Cache.memory()
    statuses = ["COMPLETED", "RECRUITING", "TERMINATED", "NOT_YET_RECRUITING", "COMPLETED", "RECRUITING"]
    records = [study(f"NCT0200000{i}", title=f"Pain trial {i}", status=s) for i, s in enumerate(statuses)]
    records.append(study("NCT02000009", title="Walking trial", status="RECRUITING"))
    save_batch(cache, [("r", r) for r in records])
    every = SearchQuery.build(term="pain", statuses=STATUSES)
    ranked = [h.nct_id for h in search.find(cache, every, limit=4)]

    monkeypatch.setattr(search, "RANK_AT_MOST", 3)  # six matches: too many to rank
    broad = [h.nct_id for h in search.find(cache, every, limit=4)]
    # Open ones first (recruiting before not yet recruiting), newest registration first, then the rest.
    assert broad == ["NCT02000005", "NCT02000001", "NCT02000003", "NCT02000004"]
    assert set(ranked[:3]) == set(broad[:3])
    assert [h.nct_id for h in search.find(cache, every)] == [
        "NCT02000005", "NCT02000001", "NCT02000003", "NCT02000004", "NCT02000002", "NCT02000000",
    ]  # fmt: skip
    open_only = SearchQuery.build(term="pain")
    assert [h.nct_id for h in search.find(cache, open_only, limit=10)] == ["NCT02000005", "NCT02000001", "NCT02000003"]
