"""The file store's log on disk: segment files, recovery on open, and the in-memory index.

This is the synchronous half of :class:`~dataflare.events.FileEventStore`; the
store runs it in worker threads and allows one writer at a time. A directory
holds ``LOCK`` (held with ``flock`` while open, so a second writer is refused)
and segments named by their first offset, ``00000000000000000001.seg``, each
rolled over past ``segment_bytes``. Frames are described in
:mod:`dataflare.events._frames`.

Opening scans every segment and checks every frame's CRC, rebuilding the index
(offset to byte position and timestamp) and the id set; there is no sidecar
index yet, so opening takes time proportional to the log's size. A bad frame in
the last segment is a torn tail, a write the crash interrupted before it was
acknowledged: it and everything after it is cut off, with a warning. A bad frame
anywhere else raises :class:`~dataflare.events.errors.StoreCorruptedError`.
"""

from __future__ import annotations

import bisect
import logging
import os
import re
import sys
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import Final, Literal

import attrs

from dataflare.events._frames import (
    MAGIC,
    BadFrameError,
    Frame,
    decode_frame,
    encode_frame,
    scan,
    timestamp_us,
)
from dataflare.events._query import ReadQuery
from dataflare.events._store_api import StoredEvent
from dataflare.events.errors import EventStoreError, StoreCorruptedError, StoreLockedError
from dataflare.kernel import Event

__all__ = ("FsyncPolicy", "SegmentLog")

log = logging.getLogger("dataflare.events")

FsyncPolicy = Literal["always", "batch", "never"]
"""When appends reach the disk: after every event, after every append call, or when
the operating system decides (every policy survives a killed process; only
``always`` and ``batch`` survive losing power with acknowledged events intact)."""

_SEGMENT_NAME: Final = re.compile(r"[0-9]{20}\.seg")

if sys.platform == "win32":  # pragma: no cover -- no flock: one writer is up to the user

    def _lock(fd: int) -> None:
        pass

    def _sync_directory(directory: Path) -> None:
        pass

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _sync_directory(directory: Path) -> None:
        # A new or truncated file's directory entry is durable only once the directory is.
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@attrs.define
class _Segment:
    first: int
    path: Path
    size: int


def _segment_path(directory: Path, first: int) -> Path:
    return directory / f"{first:020d}.seg"


