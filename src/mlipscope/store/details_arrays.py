"""Numpy arrays in evaluation details, kept in binary by the DuckDB store.

A property that chose a storage precision for an array of its details gives it a narrow dtype (int8 to int32,
uint8 to uint32, float16 or float32: the per-frame errors of the dataset evaluations,
:mod:`mlipscope.properties.frame_data`). As JSON text a number costs up to ~20 bytes; such an array is byte-shuffled
(the bytes of equal significance together; signed integers zigzag-encoded first, so that small negative numbers
have zero high bytes as small positive ones do), each byte plane zlib-compressed on its own (its own Huffman table:
the high bytes of small errors take a few bits, the low bytes ~8; one stream for all planes, as files of schema 3
hold, costs 6-10 % more and is read too), into the row's ``evaluations.arrays`` BLOB, and the details JSON holds
``{"$ndarray": [dtype, shape, offset, length]}`` in its place. Reading restores the array with its dtype and shape.
Other arrays (float64, int64, bool: numpy's defaults, which properties have always put into details) stay JSON lists
as before, so their readers see what they always saw; details without narrow arrays are stored as before
(``arrays`` NULL), and details of files written before the column existed read as they always did. Other stores keep
the arrays as they are (in memory) or as JSON lists (:func:`~mlipscope.store.provenance.to_json`); readers of narrow
arrays accept both.

Shared arrays (schema 4): many evaluations hold the same array (every member's frame indices, atom counts and stored
atoms of a dataset: ~1 kB per member of the scale example, 2 MB of its store). A packed array that a writer saw
before (:class:`SharedArrays`: the shared ones, and a bounded memory of recent ones) is kept once in the table
``shared_arrays`` under its hash, and the details hold ``{"$ndarray": [dtype, shape, hash]}``; the first evaluation
that held it keeps its own copy. Its rows are never deleted (an evaluation stored again may leave one unreferenced:
a few hundred bytes).
"""

from __future__ import annotations

import hashlib
import zlib
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np

ARRAY_TAG = "$ndarray"
_KINDS = "iuf"  # signed and unsigned integers and floats of fewer than 8 bytes: stored in binary
_LEVEL = 6
#: packed arrays shorter than this stay in their row: a reference costs ~30 bytes of JSON
SHARED_MIN_BYTES = 48
#: how many hashes of recently stored packed arrays a writer remembers (an array seen again among them is shared)
RECENT_HASHES = 4096
_HASH_BYTES = 10  # 80 bits; a payload found under its hash is compared byte for byte anyway


def _pack(array: np.ndarray) -> bytes:
    size = array.dtype.itemsize
    values = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("="))  # native order for the arithmetic
    if values.dtype.kind == "i":  # zigzag: 0, -1, 1, -2, ... -> 0, 1, 2, 3, ...
        values = ((values << 1) ^ (values >> (8 * size - 1))).view(f"=u{size}")
    raw = values.astype(values.dtype.newbyteorder("<")).view(np.uint8).reshape(-1, size)  # stored little-endian
    # shuffled, one zlib stream per byte plane: exponents and high bytes compress, noise does not
    return b"".join(zlib.compress(plane.tobytes(), _LEVEL) for plane in raw.T)


def _inflate(payload: bytes, n_bytes: int) -> bytes:
    """The concatenated zlib streams of ``payload`` (one per byte plane, or one for all: schema 3), decompressed."""
    parts: list[bytes] = []
    rest, got = payload, 0
    while got < n_bytes:
        stream = zlib.decompressobj()
        part = stream.decompress(rest)
        if not part or not stream.eof:
            raise ValueError(f"a packed array ends after {got} of its {n_bytes} bytes")
        parts.append(part)
        got += len(part)
        rest = stream.unused_data
    return b"".join(parts)


