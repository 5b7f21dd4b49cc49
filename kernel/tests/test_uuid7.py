"""Tests for time-ordered UUIDv7 ids (dataflare.kernel._uuid7)."""

from __future__ import annotations

import time
import uuid

from dataflare.kernel._uuid7 import Uuid7Generator, uuid7


def _millis(text: str) -> int:
    return uuid.UUID(text).int >> 80


def test_ids_are_canonical_version_7_uuids():
    """An id is a lower-case hyphenated UUID with version 7 and the RFC variant."""
    text = uuid7()
    parsed = uuid.UUID(text)
    assert str(parsed) == text
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122


def test_ids_carry_the_current_time():
    """The first 48 bits are the creation time in milliseconds."""
    before = time.time_ns() // 1_000_000
    text = uuid7()
    after = time.time_ns() // 1_000_000
    assert before <= _millis(text) <= after


def test_ids_strictly_increase_in_a_burst():
    """Ids made back to back sort in creation order, as strings."""
    ids = [uuid7() for _ in range(5000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_ids_increase_when_the_clock_stands_still():
    """With a frozen clock, the counter keeps ids increasing, past 4096 per millisecond."""
    generate = Uuid7Generator(clock=lambda: 1_700_000_000_000 * 1_000_000)
    ids = [generate() for _ in range(10_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    # Once the counter runs out, the timestamp moves ahead rather than repeating.
    assert _millis(ids[-1]) > 1_700_000_000_000


def test_ids_increase_when_the_clock_steps_back():
    """A clock that goes backwards does not make an id smaller than the last one."""
    times = iter([5_000, 4_000, 3_000, 6_000])
    generate = Uuid7Generator(clock=lambda: next(times) * 1_000_000)
    ids = [generate() for _ in range(4)]
    assert ids == sorted(ids)
    assert [_millis(text) for text in ids] == [5_000, 5_000, 5_000, 6_000]


def test_random_bits_come_from_the_random_source():
    """The low 62 bits are random, so two generators at one instant still differ."""
    clock = lambda: 42 * 1_000_000  # noqa: E731
    one = Uuid7Generator(clock=clock, random_bytes=lambda n: b"\x00" * n)()
    two = Uuid7Generator(clock=clock, random_bytes=lambda n: b"\xff" * n)()
    assert uuid.UUID(one).int & (2**62 - 1) == 0
    assert uuid.UUID(two).int & (2**62 - 1) == 2**62 - 1
    assert one != two
