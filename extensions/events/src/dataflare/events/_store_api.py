"""The event store contract: an append-only log of events, addressed by offset.

An :class:`EventStore` keeps :class:`~dataflare.kernel.Event` values in the order
they were appended. Each gets an **offset**: a sequence number starting at **1**
and growing by one per stored event, as JetStream's stream sequence does, so a
JetStream-backed store can hand its sequences through unchanged and ``0`` never
names an event (a store that drops old events may leave offsets with no event).
The contract every store keeps:

* ``append`` returns the event's offset once the event is stored as durably as
  the store promises (see each store); an event is never half-stored.
* An event is checked in full before it is stored; an invalid one (for example
  one whose ``data`` was mutated after construction into something JSON cannot
  hold) is refused with :class:`~dataflare.events.errors.EventRejectedError`, and
  a batch holding one is refused whole, before anything of it is written.
* The file and memory stores write a checked batch whole, in order, or not at
  all. A networked store (JetStream) may store part of a batch before an I/O
  error; repeating the call with the same events then completes it without
  duplicates, because ids are idempotent.
* The event id decides identity: appending an id the store already holds stores
  nothing and returns the existing offset (content is not compared), so a
  producer may retry an append whose acknowledgement it lost.
* A read yields events in offset order and stops at the last offset stored when
  it started, so a read of a live store ends.

Example::

    async with MemoryEventStore() as store:
        offset = await store.append(Event.create("order.created", {"id": 1}, source="shop"))
        async for stored in store.read(from_offset=offset, event_types=["order.*"]):
            print(stored.offset, stored.event.event_type)
"""

from __future__ import annotations

import abc
from collections.abc import AsyncGenerator, Callable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Self

import attrs

from dataflare.events._query import ReadQuery
from dataflare.events.errors import EventRejectedError
from dataflare.kernel import Event, EventValidationError

__all__ = ("EventStore", "StoredEvent", "check_events", "plan_append")


@attrs.frozen
class StoredEvent:
    """An event as a store holds it: where it is, and what it is."""

    offset: int
    """Its offset in the store, from 1."""
    event: Event
    """The event."""


class EventStore(abc.ABC):
    """An append-only, offset-addressed log of events; subclass it to add a backend.

    Use a store as an async context manager, or call :meth:`open` (every method
    opens it on first use) and :meth:`aclose`.
    """

    async def open(self) -> None:  # noqa: B027 -- a store with nothing to open needs no override
        """Make the store ready (read its files, connect); idempotent.

        Raises:
            EventStoreError: The store cannot be opened.
        """

    async def append(self, event: Event) -> int:
        """Store one event and return its offset.

        Args:
            event: The event.

        Returns:
            Its offset; the existing offset when its id is already stored.

        Raises:
            EventRejectedError: The event is invalid; nothing was stored.
            StoreClosedError: The store is closed.
        """
        (offset,) = await self.append_many([event])
        return offset

    @abc.abstractmethod
    async def append_many(self, events: Sequence[Event]) -> list[int]:
        """Store events in order and return their offsets; an invalid event stores none.

        Args:
            events: The events; an id repeated in the batch is stored once.

        Returns:
            One offset per event given, in order.

        Raises:
            EventRejectedError: An event is invalid; nothing of the batch was stored.
            StoreClosedError: The store is closed.
        """

    @abc.abstractmethod
    async def get(self, offset: int) -> StoredEvent | None:
        """Return the event at ``offset``, or ``None`` when there is none.

        Raises:
            InvalidQueryError: ``offset`` is not an integer of at least 1.
        """

    @abc.abstractmethod
    async def get_by_id(self, event_id: str) -> StoredEvent | None:
        """Return the stored event with this id, or ``None`` when there is none."""

    def read(
        self,
        *,
        from_offset: int | None = None,
        to_offset: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        event_types: Sequence[str] = (),
        limit: int | None = None,
    ) -> AsyncGenerator[StoredEvent, None]:
        """Yield stored events in offset order, filtered.

        Args:
            from_offset: The first offset to read (inclusive); from the start when ``None``.
            to_offset: The last offset to read (inclusive); to the end when ``None``.
            since: Only events timestamped at or after this (timezone-aware).
            until: Only events timestamped before this (timezone-aware).
            event_types: Only these types; each may use ``*`` (one part) and
                ``>`` (the remaining parts), such as ``"order.*"``.
            limit: Yield at most this many events.

        Raises:
            InvalidQueryError: An argument is out of range or of the wrong type
                (raised by the call itself, before iterating).
        """
        query = ReadQuery.build(
            from_offset=from_offset,
            to_offset=to_offset,
            since=since,
            until=until,
            event_types=event_types,
            limit=limit,
        )
        return self._read(query)

    @abc.abstractmethod
    def _read(self, query: ReadQuery) -> AsyncGenerator[StoredEvent, None]:
        """Yield the events ``query`` selects, in offset order (``query`` is checked)."""

    @abc.abstractmethod
    async def last_offset(self) -> int | None:
        """Return the offset of the last stored event, or ``None`` when the store is empty."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release the store's resources; idempotent. Later use raises ``StoreClosedError``."""

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


@attrs.frozen
class AppendPlan:
    """What an ``append_many`` call does: each event's offset, and the entries to write."""

    offsets: list[int]
    """One offset per event given, in order."""
    new: list[tuple[int, Event, bytes]]
    """``(offset, event, JSON)`` for each event to store, in offset order."""


def plan_append(
    events: Sequence[Event], known: Callable[[str], int | None], next_offset: int
) -> AppendPlan:
    """Check a batch whole, then give each event its offset, de-duplicating by id.

    Stores call this before writing anything, so a refused batch leaves no trace.

    Args:
        events: The batch.
        known: Returns the offset already stored for an id, or ``None``.
        next_offset: The offset the first new event gets.

    Returns:
        The plan.

    Raises:
        EventRejectedError: An event is invalid (the first one found, with every
            problem it has).
    """
    checked = check_events(events)
    offsets: list[int] = []
    new: list[tuple[int, Event, bytes]] = []
    in_batch: dict[str, int] = {}
    for event, wire in checked:
        offset = known(event.id)
        if offset is None:
            offset = in_batch.get(event.id)
        if offset is None:
            offset = in_batch[event.id] = next_offset + len(new)
            new.append((offset, event, wire))
        offsets.append(offset)
    return AppendPlan(offsets, new)


def check_events(events: Sequence[Event]) -> list[tuple[Event, bytes]]:
    """Check every event in full and return each with the JSON a store keeps.

    Raises:
        EventRejectedError: An event is invalid (the first one found, with every problem).
    """
    return [_encode(index, event) for index, event in enumerate(events)]


def _encode(index: int, event: object) -> tuple[Event, bytes]:
    if not isinstance(event, Event):
        problem = f"expected a dataflare.kernel.Event, got {type(event).__name__}"
        raise EventRejectedError(index, None, [("$", problem)])
    try:
        # An Event is checked when built, but its data is a plain dict a caller can
        # still change; a round trip through builtins checks it again, in full.
        checked = Event.from_dict(event.to_dict())
    except EventValidationError as exc:
        raise EventRejectedError(index, event.id, exc.problems) from exc
    return checked, checked.to_json()
