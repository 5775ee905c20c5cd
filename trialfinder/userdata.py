"""Patients, shortlists and their history: the user's own work, in its own database file.

Kept apart from the cache (a separate SQLite file, by default beside it), so
clearing or rebuilding the cache can never touch it. Nothing here is ever
overwritten in place without a trace: every change to a shortlist is an
event with its time, removals are marked rather than deleted, and a restore
first saves what it replaces.

Tables
    patients          an alias (no real name needed) and the profile fields matching uses
    shortlist         one row per (patient, trial): current pipeline status and note, and a
                      snapshot of the registry record when it was shortlisted
    events            every change: added, note, status, removed, with time and reason
    watches           a profile (or a patient) to watch, how often, and where to send digests
    watch_seen        what each watch last saw of each trial, to tell what is new
    digest_items      news for a watch; ``sent_at`` is set only after a delivery succeeded
    deliveries        every attempt to deliver a digest, successful or not
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from .errors import CacheError, UserDataError
from .sqlitefile import SQLiteFile, Wording, migrate, use_wal

BACKUP_FORMAT = "trialfinder-userdata"
BACKUP_VERSION = 1

# The pipeline a shortlisted trial goes through. Each step moves one stage on; a trial may be
# declined or found not eligible (with a reason) at any open stage, and reopened from there.
PIPELINE = ("candidate", "contacted", "screening", "enrolled")
CLOSED = ("declined", "not-eligible")
STATUSES = PIPELINE + CLOSED
TRANSITIONS = {
    "candidate": {"contacted", *CLOSED},
    "contacted": {"screening", *CLOSED},
    "screening": {"enrolled", *CLOSED},
    "enrolled": set(),
    "declined": {"candidate"},
    "not-eligible": {"candidate"},
}

migrations = Migrations("trialfinder-userdata")
WORDING = Wording(
    name="your data",
    move="Choose another place with $TRIALFINDER_USER_DB.",
    damaged="restore it from a backup with `trialfinder restore`",
    full="nothing was changed. Free some space and try again",
)


@migrations()
def m001_patients_and_shortlists(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE patients (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            profile TEXT NOT NULL,          -- JSON: the profile fields as given
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            removed_at TEXT
        )
        """
    )
    db.execute("CREATE UNIQUE INDEX patients_name ON patients(name COLLATE NOCASE) WHERE removed_at IS NULL")
    db.execute(
        """
        CREATE TABLE shortlist (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL REFERENCES patients(id),
            nct_id TEXT NOT NULL,
            status TEXT NOT NULL,
            note TEXT,
            added_at TEXT NOT NULL,
            snapshot TEXT,                  -- JSON: the record's key fields when shortlisted
            removed_at TEXT
        )
        """
    )
    db.execute("CREATE UNIQUE INDEX shortlist_live ON shortlist(patient_id, nct_id) WHERE removed_at IS NULL")
    db.execute(
        """
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            entry_id INTEGER NOT NULL REFERENCES shortlist(id),
            at TEXT NOT NULL,
            kind TEXT NOT NULL,             -- added | note | status | removed
            old TEXT,
            new TEXT,
            reason TEXT
        )
        """
    )
    db.execute("CREATE INDEX events_entry ON events(entry_id, id)")


