"""Numpy arrays in evaluation details, kept in binary by the DuckDB store.

A property that chose a storage precision for an array of its details gives it a narrow dtype (int8 to int32,
uint8 to uint32, float16 or float32: the per-frame errors of the dataset evaluations,
:mod:`mlipscope.properties.frame_data`). As JSON text a number costs up to ~20 bytes; such an array is byte-shuffled
(the bytes of equal significance together; signed integers zigzag-encoded first, so that small negative numbers
have zero high bytes as small positive ones do) and zlib-compressed into the row's ``evaluations.arrays`` BLOB,
and the details JSON holds ``{"$ndarray": [dtype, shape, offset, length]}`` in its place. Reading restores the
array with its dtype and shape. Other arrays (float64, int64, bool: numpy's defaults, which properties have always
put into details) stay JSON lists as before, so their readers see what they always saw; details without narrow
arrays are stored as before (``arrays`` NULL), and details of files written before the column existed read as they
always did. Other stores keep the arrays as they are (in memory) or as JSON lists
(:func:`~mlipscope.store.provenance.to_json`); readers of narrow arrays accept both.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

ARRAY_TAG = "$ndarray"
_KINDS = "iuf"  # signed and unsigned integers and floats of fewer than 8 bytes: stored in binary
_LEVEL = 6


def _pack(array: np.ndarray) -> bytes:
    size = array.dtype.itemsize
    values = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("="))  # native order for the arithmetic
    if values.dtype.kind == "i":  # zigzag: 0, -1, 1, -2, ... -> 0, 1, 2, 3, ...
        values = ((values << 1) ^ (values >> (8 * size - 1))).view(f"=u{size}")
    raw = values.astype(values.dtype.newbyteorder("<")).view(np.uint8).reshape(-1, size)  # stored little-endian
    return zlib.compress(raw.T.tobytes(), _LEVEL)  # shuffled: exponents and high bytes compress, noise does not


def _unpack(payload: bytes, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    size = dtype.itemsize
    raw = np.frombuffer(zlib.decompress(payload), dtype=np.uint8).reshape(size, -1).T.copy()
    stored = np.dtype(f"<u{size}") if dtype.kind == "i" else dtype.newbyteorder("<")
    values = raw.view(stored).reshape(shape).astype(stored.newbyteorder("="))
    if dtype.kind == "i":  # back from zigzag (unsigned arithmetic, wrapping)
        values = ((values >> 1) ^ (np.zeros_like(values) - (values & 1))).view(f"=i{size}")
    return values.astype(dtype)


def split_arrays(details: Any) -> tuple[Any, bytes | None]:
    """(``details`` with each narrow numeric numpy array replaced by a reference, the packed arrays or None)."""
    chunks: list[bytes] = []
    offset = 0

    def walk(obj: Any) -> Any:
        nonlocal offset
        if isinstance(obj, np.ndarray) and obj.dtype.kind in _KINDS and obj.dtype.itemsize < 8 and obj.size:
            payload = _pack(obj)
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


def join_arrays(details: Any, blob: bytes | None) -> Any:
    """``details`` (parsed JSON) with each array reference replaced by its array from ``blob``."""
    if blob is None:
        return details

    def walk(obj: Any) -> Any:
        if isinstance(obj, dict):
            if len(obj) == 1 and ARRAY_TAG in obj:
                dtype, shape, offset, length = obj[ARRAY_TAG]
                return _unpack(blob[offset : offset + length], np.dtype(dtype), tuple(shape))
            return {k: walk(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [walk(v) for v in obj]
        return obj

    return walk(details)
