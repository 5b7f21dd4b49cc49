"""Tests for the Event value and its JSON form (dataflare.kernel._event)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dataflare.kernel._event import Event
from dataflare.kernel.errors import EventValidationError

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"

json_data = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(), children, max_size=3)
    ),
    max_leaves=12,
)


def _event(**changes: Any) -> Event:
    fields: dict[str, Any] = {"event_type": "order.created", "data": {"id": 1}, "source": "shop"}
    return Event(**{**fields, **changes})


def _paths(error: pytest.ExceptionInfo[EventValidationError]) -> list[str]:
    return [path for path, _ in error.value.problems]


def test_defaults():
    """An event gets a UUIDv7 id, the current UTC time, version 1, no metadata or trace."""
    before = datetime.now(UTC)
    event = _event()
    assert uuid.UUID(event.id).version == 7
    assert before <= event.timestamp <= datetime.now(UTC)
    assert event.timestamp.tzinfo is UTC
    assert (event.version, event.trace_id, dict(event.metadata)) == (1, None, {})


def test_create_makes_fresh_increasing_ids():
    """Event.create gives each event a new id, later ones sorting after earlier ones."""
    first = Event.create("user.signed_up", None, source="urn:dataflare:demo")
    second = Event.create("user.signed_up", None, source="urn:dataflare:demo")
    assert first.id < second.id


def test_create_passes_every_field():
    """create sets metadata, timestamp, version and trace id as given."""
    when = datetime(2024, 5, 1, 12, tzinfo=UTC)
    event = Event.create(
        "order.paid", [1], source="billing", metadata={"tenant": "t1"}, timestamp=when,
        version=3, trace_id=TRACE,
    )  # fmt: skip
    assert (event.timestamp, event.version, event.trace_id) == (when, 3, TRACE)
    assert dict(event.metadata) == {"tenant": "t1"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", ""),
        ("id", "has space"),
        ("id", "x" * 129),
        ("id", 7),
        ("event_type", "Order.created"),
        ("event_type", "order"),
        ("event_type", "order..created"),
        ("event_type", "order.1created"),
        ("event_type", "order.created."),
        ("data", {1, 2}),
        ("data", object()),
        ("data", float("nan")),
        ("metadata", {"k": 1}),
        ("metadata", ["k"]),
        ("timestamp", datetime(2024, 1, 1)),
        ("timestamp", "2024-01-01T00:00:00Z"),
        ("source", ""),
        ("source", "billing service"),
        ("source", "tab\there"),
        ("version", 0),
        ("version", True),
        ("version", "1"),
        ("trace_id", TRACE.upper()),
        ("trace_id", "0" * 32),
        ("trace_id", TRACE[:-1]),
    ],
)
def test_each_invalid_field_is_refused_by_the_constructor(field, value):
    """A bad value in any field makes construction fail, naming that field."""
    with pytest.raises(EventValidationError) as caught:
        _event(**{field: value})
    (path,) = _paths(caught)
    assert path == f"$.{field}" or path.startswith(f"$.{field}.")


def test_constructor_reports_every_bad_field_at_once():
    """All problems come back together, not only the first."""
    with pytest.raises(EventValidationError) as caught:
        Event(event_type="Bad", data=[{"x": {1}}], source="", version=0, trace_id="0" * 32)
    assert _paths(caught) == [
        "$.event_type", "$.data[0].x", "$.source", "$.version", "$.trace_id",
    ]  # fmt: skip
    assert "invalid event (5 problem(s))" in str(caught.value)


def test_evolve_cannot_make_an_invalid_event():
    """attrs.evolve goes through the same checks."""
    with pytest.raises(EventValidationError):
        attrs.evolve(_event(), source="")


def test_events_are_frozen_and_hashable():
    """Events cannot be changed and can be hashed even though data is a dict."""
    event = _event()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.source = "other"  # type: ignore[misc]
    assert hash(event) == hash(attrs.evolve(event))


def test_data_and_metadata_are_copied():
    """Changing the caller's objects later does not change (or invalidate) the event."""
    data = {"items": [1]}
    metadata = {"k": "v"}
    event = _event(data=data, metadata=metadata)
    data["items"].append({1})  # type: ignore[arg-type]
    metadata["k"] = "changed"
    assert event.data == {"items": [1]}
    assert dict(event.metadata) == {"k": "v"}


def test_tuples_in_data_become_lists():
    """data holds what JSON gives back, so tuples are stored as lists."""
    assert _event(data=(1, (2, 3))).data == [1, [2, 3]]


