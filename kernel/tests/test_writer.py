"""Tests for laying a batch's parts out as bytes (dataflare.kernel._writer)."""

from __future__ import annotations

import pytest

from dataflare.kernel import _writer
from dataflare.kernel._layout import read_header
from dataflare.kernel._parts import BatchParts
from dataflare.kernel._writer import write_batch
from dataflare.kernel.errors import DataError


def _pack(**arguments: object) -> BatchParts:
    return BatchParts.from_arrays(**arguments)  # type: ignore[arg-type]


def test_every_section_is_aligned_and_padding_is_zero():
    """Sections start at multiples of 8, the batch length too, and gaps hold zeros."""
    parts = _pack(
        values=[b"abc", b"de"],
        keys=[b"k", b""],
        columns={"n": [1, 2]},
        headers=[{"a": "b"}, {}],
        metadata={"m": "x"},
    )
    wire = write_batch(parts)
    header = read_header(wire)
    starts = [
        header.ts_off,
        header.key_offs_off,
        header.value_offs_off,
        header.hdr_offs_off,
        header.cols_off,
        header.key_data_off,
        header.value_data_off,
        header.hdr_data_off,
        header.meta_off,
    ]
    assert all(start % 8 == 0 for start in starts)
    assert len(wire) % 8 == 0
    # The key data is 1 byte long; the 7 bytes after it, up to the next section, are padding.
    assert bytes(wire[header.key_data_off + 1 : header.value_data_off]) == bytes(7)


def test_sections_follow_the_documented_order():
    """Writers lay sections out in the order the docs list them."""
    header = read_header(write_batch(_pack(values=[b"v"], columns={"n": [1]})))
    order = [
        header.ts_off,
        header.key_offs_off,
        header.value_offs_off,
        header.hdr_offs_off,
        header.cols_off,
        header.key_data_off,
        header.value_data_off,
        header.hdr_data_off,
        header.meta_off,
    ]
    assert order == sorted(order)
    assert header.ts_off == 64


def test_written_batch_is_read_only():
    """write_batch hands back a read-only view."""
    assert write_batch(_pack(count=2)).readonly


def test_batch_over_the_size_limit_is_refused(monkeypatch):
    """A batch larger than a u32 total_len can describe is refused with advice."""
    monkeypatch.setattr(_writer, "MAX_BATCH_BYTES", 200)
    with pytest.raises(DataError, match="split the records into smaller batches"):
        write_batch(_pack(values=[b"x" * 300]))


def test_bad_column_name_is_a_data_error():
    """A column name longer than 23 bytes is refused when written."""
    with pytest.raises(DataError, match="must be 1 to 23 bytes"):
        write_batch(_pack(columns={"x" * 24: [1]}))
