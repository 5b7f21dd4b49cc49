"""Where a replay can send events besides a handler: a JetStream subject or the kernel bus.

Example::

    async with open_log("nats://127.0.0.1:4222") as log:
        await replay(store, into=into_log(log, "audit.orders"))
    await replay(store, into=into_bus(kernel.bus, "replayed"))  # replayed.<event_type>
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from dataflare.events._store_api import StoredEvent
from dataflare.kernel import EventBus
from dataflare.kernel.messaging import MessageLog

__all__ = ("into_bus", "into_log")


def into_log(log: MessageLog, subject: str) -> Callable[[StoredEvent], Awaitable[None]]:
    """Publish each replayed event's JSON to ``subject`` (a stream must capture it).

    Each message has the event's trace id and its offset in headers, and a msg id
    made from the event id and the subject, so a replay repeated within the stream's
    duplicate window does not store an event twice.
    """

    async def publish(stored: StoredEvent) -> None:
        event = stored.event
        headers = {"Dataflare-Event-Type": event.event_type, "Dataflare-Offset": str(stored.offset)}
        if event.trace_id is not None:
            headers["Dataflare-Trace-Id"] = event.trace_id
        await log.publish(
            subject, event.to_json(), headers=headers, msg_id=f"replay:{subject}:{event.id}"
        )

    return publish


def into_bus(bus: EventBus, prefix: str) -> Callable[[StoredEvent], Awaitable[None]]:
    """Publish each replayed event on the kernel's bus as ``<prefix>.<event_type>``.

    The payload is the :class:`~dataflare.kernel.Event` itself, so a pipeline source
    or handler subscribed to ``<prefix>.>`` gets events as they were stored.
    """

    async def publish(stored: StoredEvent) -> None:
        await bus.publish(f"{prefix}.{stored.event.event_type}", stored.event)

    return publish
