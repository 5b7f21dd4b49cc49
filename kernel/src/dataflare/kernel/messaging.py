"""The message log every extension shares: durable streams, pull consumers, KV, objects.

Two implementations with one contract: :class:`MemoryLog` in process (the embedded
default, and tests) and :class:`NatsLog` on NATS JetStream, which needs the optional
extra ``pip install 'dataflare-kernel[nats]'``. :func:`open_log` picks one from a URL,
so a component takes a ``servers`` setting and never names a client library.

Example::

    from dataflare.kernel.messaging import StreamConfig, open_log

    async with open_log("nats://127.0.0.1:4222") as log:  # or open_log(None): in memory
        await log.ensure_stream(StreamConfig("ORDERS", ["orders.>"]))
        await log.publish("orders.new", b"order-1", msg_id="order-1")
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dataflare.kernel._log_api import (
    DeliveredMessage,
    KeyValueStore,
    MessageLog,
    ObjectStore,
    PullConsumer,
)
from dataflare.kernel._log_memory import MemoryLog
from dataflare.kernel._log_values import (
    MSG_ID_HEADER,
    ConsumerConfig,
    DeliverPolicy,
    KeyValueEntry,
    ObjectInfo,
    OutgoingMessage,
    PubAck,
    StorageType,
    StoredMessage,
    StreamConfig,
    StreamState,
)
from dataflare.kernel.errors import MessagingValueError

if TYPE_CHECKING:
    from dataflare.kernel._log_nats import NatsLog

__all__ = (
    "MEMORY_URL",
    "MSG_ID_HEADER",
    "ConsumerConfig",
    "DeliverPolicy",
    "DeliveredMessage",
    "KeyValueEntry",
    "KeyValueStore",
    "MemoryLog",
    "MessageLog",
    "NatsLog",
    "ObjectInfo",
    "ObjectStore",
    "OutgoingMessage",
    "PubAck",
    "PullConsumer",
    "StorageType",
    "StoredMessage",
    "StreamConfig",
    "StreamState",
    "open_log",
)

MEMORY_URL = "memory://"


def open_log(servers: str | Sequence[str] | None, **options: Any) -> MessageLog:
    """Return the log for ``servers``: in memory for ``None`` or ``memory://``, else NATS.

    Args:
        servers: ``None``, ``"memory://"``, or one or more ``nats://`` / ``tls://`` URLs.
        options: Passed to :class:`NatsLog` (timeouts, ``tls``, ``name``); refused for memory.

    Raises:
        MessagingValueError: A URL has another scheme, or options were given for memory.
    """
    urls = [servers] if isinstance(servers, str) else list(servers or [])
    if not urls or urls == [MEMORY_URL]:
        if options:
            raise MessagingValueError(
                "options", sorted(options), "the in-memory log takes no connection options"
            )
        return MemoryLog()
    for url in urls:
        if not url.startswith(("nats://", "tls://")):
            raise MessagingValueError(
                "servers",
                url,
                f"use nats://HOST:PORT or tls://HOST:PORT (or {MEMORY_URL} for in-process)",
            )
    return _nats_log_class()(urls, **options)


def _nats_log_class() -> type[NatsLog]:
    # Imported on use, so the kernel works without nats-py until NATS is asked for.
    from dataflare.kernel._log_nats import NatsLog

    return NatsLog


def __getattr__(name: str) -> object:
    if name == "NatsLog":
        return _nats_log_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
