"""Saving records into the cache: new, unchanged, updated (with history), older, rejected."""

from __future__ import annotations

import json

import pytest

from records import changed, site, study
from trialfinder.cache import Cache, fts_expression
from trialfinder.ingest import save_batch


def rows(cache: Cache, sql: str, params=()):
    return [tuple(r) for r in cache.db.execute(sql, params).fetchall()]


def test_new_record_is_stored_with_columns_index_and_sites(cache):
    record = study("NCT01000001", min_age="18 Years", max_age="65 Years", sex="FEMALE")
    counts = save_batch(cache, [("r", record)], fetched_at="2026-11-22T10:00:00Z", data_timestamp="2026-11-21T09:00:03")

    assert (counts.new, counts.updated, counts.unchanged) == (1, 0, 0)
    row = cache.get_row("NCT01000001")
    assert row["title"] == "Walking After Spinal Cord Injury"
    assert row["status"] == "RECRUITING"
    assert row["min_age_days"] == pytest.approx(18 * 365.25)
    assert row["max_age_days"] == pytest.approx(65 * 365.25)
    assert row["sex"] == "FEMALE"
    assert json.loads(row["mesh_terms"]) == ["Spinal Cord Injuries"]
    assert row["data_timestamp"] == "2026-11-21T09:00:03"
    assert cache.get_record("NCT01000001") == record  # the raw record round-trips untouched
    assert [r["nct_id"] for r in cache.search_text(fts_expression("walking"))] == ["NCT01000001"]
    assert rows(cache, "SELECT city, lat FROM sites") == [("Zurich", 47.3769)]


def test_same_record_again_is_unchanged_and_only_touches_fetch_time(cache):
    save_batch(cache, [("r", study())], fetched_at="2026-11-01T00:00:00Z")
    counts = save_batch(cache, [("r", study())], fetched_at="2026-11-22T00:00:00Z")
    assert (counts.new, counts.unchanged) == (0, 1)
    assert cache.get_row("NCT01000001")["fetched_at"] == "2026-11-22T00:00:00Z"
    assert rows(cache, "SELECT count(*) FROM study_history") == [(0,)]


def test_update_keeps_previous_key_fields_as_history(cache):
    old = study(status="NOT_YET_RECRUITING", last_update="2026-01-15")
    save_batch(cache, [("r", old)], fetched_at="2026-02-01T00:00:00Z")
    new = changed(old, status="RECRUITING", last_update="2026-03-01", criteria="Inclusion Criteria:\n\n* Adults")
    counts = save_batch(cache, [("r", new)], fetched_at="2026-03-02T00:00:00Z")

    assert counts.updated == 1
    assert cache.get_row("NCT01000001")["status"] == "RECRUITING"
    (entry,) = cache.history("NCT01000001")
    assert entry["status"] == "NOT_YET_RECRUITING"
    assert entry["last_update"] == "2026-01-15"
    assert "Pregnancy" in entry["eligibility"]
    assert entry["replaced_at"] == "2026-03-02T00:00:00Z"


def test_update_replaces_indexed_text_and_sites(cache):
    save_batch(cache, [("r", study(title="Cycling After Injury"))])
    save_batch(
        cache,
        [
            (
                "r",
                changed(study(title="Swimming After Injury"), last_update="2026-02-01", locations=[site(city="Basel")]),
            )
        ],
    )
    assert cache.search_text(fts_expression("cycling")) == []
    assert [r["nct_id"] for r in cache.search_text(fts_expression("swimming"))] == ["NCT01000001"]
    assert rows(cache, "SELECT city FROM sites") == [("Basel",)]


def test_older_copy_never_replaces_a_newer_one(cache):
    newer = study(status="COMPLETED", last_update="2026-05-01")
    save_batch(cache, [("r", newer)])
    counts = save_batch(cache, [("r", changed(newer, status="RECRUITING", last_update="2025-01-01"))])
    assert counts.older == 1
    assert cache.get_row("NCT01000001")["status"] == "COMPLETED"


def test_bad_record_is_rejected_with_a_reason_and_the_rest_saved(cache):
    bad = study("NCT01000002")
    bad["protocolSection"]["conditionsModule"]["conditions"] = "not a list"
    no_id = {"protocolSection": {"identificationModule": {}}}
    counts = save_batch(cache, [("good", study()), ("bad", bad), ("noid", no_id)])

    assert counts.new == 1
    reasons = dict(counts.rejected)
    assert "conditions" in reasons["bad"] and "valid list" in reasons["bad"]
    assert "nctId" in reasons["noid"]
    assert cache.get_row("NCT01000002") is None


def test_failure_inside_a_batch_saves_nothing_of_it(cache):
    save_batch(cache, [("a", study("NCT01000001"))])

    def explode(_):
        raise RuntimeError("crash in the middle of a page")

    with pytest.raises(RuntimeError):
        save_batch(cache, [("b", study("NCT01000002")), ("c", study("NCT01000003"))], also=explode)

    assert rows(cache, "SELECT nct_id FROM studies") == [("NCT01000001",)]
    assert rows(cache, "SELECT count(*) FROM sites") == [(1,)]
    assert len(cache.search_text(fts_expression("walking"))) == 1


def test_duplicate_in_one_batch_keeps_the_newer_copy(cache):
    a = study(status="RECRUITING", last_update="2026-01-01")
    b = changed(a, status="COMPLETED", last_update="2026-06-01")
    save_batch(cache, [("b", b), ("a", a)])
    assert cache.get_row("NCT01000001")["status"] == "COMPLETED"


def test_unknown_enum_values_are_kept_not_rejected(cache):
    record = study(status="PAUSED_FOR_REVIEW")
    record["protocolSection"]["designModule"]["phases"] = ["PHASE7"]
    record["protocolSection"]["brandNewModule"] = {"anything": 1}
    counts = save_batch(cache, [("r", record)])
    assert counts.new == 1
    assert cache.get_row("NCT01000001")["status"] == "PAUSED_FOR_REVIEW"
