"""The user database: patients, shortlist entries, their history, backups."""

from __future__ import annotations

import json
import sqlite3

import pytest

from trialfinder.errors import CacheError, UserDataError
from trialfinder.userdata import PIPELINE, TRANSITIONS, UserData, read_backup, write_atomically

PROFILE = {"conditions": ["spinal cord injury"], "birth_date": "1990-01-01", "sex": "female"}


@pytest.fixture
def data(tmp_path):
    with UserData(tmp_path / "user.db") as d:
        yield d


@pytest.fixture
def patient(data):
    return data.add_patient("P-017", PROFILE)


def rows(data, table):
    return list(data.db.query(f"SELECT * FROM {table} ORDER BY id"))


def test_patients_are_found_by_name_ignoring_case_and_spacing(data, patient):
    assert data.patient("p-017").id == patient.id
    assert data.patient("  P-017 ").profile == PROFILE
    with pytest.raises(UserDataError, match="already a patient 'P-017'"):
        data.add_patient("p-017", PROFILE)
    with pytest.raises(UserDataError, match="no patient 'P-99'; known patients: P-017"):
        data.patient("P-99")
    with pytest.raises(UserDataError, match="alias or a record number"):
        data.add_patient("   ", PROFILE)


def test_removing_a_patient_keeps_the_row_and_frees_the_name(data, patient):
    data.add_entries(patient, [("NCT01000001", {})])
    data.remove_patient("P-017")
    assert data.patients() == []
    assert rows(data, "patients")[0]["removed_at"] is not None  # kept, not deleted
    again = data.add_patient("P-017", {"conditions": ["stroke"]})
    assert again.id != patient.id and data.entries(again) == []


def test_adding_is_idempotent_and_starts_as_candidate(data, patient):
    added, present = data.add_entries(patient, [("NCT01000001", {"status": "RECRUITING"})], note="from clinic")
    assert (added, present) == (["NCT01000001"], [])
    added, present = data.add_entries(patient, [("NCT01000001", {}), ("NCT01000002", {})])
    assert (added, present) == (["NCT01000002"], ["NCT01000001"])
    first = data.entry(patient, "NCT01000001")
    assert first.status == "candidate" and first.note == "from clinic"
    assert first.snapshot == {"status": "RECRUITING"}  # the second add did not overwrite the snapshot


def test_every_change_is_an_event_not_an_overwrite(data, patient):
    data.add_entries(patient, [("NCT01000001", {})])
    data.set_note(patient, "NCT01000001", "called the site")
    data.set_note(patient, "NCT01000001", "left a message")
    data.set_status(patient, "NCT01000001", "contacted")
    data.set_status(patient, "NCT01000001", "declined", reason="too far to travel")
    data.set_status(patient, "NCT01000001", "candidate")
    events = data.events(patient)
    assert [(e.kind, e.old, e.new) for e in events] == [
        ("added", None, "candidate"),
        ("note", None, "called the site"),
        ("note", "called the site", "left a message"),
        ("status", "candidate", "contacted"),
        ("status", "contacted", "declined"),
        ("status", "declined", "candidate"),
    ]
    assert events[4].reason == "too far to travel"
    assert all(e.at.endswith("Z") for e in events)


@pytest.mark.parametrize(
    ("path", "target", "message"),
    [
        ([], "screening", "can't go from candidate to screening; from candidate it can go to contacted"),
        ([], "enrolled", "can't go from candidate to enrolled"),
        (["contacted", "screening", "enrolled"], "declined", "nothing: enrolled is final"),
        ([], "candidate", "already candidate"),
        ([], "maybe", "unknown status 'maybe': use one of candidate, contacted"),
        ([], "declined", "declined needs a reason: add --reason"),
        ([], "not-eligible", "not-eligible needs a reason"),
    ],
)
def test_invalid_transitions_say_why_and_change_nothing(data, patient, path, target, message):
    data.add_entries(patient, [("NCT01000001", {})])
    for step in path:
        data.set_status(patient, "NCT01000001", step)
    before = (rows(data, "shortlist"), rows(data, "events"))
    with pytest.raises(UserDataError, match=message):
        data.set_status(patient, "NCT01000001", target)
    assert (rows(data, "shortlist"), rows(data, "events")) == before


def test_the_whole_pipeline_is_reachable_one_step_at_a_time():
    for here, there in zip(PIPELINE, PIPELINE[1:], strict=False):
        assert there in TRANSITIONS[here]
    assert TRANSITIONS["enrolled"] == set()


def test_status_spellings_are_forgiven(data, patient):
    data.add_entries(patient, [("NCT01000001", {})])
    assert data.set_status(patient, "NCT01000001", "Not_Eligible", reason="age").status == "not-eligible"


