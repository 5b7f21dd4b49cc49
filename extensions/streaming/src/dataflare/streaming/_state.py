"""The state backend extension point: where checkpoints are kept.

Four methods (save, load, delete, list_keys) over opaque bytes under string
keys. :class:`MemoryStateBackend` beside it serves tests; the embedded default
is :class:`~dataflare.streaming.FileStateBackend`, which survives a crash.

Example::

    backend = MemoryStateBackend()
    await backend.save("orders/checkpoint", b"...")
    assert await backend.list_keys("orders/") == ["orders/checkpoint"]
"""

from __future__ import annotations

import attrs

from dataflare.streaming.errors import StateBackendError

__all__ = ("MemoryStateBackend", "StateBackend", "check_key")


def check_key(key: str) -> str:
    """Refuse keys that could escape a directory or are empty.

    Raises:
        StateBackendError: The key is empty, absolute, or has an empty, ``.`` or
            ``..`` segment.
    """
    parts = key.split("/")
    if not key or any(part in ("", ".", "..") for part in parts) or "\\" in key:
        raise StateBackendError(
            "keys are '/'-separated names without empty, '.' or '..' parts, "
            "such as 'orders/checkpoint'",
            key=key,
        )
    return key


class StateBackend:
    """Saves and loads bytes by key; a save replaces the value whole or not at all."""

    async def save(self, key: str, value: bytes) -> None:
        """Store ``value`` under ``key``, durably, replacing what was there."""
        raise NotImplementedError

    async def load(self, key: str) -> bytes | None:
        """Return the value under ``key``, or ``None`` if there is none."""
        raise NotImplementedError

    async def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error."""
        raise NotImplementedError

    async def list_keys(self, prefix: str = "") -> list[str]:
        """Every key starting with ``prefix``, sorted."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release resources."""


@attrs.define
class MemoryStateBackend(StateBackend):
    """Keeps values in a dict: for tests, and runs that need no recovery."""

    values: dict[str, bytes] = attrs.field(factory=dict)

    async def save(self, key: str, value: bytes) -> None:
        self.values[check_key(key)] = bytes(value)

    async def load(self, key: str) -> bytes | None:
        return self.values.get(check_key(key))

    async def delete(self, key: str) -> None:
        self.values.pop(check_key(key), None)

    async def list_keys(self, prefix: str = "") -> list[str]:
        return sorted(key for key in self.values if key.startswith(prefix))
