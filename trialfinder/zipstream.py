"""Read the members of a zip file one at a time, with memory that does not grow with the archive.

``zipfile.ZipFile`` reads the whole central directory into memory when it
opens an archive: about 0.7 KB per entry, so 400 MB for the registry's bulk
download of 560,000 studies. ``iter_members`` walks the central directory
entry by entry instead, and ``Member.open()`` streams one member's bytes
(stored or deflated, ZIP64 included), checking its size and CRC at the end.
"""

from __future__ import annotations

import io
import os
import stat
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

_EOCD = struct.Struct("<4sHHHHIIH")  # end of central directory record
_ZIP64_LOCATOR = struct.Struct("<4sIQI")
_ZIP64_EOCD = struct.Struct("<4sQHHIIQQQQ")
_CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")
_LOCAL = struct.Struct("<4sHHHHHIIIHH")

_SIG_EOCD = b"PK\x05\x06"
_SIG_ZIP64_LOCATOR = b"PK\x06\x07"
_SIG_ZIP64_EOCD = b"PK\x06\x06"
_SIG_CENTRAL = b"PK\x01\x02"
_SIG_LOCAL = b"PK\x03\x04"

STORED, DEFLATED = 0, 8


class ZipError(OSError):
    """The archive, or one member of it, can't be read."""


@dataclass(frozen=True)
class Member:
    """One entry of the central directory."""

    path: str  # the archive's path on disk
    name: str
    method: int
    flags: int
    crc: int
    compressed_size: int
    size: int
    header_offset: int
    external_attr: int = 0  # on Unix archives, the file's mode in the upper 16 bits

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/")

    @property
    def is_symlink(self) -> bool:
        return stat.S_ISLNK(self.external_attr >> 16)

    def open(self) -> IO[bytes]:
        """A binary stream of this member's uncompressed bytes."""
        self._check_supported()
        return io.BufferedReader(_MemberReader(self), buffer_size=1 << 16)

    def _check_supported(self) -> None:
        if self.flags & 0x1:
            raise ZipError("encrypted zip entries are not supported")
        if self.method not in (STORED, DEFLATED):
            raise ZipError(f"compression method {self.method} is not supported (only stored and deflated)")

    def _seek_to_data(self, fh: IO[bytes]) -> None:
        """Move ``fh`` past this member's local header, to its compressed bytes."""
        fh.seek(self.header_offset)
        local = fh.read(_LOCAL.size)
        if len(local) != _LOCAL.size or local[:4] != _SIG_LOCAL:
            raise ZipError(f"the entry {self.name!r} has no valid local header")
        nlen, elen = _LOCAL.unpack(local)[-2:]
        fh.seek(nlen + elen, io.SEEK_CUR)

    def _verify(self, produced: int, crc: int) -> None:
        """The uncompressed size and CRC agree with the central directory."""
        if produced != self.size:
            raise ZipError(f"the entry {self.name!r} is cut short")
        if crc != self.crc:
            raise ZipError(f"the entry {self.name!r} is damaged (CRC mismatch)")


def iter_members(path: str | os.PathLike) -> Iterator[Member]:
    """Every entry of the archive's central directory, in order."""
    path = os.fspath(path)
    with open(path, "rb") as fh:
        count, cd_size, cd_offset, concat = _find_central_directory(fh)
        fh.seek(cd_offset + concat)
        reader = io.BufferedReader(fh, buffer_size=1 << 16)  # type: ignore[arg-type]
        for _ in range(count):
            fixed = reader.read(_CENTRAL.size)
            if len(fixed) != _CENTRAL.size:
                raise ZipError("the zip file's central directory is cut short")
            (sig, _, _, flags, method, _, _, crc, csize, usize, nlen, elen, clen, _, _, attr, offset) = _CENTRAL.unpack(
                fixed
            )
            if sig != _SIG_CENTRAL:
                raise ZipError("the zip file's central directory is damaged")
            raw_name = reader.read(nlen)
            extra = reader.read(elen)
            reader.read(clen)
            usize, csize, offset = _zip64_sizes(extra, usize, csize, offset)
            name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", errors="replace")
            yield Member(path, name, method, flags, crc, csize, usize, offset + concat, attr)


