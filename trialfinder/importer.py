"""Read study records from files, streaming, whatever shape they come in.

Accepted: a single study (``/studies/{id}`` output), an API list response
(``{"studies": [...]}``), the website's "Download → JSON" array
(``ctg-studies.json``), a zip of any of these (the registry's bulk download is
a zip of one file per study), or a folder holding any of them.

``iter_records`` yields ``(where, record)`` pairs, or ``(where, Rejected)``
for something that can't be read, so one bad file or record never stops the
rest. Large arrays are decoded one element at a time: memory does not grow
with the size of the input.
"""

from __future__ import annotations

import collections
import concurrent.futures
import io
import json
import multiprocessing
import os
import queue
import re
import sys
import threading
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from . import sysmem, zipstream
from .cache import Cache, train_elsewhere, train_from_file, utcnow
from .codec import from_spec
from .errors import InputError
from .ingest import Counts, Prepared, prepare, save_prepared

CHUNK_CHARS = 1 << 20
# A single element bigger than this is treated as broken rather than buffered.
MAX_ELEMENT_CHARS = 256 << 20
# Objects up to this size are parsed in one go; bigger ones are streamed.
WHOLE_FILE_LIMIT = 32 << 20
# Zip members up to this size are read and inflated in one call.
SMALL_MEMBER = 4 << 20

_DECODER = json.JSONDecoder()
_SKIP = re.compile(r"[\s,]*")
_RECORD_START = re.compile(r'\{\s*"protocolSection"')
_STUDIES_KEY = re.compile(r'"studies"\s*:\s*\[')


@dataclass(frozen=True)
class Rejected:
    reason: str


@dataclass(frozen=True)
class Raw:
    """An undecoded JSON document: one study, or an API list response. Decoded by ``ingest.prepare_batch``."""

    data: str | bytes


Item = tuple[str, "dict[str, Any] | Raw | Rejected"]


def iter_records(paths: Iterable[str | os.PathLike]) -> Iterator[Item]:
    """Every record in these files, zips and folders, in a stable order, decoded."""
    for where, item in iter_sources(paths):
        if isinstance(item, Raw):
            yield from _iter_whole(item.data, where)
        else:
            yield where, item


def iter_sources(paths: Iterable[str | os.PathLike]) -> Iterator[Item]:
    """Like ``iter_records``, but small documents and array elements come undecoded (``Raw``).

    Decoding then happens where the rest of the work on a record happens: in
    the import's worker processes.
    """
    for path in paths:
        path = Path(path)
        if path.is_dir() and not path.is_symlink():
            yield from _iter_folder(path)
        elif path.is_file():
            yield from _iter_file(path)
        elif not path.exists():
            yield str(path), Rejected("no such file or folder")
        else:
            yield str(path), Rejected("not a regular file or folder")


def _iter_folder(folder: Path) -> Iterator[Item]:
    # Symlinked folders are not followed: an import reads what the user pointed at.
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            if name.lower().endswith((".json", ".zip")):
                yield from _iter_file(Path(root) / name)


def _iter_file(path: Path) -> Iterator[Item]:
    where = str(path)
    try:
        if path.suffix.lower() == ".zip" or zipfile.is_zipfile(path):
            yield from _iter_zip(path)
            return
        with open(path, "rb") as fh:
            yield from iter_stream(fh, where, size=path.stat().st_size)
    except OSError as exc:
        yield where, Rejected(f"can't read the file: {exc.strerror or exc}")


def _iter_zip(path: Path) -> Iterator[Item]:
    # zipstream walks the central directory entry by entry: memory stays flat
    # even for the registry's bulk download of more than half a million files.
    try:
        members = zipstream.iter_members(path)
        archive = open(path, "rb")  # noqa: SIM115 (closed below; the generator may stop early)
    except OSError as exc:
        yield str(path), Rejected(f"can't read the file: {exc.strerror or exc}")
        return
    try:
        for member in members:
            where = f"{path}!{member.name}"
            if member.is_dir:
                continue
            if not _safe_member(member.name):
                yield where, Rejected("refused: the zip entry's name points outside the archive")
                continue
            if member.is_symlink:
                yield where, Rejected("refused: the zip entry is a symbolic link")
                continue
            if not member.name.lower().endswith(".json"):
                continue
            try:
                if member.size <= SMALL_MEMBER:  # the bulk download's one-study files: read in one call
                    fh = io.BufferedReader(io.BytesIO(zipstream.read_small(archive, member)))
                else:
                    fh = member.open()
                with fh:
                    yield from iter_stream(fh, where, size=member.size)
            except (OSError, EOFError, zlib.error, zipstream.ZipError) as exc:
                yield where, Rejected(f"can't read this zip entry: {exc}")
    except zipstream.ZipError as exc:
        yield str(path), Rejected(f"not a readable zip file: {exc}")
    finally:
        archive.close()


