"""What the cache and the user database share: one-line errors, all-or-nothing writes, migrations.

Each database names itself and says what to do when it can't be written or
read (``Wording``); the SQLite failure behind it is turned into that one line.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Self

import sqlite_utils
from sqlite_utils.migrations import Migrations

from .errors import CacheError


@dataclass(frozen=True)
class Wording:
    name: str  # "the cache", "your data"
    move: str  # how to choose another place
    damaged: str  # what to do when the file can't be read
    full: str  # what a full disk means for this file


@contextlib.contextmanager
def sqlite_errors(path: Path, doing: str, wording: Wording) -> Iterator[None]:
    """Turn SQLite failures into one-line ``CacheError``s that say what to do."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        text = str(exc)
        # SQLITE_IOERR_SHMSIZE: the WAL index (-shm) could not be grown, which on open means no space left.
        if "disk is full" in text or getattr(exc, "sqlite_errorname", "") == "SQLITE_IOERR_SHMSIZE":
            msg = f"the disk is full; {wording.full}"
        elif "readonly" in text or "read-only" in text:
            msg = f"{wording.name} at {path} is read-only; nothing was changed. {wording.move}"
        elif "locked" in text or "busy" in text:
            msg = f"{wording.name} stayed busy (another trialfinder is writing to it); nothing was changed, try again"
        elif "unable to open" in text:
            msg = f"can't open {wording.name} at {path}; {wording.move}"
        else:
            msg = f"{wording.name} failed while trying to {doing}: {text}"
        raise CacheError(msg) from None
    except sqlite3.DatabaseError as exc:
        raise CacheError(f"{wording.name} at {path} is damaged ({exc}); {wording.damaged}") from None


def use_wal(db: sqlite_utils.Database, wait: float = 30.0) -> None:
    """Switch the file to write-ahead logging. Two processes making the switch on a new file at the
    same moment get "locked" at once (SQLite doesn't wait for that lock), so try again briefly."""
    deadline = time.monotonic() + wait
    while True:
        try:
            db.enable_wal()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def migrate(db: sqlite_utils.Database, migrations: Migrations) -> None:
    """Apply pending schema migrations holding the write lock throughout, so processes that open a
    new (or older) file at the same moment wait for each other instead of racing to create tables."""
    if not migrations.pending(db):
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        migrations.apply(db)  # checks again under the lock; each step runs in a savepoint
    except BaseException:
        db.conn.rollback()
        raise
    db.conn.commit()


@contextlib.contextmanager
def write_transaction(
    conn: sqlite3.Connection, errors: Callable[[str], AbstractContextManager[None]]
) -> Iterator[None]:
    """One write transaction: committed at the end, rolled back on any error (nothing half-written)."""
    if conn.in_transaction:
        raise RuntimeError("transactions don't nest")
    with errors("save"):
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.rollback()
            raise
        conn.commit()


class SQLiteFile:
    """What the cache and the user database have in common once open: closing, one-line errors
    worded for that file, and all-or-nothing write transactions."""

    wording: ClassVar[Wording]
    path: Path
    db: sqlite_utils.Database

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def errors(self, doing: str) -> AbstractContextManager[None]:
        """Turn SQLite failures into one-line ``CacheError``s that say what to do."""
        return sqlite_errors(self.path, doing, self.wording)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Self]:
        """One write transaction: committed at the end; on any error (or a full disk), nothing is changed."""
        with write_transaction(self.db.conn, self.errors):
            yield self