def _find_central_directory(fh: IO[bytes]) -> tuple[int, int, int, int]:
    """(entries, central directory size, its offset, bytes prepended to the archive)."""
    fh.seek(0, io.SEEK_END)
    end = fh.tell()
    tail_len = min(end, _EOCD.size + 65535)
    fh.seek(end - tail_len)
    tail = fh.read(tail_len)
    at = tail.rfind(_SIG_EOCD)
    if at < 0 or len(tail) - at < _EOCD.size:
        raise ZipError("not a zip file (no end of central directory record)")
    _, _, _, _, count, cd_size, cd_offset, _ = _EOCD.unpack_from(tail, at)
    eocd_pos = end - tail_len + at
    record_start = eocd_pos
    locator_at = at - _ZIP64_LOCATOR.size
    if locator_at >= 0 and tail[locator_at : locator_at + 4] == _SIG_ZIP64_LOCATOR:
        _, _, zip64_offset, _ = _ZIP64_LOCATOR.unpack_from(tail, locator_at)
        fh.seek(zip64_offset)
        block = fh.read(_ZIP64_EOCD.size)
        if len(block) == _ZIP64_EOCD.size and block[:4] == _SIG_ZIP64_EOCD:
            (_, _, _, _, _, _, _, count, cd_size, cd_offset) = _ZIP64_EOCD.unpack(block)
            record_start = eocd_pos - _ZIP64_LOCATOR.size - _ZIP64_EOCD.size
    # Self-extracting archives have bytes before the zip; offsets are then relative to the zip.
    concat = record_start - cd_size - cd_offset
    if concat < 0:
        raise ZipError("the zip file's central directory points outside the file")
    return count, cd_size, cd_offset, concat


def _zip64_sizes(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int, int]:
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, pos)
        if tag == 0x0001:
            data = extra[pos + 4 : pos + 4 + length]
            values = list(struct.unpack_from(f"<{len(data) // 8}Q", data))
            if usize == 0xFFFFFFFF and values:
                usize = values.pop(0)
            if csize == 0xFFFFFFFF and values:
                csize = values.pop(0)
            if offset == 0xFFFFFFFF and values:
                offset = values.pop(0)
            break
        pos += 4 + length
    return usize, csize, offset


def read_small(archive: IO[bytes], member: Member) -> bytes:
    """A small member's whole uncompressed bytes in one go, from an archive already open.

    Cheaper than ``Member.open`` for the registry's bulk download, whose half a million
    members are a few kilobytes each: no file opened per member, one inflate call.
    """
    member._check_supported()
    member._seek_to_data(archive)
    data = archive.read(member.compressed_size)
    if member.method == DEFLATED:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        # Never more than the size the directory promises (and one byte to notice a lie).
        data = inflater.decompress(data, member.size + 1)
    member._verify(len(data), zlib.crc32(data))
    return data


class _MemberReader(io.RawIOBase):
    """Decompresses one member on the fly and checks its size and CRC at the end."""

    def __init__(self, member: Member):
        self.member = member
        self.fh = open(member.path, "rb")
        try:
            member._seek_to_data(self.fh)
        except ZipError:
            self.fh.close()
            raise
        self.remaining = member.compressed_size
        self.inflater = zlib.decompressobj(-zlib.MAX_WBITS) if member.method == DEFLATED else None
        self.pending = b""
        self.crc = 0
        self.produced = 0
        self.finished = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self.pending and not self.finished:
            self._fill()
        n = min(len(buffer), len(self.pending))
        buffer[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n

    def _read(self) -> bytes:
        chunk = self.fh.read(min(self.remaining, 1 << 16)) if self.remaining > 0 else b""
        self.remaining -= len(chunk)
        return chunk

    def _fill(self) -> None:
        if self.inflater is None:
            out = self._read()
            done = not out
        else:
            # Output is capped per call so one member never needs more than ~1 MB at a time.
            data = self.inflater.unconsumed_tail or self._read()
            if data:
                out, done = self.inflater.decompress(data, 1 << 20), False
            else:
                out, done = self.inflater.flush(), True
        self.crc = zlib.crc32(out, self.crc)
        self.produced += len(out)
        self.pending = out
        if done:
            self.member._verify(self.produced, self.crc)
            self.finished = True

    def close(self) -> None:
        if not self.closed:
            self.fh.close()
        super().close()
