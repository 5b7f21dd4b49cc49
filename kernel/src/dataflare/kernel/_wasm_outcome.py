"""What processing a batch through a WASM plugin produced: output, dead letters, costs.

A call never raises because of what a plugin did. Records that the plugin
rejected, or whose processing made it fail, come back as :class:`DeadLetter`
values beside the output of every other record.

Example::

    result = plugin.process(batch)
    send(result.output)
    for letter in result.dead_letters:
        dead_letter_queue.put(letter.record, reason=f"{letter.failure}: {letter.message}")
"""

from __future__ import annotations

import attrs

from dataflare.kernel._batch import RecordBatch

__all__ = ("BatchResult", "DeadLetter")


@attrs.frozen
class DeadLetter:
    """One input record that did not make it through a plugin, and why."""

    input_index: int
    """The record's position in the batch given to ``process``."""
    record: RecordBatch
    """A batch holding just that record, unchanged."""
    failure: str
    """``record-error`` when the plugin listed the record as an error; otherwise how
    the plugin failed on it: ``out-of-fuel``, ``deadline``, ``stack-overflow``,
    ``trap``, ``memory``, ``bad-status`` or ``bad-output``."""
    code: int | None
    """The plugin's error code (``record-error``) or status (``bad-status``)."""
    message: str
    """The plugin's message, or what the host saw go wrong."""
    plugin: str
    """The plugin's name."""


@attrs.frozen
class BatchResult:
    """The outcome of one ``WasmPlugin.process`` (or ``flush``) call."""

    output: RecordBatch
    """The output of every record that did not fail, in input order."""
    dead_letters: tuple[DeadLetter, ...]
    """The records that failed, in input order."""
    fuel_used: int
    """Fuel consumed by every wasm call made for this batch."""
    memory_bytes: int
    """The size of the plugin's linear memory afterwards."""
    calls: int
    """``df_process`` calls made: 1 when nothing failed, more while isolating failures."""
    seconds: float
    """Wall-clock time spent, isolation included."""
