"""The operator extension point: what happens to a batch between source and sinks.

An operator takes a batch and returns its output and the records it rejected.
Stateful operators (windows) also emit on :meth:`Operator.finish` and save and
restore their state for checkpoints. Operators are called from one thread at a
time, one batch at a time, in pipeline order.

Example::

    class Doubler(Operator):
        def process(self, batch):
            return OperatorOutput(batch.with_columns({"x": batch.column("x") * 2}))
"""

from __future__ import annotations

from typing import Any

import attrs

from dataflare.kernel import RecordBatch

__all__ = ("Operator", "OperatorOutput")


@attrs.frozen
class OperatorOutput:
    """What an operator produced for one call."""

    batch: RecordBatch
    """Records for the next operator (or the sinks)."""
    dead_letters: RecordBatch | None = None
    """Rejected records, each with ``error`` and ``stage`` headers (see ``_dead_letters``)."""
    plugin_result: Any = None
    """A WASM plugin's ``BatchResult`` (fuel, time) for telemetry, when one ran."""


class Operator:
    """One step of a pipeline. Override :meth:`process`; the rest is optional."""

    name: str = "operator"
    """The operator's name in logs, statistics and dead letters."""

    aggregates: bool = False
    """Whether records it takes in are folded into state (a window) rather than passed
    on or filtered out: telemetry then does not count the difference as discarded."""

    def open(self) -> None:
        """Acquire resources (load a plugin); called once before the first batch."""

    def process(self, batch: RecordBatch) -> OperatorOutput:
        """Transform one batch.

        Raises:
            OperatorError: The whole batch failed; the pipeline stops and restarts
                from its last checkpoint, so nothing acknowledged is lost.
        """
        raise NotImplementedError

    def tick(self, now_ms: int) -> OperatorOutput | None:
        """Processing time passed while the source was idle (wall clock ``now_ms``).

        Windows use it to stop an idle source from holding the watermark back.
        """
        return None

    def finish(self) -> OperatorOutput | None:
        """Emit what is still held (open windows) at the end of a bounded input."""
        return None

    def snapshot(self) -> bytes | None:
        """Return the operator's state for a checkpoint, or ``None`` if it has none."""
        return None

    def restore(self, state: bytes) -> None:
        """Take back the state :meth:`snapshot` returned, before the first batch."""

    def close(self) -> None:
        """Release resources; called once, whatever happened."""
