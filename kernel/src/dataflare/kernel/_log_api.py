"""The message log interface: durable streams, pull consumers, KV and object stores.

Every extension that needs persistence or distribution (events, streaming,
distributed) talks to this interface, never to a client library. Two implementations
sit behind it with the same semantics: :class:`MemoryLog`, in-process, for the
embedded default and for tests, and :class:`NatsLog`, on NATS JetStream.

Delivery is at-least-once: a handed-out message that is not acked within
``ack_wait`` comes back, and a zombie's late ack is still accepted, so side effects
must be idempotent (key them by the message's seq or msg id). A fetch that returns
nothing does not mean the end of the log; compare with :meth:`MessageLog.stream_state`.

Example::

    async with MemoryLog() as log:
        await log.ensure_stream(StreamConfig("ORDERS", ["orders.>"]))
        await log.publish("orders.new", b"order-1", msg_id="order-1")
        async with await log.consumer("ORDERS", ConsumerConfig("billing")) as billing:
            for message in await billing.fetch(100, timeout=1.0):
                bill(message.data)
                await message.ack()
"""

from __future__ import annotations

import abc
from collections.abc import AsyncGenerator, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Literal, Self

from dataflare.kernel._log_values import (
    ConsumerConfig,
    KeyValueEntry,
    ObjectInfo,
    OutgoingMessage,
    PubAck,
    StoredMessage,
    StreamConfig,
    StreamState,
)
from dataflare.kernel._metrics import MetricSample
from dataflare.kernel.errors import MessagingError

__all__ = ("DeliveredMessage", "KeyValueStore", "MessageLog", "ObjectStore", "PullConsumer")

Settlement = Literal["ack", "nak", "term", "progress"]


class DeliveredMessage(abc.ABC):
    """A stored message a consumer handed out; settle it once with ack, nak or term.

    Args:
        message: The message, with ``delivered`` counting this hand-out.
    """

    def __init__(self, message: StoredMessage) -> None:
        self.message = message
        self._settled: Settlement | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} seq={self.seq} delivered={self.delivered}>"

    @property
    def subject(self) -> str:
        """The subject it was published to."""
        return self.message.subject

    @property
    def data(self) -> bytes:
        """Its payload."""
        return self.message.data

    @property
    def headers(self) -> Mapping[str, str]:
        """Its headers, read-only."""
        return self.message.headers

    @property
    def seq(self) -> int:
        """Its sequence number in the stream."""
        return self.message.seq

    @property
    def time(self) -> datetime:
        """When the stream stored it (UTC)."""
        return self.message.time

    @property
    def delivered(self) -> int:
        """How many times it was handed out, this time included."""
        return self.message.delivered

    async def ack(self) -> None:
        """Mark it processed; waits until the server has recorded the ack."""
        await self._settle("ack", None)

    async def nak(self, delay: float | None = None) -> None:
        """Hand it out again, after ``delay`` seconds or at once."""
        await self._settle("nak", delay)

    async def term(self) -> None:
        """Never hand it out again (a poison message); it stays in the stream."""
        await self._settle("term", None)

    async def in_progress(self) -> None:
        """Restart its ack timer: call every ``ack_wait / 3`` while working on it."""
        self._check_unsettled("in_progress")
        await self._send("progress", None)

    async def _settle(self, kind: Settlement, delay: float | None) -> None:
        self._check_unsettled(kind)
        self._settled = kind
        await self._send(kind, delay)

    def _check_unsettled(self, action: str) -> None:
        if self._settled is not None:
            raise MessagingError(
                f"cannot {action} message seq {self.seq}: it was already settled with "
                f"{self._settled}; settle each delivered message once"
            )

    @abc.abstractmethod
    async def _send(self, kind: Settlement, delay: float | None) -> None:
        """Tell the consumer what became of the message."""


