"""Time-ordered UUIDv7 identifiers (RFC 9562), for event ids.

Python 3.11 has no ``uuid.uuid7``. These ids sort by creation time as strings,
which keeps an event store's index append-only, and they stay strictly increasing
within one process even when many are made in the same millisecond or the clock
steps back: the 12-bit ``rand_a`` field is a counter (RFC 9562 section 6.2,
method 1), and when it runs out the timestamp moves one millisecond ahead.

Example::

    first, second = uuid7(), uuid7()
    assert first < second
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable

__all__ = ("Uuid7Generator", "uuid7")

_COUNTER_MAX = 0xFFF


class Uuid7Generator:
    """Makes strictly increasing UUIDv7 strings; safe to share between threads.

    Args:
        clock: Returns the current time in nanoseconds since the Unix epoch.
        random_bytes: Returns that many random bytes.
    """

    def __init__(
        self,
        clock: Callable[[], int] = time.time_ns,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._clock = clock
        self._random_bytes = random_bytes
        self._lock = threading.Lock()
        self._millis = -1
        self._counter = 0

    def __call__(self) -> str:
        """Return a new id, greater than every id this generator returned before."""
        random = int.from_bytes(self._random_bytes(10), "big")
        with self._lock:
            now = self._clock() // 1_000_000
            if now > self._millis:
                self._millis = now
                # Start low in the counter's range (top bit clear) so that many ids
                # fit in one millisecond before the timestamp has to move ahead.
                self._counter = random >> 69
            elif self._counter < _COUNTER_MAX:
                self._counter += 1
            else:
                self._millis += 1
                self._counter = random >> 69
            millis, counter = self._millis, self._counter
        value = (millis & (2**48 - 1)) << 80 | 0x7 << 76 | counter << 64
        value |= 0b10 << 62 | random & (2**62 - 1)
        return str(uuid.UUID(int=value))


_GENERATOR = Uuid7Generator()


def uuid7() -> str:
    """Return a new UUIDv7 string, such as ``"0190a6c2-3f1e-7d2a-9c4b-5e6f7a8b9c0d"``.

    Returns:
        A lower-case, hyphenated UUID whose first 48 bits are the creation time in
        milliseconds; later calls in this process return greater strings.
    """
    return _GENERATOR()
