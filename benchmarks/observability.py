"""The cost of observability: the same pipeline with and without it, side by side, in one run.

A source publishes record batches on the kernel's bus; an operator keeps the
records with an odd ``n``, adds a computed column and passes the batch on; a sink
counts what arrives. The pipeline is identical in every configuration; only what
its components report to changes:

* baseline        - no observability extension: the components' probes are the no-op
                    defaults (what a user without ``dataflare-observability`` runs);
* metrics         - the extension, counting into Prometheus, /metrics served and
                    scraped every 0.25 s by a real HTTP client, tracing exporter
                    ``none`` (no spans; batch metadata passes through);
* traces 1 %      - the same, plus batch spans exported to a JSON-lines file for one
                    new trace in a hundred (``sample_ratio: 0.01``, the default);
* traces 100 %    - the same, every batch's span recorded and exported.

Three measures, all printed side by side with the baseline:

1. whole runs, interleaved (baseline, metrics, traces 1 %, traces 100 %, baseline,
   ...), as records per second of wall clock and per CPU second; the median and
   the best of ``--repeat`` runs. On a shared machine these move with other load;
2. batch by batch in one kernel: an observed and a plain copy of the pipeline take
   batches in turn, so other load falls on both alike; the median batch time;
3. the telemetry calls of one batch alone, against a batch's CPU time.

The target is under 5 % throughput cost.

Usage::

    python benchmarks/observability.py --records 1000000 --batch-size 4096 --repeat 15
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import anyio
import numpy as np

from dataflare.kernel import Kernel, RecordBatch, hookimpl
from dataflare.observability import ObservabilityExtension, Telemetry


class Pipeline:
    """source -> operator -> sink over the bus; reports through whatever telemetry it gets."""

    def __init__(self, name: str = "bench", *, observed: bool = True) -> None:
        self.name = name
        self.observed = observed
        self.telemetry: Any = Telemetry()
        self.kernel: Kernel | None = None
        self.sunk = 0
        self.batches = 0

    # Undecorated on purpose: the same class runs with and without observability.
    def dataflare_telemetry(self, telemetry):
        if self.observed:
            self.telemetry = telemetry

    @hookimpl
    def dataflare_event_handlers(self, register):
        self.source = self.telemetry.component("numbers", "source")
        self.operator = self.telemetry.component("odd-squares", "operator")
        self.sink = self.telemetry.component("counter", "sink")
        register(f"{self.name}.raw", self._operate)
        register(f"{self.name}.out", self._sink)

    @hookimpl
    def dataflare_startup(self, kernel):
        self.kernel = kernel

    async def produce(self, batch: RecordBatch) -> None:
        self.source.sent(len(batch), batch.nbytes)
        await self.kernel.bus.publish(f"{self.name}.raw", batch)

    async def _operate(self, message):
        batch = message.payload
        self.operator.received(len(batch), batch.nbytes)
        with self.operator.batch(batch.metadata) as scope:
            n = batch.column("n")
            kept = batch.filter(n % 2 == 1)
            kept_n = kept.column("n")
            out = kept.with_columns({"n": kept_n, "square": kept_n * kept_n})
            out = out.with_metadata(scope.metadata(batch.metadata))
        self.operator.discarded(len(batch) - len(out), "even", intentional=True)
        self.operator.sent(len(out), out.nbytes)
        await self.kernel.bus.publish(f"{self.name}.out", out)

    async def _sink(self, message):
        batch = message.payload
        self.sink.received(len(batch), batch.nbytes)
        self.sunk += len(batch)
        self.batches += 1


def make_batches(records: int, batch_size: int) -> list[RecordBatch]:
    batches = []
    for start in range(0, records, batch_size):
        numbers = np.arange(start, min(start + batch_size, records), dtype=np.int64)
        batches.append(
            RecordBatch.from_arrays(
                keys=[b"k%d" % (value % 64) for value in numbers[:1]] * len(numbers),
                columns={"n": numbers},
            )
        )
    return batches


class Scraper:
    """Scrapes /metrics every ``interval`` seconds on a thread, as Prometheus would."""

    def __init__(self, url: str, interval: float) -> None:
        self.url, self.interval, self.scrapes = url, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with urllib.request.urlopen(self.url, timeout=10) as response:
                response.read()
            self.scrapes += 1

    def __enter__(self) -> Scraper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


async def run_once(
    mode: str, batches: list[RecordBatch], spans_dir: Path
) -> tuple[float, float, int]:
    """Wall seconds and CPU seconds (all threads) to push every batch through, and how
    many scrapes happened meanwhile."""
    pipeline = Pipeline()
    plugins: list[object] = [pipeline]
    config: dict[str, Any] = {}
    observability = None
    if mode != "baseline":
        observability = ObservabilityExtension()
        spans = str(spans_dir / f"spans-{time.monotonic_ns()}.jsonl")
        tracing: dict[str, Any] = {
            "metrics": {"exporter": "none"},
            "traces 100 %": {"exporter": "file", "path": spans, "sample_ratio": 1.0},
            "traces 1 %": {"exporter": "file", "path": spans, "sample_ratio": 0.01},
        }[mode]
        config = {"observability": {"metrics": {"port": 0}, "tracing": tracing, "logging": {}}}
        plugins.insert(0, observability)
    expected = sum(int((batch.column("n") % 2 == 1).sum()) for batch in batches)
    gc.collect()  # start every run with the same (empty) garbage
    async with Kernel(config, plugins=plugins, discover=False):
        scraper = Scraper(observability.server_url + "/metrics", 0.25) if observability else None
        started, cpu_started = time.perf_counter(), time.process_time()
        if scraper:
            scraper.__enter__()
        try:
            for batch in batches:
                await pipeline.produce(batch)
            while pipeline.sunk < expected:
                await anyio.sleep(0)
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
        finally:
            if scraper:
                # Joined off the loop: a scrape in flight reads kernel state on it.
                await anyio.to_thread.run_sync(scraper.__exit__)
    assert pipeline.sunk == expected, (pipeline.sunk, expected)
    return elapsed, cpu, scraper.scrapes if scraper else 0


def probe_cost(batch: RecordBatch, rounds: int = 30, calls: int = 200) -> dict[str, float]:
    """Microseconds per batch of exactly the telemetry calls the pipeline makes, alone.

    The pipeline's three components together report this much per batch; the best of
    ``rounds`` is taken, which is the least disturbed by other work on the machine.
    """
    from prometheus_client import CollectorRegistry

    from dataflare.observability import MetricCatalogue, PrometheusTelemetry, TracingSettings
    from dataflare.observability._tracing import build_provider

    def telemetry(exporter: str, ratio: float = 1.0) -> Any:
        # As the extension does: no tracer at all when spans go nowhere.
        settings = TracingSettings(exporter=exporter, path=os.devnull, sample_ratio=ratio)
        tracer = build_provider(settings).get_tracer("bench") if exporter != "none" else None
        return PrometheusTelemetry(MetricCatalogue(CollectorRegistry()), tracer, sample_ratio=ratio)

    variants = {
        "baseline": Telemetry(),
        "metrics": telemetry("none"),
        "traces 1 %": telemetry("file", 0.01),
        "traces 100 %": telemetry("file"),  # recorded spans (their export not included)
    }

    def one_batch(t: Any) -> None:
        source, operator, sink = (
            t.component("numbers", "source"),
            t.component("odd-squares", "operator"),
            t.component("counter", "sink"),
        )
        source.sent(len(batch), batch.nbytes)
        operator.received(len(batch), batch.nbytes)
        with operator.batch(batch.metadata) as scope:
            scope.metadata(batch.metadata)
        operator.discarded(len(batch) // 2, "even", intentional=True)
        operator.sent(len(batch) // 2, batch.nbytes // 2)
        sink.received(len(batch) // 2, batch.nbytes // 2)

    best = dict.fromkeys(variants, float("inf"))
    for _ in range(rounds):
        for name, t in variants.items():
            started = time.perf_counter()
            for _ in range(calls):
                one_batch(t)
            best[name] = min(best[name], (time.perf_counter() - started) / calls * 1e6)
    return best


async def alternating(tracing: dict[str, Any], batches: list[RecordBatch]) -> float:
    """Median cost of observing one batch, pipelines sharing one kernel batch by batch.

    Two copies of the pipeline run in the same kernel, one observed and one not,
    and batches go to them in turn, each timed from publish until its sink has it.
    Load from elsewhere on the machine then falls on both alike, which whole-run
    figures on a shared machine cannot promise.

    Returns:
        The observed pipeline's median batch time over the plain one's, minus 1.
    """
    observed, plain = Pipeline("observed"), Pipeline("plain", observed=False)
    extension = ObservabilityExtension()
    config = {"observability": {"metrics": {"port": 0}, "tracing": tracing}}
    times: dict[str, list[float]] = {"observed": [], "plain": []}
    async with Kernel(config, plugins=[extension, observed, plain], discover=False):
        with Scraper(extension.server_url + "/metrics", 0.25) as scraper:
            for index, batch in enumerate(batches * 2):
                pipeline = (observed, plain)[index % 2]
                done = pipeline.batches + 1
                started = time.perf_counter()
                await pipeline.produce(batch)
                while pipeline.batches < done:
                    await anyio.sleep(0)
                times[pipeline.name].append(time.perf_counter() - started)
            await anyio.to_thread.run_sync(scraper.__exit__)
    return statistics.median(times["observed"]) / statistics.median(times["plain"]) - 1


async def main(args: argparse.Namespace) -> None:
    batches = make_batches(args.records, args.batch_size)
    modes = ["baseline", "metrics", "traces 1 %", "traces 100 %"]
    timings: dict[str, list[float]] = {mode: [] for mode in modes}
    cpu_times: dict[str, list[float]] = {mode: [] for mode in modes}
    scrapes: dict[str, int] = dict.fromkeys(modes, 0)
    with tempfile.TemporaryDirectory() as spans_dir:
        await run_once("metrics", batches[:4], Path(spans_dir))  # warm imports and caches
        for _ in range(args.repeat):
            for mode in modes:
                seconds, cpu, count = await run_once(mode, batches, Path(spans_dir))
                timings[mode].append(seconds)
                cpu_times[mode].append(cpu)
                scrapes[mode] += count
    print(
        f"observability overhead: {args.records:,} records in {len(batches)} batches of "
        f"{args.batch_size}, median of {args.repeat} interleaved runs "
        f"(Python {platform.python_version()}, {os.cpu_count()} CPUs)"
    )

    def table(label: str, runs: dict[str, list[float]]) -> None:
        base = args.records / statistics.median(runs["baseline"])
        best_base = args.records / min(runs["baseline"])
        print(f"\n{label}")
        print(f"{'configuration':<16} {'median':>12} {'vs baseline':>11} {'best run':>12} "
              f"{'vs baseline':>11} {'scrapes':>8}")  # fmt: skip
        for mode in modes:
            rate = args.records / statistics.median(runs[mode])
            best = args.records / min(runs[mode])
            change = "-" if mode == "baseline" else f"{(rate / base - 1) * 100:+.1f} %"
            best_change = "-" if mode == "baseline" else f"{(best / best_base - 1) * 100:+.1f} %"
            print(
                f"{mode:<16} {rate:>12,.0f} {change:>11} {best:>12,.0f} {best_change:>11} "
                f"{scrapes[mode]:>8}"
            )

    # Wall clock is what a user sees, but on a shared machine it moves with other
    # processes' load; CPU time of this process (every thread, the exporter's and
    # the HTTP server's included) is the steadier measure of what observability costs.
    table("records per second, wall clock", timings)
    table("records per CPU second (all threads of this process)", cpu_times)
    print("\nbatch by batch in one kernel, observed vs plain pipeline (median batch time)")
    with tempfile.TemporaryDirectory() as spans_dir:
        spans = str(Path(spans_dir) / "spans.jsonl")
        for mode, tracing in (
            ("metrics", {"exporter": "none"}),
            ("traces 1 %", {"exporter": "file", "path": spans, "sample_ratio": 0.01}),
            ("traces 100 %", {"exporter": "file", "path": spans, "sample_ratio": 1.0}),
        ):
            cost = await alternating(tracing, batches)
            print(f"{mode:<16} {cost * 100:+6.1f} % time per batch")

    per_batch = probe_cost(batches[0])
    pipeline_us = statistics.median(cpu_times["baseline"]) / len(batches) * 1e6
    print(f"\ntelemetry calls alone, per batch (best of 30; pipeline: {pipeline_us:,.0f} us)")
    for mode in modes:
        share = per_batch[mode] / pipeline_us * 100
        print(f"{mode:<16} {per_batch[mode]:>8.1f} us  = {share:4.1f} % of a batch's CPU time")
    print("target: under 5 % throughput cost")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=15)
    anyio.run(main, parser.parse_args())
