"""The record batch binary layout, version 1: constants, the header, and its checks.

This module is the single source of truth for the numbers in
``docs/record-batch.md``: the magic, the version, the sizes, the header's fields
and the rule for column names. It reads and checks the header and the bounds of
each section; :mod:`._reader` checks the rest of a batch and :mod:`._writer`
writes one.

Every check raises :class:`~dataflare.kernel.errors.BatchFormatError` naming the
field and the byte offset where the problem is, so a C or Zig author whose writer
is wrong can find the bad byte with a hex dump.
"""

from __future__ import annotations

import enum
import struct
from typing import Any, Final, TypeAlias

import attrs
import numpy as np
import numpy.typing as npt

from dataflare.kernel.errors import BatchFormatError

__all__ = (
    "ALIGNMENT",
    "COLUMN_ENTRY",
    "COLUMN_ENTRY_SIZE",
    "HEADER_SIZE",
    "LAYOUT_VERSION",
    "MAGIC",
    "MAX_BATCH_BYTES",
    "MAX_COLUMN_NAME_BYTES",
    "Column",
    "ColumnType",
    "Header",
    "align",
    "check_column_name",
    "check_region",
    "column_type",
    "read_header",
)

MAGIC: Final = b"DFRB"
LAYOUT_VERSION: Final = 1
HEADER_SIZE: Final = 64
ALIGNMENT: Final = 8
COLUMN_ENTRY_SIZE: Final = 32
MAX_COLUMN_NAME_BYTES: Final = 23
MAX_BATCH_BYTES: Final = 2**32 - 1  # total_len is a u32

_HEADER = struct.Struct("<4sHH14I")
COLUMN_ENTRY: Final = struct.Struct("<IIB23s")
"""``u32 type; u32 data_off; u8 name_len; char name[23]``: one column directory entry."""
assert _HEADER.size == HEADER_SIZE
assert COLUMN_ENTRY.size == COLUMN_ENTRY_SIZE


class ColumnType(enum.IntEnum):
    """The type code of a typed column, as stored in the column directory."""

    I64 = 1
    """Signed 64-bit integers."""
    F64 = 2
    """IEEE 754 double-precision floats."""

    @property
    def dtype(self) -> np.dtype[Any]:
        """The little-endian numpy dtype of this column's values (``<i8`` or ``<f8``)."""
        return np.dtype("<i8") if self is ColumnType.I64 else np.dtype("<f8")


Column: TypeAlias = npt.NDArray[np.int64] | npt.NDArray[np.float64]
"""A typed column's values: int64 or float64, one per record."""


def column_type(column: Column) -> ColumnType:
    """Return the type code for a column's values.

    Args:
        column: An int64 or float64 array.

    Returns:
        :attr:`ColumnType.F64` for floats, :attr:`ColumnType.I64` otherwise.
    """
    return ColumnType.F64 if column.dtype.kind == "f" else ColumnType.I64


@attrs.frozen
class Header:
    """The 64-byte header at the start of every batch; fields in byte order."""

    magic: bytes
    """Always ``b"DFRB"``."""
    version: int
    """The layout version; this kernel reads and writes version 1."""
    header_size: int
    """Always 64 in version 1."""
    count: int
    """The number of records."""
    ncols: int
    """The number of typed columns."""
    total_len: int
    """The length of the whole batch in bytes."""
    ts_off: int
    """Where the ``i64 timestamps[count]`` start."""
    key_offs_off: int
    """Where the ``u32 key_offsets[count + 1]`` start."""
    value_offs_off: int
    """Where the ``u32 value_offsets[count + 1]`` start."""
    hdr_offs_off: int
    """Where the ``u32 header_offsets[count + 1]`` start."""
    cols_off: int
    """Where the column directory (``ncols`` 32-byte entries) starts."""
    key_data_off: int
    """Where the key bytes start."""
    value_data_off: int
    """Where the value bytes start."""
    hdr_data_off: int
    """Where the per-record header blocks start."""
    meta_off: int
    """Where the batch metadata block starts."""
    meta_len: int
    """The length of the batch metadata block; 0 when there is none."""
    reserved: int = 0
    """Must be 0."""

    def pack_into(self, buffer: bytearray) -> None:
        """Write this header into the first 64 bytes of ``buffer``.

        Args:
            buffer: The batch being written.
        """
        _HEADER.pack_into(buffer, 0, *attrs.astuple(self))


