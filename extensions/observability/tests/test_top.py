"""``dataflare top`` against a running pipeline's real /metrics endpoint."""

from __future__ import annotations

import json

import anyio
import pytest
from click.testing import CliRunner
from obs_helpers import PipelineExtension, batch

from dataflare.kernel import Kernel
from dataflare.observability import ObservabilityExtension, ScrapeError
from dataflare.observability._cli import top
from dataflare.observability._top import component_rows, parse, render, scrape

BUCKET = "dataflare_component_processing_seconds_bucket"


def run_top(*args: str) -> tuple[int, str]:
    # Wide enough that rich does not abbreviate component names.
    result = CliRunner(env={"COLUMNS": "200"}).invoke(top, list(args))
    return result.exit_code, result.output


@pytest.mark.anyio
async def test_top_shows_each_component_with_its_counts():
    """--json rows match what flowed; the table view names every component."""
    observability, pipeline = ObservabilityExtension(), PipelineExtension()
    config = {"observability": {"metrics": {"port": 0}, "tracing": {"exporter": "none"}}}
    async with Kernel(config, plugins=[observability, pipeline], discover=False):
        for start in range(0, 300, 100):
            await pipeline.produce(batch(start, 100))
        await pipeline.wait_for_batches(3)
        url = observability.server_url + "/metrics"
        code, output = await anyio.to_thread.run_sync(
            run_top, "--url", url, "--interval", "0.05", "--iterations", "1", "--json"
        )
        assert code == 0, output
        table_code, table = await anyio.to_thread.run_sync(
            run_top, "--url", url, "--interval", "0.05", "--iterations", "1"
        )
    rows = {row["component"]: row for row in json.loads(output)}
    assert set(rows) == {"numbers", "keep-odd", "counter"}
    assert (rows["keep-odd"]["received"], rows["keep-odd"]["sent"]) == (300, 150)
    assert rows["keep-odd"]["discarded"] == 150
    assert rows["counter"]["received"] == 150
    assert table_code == 0
    for name in ("numbers", "keep-odd", "counter", "backpressure"):
        assert name in table


def test_rates_and_p99_come_from_the_difference_between_scrapes():
    before = parse(
        "# TYPE dataflare_component_sent_records counter\n"
        'dataflare_component_sent_records_total{component="a",kind="operator"} 100\n'
    )
    now = parse(
        "# TYPE dataflare_component_sent_records counter\n"
        'dataflare_component_sent_records_total{component="a",kind="operator"} 300\n'
        "# TYPE dataflare_component_processing_seconds histogram\n"
        f'{BUCKET}{{component="a",kind="operator",le="0.01"}} 50\n'
        f'{BUCKET}{{component="a",kind="operator",le="0.1"}} 100\n'
        f'{BUCKET}{{component="a",kind="operator",le="+Inf"}} 100\n'
    )
    (row,) = component_rows(now, before, elapsed=2.0)
    assert row.sent == 300
    assert row.sent_rate == 100.0
    assert row.p99_seconds == 0.1
    assert render([row]).row_count == 1


def test_an_unreachable_endpoint_is_a_scrape_error_naming_the_url():
    with pytest.raises(
        ScrapeError, match=r"cannot read metrics from http://127\.0\.0\.1:9/metrics"
    ):
        scrape("http://127.0.0.1:9/metrics", timeout=2)
