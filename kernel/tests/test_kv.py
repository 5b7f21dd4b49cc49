"""Tests for the KV block that stores record headers and batch metadata (dataflare.kernel._kv)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dataflare.kernel._kv import decode_kv, encode_kv
from dataflare.kernel.errors import BatchFormatError, DataError


def _decode(block: bytes, start: int = 0) -> dict[str, str]:
    return decode_kv(memoryview(block), start, len(block) - start, what="metadata")


def _entry(key: bytes, value: bytes) -> bytes:
    return struct.pack("<I", len(key)) + key + struct.pack("<I", len(value)) + value


@given(st.dictionaries(st.text(max_size=20), st.text(max_size=40), max_size=8))
def test_encode_then_decode_round_trips(mapping):
    """Any string map survives encoding and decoding, in order."""
    assert list(_decode(encode_kv(mapping)).items()) == list(mapping.items())


def test_empty_map_encodes_to_nothing():
    """An empty map is a zero-length block."""
    assert encode_kv({}) == b""
    assert _decode(b"") == {}


def test_block_with_zero_entries_is_accepted():
    """Readers also accept an explicit count of 0."""
    assert _decode(struct.pack("<I", 0)) == {}


def test_encoding_is_the_documented_bytes():
    """u32 n, then u32 klen, key, u32 vlen, value, little-endian."""
    assert encode_kv({"é": "v"}) == b"\x01\x00\x00\x00" + b"\x02\x00\x00\x00\xc3\xa9" + (
        b"\x01\x00\x00\x00v"
    )


def test_error_offsets_are_absolute():
    """A problem's offset counts from the start of the batch, not of the block."""
    block = b"\x00" * 16 + struct.pack("<I", 1) + struct.pack("<I", 50) + bytes(4)
    with pytest.raises(BatchFormatError, match=r"entry 0 key \(50 bytes\)") as caught:
        _decode(block, start=16)
    assert caught.value.offset == 20


def test_too_short_for_its_count():
    """A block of 1 to 3 bytes cannot hold its count."""
    with pytest.raises(BatchFormatError, match="too short for its count"):
        _decode(b"\x01\x00")


def test_count_larger_than_the_block_can_hold():
    """A count that could not fit in the block is refused before looping."""
    with pytest.raises(BatchFormatError, match="claims 4000000000 entries"):
        _decode(struct.pack("<I", 4_000_000_000) + bytes(8))


def test_length_field_cut_off():
    """An entry whose length field is cut off is refused."""
    block = struct.pack("<I", 2) + _entry(b"abcdefgh", b"") + struct.pack("<I", 0)
    with pytest.raises(BatchFormatError, match="entry 1 value length runs past the end"):
        _decode(block)


def test_text_past_the_end():
    """A key or value longer than the rest of the block is refused."""
    with pytest.raises(BatchFormatError, match=r"entry 0 value \(9 bytes\) runs past"):
        _decode(struct.pack("<I", 1) + _entry(b"k", b"v")[:-5] + struct.pack("<I", 9) + b"v")


def test_invalid_utf8_is_refused_at_the_byte():
    """Keys and values must be UTF-8; the offset is the bad byte."""
    block = struct.pack("<I", 1) + _entry(b"ok\xff", b"v")
    with pytest.raises(BatchFormatError, match="entry 0 key is not valid UTF-8") as caught:
        _decode(block)
    assert caught.value.offset == 4 + 4 + 2


def test_repeated_key_is_refused():
    """A key may appear once."""
    block = struct.pack("<I", 2) + _entry(b"k", b"1") + _entry(b"k", b"2")
    with pytest.raises(BatchFormatError, match="repeats the key 'k'"):
        _decode(block)


def test_bytes_left_over_are_refused():
    """Every byte of the block belongs to an entry."""
    block = struct.pack("<I", 1) + _entry(b"k", b"v") + b"\x00" * 8
    with pytest.raises(BatchFormatError, match="8 bytes left over after its 1 entries"):
        _decode(block)


@pytest.mark.parametrize("mapping", [{"k": 1}, {1: "v"}, {"k": b"bytes"}])
def test_non_string_entries_cannot_be_encoded(mapping):
    """encode_kv refuses anything but str keys and values, naming the map."""
    with pytest.raises(DataError, match="headers of record 2 must map strings to strings"):
        encode_kv(mapping, what="headers of record 2")


def test_lone_surrogate_cannot_be_encoded():
    """Text that is not valid Unicode is refused as a DataError."""
    with pytest.raises(DataError, match="not valid Unicode"):
        encode_kv({"k": "\ud800"})
