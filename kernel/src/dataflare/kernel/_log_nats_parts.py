"""NatsLog's pull consumer, KV bucket and object store, on nats-py's JetStream API.

A pull consumer's subscription is unsubscribed when it closes, and :meth:`NatsLog.aclose`
closes every open one before draining the connection: nats-py's drain otherwise hangs
for its whole timeout after a fetch that timed out. KV buckets are made without limit
markers, because nats-py 2.16's ``get``/``create`` misread them.

Example::

    worker = await log.consumer("TASKS", ConsumerConfig("workers", ack_wait=30))
    for task in await worker.fetch(10, timeout=2.0):
        await task.ack()
    await worker.close()
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, suppress

import anyio
import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext
from nats.js.kv import KeyValue
from nats.js.object_store import ObjectStore as RawObjectStore

from dataflare.kernel._log_api import (
    DeliveredMessage,
    KeyValueStore,
    ObjectStore,
    PullConsumer,
    Settlement,
)
from dataflare.kernel._log_nats_link import NatsLink, stored_from
from dataflare.kernel._log_values import KeyValueEntry, ObjectInfo, check_key
from dataflare.kernel.errors import (
    LogClosedError,
    MessagingError,
    MessagingTimeoutError,
    MessagingValueError,
    RevisionConflictError,
)

__all__ = ("NatsConsumer", "NatsKeyValue", "NatsObjectStore")

# nats-py reads an object through a push subscription with no deadline of its own.
_OBJECT_TIMEOUT = 60.0
_ELECTING = (nats.js.errors.ServiceUnavailableError, nats.errors.ConnectionReconnectingError)


class _Delivered(DeliveredMessage):
    def __init__(self, msg: Msg, link: NatsLink) -> None:
        super().__init__(stored_from(msg))
        self._msg = msg
        self._link = link

    async def _send(self, kind: Settlement, delay: float | None) -> None:
        self._link.check_open()
        with self._link.translate(f"{kind} of message seq {self.seq}"):
            if kind == "ack":
                try:  # a double ack: returns once the server has recorded it
                    await self._msg.ack_sync(timeout=self._link.request_timeout)
                except TimeoutError:
                    raise MessagingTimeoutError(
                        f"ack of message seq {self.seq}",
                        self._link.request_timeout,
                        "it may be redelivered, so the handler must be idempotent",
                    ) from None
            elif kind == "nak":
                await self._msg.nak(delay=delay)
            elif kind == "term":
                await self._msg.term()
            else:
                await self._msg.in_progress()


class NatsConsumer(PullConsumer):
    """A pull subscription bound to one JetStream consumer.

    Args:
        link: The shared connection.
        subscription: The bound pull subscription.
        stream: The stream's name, for messages.
        on_close: Called once when it closes (the log forgets it).
    """

    def __init__(
        self,
        link: NatsLink,
        subscription: JetStreamContext.PullSubscription,
        stream: str,
        on_close: Callable[[NatsConsumer], None],
    ) -> None:
        self._link = link
        self._subscription = subscription
        self._stream = stream
        self._on_close = on_close
        self._closed = False

    async def fetch(self, batch: int = 1, timeout: float = 5.0) -> list[DeliveredMessage]:
        if self._closed:
            raise LogClosedError("this consumer was closed; open another with log.consumer()")
        self._link.check_open()
        if batch < 1 or not timeout > 0:
            raise MessagingValueError("fetch(batch, timeout)", (batch, timeout), "use >= 1, > 0")
        deadline = anyio.current_time() + timeout
        with self._link.translate(f"fetch from stream {self._stream!r}", stream=self._stream):
            while (left := deadline - anyio.current_time()) > 0.01:  # bounded by the timeout
                try:
                    msgs = await self._subscription.fetch(batch, timeout=left)
                    return [_Delivered(msg, self._link) for msg in msgs]
                except TimeoutError:
                    break  # no message in time; nats-py raises rather than return [] (#418)
                except _ELECTING:  # no consumer leader right now: ask again within the timeout
                    await anyio.sleep(min(0.1, left))
        return []

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._on_close(self)
        if not self._link.nc.is_closed:
            # If the connection went away there is nothing left to unsubscribe.
            with suppress(nats.errors.Error, ValueError):
                await self._subscription.unsubscribe()


class NatsKeyValue(KeyValueStore):
    """A JetStream KV bucket (the stream ``KV_<bucket>``)."""

    def __init__(self, link: NatsLink, kv: KeyValue, bucket: str) -> None:
        self._link = link
        self._kv = kv
        self.bucket = bucket

    def _what(self, action: str, key: str) -> str:
        self._link.check_open()
        check_key(key)
        return f"{action} of key {key!r} in bucket {self.bucket!r}"

    async def get(self, key: str) -> KeyValueEntry | None:
        with self._link.translate(self._what("get", key)):
            try:
                entry = await self._kv.get(key)
            except nats.js.errors.KeyNotFoundError:  # absent, deleted or aged out
                return None
        # nats-py hands back an empty value as None
        return KeyValueEntry(key, entry.value or b"", entry.revision or 0)

    async def put(self, key: str, value: bytes) -> int:
        with self._link.translate(self._what("put", key)):
            return await self._kv.put(key, value)

    async def create(self, key: str, value: bytes) -> int:
        with self._link.translate(self._what("create", key)):
            try:
                return await self._kv.create(key, value)
            except nats.js.errors.KeyWrongLastSequenceError:
                raise RevisionConflictError(key, 0) from None

    async def update(self, key: str, value: bytes, revision: int) -> int:
        with self._link.translate(self._what("update", key)):
            try:
                return await self._kv.update(key, value, last=revision)
            except nats.js.errors.KeyWrongLastSequenceError:
                raise RevisionConflictError(key, revision) from None

    async def delete(self, key: str) -> None:
        with self._link.translate(self._what("delete", key)):
            await self._kv.delete(key)

    async def keys(self) -> list[str]:
        self._link.check_open()
        with self._link.translate(f"keys of bucket {self.bucket!r}"):
            try:
                return sorted(await self._kv.keys())
            except nats.js.errors.NoKeysError:
                return []


class NatsObjectStore(ObjectStore):
    """A JetStream object store bucket (the stream ``OBJ_<bucket>``), 128 KiB chunks."""

    def __init__(self, link: NatsLink, store: RawObjectStore, bucket: str) -> None:
        self._link = link
        self._store = store
        self.bucket = bucket

    def _translate(self, action: str, name: str) -> AbstractContextManager[None]:
        self._link.check_open()
        if not isinstance(name, str) or not name:
            raise MessagingValueError("object name", name, "use a non-empty string")
        what = f"{action} of object {name!r} in bucket {self.bucket!r}"
        return self._link.translate(what, timeout=_OBJECT_TIMEOUT)

    async def put(self, name: str, data: bytes) -> ObjectInfo:
        with self._translate("put", name), anyio.fail_after(_OBJECT_TIMEOUT):
            info = await self._store.put(name, bytes(data))
        return ObjectInfo(name, info.size or 0, info.digest or "")

    async def get(self, name: str) -> bytes | None:
        with self._translate("get", name), anyio.fail_after(_OBJECT_TIMEOUT):
            try:
                result = await self._store.get(name)
            except nats.js.errors.ObjectNotFoundError:
                return None
            except nats.js.errors.DigestMismatchError:
                raise MessagingError(f"object {name!r} failed its SHA-256 check") from None
        return bytes(result.data or b"")

    async def delete(self, name: str) -> None:
        with self._translate("delete", name), suppress(nats.js.errors.ObjectNotFoundError):
            await self._store.delete(name)

    async def list(self) -> list[ObjectInfo]:
        self._link.check_open()
        with self._link.translate(f"list of bucket {self.bucket!r}"):
            try:
                found = await self._store.list(ignore_deletes=True)
            except nats.js.errors.NotFoundError:
                return []
        infos = [ObjectInfo(i.name, i.size or 0, i.digest or "") for i in found if not i.deleted]
        return sorted(infos, key=lambda info: info.name)
