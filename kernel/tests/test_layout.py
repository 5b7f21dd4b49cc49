"""Tests for the layout constants, the header and its checks (dataflare.kernel._layout)."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from dataflare.kernel._batch import RecordBatch
from dataflare.kernel._layout import (
    COLUMN_ENTRY,
    HEADER_SIZE,
    ColumnType,
    Header,
    align,
    check_column_name,
    check_region,
    column_type,
    read_header,
)
from dataflare.kernel.errors import BatchFormatError


def _wire() -> bytearray:
    batch = RecordBatch.from_arrays(
        keys=[b"a", b"bb", b"ccc"],
        values=[b"x", b"yy", b"zzz"],
        timestamps=[1, 2, 3],
        columns={"n": np.array([1, 2, 3])},
        metadata={"k": "v"},
    )
    return bytearray(batch.to_bytes())


def _with(field_at: int, fmt: str, value: int) -> memoryview:
    wire = _wire()
    struct.pack_into(fmt, wire, field_at, value)
    return memoryview(wire)


def test_header_struct_is_64_bytes_and_column_entry_32():
    """The header and a column directory entry have the documented sizes."""
    assert HEADER_SIZE == 64
    assert COLUMN_ENTRY.size == 32


def test_read_header_returns_the_documented_fields():
    """A written batch's header reads back with magic, version, sizes and counts."""
    wire = _wire()
    header = read_header(memoryview(wire))
    assert header.magic == b"DFRB"
    assert (header.version, header.header_size, header.count, header.ncols) == (1, 64, 3, 1)
    assert header.total_len == len(wire)
    assert header.reserved == 0


def test_header_pack_into_round_trips():
    """Packing a header and reading it back gives the same fields."""
    wire = _wire()
    header = read_header(memoryview(wire))
    copy = bytearray(len(wire))
    copy[:] = wire
    copy[:64] = bytes(64)
    header.pack_into(copy)
    assert read_header(memoryview(copy)) == header


def test_header_field_offsets_match_the_documented_table():
    """Each u32 header field sits at the byte offset the docs give."""
    wire = _wire()
    header = read_header(memoryview(wire))
    documented = {
        8: header.count,
        12: header.ncols,
        16: header.total_len,
        20: header.ts_off,
        24: header.key_offs_off,
        28: header.value_offs_off,
        32: header.hdr_offs_off,
        36: header.cols_off,
        40: header.key_data_off,
        44: header.value_data_off,
        48: header.hdr_data_off,
        52: header.meta_off,
        56: header.meta_len,
        60: header.reserved,
    }
    for at, value in documented.items():
        assert struct.unpack_from("<I", wire, at)[0] == value


def test_bad_magic_is_refused_at_byte_0():
    """Bytes that do not start with DFRB are refused, naming the magic."""
    with pytest.raises(BatchFormatError, match="magic is b'XFRB'") as caught:
        read_header(memoryview(b"XFRB" + bytes(60)))
    assert caught.value.offset == 0


@pytest.mark.parametrize("size", [0, 3, 7, 30, 63])
def test_truncated_header_is_refused(size):
    """A buffer shorter than the header is refused as truncated."""
    wire = _wire()[:size]
    with pytest.raises(BatchFormatError, match="truncated"):
        read_header(memoryview(wire))


def test_newer_version_says_to_upgrade():
    """A newer layout version names both versions and says to upgrade the kernel."""
    with pytest.raises(BatchFormatError) as caught:
        read_header(_with(4, "<H", 2))
    assert str(caught.value).endswith(
        "record batch layout version 2 is newer than this kernel supports (1): "
        "upgrade dataflare-kernel"
    )
    assert caught.value.offset == 4


def test_newer_version_is_reported_even_when_the_header_is_shorter():
    """A future batch with a smaller header still gets the version message."""
    with pytest.raises(BatchFormatError, match="version 9 is newer"):
        read_header(memoryview(b"DFRB" + struct.pack("<HH", 9, 16) + bytes(8)))


def test_version_zero_is_refused():
    """Layout versions start at 1."""
    with pytest.raises(BatchFormatError, match="version is 0") as caught:
        read_header(_with(4, "<H", 0))
    assert caught.value.offset == 4


def test_wrong_header_size_is_refused():
    """header_size must be 64 in version 1."""
    with pytest.raises(BatchFormatError, match="header_size is 72") as caught:
        read_header(_with(6, "<H", 72))
    assert caught.value.offset == 6


