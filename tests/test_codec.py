"""Compression: dictionaries trained from the cache's own records, and records stored before them."""

from __future__ import annotations

import json

import pytest

from records import changed, nct_of, study, write_records
from trialfinder.cache import IMPORT_PAGE_CACHE_KB, PAGE_CACHE_KB, Cache
from trialfinder.codec import Codec, train
from trialfinder.errors import CacheError
from trialfinder.importer import import_paths
from trialfinder.ingest import save_batch


def records(n: int, start: int = 1000001) -> list[dict]:
    return [
        study(f"NCT0{start + i}", title=f"Trial {i} of a walking programme", summary=f"Summary number {i} " * 5)
        for i in range(n)
    ]


def test_zlib_without_a_dictionary_and_zstd_with_one():
    data = json.dumps(study()).encode()
    plain = Codec()
    assert plain.pack("record", data)[:1] == b"z" and plain.unpack(plain.pack("record", data)) == data
    samples = [json.dumps(r).encode() for r in records(300)]
    with_dict = Codec({7: ("record", train("record", samples))})
    blob = with_dict.pack("record", data)
    assert blob[:3] == b"d\x00\x07" and with_dict.unpack(blob) == data
    assert len(blob) < len(plain.pack("record", data))
    assert with_dict.unpack(plain.pack("record", data)) == data  # older blobs stay readable
    with pytest.raises(CacheError, match="lost a compression dictionary"):
        Codec().unpack(blob)
    with pytest.raises(CacheError, match="damaged"):
        plain.unpack(b"z" + b"garbage")


def test_the_cache_trains_once_it_is_big_enough_and_recompresses_what_it_holds(tmp_path):
    with Cache(tmp_path / "c.db") as cache:
        save_batch(cache, [("r", r) for r in records(300)])
        assert not cache.train_dictionaries(at=500, samples=400)  # not yet
        save_batch(cache, [("r", r) for r in records(300, start=1000301)])
        size_before = sum(len(b) for (b,) in cache.db.execute("SELECT raw FROM records"))
        assert cache.train_dictionaries(at=500, samples=400)
        assert not cache.train_dictionaries(at=500, samples=400)  # once
        markers = {m for (m,) in cache.db.execute("SELECT DISTINCT substr(raw, 1, 1) FROM records")}
        assert markers == {b"d"}
        assert {m for (m,) in cache.db.execute("SELECT DISTINCT substr(parsed, 1, 1) FROM criteria")} == {b"d"}
        assert {m for (m,) in cache.db.execute("SELECT DISTINCT substr(data, 1, 1) FROM trust")} == {b"d"}
        assert cache.get_trust(["NCT01000005"])["NCT01000005"][1].startswith("{")
        size_after = sum(len(b) for (b,) in cache.db.execute("SELECT raw FROM records"))
        assert size_after < size_before * 0.8
        assert cache.get_record("NCT01000005") == records(5)[4]
        assert cache.get_criteria(["NCT01000005"])["NCT01000005"][1].startswith("{")
        # New and updated records use the dictionary too, and the dictionaries survive reopening.
        save_batch(cache, [("r", changed(records(1)[0], status="COMPLETED", last_update="2026-02-01"))])
    with Cache(tmp_path / "c.db") as cache:
        assert cache.get_record("NCT01000001")["protocolSection"]["statusModule"]["overallStatus"] == "COMPLETED"
        cache.clear()
        assert cache.codec.current("record") is None  # cleared with everything else
        save_batch(cache, [("r", study())])
        assert cache.db.execute("SELECT substr(raw, 1, 1) FROM records").fetchone()[0] == b"z"


def test_an_import_trains_midway_and_every_record_reads_back(tmp_path, monkeypatch):
    monkeypatch.setattr("trialfinder.cache.TRAIN_AT", 400)
    items = records(1200)
    folder = write_records(tmp_path / "in", items)
    with Cache(tmp_path / "c.db") as cache:
        counts = import_paths(cache, [folder], batch_size=100, workers=0)
        assert counts.new == 1200
        assert cache.codec.current("record") is not None
        for r in items[::97]:
            assert cache.get_record(nct_of(r)) == r
        dicted = cache.db.execute("SELECT count(*) FROM records WHERE substr(raw, 1, 1) = X'64'").fetchone()[0]
        assert dicted >= 900  # all but the few batches in flight when it trained


def test_new_files_use_16k_pages_and_changed_at_moves_only_on_change(tmp_path):
    with Cache(tmp_path / "c.db") as cache:
        assert cache.db.execute("PRAGMA page_size").fetchone()[0] == 16384
        save_batch(cache, [("r", study())], fetched_at="2026-01-01T00:00:00Z")
        save_batch(cache, [("r", study())], fetched_at="2026-01-02T00:00:00Z")  # seen again, unchanged
        row = cache.get_row("NCT01000001")
        assert (row["fetched_at"], row["changed_at"]) == ("2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z")
        save_batch(cache, [("r", changed(study(), status="COMPLETED", last_update="2026-02-01"))],
                   fetched_at="2026-01-03T00:00:00Z")  # fmt: skip
        assert cache.get_row("NCT01000001")["changed_at"] == "2026-01-03T00:00:00Z"


def test_an_import_with_workers_trains_in_one_of_them(tmp_path, monkeypatch):
    """No extra process for training (it used to add ~80 MB to the import's peak memory)."""
    monkeypatch.setattr("trialfinder.cache.TRAIN_AT", 300)

    def not_here(path, samples):
        raise AssertionError("trained outside the import's worker pool")

    monkeypatch.setattr("trialfinder.importer.train_elsewhere", not_here)
    monkeypatch.setattr("trialfinder.cache.train_elsewhere", not_here)
    items = records(900)
    folder = write_records(tmp_path / "in", items)
    with Cache(tmp_path / "c.db") as cache:
        seen = []
        progress = lambda total: seen.append(cache.db.execute("PRAGMA cache_size").fetchone()[0])  # noqa: E731
        counts = import_paths(cache, [folder], batch_size=100, workers=2, progress=progress)
        assert counts.new == 900
        assert all(cache.codec.current(kind) is not None for kind in ("record", "criteria", "trust"))
        assert cache.get_record(nct_of(items[-1])) == items[-1]
        # The import writes with a small page cache and gives the big one back to searches.
        assert set(seen) == {-IMPORT_PAGE_CACHE_KB}
        assert cache.db.execute("PRAGMA cache_size").fetchone()[0] == -PAGE_CACHE_KB
