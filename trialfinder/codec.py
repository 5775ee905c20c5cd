"""How the cache compresses what it stores: raw records and parsed criteria.

Every stored blob starts with a marker byte:

    z   zlib, no dictionary (small caches, and anything stored before a dictionary existed)
    d   zstd with a dictionary; the next two bytes are the dictionary's id

Study records are small JSON documents that repeat the same keys, enum values
and phrases, so compressing each one alone wastes most of what they share. Once
a cache holds a few thousand studies, it trains a dictionary per kind (records,
parsed criteria) from a sample of its own contents and compresses with it from
then on: records shrink from about 4.8 kB to 2.7 kB each. Dictionaries are built
from the user's own cache, never shipped, and kept in the cache (``cache
clear`` drops them with everything else).
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import zstandard

from .errors import CacheError

KINDS = ("record", "criteria", "trust")
# Train once this many records are stored; sample this many; dictionary sizes in bytes.
TRAIN_AT = 2000
SAMPLES = 1000
DICT_SIZE = {"record": 112 * 1024, "criteria": 64 * 1024, "trust": 16 * 1024}
ZLIB_LEVEL = 3
# One level for every kind. Level 7 makes records about 11% smaller (2.6 kB instead of 2.9 kB)
# but costs ~170 µs more per record, a tenth of an import's CPU: it had pushed a bulk import
# below 1,000 studies/s. Measured on the real records, see bench/RESULTS.md.
ZSTD_LEVEL = 3


@dataclass
class Codec:
    """Packs and unpacks blobs. ``dictionaries`` maps id → (kind, bytes); the newest of a kind is used to pack."""

    dictionaries: dict[int, tuple[str, bytes]] = field(default_factory=dict)
    _local: threading.local = field(default_factory=threading.local, repr=False, compare=False)

    def current(self, kind: str) -> int | None:
        ids = [i for i, (k, _) in self.dictionaries.items() if k == kind]
        return max(ids) if ids else None

    def pack(self, kind: str, data: bytes) -> bytes:
        dict_id = self.current(kind)
        if dict_id is None:
            return b"z" + zlib.compress(data, ZLIB_LEVEL)
        return b"d" + dict_id.to_bytes(2, "big") + self._compressor(dict_id).compress(data)

    def unpack(self, blob: bytes) -> bytes:
        marker = blob[:1]
        try:
            if marker == b"z":
                return zlib.decompress(blob[1:])
            if marker == b"d":
                dict_id = int.from_bytes(blob[1:3], "big")
                if dict_id not in self.dictionaries:
                    raise CacheError("the cache lost a compression dictionary; run `trialfinder cache clear`")
                return self._decompressor(dict_id).decompress(blob[3:])
        except (zlib.error, zstandard.ZstdError) as exc:
            raise CacheError(f"a stored record is damaged ({exc}); run `trialfinder cache clear`") from None
        raise CacheError("the cache holds a record in an unknown format; run `trialfinder cache clear`")

    def spec(self) -> dict[int, tuple[str, bytes]]:
        """Plain data to rebuild this codec in another process."""
        return dict(self.dictionaries)

    # zstandard's compressors and decompressors must not be shared between threads.
    def _compressor(self, dict_id: int) -> zstandard.ZstdCompressor:
        cache = self._local.__dict__.setdefault("compressors", {})
        if dict_id not in cache:
            data = zstandard.ZstdCompressionDict(self.dictionaries[dict_id][1])
            cache[dict_id] = zstandard.ZstdCompressor(level=ZSTD_LEVEL, dict_data=data)
        return cache[dict_id]

    def _decompressor(self, dict_id: int) -> zstandard.ZstdDecompressor:
        cache = self._local.__dict__.setdefault("decompressors", {})
        if dict_id not in cache:
            cache[dict_id] = zstandard.ZstdDecompressor(
                dict_data=zstandard.ZstdCompressionDict(self.dictionaries[dict_id][1])
            )
        return cache[dict_id]


def train(kind: str, samples: Sequence[bytes]) -> bytes:
    """A zstd dictionary for ``kind`` from sample documents."""
    return zstandard.train_dictionary(DICT_SIZE[kind], list(samples)).as_bytes()


_worker_codecs: dict[tuple[int, ...], Codec] = {}


def from_spec(spec: dict[int, tuple[str, bytes]]) -> Codec:
    """The codec a worker process should use (built once per set of dictionaries)."""
    key = tuple(sorted(spec))
    if key not in _worker_codecs:
        _worker_codecs[key] = Codec(dict(spec))
    return _worker_codecs[key]
