"""``dataflare streaming demo``: a shop's orders through signed WASM, windows and a file.

One command, on the embedded default (no server): the generator produces orders
(customer, region, amount, and a JSON value with a card number); the signed
``acme/high-value`` plugin keeps orders of at least 100; the signed
``acme/redact`` plugin masks every digit of the value (card numbers); records are
keyed by region and summed per one-minute tumbling window; results go to a JSON
Lines file, with checkpoints in a local state directory. A summary is printed.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import anyio
import attrs
from rich.console import Console
from rich.table import Table

from dataflare.kernel import RecordBatch
from dataflare.streaming._build import load_pipeline
from dataflare.streaming._checkpoint import delete_checkpoint
from dataflare.streaming._demo_plugins import prepare_plugins
from dataflare.streaming._op_basic import PythonOperator
from dataflare.streaming._processor import StreamProcessor
from dataflare.streaming._statistics import PipelineStatistics

__all__ = ("run_demo",)

PIPELINE = """\
# Written by `dataflare streaming demo`; run it again with: dataflare run {path}
kernel:
  plugins: {{trust_store: {trust}, cache_dir: {cache}}}
streaming:
  batch_size: 8192
  checkpoint_interval: 1.0
  state_dir: {state}
pipeline:
  name: shop-demo
  source:
    type: generator
    options: {{profile: orders, records: {records}, keys: 5000, interval_us: 2000}}
  operators:
    - name: high-value
      wasm: {{uses: {high_value}, params: {{min: "100"}}}}
    - name: redact
      wasm: {{uses: {redact}, params: {{mask: "#"}}}}
    - key_by: {{column: region}}
    - window:
        kind: tumbling
        size_ms: 60000
        aggregations:
          - {{output: orders, function: count}}
          - {{output: revenue, function: sum, column: amount}}
          - {{output: mean, function: mean, column: amount}}
          - {{output: p95, function: percentile, column: amount, quantile: 0.95}}
  sinks:
    - {{type: jsonl, options: {{path: out/revenue-per-region.jsonl}}}}
  dead_letter: {{type: jsonl, options: {{path: out/dead-letters.jsonl}}}}
"""

REGIONS = ("north", "south", "east", "west", "central")


@attrs.define
class _Tap:
    """Counts what passed the filter and keeps one masked value to show."""

    passed: int = 0
    sample: bytes = b""

    def __call__(self, batch: RecordBatch) -> RecordBatch:
        self.passed += len(batch)
        if not self.sample and len(batch):
            self.sample = batch.value(0)
        return batch


def run_demo(*, records: int, workdir: Path, console: Console) -> PipelineStatistics:
    """Build (or reuse) the signed plugins, run the pipeline, print the summary."""
    workdir = workdir.resolve()
    console.print(f"[bold]DataFlare streaming demo[/] in {workdir}")
    plugins = prepare_plugins(workdir)
    how = "built from examples/plugins and signed" if plugins.built else "reused from the cache"
    console.print(f"  plugins: acme/high-value (filter), acme/redact (map): {how}")
    path = workdir / "demo-pipeline.yaml"
    path.write_text(
        PIPELINE.format(
            path=path,
            trust=plugins.trust_store,
            cache=workdir / "cache",
            state=workdir / "state",
            records=records,
            high_value=plugins.packages["high-value"],
            redact=plugins.packages["redact"],
        )
    )
    loaded = load_pipeline(path)
    tap = _Tap()
    loaded.pipeline.operators.insert(2, PythonOperator(tap, name="tap"))
    processor = StreamProcessor(loaded.settings)

    async def main() -> PipelineStatistics:
        try:
            await delete_checkpoint(processor.backend, loaded.pipeline.name)  # start afresh
            return await processor.run(loaded.pipeline)
        finally:
            await processor.aclose()

    statistics = anyio.run(main)
    _summary(console, statistics, tap, workdir / "out" / "revenue-per-region.jsonl", path)
    return statistics


def _summary(
    console: Console, statistics: PipelineStatistics, tap: _Tap, out: Path, pipeline: Path
) -> None:
    revenue: dict[str, float] = defaultdict(float)
    orders: dict[str, int] = defaultdict(int)
    windows = 0
    for line in out.read_text().splitlines():
        result = json.loads(line)
        region = REGIONS[int(result["key"])]
        revenue[region] += result["fields"]["revenue"]
        orders[region] += result["fields"]["orders"]
        windows += 1
    console.print(
        f"  {statistics.records_in:,} orders in {statistics.seconds:.2f} s "
        f"({statistics.records_per_second:,.0f}/s); {tap.passed:,} of at least 100 kept by "
        f"the WASM filter; {statistics.dead_letters} dead letters; "
        f"{statistics.checkpoints} checkpoints; throttled {statistics.throttled_seconds:.3f} s"
    )
    console.print(f"  a value after the WASM map: {tap.sample.decode(errors='replace')}")
    table = Table("region", "orders >= 100", "revenue", title=f"{windows} one-minute windows")
    for region in sorted(revenue, key=revenue.__getitem__, reverse=True):
        table.add_row(region, f"{orders[region]:,}", f"{revenue[region]:,.2f}")
    console.print(table)
    console.print(f"  results: {out}\n  pipeline: {pipeline} (dataflare run it yourself)")
