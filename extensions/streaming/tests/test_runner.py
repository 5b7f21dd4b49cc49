"""The processor's run loop: batching, bounded buffers, dead letters, operator failures."""

from __future__ import annotations

import anyio
import numpy as np
import pytest

from dataflare.kernel import RecordBatch
from dataflare.streaming import (
    ERROR_HEADER,
    STAGE_HEADER,
    CollectingSink,
    Connector,
    GeneratorConnector,
    GeneratorOptions,
    MemorySource,
    MemoryStateBackend,
    Operator,
    OperatorError,
    OperatorOutput,
    Pipeline,
    PipelineRunner,
    ProcessingTimeoutError,
    Received,
    StreamingSettings,
    StreamProcessor,
)
from dataflare.streaming.testing import run_pipeline

pytestmark = pytest.mark.anyio


def numbers(count: int) -> RecordBatch:
    return RecordBatch.from_arrays(columns={"n": np.arange(count)}, count=count)


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_batches_flush_on_size(anyio_backend):
    """A fast source's records reach the operators in batches of batch_size."""
    seen: list[int] = []

    def record_size(batch):
        seen.append(len(batch))
        return batch

    sink = CollectingSink()
    pipeline = Pipeline("p", GeneratorConnector(GeneratorOptions(records=2500)))
    pipeline.map_batches(record_size).sink(sink)
    settings = StreamingSettings(batch_size=1000, checkpoint_interval=0)
    statistics = await PipelineRunner(pipeline, settings).run()
    assert seen == [1000, 1000, 500]
    assert statistics.records_in == statistics.records_out == 2500
    assert sink.batch().column("user_id").tolist() == [i % 1000 for i in range(2500)]


class Trickle(Connector):
    """Hands out one record per call, then waits for the timeout: light traffic."""

    name = "trickle"

    def __init__(self, count: int) -> None:
        super().__init__()
        self.left = count
        self.timeouts: list[float] = []

    async def receive(self, max_records, timeout):
        self.timeouts.append(timeout)
        if self.left == 0:
            return None
        self.left -= 1
        return Received(numbers(1))


async def test_a_partial_batch_flushes_after_the_linger_wait():
    """With light traffic, small batches go out after linger_ms instead of waiting to fill."""
    seen: list[int] = []
    source = Trickle(3)
    pipeline = Pipeline("p", source).map_batches(lambda b: seen.append(len(b)) or b)
    pipeline.sink(CollectingSink())
    settings = StreamingSettings(batch_size=1000, linger_ms=0.0, checkpoint_interval=0)
    await PipelineRunner(pipeline, settings).run()
    assert seen == [1, 1, 1]  # not one batch of 3: each flushed as its linger ran out
    # While a batch is pending, the source is asked to return within what is left of the linger.
    assert all(timeout <= 0.05 for timeout in source.timeouts)


async def test_the_buffer_between_source_and_operators_is_bounded():
    """The reader never gets more than buffer_size batches ahead of a slow operator."""
    source = GeneratorConnector(GeneratorOptions(records=40))
    ahead: list[int] = []

    def slow(batch):
        import time

        time.sleep(0.002)  # slower than the generator, so the buffer fills
        done = len(ahead) + 1
        ahead.append(source.position()["next"] - done)
        return batch

    pipeline = Pipeline("p", source).map_batches(slow).sink(CollectingSink())
    settings = StreamingSettings(batch_size=1, buffer_size=2, checkpoint_interval=0)
    await PipelineRunner(pipeline, settings).run()
    # Read but not yet processed: the buffer (2), plus one batch in the reader's hand.
    assert len(ahead) == 40
    assert max(ahead) <= 3
    assert max(ahead) >= 2  # it did run ahead: the bound, not the pace, held it back


def test_a_failing_python_operator_dead_letters_its_batch_and_the_pipeline_continues():
    """A batch function that raises dead-letters that batch's records with the error."""

    def picky(batch):
        if batch.column("n")[0] == 1:
            raise ValueError("n must not be 1")
        return batch

    pipeline = Pipeline("p", MemorySource([])).map_batches(picky, name="picky")
    five = RecordBatch.from_arrays(columns={"n": np.array([5])}, count=1)
    one_per_batch = StreamingSettings(batch_size=1, checkpoint_interval=0)
    output = run_pipeline(
        pipeline, [numbers(1), numbers(2).slice(1, 2), five], settings=one_per_batch
    )
    assert [r.fields["n"] for r in output.records] == [0, 5]
    (letter,) = output.dead_letters
    assert letter.headers[ERROR_HEADER] == "ValueError: n must not be 1"
    assert letter.headers[STAGE_HEADER] == "picky"
    assert output.statistics.dead_letters == 1


