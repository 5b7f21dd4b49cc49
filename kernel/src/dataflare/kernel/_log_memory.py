"""MemoryLog: the message log in one process, with JetStream's semantics.

It is the embedded default and the stand-in for tests: the same duplicate window by
msg id, redelivery after ``ack_wait`` (or ``backoff``), ``max_deliver``, nak with a
delay, term, ``max_age``, KV revisions and TTL. Timers use anyio's clock, so it runs
under asyncio and trio, and nothing survives the process.

Example::

    async with MemoryLog() as log:
        await log.ensure_stream(StreamConfig("TASKS", ["tasks.>"]))
        await log.publish("tasks.resize", b"img-7", msg_id="img-7")
        worker = await log.consumer("TASKS", ConsumerConfig("workers", ack_wait=0.5))
        (task,) = await worker.fetch(1, timeout=1)
        # no ack: after 0.5 s the next fetch gets it again, with task.delivered == 2
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from datetime import UTC, datetime

import anyio
from anyio.lowlevel import checkpoint

from dataflare.kernel._log_api import (
    KeyValueStore,
    MessageLog,
    ObjectStore,
    PullConsumer,
)
from dataflare.kernel._log_memory_stores import MemoryKeyValue, MemoryObjectStore
from dataflare.kernel._log_memory_stream import Cursor, MemoryConsumer, MemoryStream
from dataflare.kernel._log_values import (
    ConsumerConfig,
    OutgoingMessage,
    PubAck,
    StoredMessage,
    StreamConfig,
    StreamState,
    check_bucket,
    check_read,
    stamp_msg_id,
)
from dataflare.kernel._subjects import subject_matches, validate_pattern, validate_subject
from dataflare.kernel.errors import (
    LogClosedError,
    MessagingError,
    PublishError,
    StreamNotFoundError,
)

__all__ = ("MemoryLog",)


def _overlap(a: str, b: str) -> bool:
    """Whether two subject patterns can match one subject (NATS refuses such streams)."""
    left, right = a.split("."), b.split(".")
    for x, y in zip(left, right, strict=False):
        if ">" in (x, y):
            return True
        if x != y and "*" not in (x, y):
            return False
    return len(left) == len(right)


def _captures(stream: MemoryStream, subject: str) -> bool:
    return any(subject_matches(pattern, subject) for pattern in stream.config.subjects)


class MemoryLog(MessageLog):
    """The message log in this process; see the module docstring."""

    def __init__(self) -> None:
        self._streams: dict[str, MemoryStream] = {}
        self._routes: dict[str, MemoryStream] = {}  # subject -> the stream that captures it
        self._durables: dict[tuple[str, str], Cursor] = {}
        self._kv: dict[str, MemoryKeyValue] = {}
        self._objects: dict[str, MemoryObjectStore] = {}
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<MemoryLog {state}, streams={sorted(self._streams)}>"

    def _check_open(self) -> None:
        if self._closed:
            raise LogClosedError("this MemoryLog was closed; create a new one")

    def _stream(self, name: str) -> MemoryStream:
        self._check_open()
        stream = self._streams.get(name)
        if stream is None:
            raise StreamNotFoundError(name)
        stream.expire(anyio.current_time())
        return stream

    async def ensure_stream(self, config: StreamConfig) -> None:
        self._check_open()
        await checkpoint()
        for other in self._streams.values():
            clash = [
                (a, b) for a in config.subjects for b in other.config.subjects if _overlap(a, b)
            ]
            if other.config.name != config.name and clash:
                raise MessagingError(
                    f"stream {config.name!r} subject {clash[0][0]!r} overlaps {clash[0][1]!r} "
                    f"of stream {other.config.name!r}: a subject belongs to one stream"
                )
        if config.name in self._streams:
            self._streams[config.name].config = config
        else:
            self._streams[config.name] = MemoryStream(config)
        self._routes.clear()  # subjects may have moved

    async def stream_state(self, stream: str) -> StreamState:
        found = self._stream(stream)
        await checkpoint()
        if not found.messages:
            first_seq = found.last_seq + 1 if found.last_seq else 0
            return StreamState(first_seq, found.last_seq, 0, None, found.last_time)
        first = next(iter(found.messages.values()))[0]
        count = len(found.messages)
        return StreamState(first.seq, found.last_seq, count, first.time, found.last_time)

    async def publish(
        self,
        subject: str,
        data: bytes,
        *,
        headers: Mapping[str, str] | None = None,
        msg_id: str | None = None,
        only_if_empty: str | None = None,
    ) -> PubAck:
        self._check_open()
        validate_subject(subject)
        await checkpoint()
        return self._store(subject, data, headers, msg_id, only_if_empty)

    def _store(
        self,
        subject: str,
        data: bytes,
        headers: Mapping[str, str] | None,
        msg_id: str | None,
        only_if_empty: str | None,
    ) -> PubAck:
        sent, msg_id, chosen = stamp_msg_id(headers, msg_id, only_if_empty=only_if_empty)
        stream = self._routes.get(subject)
        if stream is None:
            stream = next((s for s in self._streams.values() if _captures(s, subject)), None)
            if stream is None:
                reason = "no stream captures this subject: ensure_stream() one that does"
                raise PublishError(subject, msg_id, reason, outcome_unknown=False)
            self._routes[subject] = stream
        now = anyio.current_time()
        stream.expire(now)
        if msg_id in stream.msg_ids:
            return PubAck(stream.config.name, stream.msg_ids[msg_id][0], True)
        taken = None if only_if_empty is None else stream.last_matching(only_if_empty)
        if taken is not None:
            return PubAck(stream.config.name, taken, True)
        stream.last_seq += 1
        stream.last_time = datetime.now(UTC)
        stored = StoredMessage(subject, bytes(data), sent, stream.last_seq, stream.last_time)
        stream.messages[stream.last_seq] = (stored, now)
        stream.index(subject, stream.last_seq)
        if chosen:  # a generated id is never re-sent in-process, so it need not be remembered
            stream.msg_ids[msg_id] = (stream.last_seq, now)
        stream.notify()
        return PubAck(stream.config.name, stream.last_seq, False)

    async def publish_batch(self, items: Sequence[OutgoingMessage]) -> list[PubAck]:
        self._check_open()
        acks = []
        for index, item in enumerate(items):
            if index % 1000 == 0:
                await checkpoint()  # let other tasks run during a large batch
            acks.append(
                self._store(item.subject, item.data, item.headers, item.msg_id, item.only_if_empty)
            )
        return acks

    async def get(self, stream: str, seq: int) -> StoredMessage | None:
        found = self._stream(stream).messages.get(seq)
        await checkpoint()
        return None if found is None else found[0]

    async def read(
        self,
        stream: str,
        *,
        start_seq: int | None = None,
        start_time: datetime | None = None,
        filter_subject: str | None = None,
        batch: int = 512,
    ) -> AsyncGenerator[list[StoredMessage], None]:
        check_read(start_seq, start_time, batch)
        if filter_subject is not None:
            validate_pattern(filter_subject)
        found = self._stream(stream)
        await checkpoint()
        last, seq, chunk = found.last_seq, max(start_seq or 1, 1), []
        while seq <= last:  # bounded: seq grows by one each turn
            entry = found.messages.get(seq)
            seq += 1
            if entry is None:
                continue  # aged out
            message = entry[0]
            if start_time is not None and message.time < start_time:
                continue
            if filter_subject is not None and not subject_matches(filter_subject, message.subject):
                continue
            chunk.append(message)
            if len(chunk) == batch:
                yield chunk
                chunk = []
                self._check_open()
        if chunk:
            yield chunk

    async def consumer(self, stream: str, config: ConsumerConfig) -> PullConsumer:
        found = self._stream(stream)
        await checkpoint()
        key = (stream, config.durable or "")
        cursor = self._durables.get(key) if config.durable else None
        if cursor is None:
            cursor = Cursor(found, config, found.start_seq(config))
            if config.durable:
                self._durables[key] = cursor
        cursor.config = config  # re-binding with new settings updates them, as on a server
        return MemoryConsumer(cursor, self._check_open)

    async def key_value(
        self, bucket: str, *, ttl: float | None = None, replicas: int = 1
    ) -> KeyValueStore:
        self._check_open()
        await checkpoint()
        if check_bucket(bucket) not in self._kv:
            self._kv[bucket] = MemoryKeyValue(bucket, ttl, self._check_open)
        return self._kv[bucket]

    async def object_store(self, bucket: str, *, replicas: int = 1) -> ObjectStore:
        self._check_open()
        await checkpoint()
        if check_bucket(bucket) not in self._objects:
            self._objects[bucket] = MemoryObjectStore(bucket, self._check_open)
        return self._objects[bucket]

    async def aclose(self) -> None:
        self._closed = True
        for stream in self._streams.values():
            stream.notify()  # waiting fetches wake up and see the log is closed
        await checkpoint()