@migrations()
def m002_watches(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE watches (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            patient_id INTEGER REFERENCES patients(id),  -- a patient's watch follows their profile
            profile TEXT,                   -- JSON: the profile fields, for a watch made from a file
            email TEXT,
            every TEXT NOT NULL,            -- daily | weekly
            notify_empty INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            last_run_at TEXT,               -- the last run that compared and recorded what it saw
            last_run_on TEXT,               -- ...and the day it counted as (--as-of)
            removed_at TEXT
        )
        """
    )
    db.execute("CREATE UNIQUE INDEX watches_name ON watches(name COLLATE NOCASE) WHERE removed_at IS NULL")
    db.execute(
        """
        CREATE TABLE watch_seen (
            id INTEGER PRIMARY KEY,
            watch_id INTEGER NOT NULL REFERENCES watches(id),
            nct_id TEXT NOT NULL,
            state TEXT NOT NULL,            -- JSON: status, verdict, criteria digest, sites near
            seen_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE UNIQUE INDEX watch_seen_trial ON watch_seen(watch_id, nct_id)")
    db.execute(
        """
        CREATE TABLE deliveries (
            id INTEGER PRIMARY KEY,
            watch_id INTEGER NOT NULL REFERENCES watches(id),
            at TEXT NOT NULL,
            method TEXT NOT NULL,           -- email | file | stdout
            target TEXT,
            ok INTEGER NOT NULL,
            error TEXT,
            n_items INTEGER NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE digest_items (
            id INTEGER PRIMARY KEY,
            watch_id INTEGER NOT NULL REFERENCES watches(id),
            key TEXT NOT NULL,              -- what makes it the same news: kind, trial, new value, record date
            kind TEXT NOT NULL,             -- new | status | verdict | site | nothing
            nct_id TEXT,
            payload TEXT NOT NULL,          -- JSON: title, reason, link, warnings
            created_at TEXT NOT NULL,
            sent_at TEXT,                   -- set only once a delivery succeeded
            delivery_id INTEGER REFERENCES deliveries(id)
        )
        """
    )
    db.execute("CREATE UNIQUE INDEX digest_items_key ON digest_items(watch_id, key)")
    db.execute("CREATE INDEX digest_items_pending ON digest_items(watch_id) WHERE sent_at IS NULL")


@migrations()
def m003_watch_profile_key(db: sqlite_utils.Database) -> None:
    # What the watch's last comparison depended on (profile fields and matching rules).
    db.execute("ALTER TABLE watches ADD COLUMN profile_key TEXT")


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Patient:
    id: int
    name: str
    profile: dict[str, Any]
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class Entry:
    id: int
    patient_id: int
    nct_id: str
    status: str
    note: str | None
    added_at: str
    snapshot: dict[str, Any]


@dataclass(frozen=True)
class Event:
    at: str
    kind: str
    old: str | None
    new: str | None
    reason: str | None
    nct_id: str


class UserData(SQLiteFile):
    """The user database. ``UserData(path)`` opens it (creating it if needed) and migrates it."""

    wording = WORDING

    def __init__(self, path: str | Path, *, timeout: float = 60.0):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), timeout=timeout, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise CacheError(
                f"can't open your data at {self.path}: {exc}; choose another place with $TRIALFINDER_USER_DB"
            ) from None
        self.db = sqlite_utils.Database(conn)
        with self.errors("open"):
            use_wal(self.db)
            # FULL, not NORMAL: a power cut must not lose a coordinator's last change.
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA foreign_keys=ON")
            migrate(self.db, migrations)

    # -- patients ---------------------------------------------------------------

    def add_patient(self, name: str, profile: dict[str, Any]) -> Patient:
        name = _clean_name(name)
        with self.transaction():
            existing = self._patient_row(name)
            if existing:
                raise UserDataError(
                    f"there is already a patient {existing['name']!r}; use `trialfinder patient update` to change it"
                )
            stamp = now()
            self.db.execute(
                "INSERT INTO patients (name, profile, created_at, updated_at) VALUES (?, ?, ?, ?)",
                [name, json.dumps(profile, default=str, sort_keys=True), stamp, stamp],
            )
        return self.patient(name)

    def update_patient(self, name: str, profile: dict[str, Any]) -> Patient:
        patient = self.patient(name)
        with self.transaction():
            self.db.execute(
                "UPDATE patients SET profile = ?, updated_at = ? WHERE id = ?",
                [json.dumps(profile, default=str, sort_keys=True), now(), patient.id],
            )
        return self.patient(name)

    def remove_patient(self, name: str) -> Patient:
        """Mark a patient removed (kept in the file and in backups; no longer listed)."""
        patient = self.patient(name)
        with self.transaction():
            self.db.execute("UPDATE patients SET removed_at = ? WHERE id = ?", [now(), patient.id])
        return patient

    def patient(self, name: str) -> Patient:
        row = self._patient_row(_clean_name(name))
        if row is None:
            known = ", ".join(p.name for p in self.patients()[:8]) or "none yet"
            raise UserDataError(
                f"no patient {name!r}; known patients: {known} (add one with `trialfinder patient add`)"
            )
        return _patient(row)

    def patients(self) -> list[Patient]:
        with self.errors("read"):
            rows = self.db.query("SELECT * FROM patients WHERE removed_at IS NULL ORDER BY name COLLATE NOCASE")
            return [_patient(r) for r in rows]

    def _patient_row(self, name: str) -> dict[str, Any] | None:
        with self.errors("read"):
            rows = list(
                self.db.query("SELECT * FROM patients WHERE name = ? COLLATE NOCASE AND removed_at IS NULL", [name])
            )
        return rows[0] if rows else None

    # -- shortlists --------------------------------------------------------------

    def entries(self, patient: Patient) -> list[Entry]:
        with self.errors("read"):
            rows = self.db.query(
                "SELECT * FROM shortlist WHERE patient_id = ? AND removed_at IS NULL ORDER BY added_at, id",
                [patient.id],
            )
            return [_entry(r) for r in rows]

    def entry(self, patient: Patient, nct_id: str) -> Entry:
        with self.errors("read"):
            rows = list(
                self.db.query(
                    "SELECT * FROM shortlist WHERE patient_id = ? AND nct_id = ? AND removed_at IS NULL",
                    [patient.id, nct_id],
                )
            )
        if not rows:
            raise UserDataError(f"{nct_id} is not on {patient.name}'s shortlist")
        return _entry(rows[0])

    def add_entries(
        self, patient: Patient, items: list[tuple[str, dict[str, Any]]], note: str | None = None
    ) -> tuple[list[str], list[str]]:
        """Add (nct_id, snapshot) pairs; returns (added, already there). All in one transaction."""
        added, present = [], []
        with self.transaction():
            for nct_id, snapshot in items:
                exists = self.db.execute(
                    "SELECT 1 FROM shortlist WHERE patient_id = ? AND nct_id = ? AND removed_at IS NULL",
                    [patient.id, nct_id],
                ).fetchone()
                if exists:
                    present.append(nct_id)
                    continue
                stamp = now()
                cursor = self.db.execute(
                    "INSERT INTO shortlist (patient_id, nct_id, status, note, added_at, snapshot) "
                    "VALUES (?, ?, 'candidate', ?, ?, ?)",
                    [patient.id, nct_id, note, stamp, json.dumps(snapshot, sort_keys=True)],
                )
                self._event(cursor.lastrowid, "added", None, "candidate", note, stamp)
                added.append(nct_id)
        return added, present

    def remove_entries(self, patient: Patient, nct_ids: list[str]) -> None:
        entries = [self.entry(patient, n) for n in nct_ids]  # unknown ids fail before anything changes
        with self.transaction():
            stamp = now()
            for entry in entries:
                self.db.execute("UPDATE shortlist SET removed_at = ? WHERE id = ?", [stamp, entry.id])
                self._event(entry.id, "removed", entry.status, None, None, stamp)

    def set_note(self, patient: Patient, nct_id: str, text: str) -> Entry:
        text = (text or "").strip()
        if not text:
            raise UserDataError('the note is empty; write the note\'s text, e.g. "called the site, left a message"')
        entry = self.entry(patient, nct_id)
        with self.transaction():
            self.db.execute("UPDATE shortlist SET note = ? WHERE id = ?", [text, entry.id])
            self._event(entry.id, "note", entry.note, text, None, now())
        return self.entry(patient, nct_id)

    def set_status(self, patient: Patient, nct_id: str, status: str, reason: str | None = None) -> Entry:
        status = status.strip().lower().replace("_", "-").replace(" ", "-")
        if status not in STATUSES:
            raise UserDataError(f"unknown status {status!r}: use one of {', '.join(STATUSES)}")
        entry = self.entry(patient, nct_id)
        if status == entry.status:
            raise UserDataError(f"{nct_id} is already {status}")
        allowed = TRANSITIONS[entry.status]
        if status not in allowed:
            options = ", ".join(sorted(allowed)) or "nothing: enrolled is final"
            raise UserDataError(
                f"{nct_id} can't go from {entry.status} to {status}; from {entry.status} it can go to {options}"
            )
        reason = (reason or "").strip() or None
        if status in CLOSED and not reason:
            raise UserDataError(f'{status} needs a reason: add --reason, e.g. --reason "does not meet the age limit"')
        with self.transaction():
            self.db.execute("UPDATE shortlist SET status = ? WHERE id = ?", [status, entry.id])
            self._event(entry.id, "status", entry.status, status, reason, now())
        return self.entry(patient, nct_id)

    def events(self, patient: Patient, nct_id: str | None = None) -> list[Event]:
        sql = (
            "SELECT e.at, e.kind, e.old, e.new, e.reason, s.nct_id FROM events e JOIN shortlist s ON s.id = e.entry_id "
            "WHERE s.patient_id = ?"
        )
        params: list[Any] = [patient.id]
        if nct_id:
            sql += " AND s.nct_id = ?"
            params.append(nct_id)
        with self.errors("read"):
            return [Event(**r) for r in self.db.query(sql + " ORDER BY e.id", params)]

    def _event(
        self, entry_id: int | None, kind: str, old: str | None, new: str | None, reason: str | None, at: str
    ) -> None:
        self.db.execute(
            "INSERT INTO events (entry_id, at, kind, old, new, reason) VALUES (?, ?, ?, ?, ?, ?)",
            [entry_id, at, kind, old, new, reason],
        )

    # -- backup and restore -------------------------------------------------------

    def export_data(self) -> dict[str, Any]:
        """Everything, removed records and full history included, as plain data."""
        with self.errors("read"):
            tables = {t: list(self.db.query(f"SELECT * FROM {t} ORDER BY id")) for t in self.tables()}
        return {"format": BACKUP_FORMAT, "version": BACKUP_VERSION, "saved_at": now(), "tables": tables}

    def tables(self) -> list[str]:
        """Every table, parents before children (the order a restore inserts in)."""
        return ["patients", "shortlist", "events", "watches", "watch_seen", "deliveries", "digest_items"]

    def backup(self, path: str | Path) -> dict[str, int]:
        """Write a JSON backup atomically (a temporary file renamed into place)."""
        data = self.export_data()
        write_atomically(Path(path), json.dumps(data, indent=1, ensure_ascii=False))
        return {t: len(rows) for t, rows in data["tables"].items()}

    def restore(self, path: str | Path, *, keep_copy_in: Path | None = None) -> dict[str, int]:
        """Replace all user data with a backup's, in one transaction. The current data is saved first."""
        data = read_backup(Path(path))
        if keep_copy_in is not None:
            self.backup(keep_copy_in)
        with self.transaction():
            for table in reversed(self.tables()):
                self.db.execute(f"DELETE FROM {table}")
            for table in self.tables():
                rows = data["tables"].get(table, [])
                if rows:
                    self.db[table].insert_all(rows)
        return {t: len(data["tables"].get(t, [])) for t in self.tables()}


def read_backup(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserDataError(f"can't read the backup {path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserDataError(f"{path} is not a trialfinder backup (not valid JSON: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != BACKUP_FORMAT or not isinstance(data.get("tables"), dict):
        raise UserDataError(f"{path} is not a trialfinder backup")
    if data.get("version", 0) > BACKUP_VERSION:
        raise UserDataError(f"{path} was made by a newer trialfinder (backup version {data['version']}); upgrade first")
    for table, rows in data["tables"].items():
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise UserDataError(f"{path}: table {table!r} is damaged; nothing was restored")
    return data


def write_atomically(path: Path, text: str) -> None:
    """Write a file so that a crash or a full disk leaves either the old file or the new one, never half."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as exc:
        raise UserDataError(f"can't write {path}: {exc.strerror or exc}; nothing was changed") from None


def _clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise UserDataError("give the patient a name: an alias or a record number is enough, e.g. P-017")
    if len(name) > 80:
        raise UserDataError("the patient's name is too long (80 characters at most); an alias or record number will do")
    return name


def _patient(row: dict[str, Any]) -> Patient:
    return Patient(row["id"], row["name"], json.loads(row["profile"]), row["created_at"], row["updated_at"])


def _entry(row: dict[str, Any]) -> Entry:
    snapshot = json.loads(row["snapshot"]) if row["snapshot"] else {}
    return Entry(row["id"], row["patient_id"], row["nct_id"], row["status"], row["note"], row["added_at"], snapshot)
