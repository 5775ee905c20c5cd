"""The streaming zip reader agrees with zipfile on every layout it may meet."""

from __future__ import annotations

import dataclasses
import io
import zipfile

import pytest

from trialfinder.zipstream import ZipError, iter_members, read_small

PAYLOADS = {
    "NCT01000001.json": b'{"a": 1}' * 5000,
    "sub/NCT01000002.json": b"x" * 10,
    "empty.json": b"",
    "caf\u00e9/\u00e9t\u00e9.json": "\u00e9".encode() * 3000,
}


def read_all(path, whole=False):
    """Every member's bytes, streamed (``Member.open``) or in one go (``read_small``)."""
    out = {}
    with open(path, "rb") as archive:
        for member in iter_members(path):
            if member.is_dir:
                continue
            if whole:
                out[member.name] = read_small(archive, member)
            else:
                with member.open() as fh:
                    out[member.name] = fh.read()
    return out


@pytest.fixture(params=[False, True], ids=["streamed", "whole"])
def whole(request):
    return request.param


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_reads_what_zipfile_wrote(tmp_path, compression, whole):
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        zf.writestr("folder/", b"")
        for name, data in PAYLOADS.items():
            zf.writestr(name, data)
    assert read_all(path, whole) == PAYLOADS


def test_zip64_entries(tmp_path, whole):
    path = tmp_path / "z64.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in PAYLOADS.items():
            with zf.open(name, "w", force_zip64=True) as fh:
                fh.write(data)
    assert read_all(path, whole) == PAYLOADS


def test_data_descriptors_from_an_unseekable_writer(tmp_path, whole):
    class Unseekable(io.RawIOBase):
        def __init__(self):
            self.buf = io.BytesIO()

        def writable(self):
            return True

        def write(self, b):
            return self.buf.write(b)

    sink = Unseekable()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in PAYLOADS.items():
            zf.writestr(name, data)
    path = tmp_path / "stream.zip"
    path.write_bytes(sink.buf.getvalue())
    assert read_all(path, whole) == PAYLOADS


def test_bytes_prepended_to_the_archive(tmp_path, whole):
    inner = tmp_path / "inner.zip"
    with zipfile.ZipFile(inner, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in PAYLOADS.items():
            zf.writestr(name, data)
    path = tmp_path / "sfx.zip"
    path.write_bytes(b"#!/bin/sh\nexit 0\n" * 100 + inner.read_bytes())
    assert read_all(path, whole) == PAYLOADS


def test_damaged_member_is_reported(tmp_path, whole):
    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("a.json", b"A" * 1000)
    data = bytearray(path.read_bytes())
    data[data.index(b"AAAA")] = ord("B")
    path.write_bytes(bytes(data))
    with pytest.raises(ZipError, match="CRC"):
        read_all(path, whole)


def test_a_member_longer_than_its_directory_says_is_refused(tmp_path, whole):
    path = tmp_path / "lie.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.json", b"A" * 5000)
    (member,) = list(iter_members(path))
    liar = dataclasses.replace(member, size=100)  # a bomb would claim little and inflate to much
    with pytest.raises(ZipError, match="cut short|damaged"), open(path, "rb") as archive:
        if whole:
            read_small(archive, liar)
        else:
            with liar.open() as fh:
                fh.read()


def test_not_a_zip(tmp_path):
    path = tmp_path / "x.zip"
    path.write_bytes(b"hello" * 100)
    with pytest.raises(ZipError, match="not a zip"):
        list(iter_members(path))
