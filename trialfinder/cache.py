"""The local SQLite cache of what was fetched: the only module that touches the cache file.

``Cache(path)`` opens (creating if needed) the database, switches it to WAL
mode and runs the schema migrations. Writes happen inside ``transaction()``
(``BEGIN IMMEDIATE``, so two processes queue instead of failing), one
transaction per page or import batch: a crash loses at most the batch in
flight. Everything here is disposable: the raw records are kept, so every
derived column can be rebuilt, and user work lives in a different file.

Tables
    studies         one row per study: the columns search and matching need
    records         the raw record of each study (compressed JSON, see codec.py)
    studies_fts     contentless FTS5 index (title, conditions, interventions,
                    keywords, summary, eligibility); rowid = NCT number
    sites           one row per study site, for distance filters
    study_history   key fields of replaced versions (status, criteria, sites)
    criteria        each study's parsed eligibility criteria, with the parser version
    trust           each study's registration and oversight signals and warning signs
    queries         remembered remote searches: when fetched, data timestamp,
                    and the page token to resume an interrupted sync
    query_studies   which studies each remembered search returned
    dictionaries    compression dictionaries trained from this cache's records
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import json
import multiprocessing
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from . import sysmem
from .codec import KINDS, SAMPLES, TRAIN_AT, Codec, train
from .errors import CacheError
from .sqlitefile import SQLiteFile, Wording, migrate, use_wal

FTS_COLUMNS = ("title", "conditions", "interventions", "keywords", "summary", "eligibility")
# Column weights for bm25 ranking, in FTS_COLUMNS order.
FTS_WEIGHTS = (8.0, 6.0, 3.0, 3.0, 1.0, 0.5)

_WORD = re.compile(r"\w+")

# Page cache sizes, in kB: searches and matching read all over a big cache; an import
# mostly appends, and a smaller cache keeps it within its memory budget at no cost in speed.
PAGE_CACHE_KB = 32000
IMPORT_PAGE_CACHE_KB = 8000

# Where each kind of compressed blob is kept: table and column.
BLOBS = {"record": ("records", "raw"), "criteria": ("criteria", "parsed"), "trust": ("trust", "data")}
migrations = Migrations("trialfinder-cache")
WORDING = Wording(
    name="the cache",
    move="Choose a writable place with --db or $TRIALFINDER_DB.",
    damaged="it holds only fetched data: run `trialfinder cache clear` or delete the file "
    "(your shortlists are kept elsewhere)",
    full="free some space and run the command again (nothing already saved was lost)",
)


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE studies (
            id INTEGER PRIMARY KEY,          -- the NCT number, stable across VACUUM
            nct_id TEXT NOT NULL UNIQUE,
            title TEXT,
            status TEXT,
            last_known_status TEXT,
            study_type TEXT,
            phases TEXT,                     -- JSON list
            conditions TEXT,                 -- JSON list
            keywords TEXT,                   -- JSON list
            mesh_terms TEXT,                 -- JSON list
            min_age TEXT,
            max_age TEXT,
            min_age_days REAL,
            max_age_days REAL,
            sex TEXT,
            healthy_volunteers INTEGER,
            last_update TEXT,
            status_verified TEXT,
            has_results INTEGER,
            sponsor TEXT,
            sponsor_class TEXT,
            n_sites INTEGER,
            raw_hash TEXT NOT NULL,
            fetched_at TEXT NOT NULL,
            data_timestamp TEXT,
            source TEXT
        )
        """
    )
    # Raw records live in their own table so that ``studies`` rows stay small
    # and scans and joins over them touch few pages.
    db.execute("CREATE TABLE records (id INTEGER PRIMARY KEY, raw BLOB NOT NULL)")
    db.execute("CREATE INDEX studies_status ON studies(status)")
    db.execute("CREATE INDEX studies_last_update ON studies(last_update)")
    db.execute(
        "CREATE VIRTUAL TABLE studies_fts USING fts5("
        + ", ".join(FTS_COLUMNS)
        + ", content='', tokenize='porter unicode61 remove_diacritics 2')"
    )
    db.execute(
        """
        CREATE TABLE sites (
            study_id INTEGER NOT NULL,
            facility TEXT, city TEXT, state TEXT, country TEXT, status TEXT,
            lat REAL, lon REAL
        )
        """
    )
    db.execute("CREATE INDEX sites_study ON sites(study_id)")
    db.execute("CREATE INDEX sites_lat ON sites(lat)")
    db.execute(
        """
        CREATE TABLE study_history (
            id INTEGER PRIMARY KEY,
            study_id INTEGER NOT NULL,
            nct_id TEXT NOT NULL,
            replaced_at TEXT NOT NULL,
            last_update TEXT,
            status TEXT,
            eligibility TEXT,
            sites TEXT,                      -- JSON list of [facility, city, country, status]
            raw_hash TEXT
        )
        """
    )
    db.execute("CREATE INDEX study_history_study ON study_history(study_id, id)")
    db.execute(
        """
        CREATE TABLE queries (
            key TEXT PRIMARY KEY,
            params TEXT NOT NULL,            -- JSON: the /studies parameters
            description TEXT,
            created_at TEXT NOT NULL,
            fetched_at TEXT,                 -- start of the last complete fetch
            data_timestamp TEXT,
            n_studies INTEGER,
            resume_params TEXT,              -- an interrupted fetch: its parameters...
            resume_token TEXT,               -- ...the next page to ask for...
            resume_started_at TEXT           -- ...and when it started
        )
        """
    )
    db.execute(
        "CREATE TABLE query_studies (query_key TEXT NOT NULL, study_id INTEGER NOT NULL, "
        "PRIMARY KEY (query_key, study_id)) WITHOUT ROWID"
    )


