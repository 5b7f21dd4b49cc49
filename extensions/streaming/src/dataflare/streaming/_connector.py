"""The connector extension point: one system's source and sink behind six methods.

A connector has ``name``, :meth:`~Connector.connect`, :meth:`~Connector.send`,
:meth:`~Connector.receive`, :meth:`~Connector.disconnect` and
:meth:`~Connector.status` (the kernel's ``dataflare_connectors`` contract). Four
more make checkpoints exact, and have safe defaults:

* a source reports a JSON-able :meth:`~Connector.position` after what it has
  returned, can :meth:`~Connector.seek` back to one, and is told when a
  checkpoint holding a position is durable (:meth:`~Connector.acknowledge`);
* a sink :meth:`~Connector.commit`\\ s what it was sent and returns a position,
  and on restart :meth:`~Connector.recover`\\ s to that position, dropping
  anything written after it (a transactional sink), or keys what it writes so
  the system drops repeats (an idempotent sink).

Third-party connectors register a factory ``factory(options) -> Connector``
through the kernel's ``dataflare_connectors`` hook.
"""

from __future__ import annotations

from typing import Any

import attrs

from dataflare.kernel import RecordBatch

__all__ = ("Connector", "ConnectorStatus", "Received")


@attrs.frozen
class Received:
    """What one :meth:`Connector.receive` call read."""

    batch: RecordBatch
    """The records read (possibly none, when nothing arrived before the timeout)."""
    dead_letters: RecordBatch | None = None
    """Inputs that could not be decoded, each with its error (see ``_dead_letters``)."""


@attrs.frozen
class ConnectorStatus:
    """A connector's health and counters, for ``dataflare top`` and statistics."""

    name: str
    """The connector's name."""
    connected: bool
    """Whether it is connected now."""
    records_in: int = 0
    """Records returned by receive."""
    records_out: int = 0
    """Records accepted by send."""
    detail: str = ""
    """What it is connected to, or the last error."""


class Connector:
    """A source and sink for one system. Override what the connector supports."""

    name: str = "connector"
    """The connector's registered name."""

    def __init__(self) -> None:
        self.records_in = 0
        self.records_out = 0
        self.connected = False

    async def connect(self) -> None:
        """Open files or connections; called once before any other call."""
        self.connected = True

    async def receive(self, max_records: int, timeout: float) -> Received | None:
        """Read up to ``max_records`` records, waiting at most ``timeout`` seconds.

        Returns:
            What was read (an empty batch when nothing came in time), or ``None``
            when the input is exhausted and will never yield more.
        """
        raise NotImplementedError(f"{self.name} cannot be used as a source")

    async def send(self, batch: RecordBatch) -> None:
        """Write a batch (buffered until :meth:`commit` is allowed)."""
        raise NotImplementedError(f"{self.name} cannot be used as a sink")

    async def disconnect(self) -> None:
        """Close files or connections; called once, whatever happened."""
        self.connected = False

    def status(self) -> ConnectorStatus:
        """Report health and counters."""
        return ConnectorStatus(self.name, self.connected, self.records_in, self.records_out)

    # --- checkpoints ------------------------------------------------------------------

    def position(self) -> Any:
        """Source: a JSON-able position just after the last record returned."""
        return None

    async def seek(self, position: Any) -> None:
        """Source: continue after ``position`` (from a checkpoint) instead of the start."""

    async def acknowledge(self, position: Any) -> None:
        """Source: a checkpoint holding ``position`` is durable; release what precedes it."""

    async def commit(self) -> Any:
        """Sink: make everything sent durable; return a JSON-able position for the checkpoint."""
        return None

    async def recover(self, position: Any) -> None:
        """Sink: on (re)start, return to ``position`` (``None``: nothing was committed)."""
