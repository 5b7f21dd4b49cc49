"""The demo's vectorised monitoring agrees with a record-by-record reference."""

from __future__ import annotations

import numpy as np
import pytest

from dataflare.kernel._demo_pipeline import DemoOptions, _readings, run_demo

pytestmark = pytest.mark.anyio


def reference(options: DemoOptions) -> tuple[dict[tuple[int, int], float], float]:
    """Per-device peak temperatures and the mean, one Python record at a time."""
    rng = np.random.default_rng(options.seed)
    peaks: dict[tuple[int, int], float] = {}
    total, count = 0.0, 0
    for number, start in enumerate(range(0, options.records, options.batch_size)):
        site = number % options.sites
        size = min(options.batch_size, options.records - start)
        for record in _readings(options, rng, start, size, site):
            key = (site, record.fields["device"])
            temperature = record.fields["temperature"]
            peaks[key] = max(peaks.get(key, -np.inf), temperature)
            total += temperature
            count += 1
    return peaks, total / count


async def test_every_reading_is_processed_and_alerts_match_the_reference():
    """Each device that ran hot raises exactly one alert; the mean equals the reference."""
    options = DemoOptions(records=30_000, batch_size=1000, sites=3, devices=300)
    result = await run_demo(options)
    peaks, mean = reference(options)
    assert result.records == options.records
    assert result.batches == 30
    assert sum(result.readings_per_site) == options.records
    expected = {key for key, peak in peaks.items() if peak > options.threshold}
    raised = {(e.data["site"], e.data["device"]) for e in result.alerts}
    assert expected, "the sensors must produce some hot devices for this test to mean anything"
    assert raised == expected
    assert len(result.alerts) == len(expected)
    assert result.mean_temperature == pytest.approx(mean)
    _, peak = result.hottest[0]
    assert peak == pytest.approx(round(max(peaks.values()), 1))


async def test_a_batch_size_that_does_not_divide_the_records_loses_nothing():
    """The last, short batch is processed too."""
    result = await run_demo(DemoOptions(records=10_001, batch_size=4096, sites=2, devices=10))
    assert result.records == 10_001
    assert result.batches == 3
