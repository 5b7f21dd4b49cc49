"""Tests for the Record value (dataflare.kernel._record)."""

from __future__ import annotations

import attrs
import pytest

from dataflare.kernel._record import Record


def test_defaults():
    """A record needs only a value: no key, time 0, no headers, no fields."""
    record = Record(b"payload")
    assert (record.key, record.timestamp) == (b"", 0)
    assert dict(record.headers) == {}
    assert dict(record.fields) == {}


def test_records_are_frozen():
    """Fields cannot be reassigned."""
    record = Record(b"v")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        record.value = b"w"  # type: ignore[misc]


def test_headers_and_fields_are_read_only_copies():
    """The record copies its maps and they cannot be changed through it."""
    headers = {"a": "1"}
    record = Record(b"v", headers=headers, fields={"n": 1})
    headers["b"] = "2"
    assert dict(record.headers) == {"a": "1"}
    with pytest.raises(TypeError):
        record.headers["c"] = "3"  # type: ignore[index]
    with pytest.raises(TypeError):
        record.fields["n"] = 2  # type: ignore[index]


def test_equal_records_are_equal_and_hash_alike():
    """Records compare by content and can be hashed despite holding maps."""
    one = Record(b"v", key=b"k", headers={"a": "1"}, fields={"n": 1.5})
    two = Record(b"v", key=b"k", headers={"a": "1"}, fields={"n": 1.5})
    assert one == two
    assert hash(one) == hash(two)
    assert one != Record(b"v", key=b"k", headers={"a": "2"}, fields={"n": 1.5})


def test_repr_shows_plain_dicts():
    """repr shows headers and fields as dicts, not mapping proxies."""
    record = Record(b"v", headers={"a": "1"})
    assert repr(record) == (
        "Record(value=b'v', key=b'', timestamp=0, headers={'a': '1'}, fields={})"
    )


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"value": "text"}, TypeError, "'value' must be <class 'bytes'>"),
        ({"value": b"", "key": None}, TypeError, "'key' must be <class 'bytes'>"),
        ({"value": b"", "timestamp": 1.0}, TypeError, "timestamp must be an int"),
        ({"value": b"", "timestamp": False}, TypeError, "timestamp must be an int"),
        ({"value": b"", "timestamp": -(2**63) - 1}, ValueError, "does not fit in 64 bits"),
        ({"value": b"", "headers": {"a": 1}}, TypeError, "map strings to strings"),
        ({"value": b"", "fields": {1: 1}}, TypeError, "field names must be strings"),
        ({"value": b"", "fields": {"n": "1"}}, TypeError, "field 'n' must be an int or a float"),
        ({"value": b"", "fields": {"n": 2**63}}, ValueError, "does not fit in 64 bits"),
    ],
)
def test_invalid_values_are_refused(arguments, error, message):
    """Each field's type and range is checked on construction."""
    with pytest.raises(error, match=message):
        Record(**arguments)


def test_extreme_int64_values_are_accepted():
    """The full int64 range is valid for timestamps and fields."""
    record = Record(b"", timestamp=-(2**63), fields={"n": 2**63 - 1})
    assert record.timestamp == -(2**63)
