"""The JetStream event store: one stream, durable and replicated, offsets = stream sequences.

Each event is one message on ``<prefix>.<id>.<event_type>`` (an id that is not a
plain token is written as ``=`` and its URL-safe base64), its checked JSON as the
payload, and the headers ``Nats-Msg-Id`` (the event id) and, when set,
``Dataflare-Trace-Id``. Putting the id in the
subject makes idempotency exact and permanent: every publish asks the stream to
store it only if nothing is stored under ``<prefix>.<id>.>``, so a repeated id is
refused by the stream itself, in the same round trip, long after the
``Nats-Msg-Id`` window has passed. Other processes can subscribe to
``events.*.order.>`` directly.

What it promises: ``append`` returns once the stream (``replicas`` servers) has the
event on disk; a batch is checked whole first, then pipelined, and an I/O error
part-way may leave part of it stored, which repeating the call completes. Reads
filter by event timestamp and type; one type pattern is also handed to the server
as a subject filter, so it sends only those events.

Example::

    async with JetStreamEventStore("nats://127.0.0.1:4222", replicas=3) as store:
        offset = await store.append(Event.create("order.created", {"id": 1}, source="shop"))
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from typing import Final

from dataflare.events._query import ReadQuery, check_offset
from dataflare.events._store_api import EventStore, StoredEvent, check_events
from dataflare.events.errors import EventStoreError, StoreClosedError
from dataflare.kernel import Event, MessagingError, PublishError
from dataflare.kernel.messaging import MessageLog, OutgoingMessage, StreamConfig, open_log

__all__ = ("JetStreamEventStore", "id_token")

_PLAIN: Final = re.compile(r"[A-Za-z0-9_-]+")
_PREFIX: Final = re.compile(r"[a-z][a-z0-9_-]*")
_READ_BATCH: Final = 512


def id_token(event_id: str) -> str:
    """The subject token for an event id: the id itself when it is a plain token."""
    if _PLAIN.fullmatch(event_id):
        return event_id
    return "=" + base64.urlsafe_b64encode(event_id.encode()).decode().rstrip("=")


class JetStreamEventStore(EventStore):
    """An event store on a JetStream stream; see the module for the subject layout.

    Args:
        log: A message log to use (the caller opens and closes it), or NATS URLs to
            connect to (the store connects on open and disconnects on close).
        stream: The stream's name.
        subject_prefix: The first subject token of every event.
        replicas: Servers that keep each event (3 survives losing one).
        duplicate_window: Seconds the server remembers msg ids (the fast path).
        max_age: Seconds events are kept; ``None`` keeps them.

    Raises:
        EventStoreError: A setting is not allowed.
    """

    def __init__(
        self,
        log: MessageLog | str | Sequence[str],
        *,
        stream: str = "EVENTS",
        subject_prefix: str = "events",
        replicas: int = 1,
        duplicate_window: float = 120.0,
        max_age: float | None = None,
    ) -> None:
        if not _PREFIX.fullmatch(subject_prefix):
            raise EventStoreError(
                f"subject_prefix={subject_prefix!r} is not allowed: use one lower-case "
                "token such as 'events' (letters, digits, '_' or '-')"
            )
        self._owned = not isinstance(log, MessageLog)
        self._log = open_log(log) if not isinstance(log, MessageLog) else log
        self._prefix = subject_prefix
        try:
            self._config = StreamConfig(
                stream,
                [f"{subject_prefix}.>"],
                replicas=replicas,
                duplicate_window=duplicate_window,
                max_age=max_age,
            )
        except MessagingError as exc:
            raise EventStoreError(f"cannot use this JetStream event store: {exc}") from exc
        self._opened = False
        self._closed = False

    def __repr__(self) -> str:
        return f"<JetStreamEventStore stream={self._config.name!r} prefix={self._prefix!r}>"

    @property
    def stream(self) -> str:
        """The stream's name."""
        return self._config.name

    def subject(self, event: Event) -> str:
        """The subject ``event`` is stored on."""
        return f"{self._prefix}.{id_token(event.id)}.{event.event_type}"

    async def open(self) -> None:
        """Connect (when given URLs) and create or update the stream; idempotent."""
        if self._closed:
            raise StoreClosedError(f"{self!r} is closed; create a new store")
        if self._opened:
            return
        if self._owned:
            await self._log.__aenter__()
        try:
            await self._log.ensure_stream(self._config)
        except BaseException:
            if self._owned:
                await self._log.aclose()
            raise
        self._opened = True

    async def _ready(self) -> MessageLog:
        if self._closed:
            raise StoreClosedError(f"{self!r} is closed; create a new store")
        await self.open()
        return self._log

    async def append_many(self, events: Sequence[Event]) -> list[int]:
        """Store events in order; see :meth:`EventStore.append_many` and the module."""
        checked = check_events(events)  # refuse a bad batch before anything is sent
        log = await self._ready()
        items = [
            OutgoingMessage(
                self.subject(event),
                wire,
                headers=_headers(event),
                msg_id=event.id,
                only_if_empty=f"{self._prefix}.{id_token(event.id)}.>",
            )
            for event, wire in checked
        ]
        try:
            acks = await log.publish_batch(items)
        except PublishError as exc:
            retry = " Appending the same events again is safe." if exc.outcome_unknown else ""
            raise EventStoreError(f"event store {self.stream!r}: {exc}.{retry}") from exc
        return [ack.seq for ack in acks]

    async def get(self, offset: int) -> StoredEvent | None:
        """Return the event at ``offset``, or ``None``; see :meth:`EventStore.get`."""
        check_offset("offset", offset)
        message = await (await self._ready()).get(self.stream, offset)
        return None if message is None else StoredEvent(offset, Event.from_json(message.data))

    async def get_by_id(self, event_id: str) -> StoredEvent | None:
        """Return the event with this id, or ``None``; one filtered read on the server."""
        log = await self._ready()
        subjects = f"{self._prefix}.{id_token(event_id)}.>"
        async with aclosing(log.read(self.stream, filter_subject=subjects, batch=1)) as chunks:
            async for chunk in chunks:
                return StoredEvent(chunk[0].seq, Event.from_json(chunk[0].data))
        return None

    async def _read(self, query: ReadQuery) -> AsyncGenerator[StoredEvent, None]:
        log = await self._ready()
        last = query.last(await self.last_offset())  # what is stored now, not what comes later
        if query.from_offset > last or query.limit == 0:
            return
        only = query.event_types[0] if len(query.event_types) == 1 else None
        subjects = None if only is None else f"{self._prefix}.*.{only}"
        yielded = 0
        chunks = log.read(
            self.stream, start_seq=query.from_offset, filter_subject=subjects, batch=_READ_BATCH
        )
        async with aclosing(chunks):
            async for chunk in chunks:
                for message in chunk:
                    if message.seq > last:
                        return
                    event = Event.from_json(message.data)
                    if query.wants_time(event.timestamp) and query.wants_type(event.event_type):
                        yield StoredEvent(message.seq, event)
                        yielded += 1
                        if query.limit is not None and yielded >= query.limit:
                            return

    async def last_offset(self) -> int | None:
        """The stream's last sequence, from its leader; ``None`` when nothing was stored."""
        log = await self._ready()
        return (await log.stream_state(self.stream)).last_seq or None

    async def aclose(self) -> None:
        """Disconnect when this store connected; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._owned:
            await self._log.aclose()


def _headers(event: Event) -> dict[str, str] | None:
    # Few headers: the type is in the subject, the rest in the payload, and nats-py
    # parses every header character by character on each read.
    return None if event.trace_id is None else {"Dataflare-Trace-Id": event.trace_id}
