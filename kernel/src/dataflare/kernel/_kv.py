"""The KV block: how a record batch stores string maps (record headers, batch metadata).

A block is ``u32 n`` followed by ``n`` entries of ``u32 klen, key, u32 vlen, value``,
all little-endian, keys and values UTF-8. A zero-length block means an empty map;
that is what writers produce for one, and readers also accept ``n == 0``.

Example::

    block = encode_kv({"traceparent": "00-4bf9...-01"})
    assert decode_kv(memoryview(block), 0, len(block), what="metadata") == {
        "traceparent": "00-4bf9...-01"
    }
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

from dataflare.kernel.errors import BatchFormatError, DataError

__all__ = ("decode_kv", "encode_kv")

_U32 = struct.Struct("<I")


def encode_kv(mapping: Mapping[str, str], *, what: str = "mapping") -> bytes:
    """Encode a string map as a KV block.

    Args:
        mapping: The map to encode; keys and values must be strings.
        what: What the map is (``"headers of record 3"``), for error messages.

    Returns:
        The block; empty bytes for an empty map.

    Raises:
        DataError: A key or value is not a string, or holds a lone surrogate.
    """
    if not mapping:
        return b""
    parts = [_U32.pack(len(mapping))]
    for key, value in mapping.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise DataError(
                f"{what} must map strings to strings, got {key!r}: {value!r} "
                f"({type(key).__name__}: {type(value).__name__})"
            )
        for text in (key, value):
            try:
                encoded = text.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise DataError(f"{what} holds text that is not valid Unicode: {exc}") from None
            parts += (_U32.pack(len(encoded)), encoded)
    return b"".join(parts)


def decode_kv(buffer: memoryview, start: int, length: int, *, what: str) -> dict[str, str]:
    """Decode and check the KV block at ``buffer[start:start + length]``.

    Args:
        buffer: The whole batch (so error offsets are absolute).
        start: Where the block starts.
        length: The block's length in bytes.
        what: What the block is (``"metadata"``), for error messages.

    Returns:
        The decoded map.

    Raises:
        BatchFormatError: The block is truncated, has bytes left over, repeats a
            key, or holds invalid UTF-8.
    """
    result: dict[str, str] = {}
    if length == 0:
        return result
    end = start + length
    if length < 4:
        raise BatchFormatError(
            f"{what} block is {length} bytes, too short for its count", offset=start
        )
    (count,) = _U32.unpack_from(buffer, start)
    # Each entry takes at least 8 bytes, which also bounds the loop below.
    if count > (length - 4) // 8:
        raise BatchFormatError(
            f"{what} block claims {count} entries but has room for at most {(length - 4) // 8}",
            offset=start,
        )
    position = start + 4
    for index in range(count):
        entry_at = position
        texts: list[str] = []
        for part in ("key", "value"):
            if position + 4 > end:
                raise BatchFormatError(
                    f"{what} entry {index} {part} length runs past the end of the block",
                    offset=position,
                )
            (size,) = _U32.unpack_from(buffer, position)
            position += 4
            if position + size > end:
                raise BatchFormatError(
                    f"{what} entry {index} {part} ({size} bytes) runs past the end of the block",
                    offset=position - 4,
                )
            try:
                texts.append(str(buffer[position : position + size], "utf-8"))
            except UnicodeDecodeError as exc:
                raise BatchFormatError(
                    f"{what} entry {index} {part} is not valid UTF-8", offset=position + exc.start
                ) from None
            position += size
        key, value = texts
        if key in result:
            raise BatchFormatError(f"{what} repeats the key {key!r}", offset=entry_at)
        result[key] = value
    if position != end:
        raise BatchFormatError(
            f"{what} block has {end - position} bytes left over after its {count} entries",
            offset=position,
        )
    return result
