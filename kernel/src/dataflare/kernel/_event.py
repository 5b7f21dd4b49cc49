"""Event: something that happened, with who said so, when, and the trace it belongs to.

Events are what the event router, store and replay move around; unlike records,
they are few and rich, so they are Python values serialised as JSON. An invalid
event cannot exist: the constructor and :meth:`Event.from_dict` /
:meth:`Event.from_json` check every field and report every bad one at once, as an
:class:`~dataflare.kernel.errors.EventValidationError` with a path per problem.

Example::

    event = Event.create("order.created", {"order_id": 42, "total": 9.5},
                         source="billing-service")
    wire = event.to_json()
    assert Event.from_json(wire) == event

    Event.from_dict({"event_type": "Order", "data": {1, 2}, "source": ""})
    # EventValidationError: invalid event (3 problem(s)): $.event_type: must be a
    #   dotted lower-case name ...; $.data: set is not a JSON value ...;
    #   $.source: must be a non-empty string ...
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final, TypeAlias

import attrs
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError
from cattrs.gen import make_dict_structure_fn, override

from dataflare.kernel._convert import make_converter
from dataflare.kernel._json import json_copy, json_problems, key_path
from dataflare.kernel._uuid7 import uuid7
from dataflare.kernel.errors import EventValidationError

__all__ = ("Event",)

Problem: TypeAlias = tuple[str, str]
"""A path below the field (``""`` for the field itself) and what is wrong there."""

_EVENT_TYPE: Final = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+")
_TRACE_ID: Final = re.compile(r"[0-9a-f]{32}")
# Ids travel in NATS headers (Nats-Msg-Id for de-duplication), which cannot hold
# spaces or control characters.
_ID: Final = re.compile(r"[!-~]{1,128}")


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime) -> datetime:
    # The checks below report a non-datetime or a naive datetime; only convert here.
    if isinstance(value, datetime) and value.utcoffset() is not None:
        return value.astimezone(UTC)
    return value


def _read_only(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(value)) if isinstance(value, Mapping) else value


@attrs.frozen(kw_only=True)
class Event:
    """Something that happened, as an immutable, checked value.

    Build one with :meth:`create` (or the keyword-only constructor); every bad field
    is reported at once as an :class:`~dataflare.kernel.errors.EventValidationError`.
    """

    id: str = attrs.field(factory=uuid7)
    """A unique id: by default a time-ordered UUIDv7. Any 1 to 128 printable ASCII
    characters without spaces are accepted, so ids from other systems fit."""
    event_type: str
    """What happened, as a dotted lower-case name of two or more parts, such as
    ``"order.created"`` (letters, digits and ``_``; each part starts with a letter)."""
    data: Any = attrs.field(converter=json_copy, hash=False)
    """The payload: a JSON value (``None``, bool, int, finite float, str, list, or
    dict with string keys), copied on construction; treat it as read-only."""
    metadata: Mapping[str, str] = attrs.field(
        factory=dict, converter=_read_only, hash=False, repr=lambda value: repr(dict(value))
    )
    """String annotations (routing hints, tenant, content type), read-only."""
    timestamp: datetime = attrs.field(factory=_now, converter=_utc)
    """When it happened; timezone-aware, stored in UTC. Defaults to now."""
    source: str
    """Who says it happened: a URI such as ``"urn:dataflare:demo"`` or a service
    name such as ``"billing-service"``; not empty, no spaces or control characters."""
    version: int = 1
    """The schema version of this event type's data, from 1."""
    trace_id: str | None = None
    """The W3C trace id this event belongs to (32 lower-case hex digits, not all
    zero), or ``None`` outside a trace."""

    def __attrs_post_init__(self) -> None:
        # One pass over every field instead of a validator per field: attrs stops at
        # the first failing validator, and an event reports all its problems at once.
        problems = [
            (f"$.{name}{below}", message)
            for name, check in _CHECKS.items()
            for below, message in check(getattr(self, name))
        ]
        if problems:
            raise EventValidationError(problems)

    @classmethod
    def create(
        cls,
        event_type: str,
        data: Any,
        *,
        source: str,
        metadata: Mapping[str, str] | None = None,
        timestamp: datetime | None = None,
        version: int = 1,
        trace_id: str | None = None,
    ) -> Event:
        """Make a new event with a fresh id.

        Args:
            event_type: What happened, such as ``"order.created"``.
            data: The JSON payload.
            source: Who says it happened.
            metadata: String annotations.
            timestamp: When it happened; defaults to now.
            version: The schema version of the data.
            trace_id: The W3C trace id, if any.

        Returns:
            The event.

        Raises:
            EventValidationError: A field is invalid; every bad field is listed.
        """
        return cls(
            event_type=event_type,
            data=data,
            source=source,
            metadata=metadata or {},
            timestamp=_now() if timestamp is None else timestamp,
            version=version,
            trace_id=trace_id,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the event as JSON-ready builtins (the timestamp as ISO 8601)."""
        result: dict[str, Any] = _CONVERTER.unstructure(self)
        return result

    def to_json(self) -> bytes:
        """Return the event as compact UTF-8 JSON."""
        text = json.dumps(
            self.to_dict(), ensure_ascii=False, allow_nan=False, separators=(",", ":")
        )
        return text.encode("utf-8")

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> Event:
        """Check and load an event from builtins, such as parsed JSON.

        Missing ``id`` and ``timestamp`` get fresh values; unknown keys are refused.

        Args:
            document: The event's fields.

        Returns:
            The event.

        Raises:
            EventValidationError: Every bad, missing or unknown field, with its path.
        """
        if not isinstance(document, Mapping):
            raise EventValidationError(
                [("$", f"expected an object, got {type(document).__name__}")]
            )
        try:
            return _CONVERTER.structure(document, cls)
        except ClassValidationError as exc:
            raise EventValidationError(list(_problems(exc, "$"))) from None

    @classmethod
    def from_json(cls, text: bytes | str) -> Event:
        """Check and load an event from JSON.

        Args:
            text: One JSON object.

        Returns:
            The event.

        Raises:
            EventValidationError: The text is not JSON, or the event is invalid.
        """
        try:
            document = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise EventValidationError([("$", f"not valid JSON: {exc}")]) from None
        return cls.from_dict(document)


def _check_id(value: object) -> Iterator[Problem]:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        yield "", f"must be 1 to 128 printable ASCII characters without spaces, got {value!r}"


def _check_event_type(value: object) -> Iterator[Problem]:
    if not isinstance(value, str) or len(value) > 255 or not _EVENT_TYPE.fullmatch(value):
        yield (
            "",
            (
                "must be a dotted lower-case name of two or more parts, such as "
                f"'order.created', got {value!r}"
            ),
        )


def _check_metadata(value: object) -> Iterator[Problem]:
    if not isinstance(value, Mapping):
        yield "", f"must map strings to strings, got {type(value).__name__}"
        return
    for key, text in value.items():
        if not isinstance(key, str):
            yield "", f"keys must be strings, got {key!r}"
        elif not isinstance(text, str):
            yield key_path(key), f"must be a string, got {type(text).__name__}"


def _check_timestamp(value: object) -> Iterator[Problem]:
    if not isinstance(value, datetime):
        yield "", f"must be a datetime, got {type(value).__name__}"
    elif value.utcoffset() is None:
        yield "", "must be timezone-aware, such as datetime.now(UTC); got a naive datetime"


def _check_source(value: object) -> Iterator[Problem]:
    if not isinstance(value, str) or not value:
        yield "", f"must be a non-empty string such as 'urn:dataflare:demo', got {value!r}"
    elif any(char.isspace() or not char.isprintable() for char in value):
        yield "", f"must not hold spaces or control characters, got {value!r}"


def _check_version(value: object) -> Iterator[Problem]:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        yield "", f"must be an integer of at least 1, got {value!r}"


def _check_trace_id(value: object) -> Iterator[Problem]:
    if value is None:
        return
    if not isinstance(value, str) or not _TRACE_ID.fullmatch(value) or not value.strip("0"):
        yield "", f"must be 32 lower-case hex digits, not all zero (W3C trace id), got {value!r}"


_CHECKS: Final[dict[str, Callable[[Any], Iterator[Problem]]]] = {
    "id": _check_id,
    "event_type": _check_event_type,
    "data": json_problems,
    "metadata": _check_metadata,
    "timestamp": _check_timestamp,
    "source": _check_source,
    "version": _check_version,
    "trace_id": _check_trace_id,
}


class _FieldProblems(Exception):
    """Carries one field's problems through cattrs' error group."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems)
        self.problems = problems


def _structure_hook(name: str) -> Callable[[Any, Any], Any]:
    check = _CHECKS[name]

    def structure(value: Any, _: Any) -> Any:
        if name == "timestamp" and not isinstance(value, datetime):
            try:
                value = _CONVERTER.structure(value, datetime)
            except (TypeError, ValueError, OverflowError, OSError) as exc:
                raise _FieldProblems([("", f"must be an ISO 8601 timestamp: {exc}")]) from None
        problems = list(check(value))
        if problems:
            raise _FieldProblems(problems)
        return value

    return structure


def _problems(error: BaseException, path: str) -> Iterator[Problem]:
    if isinstance(error, ClassValidationError):
        noted, others = error.group_exceptions()
        for inner, note in noted:
            yield from _problems(inner, f"{path}.{note.name}")
        for inner in others:
            yield from _problems(inner, path)
    elif isinstance(error, _FieldProblems):
        yield from ((path + below, message) for below, message in error.problems)
    elif isinstance(error, ForbiddenExtraKeysError):
        fields = ", ".join(_CHECKS)
        for name in sorted(error.extra_fields):
            yield f"{path}.{name}", f"unknown field (an event has {fields})"
    elif isinstance(error, KeyError):
        yield path, "required field is missing"
    elif isinstance(error, EventValidationError):
        yield from error.problems
    else:
        yield path, str(error)


_CONVERTER: Final = make_converter(forbid_extra_keys=True)
_CONVERTER.register_structure_hook(
    Event,
    make_dict_structure_fn(
        Event,
        _CONVERTER,
        id=override(struct_hook=_structure_hook("id")),
        event_type=override(struct_hook=_structure_hook("event_type")),
        data=override(struct_hook=_structure_hook("data")),
        metadata=override(struct_hook=_structure_hook("metadata")),
        timestamp=override(struct_hook=_structure_hook("timestamp")),
        source=override(struct_hook=_structure_hook("source")),
        version=override(struct_hook=_structure_hook("version")),
        trace_id=override(struct_hook=_structure_hook("trace_id")),
    ),
)
