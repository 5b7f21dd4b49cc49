"""Tests for checking and viewing a whole batch (dataflare.kernel._reader), with fuzzing."""

from __future__ import annotations

import contextlib
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataflare.kernel._batch import RecordBatch
from dataflare.kernel._layout import read_header
from dataflare.kernel._reader import read_batch
from dataflare.kernel.errors import BatchFormatError


def _batch() -> RecordBatch:
    return RecordBatch.from_arrays(
        keys=[b"a", b"bb", b"ccc", b""],
        values=[b"x", b"yy", b"zzz", b"w"],
        timestamps=[1, 2, 3, 4],
        columns={"n": np.array([1, 2, 3, 4]), "f": np.array([0.5, 1.5, 2.5, 3.5])},
        headers=[{}, {"h": "v"}, {}, {}],
        metadata={"trace": "abc"},
    )


def _corrupt(at: int, fmt: str, value: int) -> bytearray:
    wire = bytearray(_batch().to_bytes())
    struct.pack_into(fmt, wire, at, value)
    return wire


def _header():
    return read_header(memoryview(_batch().to_bytes()))


def test_views_share_memory_with_the_buffer():
    """from_buffer copies nothing: every array views the caller's buffer."""
    wire = bytearray(_batch().to_bytes())
    view = read_batch(wire)
    whole = np.frombuffer(wire, np.uint8)
    for array in (view.timestamps, view.key_offsets, view.value_data, view.columns["n"]):
        assert np.shares_memory(array, whole)


def test_views_are_read_only():
    """The arrays of a batch cannot be written through."""
    view = read_batch(_batch().to_bytes())
    with pytest.raises(ValueError, match="read-only"):
        view.timestamps[0] = 5
    assert view.buffer.readonly


def test_non_contiguous_buffer_is_a_type_error():
    """A strided memoryview is not a batch buffer."""
    strided = memoryview(bytes(256))[::2]
    with pytest.raises(TypeError):
        read_batch(strided)


@pytest.mark.parametrize(
    ("field", "which"),
    [("key_offs_off", "key_offsets"), ("value_offs_off", "value_offsets")],
)
def test_decreasing_offsets_are_refused_at_the_bad_entry(field, which):
    """Offsets that go down are refused, naming the array, the index and the byte."""
    at = getattr(_header(), field)
    wire = bytearray(_batch().to_bytes())
    struct.pack_into("<I", wire, at + 8, 0)  # entry 2 below entry 1
    with pytest.raises(BatchFormatError, match=f"{which} decrease at index 2") as caught:
        read_batch(wire)
    assert caught.value.offset == at + 8


def test_offsets_must_start_at_zero():
    """The first offset of each array must be 0."""
    at = _header().hdr_offs_off
    with pytest.raises(BatchFormatError, match=r"header_offsets\[0\] is 1, must be 0") as caught:
        read_batch(_corrupt(at, "<I", 1))
    assert caught.value.offset == at


def test_last_offset_past_the_end_is_refused():
    """An offset that puts a data region outside the batch is refused."""
    header = _header()
    at = header.value_offs_off + 4 * header.count
    with pytest.raises(BatchFormatError, match=r"value_offsets\[4\] is 100000") as caught:
        read_batch(_corrupt(at, "<I", 100_000))
    assert caught.value.offset == at
    assert "runs past the end of the batch" in str(caught.value)


def test_unknown_column_type_is_refused():
    """A column type other than 1 (i64) or 2 (f64) is refused, listing the known ones."""
    at = _header().cols_off
    with pytest.raises(BatchFormatError, match="unknown type 3; known types are 1") as caught:
        read_batch(_corrupt(at, "<I", 3))
    assert caught.value.offset == at


@pytest.mark.parametrize("name_len", [0, 24, 255])
def test_bad_column_name_length_is_refused(name_len):
    """name_len must be 1 to 23."""
    at = _header().cols_off
    with pytest.raises(BatchFormatError, match=f"name_len is {name_len}") as caught:
        read_batch(_corrupt(at + 8, "<B", name_len))
    assert caught.value.offset == at + 8


def test_column_name_must_be_utf8():
    """A column name that is not UTF-8 is refused at the bad byte."""
    at = _header().cols_off
    with pytest.raises(BatchFormatError, match="not valid UTF-8") as caught:
        read_batch(_corrupt(at + 9, "<B", 0xFF))
    assert caught.value.offset == at + 9


def test_column_name_with_nul_is_refused():
    """A NUL inside the name's length is refused."""
    wire = bytearray(_batch().to_bytes())
    at = _header().cols_off
    struct.pack_into("<B", wire, at + 8, 2)  # "n" plus the zero padding byte
    with pytest.raises(BatchFormatError, match="NUL"):
        read_batch(wire)


