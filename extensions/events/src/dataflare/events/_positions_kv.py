"""Consumer positions in a JetStream KV bucket, so a processor can resume on any machine.

Each consumer's :class:`~dataflare.events.Position` is one key, written whole (a KV
put is atomic), in the same JSON a :class:`FilePositionStore` writes.

Example::

    positions = KeyValuePositionStore(log)          # an open NatsLog or MemoryLog
    await positions.save("billing", Position(committed=41))
"""

from __future__ import annotations

from dataflare.events._positions import (
    Position,
    PositionStore,
    check_consumer,
    decode_position,
    encode_position,
)
from dataflare.events.errors import PositionStoreError
from dataflare.kernel import MessagingError
from dataflare.kernel.messaging import KeyValueStore, MessageLog

__all__ = ("KeyValuePositionStore",)


class KeyValuePositionStore(PositionStore):
    """Positions as keys of a KV bucket of an open message log.

    Args:
        log: The message log (the caller keeps it open while the store is used).
        bucket: The bucket's name; created on first use.
        replicas: Servers that keep the bucket.
    """

    def __init__(
        self, log: MessageLog, *, bucket: str = "EVENTS_POSITIONS", replicas: int = 1
    ) -> None:
        self._log = log
        self.bucket = bucket
        self._replicas = replicas
        self._kv: KeyValueStore | None = None

    async def _bucket(self, consumer: str) -> KeyValueStore:
        if self._kv is None:
            try:
                self._kv = await self._log.key_value(self.bucket, replicas=self._replicas)
            except MessagingError as exc:
                raise PositionStoreError(consumer, f"cannot open KV bucket: {exc}") from exc
        return self._kv

    async def load(self, consumer: str) -> Position:
        """Return the consumer's saved position, or ``Position()``."""
        kv = await self._bucket(check_consumer(consumer))
        try:
            entry = await kv.get(consumer)
        except MessagingError as exc:
            raise PositionStoreError(consumer, f"cannot read its position: {exc}") from exc
        if entry is None:
            return Position()
        return decode_position(consumer, entry.value, f"key {consumer!r} of {self.bucket!r}")

    async def save(self, consumer: str, position: Position) -> None:
        """Replace the consumer's saved position."""
        kv = await self._bucket(check_consumer(consumer))
        try:
            await kv.put(consumer, encode_position(consumer, position))
        except MessagingError as exc:
            raise PositionStoreError(consumer, f"cannot write its position: {exc}") from exc
