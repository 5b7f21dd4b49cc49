"""The byte format of a window aggregator snapshot: a JSON header, then raw arrays.

Layout: ``b"DFWS"``, a little-endian ``u32`` format version, a ``u32`` header
length, the UTF-8 JSON header, then each array's bytes back to back. The header
holds the metadata and, per array, its name, dtype, length and offset. Nothing is
pickled, so restoring untrusted bytes cannot run code; every malformed input
raises :class:`~dataflare.streaming.errors.WindowSnapshotError`.

Example::

    data = pack({"kind": "tumbling"}, {"counts": np.array([1, 2])})
    meta, arrays = unpack(data)
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from dataflare.streaming.errors import WindowSnapshotError

__all__ = ("FORMAT_VERSION", "pack", "unpack")

_MAGIC: Final = b"DFWS"
FORMAT_VERSION: Final = 1
_PREFIX: Final = struct.Struct("<4sII")
_DTYPES: Final = ("<i8", "<f8", "|b1", "|u1")


def pack(meta: Mapping[str, Any], arrays: Mapping[str, npt.NDArray[np.generic]]) -> bytes:
    """Write metadata and named arrays (int64, float64, bool or uint8) as snapshot bytes."""
    table = []
    chunks = []
    offset = 0
    for name, array in arrays.items():
        data = np.ascontiguousarray(array)
        if data.dtype.str not in _DTYPES:
            data = data.astype(np.int64 if data.dtype.kind in "iu" else np.float64)
        chunk = data.tobytes()
        table.append([name, data.dtype.str, int(data.size), offset])
        chunks.append(chunk)
        offset += len(chunk)
    header = json.dumps({"meta": meta, "arrays": table}, separators=(",", ":")).encode()
    return b"".join([_PREFIX.pack(_MAGIC, FORMAT_VERSION, len(header)), header, *chunks])


def unpack(data: bytes) -> tuple[dict[str, Any], dict[str, npt.NDArray[np.generic]]]:
    """Read what :func:`pack` wrote; raises ``WindowSnapshotError`` for anything else."""
    view = memoryview(data)
    if len(view) < _PREFIX.size:
        raise WindowSnapshotError("snapshot is truncated: pass the bytes snapshot() returned")
    magic, version, length = _PREFIX.unpack_from(view)
    if magic != _MAGIC:
        raise WindowSnapshotError("these bytes are not a window aggregator snapshot")
    if version > FORMAT_VERSION:
        raise WindowSnapshotError(
            f"snapshot format {version} is newer than this version reads ({FORMAT_VERSION}): "
            "upgrade dataflare-streaming"
        )
    body = _PREFIX.size + length
    try:
        header = json.loads(bytes(view[_PREFIX.size : body]))
        arrays = {}
        for name, dtype, size, offset in header["arrays"]:
            if dtype not in _DTYPES:
                raise ValueError(f"array {name!r} has dtype {dtype!r}")
            stop = body + offset + size * np.dtype(dtype).itemsize
            if offset < 0 or size < 0 or stop > len(view):
                raise ValueError(f"array {name!r} runs past the end")
            arrays[str(name)] = np.frombuffer(view[body + offset : stop], dtype=dtype).copy()
        meta = header["meta"]
        if not isinstance(meta, dict):
            raise ValueError("metadata is not an object")
    except (ValueError, TypeError, KeyError) as exc:
        raise WindowSnapshotError(f"snapshot is damaged: {exc}") from exc
    return meta, arrays