def align(position: int) -> int:
    """Round ``position`` up to the next multiple of 8.

    Args:
        position: A byte offset.

    Returns:
        The smallest multiple of 8 that is not less than ``position``.
    """
    return -(-position // ALIGNMENT) * ALIGNMENT


def read_header(buffer: memoryview) -> Header:
    """Read the header and check it and the bounds of every fixed-size section.

    The data regions and the metadata block are checked later, by
    :func:`check_region` once their lengths are known from the offsets arrays.

    Args:
        buffer: The whole batch, as a one-dimensional byte view.

    Returns:
        The checked header.

    Raises:
        BatchFormatError: The bytes are not a version-1 batch.
    """
    size = len(buffer)
    if size >= 4 and bytes(buffer[:4]) != MAGIC:
        found = bytes(buffer[:4])
        raise BatchFormatError(
            f"magic is {found!r}, expected {MAGIC!r}: these bytes are not a record batch",
            offset=0,
        )
    if size < 8:
        raise BatchFormatError(
            f"truncated: {size} bytes is shorter than the {HEADER_SIZE}-byte header", offset=size
        )
    version, header_size = struct.unpack_from("<HH", buffer, 4)
    if version > LAYOUT_VERSION:
        raise BatchFormatError(
            f"record batch layout version {version} is newer than this kernel supports "
            f"({LAYOUT_VERSION}): upgrade dataflare-kernel",
            offset=4,
        )
    if version < 1:
        raise BatchFormatError(f"version is {version}; layout versions start at 1", offset=4)
    if size < HEADER_SIZE:
        raise BatchFormatError(
            f"truncated: {size} bytes is shorter than the {HEADER_SIZE}-byte header",
            offset=size,
        )
    header = Header(*_HEADER.unpack_from(buffer))
    if header_size != HEADER_SIZE:
        raise BatchFormatError(
            f"header_size is {header_size}, expected {HEADER_SIZE} for layout version 1",
            offset=6,
        )
    if header.total_len != size:
        raise BatchFormatError(
            f"total_len is {header.total_len} but the buffer holds {size} bytes "
            "(truncated, or extra bytes after the batch)",
            offset=16,
        )
    if header.reserved != 0:
        raise BatchFormatError(f"reserved is {header.reserved}, must be 0", offset=60)
    n = header.count
    fixed = (
        ("ts_off", 20, header.ts_off, 8 * n),
        ("key_offs_off", 24, header.key_offs_off, 4 * (n + 1)),
        ("value_offs_off", 28, header.value_offs_off, 4 * (n + 1)),
        ("hdr_offs_off", 32, header.hdr_offs_off, 4 * (n + 1)),
        ("cols_off", 36, header.cols_off, COLUMN_ENTRY_SIZE * header.ncols),
        ("meta_off", 52, header.meta_off, header.meta_len),
    )
    for name, field_at, start, length in fixed:
        check_region(name, field_at, start, length, size)
    # The data regions' lengths come from the offsets arrays; their starts must
    # already be aligned and inside the batch.
    for name, field_at, start in (
        ("key_data_off", 40, header.key_data_off),
        ("value_data_off", 44, header.value_data_off),
        ("hdr_data_off", 48, header.hdr_data_off),
    ):
        check_region(name, field_at, start, 0, size)
    return header


def check_region(name: str, field_at: int, start: int, length: int, total_len: int) -> None:
    """Check that a section is 8-byte aligned and lies between the header and the end.

    Args:
        name: The header field that holds the section's offset, for the message.
        field_at: The byte offset of that header field.
        start: The section's first byte.
        length: The section's length in bytes.
        total_len: The length of the whole batch.

    Raises:
        BatchFormatError: The section is misaligned, overlaps the header, or runs
            past the end of the batch.
    """
    if start % ALIGNMENT:
        raise BatchFormatError(
            f"{name} is {start}, which is not a multiple of {ALIGNMENT}", offset=field_at
        )
    if start < HEADER_SIZE:
        raise BatchFormatError(
            f"{name} is {start}, inside the {HEADER_SIZE}-byte header", offset=field_at
        )
    if start + length > total_len:
        raise BatchFormatError(
            f"{name} section [{start}, {start + length}) runs past the end of the batch "
            f"({total_len} bytes)",
            offset=field_at,
        )


def check_column_name(name: object) -> bytes:
    """Check a column name for writing and return its UTF-8 bytes.

    Args:
        name: The proposed name.

    Returns:
        The name encoded as UTF-8.

    Raises:
        TypeError: ``name`` is not a string.
        ValueError: ``name`` is empty, longer than 23 bytes of UTF-8, not valid
            Unicode, or holds a NUL.
    """
    if not isinstance(name, str):
        raise TypeError(f"column names must be strings, got {type(name).__name__}")
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        encoded = b""  # a lone surrogate is not UTF-8: refused below
    if not 1 <= len(encoded) <= MAX_COLUMN_NAME_BYTES or "\x00" in name:
        raise ValueError(
            f"column name {name!r} must be 1 to {MAX_COLUMN_NAME_BYTES} bytes of UTF-8 "
            "without NUL characters"
        )
    return encoded