def _unpack(payload: bytes, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    size = dtype.itemsize
    n_bytes = size * int(np.prod(shape, dtype=np.int64))
    raw = np.frombuffer(_inflate(payload, n_bytes), dtype=np.uint8).reshape(size, -1).T.copy()
    stored = np.dtype(f"<u{size}") if dtype.kind == "i" else dtype.newbyteorder("<")
    values = raw.view(stored).reshape(shape).astype(stored.newbyteorder("="))
    if dtype.kind == "i":  # back from zigzag (unsigned arithmetic, wrapping)
        values = ((values >> 1) ^ (np.zeros_like(values) - (values & 1))).view(f"=i{size}")
    return values.astype(dtype)


class SharedArrays:
    """A writer's shared arrays: those in the ``shared_arrays`` table (``stored``, hash -> packed bytes), those to
    insert with the next write of its buffered evaluations (``pending``), and the hashes of recently packed arrays
    kept in their rows (up to ``recent`` of them). :func:`split_arrays` asks :meth:`key_for` per packed array."""

    def __init__(self, stored: Mapping[str, bytes] | None = None, recent: int = RECENT_HASHES) -> None:
        self.stored: dict[str, bytes] = dict(stored or {})
        self.pending: dict[str, bytes] = {}
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._recent_max = recent

    def key_for(self, payload: bytes) -> str | None:
        """The hash to refer to ``payload`` by (shared, stored once), or None: keep it in the row."""
        if len(payload) < SHARED_MIN_BYTES:
            return None
        key = hashlib.blake2b(payload, digest_size=_HASH_BYTES).hexdigest()
        known = self.stored.get(key, self.pending.get(key))
        if known is not None:
            return key if known == payload else None  # another array under the same hash: kept in the row
        if key in self._recent:  # the second time: shared from now on
            del self._recent[key]
            self.pending[key] = payload
            return key
        self._recent[key] = None
        if len(self._recent) > self._recent_max:
            self._recent.popitem(last=False)
        return None

    def payloads(self) -> Mapping[str, bytes]:
        """Every shared array by hash, pending ones included (what :func:`join_arrays` reads)."""
        return {**self.stored, **self.pending} if self.pending else self.stored

    def written(self) -> None:
        """The pending arrays were committed with the buffer that refers to them."""
        self.stored.update(self.pending)
        self.pending.clear()

    def dropped(self) -> None:
        """The buffer that refers to the pending arrays was dropped (its write failed): so are they."""
        self.pending.clear()


def split_arrays(details: Any, shared: SharedArrays | None = None) -> tuple[Any, bytes | None]:
    """(``details`` with each narrow numeric numpy array replaced by a reference, the packed arrays of the row or
    None). With ``shared``, an array it has seen before is referred to by its hash instead (module doc)."""
    chunks: list[bytes] = []
    offset = 0

    def walk(obj: Any) -> Any:
        nonlocal offset
        if isinstance(obj, np.ndarray) and obj.dtype.kind in _KINDS and obj.dtype.itemsize < 8 and obj.size:
            payload = _pack(obj)
            key = shared.key_for(payload) if shared is not None else None
            if key is not None:
                return {ARRAY_TAG: [obj.dtype.str, list(obj.shape), key]}
            chunks.append(payload)
            ref = {ARRAY_TAG: [obj.dtype.str, list(obj.shape), offset, len(payload)]}
            offset += len(payload)
            return ref
        if isinstance(obj, dict):
            return {k: walk(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [walk(v) for v in obj]
        return obj

    out = walk(details)
    return out, (b"".join(chunks) if chunks else None)


def join_arrays(details: Any, blob: bytes | None, shared: Mapping[str, bytes] | None = None) -> Any:
    """``details`` (parsed JSON) with each array reference replaced by its array from ``blob`` (the row's packed
    arrays) or ``shared`` (the shared ones by hash). A reference to a shared array that is not there (a damaged
    file) is a ValueError."""
    if blob is None and shared is None:
        return details

    def walk(obj: Any) -> Any:
        if isinstance(obj, dict):
            if len(obj) == 1 and ARRAY_TAG in obj:
                dtype, shape, *where = obj[ARRAY_TAG]
                if len(where) == 1:
                    payload = (shared or {}).get(where[0])
                    if payload is None:
                        raise ValueError(f"details refer to a shared array {where[0]} the file does not hold")
                else:
                    offset, length = where
                    payload = blob[offset : offset + length]
                return _unpack(payload, np.dtype(dtype), tuple(shape))
            return {k: walk(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [walk(v) for v in obj]
        return obj

    return walk(details)
