"""Reading a record batch: check every structural rule, then view the sections in place.

:func:`read_batch` is what :meth:`RecordBatch.from_buffer
<dataflare.kernel.RecordBatch.from_buffer>` does. After the header (checked by
:func:`~dataflare.kernel._layout.read_header`) it checks the column directory, the
three offsets arrays (vectorised) and the metadata block, and returns numpy views
over the caller's buffer; nothing is copied. Per-record header blocks are left for
:func:`~dataflare.kernel._kv.decode_kv` to check when a record's headers are read,
because checking them here would take a Python step per record.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import attrs
import numpy as np
import numpy.typing as npt

from dataflare.kernel._kv import decode_kv
from dataflare.kernel._layout import (
    COLUMN_ENTRY,
    COLUMN_ENTRY_SIZE,
    MAX_COLUMN_NAME_BYTES,
    Column,
    ColumnType,
    Header,
    check_region,
    read_header,
)
from dataflare.kernel.errors import BatchFormatError

__all__ = ("BatchView", "ColumnEntry", "check_offsets", "read_batch", "read_columns")


@attrs.frozen(eq=False)
class BatchView:
    """The checked sections of one batch, as read-only views into its buffer."""

    buffer: memoryview
    """Exactly the batch's bytes."""
    timestamps: npt.NDArray[np.int64]
    """``count`` event times."""
    key_offsets: npt.NDArray[np.uint32]
    """``count + 1`` offsets into :attr:`key_data`."""
    key_data: npt.NDArray[np.uint8]
    """The key bytes."""
    value_offsets: npt.NDArray[np.uint32]
    """``count + 1`` offsets into :attr:`value_data`."""
    value_data: npt.NDArray[np.uint8]
    """The value bytes."""
    header_offsets: npt.NDArray[np.uint32]
    """``count + 1`` offsets into :attr:`header_data`."""
    header_data: npt.NDArray[np.uint8]
    """The per-record header blocks (not checked yet)."""
    header_data_off: int
    """Where :attr:`header_data` starts in the batch, for error offsets."""
    columns: Mapping[str, Column]
    """Typed columns by name, in directory order."""
    metadata: Mapping[str, str]
    """The decoded batch metadata."""

    def key(self, position: int) -> bytes:
        """Return the key of record ``position`` (in ``range(count)``)."""
        return _item(self.key_offsets, self.key_data, position)

    def value(self, position: int) -> bytes:
        """Return the value of record ``position`` (in ``range(count)``)."""
        return _item(self.value_offsets, self.value_data, position)

    def headers(self, position: int) -> dict[str, str]:
        """Decode and check the headers of record ``position`` (in ``range(count)``).

        Raises:
            BatchFormatError: The record's header block is malformed.
        """
        start, stop = self.header_offsets[position : position + 2].tolist()
        where = self.header_data_off + start
        return decode_kv(self.buffer, where, stop - start, what=f"headers of record {position}")


@attrs.frozen
class ColumnEntry:
    """One entry of the column directory, checked."""

    name: str
    """The column name (1 to 23 bytes of UTF-8)."""
    type: ColumnType
    """The type of the column's values."""
    data_off: int
    """Where the column's ``count`` 8-byte values start."""


def read_batch(buffer: bytes | bytearray | memoryview) -> BatchView:
    """Check a batch and view its sections.

    Args:
        buffer: Exactly one batch's bytes.

    Returns:
        The views.

    Raises:
        BatchFormatError: The bytes break a rule of the layout.
        TypeError: ``buffer`` is not a C-contiguous bytes-like object.
    """
    view = memoryview(buffer).cast("B").toreadonly()
    header = read_header(view)
    regions: list[tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint8]]] = []
    for name, at, start in (
        ("key_offsets", header.key_offs_off, header.key_data_off),
        ("value_offsets", header.value_offs_off, header.value_data_off),
        ("header_offsets", header.hdr_offs_off, header.hdr_data_off),
    ):
        offsets = np.frombuffer(view, "<u4", count=header.count + 1, offset=at)
        check_offsets(offsets, name=name, at=at, region_start=start, total_len=header.total_len)
        regions.append((offsets, np.frombuffer(view, np.uint8, int(offsets[-1]), start)))
    columns: dict[str, Column] = {
        entry.name: np.frombuffer(view, entry.type.dtype, header.count, entry.data_off)
        for entry in read_columns(view, header)
    }
    metadata = decode_kv(view, header.meta_off, header.meta_len, what="metadata")
    (key_offsets, key_data), (value_offsets, value_data), (hdr_offsets, hdr_data) = regions
    return BatchView(
        buffer=view,
        timestamps=np.frombuffer(view, "<i8", count=header.count, offset=header.ts_off),
        key_offsets=key_offsets,
        key_data=key_data,
        value_offsets=value_offsets,
        value_data=value_data,
        header_offsets=hdr_offsets,
        header_data=hdr_data,
        header_data_off=header.hdr_data_off,
        columns=MappingProxyType(columns),
        metadata=MappingProxyType(metadata),
    )


