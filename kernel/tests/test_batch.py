"""Tests for RecordBatch (dataflare.kernel._batch), against plain-Python references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataflare.kernel._batch import RecordBatch
from dataflare.kernel._record import Record
from dataflare.kernel.errors import DataError

_KEYS = st.binary(max_size=6) | st.sampled_from([b"", b"u1", b"u1\x00", b"\x00"])
_NUMBERS = {
    "i": st.integers(-(2**63), 2**63 - 1),
    "f": st.floats(allow_nan=False, width=64),
}


@st.composite
def record_lists(draw: st.DrawFn, max_size: int = 25) -> list[Record]:
    """Lists of records that share one set of typed fields."""
    kinds = draw(st.dictionaries(st.sampled_from(["clicks", "price", "é"]), st.sampled_from("if")))
    fields = st.fixed_dictionaries({name: _NUMBERS[kind] for name, kind in kinds.items()})
    record = st.builds(
        Record,
        value=st.binary(max_size=30),
        key=_KEYS,
        timestamp=st.integers(-(2**63), 2**63 - 1),
        headers=st.dictionaries(st.text(max_size=4), st.text(max_size=6), max_size=2),
        fields=fields,
    )
    return draw(st.lists(record, max_size=max_size))


def _batch(records: list[Record], metadata: dict[str, str] | None = None) -> RecordBatch:
    return RecordBatch.from_records(records, metadata=metadata)


@given(record_lists(), st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3))
def test_round_trip_through_bytes(records, metadata):
    """Records built into a batch come back identical after bytes and from_buffer."""
    batch = _batch(records, metadata)
    again = RecordBatch.from_buffer(batch.to_bytes())
    assert list(again) == records
    assert again == batch
    assert dict(again.metadata) == metadata


def test_from_records_and_from_arrays_write_the_same_bytes():
    """The builder path and the array path produce one canonical layout."""
    records = [Record(b"v1", key=b"k", timestamp=5, fields={"n": 1}), Record(b"", fields={"n": 2})]
    arrays = RecordBatch.from_arrays(
        values=[b"v1", b""], keys=[b"k", b""], timestamps=[5, 0], columns={"n": [1, 2]}
    )
    assert _batch(records) == arrays


def test_empty_batch():
    """An empty batch has no records, columns or metadata and still round-trips."""
    empty = RecordBatch.empty()
    assert len(empty) == 0
    assert list(empty) == []
    assert empty.column_names == ()
    assert RecordBatch.from_buffer(empty.buffer) == empty
    assert empty.nbytes == len(empty.to_bytes())


def test_batch_of_empty_values_carries_data_in_columns():
    """A batch may have no values at all and hold its data in columns."""
    batch = RecordBatch.from_arrays(columns={"x": np.arange(4), "y": np.ones(4)})
    assert len(batch) == 4
    assert batch.value_data.size == 0
    assert batch.value(3) == b""
    assert batch.column("y").tolist() == [1.0] * 4


def test_unicode_headers_and_metadata():
    """Headers and metadata hold any Unicode text."""
    batch = RecordBatch.from_arrays(
        values=[b"v"], headers=[{"señal": "日本語 ✓"}], metadata={"ключ": "значение"}
    )
    again = RecordBatch.from_buffer(batch.to_bytes())
    assert again.headers(0) == {"señal": "日本語 ✓"}
    assert dict(again.metadata) == {"ключ": "значение"}


def test_big_values_round_trip():
    """Multi-megabyte values survive a round trip intact."""
    big = bytes(range(256)) * 20_000
    batch = RecordBatch.from_arrays(values=[b"small", big, b""])
    again = RecordBatch.from_buffer(batch.to_bytes())
    assert again.value(1) == big
    assert again.value(0) == b"small"


def test_empty_key_means_no_key():
    """The layout has no null key: no key and b"" are the same record."""
    no_key = RecordBatch.from_arrays(values=[b"v"])
    empty_key = RecordBatch.from_arrays(values=[b"v"], keys=[b""])
    assert no_key == empty_key
    assert no_key.key(0) == b""
    assert no_key.record(0) == Record(b"v")


def test_columns_keep_their_types_and_order():
    """Typed columns come back as int64 and float64 views, in the order given."""
    batch = RecordBatch.from_arrays(columns={"b": [1, 2], "a": [0.5, 1.5]})
    assert batch.column_names == ("b", "a")
    assert batch.column("b").dtype == np.int64
    assert batch.column("a").dtype == np.float64
    assert batch.record(1).fields == {"b": 2, "a": 1.5}


def test_missing_column_lists_the_columns():
    """Asking for an unknown column says which columns exist."""
    batch = RecordBatch.from_arrays(columns={"clicks": [1]})
    with pytest.raises(
        KeyError, match=r"no column 'price' in this record batch; columns: \['clicks'\]"
    ):
        batch.column("price")


def test_arrays_are_zero_copy_views_of_the_buffer():
    """from_buffer over a bytearray views it: no copy of values or columns."""
    wire = bytearray(RecordBatch.from_arrays(values=[b"ab"], columns={"n": [7]}).to_bytes())
    batch = RecordBatch.from_buffer(wire)
    whole = np.frombuffer(wire, np.uint8)
    assert np.shares_memory(batch.column("n"), whole)
    assert np.shares_memory(batch.value_data, whole)
    assert np.shares_memory(np.frombuffer(batch.buffer, np.uint8), whole)


def test_batch_arrays_cannot_be_modified():
    """The batch is immutable: its arrays are read-only."""
    batch = RecordBatch.from_arrays(timestamps=[1], columns={"n": [1]})
    with pytest.raises(ValueError, match="read-only"):
        batch.column("n")[0] = 2
    with pytest.raises(ValueError, match="read-only"):
        batch.timestamps[0] = 2


def test_offsets_views_index_the_data():
    """key_offsets and value_offsets index key_data and value_data."""
    batch = RecordBatch.from_arrays(keys=[b"ab", b"", b"c"], values=[b"x", b"yz", b""])
    assert batch.key_offsets.tolist() == [0, 2, 2, 3]
    assert batch.value_offsets.tolist() == [0, 1, 3, 3]
    assert batch.key_data.tobytes() == b"abc"
    assert batch.value_offsets.dtype == np.uint32


def test_negative_and_out_of_range_record_indices():
    """Per-record access counts negative indices from the end and refuses others."""
    batch = RecordBatch.from_arrays(values=[b"a", b"b"])
    assert batch.value(-1) == b"b"
    assert batch.record(-2).value == b"a"
    with pytest.raises(IndexError, match="record 2 is out of range for a batch of 2"):
        batch.key(2)
    with pytest.raises(IndexError):
        batch.headers(-3)


def test_equality_is_by_bytes_and_batches_are_unhashable():
    """Batches with equal bytes are equal; hashing is refused."""
    one = RecordBatch.from_arrays(values=[b"a"])
    assert one == RecordBatch.from_buffer(bytearray(one.to_bytes()))
    assert one != RecordBatch.from_arrays(values=[b"b"])
    assert one != b"not a batch"
    with pytest.raises(TypeError, match="unhashable"):
        hash(one)


def test_repr_is_short():
    """repr shows the size, columns and metadata, not the records."""
    batch = RecordBatch.from_arrays(values=[b"a"], columns={"n": [1]}, metadata={"k": "v"})
    assert repr(batch) == (
        f"RecordBatch(count=1, nbytes={batch.nbytes}, columns=['n'], metadata={{'k': 'v'}})"
    )


@settings(max_examples=60)
@given(record_lists(), st.data())
def test_filter_matches_a_python_loop(records, data):
    """filter keeps exactly the records a Python loop would, in order."""
    mask = data.draw(st.lists(st.booleans(), min_size=len(records), max_size=len(records)))
    batch = _batch(records, {"m": "1"})
    result = batch.filter(np.array(mask, np.bool_))
    assert list(result) == [record for record, keep in zip(records, mask, strict=True) if keep]
    assert result.column_names == batch.column_names
    assert dict(result.metadata) == {"m": "1"}
    assert RecordBatch.from_buffer(result.to_bytes()) == result


@settings(max_examples=60)
@given(record_lists(), st.data())
def test_take_matches_indexing(records, data):
    """take gathers records by position, repeats, reordering and negatives included."""
    size = len(records)
    positions = data.draw(st.lists(st.integers(-size, size - 1), max_size=30)) if size else []
    result = _batch(records).take(np.array(positions, dtype=np.int64))
    assert list(result) == [records[position] for position in positions]


@settings(max_examples=60)
@given(record_lists(), st.integers(-30, 30), st.integers(-30, 30))
def test_slice_matches_list_slicing(records, start, stop):
    """slice(start, stop) behaves like records[start:stop]."""
    assert list(_batch(records).slice(start, stop)) == records[start:stop]


@settings(max_examples=40)
@given(st.lists(record_lists(max_size=8), max_size=4))
def test_concat_matches_list_concatenation(groups):
    """concat joins batches with the same columns end to end."""
    batches = [_batch(group) for group in groups if group]
    if len({tuple(sorted(_schema(batch).items())) for batch in batches}) > 1:
        with pytest.raises(DataError, match="different columns"):
            RecordBatch.concat(batches)
        return
    result = RecordBatch.concat(batches)
    assert list(result) == [record for batch in batches for record in batch]


def _schema(batch: RecordBatch) -> dict[str, str]:
    return {name: batch.column(name).dtype.kind for name in batch.column_names}


def test_concat_keeps_the_first_metadata():
    """The joined batch carries the first batch's metadata."""
    first = RecordBatch.from_arrays(values=[b"a"], metadata={"from": "first"})
    second = RecordBatch.from_arrays(values=[b"b"], metadata={"from": "second"})
    assert dict(RecordBatch.concat([first, second]).metadata) == {"from": "first"}