def test_aware_timestamps_are_stored_in_utc():
    """A timestamp in another zone is converted to the same instant in UTC."""
    local = datetime(2024, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    event = _event(timestamp=local)
    assert event.timestamp == local
    assert event.timestamp.tzinfo is UTC
    assert event.timestamp.hour == 10


def test_to_dict_is_json_ready():
    """to_dict gives builtins, with the timestamp as ISO 8601."""
    event = _event(timestamp=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), metadata={"a": "b"})
    assert event.to_dict() == {
        "id": event.id,
        "event_type": "order.created",
        "data": {"id": 1},
        "metadata": {"a": "b"},
        "timestamp": "2024-01-02T03:04:05+00:00",
        "source": "shop",
        "version": 1,
        "trace_id": None,
    }


@given(
    json_data,
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
    st.datetimes(timezones=st.just(UTC)),
    st.one_of(st.none(), st.just(TRACE)),
    st.integers(1, 1000),
)
def test_json_round_trip(data, metadata, timestamp, trace_id, version):
    """to_json then from_json gives back an equal event."""
    event = _event(
        data=data, metadata=metadata, timestamp=timestamp, trace_id=trace_id, version=version
    )
    assert Event.from_json(event.to_json()) == event
    assert Event.from_dict(event.to_dict()) == event


def test_to_json_is_compact_utf8():
    """JSON output is UTF-8 without escapes for non-ASCII text and without spaces."""
    text = _event(data={"name": "Zoë"}).to_json()
    assert "Zoë".encode() in text
    assert b": " not in text


def test_from_dict_fills_missing_id_and_timestamp():
    """Only event_type, data and source are required."""
    event = Event.from_dict({"event_type": "a.b", "data": None, "source": "s"})
    assert uuid.UUID(event.id).version == 7
    assert event.timestamp.tzinfo is UTC


def test_from_dict_accepts_epoch_seconds_and_naive_iso_as_utc():
    """Timestamps in JSON may be seconds since the epoch, or ISO without a zone (UTC)."""
    fields = {"event_type": "a.b", "data": None, "source": "s"}
    from_number = Event.from_dict({**fields, "timestamp": 0})
    from_naive = Event.from_dict({**fields, "timestamp": "1970-01-01T00:00:00"})
    assert from_number.timestamp == from_naive.timestamp == datetime(1970, 1, 1, tzinfo=UTC)


def test_from_dict_reports_every_problem_at_once():
    """Bad, missing and unknown fields are all listed, each with its path."""
    with pytest.raises(EventValidationError) as caught:
        Event.from_dict(
            {
                "event_type": "Order",
                "data": {"tags": {1}},
                "metadata": {"k": 2},
                "timestamp": "not a time",
                "version": 1.0,
                "trace_id": "xyz",
                "colour": "red",
            }
        )
    problems = dict(caught.value.problems)
    assert set(problems) == {
        "$.event_type",
        "$.data.tags",
        "$.metadata.k",
        "$.timestamp",
        "$.source",
        "$.version",
        "$.trace_id",
        "$.colour",
    }
    assert problems["$.source"] == "required field is missing"
    assert problems["$.colour"].startswith("unknown field")
    assert problems["$.timestamp"].startswith("must be an ISO 8601 timestamp")


def test_from_dict_does_not_coerce_types():
    """A number is not taken as a string, nor a string as a number."""
    with pytest.raises(EventValidationError) as caught:
        Event.from_dict({"event_type": "a.b", "data": 1, "source": 5, "version": "2"})
    assert _paths(caught) == ["$.source", "$.version"]


def test_from_dict_needs_an_object():
    """A list is not an event."""
    with pytest.raises(EventValidationError, match=r"\$: expected an object, got list"):
        Event.from_dict([1, 2])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        (b"{not json", "$", "not valid JSON"),
        (b"\xff\xfe", "$", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "$", "not valid JSON"),
        (b"[1]", "$", "expected an object"),
        (b'{"event_type":"a.b","data":NaN,"source":"s"}', "$.data", "no NaN"),
    ],
)
def test_from_json_refuses_bad_documents(text, path, message):
    """Broken, non-object and non-JSON-number documents are EventValidationErrors."""
    with pytest.raises(EventValidationError) as caught:
        Event.from_json(text)
    assert caught.value.problems[0][0] == path
    assert message in caught.value.problems[0][1]


def test_from_json_accepts_text():
    """from_json takes str as well as bytes."""
    document = {"event_type": "a.b", "data": [1], "source": "s", "version": 2}
    assert Event.from_json(json.dumps(document)).version == 2
