"""The in-memory event store: the contract with nothing durable, for tests and embedding.

It holds each event as the same checked JSON a durable store writes, so it
refuses, de-duplicates and returns events exactly as they do, and an event read
back is a fresh value that shares nothing with the caller's.

Example::

    async with MemoryEventStore() as store:
        await store.append_many([first, second])   # [1, 2]
        await store.append(first)                  # 1 again: the id is stored
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from datetime import datetime

import attrs
from anyio.lowlevel import checkpoint

from dataflare.events._query import ReadQuery, check_offset
from dataflare.events._store_api import EventStore, StoredEvent, plan_append
from dataflare.events.errors import StoreClosedError
from dataflare.kernel import Event

__all__ = ("MemoryEventStore",)

_CHECKPOINT_EVERY = 256  # let other tasks run during a long read


@attrs.frozen
class _Entry:
    wire: bytes
    timestamp: datetime
    event_type: str


class MemoryEventStore(EventStore):
    """An event store in a Python list; gone when the process ends."""

    def __init__(self) -> None:
        self._entries: list[_Entry] = []
        self._by_id: dict[str, int] = {}
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("the in-memory event store is closed")

    async def append_many(self, events: Sequence[Event]) -> list[int]:
        """Store events in order, all or none; see :meth:`EventStore.append_many`."""
        await checkpoint()
        self._check_open()
        plan = plan_append(events, self._by_id.get, len(self._entries) + 1)
        for offset, event, wire in plan.new:
            self._entries.append(_Entry(wire, event.timestamp, event.event_type))
            self._by_id[event.id] = offset
        return plan.offsets

    async def get(self, offset: int) -> StoredEvent | None:
        """Return the event at ``offset``, or ``None``; see :meth:`EventStore.get`."""
        check_offset("offset", offset)
        await checkpoint()
        self._check_open()
        if offset > len(self._entries):
            return None
        return StoredEvent(offset, Event.from_json(self._entries[offset - 1].wire))

    async def get_by_id(self, event_id: str) -> StoredEvent | None:
        """Return the event with this id, or ``None``; see :meth:`EventStore.get_by_id`."""
        await checkpoint()
        self._check_open()
        offset = self._by_id.get(event_id)
        return None if offset is None else await self.get(offset)

    async def _read(self, query: ReadQuery) -> AsyncGenerator[StoredEvent, None]:
        self._check_open()
        last = query.last(len(self._entries) or None)  # what is stored now, not what comes later
        yielded = 0
        for offset in range(query.from_offset, last + 1):
            if query.limit is not None and yielded >= query.limit:
                return
            if offset % _CHECKPOINT_EVERY == 0:
                await checkpoint()
            self._check_open()
            entry = self._entries[offset - 1]
            if query.wants_time(entry.timestamp) and query.wants_type(entry.event_type):
                yielded += 1
                yield StoredEvent(offset, Event.from_json(entry.wire))

    async def last_offset(self) -> int | None:
        """Return the last offset, or ``None`` when empty."""
        await checkpoint()
        self._check_open()
        return len(self._entries) or None

    async def aclose(self) -> None:
        """Close the store; its events are dropped."""
        self._closed = True
        self._entries = []
        self._by_id = {}
