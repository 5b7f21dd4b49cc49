"""In-memory connectors: a source over given batches, a collecting sink, a null sink.

They are the embedded, dependency-free implementations of the connector
extension point, used by tests (``dataflare.streaming.testing``), pipeline unit
tests and benchmarks. The collecting sink is transactional like the file sink:
on recover it forgets what was sent after the last commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from dataflare.kernel import RecordBatch
from dataflare.streaming._connector import Connector, Received

__all__ = ("CollectingSink", "MemorySource", "NullOptions", "NullSink")


class MemorySource(Connector):
    """Returns the given batches, then reports the end of input."""

    name = "memory"
    __test__ = False  # exported as testing.TestingSource: not a pytest test class

    def __init__(self, batches: Sequence[RecordBatch]) -> None:
        super().__init__()
        self.batches = list(batches)
        self._next = 0

    async def receive(self, max_records: int, timeout: float) -> Received | None:
        # A given batch is returned whole, however big: tests choose their batches.
        if self._next >= len(self.batches):
            return None
        batch = self.batches[self._next]
        self._next += 1
        self.records_in += len(batch)
        return Received(batch)

    def position(self) -> Any:
        return {"next": self._next}

    async def seek(self, position: Any) -> None:
        self._next = int(position["next"])


class CollectingSink(Connector):
    """Keeps every batch it is sent, in order; :attr:`batches` holds them."""

    name = "collect"
    __test__ = False  # exported as testing.TestingSink: not a pytest test class

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[RecordBatch] = []

    async def send(self, batch: RecordBatch) -> None:
        if len(batch):
            self.batches.append(batch)
            self.records_out += len(batch)

    async def commit(self) -> Any:
        return {"batches": len(self.batches)}

    async def recover(self, position: Any) -> None:
        del self.batches[0 if position is None else int(position["batches"]) :]

    def batch(self) -> RecordBatch:
        """Everything received, as one batch."""
        return RecordBatch.concat(self.batches)


@attrs.frozen
class NullOptions:
    """The ``discard`` connector takes no options."""


class NullSink(Connector):
    """Counts and discards what it is sent (benchmarks, dry runs)."""

    name = "discard"

    def __init__(self, options: NullOptions | None = None) -> None:
        super().__init__()

    async def send(self, batch: RecordBatch) -> None:
        self.records_out += len(batch)
