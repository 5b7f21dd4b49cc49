"""MemoryLog's KV and object store buckets, with JetStream's revision and TTL rules.

Revisions count every write to a bucket, deletes included, as the sequence of the
stream behind a NATS bucket does; a bucket's TTL ages out each write, a delete's too.

Example::

    locks = await MemoryLog().key_value("locks", ttl=2.0)
    revision = await locks.create("leader", b"node-a")
    await locks.update("leader", b"node-a", revision)  # renew the lease
"""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Callable

import anyio
import attrs
from anyio.lowlevel import checkpoint

from dataflare.kernel._log_api import KeyValueStore, ObjectStore
from dataflare.kernel._log_values import KeyValueEntry, ObjectInfo, check_key
from dataflare.kernel.errors import MessagingValueError, RevisionConflictError

__all__ = ("MemoryKeyValue", "MemoryObjectStore", "digest_of")


def digest_of(data: bytes) -> str:
    """The object digest as NATS writes it: ``SHA-256=`` and URL-safe base64."""
    return "SHA-256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode()


@attrs.define
class _Write:
    value: bytes
    revision: int
    written: float
    deleted: bool


class MemoryKeyValue(KeyValueStore):
    """One KV bucket of a :class:`MemoryLog`.

    Args:
        bucket: Its name.
        ttl: Seconds each write lives; ``None`` keeps writes.
        check_open: Raises LogClosedError once the log is closed.
    """

    def __init__(self, bucket: str, ttl: float | None, check_open: Callable[[], None]) -> None:
        self.bucket = bucket
        self._ttl = ttl or math.inf
        self._check_open = check_open
        self._writes: dict[str, _Write] = {}
        self._revision = 0

    def __repr__(self) -> str:
        return f"<MemoryKeyValue {self.bucket!r} revision={self._revision}>"

    async def _last(self, key: str) -> _Write | None:
        """The key's last write (a delete too) that has not aged out."""
        self._check_open()
        check_key(key)
        await checkpoint()
        write = self._writes.get(key)
        if write is not None and anyio.current_time() - write.written >= self._ttl:
            del self._writes[key]
            return None
        return write

    def _write(self, key: str, value: bytes, *, deleted: bool = False) -> int:
        self._revision += 1
        self._writes[key] = _Write(bytes(value), self._revision, anyio.current_time(), deleted)
        return self._revision

    async def get(self, key: str) -> KeyValueEntry | None:
        write = await self._last(key)
        if write is None or write.deleted:
            return None
        return KeyValueEntry(key, write.value, write.revision)

    async def put(self, key: str, value: bytes) -> int:
        await self._last(key)
        return self._write(key, value)

    async def create(self, key: str, value: bytes) -> int:
        write = await self._last(key)
        if write is not None and not write.deleted:
            raise RevisionConflictError(key, 0)
        return self._write(key, value)

    async def update(self, key: str, value: bytes, revision: int) -> int:
        write = await self._last(key)
        if (0 if write is None else write.revision) != revision:
            raise RevisionConflictError(key, revision)
        return self._write(key, value)

    async def delete(self, key: str) -> None:
        await self._last(key)
        self._write(key, b"", deleted=True)

    async def keys(self) -> list[str]:
        self._check_open()
        live = [key for key in list(self._writes) if await self.get(key) is not None]
        return sorted(live)


class MemoryObjectStore(ObjectStore):
    """One object store bucket of a :class:`MemoryLog`.

    Args:
        bucket: Its name.
        check_open: Raises LogClosedError once the log is closed.
    """

    def __init__(self, bucket: str, check_open: Callable[[], None]) -> None:
        self.bucket = bucket
        self._check_open = check_open
        self._objects: dict[str, tuple[ObjectInfo, bytes]] = {}

    def __repr__(self) -> str:
        return f"<MemoryObjectStore {self.bucket!r} objects={len(self._objects)}>"

    async def _enter(self, name: str) -> None:
        self._check_open()
        if not isinstance(name, str) or not name:
            raise MessagingValueError("object name", name, "use a non-empty string")
        await checkpoint()

    async def put(self, name: str, data: bytes) -> ObjectInfo:
        await self._enter(name)
        info = ObjectInfo(name, len(data), digest_of(data))
        self._objects[name] = (info, bytes(data))
        return info

    async def get(self, name: str) -> bytes | None:
        await self._enter(name)
        found = self._objects.get(name)
        return None if found is None else found[1]

    async def delete(self, name: str) -> None:
        await self._enter(name)
        self._objects.pop(name, None)

    async def list(self) -> list[ObjectInfo]:
        self._check_open()
        await checkpoint()
        return [self._objects[name][0] for name in sorted(self._objects)]