def test_total_len_must_equal_the_buffer_length():
    """A buffer with bytes missing at the end is refused by total_len."""
    wire = _wire()
    with pytest.raises(BatchFormatError, match=f"total_len is {len(wire)}") as caught:
        read_header(memoryview(wire[:-8]))
    assert caught.value.offset == 16
    assert f"buffer holds {len(wire) - 8} bytes" in str(caught.value)


def test_nonzero_reserved_is_refused():
    """The reserved field must be zero."""
    with pytest.raises(BatchFormatError, match="reserved is 5") as caught:
        read_header(_with(60, "<I", 5))
    assert caught.value.offset == 60


@pytest.mark.parametrize(
    ("name", "field_at"),
    [
        ("ts_off", 20),
        ("key_offs_off", 24),
        ("value_offs_off", 28),
        ("hdr_offs_off", 32),
        ("cols_off", 36),
        ("key_data_off", 40),
        ("value_data_off", 44),
        ("hdr_data_off", 48),
        ("meta_off", 52),
    ],
)
def test_misaligned_section_is_refused(name, field_at):
    """Every section offset must be a multiple of 8; the error names the field."""
    with pytest.raises(
        BatchFormatError, match=f"{name} is 68, which is not a multiple of 8"
    ) as caught:
        read_header(_with(field_at, "<I", 68))
    assert caught.value.offset == field_at


def test_section_inside_the_header_is_refused():
    """A section may not start inside the 64-byte header."""
    with pytest.raises(BatchFormatError, match="ts_off is 32, inside the 64-byte header"):
        read_header(_with(20, "<I", 32))


def test_section_past_the_end_is_refused():
    """A fixed-size section that runs past total_len is refused with its extent."""
    wire = _wire()
    start = align(len(wire) - 8)
    with pytest.raises(BatchFormatError, match=r"value_offs_off section .* runs past the end"):
        read_header(_with(28, "<I", start))


def test_metadata_past_the_end_is_refused():
    """meta_len may not reach beyond the batch."""
    with pytest.raises(BatchFormatError, match="meta_off section") as caught:
        read_header(_with(56, "<I", 10_000))
    assert caught.value.offset == 52


def test_huge_count_is_refused_without_reading_past_the_buffer():
    """A count far larger than the buffer fails the bounds checks, not numpy."""
    with pytest.raises(BatchFormatError, match="runs past the end"):
        read_header(_with(8, "<I", 2**32 - 1))


def test_check_region_accepts_an_empty_section_at_the_end():
    """A zero-length section may sit exactly at total_len."""
    check_region("meta_off", 52, 128, 0, 128)


@pytest.mark.parametrize(("position", "aligned"), [(0, 0), (1, 8), (8, 8), (63, 64), (65, 72)])
def test_align_rounds_up_to_8(position, aligned):
    """align() returns the next multiple of 8."""
    assert align(position) == aligned


def test_column_type_dtypes_are_little_endian_64_bit():
    """i64 and f64 columns map to little-endian 8-byte dtypes."""
    assert ColumnType.I64.dtype == np.dtype("<i8")
    assert ColumnType.F64.dtype == np.dtype("<f8")
    assert (ColumnType.I64.value, ColumnType.F64.value) == (1, 2)


def test_column_type_of_an_array():
    """Floats are f64 columns and integers i64 columns."""
    assert column_type(np.zeros(2, np.float64)) is ColumnType.F64
    assert column_type(np.zeros(2, np.int64)) is ColumnType.I64


@pytest.mark.parametrize("name", ["x", "clicks", "é" * 11, "a" * 23])
def test_valid_column_names_encode_to_utf8(name):
    """Names of 1 to 23 UTF-8 bytes are accepted."""
    assert check_column_name(name) == name.encode()


@pytest.mark.parametrize("name", ["", "a" * 24, "é" * 12, "nul\x00", "\ud800"])
def test_invalid_column_names_are_refused(name):
    """Empty, too long, NUL-holding or non-Unicode names are refused."""
    with pytest.raises(ValueError, match="must be 1 to 23 bytes"):
        check_column_name(name)


def test_non_string_column_name_is_a_type_error():
    """A column name must be a str."""
    with pytest.raises(TypeError, match="must be strings"):
        check_column_name(b"bytes")


def test_header_class_fields_are_in_byte_order():
    """Header's fields follow the header's byte order, so it packs positionally."""
    names = [field.name for field in Header.__attrs_attrs__]
    assert names[:3] == ["magic", "version", "header_size"]
    assert names[-3:] == ["meta_off", "meta_len", "reserved"]
    assert len(names) == 17