def test_concat_of_nothing_is_empty():
    """Concatenating no batches gives the empty batch."""
    assert RecordBatch.concat([]) == RecordBatch.empty()


def test_concat_with_different_columns_says_how_they_differ():
    """Mismatched columns are refused, showing both sets."""
    ints = RecordBatch.from_arrays(columns={"n": [1]})
    floats = RecordBatch.from_arrays(columns={"n": [1.5]})
    with pytest.raises(DataError, match=r"batch 0 has \[n: i64\], batch 1 has \[n: f64\]"):
        RecordBatch.concat([ints, floats])


def test_concat_accepts_the_same_columns_in_another_order():
    """Column order may differ; the result uses the first batch's order."""
    one = RecordBatch.from_arrays(columns={"a": [1], "b": [2.0]})
    two = RecordBatch.from_arrays(columns={"b": [4.0], "a": [3]})
    result = RecordBatch.concat([one, two])
    assert result.column_names == ("a", "b")
    assert result.column("a").tolist() == [1, 3]


def test_filter_refuses_a_wrong_mask():
    """The mask must be boolean and one per record."""
    batch = RecordBatch.from_arrays(values=[b"a", b"b"])
    with pytest.raises(TypeError, match="boolean mask"):
        batch.filter(np.array([1, 0]))
    with pytest.raises(ValueError, match="needs 2 booleans"):
        batch.filter(np.array([True]))


