"""The backpressure controller's three strategies, and throttling observed in a run."""

from __future__ import annotations

import time

import pytest

from dataflare.streaming import (
    BackpressureController,
    BackpressureSettings,
    BackpressureStrategy,
    CollectingSink,
    GeneratorConnector,
    GeneratorOptions,
    Pipeline,
    PipelineRunner,
    StreamingSettings,
)

pytestmark = pytest.mark.anyio


def controller(strategy, **settings):
    return BackpressureController(
        BackpressureSettings(strategy=strategy, base_delay=0.01, max_delay=0.2, **settings),
        threshold=0.5,
    )


def test_below_the_threshold_no_strategy_throttles():
    for strategy in BackpressureStrategy:
        bp = controller(strategy)
        assert bp.delay(used=2, capacity=10) == 0.0
        assert (bp.level, bp.throttles, bp.throttled_seconds) == (0.2, 0, 0.0)


def test_linear_slowdown_grows_with_the_fill_above_the_threshold():
    bp = controller(BackpressureStrategy.LINEAR)
    pauses = [bp.delay(used, 10) for used in (5, 7, 9, 10)]
    assert pauses == sorted(pauses)
    assert pauses[0] == pytest.approx(0.01)
    assert pauses[-1] == pytest.approx(0.2)  # capped at max_delay
    assert bp.throttled_seconds == pytest.approx(sum(pauses))
    assert bp.throttles == 4


def test_exponential_backoff_doubles_per_consecutive_read_and_resets():
    bp = controller(BackpressureStrategy.EXPONENTIAL)
    assert [bp.delay(9, 10) for _ in range(4)] == pytest.approx([0.01, 0.02, 0.04, 0.08])
    assert bp.delay(1, 10) == 0.0
    assert bp.delay(9, 10) == pytest.approx(0.01)


def test_adaptive_follows_latency_against_the_target():
    """Over the target with a full buffer the pause grows; under it, it decays to nothing."""
    bp = controller(BackpressureStrategy.ADAPTIVE, target_latency=0.01)
    bp.observe_latency(0.05)  # five times the target
    first, second = bp.delay(9, 10), bp.delay(9, 10)
    assert 0 < first < second <= 0.2
    for _ in range(20):
        bp.observe_latency(0.001)
    pauses = [bp.delay(9, 10) for _ in range(10)]
    assert pauses[-1] == 0.0
    assert bp.latency < 0.01


async def test_a_slow_operator_throttles_the_source_and_the_run_reports_it():
    """A pipeline whose operator is slower than its source spends time throttled, visibly."""

    def slow(batch):
        time.sleep(0.003)
        return batch

    settings = StreamingSettings(
        batch_size=10,
        buffer_size=2,
        backpressure_threshold=0.5,
        checkpoint_interval=0,
        backpressure=BackpressureSettings(strategy=BackpressureStrategy.LINEAR, max_delay=0.01),
    )
    sink = CollectingSink()
    pipeline = Pipeline("p", GeneratorConnector(GeneratorOptions(records=300)))
    statistics = await PipelineRunner(pipeline.map_batches(slow).sink(sink), settings).run()
    assert statistics.throttled_seconds > 0
    assert statistics.records_out == 300  # throttling delays records, never drops them


def test_no_pause_is_longer_than_the_queue_takes_to_drain():
    """With 9 batches queued at 2 ms each, no strategy pauses more than 18 ms."""
    for strategy in BackpressureStrategy:
        bp = controller(strategy, target_latency=0.001)
        for _ in range(5):
            bp.observe_latency(0.002)
        pauses = [bp.delay(9, 10) for _ in range(10)]
        assert max(pauses) == pytest.approx(0.018)