def test_empty_note_and_unknown_trial_change_nothing(data, patient):
    data.add_entries(patient, [("NCT01000001", {})])
    before = rows(data, "events")
    with pytest.raises(UserDataError, match="the note is empty"):
        data.set_note(patient, "NCT01000001", "   ")
    with pytest.raises(UserDataError, match="NCT09999999 is not on P-017's shortlist"):
        data.set_note(patient, "NCT09999999", "hello")
    with pytest.raises(UserDataError, match="NCT09999999 is not on"):
        data.remove_entries(patient, ["NCT01000001", "NCT09999999"])  # one unknown id: none removed
    assert rows(data, "events") == before
    assert [e.nct_id for e in data.entries(patient)] == ["NCT01000001"]


def test_removed_entries_leave_history_and_can_be_added_again(data, patient):
    data.add_entries(patient, [("NCT01000001", {})])
    data.set_status(patient, "NCT01000001", "contacted")
    data.remove_entries(patient, ["NCT01000001"])
    assert data.entries(patient) == []
    data.add_entries(patient, [("NCT01000001", {})])
    assert data.entry(patient, "NCT01000001").status == "candidate"
    assert [e.kind for e in data.events(patient, "NCT01000001")] == ["added", "status", "removed", "added"]


def test_backup_and_restore_round_trip(tmp_path, data, patient):
    data.add_entries(patient, [("NCT01000001", {"title": "Ünïcode & <tags>"})], note="first")
    data.set_status(patient, "NCT01000001", "contacted")
    other = data.add_patient("P-018", {"conditions": ["stroke"]})
    data.add_entries(other, [("NCT01000002", {})])
    data.remove_patient("P-018")
    original = {t: rows(data, t) for t in data.tables()}

    counts = data.backup(tmp_path / "backup.json")
    assert counts == {
        "patients": 2, "shortlist": 2, "events": 3, "watches": 0, "watch_seen": 0, "deliveries": 0, "digest_items": 0,
    }  # fmt: skip

    with UserData(tmp_path / "elsewhere.db") as fresh:
        fresh.add_patient("someone else", {"conditions": ["stroke"]})
        fresh.restore(tmp_path / "backup.json", keep_copy_in=tmp_path / "before.json")
        assert {t: rows(fresh, t) for t in fresh.tables()} == original
        assert fresh.entry(fresh.patient("P-017"), "NCT01000001").snapshot["title"] == "Ünïcode & <tags>"
    kept = json.loads((tmp_path / "before.json").read_text())
    assert [p["name"] for p in kept["tables"]["patients"]] == ["someone else"]


def test_a_damaged_backup_restores_nothing(tmp_path, data, patient):
    data.add_entries(patient, [("NCT01000001", {})])
    before = {t: rows(data, t) for t in data.tables()}
    bad = tmp_path / "bad.json"
    for text, message in [
        ("{not json", "not valid JSON"),
        (json.dumps({"format": "something else", "tables": {}}), "is not a trialfinder backup"),
        (json.dumps({"format": "trialfinder-userdata", "version": 99, "tables": {}}), "newer trialfinder"),
        (json.dumps({"format": "trialfinder-userdata", "version": 1, "tables": {"patients": "x"}}), "damaged"),
    ]:
        bad.write_text(text)
        with pytest.raises(UserDataError, match=message):
            data.restore(bad)
    # Rows that break the schema fail inside the transaction, which rolls back.
    broken = data.export_data()
    broken["tables"]["events"].append({"id": 99, "entry_id": 1, "at": None, "kind": "note"})
    bad.write_text(json.dumps(broken))
    with pytest.raises(CacheError):
        data.restore(bad)
    assert {t: rows(data, t) for t in data.tables()} == before
    with pytest.raises(UserDataError, match="can't read the backup"):
        read_backup(tmp_path / "missing.json")


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "out.json"
    target.write_text("old")

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.fsync", fail)
    with pytest.raises(UserDataError, match="No space left on device; nothing was changed"):
        write_atomically(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary file left behind


def test_a_corrupt_data_file_is_a_clear_error(tmp_path):
    path = tmp_path / "user.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(CacheError, match="restore it from a backup"):
        UserData(path)


def test_a_change_is_durable_once_the_call_returns(tmp_path, data, patient):
    data.add_entries(patient, [("NCT01000001", {})])
    data.set_note(patient, "NCT01000001", "kept")
    # Another connection (another process) sees it at once: it was committed, not buffered.
    other = sqlite3.connect(tmp_path / "user.db")
    assert other.execute("SELECT note FROM shortlist").fetchone() == ("kept",)
    other.close()


def test_a_full_disk_is_a_clear_error_and_changes_nothing(data, patient):
    data.add_entries(patient, [("NCT01000001", {})])
    before = {t: rows(data, t) for t in data.tables()}
    # SQLite's page limit fails a write exactly as a full disk does (SQLITE_FULL).
    pages = data.db.execute("PRAGMA page_count").fetchone()[0]
    data.db.execute(f"PRAGMA max_page_count = {pages + 1}")
    with pytest.raises(CacheError, match="the disk is full; nothing was changed"):
        data.set_note(patient, "NCT01000001", "x" * 200_000)
    assert {t: rows(data, t) for t in data.tables()} == before