class Broken(Operator):
    name = "broken"

    def process(self, batch):
        raise OperatorError("the model file is gone", operator=self.name)


async def test_an_operator_error_stops_the_pipeline_with_that_error():
    """A whole-batch failure surfaces as itself (not an exception group), naming the operator."""
    pipeline = Pipeline("p", MemorySource([numbers(3)])).apply(Broken()).sink(CollectingSink())
    with pytest.raises(OperatorError, match="operator 'broken': the model file is gone"):
        await PipelineRunner(pipeline, StreamingSettings(checkpoint_interval=0)).run()


class Sleepy(Operator):
    name = "sleepy"

    def process(self, batch):
        import time

        time.sleep(0.5)
        return OperatorOutput(batch)


async def test_a_batch_slower_than_processing_timeout_fails_the_run():
    """processing_timeout bounds the time one batch may take."""
    pipeline = Pipeline("p", MemorySource([numbers(3)])).apply(Sleepy()).sink(CollectingSink())
    settings = StreamingSettings(processing_timeout=0.05, checkpoint_interval=0)
    with pytest.raises(ProcessingTimeoutError, match="processing_timeout"):
        await PipelineRunner(pipeline, settings).run()


async def test_the_processor_runs_pipelines_concurrently_up_to_its_limit():
    """max_concurrent_streams bounds how many pipelines run at once; all finish."""
    running = 0
    peak = 0

    class Counting(Operator):
        def open(self):
            nonlocal running, peak
            running += 1
            peak = max(peak, running)

        def process(self, batch):
            return OperatorOutput(batch)

        def close(self):
            nonlocal running
            running -= 1

    pipelines = []
    for index in range(4):
        source = GeneratorConnector(GeneratorOptions(records=5000))
        pipelines.append(Pipeline(f"p{index}", source).apply(Counting()).sink(CollectingSink()))
    settings = StreamingSettings(max_concurrent_streams=2, checkpoint_interval=0, batch_size=100)
    processor = StreamProcessor(settings, backend=MemoryStateBackend())
    results = await processor.run_all(pipelines)
    assert [r.records_out for r in results] == [5000] * 4
    assert peak == 2


class IdleAfterOne(Connector):
    """One record, then silence: empty reads until a result reached the sink (bounded)."""

    name = "idle"

    def __init__(self, sink: CollectingSink) -> None:
        super().__init__()
        self.sink = sink
        self.calls = 0
        self.result_while_idle = False

    async def receive(self, max_records, timeout):
        self.calls += 1
        if self.calls == 1:
            return Received(numbers(1))
        if self.sink.batches:
            self.result_while_idle = True
            return None
        if self.calls > 500:
            return None
        await anyio.sleep(0.005)
        return Received(RecordBatch.empty())


class EmitOnTick(Operator):
    """Holds records until processing time passes, then emits them (as windows with timers do)."""

    name = "emit-on-tick"

    def __init__(self) -> None:
        self.held: list[RecordBatch] = []

    def process(self, batch):
        self.held.append(batch)
        return OperatorOutput(RecordBatch.empty())

    def tick(self, now_ms):
        held, self.held = self.held, []
        return OperatorOutput(RecordBatch.concat(held)) if held else None


async def test_an_idle_source_lets_operators_see_processing_time_pass():
    """While the source is quiet, operators are ticked and what they emit reaches the sinks."""
    sink = CollectingSink()
    source = IdleAfterOne(sink)
    pipeline = Pipeline("p", source).apply(EmitOnTick()).sink(sink)
    await PipelineRunner(pipeline, StreamingSettings(checkpoint_interval=0)).run()
    assert source.result_while_idle
    assert sink.batch().column("n").tolist() == [0]


def test_small_batches_with_different_columns_are_not_forced_into_one():
    """A pending batch of other columns is flushed on its own instead of failing the join."""
    ints = RecordBatch.from_arrays(columns={"n": np.array([1])}, count=1)
    floats = RecordBatch.from_arrays(columns={"x": np.array([0.5])}, count=1)
    pipeline = Pipeline("p", MemorySource([])).map_batches(lambda batch: batch)
    output = run_pipeline(pipeline, [ints, floats])
    assert [record.fields for record in output.records] == [{"n": 1}, {"x": 0.5}]
