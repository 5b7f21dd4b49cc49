"""Tests for the segment frame format (dataflare.events._frames)."""

from __future__ import annotations

import struct
import zlib

import pytest
from events_helpers import event

from dataflare.events._frames import (
    MAGIC,
    BadFrameError,
    decode_frame,
    encode_frame,
    scan,
    timestamp_us,
)


def _frame(n: int) -> bytes:
    return encode_frame(n, event(n), event(n).to_json())


def test_a_frame_round_trips_with_its_header_fields():
    """decode_frame gives back the offset, timestamp, id and JSON that were framed."""
    original = event(7)
    frame = encode_frame(7, original, original.to_json())
    decoded = decode_frame(frame, 0)
    assert (decoded.offset, decoded.event_id, decoded.payload) == (7, "e-7", original.to_json())
    assert decoded.timestamp_us == timestamp_us(original.timestamp)
    assert (decoded.start, decoded.end) == (0, len(frame))


def test_the_frame_layout_is_length_crc_then_body():
    """A frame starts with the body's length and its CRC32, little-endian, as documented."""
    frame = _frame(1)
    length, crc = struct.unpack_from("<II", frame)
    assert length == len(frame) - 8
    assert crc == zlib.crc32(frame[8:])


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: f[:5], "a frame header needs 8 bytes, 5 remain"),
        (lambda f: f[:-1], "remain"),
        (lambda f: f[:20] + bytes([f[20] ^ 1]) + f[21:], "CRC32 does not match"),
        (lambda f: struct.pack("<II", 3, zlib.crc32(b"abc")) + b"abc", "at least 17 bytes"),
    ],
    ids=["short-header", "short-body", "flipped-bit", "tiny-body"],
)
def test_a_damaged_frame_is_refused(damage, message):
    """Cut, flipped or undersized frames raise BadFrameError saying what is wrong."""
    with pytest.raises(BadFrameError, match=message):
        decode_frame(damage(_frame(1)), 0)


def test_scan_reads_good_frames_and_stops_at_the_first_bad_one():
    """scan returns the frames before the damage, where they end, and why it stopped."""
    good = MAGIC + _frame(1) + _frame(2)
    result = scan(good + b"\x01\x02", 1)
    assert [f.offset for f in result.frames] == [1, 2]
    assert result.end == len(good)
    assert result.problem is not None
    assert scan(good, 1).problem is None


def test_scan_refuses_frames_out_of_sequence():
    """A frame whose offset is not the next one ends the good part."""
    result = scan(MAGIC + _frame(1) + _frame(3), 1)
    assert [f.offset for f in result.frames] == [1]
    assert result.problem == "the frame has offset 3, expected 2"


def test_scan_refuses_a_file_without_the_magic():
    """A file that does not start with the magic has no good part at all."""
    result = scan(b"NOTALOG!" + _frame(1), 1)
    assert (result.frames, result.end) == ([], 0)
    assert result.problem is not None
    assert "does not start with" in result.problem
