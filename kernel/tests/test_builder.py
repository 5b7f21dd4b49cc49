"""Tests for RecordBatchBuilder (dataflare.kernel._builder)."""

from __future__ import annotations

import numpy as np
import pytest

from dataflare.kernel._batch import RecordBatch
from dataflare.kernel._builder import RecordBatchBuilder
from dataflare.kernel._record import Record
from dataflare.kernel.errors import DataError


def test_appended_records_come_back_from_the_batch():
    """Every appended record, with key, time, headers and fields, is in the batch."""
    builder = RecordBatchBuilder()
    builder.append(b"v1", key=b"k1", timestamp=10, headers={"h": "1"}, clicks=1, price=0.5)
    builder.append(b"v2", timestamp=20, clicks=2, price=1.5)
    batch = builder.build({"trace": "t"})
    assert list(batch) == [
        Record(
            b"v1", key=b"k1", timestamp=10, headers={"h": "1"}, fields={"clicks": 1, "price": 0.5}
        ),
        Record(b"v2", timestamp=20, fields={"clicks": 2, "price": 1.5}),
    ]
    assert dict(batch.metadata) == {"trace": "t"}
    assert len(builder) == 2


def test_mixed_ints_and_floats_make_a_float_column():
    """A float anywhere in a field makes that column f64."""
    builder = RecordBatchBuilder()
    builder.append(b"", n=1)
    builder.append(b"", n=2.5)
    column = builder.build().column("n")
    assert column.dtype == np.float64
    assert column.tolist() == [1.0, 2.5]


def test_booleans_are_stored_as_integers():
    """bool fields make an i64 column of 0 and 1."""
    builder = RecordBatchBuilder()
    builder.append(b"", mobile=True)
    builder.append(b"", mobile=False)
    assert builder.build().column("mobile").tolist() == [1, 0]


def test_missing_field_names_the_field_and_record():
    """A record without a field the first record gave is refused."""
    builder = RecordBatchBuilder()
    builder.append(b"", clicks=1, price=0.5)
    with pytest.raises(DataError, match="record 1 has no field 'price'"):
        builder.append(b"", clicks=2)


def test_extra_field_names_the_field_and_record():
    """A record with a field the first record did not give is refused."""
    builder = RecordBatchBuilder()
    builder.append(b"")
    builder.append(b"")
    with pytest.raises(DataError, match="record 2 gives field 'clicks', which the records"):
        builder.append(b"", clicks=2)


def test_refused_record_leaves_no_trace():
    """A refused append adds nothing, so the batch stays consistent."""
    builder = RecordBatchBuilder()
    builder.append(b"a", n=1)
    with pytest.raises(DataError):
        builder.append(b"b", m=1)
    with pytest.raises(TypeError):
        builder.append(b"c", n="one")  # type: ignore[arg-type]
    assert len(builder) == 1
    assert list(builder.build()) == [Record(b"a", fields={"n": 1})]


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"value": "text"}, TypeError, "record 0 value must be bytes"),
        ({"value": b"", "key": "k"}, TypeError, "record 0 key must be bytes"),
        ({"value": b"", "timestamp": 1.5}, TypeError, "record 0 timestamp must be an int"),
        ({"value": b"", "timestamp": True}, TypeError, "record 0 timestamp must be an int"),
        ({"value": b"", "timestamp": 2**63}, DataError, "does not fit in 64 bits"),
        ({"value": b"", "headers": {"h": 1}}, TypeError, "map strings to strings"),
        ({"value": b"", "n": 2**64}, DataError, "record 0 field 'n' is 18446744073709551616"),
        ({"value": b"", "n": None}, TypeError, "field 'n' must be an int or a float"),
    ],
)
def test_bad_record_is_refused_at_append(arguments, error, message):
    """Every kind of bad input is refused when appended, naming the record."""
    builder = RecordBatchBuilder()
    value = arguments.pop("value")
    with pytest.raises(error, match=message):
        builder.append(value, **arguments)


def test_invalid_field_name_is_refused():
    """Field names become column names, so they must fit the layout."""
    with pytest.raises(DataError, match="record 0: column name"):
        RecordBatchBuilder().append(b"", **{"x" * 24: 1})  # type: ignore[arg-type]


def test_bytearray_is_copied_at_append():
    """Changing a bytearray after appending it does not change the batch."""
    payload = bytearray(b"before")
    builder = RecordBatchBuilder()
    builder.append(payload)
    payload[:] = b"after!"
    assert builder.build().value(0) == b"before"


def test_headers_are_copied_at_append():
    """Changing a headers dict after appending it does not change the batch."""
    headers = {"a": "1"}
    builder = RecordBatchBuilder()
    builder.append(b"", headers=headers)
    headers["b"] = "2"
    assert builder.build().headers(0) == {"a": "1"}


def test_extend_accepts_fields_named_like_append_arguments():
    """Records may have fields called key or timestamp; extend passes them as columns."""
    record = Record(b"v", key=b"k", timestamp=3, fields={"key": 1, "timestamp": 2.5})
    builder = RecordBatchBuilder()
    builder.extend([record])
    assert list(builder.build()) == [record]


def test_build_leaves_the_builder_and_clear_empties_it():
    """build can be called again; clear forgets records and column names."""
    builder = RecordBatchBuilder()
    builder.append(b"a", n=1)
    assert builder.build() == builder.build()
    builder.clear()
    assert len(builder) == 0
    builder.append(b"b", other=2.0)
    assert builder.build().column_names == ("other",)


def test_empty_builder_builds_the_empty_batch():
    """A builder with no records builds an empty batch."""
    assert RecordBatchBuilder().build() == RecordBatch.empty()


def test_batch_without_headers_skips_header_blocks():
    """When no record has headers, the header region is empty."""
    builder = RecordBatchBuilder()
    builder.append(b"a")
    builder.append(b"b", headers={})
    batch = builder.build()
    assert batch.headers(0) == batch.headers(1) == {}
    assert RecordBatch.from_arrays(values=[b"a", b"b"]) == batch
