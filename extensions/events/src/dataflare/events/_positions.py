"""Where a consumer's progress is kept, so a restarted processor resumes where it stopped.

A :class:`Position` has two parts: ``committed``, the offset up to which every
event is fully handled, and ``done``, the events above it that are handled too
(a processor with several workers finishes them out of order), by offset with
their ids. A restarted processor reads from ``committed + 1`` and skips the ids in
``done``. :class:`FilePositionStore` writes one small JSON file per consumer,
replacing it atomically (write, fsync, rename), so a crash leaves the old position
or the new one, never a torn file.

Example::

    positions = FilePositionStore("/var/lib/dataflare/events/consumers")
    await positions.save("billing", Position(committed=41, done={43: "0190…"}))
    (await positions.load("billing")).committed   # 41
"""

from __future__ import annotations

import abc
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import anyio.to_thread
import attrs

from dataflare.events.errors import PositionStoreError

__all__ = (
    "FilePositionStore",
    "MemoryPositionStore",
    "Position",
    "PositionStore",
    "check_consumer",
    "decode_position",
    "encode_position",
)

_CONSUMER: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_FORMAT: Final = 1


def check_consumer(name: object) -> str:
    """Check a consumer name: 1 to 100 letters, digits, ``_``, ``.`` or ``-``, starting
    with a letter or digit (it names a file).

    Raises:
        ValueError: The name is not allowed.
    """
    if not isinstance(name, str) or not _CONSUMER.fullmatch(name):
        raise ValueError(
            f"consumer name {name!r} is not allowed: use 1 to 100 letters, digits, '_', '.' "
            "or '-', starting with a letter or digit, such as 'billing'"
        )
    return name


def _read_only(value: Mapping[int, str]) -> Mapping[int, str]:
    return MappingProxyType(dict(value))


@attrs.frozen
class Position:
    """How far a consumer got."""

    committed: int = 0
    """Every event up to this offset is fully handled; 0 before the first."""
    done: Mapping[int, str] = attrs.field(factory=dict, converter=_read_only)
    """Events above ``committed`` that are fully handled too: offset to event id."""


class PositionStore(abc.ABC):
    """Keeps each consumer's :class:`Position`; subclass it for another backend."""

    @abc.abstractmethod
    async def load(self, consumer: str) -> Position:
        """Return the consumer's saved position, or ``Position()`` when it has none.

        Raises:
            PositionStoreError: The saved position cannot be read.
        """

    @abc.abstractmethod
    async def save(self, consumer: str, position: Position) -> None:
        """Replace the consumer's saved position.

        Raises:
            PositionStoreError: The position cannot be written.
        """


class MemoryPositionStore(PositionStore):
    """Positions in a dict: kept across processors in one process, lost when it ends."""

    def __init__(self) -> None:
        self._positions: dict[str, Position] = {}

    async def load(self, consumer: str) -> Position:
        """Return the consumer's position, or ``Position()``."""
        check_consumer(consumer)
        return self._positions.get(consumer, Position())

    async def save(self, consumer: str, position: Position) -> None:
        """Replace the consumer's position."""
        self._positions[check_consumer(consumer)] = position


class FilePositionStore(PositionStore):
    """Positions as ``<consumer>.json`` files in a directory, replaced atomically.

    Args:
        directory: Where the files go; created on the first save.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def path(self, consumer: str) -> Path:
        """The file that holds a consumer's position."""
        return self.directory / f"{check_consumer(consumer)}.json"

    async def load(self, consumer: str) -> Position:
        """Read the consumer's position file, or return ``Position()`` when there is none."""
        return await anyio.to_thread.run_sync(self._load, consumer, self.path(consumer))

    async def save(self, consumer: str, position: Position) -> None:
        """Write the consumer's position file atomically and durably."""
        await anyio.to_thread.run_sync(self._save, consumer, self.path(consumer), position)

    @staticmethod
    def _load(consumer: str, path: Path) -> Position:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return Position()
        except OSError as exc:
            raise PositionStoreError(consumer, f"cannot read {path}: {exc}") from exc
        return decode_position(consumer, data, str(path))

    @staticmethod
    def _save(consumer: str, path: Path, position: Position) -> None:
        temporary = path.with_name(f".{path.name}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with temporary.open("wb") as file:
                file.write(encode_position(consumer, position))
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
            _sync_directory(path.parent)
        except OSError as exc:
            raise PositionStoreError(consumer, f"cannot write {path}: {exc}") from exc


def encode_position(consumer: str, position: Position) -> bytes:
    """The JSON a position is saved as (``format`` 1)."""
    document = {
        "format": _FORMAT,
        "consumer": consumer,
        "committed": position.committed,
        "done": [[offset, event_id] for offset, event_id in sorted(position.done.items())],
    }
    return json.dumps(document, separators=(",", ":")).encode()


def decode_position(consumer: str, data: bytes, where: str) -> Position:
    """Read a position saved by :func:`encode_position`.

    Raises:
        PositionStoreError: ``data`` is not a saved position; ``where`` names its place.
    """
    try:
        return _from_document(json.loads(data))
    except (KeyError, TypeError, ValueError) as exc:
        raise PositionStoreError(
            consumer, f"{where} is not a saved position ({exc}); remove it to start over"
        ) from exc


def _from_document(document: Any) -> Position:
    if document["format"] != _FORMAT:
        raise ValueError(f"format {document['format']!r} is not {_FORMAT}")
    committed = document["committed"]
    if not isinstance(committed, int) or isinstance(committed, bool) or committed < 0:
        raise ValueError(f"committed must be an offset, got {committed!r}")
    done: dict[int, str] = {}
    for offset, event_id in document["done"]:
        if not isinstance(offset, int) or offset <= committed or not isinstance(event_id, str):
            raise ValueError(f"done holds a bad entry {[offset, event_id]!r}")
        done[offset] = event_id
    return Position(committed, done)


def _sync_directory(directory: Path) -> None:
    if os.name != "posix":  # pragma: no cover -- directories cannot be opened for fsync there
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