@migrations()
def m002_criteria(db: sqlite_utils.Database) -> None:
    # Parsed eligibility criteria, redone when the parser's version changes.
    db.execute("CREATE TABLE criteria (id INTEGER PRIMARY KEY, version TEXT NOT NULL, parsed BLOB NOT NULL)")
    db.execute("CREATE INDEX criteria_version ON criteria(version)")


@migrations()
def m003_trust(db: sqlite_utils.Database) -> None:
    # Registration and oversight signals and warning signs, redone when the rules change.
    db.execute("CREATE TABLE trust (id INTEGER PRIMARY KEY, version TEXT NOT NULL, data TEXT NOT NULL)")
    db.execute("CREATE INDEX trust_version ON trust(version)")


@migrations()
def m004_dictionaries(db: sqlite_utils.Database) -> None:
    # Compression dictionaries trained from this cache's own records (see codec.py).
    db.execute(
        "CREATE TABLE dictionaries (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, data BLOB NOT NULL, "
        "samples INTEGER NOT NULL, created_at TEXT NOT NULL)"
    )


@migrations()
def m005_changed_at(db: sqlite_utils.Database) -> None:
    # When a study's record last changed (new or updated, not merely seen again): digests
    # compare only what changed since a watch's last run.
    db.execute("ALTER TABLE studies ADD COLUMN changed_at TEXT")
    db.execute("UPDATE studies SET changed_at = fetched_at")
    db.execute("CREATE INDEX studies_changed_at ON studies(changed_at)")
    # A fingerprint of the criteria text (models.criteria_digest); empty for studies stored before.
    db.execute("ALTER TABLE studies ADD COLUMN criteria_hash TEXT")


def utcnow() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class StoredState:
    """What the cache holds for a study, for deciding whether a new copy changes it."""

    id: int
    raw_hash: str
    last_update: str | None


@dataclass(frozen=True)
class QueryRecord:
    key: str
    params: dict[str, str]
    description: str | None
    created_at: str
    fetched_at: str | None
    data_timestamp: str | None
    n_studies: int | None
    resume_params: dict[str, str] | None
    resume_token: str | None
    resume_started_at: str | None