class PullConsumer(abc.ABC):
    """Hands out a stream's messages in batches, on request; close it when done."""

    @abc.abstractmethod
    async def fetch(self, batch: int = 1, timeout: float = 5.0) -> list[DeliveredMessage]:
        """Wait up to ``timeout`` seconds for messages, then return up to ``batch`` of them.

        Returns:
            Redeliveries first, then new messages in stream order; empty when none came.
        """

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop fetching; unsettled messages come back after ``ack_wait``. Idempotent."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class KeyValueStore(abc.ABC):
    """A bucket of keys with revisions, for checkpoints, leases and membership."""

    @abc.abstractmethod
    async def get(self, key: str) -> KeyValueEntry | None:
        """Return the key's current entry, or ``None`` if absent, deleted or expired."""

    @abc.abstractmethod
    async def put(self, key: str, value: bytes) -> int:
        """Write the key unconditionally and return the new revision."""

    @abc.abstractmethod
    async def create(self, key: str, value: bytes) -> int:
        """Write the key only if absent; return the revision.

        Raises:
            RevisionConflictError: It exists.
        """

    @abc.abstractmethod
    async def update(self, key: str, value: bytes, revision: int) -> int:
        """Write the key only if it is still at ``revision`` (compare-and-set).

        Raises:
            RevisionConflictError: Another write came in between.
        """

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Delete the key (a delete is a write: it takes a revision)."""

    @abc.abstractmethod
    async def keys(self) -> list[str]:
        """Return the live keys, sorted."""


class ObjectStore(abc.ABC):
    """A bucket of named blobs (WASM modules, state snapshots), chunked by the server."""

    @abc.abstractmethod
    async def put(self, name: str, data: bytes) -> ObjectInfo:
        """Store ``data`` under ``name``, replacing what was there."""

    @abc.abstractmethod
    async def get(self, name: str) -> bytes | None:
        """Return the object's bytes (digest-checked), or ``None`` if absent."""

    @abc.abstractmethod
    async def delete(self, name: str) -> None:
        """Delete the object; deleting an absent one does nothing."""

    @abc.abstractmethod
    async def list(self) -> list[ObjectInfo]:
        """Return every stored object, sorted by name."""


class MessageLog(abc.ABC):
    """Durable streams of messages, with pull consumers, KV and object stores.

    Use it as an async context manager, or call :meth:`aclose`.
    """

    @abc.abstractmethod
    async def ensure_stream(self, config: StreamConfig) -> None:
        """Create the stream, or bring an existing one to ``config``."""

    @abc.abstractmethod
    async def stream_state(self, stream: str) -> StreamState:
        """Return the stream's extent (from its leader, so replay can check completeness)."""

    @abc.abstractmethod
    async def publish(
        self,
        subject: str,
        data: bytes,
        *,
        headers: Mapping[str, str] | None = None,
        msg_id: str | None = None,
        only_if_empty: str | None = None,
    ) -> PubAck:
        """Store one message and return the receipt.

        A repeat of ``msg_id`` inside the stream's duplicate window is not stored again:
        the receipt says ``duplicate``. Without one, a fresh id is made (so retries are
        safe) and put in the ``Nats-Msg-Id`` header.

        With ``only_if_empty`` (a subject, or a pattern such as ``"orders.o-1.>"``) the
        message is stored only if no stored message matches it, checked by the stream
        itself in the same round trip: otherwise nothing is stored and the receipt says
        ``duplicate`` with the seq of the newest message there. Put an id in the subject
        for idempotency with no time window.

        Raises:
            PublishError: No stream captures ``subject``, the message was refused, or no
                ack came within the publish time budget (``outcome_unknown``).
        """

    @abc.abstractmethod
    async def publish_batch(self, items: Sequence[OutgoingMessage]) -> list[PubAck]:
        """Store many messages, pipelined with bounded in-flight; receipts in item order.

        Stream order follows item order, except that an item retried after a lost ack
        lands after the items sent behind it.

        Raises:
            PublishError: As :meth:`publish`, for the first item that failed.
        """

    @abc.abstractmethod
    async def get(self, stream: str, seq: int) -> StoredMessage | None:
        """Return the message at ``seq``, or ``None`` if there is none (or it aged out)."""

    @abc.abstractmethod
    def read(
        self,
        stream: str,
        *,
        start_seq: int | None = None,
        start_time: datetime | None = None,
        filter_subject: str | None = None,
        batch: int = 512,
    ) -> AsyncGenerator[list[StoredMessage], None]:
        """Yield the stream's messages in sequence order, in lists of up to ``batch``.

        A read keeps no state on the server and acknowledges nothing: it is for replay
        and inspection. It starts at ``start_seq``, or at the first message stored at or
        after ``start_time``, or at the start, and stops at the stream's last sequence
        as its leader reported it when the read began, so a read of a live stream ends.

        Raises:
            StreamNotFoundError: There is no such stream (on the first iteration).
            MessagingValueError: ``batch`` < 1, both starts given, a naive ``start_time``.
        """

    @abc.abstractmethod
    async def consumer(self, stream: str, config: ConsumerConfig) -> PullConsumer:
        """Create or bind the pull consumer ``config.durable`` (or a private one)."""

    @abc.abstractmethod
    async def key_value(
        self, bucket: str, *, ttl: float | None = None, replicas: int = 1
    ) -> KeyValueStore:
        """Open the KV bucket, creating it with ``ttl`` (seconds per write) if absent."""

    @abc.abstractmethod
    async def object_store(self, bucket: str, *, replicas: int = 1) -> ObjectStore:
        """Open the object store bucket, creating it if absent."""

    def metrics(self) -> list[MetricSample]:
        """Figures of the connection (messages published, retries, reconnects), for a
        ``dataflare_metrics`` collector; none for a log with no connection."""
        return []

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Close consumers, then the log; later calls raise LogClosedError. Idempotent."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
