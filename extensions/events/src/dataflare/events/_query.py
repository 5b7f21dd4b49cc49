"""What a read asks for: an offset range, a time range, event types and a limit.

Every store checks a read's arguments the same way and filters with the same
rules, so they behave alike and a JetStream store can map a query onto a
consumer: offsets are stream sequences, and event-type patterns use NATS
wildcards (``*`` one part, ``>`` one or more trailing parts), which a JetStream
subject filter understands.

Example::

    query = ReadQuery.build(from_offset=10, event_types=["order.*"])
    query.type_matches("order.created")    # True
    query.type_matches("order.item.added") # False: '*' is exactly one part
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import attrs

from dataflare.events.errors import InvalidQueryError
from dataflare.kernel import InvalidSubjectError, subject_matches, validate_pattern

__all__ = ("ReadQuery", "check_offset", "check_type_pattern", "type_matches")


def check_offset(argument: str, value: object) -> int:
    """Check that ``value`` can be an offset (an integer of at least 1).

    Args:
        argument: The argument's name, for the message.
        value: The value to check.

    Returns:
        The offset.

    Raises:
        InvalidQueryError: It is not an integer, or it is below 1.
    """
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidQueryError(argument, value, "offsets are integers from 1")
    return value


def check_type_pattern(argument: str, pattern: object) -> str:
    """Check an event-type pattern: an exact type, or one with ``*`` and ``>`` parts.

    Args:
        argument: The argument's name, for the message.
        pattern: The pattern to check, such as ``"order.*"``.

    Returns:
        The pattern.

    Raises:
        InvalidQueryError: It is not a string, or not a well-formed pattern.
    """
    if not isinstance(pattern, str):
        raise InvalidQueryError(argument, pattern, "an event-type pattern is a string")
    try:
        validate_pattern(pattern)
    except InvalidSubjectError as exc:
        raise InvalidQueryError(argument, pattern, str(exc)) from None
    return pattern


def type_matches(pattern: str, event_type: str) -> bool:
    """Tell whether an event type matches a pattern (``order.*``, ``order.>``, ``>``).

    Args:
        pattern: A checked event-type pattern.
        event_type: A valid event type.

    Returns:
        ``True`` if the type matches.
    """
    # Event types are dotted lower-case names, so they are valid subjects.
    return pattern == event_type or subject_matches(pattern, event_type)


def _check_time(argument: str, value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidQueryError(
            argument, value, "expected a timezone-aware datetime, such as datetime.now(UTC)"
        )
    return value


@attrs.frozen
class ReadQuery:
    """A checked read: which events, by offset, time and type, and how many."""

    from_offset: int = 1
    """The first offset to read (inclusive)."""
    to_offset: int | None = None
    """The last offset to read (inclusive); ``None`` reads to the end."""
    since: datetime | None = None
    """Only events whose timestamp is at or after this (inclusive)."""
    until: datetime | None = None
    """Only events whose timestamp is before this (exclusive)."""
    event_types: tuple[str, ...] = ()
    """Only events whose type matches one of these patterns; empty reads every type."""
    limit: int | None = None
    """Yield at most this many events; ``None`` for no limit."""

    @classmethod
    def build(
        cls,
        *,
        from_offset: int | None = None,
        to_offset: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        event_types: Sequence[str] = (),
        limit: int | None = None,
    ) -> ReadQuery:
        """Check a read's arguments and build the query.

        Raises:
            InvalidQueryError: An argument is out of range or of the wrong type.
        """
        first = 1 if from_offset is None else check_offset("from_offset", from_offset)
        last = None if to_offset is None else check_offset("to_offset", to_offset)
        if isinstance(event_types, str):
            raise InvalidQueryError(
                "event_types", event_types, f"expected a sequence of types, e.g. [{event_types!r}]"
            )
        types = tuple(check_type_pattern("event_types", pattern) for pattern in event_types)
        if limit is not None and (
            not isinstance(limit, int) or isinstance(limit, bool) or limit < 0
        ):
            raise InvalidQueryError("limit", limit, "expected an integer of at least 0, or None")
        return cls(
            first, last, _check_time("since", since), _check_time("until", until), types, limit
        )

    def wants_time(self, timestamp: datetime) -> bool:
        """Tell whether a timestamp falls in the query's time range."""
        if self.since is not None and timestamp < self.since:
            return False
        return self.until is None or timestamp < self.until

    def wants_type(self, event_type: str) -> bool:
        """Tell whether an event type matches the query's types (any, when none are given)."""
        return not self.event_types or any(type_matches(p, event_type) for p in self.event_types)

    def last(self, last_offset: int | None) -> int:
        """The last offset to read given the store's last offset (0 when there is none)."""
        end = 0 if last_offset is None else last_offset
        return end if self.to_offset is None else min(end, self.to_offset)
