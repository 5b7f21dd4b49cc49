"""DataFlare events: a durable event store, routing, replay, and a processor with retries.

Example::

    import anyio
    from dataflare.kernel import Event
    from dataflare.events import EventProcessor, MemoryEventStore, StoreDeadLetterSink

    async def main():
        async with MemoryEventStore() as store, MemoryEventStore() as letters:
            await store.append(Event.create("order.created", {"id": 1}, source="shop"))
            processor = EventProcessor(store, dead_letters=StoreDeadLetterSink(letters))
            processor.on("order.*", handle_order)
            await processor.process_available()

    anyio.run(main)
"""

from __future__ import annotations

from dataflare.events._dlq import (
    DEAD_LETTER_TYPE,
    RESOLVED_TYPE,
    DeadLetter,
    DeadLetterSink,
    StoreDeadLetterSink,
)
from dataflare.events._extension import EventsExtension
from dataflare.events._positions import (
    FilePositionStore,
    MemoryPositionStore,
    Position,
    PositionStore,
)
from dataflare.events._positions_kv import KeyValuePositionStore
from dataflare.events._processor import EventProcessor, Handler, ProcessorStatistics
from dataflare.events._replay import Pace, ReplayReport, replay
from dataflare.events._replay_targets import into_bus, into_log
from dataflare.events._retry import RetryPolicy
from dataflare.events._router import EventRouter, Route
from dataflare.events._segments import FsyncPolicy
from dataflare.events._settings import EventsSettings, JetStreamSettings, StoreKind
from dataflare.events._store_api import EventStore, StoredEvent
from dataflare.events._store_file import FileEventStore
from dataflare.events._store_jetstream import JetStreamEventStore
from dataflare.events._store_memory import MemoryEventStore
from dataflare.events.errors import (
    DeadLetterError,
    DeadLetterNotFoundError,
    EventRejectedError,
    EventsError,
    EventStoreError,
    InvalidQueryError,
    PositionStoreError,
    ProcessorError,
    ReplayError,
    StoreClosedError,
    StoreCorruptedError,
    StoreLockedError,
    StoreReadOnlyError,
    UnknownHandlerError,
)
from dataflare.events.hookspecs import EventHandler

__all__ = (
    "DEAD_LETTER_TYPE",
    "RESOLVED_TYPE",
    "DeadLetter",
    "DeadLetterError",
    "DeadLetterNotFoundError",
    "DeadLetterSink",
    "EventHandler",
    "EventProcessor",
    "EventRejectedError",
    "EventRouter",
    "EventStore",
    "EventStoreError",
    "EventsError",
    "EventsExtension",
    "EventsSettings",
    "FileEventStore",
    "FilePositionStore",
    "FsyncPolicy",
    "Handler",
    "InvalidQueryError",
    "JetStreamEventStore",
    "JetStreamSettings",
    "KeyValuePositionStore",
    "MemoryEventStore",
    "MemoryPositionStore",
    "Pace",
    "Position",
    "PositionStore",
    "PositionStoreError",
    "ProcessorError",
    "ProcessorStatistics",
    "ReplayError",
    "ReplayReport",
    "RetryPolicy",
    "Route",
    "StoreClosedError",
    "StoreCorruptedError",
    "StoreDeadLetterSink",
    "StoreKind",
    "StoreLockedError",
    "StoreReadOnlyError",
    "StoredEvent",
    "UnknownHandlerError",
    "into_bus",
    "into_log",
    "replay",
)

__version__: str


def __getattr__(name: str) -> str:
    # Read lazily from the installed metadata so the version is written in one place.
    if name == "__version__":
        from importlib.metadata import version

        return version("dataflare-events")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
