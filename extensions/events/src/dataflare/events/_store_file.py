"""The embedded default event store: an append-only segmented log in a directory.

:class:`FileEventStore` survives restarts and crashes. Every event is framed with
its length and a CRC32 and written with ``write(2)`` before ``append`` returns, so
a killed process (even ``SIGKILL``) loses nothing that was acknowledged; the
``fsync`` policy decides what survives losing power:

``"batch"`` (default)
    ``fsync`` once at the end of each ``append`` / ``append_many`` call, before it
    returns: every acknowledged event is on disk.
``"always"``
    ``fsync`` after every event, even inside a batch. Acknowledgements promise the
    same as ``"batch"``; it only narrows what of an unfinished batch reaches the disk.
``"never"``
    Leave flushing to the operating system: fastest, and a power loss may take
    recently acknowledged events (a killed process still loses none).

Reads by offset seek straight to the frame through an in-memory index; reads by
time use the index's timestamps; reads by type parse each event in range (a scan,
fine at this size; an index by type can come later). Blocking I/O runs in worker
threads, one writer at a time.

Example::

    async with FileEventStore("/var/lib/dataflare/events", fsync="batch") as store:
        offset = await store.append(event)
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, Sequence
from pathlib import Path

import anyio
import anyio.to_thread

from dataflare.events._query import ReadQuery, check_offset
from dataflare.events._segments import FsyncPolicy, SegmentLog, disk_stamp
from dataflare.events._store_api import EventStore, StoredEvent, plan_append
from dataflare.events.errors import StoreClosedError, StoreReadOnlyError
from dataflare.kernel import Event

__all__ = ("FileEventStore",)

_FSYNC_POLICIES = ("always", "batch", "never")


class FileEventStore(EventStore):
    """A durable event store in a directory; the embedded default.

    Args:
        directory: Where the log lives; created if missing. One store object (in
            one process) may have it open at a time.
        fsync: ``"batch"`` (default), ``"always"`` or ``"never"``; see the module.
        segment_bytes: Roll over to a new segment file past this size.
        read_only: Read beside a writer in another process: no lock is taken, nothing
            on disk is changed, appends are refused, and reads see what the writer
            added since (the index is rebuilt when the files have grown).

    Raises:
        ValueError: ``fsync`` or ``segment_bytes`` is out of range.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        fsync: FsyncPolicy = "batch",
        segment_bytes: int = 64 * 1024 * 1024,
        read_only: bool = False,
    ) -> None:
        if fsync not in _FSYNC_POLICIES:
            raise ValueError(f"fsync={fsync!r} is not allowed: use one of {_FSYNC_POLICIES}")
        if segment_bytes < 1024:
            raise ValueError(f"segment_bytes={segment_bytes!r} is not allowed: use 1024 or more")
        self.directory = Path(directory)
        self.fsync: FsyncPolicy = fsync
        self.segment_bytes = segment_bytes
        self.read_only = read_only
        self._log: SegmentLog | None = None
        self._seen: tuple[int, int] = (0, 0)  # read-only: how far the files reached
        self._closed = False
        self._lock = anyio.Lock()  # one writer; open and close wait for it

    def __repr__(self) -> str:
        mode = ", read_only=True" if self.read_only else ""
        return f"FileEventStore({str(self.directory)!r}, fsync={self.fsync!r}{mode})"

    async def open(self) -> None:
        """Lock the directory, recover a torn tail, and rebuild the index; idempotent.

        Raises:
            StoreClosedError: The store was closed.
            StoreLockedError: Another store has the directory open.
            StoreCorruptedError: A segment is damaged before its last frame.
        """
        await self._opened()

    async def _opened(self) -> SegmentLog:
        if self._log is not None and not self._closed and not self.read_only:
            return self._log
        async with self._lock:
            if self._closed:
                raise StoreClosedError(f"{self!r} is closed")
            if self.read_only:
                return await anyio.to_thread.run_sync(self._follow)
            if self._log is None:
                self._log = await anyio.to_thread.run_sync(
                    SegmentLog.open, self.directory, self.fsync, self.segment_bytes
                )
            return self._log

    def _follow(self) -> SegmentLog:
        # A reader's index is rebuilt whenever a writer made the files grow: a full scan,
        # fine for a person tailing a store, too slow for a hot loop (use JetStream).
        stamp = disk_stamp(self.directory)
        if self._log is None or stamp != self._seen:
            self._log, self._seen = SegmentLog.open_read_only(self.directory), stamp
        return self._log

    async def append_many(self, events: Sequence[Event]) -> list[int]:
        """Store events in order, all or none, and sync them per the fsync policy.

        See :meth:`EventStore.append_many`.
        """
        if self.read_only:
            raise StoreReadOnlyError(self.directory)
        segment_log = await self._opened()
        async with self._lock:
            if self._closed:
                raise StoreClosedError(f"{self!r} is closed")
            plan = plan_append(events, segment_log.offset_of, segment_log.count + 1)
            if plan.new:
                # Not abandoned on cancellation: the write and its index update finish,
                # and a retry with the same ids gets the same offsets back.
                await anyio.to_thread.run_sync(segment_log.write, plan.new)
        return plan.offsets

    async def get(self, offset: int) -> StoredEvent | None:
        """Return the event at ``offset``, or ``None``; see :meth:`EventStore.get`."""
        check_offset("offset", offset)
        segment_log = await self._opened()
        if offset > segment_log.count:
            return None
        found, _ = await anyio.to_thread.run_sync(
            segment_log.read_batch, offset, offset, ReadQuery()
        )
        return found[0]

    async def get_by_id(self, event_id: str) -> StoredEvent | None:
        """Return the event with this id, or ``None``; see :meth:`EventStore.get_by_id`."""
        segment_log = await self._opened()
        offset = segment_log.offset_of(event_id)
        return None if offset is None else await self.get(offset)

    async def _read(self, query: ReadQuery) -> AsyncGenerator[StoredEvent, None]:
        segment_log = await self._opened()
        last = query.last(segment_log.count)  # what is stored now, not what comes later
        offset = query.from_offset
        yielded = 0
        while offset <= last and (query.limit is None or yielded < query.limit):
            if self._closed:
                raise StoreClosedError(f"{self!r} was closed during a read")
            found, offset = await anyio.to_thread.run_sync(
                segment_log.read_batch, offset, last, query
            )
            for stored in found:
                if query.limit is not None and yielded >= query.limit:
                    return
                yielded += 1
                yield stored

    async def last_offset(self) -> int | None:
        """Return the last offset, or ``None`` when empty."""
        return (await self._opened()).count or None

    async def aclose(self) -> None:
        """Wait for an append in progress, then close the files and release the lock."""
        async with self._lock:
            self._closed = True
            if self._log is not None:
                segment_log, self._log = self._log, None
                await anyio.to_thread.run_sync(segment_log.close)
