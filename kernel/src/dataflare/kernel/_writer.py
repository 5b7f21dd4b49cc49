"""Writing a record batch: lay its parts out as the bytes of the layout.

:func:`write_batch` puts the sections in a fixed order (the order of the header's
fields), each at an 8-byte-aligned offset with zero padding between them, and
fills them with bulk numpy copies. Readers must not rely on that order; they
follow the header's offsets.

Example::

    wire = write_batch(BatchParts.from_arrays(values=[b"a", b"b"]))
    batch = RecordBatch.from_buffer(wire)
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from dataflare.kernel._kv import encode_kv
from dataflare.kernel._layout import (
    COLUMN_ENTRY,
    COLUMN_ENTRY_SIZE,
    HEADER_SIZE,
    LAYOUT_VERSION,
    MAGIC,
    MAX_BATCH_BYTES,
    Header,
    align,
    check_column_name,
    column_type,
)
from dataflare.kernel._parts import BatchParts
from dataflare.kernel.errors import DataError

__all__ = ("write_batch",)


def write_batch(parts: BatchParts) -> memoryview:
    """Lay a batch's parts out as bytes.

    Args:
        parts: The parts; the columns must already be normalised.

    Returns:
        A read-only view of the new batch's bytes.

    Raises:
        DataError: A column name is invalid, the metadata is not strings, or the
            batch would exceed the 4 GiB that a u32 ``total_len`` can describe.
    """
    count = parts.timestamps.size
    block = encode_kv(parts.metadata, what="metadata")
    names = [_column_name(name) for name in parts.columns]
    regions = (parts.keys, parts.values, parts.headers)
    sizes = [8 * count] + [4 * (count + 1)] * 3 + [COLUMN_ENTRY_SIZE * len(names)]
    sizes += [8 * count] * len(names) + [part.data.size for part in regions] + [len(block)]
    starts = []
    total = HEADER_SIZE
    for size in sizes:
        starts.append(total)
        total = align(total + size)
    if total > MAX_BATCH_BYTES:
        raise DataError(
            f"the record batch would be {total} bytes, more than the {MAX_BATCH_BYTES} "
            "a batch can hold (total_len is a u32): split the records into smaller batches"
        )
    ts_off, key_offs, value_offs, hdr_offs, cols_off = starts[:5]
    column_offs = starts[5:-4]
    key_data, value_data, hdr_data, meta_off = starts[-4:]

    out = bytearray(total)  # zero-filled, so the padding is zeros
    target = np.frombuffer(out, np.uint8)

    def put(start: int, array: npt.NDArray[np.generic]) -> None:
        target[start : start + array.nbytes] = array.view(np.uint8)

    Header(
        MAGIC, LAYOUT_VERSION, HEADER_SIZE, count, len(names), total, ts_off, key_offs,
        value_offs, hdr_offs, cols_off, key_data, value_data, hdr_data, meta_off, len(block),
    ).pack_into(out)  # fmt: skip
    put(ts_off, parts.timestamps.astype("<i8", copy=False))
    for index, column in enumerate(parts.columns.values()):
        at = cols_off + index * COLUMN_ENTRY_SIZE
        kind = column_type(column)
        COLUMN_ENTRY.pack_into(out, at, kind, column_offs[index], len(names[index]), names[index])
        put(column_offs[index], column.astype(kind.dtype, copy=False))
    for offsets_off, data_off, part in (
        (key_offs, key_data, parts.keys),
        (value_offs, value_data, parts.values),
        (hdr_offs, hdr_data, parts.headers),
    ):
        put(offsets_off, part.offsets.astype("<u4"))
        put(data_off, part.data)
    out[meta_off : meta_off + len(block)] = block
    return memoryview(out).toreadonly()


def _column_name(name: str) -> bytes:
    try:
        return check_column_name(name)
    except (TypeError, ValueError) as exc:
        raise DataError(str(exc)) from None