class SegmentLog:
    """An open log directory: append frames, read them back by offset.

    Build one with :meth:`open`. Not thread-safe for writers; readers may run in
    other threads while one writer appends.
    """

    def __init__(
        self, directory: Path, fsync: FsyncPolicy, segment_bytes: int, lock_fd: int
    ) -> None:
        self.directory = directory
        self._fsync = fsync
        self._segment_bytes = segment_bytes
        self._lock_fd = lock_fd
        self._segments: list[_Segment] = []
        self._firsts: list[int] = []
        self._positions = array("Q")  # offset - 1 -> byte position in its segment
        self._times = array("q")  # offset - 1 -> timestamp, microseconds since the epoch
        self._ids: dict[str, int] = {}
        self._fd = -1
        self._read_only = False

    @classmethod
    def open(cls, directory: Path, fsync: FsyncPolicy, segment_bytes: int) -> SegmentLog:
        """Lock the directory, scan and recover its segments, and open the last for appending.

        Raises:
            StoreLockedError: Another writer has the directory open.
            StoreCorruptedError: A segment is damaged before its last frame.
            OSError: The directory cannot be created or read.
        """
        directory.mkdir(parents=True, exist_ok=True)
        return cls._open_locked(directory, fsync, segment_bytes)

    @classmethod
    def open_read_only(cls, directory: Path) -> SegmentLog:
        """Scan the segments without locking or changing anything, for a reader beside a
        writer: a frame still being written (or a torn tail) ends the log here.

        Raises:
            StoreCorruptedError: A segment is damaged before its last frame.
            OSError: The directory cannot be read.
        """
        self = cls(directory, "never", 1 << 62, -1)
        self._read_only = True
        if directory.is_dir():
            self._recover()
        return self

    @property
    def read_only(self) -> bool:
        """Whether this log was opened by :meth:`open_read_only`."""
        return self._read_only

    @classmethod
    def _open_locked(cls, directory: Path, fsync: FsyncPolicy, segment_bytes: int) -> SegmentLog:
        lock_fd = os.open(directory / "LOCK", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _lock(lock_fd)
        except BlockingIOError:
            os.close(lock_fd)
            raise StoreLockedError(directory) from None
        self = cls(directory, fsync, segment_bytes, lock_fd)
        try:
            self._recover()
        except BaseException:
            self.close()
            raise
        return self

    def _recover(self) -> None:
        paths = sorted(p for p in self.directory.iterdir() if _SEGMENT_NAME.fullmatch(p.name))
        for index, path in enumerate(paths):
            expected = self.count + 1
            if int(path.stem) != expected:
                problem = f"it starts at offset {int(path.stem)}, expected {expected}"
                raise StoreCorruptedError(path, 0, f"a segment is missing before it: {problem}")
            self._load(path, expected, last=index == len(paths) - 1)
        if self._read_only:
            return
        if not self._segments:
            self._create_segment(1)
        self._fd = os.open(self._segments[-1].path, os.O_WRONLY | os.O_APPEND)

    def _load(self, path: Path, first: int, *, last: bool) -> None:
        data = path.read_bytes()
        result = scan(data, first)
        end = result.end
        if result.problem is not None:
            torn_header = end == 0 and len(data) < len(MAGIC) and MAGIC.startswith(data)
            if not last or (end == 0 and not torn_header and not self._read_only):
                raise StoreCorruptedError(path, end, result.problem)
            if self._read_only:  # a writer may be mid-frame: what is whole is the log
                self._add_segment(first, path, end, result.frames)
                return
            log.warning(
                "event store %s: cut a torn tail of %d byte(s) at byte %d of %s (%s); "
                "a write a crash interrupted",
                self.directory,
                len(data) - end,
                end,
                path.name,
                result.problem,
                extra={"directory": str(self.directory), "segment": path.name},
            )
            with path.open("r+b") as file:
                if torn_header:
                    file.write(MAGIC)
                file.truncate(max(end, len(MAGIC)))
                os.fsync(file.fileno())
            end = max(end, len(MAGIC))
        self._add_segment(first, path, end, result.frames)

    def _add_segment(self, first: int, path: Path, end: int, frames: Sequence[Frame]) -> None:
        self._segments.append(_Segment(first, path, end))
        self._firsts.append(first)
        self._positions.extend(frame.start for frame in frames)
        self._times.extend(frame.timestamp_us for frame in frames)
        for offset, frame in enumerate(frames, start=first):
            self._ids[frame.event_id] = offset

    def _create_segment(self, first: int) -> None:
        path = _segment_path(self.directory, first)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, MAGIC)
            if self._fsync != "never":
                os.fsync(fd)
        finally:
            os.close(fd)
        if self._fsync != "never":
            _sync_directory(self.directory)
        self._segments.append(_Segment(first, path, len(MAGIC)))
        self._firsts.append(first)

    # --- writing ----------------------------------------------------------------------

    @property
    def count(self) -> int:
        """How many events the log holds (the last offset, or 0)."""
        return len(self._positions)

    def offset_of(self, event_id: str) -> int | None:
        """Return the offset stored for an id, or ``None``."""
        return self._ids.get(event_id)

    def write(self, entries: list[tuple[int, Event, bytes]]) -> None:
        """Append entries, all or none, syncing as the fsync policy says.

        Raises:
            EventStoreError: The write failed; the log is as it was before the call.
        """
        segments, size = len(self._segments), self._segments[-1].size
        try:
            added = self._write(entries)
        except OSError as exc:
            self._undo(segments, size)
            raise EventStoreError(
                f"could not append to {self.directory}: {exc}; nothing of the batch was stored"
            ) from exc
        # Readers in other threads see a new event only once all of it is written.
        for position, micros, event_id, offset in added:
            self._positions.append(position)
            self._times.append(micros)
            self._ids[event_id] = offset

    def _write(self, entries: list[tuple[int, Event, bytes]]) -> list[tuple[int, int, str, int]]:
        added: list[tuple[int, int, str, int]] = []
        pending = bytearray()
        for offset, event, payload in entries:
            frame = encode_frame(offset, event, payload)
            segment = self._segments[-1]
            filled = segment.size + len(pending)
            if filled > len(MAGIC) and filled + len(frame) > self._segment_bytes:
                self._flush(pending)
                self._roll(offset)
                segment = self._segments[-1]
            micros = timestamp_us(event.timestamp)
            added.append((segment.size + len(pending), micros, event.id, offset))
            pending += frame
            if self._fsync == "always":
                self._flush(pending)
                os.fsync(self._fd)
        self._flush(pending)
        if self._fsync == "batch":
            os.fsync(self._fd)
        return added

    def _flush(self, pending: bytearray) -> None:
        done = 0
        with memoryview(pending) as view:
            while done < len(view):
                with view[done:] as rest:
                    written = os.write(self._fd, rest)
                self._segments[-1].size += written
                done += written
        pending.clear()

    def _roll(self, first: int) -> None:
        if self._fsync != "never":
            os.fsync(self._fd)
        os.close(self._fd)
        self._fd = -1
        self._create_segment(first)
        self._fd = os.open(self._segments[-1].path, os.O_WRONLY | os.O_APPEND)

    def _undo(self, segments: int, size: int) -> None:
        try:
            if self._fd >= 0:
                os.close(self._fd)
            for segment in self._segments[segments:]:
                segment.path.unlink(missing_ok=True)
            del self._segments[segments:]
            del self._firsts[segments:]
            segment = self._segments[-1]
            os.truncate(segment.path, size)
            segment.size = size
            self._fd = os.open(segment.path, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:  # the next open cuts the partial batch off as a torn tail
            log.error("event store %s: could not undo a failed append: %s", self.directory, exc)

    # --- reading ----------------------------------------------------------------------

    def read_batch(
        self, first: int, last: int, query: ReadQuery, max_frames: int = 512
    ) -> tuple[list[StoredEvent], int]:
        """Read up to ``max_frames`` offsets from ``first`` (never past ``last`` or its segment).

        Returns:
            The events that match ``query``, and the next offset to read.

        Raises:
            StoreCorruptedError: A frame changed on disk since the log was opened.
        """
        index = bisect.bisect_right(self._firsts, first) - 1
        segment = self._segments[index]
        following = self._firsts[index + 1] if index + 1 < len(self._firsts) else None
        stop = min(last, first + max_frames - 1)
        if following is not None:
            stop = min(stop, following - 1)
        start = self._positions[first - 1]
        end = self._positions[stop] if stop < self.count and stop + 1 != following else None
        with segment.path.open("rb") as file:
            file.seek(start)
            buffer = file.read() if end is None else file.read(end - start)
        since, until = _bounds(query)
        matched: list[StoredEvent] = []
        for offset in range(first, stop + 1):
            micros = self._times[offset - 1]
            if (since is not None and micros < since) or (until is not None and micros >= until):
                continue
            position = self._positions[offset - 1]
            try:
                frame = decode_frame(buffer, position - start)
            except BadFrameError as exc:
                raise StoreCorruptedError(segment.path, position, str(exc)) from None
            event = Event.from_json(frame.payload)
            if query.wants_type(event.event_type):
                matched.append(StoredEvent(offset, event))
        return matched, stop + 1

    def close(self) -> None:
        """Close the segment and release the directory lock; idempotent."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = -1


def _bounds(query: ReadQuery) -> tuple[int | None, int | None]:
    since = None if query.since is None else timestamp_us(query.since)
    until = None if query.until is None else timestamp_us(query.until)
    return since, until


def disk_stamp(directory: Path) -> tuple[int, int]:
    """How far a log's files reach (segments, bytes of the last): a reader compares it
    with the one it saw to know whether a writer added events."""
    if not directory.is_dir():
        return (0, 0)
    paths = sorted(p for p in directory.iterdir() if _SEGMENT_NAME.fullmatch(p.name))
    return (len(paths), paths[-1].stat().st_size) if paths else (0, 0)
