"""The on-disk format of the file store: segment files of length- and CRC32-framed entries.

A segment file starts with the 8-byte magic ``DFEVLOG1`` (the format's version is
its last byte), followed by frames, back to back. All integers are little-endian::

    frame  = length:u32  crc:u32  body            (crc = zlib.crc32(body), length = len(body))
    body   = offset:u64  timestamp_us:i64  id_len:u8  id:bytes[id_len]  event:JSON

The offset, timestamp and id sit outside the JSON so that opening a store rebuilds
its index and id set, and a time-range read skips frames, without parsing events.
A frame that runs past the end of the file, whose CRC does not match, or whose
offset is not the next one is *bad*; :func:`scan` stops at the first bad frame
and says why, and the store decides whether that is a torn tail or damage.

Example::

    frame = encode_frame(7, event, event.to_json())
    decoded = decode_frame(frame, 0)   # Frame(offset=7, ..., start=0, end=len(frame))
"""

from __future__ import annotations

import struct
import zlib
from datetime import UTC, datetime, timedelta
from typing import Final

import attrs

from dataflare.kernel import Event

__all__ = (
    "MAGIC",
    "BadFrameError",
    "Frame",
    "ScanResult",
    "decode_frame",
    "encode_frame",
    "scan",
    "timestamp_us",
)

MAGIC: Final = b"DFEVLOG1"
_PREFIX: Final = struct.Struct("<II")
_FIXED: Final = struct.Struct("<QqB")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)


def timestamp_us(timestamp: datetime) -> int:
    """Return a timezone-aware datetime as whole microseconds since the Unix epoch."""
    return (timestamp - _EPOCH) // _MICROSECOND


@attrs.frozen
class Frame:
    """One decoded frame."""

    offset: int
    """The event's offset."""
    timestamp_us: int
    """The event's timestamp, in microseconds since the Unix epoch."""
    event_id: str
    """The event's id."""
    payload: bytes
    """The event as JSON."""
    start: int
    """The byte position where the frame starts."""
    end: int
    """The byte position just past the frame."""


class BadFrameError(Exception):
    """A frame is torn or damaged (internal: the store turns it into a warning or an error)."""


def encode_frame(offset: int, event: Event, payload: bytes) -> bytes:
    """Frame one event.

    Args:
        offset: The event's offset.
        event: The event (its id and timestamp go in the frame's header).
        payload: The event's JSON.

    Returns:
        The frame's bytes.
    """
    event_id = event.id.encode("ascii")  # ids are printable ASCII, at most 128 characters
    body = _FIXED.pack(offset, timestamp_us(event.timestamp), len(event_id)) + event_id + payload
    return _PREFIX.pack(len(body), zlib.crc32(body)) + body


def decode_frame(buffer: bytes | memoryview, position: int) -> Frame:
    """Decode and check the frame at ``position``.

    Args:
        buffer: Bytes holding the frame.
        position: Where the frame starts.

    Returns:
        The frame.

    Raises:
        BadFrameError: The frame is cut short or its CRC does not match.
    """
    available = len(buffer) - position
    if available < _PREFIX.size:
        raise BadFrameError(f"a frame header needs {_PREFIX.size} bytes, {available} remain")
    length, crc = _PREFIX.unpack_from(buffer, position)
    start = position + _PREFIX.size
    end = start + length
    if end > len(buffer):
        raise BadFrameError(f"the frame claims {length} bytes, {len(buffer) - start} remain")
    if length < _FIXED.size:
        raise BadFrameError(f"a frame body needs at least {_FIXED.size} bytes, it has {length}")
    body = bytes(buffer[start:end])
    if zlib.crc32(body) != crc:
        raise BadFrameError("the CRC32 does not match the frame's bytes")
    offset, micros, id_len = _FIXED.unpack_from(body)
    id_end = _FIXED.size + id_len
    try:
        event_id = body[_FIXED.size : id_end].decode("ascii")
    except UnicodeDecodeError:
        raise BadFrameError("the event id is not ASCII") from None
    return Frame(offset, micros, event_id, body[id_end:], position, end)


@attrs.frozen
class ScanResult:
    """What a segment holds: its good frames, and where and why the good part ends."""

    frames: list[Frame]
    """The good frames, in order (payloads are dropped to save memory)."""
    end: int
    """The byte position just past the last good frame."""
    problem: str | None
    """Why scanning stopped before the end of the data, or ``None`` when it reached it."""


def scan(buffer: bytes, first_offset: int) -> ScanResult:
    """Read a segment's frames up to the first bad one.

    Args:
        buffer: The whole segment file.
        first_offset: The offset its first frame must have.

    Returns:
        The good frames and where they end.
    """
    if len(buffer) < len(MAGIC) or not buffer.startswith(MAGIC):
        found = buffer[: len(MAGIC)]
        return ScanResult([], 0, f"the file does not start with {MAGIC!r} (found {found!r})")
    frames: list[Frame] = []
    position = len(MAGIC)
    while position < len(buffer):
        try:
            frame = decode_frame(buffer, position)
        except BadFrameError as exc:
            return ScanResult(frames, position, str(exc))
        expected = first_offset + len(frames)
        if frame.offset != expected:
            return ScanResult(
                frames, position, f"the frame has offset {frame.offset}, expected {expected}"
            )
        frames.append(attrs.evolve(frame, payload=b""))
        position = frame.end
    return ScanResult(frames, position, None)