class Cache(SQLiteFile):
    """The cache database. Open it with ``Cache(path)`` or ``Cache.memory()``."""

    wording = WORDING

    def __init__(self, path: str | Path, *, timeout: float = 60.0):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # One thread at a time uses the connection, but not always the one that opened it
            # (import writes from a background thread).
            conn = sqlite3.connect(str(self.path), timeout=timeout, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise CacheError(
                f"can't open the cache at {self.path}: {exc}; choose another place with --db or $TRIALFINDER_DB"
            ) from None
        self._setup(conn)

    @classmethod
    def memory(cls) -> Cache:
        """A throwaway in-memory cache (tests)."""
        cache = cls.__new__(cls)
        cache.path = Path(":memory:")
        cache._setup(sqlite3.connect(":memory:"))
        return cache

    def _setup(self, conn: sqlite3.Connection) -> None:
        self.db = sqlite_utils.Database(conn)
        with self.errors("open"):
            if str(self.path) != ":memory:":
                if not self.db.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]:
                    # A new file: 16 kB pages keep compressed records (about 3 kB) on their
                    # leaf pages instead of spilling into half-empty overflow pages.
                    self.db.execute("PRAGMA page_size=16384")
                use_wal(self.db)
                # WAL + NORMAL: a crash of the process never corrupts or loses a
                # committed transaction; only power loss may drop the last ones.
                self.db.execute("PRAGMA synchronous=NORMAL")
                # A 32 MB page cache keeps searches over a registry-sized cache fast.
                self.db.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KB}")
            migrate(self.db, migrations)
        self.codec = self._load_codec()

    def _load_codec(self) -> Codec:
        with self.errors("open"):
            rows = self.db.execute("SELECT id, kind, data FROM dictionaries").fetchall()
        return Codec({i: (kind, data) for i, kind, data in rows})

    @contextlib.contextmanager
    def small_page_cache(self, kb: int = IMPORT_PAGE_CACHE_KB) -> Iterator[None]:
        """A smaller page cache for a while (an import: it writes new pages and reads few back)."""
        self.db.execute(f"PRAGMA cache_size=-{kb}")
        try:
            yield
        finally:
            self.db.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KB}")

    def train_dictionaries(
        self,
        *,
        at: int | None = None,
        samples: int | None = None,
        batch: int = 500,
        trainer: Callable[[Path, int], dict[str, tuple[bytes, int]]] | None = None,
    ) -> bool:
        """Once the cache holds ``at`` records, train compression dictionaries from a sample of them
        and recompress what is stored. Returns True if it trained. Cheap to call often.

        ``trainer(path, samples)`` runs the training away from this process (default: a short-lived
        child process; an import passes its own worker pool)."""
        at = TRAIN_AT if at is None else at
        samples = SAMPLES if samples is None else samples
        if all(self.codec.current(kind) is not None for kind in KINDS):
            return False
        with self.errors("read"):
            if self.db.execute("SELECT count(*) FROM records").fetchone()[0] < at:
                return False
            if str(self.path) == ":memory:":
                trained = _sample_and_train(self.db.conn, self.codec, samples)
            else:
                trained = (trainer or train_elsewhere)(self.path, samples)
        with self.transaction():
            for kind, (data, n) in trained.items():
                self.db.execute(
                    "INSERT INTO dictionaries (kind, data, samples, created_at) VALUES (?, ?, ?, ?)",
                    [kind, data, n, utcnow()],
                )
        self.codec = self._load_codec()
        for kind in KINDS:
            self._recompress(kind, batch)
        return True

    def _recompress(self, kind: str, batch: int) -> None:
        """Repack blobs not yet using the current dictionary, a batch per transaction."""
        table, column = BLOBS[kind]
        last = -1
        while True:
            with self.errors("read"):
                rows = self.db.execute(
                    f"SELECT id, {column} FROM {table} WHERE id > ? "
                    f"AND (typeof({column}) = 'text' OR substr({column}, 1, 1) = X'7a') ORDER BY id LIMIT ?",
                    [last, batch],
                ).fetchall()
            if not rows:
                return
            with self.transaction():
                self.db.conn.executemany(
                    f"UPDATE {table} SET {column} = ? WHERE id = ?",
                    [(self.codec.pack(kind, _plain(self.codec, blob)), i) for i, blob in rows],
                )
            last = rows[-1][0]

    def pack_record(self, raw_json: bytes) -> bytes:
        return self.codec.pack("record", raw_json)

    def unpack_record(self, blob: bytes) -> dict[str, Any]:
        return json.loads(self.codec.unpack(blob))

    # -- studies: writes (inside a transaction) -----------------------------

    def get_stored(self, ids: Iterable[int]) -> dict[int, StoredState]:
        """What is stored for these studies (by NCT number)."""
        ids = list(ids)
        found: dict[int, StoredState] = {}
        for chunk in _chunks(ids, 500):
            marks = ",".join("?" * len(chunk))
            for row in self.db.execute(f"SELECT id, raw_hash, last_update FROM studies WHERE id IN ({marks})", chunk):
                found[row[0]] = StoredState(*row)
        return found

    def get_raw(self, study_id: int) -> dict[str, Any] | None:
        row = self.db.execute("SELECT raw FROM records WHERE id = ?", [study_id]).fetchone()
        return self.unpack_record(row[0]) if row else None

    def put_studies(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert or replace complete study rows (as ``ingest`` prepares them)."""
        if not rows:
            return
        # Plain executemany: sqlite-utils' upsert_all inspects every value, which
        # costs more than the write itself at import speed.
        self.db.conn.executemany(_UPSERT_STUDY, [tuple(row[c] for c in STUDY_COLUMNS) for row in rows])
        self.db.conn.executemany(
            "INSERT INTO records (id, raw) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET raw = excluded.raw",
            [(row["id"], row["raw"]) for row in rows],
        )

    def touch_studies(self, ids: Sequence[int], fetched_at: str, data_timestamp: str | None) -> None:
        """Record that unchanged studies were seen again."""
        self.db.conn.executemany(
            "UPDATE studies SET fetched_at = ?, data_timestamp = coalesce(?, data_timestamp) WHERE id = ?",
            [(fetched_at, data_timestamp, i) for i in ids],
        )

    def index_text(self, entries: Sequence[tuple[int, Sequence[str]]]) -> None:
        """Add studies' searchable text (``FTS_COLUMNS`` order) to the full-text index."""
        cols = ", ".join(FTS_COLUMNS)
        marks = ", ".join("?" * len(FTS_COLUMNS))
        self.db.conn.executemany(
            f"INSERT INTO studies_fts(rowid, {cols}) VALUES (?, {marks})", [(i, *v) for i, v in entries]
        )

    def unindex_text(self, entries: Sequence[tuple[int, Sequence[str]]]) -> None:
        """Remove studies' text from the index; the values must be exactly those indexed."""
        cols = ", ".join(FTS_COLUMNS)
        marks = ", ".join("?" * len(FTS_COLUMNS))
        self.db.conn.executemany(
            f"INSERT INTO studies_fts(studies_fts, rowid, {cols}) VALUES ('delete', ?, {marks})",
            [(i, *v) for i, v in entries],
        )

    def replace_sites(self, entries: Sequence[tuple[int, Sequence[Sequence[Any]]]]) -> None:
        """Replace the sites of studies: (study id, [(facility, city, state, country, status, lat, lon)])."""
        self.db.conn.executemany("DELETE FROM sites WHERE study_id = ?", [(i,) for i, _ in entries])
        self.db.conn.executemany(
            "INSERT INTO sites (study_id, facility, city, state, country, status, lat, lon) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(i, *site) for i, sites in entries for site in sites],
        )

    def put_trust(self, entries: Sequence[tuple[int, str, str]]) -> None:
        """Trust findings as (study id, rules version, JSON)."""
        self.db.conn.executemany(
            "INSERT INTO trust (id, version, data) VALUES (?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET version = excluded.version, data = excluded.data",
            [(i, version, self.codec.pack("trust", data.encode("utf-8"))) for i, version, data in entries],
        )

    def get_trust(self, nct_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """Trust findings by NCT id: (rules version, JSON)."""
        return self._derived("trust", nct_ids)

    def put_criteria(self, entries: Sequence[tuple[int, str, str]]) -> None:
        """Parsed criteria as (study id, parser version, JSON); stored compressed (they repeat the criteria text)."""
        self.db.conn.executemany(
            "INSERT INTO criteria (id, version, parsed) VALUES (?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET version = excluded.version, parsed = excluded.parsed",
            [(i, version, self.codec.pack("criteria", parsed.encode("utf-8"))) for i, version, parsed in entries],
        )

    def add_history(self, entries: Sequence[dict[str, Any]]) -> None:
        if entries:
            self.db["study_history"].insert_all(entries)

    # -- remembered searches -------------------------------------------------

    def get_query(self, key: str) -> QueryRecord | None:
        rows = list(self.db.query("SELECT * FROM queries WHERE key = ?", [key]))
        if not rows:
            return None
        row = rows[0]
        return QueryRecord(
            key=row["key"],
            params=json.loads(row["params"]),
            description=row["description"],
            created_at=row["created_at"],
            fetched_at=row["fetched_at"],
            data_timestamp=row["data_timestamp"],
            n_studies=row["n_studies"],
            resume_params=json.loads(row["resume_params"]) if row["resume_params"] else None,
            resume_token=row["resume_token"],
            resume_started_at=row["resume_started_at"],
        )

    def list_queries(self) -> list[QueryRecord]:
        keys = [r["key"] for r in self.db.query("SELECT key FROM queries ORDER BY created_at")]
        return [q for q in (self.get_query(k) for k in keys) if q]

    def remember_query(self, key: str, params: dict[str, str], description: str, now: str) -> None:
        self.db.execute(
            "INSERT INTO queries (key, params, description, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(key) DO NOTHING",
            [key, json.dumps(params, sort_keys=True), description, now],
        )

    def set_query_progress(
        self, key: str, *, params: dict[str, str] | None, token: str | None, started_at: str | None
    ) -> None:
        """Where an in-flight fetch of this search has got to (all None = no fetch in flight)."""
        self.db.execute(
            "UPDATE queries SET resume_params = ?, resume_token = ?, resume_started_at = ? WHERE key = ?",
            [json.dumps(params, sort_keys=True) if params else None, token, started_at, key],
        )

    def complete_query(self, key: str, *, started_at: str, data_timestamp: str | None) -> None:
        n = self.db.execute("SELECT count(*) FROM query_studies WHERE query_key = ?", [key]).fetchone()[0]
        self.db.execute(
            "UPDATE queries SET fetched_at = ?, data_timestamp = ?, n_studies = ?, "
            "resume_params = NULL, resume_token = NULL, resume_started_at = NULL WHERE key = ?",
            [started_at, data_timestamp, n, key],
        )

    def link_query(self, key: str, ids: Iterable[int]) -> None:
        self.db.conn.executemany(
            "INSERT OR IGNORE INTO query_studies (query_key, study_id) VALUES (?, ?)",
            [(key, i) for i in ids],
        )

    # -- reads ---------------------------------------------------------------

    def get_record(self, nct_id: str) -> dict[str, Any] | None:
        """The raw API record for a study, or None if it isn't cached."""
        with self.errors("read"):
            row = self.db.execute(
                "SELECT raw FROM records WHERE id = (SELECT id FROM studies WHERE nct_id = ?)", [nct_id]
            ).fetchone()
        return self.unpack_record(row[0]) if row else None

    def get_row(self, nct_id: str) -> dict[str, Any] | None:
        """The derived columns of one study (no raw record)."""
        rows = self.get_rows([nct_id])
        return rows[0] if rows else None

    def get_rows(self, nct_ids: Sequence[str]) -> list[dict[str, Any]]:
        out = []
        with self.errors("read"):
            for chunk in _chunks(list(nct_ids), 500):
                marks = ",".join("?" * len(chunk))
                out += list(self.db.query(f"SELECT {_ROW_COLUMNS} FROM studies WHERE nct_id IN ({marks})", chunk))
        return out

    def iter_records(self, where: str = "1", params: Sequence[Any] = ()) -> Iterator[dict[str, Any]]:
        """Raw records of the studies matching a SQL condition on ``studies``."""
        with self.errors("read"):
            for (blob,) in self.db.execute(
                f"SELECT r.raw FROM studies JOIN records r ON r.id = studies.id WHERE {where} ORDER BY studies.id",
                params,
            ):
                yield self.unpack_record(blob)

    def query_study_ids(self, key: str) -> list[str]:
        """NCT ids a remembered search returned."""
        return [
            r[0]
            for r in self.db.execute(
                "SELECT s.nct_id FROM query_studies q JOIN studies s ON s.id = q.study_id WHERE q.query_key = ?",
                [key],
            )
        ]

    def search_text(
        self,
        match: str,
        *,
        statuses: Sequence[str] = (),
        status_order: Sequence[str] = (),
        limit: int | None = None,
        changed_since: str | None = None,
        ranked: bool = True,
    ) -> list[dict[str, Any]]:
        """Studies whose indexed text matches an FTS5 expression.

        Ranked: ordered by the position of their status in ``status_order``
        (others after), then by relevance. Ranking costs a few microseconds per
        matching study, most of the time when there are many; ``ranked=False``
        skips it and lists the newest registrations (highest NCT numbers) first,
        which lets a ``limit`` stop the scan early. ``changed_since`` keeps only
        studies whose record changed after that time. ``match`` must already be
        a safe FTS5 expression (see ``fts_expression``).
        """
        filters, params = [], []
        if statuses:
            filters.append(f"studies.status IN ({','.join('?' * len(statuses))})")
            params += list(statuses)
        if changed_since:
            filters.append("studies.changed_at > ?")
            params.append(changed_since)
        if ranked:
            weights = ", ".join(str(w) for w in FTS_WEIGHTS)
            order = "score"
            if status_order:
                cases = " ".join(f"WHEN ? THEN {i}" for i in range(len(status_order)))
                order = f"CASE studies.status {cases} ELSE {len(status_order)} END, score"
            sql = (
                f"SELECT {_STUDY_COLUMNS} FROM studies JOIN ("
                f"  SELECT rowid AS hit, bm25(studies_fts, {weights}) AS score FROM studies_fts"
                f"  WHERE studies_fts MATCH ?"
                f") ON studies.id = hit{''.join(' AND ' + f for f in filters)} ORDER BY {order}"
            )
            params = [match, *params, *(status_order if status_order else ())]
        else:
            sql = (
                f"SELECT {_STUDY_COLUMNS} FROM studies_fts JOIN studies ON studies.id = studies_fts.rowid"
                f" WHERE studies_fts MATCH ?{''.join(' AND ' + f for f in filters)} ORDER BY studies_fts.rowid DESC"
            )
            params = [match, *params]
        if limit:
            sql += " LIMIT ?"
            params.append(limit)
        with self.errors("search"):
            return list(self.db.query(sql, params))

    def count_text(self, match: str, *, at_most: int) -> int:
        """How many studies match an FTS5 expression, counting no further than ``at_most`` (cheap)."""
        sql = "SELECT count(*) FROM (SELECT rowid FROM studies_fts WHERE studies_fts MATCH ? LIMIT ?)"
        with self.errors("search"):
            return self.db.execute(sql, [match, at_most]).fetchone()[0]

    def get_criteria(self, nct_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """Parsed criteria by NCT id: (parser version, JSON). Studies never parsed are missing."""
        return self._derived("criteria", nct_ids)

    def _derived(self, kind: str, nct_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """What was derived from each study (``criteria`` or ``trust``) by NCT id: (version, JSON)."""
        table, column = BLOBS[kind]
        out: dict[str, tuple[str, str]] = {}
        with self.errors("read"):
            for chunk in _chunks(list(nct_ids), 500):
                marks = ",".join("?" * len(chunk))
                for nct_id, version, blob in self.db.execute(
                    f"SELECT s.nct_id, d.version, d.{column} FROM studies s JOIN {table} d ON d.id = s.id "
                    f"WHERE s.nct_id IN ({marks})",
                    chunk,
                ):
                    # Rows stored before they were compressed are plain JSON text.
                    out[nct_id] = (version, _plain(self.codec, blob).decode("utf-8"))
        return out

    def stale_derived(self, criteria_version: str, trust_version: str) -> list[int]:
        """Ids of studies whose parsed criteria or trust findings are missing or were made by other rules."""
        with self.errors("read"):
            return [
                r[0]
                for r in self.db.execute(
                    "SELECT s.id FROM studies s LEFT JOIN criteria c ON c.id = s.id LEFT JOIN trust t ON t.id = s.id "
                    "WHERE c.id IS NULL OR c.version != ? OR t.id IS NULL OR t.version != ?",
                    [criteria_version, trust_version],
                )
            ]

    def sites_for(self, nct_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Sites of these studies, keyed by NCT id."""
        out: dict[str, list[dict[str, Any]]] = {n: [] for n in nct_ids}
        with self.errors("read"):
            for chunk in _chunks(list(nct_ids), 500):
                marks = ",".join("?" * len(chunk))
                for row in self.db.query(
                    "SELECT s.nct_id, t.facility, t.city, t.state, t.country, t.status, t.lat, t.lon "
                    f"FROM sites t JOIN studies s ON s.id = t.study_id WHERE s.nct_id IN ({marks})",
                    chunk,
                ):
                    out[row.pop("nct_id")].append(row)
        return out

    def studies_with_site_like(self, place: str) -> set[str]:
        """NCT ids of studies with a site whose facility, city, state or country holds every word of ``place``."""
        words = _WORD.findall(place)
        if not words:
            return set()
        clause = " AND ".join(
            "(" + " OR ".join(f"t.{c} LIKE ? ESCAPE '\\'" for c in ("facility", "city", "state", "country")) + ")"
            for _ in words
        )
        params = [f"%{_like_escape(w)}%" for w in words for _ in range(4)]
        with self.errors("search"):
            return {
                r[0]
                for r in self.db.execute(
                    f"SELECT DISTINCT s.nct_id FROM sites t JOIN studies s ON s.id = t.study_id WHERE {clause}", params
                )
            }

    def history(self, nct_id: str) -> list[dict[str, Any]]:
        """Replaced versions of a study, oldest first."""
        with self.errors("read"):
            return list(
                self.db.query(
                    "SELECT replaced_at, last_update, status, eligibility, sites FROM study_history "
                    "WHERE nct_id = ? ORDER BY id",
                    [nct_id],
                )
            )

    def freshness(self) -> dict[str, Any]:
        """How many studies, the newest fetch and the registry's newest data timestamp (what a page shows)."""
        with self.errors("read"):
            n, newest, stamp = self.db.execute(
                "SELECT count(*), max(fetched_at), max(data_timestamp) FROM studies"
            ).fetchone()
        return {"studies": n, "newest_fetch": newest, "data_timestamp": stamp}

    def info(self) -> dict[str, Any]:
        """Counts, size on disk, data timestamp and fetch times."""
        with self.errors("read"):
            one = self.db.execute(
                "SELECT count(*), min(fetched_at), max(fetched_at), max(data_timestamp) FROM studies"
            ).fetchone()
            by_status = dict(
                self.db.execute(
                    "SELECT coalesce(status, '?'), count(*) FROM studies GROUP BY 1 ORDER BY 2 DESC"
                ).fetchall()
            )
            n_queries = self.db.execute("SELECT count(*) FROM queries").fetchone()[0]
            n_history = self.db.execute("SELECT count(*) FROM study_history").fetchone()[0]
        size = 0
        if str(self.path) != ":memory:":
            for suffix in ("", "-wal", "-shm"):
                p = Path(str(self.path) + suffix)
                size += p.stat().st_size if p.exists() else 0
        return {
            "path": str(self.path),
            "studies": one[0],
            "by_status": by_status,
            "oldest_fetch": one[1],
            "newest_fetch": one[2],
            "data_timestamp": one[3],
            "remembered_searches": n_queries,
            "history_versions": n_history,
            "size_bytes": size,
        }

    def clear(self) -> int:
        """Delete every cached study, search and history row; returns how many studies went."""
        with self.transaction():
            n = self.db.execute("SELECT count(*) FROM studies").fetchone()[0]
            for table in (
                "studies",
                "records",
                "criteria",
                "trust",
                "sites",
                "study_history",
                "queries",
                "query_studies",
                "dictionaries",
            ):
                self.db.execute(f"DELETE FROM {table}")
            self.db.execute("INSERT INTO studies_fts(studies_fts) VALUES ('delete-all')")
        self.codec = self._load_codec()
        with self.errors("compact"):
            self.db.execute("VACUUM")
        return n


STUDY_COLUMNS = (
    "id", "nct_id", "title", "status", "last_known_status", "study_type", "phases", "conditions", "keywords",
    "mesh_terms", "min_age", "max_age", "min_age_days", "max_age_days", "sex", "healthy_volunteers",
    "last_update", "status_verified", "has_results", "sponsor", "sponsor_class", "n_sites", "raw_hash",
    "fetched_at", "data_timestamp", "source", "changed_at", "criteria_hash",
)  # fmt: skip
_UPSERT_STUDY = (
    f"INSERT INTO studies ({', '.join(STUDY_COLUMNS)}) VALUES ({', '.join('?' * len(STUDY_COLUMNS))}) "
    "ON CONFLICT(id) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in STUDY_COLUMNS[1:])
)

_ROW_COLUMNS = (
    "nct_id, title, status, last_known_status, study_type, phases, conditions, keywords, mesh_terms, "
    "min_age, max_age, min_age_days, max_age_days, sex, healthy_volunteers, last_update, status_verified, "
    "has_results, sponsor, sponsor_class, n_sites, fetched_at, data_timestamp, source, changed_at, criteria_hash"
)
# The same, named through the table (the full-text index has columns of the same names).
_STUDY_COLUMNS = ", ".join(f"studies.{c.strip()}" for c in _ROW_COLUMNS.split(","))


def _sample_and_train(conn: sqlite3.Connection, codec: Codec, samples: int) -> dict[str, tuple[bytes, int]]:
    """A dictionary per kind trained from a random sample of what is stored: kind → (bytes, samples used)."""
    trained = {}
    for kind in KINDS:
        table, column = BLOBS[kind]
        sql = f"SELECT {column} FROM {table} ORDER BY random() LIMIT ?"
        picked = [_plain(codec, blob) for (blob,) in conn.execute(sql, [samples])]
        if picked:
            trained[kind] = (train(kind, picked), len(picked))
        del picked  # before the next kind's samples are read
    return trained


def train_from_file(path: str, samples: int) -> dict[str, tuple[bytes, int]]:
    """``_sample_and_train`` in a child process, reading the cache file on its own connection."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)
    try:
        rows = conn.execute("SELECT id, kind, data FROM dictionaries").fetchall()
        return _sample_and_train(conn, Codec({i: (kind, data) for i, kind, data in rows}), samples)
    finally:
        conn.close()
        sysmem.give_back()  # the samples and zstd's tables, when this runs in a long-lived worker


def train_elsewhere(path: Path, samples: int) -> dict[str, tuple[bytes, int]]:
    """Training holds the samples and zstd's working tables (~100 MB) at once; in a short-lived
    process that memory goes back to the system instead of staying with a long import."""
    context = multiprocessing.get_context("spawn")
    try:
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
            return pool.submit(train_from_file, str(path.resolve()), samples).result()
    except (OSError, concurrent.futures.process.BrokenProcessPool):
        # No child process to be had (a locked-down machine): train here instead.
        return train_from_file(str(path.resolve()), samples)


def _plain(codec: Codec, stored: bytes | str) -> bytes:
    """A stored value's bytes: unpacked, or as is for rows stored as plain text."""
    return stored.encode("utf-8") if isinstance(stored, str) else codec.unpack(stored)


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def fts_phrase(text: str) -> str | None:
    """User text as one FTS5 phrase (its words, in order, next to each other), safely quoted."""
    words = _WORD.findall(text or "")
    return '"' + " ".join(words).replace('"', '""') + '"' if words else None


def fts_expression(text: str) -> str | None:
    """Turn free user text into a safe FTS5 query: every word quoted, all required.

    Quotes, ``*``, ``NEAR``, ``AND``/``OR`` and parentheses lose any special
    meaning, so user input can never break or widen the query.
    """
    words = _WORD.findall(text or "")
    if not words:
        return None
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)
