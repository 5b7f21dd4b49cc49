"""Running one pipeline: a reading task and a processing task joined by a bounded buffer.

The reading task pulls from the source, gathers records into batches that flush
on ``batch_size`` or after ``linger_ms``, and puts them in a bounded buffer of
``buffer_size`` batches; when the buffer fills, the backpressure controller
pauses it. Every ``checkpoint_interval`` it puts a barrier carrying the source
position in the buffer. The processing task runs each batch through the
operators (in a worker thread, under ``processing_timeout``) and into every sink;
at a barrier every batch before it is done, so it snapshots the operators,
commits the sinks and saves one checkpoint with all of it. At the end of a
bounded input, operators flush what they hold (open windows) and a final
checkpoint marks the pipeline finished.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from typing import Any

import anyio
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from dataflare.kernel import DataError, RecordBatch
from dataflare.streaming._backpressure import BackpressureController
from dataflare.streaming._checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from dataflare.streaming._connector import Connector
from dataflare.streaming._dead_letters import ERROR_HEADER, STAGE_HEADER
from dataflare.streaming._metrics import RUNNING
from dataflare.streaming._operator import Operator, OperatorOutput
from dataflare.streaming._pipeline import Pipeline
from dataflare.streaming._settings import StreamingSettings
from dataflare.streaming._state import StateBackend
from dataflare.streaming._statistics import PipelineStatistics
from dataflare.streaming._telemetry import PipelineProbes, Probe
from dataflare.streaming.errors import ProcessingTimeoutError

__all__ = ("PipelineRunner",)

log = logging.getLogger("dataflare.streaming")


@attrs.frozen
class _Batch:
    batch: RecordBatch


@attrs.frozen
class _DeadLetters:
    batch: RecordBatch


@attrs.frozen
class _Barrier:
    position: Any
    records_in: int
    final: bool = False


@attrs.frozen
class _Tick:
    now_ms: int


_Item = _Batch | _DeadLetters | _Barrier | _Tick

#: How often an idle source lets operators see processing time pass (window idle timeouts).
IDLE_TICK = 0.1


class PipelineRunner:
    """Runs one pipeline to the end of its input (or until cancelled)."""

    def __init__(
        self,
        pipeline: Pipeline,
        settings: StreamingSettings | None = None,
        *,
        backend: StateBackend | None = None,
        telemetry: Any = None,
    ) -> None:
        self.pipeline = pipeline
        self.settings = settings or StreamingSettings()
        self.backend = backend if self.settings.checkpoint_interval > 0 else None
        self.controller = BackpressureController(
            self.settings.backpressure, threshold=self.settings.backpressure_threshold
        )
        self.statistics = PipelineStatistics(pipeline.name)
        self._checkpoint_number = 0
        self.probes = PipelineProbes.build(
            telemetry, pipeline.name, tuple(pipeline.operators), len(pipeline.sinks)
        )

    async def run(self) -> PipelineStatistics:
        """Run until the source is exhausted; return the statistics.

        Raises:
            OperatorError: An operator failed on a whole batch (it is not
                checkpointed: the next run resumes before that batch).
            ProcessingTimeoutError: A batch took longer than processing_timeout.
            ConnectorError: A connector failed.
        """
        started = time.perf_counter()
        pipeline = self.pipeline
        RUNNING[id(self)] = self.statistics
        async with AsyncExitStack() as stack:
            stack.callback(RUNNING.pop, id(self), None)
            for connector in self._connectors():
                await connector.connect()
                stack.push_async_callback(connector.disconnect)
            for operator in pipeline.operators:
                await anyio.to_thread.run_sync(operator.open)
                stack.callback(operator.close)
            finished = await self._restore()
            if not finished:
                send, receive = anyio.create_memory_object_stream[_Item](self.settings.buffer_size)
                try:
                    async with anyio.create_task_group() as group:
                        group.start_soon(self._read, send)
                        await self._process(receive)
                except BaseExceptionGroup as errors:
                    # Two tasks, one failure that matters: raise it as itself, not in a group.
                    raise _cause(errors) from None
        self.statistics.seconds = time.perf_counter() - started
        log.info("pipeline finished", extra=self.statistics.to_dict())
        return self.statistics

    def _connectors(self) -> list[Connector]:
        pipeline = self.pipeline
        extra = [pipeline.dead_letter] if pipeline.dead_letter is not None else []
        return [pipeline.source, *pipeline.sinks, *extra]

    def _sinks(self) -> list[Connector]:
        return list(self.pipeline.sinks)

    # --- restore ----------------------------------------------------------------------

    async def _restore(self) -> bool:
        pipeline = self.pipeline
        checkpoint = None
        if self.backend is not None:
            checkpoint = await load_checkpoint(self.backend, pipeline.name)
        letters = pipeline.dead_letter
        if checkpoint is None:
            for sink in self._sinks():
                await sink.recover(None)
            if letters is not None:
                await letters.recover(None)
            return False
        for sink, position in zip(self._sinks(), checkpoint.sinks, strict=False):
            await sink.recover(position)
        if letters is not None:
            await letters.recover(checkpoint.dead_letter)
        for index, operator in enumerate(pipeline.operators):
            state = checkpoint.operators.get(_operator_key(index, operator))
            if state is not None:
                await anyio.to_thread.run_sync(operator.restore, state)
        await pipeline.source.seek(checkpoint.source)
        self._checkpoint_number = checkpoint.number
        self.statistics.restored_from = checkpoint.number
        log.info(
            "pipeline resumed from checkpoint",
            extra={"pipeline": pipeline.name, "checkpoint": checkpoint.number},
        )
        return checkpoint.finished

    # --- reading ----------------------------------------------------------------------

    async def _read(self, send: MemoryObjectSendStream[_Item]) -> None:
        settings = self.settings
        source = self.pipeline.source
        linger = settings.linger_ms / 1000
        pending: list[RecordBatch] = []
        pending_count = 0
        first_at = 0.0
        next_checkpoint = time.monotonic() + settings.checkpoint_interval
        next_tick = time.monotonic() + IDLE_TICK
        async with send:
            while True:
                pause = self.controller.delay(
                    send.statistics().current_buffer_used, settings.buffer_size
                )
                self.statistics.backpressure_level = self.controller.level
                self.probes.source.backpressure(self.controller.level)
                if pause:
                    await anyio.sleep(pause)
                    self.statistics.throttled_seconds = self.controller.throttled_seconds
                waited = time.monotonic() - first_at if pending else 0.0
                timeout = max(linger - waited, 0.0) if pending else max(linger, 0.05)
                received = await source.receive(settings.batch_size - pending_count, timeout)
                if received is None:
                    break
                if received.dead_letters is not None and len(received.dead_letters):
                    await send.send(_DeadLetters(received.dead_letters))
                if len(received.batch):
                    if not pending:
                        first_at = time.monotonic()
                    pending.append(received.batch)
                    pending_count += len(received.batch)
                    self.probes.source.sent(len(received.batch), received.batch.nbytes)
                    self.statistics.records_in += len(received.batch)
                now = time.monotonic()
                if not pending and not len(received.batch) and now >= next_tick:
                    await send.send(_Tick(int(time.time() * 1000)))
                    next_tick = now + IDLE_TICK
                due = pending and (pending_count >= settings.batch_size or now - first_at >= linger)
                checkpoint_due = self.backend is not None and now >= next_checkpoint
                if due or (checkpoint_due and pending):
                    for batch in _join(pending):
                        await send.send(_Batch(batch))
                    pending, pending_count = [], 0
                if checkpoint_due:
                    await send.send(_Barrier(source.position(), self.statistics.records_in))
                    next_checkpoint = now + settings.checkpoint_interval
            if pending:
                for batch in _join(pending):
                    await send.send(_Batch(batch))
            # The end-of-input barrier: the final checkpoint is taken after operators flush.
            await send.send(_Barrier(source.position(), self.statistics.records_in, final=True))

    # --- processing -------------------------------------------------------------------

    async def _process(self, receive: MemoryObjectReceiveStream[_Item]) -> None:
        async with receive:
            async for item in receive:
                self.statistics.buffered = receive.statistics().current_buffer_used
                if isinstance(item, _Batch):
                    await self._batch(item.batch)
                elif isinstance(item, _DeadLetters):
                    await self._dead(item.batch)
                elif isinstance(item, _Tick):
                    await self._emit(
                        *await anyio.to_thread.run_sync(
                            _tick, self.pipeline.operators, item.now_ms, self.probes.operators
                        )
                    )
                elif item.final:
                    await self._finish()
                    await self._checkpoint(item, finished=True)
                else:
                    await self._checkpoint(item, finished=False)

    async def _batch(self, batch: RecordBatch) -> None:
        started = time.perf_counter()
        timeout = self.settings.processing_timeout
        try:
            with anyio.fail_after(timeout):
                output, letters = await anyio.to_thread.run_sync(
                    _apply,
                    self.pipeline.operators,
                    [batch],
                    self.probes.operators,
                    abandon_on_cancel=True,
                )
                await self._emit(output, letters)
        except TimeoutError:
            raise ProcessingTimeoutError(
                f"a batch of {len(batch)} records took longer than processing_timeout "
                f"({timeout} s); raise streaming.processing_timeout or lower batch_size",
                operator=self.pipeline.name,
            ) from None
        self.statistics.batches += 1
        self.controller.observe_latency(time.perf_counter() - started)
        self.statistics.latency_seconds = self.controller.latency

    async def _emit(self, output: Sequence[RecordBatch], letters: Sequence[RecordBatch]) -> None:
        for batch in output:
            if not len(batch):
                continue
            for sink, probe in zip(self.pipeline.sinks, self.probes.sinks, strict=True):
                probe.received(len(batch), batch.nbytes)
                await sink.send(batch)
            self.statistics.records_out += len(batch)
        for batch in letters:
            await self._dead(batch)

    async def _dead(self, batch: RecordBatch) -> None:
        self.statistics.dead_letters += len(batch)
        letters = self.pipeline.dead_letter
        if letters is not None:
            await letters.send(batch)
            return
        for record in batch:  # no destination configured: say what was rejected and why
            log.warning(
                "dead letter",
                extra={
                    "pipeline": self.pipeline.name,
                    "stage": record.headers.get(STAGE_HEADER),
                    "error": record.headers.get(ERROR_HEADER),
                },
            )

    async def _finish(self) -> None:
        output, letters = await anyio.to_thread.run_sync(
            _finish, self.pipeline.operators, self.probes.operators
        )
        await self._emit(output, letters)

    async def _checkpoint(self, barrier: _Barrier, *, finished: bool) -> None:
        sinks = [await sink.commit() for sink in self.pipeline.sinks]
        letters = self.pipeline.dead_letter
        dead_position = await letters.commit() if letters is not None else None
        if self.backend is None:
            return
        operators = self.pipeline.operators
        states = await anyio.to_thread.run_sync(_snapshots, operators)
        self._checkpoint_number += 1
        checkpoint = Checkpoint(
            pipeline=self.pipeline.name,
            number=self._checkpoint_number,
            source=barrier.position,
            sinks=tuple(sinks),
            dead_letter=dead_position,
            operators=states,
            records_in=barrier.records_in,
            finished=finished,
        )
        await save_checkpoint(self.backend, checkpoint)
        await self.pipeline.source.acknowledge(barrier.position)
        self.statistics.checkpoints += 1
        log.debug(
            "checkpoint saved",
            extra={"pipeline": self.pipeline.name, "checkpoint": checkpoint.number},
        )


def _cause(errors: BaseExceptionGroup[BaseException]) -> BaseException:
    leaves: list[BaseException] = []
    pending: list[BaseException] = [errors]
    while pending:
        error = pending.pop(0)
        if isinstance(error, BaseExceptionGroup):
            pending += error.exceptions
        else:
            leaves.append(error)
    # The reader sees a broken stream (and may be cancelled) because the processor failed:
    # the processor's error is the one that says what happened.
    echoes = (anyio.get_cancelled_exc_class(), anyio.BrokenResourceError)
    return next((e for e in leaves if not isinstance(e, echoes)), leaves[0])


def _join(batches: list[RecordBatch]) -> list[RecordBatch]:
    if len(batches) == 1:
        return batches
    try:
        return [RecordBatch.concat(batches)]
    except DataError:
        # Batches with different columns cannot be one batch; they go on one by one.
        return batches


def _operator_key(index: int, operator: Operator) -> str:
    return f"{index}:{operator.name}"


def _apply(
    operators: Sequence[Operator], batches: list[RecordBatch], probes: Sequence[Probe]
) -> tuple[list[RecordBatch], list[RecordBatch]]:
    """Run batches through operators in order; return the output and the dead letters."""
    letters: list[RecordBatch] = []
    for operator, probe in zip(operators, probes, strict=True):
        next_batches: list[RecordBatch] = []
        for batch in batches:
            if not len(batch):
                continue
            probe.received(len(batch), batch.nbytes)
            with probe.batch(batch.metadata):
                out = operator.process(batch)
            next_batches.append(out.batch)
            _report(operator, probe, len(batch), out)
            if out.dead_letters is not None and len(out.dead_letters):
                letters.append(out.dead_letters)
        batches = next_batches
    return batches, letters


def _report(operator: Operator, probe: Probe, taken: int, out: OperatorOutput) -> None:
    probe.sent(len(out.batch), out.batch.nbytes)
    rejected = 0 if out.dead_letters is None else len(out.dead_letters)
    if rejected:
        probe.discarded(rejected, "dead_letter", intentional=False)
    filtered = taken - len(out.batch) - rejected
    if filtered > 0 and not operator.aggregates:
        probe.discarded(filtered, "filtered", intentional=True)
    if out.plugin_result is not None:
        probe.plugin_result(operator.name, out.plugin_result)


def _finish(
    operators: Sequence[Operator], probes: Sequence[Probe]
) -> tuple[list[RecordBatch], list[RecordBatch]]:
    """Flush each operator in order, passing what it emits through the ones after it."""
    return _cascade(operators, probes, lambda operator: operator.finish())


def _tick(
    operators: Sequence[Operator], now_ms: int, probes: Sequence[Probe]
) -> tuple[list[RecordBatch], list[RecordBatch]]:
    """Tell each operator that processing time passed; pass what it emits on."""
    return _cascade(operators, probes, lambda operator: operator.tick(now_ms))


def _cascade(
    operators: Sequence[Operator],
    probes: Sequence[Probe],
    call: Callable[[Operator], OperatorOutput | None],
) -> tuple[list[RecordBatch], list[RecordBatch]]:
    output: list[RecordBatch] = []
    letters: list[RecordBatch] = []
    for index, (operator, probe) in enumerate(zip(operators, probes, strict=True)):
        flushed = call(operator)
        if flushed is None:
            continue
        probe.sent(len(flushed.batch), flushed.batch.nbytes)
        if flushed.dead_letters is not None and len(flushed.dead_letters):
            letters.append(flushed.dead_letters)
        out, more = _apply(operators[index + 1 :], [flushed.batch], probes[index + 1 :])
        # Operators after this one are flushed later in the loop, after seeing this output.
        output += out
        letters += more
    return output, letters


def _snapshots(operators: Sequence[Operator]) -> dict[str, bytes | None]:
    return {_operator_key(i, op): op.snapshot() for i, op in enumerate(operators)}