def _safe_member(name: str) -> bool:
    pure = PurePosixPath(name.replace("\\", "/"))
    return not pure.is_absolute() and ".." not in pure.parts and not re.match(r"^[A-Za-z]:", name)


def iter_stream(fh: IO[bytes], where: str, *, size: int | None = None) -> Iterator[Item]:
    """Records from one JSON document (a study, a list response or an array).

    Arrays are always decoded element by element, so one broken record costs
    only itself; small objects are parsed in one go.
    """
    buffered = fh if isinstance(fh, io.BufferedIOBase) else io.BufferedReader(fh)  # type: ignore[arg-type]
    first = buffered.peek(4096)[:4096].lstrip()[:1]
    if first == b"{" and size is not None and size <= WHOLE_FILE_LIMIT:
        yield where, Raw(buffered.read())
        return
    text = io.TextIOWrapper(buffered, encoding="utf-8", errors="replace")
    try:
        yield from _iter_document(text, where)
    finally:
        text.detach()  # the caller owns ``fh`` and closes it


def _iter_whole(data: str | bytes, where: str) -> Iterator[Item]:
    """A study or list response small enough to parse in one go."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        match = _STUDIES_KEY.search(text)
        if match:  # a list response with a broken record: read the good ones
            for place, element in _iter_array(io.StringIO(), text[match.end() :], where):
                if isinstance(element, Raw):
                    yield from _iter_whole(element.data, place)
                else:
                    yield place, element
        else:
            yield where, Rejected(f"not valid JSON ({exc.msg} at line {exc.lineno})")
        return
    if isinstance(doc, dict) and isinstance(doc.get("studies"), list):
        for i, record in enumerate(doc["studies"]):
            yield from _checked(f"{where}[{i}]", record)
    else:
        yield from _checked(where, doc)


def _iter_document(text: io.TextIOWrapper, where: str) -> Iterator[Item]:
    """A large document, streamed: the elements of its top-level array or of its ``studies`` list."""
    head = text.read(4096)
    first = head.lstrip()[:1]
    if first == "[":
        yield from _iter_array(text, head[head.index("[") + 1 :], where)
        return
    match = _STUDIES_KEY.search(head) if first == "{" else None
    if match:
        yield from _iter_array(text, head[match.end() :], where)
    elif first == "{":
        yield where, Rejected("a very large JSON object without a list of studies near its start")
    else:
        yield where, Rejected("not JSON: expected a study object, an API list response or a JSON array")


def _checked(where: str, record: Any) -> Iterator[Item]:
    if isinstance(record, dict) and isinstance(record.get("protocolSection"), dict):
        yield where, record
    else:
        yield where, Rejected("not a study record (no protocolSection)")


def _iter_array(text: IO[str], buf: str, where: str) -> Iterator[Item]:
    """Decode the elements of a JSON array one at a time; ``buf`` starts just after ``[``."""
    pos = 0
    index = 0
    eof = False
    while True:
        pos = _SKIP.match(buf, pos).end()
        if pos >= len(buf):
            if eof:
                yield f"{where}[{index}]", Rejected("the file ends before the array is closed")
                return
            buf, pos = text.read(CHUNK_CHARS), 0
            eof = not buf
            continue
        if buf[pos] == "]":
            return
        end = _split_end(buf, pos)
        if end is not None:  # the usual case: handed on undecoded, the worker decodes it
            yield f"{where}[{index}]", Raw(buf[pos:end])
            index += 1
            pos = end
            continue
        try:
            _, end = _DECODER.raw_decode(buf, pos)
        except json.JSONDecodeError as exc:
            incomplete = exc.msg.startswith("Unterminated string") or exc.pos >= len(buf) - 16
            if incomplete and not eof and len(buf) - pos < MAX_ELEMENT_CHARS:
                more = text.read(CHUNK_CHARS)
                if more:
                    buf, pos = buf[pos:] + more, 0
                else:
                    eof = True
                continue
            yield f"{where}[{index}]", Rejected(f"not valid JSON ({exc.msg})")
            index += 1
            buf, pos, eof = _resync(text, buf, pos + 1, eof)
            if buf is None:
                return
            continue
        # The element's own text: decoding found where it ends; the worker decodes it again for use.
        yield f"{where}[{index}]", Raw(buf[pos:end])
        index += 1
        pos = end


def _split_end(buf: str, pos: int) -> int | None:
    """Where the study record starting at ``pos`` ends, found without decoding it, or None.

    Decoding a record only to find its end cost the reading process as much as all its other
    work on an array. In an array of study records, the next ``{"protocolSection"`` (which can't
    occur inside a JSON string, whose quotes are escaped) follows this record's closing brace
    and a comma. The cut is used only when the braces and brackets in between balance; anything
    else (the last record, other key orders, odd input) is decoded to find its end, as before.
    """
    if not _RECORD_START.match(buf, pos):
        return None
    following = _RECORD_START.search(buf, pos + 1)
    if following is None:
        return None
    end = following.start() - 1
    while end > pos and buf[end] in " \t\r\n":
        end -= 1
    if buf[end] != ",":
        return None
    end -= 1
    while end > pos and buf[end] in " \t\r\n":
        end -= 1
    if buf[end] != "}":
        return None
    end += 1
    if buf.count("{", pos, end) != buf.count("}", pos, end) or buf.count("[", pos, end) != buf.count("]", pos, end):
        return None
    return end


def _resync(text: IO[str], buf: str, pos: int, eof: bool) -> tuple[str | None, int, bool]:
    """After a broken element, find the start of the next study record."""
    while True:
        match = _RECORD_START.search(buf, pos)
        if match:
            return buf, match.start(), eof
        if eof:
            return None, 0, eof
        # Keep a short tail in case a record start straddles the chunk boundary.
        tail = buf[-64:]
        more = text.read(CHUNK_CHARS)
        eof = not more
        buf, pos = tail + more, 0


def prepare_batch(
    items: Sequence[tuple[str, Any]],
    *,
    fetched_at: str,
    source: str | None = None,
    dictionaries: dict[int, tuple[str, bytes]] | None = None,
) -> tuple[list[Prepared], list[tuple[str, str]]]:
    """Everything an import does to a batch before storing it: decode, flatten, parse criteria, compress.

    Runs in the import's worker processes, so it takes and returns plain data:
    ``(where, record or Raw document)`` pairs in, prepared records and
    ``(where, why)`` rejections out.
    """
    sysmem.give_back()  # what the previous batch left behind
    codec = from_spec(dictionaries or {})
    prepared: list[Prepared] = []
    rejected: list[tuple[str, str]] = []
    for where, item in items:
        decoded = _iter_whole(item.data, where) if isinstance(item, Raw) else [(where, item)]
        for place, record in decoded:
            if isinstance(record, Rejected):
                rejected.append((place, record.reason))
                continue
            try:
                ready = prepare(record, fetched_at=fetched_at, source=source)
            except InputError as exc:
                rejected.append((place, str(exc)))
                continue
            ready.row["raw"], ready.raw_json = codec.pack("record", ready.raw_json), b""
            prepared.append(ready)
    return prepared, rejected


class _Writer(threading.Thread):
    """Saves prepared batches in the background, in arrival order.

    SQLite releases the GIL, so the writes overlap with reading the next
    records. The queue is bounded: memory stays flat.
    """

    def __init__(self, cache: Cache, fetched_at: str, total: Counts, progress: Any):
        super().__init__(name="trialfinder-import-writer", daemon=True)
        self.cache = cache
        self.fetched_at = fetched_at
        self.total = total
        self.progress = progress
        self.queue: queue.Queue[list[Prepared] | None] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.trainer: Any = None  # trains compression dictionaries elsewhere (see Cache.train_dictionaries)

    def run(self) -> None:
        while (batch := self.queue.get()) is not None:
            if self.error is not None:
                continue  # drain after a failure
            try:
                self.total.add(save_prepared(self.cache, batch, fetched_at=self.fetched_at))
                del batch
                self.cache.train_dictionaries(trainer=self.trainer)
                sysmem.give_back()
                if self.progress:
                    self.progress(self.total)
            except BaseException as exc:  # handed to the main thread
                self.error = exc

    def put(self, batch: list[Prepared]) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(batch)

    def finish(self) -> None:
        self.queue.put(None)
        self.join()
        if self.error is not None:
            raise self.error


def import_paths(
    cache: Cache,
    paths: Iterable[str | os.PathLike],
    *,
    batch_size: int = 150,
    progress: Any = None,
    workers: int | None = None,
) -> Counts:
    """Import every record found under ``paths`` into the cache, a batch per transaction.

    The work on each record (decode, flatten, compress, parse its criteria) runs
    in worker processes, one per core; this process only reads the files and,
    in a writer thread, stores the results in order. ``workers=0`` does
    everything here.
    """
    paths = list(paths)
    for path in paths:
        if not os.path.exists(path):
            raise InputError(f"can't import {path}: no such file or folder")
    total = Counts()
    fetched_at = utcnow()
    writer = _Writer(cache, fetched_at, total, progress)
    if workers is None:
        workers = (os.cpu_count() or 1) if _can_spawn() else 0
    preparer = _Preparer(writer, total, workers, fetched_at, cache)
    writer.trainer = preparer.train
    with cache.small_page_cache():
        writer.start()
        batch: list[tuple[str, Any]] = []
        try:
            for where, item in iter_sources(paths):
                if isinstance(item, Rejected):
                    total.rejected.append((where, item.reason))
                    continue
                batch.append((where, item))
                if len(batch) >= batch_size:
                    preparer.put(batch)
                    batch = []
            if batch:
                preparer.put(batch)
            preparer.finish()
        finally:
            preparer.close()
            writer.finish()
    return total


def _can_spawn() -> bool:
    """A worker process re-imports the main script; that fails when it was typed in (``<stdin>``)."""
    path = getattr(sys.modules.get("__main__"), "__file__", None)
    return path is None or os.path.exists(path)


class _Preparer:
    """Runs ``prepare_batch`` in worker processes, handing results to the writer in order.

    At most ``workers + 1`` batches are in flight. If a worker can't be
    started or dies (a parent without an importable main module, a killed
    process), the batch is prepared here instead: slower, never lost.
    """

    def __init__(self, writer: _Writer, total: Counts, workers: int, fetched_at: str, cache: Cache):
        self.cache = cache  # read only for its codec, which the writer replaces once it has trained one
        self.writer = writer
        self.total = total
        self.workers = workers
        self.fetched_at = fetched_at
        self.pool: concurrent.futures.ProcessPoolExecutor | None = None
        self.pending: collections.deque[tuple[list[tuple[str, Any]], concurrent.futures.Future]] = collections.deque()
        self.batches = 0

    def put(self, batch: list[tuple[str, Any]]) -> None:
        self.batches += 1
        # A small import (one batch) is not worth starting processes for.
        if self.workers and self.batches >= 2 and self.pool is None:
            self.pool = concurrent.futures.ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn")
            )
        if self.pool is None:
            self._done(self._here(batch))
            return
        try:
            future = self.pool.submit(
                prepare_batch, batch, fetched_at=self.fetched_at, source="import", dictionaries=self.cache.codec.spec()
            )
        except (concurrent.futures.process.BrokenProcessPool, OSError, RuntimeError):
            self._give_up_pool()
            self._done(self._here(batch))
            return
        self.pending.append((batch, future))
        while len(self.pending) > self.workers + 1:
            self._done(self._oldest())

    def train(self, path: Path, samples: int) -> dict[str, tuple[bytes, int]]:
        """Train the cache's compression dictionaries in a worker: no extra process, and the worker
        gives the memory back afterwards. (Called from the writer thread; the pool is thread-safe.)"""
        pool = self.pool
        if pool is not None:
            try:
                return pool.submit(train_from_file, str(path.resolve()), samples).result()
            except (concurrent.futures.process.BrokenProcessPool, OSError, RuntimeError):
                pass
        return train_elsewhere(path, samples)

    def _here(self, batch: list[tuple[str, Any]]) -> tuple[list[Prepared], list[tuple[str, str]]]:
        return prepare_batch(batch, fetched_at=self.fetched_at, source="import", dictionaries=self.cache.codec.spec())

    def _oldest(self) -> tuple[list[Prepared], list[tuple[str, str]]]:
        batch, future = self.pending.popleft()
        try:
            return future.result()
        except (concurrent.futures.process.BrokenProcessPool, OSError):
            self._give_up_pool()
            return self._here(batch)

    def _give_up_pool(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
        self.pool, self.workers = None, 0

    def _done(self, result: tuple[list[Prepared], list[tuple[str, str]]]) -> None:
        prepared, rejected = result
        self.total.rejected += rejected
        if prepared:
            self.writer.put(prepared)

    def finish(self) -> None:
        while self.pending:
            self._done(self._oldest())

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