def test_duplicate_column_names_are_refused():
    """Two columns may not share a name."""
    wire = bytearray(_batch().to_bytes())
    at = _header().cols_off
    wire[at + 32 + 8 : at + 32 + 10] = b"\x01n"  # rename column 1 ("f") to "n"
    with pytest.raises(BatchFormatError, match="column 1 repeats the name 'n'") as caught:
        read_batch(wire)
    assert caught.value.offset == at + 32 + 9


def test_misaligned_column_data_is_refused():
    """A column's data_off must be a multiple of 8."""
    at = _header().cols_off
    with pytest.raises(BatchFormatError, match=r"column 'n' data_off is .* not a multiple of 8"):
        read_batch(_corrupt(at + 4, "<I", 68 + 64))


def test_column_data_past_the_end_is_refused():
    """A column whose values run past the batch is refused."""
    header = _header()
    with pytest.raises(BatchFormatError, match="column 'n' data_off section"):
        read_batch(_corrupt(header.cols_off + 4, "<I", header.total_len - 8))


def test_malformed_metadata_is_refused():
    """A metadata block whose count cannot fit is refused when the batch is read."""
    at = _header().meta_off
    with pytest.raises(BatchFormatError, match="metadata block claims 1000 entries") as caught:
        read_batch(_corrupt(at, "<I", 1000))
    assert caught.value.offset == at


def test_malformed_record_headers_are_refused_when_read():
    """Per-record header blocks are checked lazily, by headers() and record()."""
    header = _header()
    start = struct.unpack_from("<I", _batch().to_bytes(), header.hdr_offs_off + 4)[0]
    batch = RecordBatch.from_buffer(_corrupt(header.hdr_data_off + start, "<I", 99))
    assert batch.headers(0) == {}
    with pytest.raises(BatchFormatError, match="headers of record 1 block claims 99") as caught:
        batch.record(1)
    assert caught.value.offset == header.hdr_data_off + start


def _exercise(batch: RecordBatch) -> None:
    """Use every read path of a batch that passed from_buffer."""
    list(batch)
    batch.key_codes()
    everything = np.ones(len(batch), np.bool_)
    assert batch.filter(everything) == RecordBatch.from_buffer(batch.filter(everything).buffer)
    batch.take(np.arange(len(batch))[::-1])
    batch.slice(1, -1)
    RecordBatch.concat([batch, batch])
    assert RecordBatch.from_buffer(batch.to_bytes()) == batch


def _check_only_format_errors(data: bytes | bytearray) -> None:
    try:
        batch = RecordBatch.from_buffer(data)
    except BatchFormatError:
        return
    # A malformed per-record header block is found only when read.
    with contextlib.suppress(BatchFormatError):
        _exercise(batch)


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_random_bytes_raise_only_batch_format_error(data):
    """Arbitrary bytes never raise anything but BatchFormatError."""
    _check_only_format_errors(data)


@settings(max_examples=300)
@given(st.binary(min_size=56, max_size=400))
def test_random_bytes_behind_a_valid_prefix_raise_only_batch_format_error(rest):
    """Random headers and sections behind a valid magic and version fail cleanly."""
    wire = bytearray(b"DFRB" + struct.pack("<HH", 1, 64) + rest)
    struct.pack_into("<I", wire, 16, len(wire))
    struct.pack_into("<I", wire, 60, 0)
    _check_only_format_errors(wire)


_VALID = [
    _batch().to_bytes(),
    RecordBatch.empty().to_bytes(),
    RecordBatch.from_arrays(values=[b"v" * 40] * 3, keys=[b"k\x00", b"k", b""]).to_bytes(),
]


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(_VALID),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), max_size=4),
    st.lists(
        st.tuples(
            st.sampled_from(range(8, 64, 4)),
            st.one_of(st.integers(0, 2**32 - 1), st.sampled_from([0, 1, 8, 64, 65, 2**31])),
        ),
        max_size=2,
    ),
    st.one_of(st.none(), st.integers(0, 600)),
)
def test_corrupted_batches_raise_only_batch_format_error(valid, flips, fields, cut):
    """Bit flips, rewritten header fields and truncations fail only as BatchFormatError."""
    wire = bytearray(valid)
    for position, mask in flips:
        wire[position % len(wire)] ^= mask
    for at, value in fields:
        struct.pack_into("<I", wire, at, value)
    if cut is not None:
        wire = wire[:cut]
    _check_only_format_errors(wire)