def read_columns(buffer: memoryview, header: Header) -> tuple[ColumnEntry, ...]:
    """Read and check the column directory.

    Args:
        buffer: The whole batch.
        header: Its checked header.

    Returns:
        One checked entry per column, in directory order.

    Raises:
        BatchFormatError: An entry has an unknown type, a bad name, a duplicate
            name, or data outside the batch.
    """
    entries: list[ColumnEntry] = []
    for index in range(header.ncols):
        at = header.cols_off + index * COLUMN_ENTRY_SIZE
        type_code, data_off, name_len, raw_name = COLUMN_ENTRY.unpack_from(buffer, at)
        if type_code not in ColumnType._value2member_map_:
            known = ", ".join(f"{t.value} ({t.name.lower()})" for t in ColumnType)
            raise BatchFormatError(
                f"column {index} has unknown type {type_code}; known types are {known}",
                offset=at,
            )
        if not 1 <= name_len <= MAX_COLUMN_NAME_BYTES:
            raise BatchFormatError(
                f"column {index} name_len is {name_len}, must be 1 to {MAX_COLUMN_NAME_BYTES}",
                offset=at + 8,
            )
        try:
            name = raw_name[:name_len].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BatchFormatError(
                f"column {index} name is not valid UTF-8", offset=at + 9 + exc.start
            ) from None
        if "\x00" in name:
            raise BatchFormatError(f"column {index} name contains a NUL byte", offset=at + 9)
        if any(entry.name == name for entry in entries):
            raise BatchFormatError(f"column {index} repeats the name {name!r}", offset=at + 9)
        check_region(f"column {name!r} data_off", at + 4, data_off, 8 * header.count, len(buffer))
        entries.append(ColumnEntry(name=name, type=ColumnType(type_code), data_off=data_off))
    return tuple(entries)


def check_offsets(
    offsets: npt.NDArray[np.uint32], *, name: str, at: int, region_start: int, total_len: int
) -> None:
    """Check an offsets array: starts at 0, never decreases, region inside the batch.

    The check is vectorised: one numpy comparison over the whole array.

    Args:
        offsets: The ``count + 1`` offsets, viewed from the batch.
        name: What the array is (``"key_offsets"``), for the message.
        at: The byte offset of the array in the batch.
        region_start: Where the data region it indexes starts.
        total_len: The length of the whole batch.

    Raises:
        BatchFormatError: The array does not start at 0, decreases somewhere, or its
            last entry puts the data region past the end of the batch.
    """
    if offsets[0] != 0:
        raise BatchFormatError(f"{name}[0] is {offsets[0]}, must be 0", offset=at)
    drops = np.flatnonzero(offsets[1:] < offsets[:-1])
    if drops.size:
        i = int(drops[0]) + 1
        raise BatchFormatError(
            f"{name} decrease at index {i} ({offsets[i - 1]} then {offsets[i]}); "
            "offsets must never decrease",
            offset=at + 4 * i,
        )
    last = int(offsets[-1])
    if region_start + last > total_len:
        raise BatchFormatError(
            f"{name}[{offsets.size - 1}] is {last}, so its data region "
            f"[{region_start}, {region_start + last}) runs past the end of the batch "
            f"({total_len} bytes)",
            offset=at + 4 * (offsets.size - 1),
        )


def _item(offsets: npt.NDArray[np.uint32], data: npt.NDArray[np.uint8], position: int) -> bytes:
    start, stop = offsets[position : position + 2].tolist()
    return data[start:stop].tobytes()
