"""A synthetic source: deterministic records made with numpy, for demos, tests and benchmarks.

Record ``i`` is a pure function of ``i``, so the position is just the next index
and a restarted pipeline regenerates exactly what it would have read. Profiles:

* ``numbers``: typed columns ``user_id = i % keys`` and ``value = (i * 7919) % 1000``
  (the workload of the streaming benchmark).
* ``orders``: a shop's orders: ``customer``, ``region`` (0 to 4, unevenly) and
  ``amount`` (0 to 500) columns, from a hash of ``i``, and a JSON value with an
  order id and a card number.

Event time starts at ``start_ms`` and advances ``interval_us`` per record;
``rate`` limits records per second of wall-clock time.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import anyio
import attrs
import numpy as np
import numpy.typing as npt

from dataflare.kernel import RecordBatch
from dataflare.streaming._connector import Connector, Received
from dataflare.streaming._ragged_batch import batch_from_matrix

__all__ = ("GeneratorConnector", "GeneratorOptions")

_ORDER_TEMPLATE = b'{"order":"o-0000000000","card":"4111-1111-1111-0000"}'
_ORDER_DIGITS = (_ORDER_TEMPLATE.index(b"0000000000"), 10)  # where the order number goes
_CARD_DIGITS = (_ORDER_TEMPLATE.rindex(b"0000"), 4)  # where the card's last four digits go
_REGION_OF = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 3, 4], np.int64)  # regions differ in size


@attrs.frozen
class GeneratorOptions:
    """Options of the ``generator`` connector."""

    records: int | None = 1_000_000
    """How many records in all; ``null`` for an endless stream."""
    profile: Literal["numbers", "orders"] = "numbers"
    """Which records: ``numbers`` or ``orders``."""
    keys: int = 1000
    """Distinct users (numbers) or customers (orders)."""
    start_ms: int = 1_767_225_600_000
    """Event time of the first record (2026-01-01T00:00:00Z by default)."""
    interval_us: int = 1000
    """Event time between consecutive records, in microseconds."""
    rate: float | None = None
    """Records per second of wall-clock time at most; ``null`` for as fast as possible."""


class GeneratorConnector(Connector):
    """Generates records; a source only."""

    name = "generator"

    def __init__(self, options: GeneratorOptions) -> None:
        super().__init__()
        self.options = options
        self._next = 0
        self._started: float | None = None
        self._started_at = 0

    async def receive(self, max_records: int, timeout: float) -> Received | None:
        total = self.options.records
        if total is not None and self._next >= total:
            return None
        count = max_records if total is None else min(max_records, total - self._next)
        if self.options.rate is not None:
            count = await self._pace(count, timeout)
        batch = self.generate(self._next, count)
        self._next += count
        self.records_in += count
        return Received(batch)

    async def _pace(self, count: int, timeout: float) -> int:
        assert self.options.rate is not None
        now = time.monotonic()
        if self._started is None:
            self._started, self._started_at = now, self._next
        allowed = int((now - self._started + timeout) * self.options.rate) + 1
        count = max(0, min(count, self._started_at + allowed - self._next))
        due = self._started + (self._next + count - self._started_at) / self.options.rate
        await anyio.sleep(max(0.0, due - now))
        return count

    def generate(self, start: int, count: int) -> RecordBatch:
        """Records ``start`` to ``start + count - 1``."""
        index = np.arange(start, start + count, dtype=np.int64)
        options = self.options
        timestamps = options.start_ms + (index * options.interval_us) // 1000
        if options.profile == "numbers":
            return RecordBatch.from_arrays(
                timestamps=timestamps,
                columns={"user_id": index % options.keys, "value": (index * 7919) % 1000},
                count=count,
            )
        values = np.tile(np.frombuffer(_ORDER_TEMPLATE, np.uint8), (count, 1))
        _write_digits(values, index, *_ORDER_DIGITS)
        _write_digits(values, (index * 7919) % 10000, *_CARD_DIGITS)
        mixed = _mix(index)  # a hash of i: orders look random, yet replay exactly
        columns: dict[str, npt.NDArray[np.int64] | npt.NDArray[np.float64]] = {
            "customer": mixed % options.keys,
            "region": _REGION_OF[(mixed >> 20) % _REGION_OF.size],
            "amount": ((mixed >> 8) % 50_000) / 100.0,
        }
        return batch_from_matrix(values, timestamps=timestamps, columns=columns)

    def position(self) -> Any:
        return {"next": self._next}

    async def seek(self, position: Any) -> None:
        self._next = int(position["next"])
        self._started = None


def _mix(index: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    # Knuth's multiplicative hash, kept to 31 bits so every later step stays in int64.
    return (index * 2654435761) % (1 << 31)


def _write_digits(
    matrix: npt.NDArray[np.uint8], numbers: npt.NDArray[np.int64], start: int, digits: int
) -> None:
    powers = 10 ** np.arange(digits - 1, -1, -1, dtype=np.int64)
    matrix[:, start : start + digits] = (numbers[:, None] // powers) % 10 + ord("0")
