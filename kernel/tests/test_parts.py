"""Tests for a batch's parts and the operations on them (dataflare.kernel._parts)."""

from __future__ import annotations

import numpy as np
import pytest

from dataflare.kernel._batch import RecordBatch
from dataflare.kernel._parts import BatchParts, normalise_column, normalise_timestamps
from dataflare.kernel._reader import read_batch
from dataflare.kernel._writer import write_batch
from dataflare.kernel.errors import DataError


def _pack(**arguments: object) -> BatchParts:
    return BatchParts.from_arrays(**arguments)  # type: ignore[arg-type]


def _parts() -> BatchParts:
    batch = RecordBatch.from_arrays(
        keys=[b"a", b"b", b"c"],
        values=[b"1", b"22", b"333"],
        timestamps=[10, 20, 30],
        columns={"n": [1, 2, 3], "x": [0.5, 1.5, 2.5]},
        headers=[{"h": "1"}, {}, {"h": "3"}],
        metadata={"m": "v"},
    )
    return BatchParts.from_view(read_batch(batch.buffer))


def _records(parts: BatchParts) -> list[tuple[bytes, bytes, int, int]]:
    batch = RecordBatch.from_buffer(write_batch(parts))
    return [(r.key, r.value, r.timestamp, int(r.fields["n"])) for r in batch]


def test_from_view_then_write_reproduces_the_batch():
    """Parts taken from a batch write back to the same bytes."""
    parts = _parts()
    original = RecordBatch.from_buffer(write_batch(parts))
    assert (
        RecordBatch.from_buffer(write_batch(BatchParts.from_view(read_batch(original.buffer))))
        == original
    )


def test_select_take_and_slice_move_every_part_together():
    """Keys, values, times, columns and headers stay aligned through each operation."""
    parts = _parts()
    assert _records(parts.select(np.array([True, False, True]))) == [
        (b"a", b"1", 10, 1),
        (b"c", b"333", 30, 3),
    ]
    assert _records(parts.take(np.array([2, 2, 0]))) == [
        (b"c", b"333", 30, 3),
        (b"c", b"333", 30, 3),
        (b"a", b"1", 10, 1),
    ]
    assert _records(parts.slice(1, 3)) == [(b"b", b"22", 20, 2), (b"c", b"333", 30, 3)]
    assert RecordBatch.from_buffer(write_batch(parts.take(np.array([2])))).headers(0) == {"h": "3"}


def test_operations_keep_metadata():
    """Every operation carries the batch metadata over."""
    parts = _parts()
    for result in (
        parts.select(np.ones(3, np.bool_)),
        parts.take(np.array([0])),
        parts.slice(0, 0),
    ):
        assert dict(result.metadata) == {"m": "v"}


def test_schema_names_column_types():
    """schema() maps each column to i64 or f64, in order."""
    assert _parts().schema() == {"n": "i64", "x": "f64"}


def test_concat_refuses_different_schemas():
    """Parts with different columns cannot be joined."""
    other = BatchParts.from_view(read_batch(RecordBatch.from_arrays(columns={"n": [1]}).buffer))
    with pytest.raises(DataError, match=r"batch 1 has \[n: i64\]"):
        BatchParts.concat([_parts(), other])


def test_lengths_must_agree():
    """Every argument must describe the same number of records; the message lists them."""
    with pytest.raises(DataError, match="values has 2, keys has 1, count has 2"):
        _pack(values=[b"a", b"b"], keys=[b"k"], count=2)


def test_column_length_must_agree():
    """A column with the wrong number of values is refused by name."""
    with pytest.raises(DataError, match="column 'n' has 3"):
        _pack(values=[b"a", b"b"], columns={"n": [1, 2, 3]})


def test_negative_count_is_refused():
    """count cannot be negative."""
    with pytest.raises(DataError, match="count must not be negative"):
        _pack(count=-1)


def test_count_alone_makes_empty_records():
    """With only a count, records have empty values and keys and time 0."""
    view = read_batch(write_batch(_pack(count=3)))
    assert view.timestamps.tolist() == [0, 0, 0]
    assert view.value_offsets.tolist() == [0, 0, 0, 0]


def test_nothing_makes_no_records():
    """With no arguments there are no records."""
    assert read_batch(write_batch(_pack())).timestamps.size == 0


def test_timestamps_from_datetime64_become_milliseconds():
    """datetime64 values are converted to milliseconds since the epoch."""
    stamps = np.array(["1970-01-01T00:00:01", "2024-01-01T00:00:00.5"], dtype="datetime64[ms]")
    assert normalise_timestamps(stamps).tolist() == [1000, 1704067200500]


def test_timestamps_in_seconds_resolution_are_scaled():
    """A coarser datetime64 unit is scaled to milliseconds."""
    stamps = np.array([2], dtype="datetime64[s]")
    assert normalise_timestamps(stamps).tolist() == [2000]


@pytest.mark.parametrize("bad", [[1.5], ["x"], [2**64 - 1], np.array([2**63], dtype=np.uint64)])
def test_non_integer_timestamps_are_refused(bad):
    """Floats, strings and integers past int64 are not timestamps."""
    with pytest.raises(DataError, match="timestamps must be integers"):
        normalise_timestamps(bad)


def test_two_dimensional_timestamps_are_refused():
    """Timestamps are one per record."""
    with pytest.raises(DataError, match="one-dimensional"):
        normalise_timestamps([[1, 2]])


@pytest.mark.parametrize(
    ("values", "dtype"),
    [
        ([1, 2], np.int64),
        ([True, False], np.int64),
        (np.array([1, 2], np.uint8), np.int64),
        ([1, 2.5], np.float64),
        (np.array([1.5], np.float32), np.float64),
    ],
)
def test_columns_become_int64_or_float64(values, dtype):
    """Integers and booleans become int64; any float makes the column float64."""
    column = normalise_column("c", values)
    assert column.dtype == dtype
    assert column.tolist() == [float(v) if dtype == np.float64 else int(v) for v in values]


@pytest.mark.parametrize("bad", [["a"], [2**64], [None], np.array([2**63], np.uint64), [[1]]])
def test_non_numeric_columns_are_refused(bad):
    """Strings, objects, integers past int64 and nested lists are refused by name."""
    with pytest.raises(DataError, match="column 'c'"):
        normalise_column("c", bad)


def test_ragged_nested_lists_are_refused():
    """A value numpy cannot make an array of is a DataError."""
    with pytest.raises(DataError, match="cannot be read as a numeric array"):
        normalise_column("c", [[1], [1, 2]])
