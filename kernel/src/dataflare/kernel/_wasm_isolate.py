"""Finding the records a plugin fails on, by bisection, and keeping everything else.

When a call on a batch fails (a trap, a failing status, bad output), the plugin
is restarted and the batch is split in halves; each half that fails is restarted
and split again, until every failing record stands alone and goes to the dead
letters with its own failure. The output of every part that succeeded is kept,
in input order (``docs/plugin-abi.md``, "When a plugin fails").

Cost: the attempts form a binary tree over the records, so a batch of ``n``
records takes at most ``2n - 1`` calls, however many records fail. A failure that
does not happen again on the halves (a deadline missed on the whole batch, say)
simply yields the halves' output. Calls are bounded in time too: a plugin whose
every record runs into its deadline would otherwise hold the host for ``2n - 1``
deadlines, so once the isolation budget is spent, the records not yet isolated
are dead-lettered as ``abandoned`` without another call.

This module knows nothing about wasm: it drives two callables, ``attempt`` and
``restart``, so the algorithm can be read (and tested) on its own.

Example::

    isolation = Isolation(batch, plugin="acme/redact", attempt=attempt, restart=restart)
    isolation.run(first=failure)        # the failure of the call on the whole batch
    isolation.output(), isolation.dead_letters()
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from dataflare.kernel._batch import RecordBatch
from dataflare.kernel._wasm_outcome import DeadLetter
from dataflare.kernel._wasm_result import CallFailure, RecordError

__all__ = ("Attempt", "Isolation", "record_errors")

logger = logging.getLogger("dataflare.plugins")

Attempt = Callable[[RecordBatch], tuple[RecordBatch, tuple[RecordError, ...]]]
"""Process one batch on the current instance: its output and per-record errors."""


class _Broken(Exception):
    """The plugin could not be restarted; the rest of the batch cannot be processed."""

    def __init__(self, failure: CallFailure) -> None:
        super().__init__(str(failure))
        self.failure = failure


class Isolation:
    """The bisection of one batch whose first call failed.

    Args:
        batch: The batch that failed.
        plugin: The plugin's name, for dead letters and logs.
        attempt: Runs one part on the current instance; raises
            :class:`~dataflare.kernel._wasm_result.CallFailure`.
        restart: Replaces the instance (restoring an aggregate's last good
            state); raises ``CallFailure`` if it cannot.
        budget: Seconds the whole isolation may take; parts not reached by then
            are dead-lettered as ``abandoned``.

    Attributes:
        calls: ``attempt`` calls made, the first (failed) one included.
    """

    def __init__(
        self,
        batch: RecordBatch,
        *,
        plugin: str,
        attempt: Attempt,
        restart: Callable[[], None],
        budget: float = float("inf"),
    ) -> None:
        self._batch = batch
        self._budget = budget
        self._deadline = time.monotonic() + budget
        self._plugin = plugin
        self._attempt = attempt
        self._restart = restart
        self.calls = 1
        self._parts: list[tuple[int, int, RecordBatch]] = []
        self._dead: list[DeadLetter] = []
        self._done = 0  # records before this index have an outcome

    def run(self, first: CallFailure, *, restarted: bool = False) -> None:
        """Isolate the failing records of the batch.

        Args:
            first: How the call on the whole batch failed.
            restarted: The instance was already replaced (skip the first restart).
        """
        try:
            self._failed(0, len(self._batch), first, restarted=restarted)
        except _Broken as broken:
            failure = broken.failure
            logger.error(
                "plugin %s could not be restarted after a failure: %s",
                self._plugin,
                failure,
                extra={"plugin": self._plugin, "failure": failure.failure, "record_index": None},
            )
            note = f"not processed: the plugin could not be restarted ({failure.message})"
            for index in range(self._done, len(self._batch)):
                self._dead_letter(index, CallFailure(failure.failure, note, code=failure.code))

    def output(self) -> RecordBatch:
        """The output of every part that succeeded, joined in input order.

        Parts whose output columns differ from the first non-empty part's cannot be
        joined into one batch; their input records become ``bad-output`` dead
        letters.
        """
        filled = [part for part in self._parts if len(part[2])]
        if not filled:
            return self._parts[0][2] if self._parts else RecordBatch.empty()
        reference = _schema(filled[0][2])
        kept = []
        for start, stop, output in filled:
            if _schema(output) == reference:
                kept.append(output)
                continue
            message = (
                f"the output's columns {_schema(output)} differ from those of the rest of "
                f"the batch {reference}, so they cannot be joined"
            )
            for index in range(start, stop):
                self._dead_letter(index, CallFailure("bad-output", message))
        return kept[0] if len(kept) == 1 else RecordBatch.concat(kept)

    def dead_letters(self) -> tuple[DeadLetter, ...]:
        """Every dead letter, in input order."""
        return tuple(sorted(self._dead, key=lambda letter: letter.input_index))

    def _try(self, start: int, stop: int) -> None:
        if time.monotonic() >= self._deadline:
            note = (
                f"not processed: isolating the failing records of this batch took longer "
                f"than its budget of {self._budget:g} s (10 x limits.timeout_ms), so the "
                "rest of the batch was given up; retry these records later"
            )
            for index in range(start, stop):
                self._dead_letter(index, CallFailure("abandoned", note))
            self._done = stop
            return
        self.calls += 1
        try:
            output, errors = self._attempt(self._batch.slice(start, stop))
        except CallFailure as failure:
            self._failed(start, stop, failure)
            return
        self._parts.append((start, stop, output))
        self._dead += record_errors(self._batch, errors, start, plugin=self._plugin)
        self._done = stop

    def _failed(
        self, start: int, stop: int, failure: CallFailure, *, restarted: bool = False
    ) -> None:
        logger.warning(
            "plugin %s failed on records %d to %d: %s",
            self._plugin,
            start,
            stop - 1,
            failure,
            extra={
                "plugin": self._plugin,
                "failure": failure.failure,
                "record_index": start if stop - start == 1 else None,
                "records": stop - start,
            },
        )
        if not restarted:
            try:
                self._restart()
            except CallFailure as broken:
                raise _Broken(broken) from None
        if stop - start <= 1:
            for index in range(start, stop):
                self._dead_letter(index, failure)
            self._done = stop
            return
        middle = (start + stop) // 2
        self._try(start, middle)
        self._try(middle, stop)

    def _dead_letter(self, index: int, failure: CallFailure) -> None:
        self._dead.append(
            DeadLetter(
                input_index=index,
                record=self._batch.slice(index, index + 1),
                failure=failure.failure,
                code=failure.code,
                message=failure.message,
                plugin=self._plugin,
            )
        )


def record_errors(
    batch: RecordBatch, errors: tuple[RecordError, ...], start: int, *, plugin: str
) -> list[DeadLetter]:
    """Turn the per-record errors of a successful call into ``record-error`` dead letters.

    Args:
        batch: The whole input batch.
        errors: The errors of the call on ``batch[start:...]``.
        start: Where that call's input started in ``batch``.
        plugin: The plugin's name.
    """
    return [
        DeadLetter(
            input_index=start + error.index,
            record=batch.slice(start + error.index, start + error.index + 1),
            failure="record-error",
            code=error.code,
            message=error.message,
            plugin=plugin,
        )
        for error in errors
    ]


def _schema(batch: RecordBatch) -> tuple[tuple[str, str], ...]:
    return tuple((name, batch.column(name).dtype.str) for name in batch.column_names)