def test_take_refuses_bad_positions():
    """Positions must be integers within the batch."""
    batch = RecordBatch.from_arrays(values=[b"a", b"b"])
    with pytest.raises(TypeError, match="integer positions"):
        batch.take(np.array([0.5]))
    with pytest.raises(IndexError, match="out of range"):
        batch.take([2])
    with pytest.raises(IndexError, match="out of range"):
        batch.take([-3])
    assert len(batch.take([])) == 0


def test_with_metadata_replaces_the_metadata():
    """with_metadata returns a copy with new metadata; the original is unchanged."""
    batch = RecordBatch.from_arrays(values=[b"a"], metadata={"old": "1"})
    updated = batch.with_metadata({"traceparent": "00-abc-01"})
    assert dict(updated.metadata) == {"traceparent": "00-abc-01"}
    assert dict(batch.metadata) == {"old": "1"}
    assert list(updated) == list(batch)


def test_with_columns_adds_and_replaces():
    """New columns go last; replaced columns keep their place."""
    batch = RecordBatch.from_arrays(columns={"a": [1, 2], "b": [3, 4]})
    updated = batch.with_columns({"a": [0.5, 1.5], "c": np.array([True, False])})
    assert updated.column_names == ("a", "b", "c")
    assert updated.column("a").tolist() == [0.5, 1.5]
    assert updated.column("c").tolist() == [1, 0]


def test_with_columns_refuses_the_wrong_length():
    """A new column must have one value per record."""
    batch = RecordBatch.from_arrays(count=2)
    with pytest.raises(DataError, match="column 'c' has 3 values for 2 records"):
        batch.with_columns({"c": [1, 2, 3]})


