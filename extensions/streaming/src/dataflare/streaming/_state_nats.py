"""A state backend on a JetStream KV bucket: checkpoints that outlive the machine.

Each key is one KV entry; a put replaces a value atomically, and with
``replicas`` above 1 the bucket is replicated across a NATS cluster, so a
pipeline can resume on another node. Values are limited by the server's
maximum payload (1 MB by default): keep window state small or raise
``max_payload``. Works on the in-memory log too (``memory://``), for tests.

Example::

    backend = JetStreamStateBackend(["nats://127.0.0.1:4222"], bucket="pipelines")
    await backend.save("orders/checkpoint", data)
    await backend.aclose()
"""

from __future__ import annotations

from collections.abc import Sequence

from dataflare.kernel.messaging import KeyValueStore, MessageLog, open_log
from dataflare.streaming._state import StateBackend, check_key

__all__ = ("JetStreamStateBackend",)


class JetStreamStateBackend(StateBackend):
    """Keeps each key in a JetStream KV bucket (opened on first use)."""

    def __init__(
        self, servers: Sequence[str], *, bucket: str = "dataflare-state", replicas: int = 1
    ) -> None:
        self.servers = list(servers)
        self.bucket = bucket
        self.replicas = replicas
        self._log: MessageLog | None = None
        self._kv: KeyValueStore | None = None

    async def _store(self) -> KeyValueStore:
        if self._kv is None:
            log = open_log(self.servers)
            await log.__aenter__()
            self._log = log
            self._kv = await log.key_value(self.bucket, replicas=self.replicas)
        return self._kv

    async def save(self, key: str, value: bytes) -> None:
        await (await self._store()).put(check_key(key), bytes(value))

    async def load(self, key: str) -> bytes | None:
        entry = await (await self._store()).get(check_key(key))
        return None if entry is None else entry.value

    async def delete(self, key: str) -> None:
        store = await self._store()
        if await store.get(check_key(key)) is not None:
            await store.delete(key)

    async def list_keys(self, prefix: str = "") -> list[str]:
        keys = await (await self._store()).keys()
        return sorted(key for key in keys if key.startswith(prefix))

    async def aclose(self) -> None:
        if self._log is not None:
            await self._log.aclose()
        self._log = self._kv = None