def _reference_codes(keys: list[bytes]) -> tuple[list[int], list[bytes]]:
    numbers: dict[bytes, int] = {}
    for key in keys:
        numbers.setdefault(key, len(numbers))
    return [numbers[key] for key in keys], list(numbers)


@given(st.lists(_KEYS, max_size=60))
def test_key_codes_match_a_dict_reference(keys):
    """Codes group equal keys (trailing zero bytes matter), in order of first appearance."""
    codes, unique = RecordBatch.from_arrays(keys=keys).key_codes()
    assert (codes.tolist(), unique) == _reference_codes(keys)


def test_key_codes_drive_a_numpy_aggregation():
    """key_codes plus np.bincount sums a column per key without a Python loop."""
    batch = RecordBatch.from_arrays(keys=[b"a", b"b", b"a", b""], columns={"amount": [5, 7, 9, 1]})
    codes, keys = batch.key_codes()
    sums = np.bincount(codes, weights=batch.column("amount"))
    assert dict(zip(keys, sums.tolist(), strict=True)) == {b"a": 14.0, b"b": 7.0, b"": 1.0}


def test_filter_on_many_records_is_vectorised():
    """Filtering 200k records takes a fixed number of numpy calls, not one per record."""
    count = 200_000
    batch = RecordBatch.from_arrays(
        values=[b"value-%d" % n for n in range(count)], columns={"n": np.arange(count)}
    )
    kept = batch.filter(batch.column("n") % 2 == 0)
    assert len(kept) == count // 2
    assert kept.value(-1) == b"value-%d" % (count - 2)
    assert kept.column("n")[:3].tolist() == [0, 2, 4]


def test_from_arrays_refuses_text_values():
    """Values must be bytes."""
    with pytest.raises(TypeError, match="values must be bytes"):
        RecordBatch.from_arrays(values=["text"])  # type: ignore[list-item]


def test_from_arrays_refuses_non_string_headers():
    """Header maps must be strings to strings; the record is named."""
    with pytest.raises(DataError, match="headers of record 1"):
        RecordBatch.from_arrays(values=[b"a", b"b"], headers=[{}, {"n": 1}])  # type: ignore[dict-item]


def test_packed_keys_and_values_build_the_same_batch_as_bytes():
    keys, values = [b"a", b"", b"ccc"], [b"xy", b"z", b""]
    packed_keys = (np.array([0, 1, 1, 4]), np.frombuffer(b"accc", np.uint8))
    packed_values = (np.array([0, 2, 3, 3], np.uint32), np.frombuffer(b"xyz", np.uint8))
    from_bytes = RecordBatch.from_arrays(keys=keys, values=values, timestamps=[1, 2, 3])
    from_packed = RecordBatch.from_arrays(
        keys=packed_keys, values=packed_values, timestamps=[1, 2, 3]
    )
    assert from_packed == from_bytes
    assert [from_packed.key(i) for i in range(3)] == keys


@pytest.mark.parametrize(
    ("offsets", "data", "problem"),
    [
        (np.array([1, 2]), b"ab", "start at 0"),
        (np.array([0, 2, 1]), b"ab", "never decrease"),
        (np.array([0, 3]), b"ab", "end at the data's length"),
        (np.array([0.0, 2.0]), b"ab", "integer array"),
    ],
)
def test_bad_packed_offsets_are_refused(offsets, data, problem):
    with pytest.raises(DataError, match=problem):
        RecordBatch.from_arrays(values=(offsets, np.frombuffer(data, np.uint8)))


def test_with_keys_replaces_every_key_and_keeps_the_rest():
    batch = RecordBatch.from_arrays(
        values=[b"1", b"2"], timestamps=[5, 6], columns={"n": np.array([1, 2])}
    )
    keyed = batch.with_keys([b"k1", b"k2"])
    assert [keyed.key(0), keyed.key(1)] == [b"k1", b"k2"]
    assert [keyed.value(0), keyed.value(1)] == [b"1", b"2"]
    assert keyed.column("n").tolist() == [1, 2]
    assert keyed.timestamps.tolist() == [5, 6]
    packed = batch.with_keys((np.array([0, 1, 2]), np.frombuffer(b"ab", np.uint8)))
    assert packed.key_codes()[1] == [b"a", b"b"]
    with pytest.raises(DataError, match="one key per record: 1 for 2"):
        batch.with_keys([b"only-one"])
