"""Streaming pipeline throughput and memory, side by side with a bare Python loop, in one run.

The workload of ``research/streaming_anchors.md``: N records ``{user_id: i % 1000,
value: (i * 7919) % 1000, ts: base + i µs}``; keep ``value >= 500``; key by
``user_id``; one-second tumbling event-time windows with count and sum; collect
the results. Every variant must produce the same totals (checked).

* ``python-loop`` - the baseline: dict records, a dict of per-(key, window) sums,
  no framework at all (the anchors measured 1.70 M records/s on this class of box).
* ``dataflare``   - ``generator -> filter (Python, on whole batches) -> key_by ->
  tumbling window -> sink`` through the stream processor, checkpoints on.

Each run is a fresh process (so peak RSS is its own); runs are interleaved and
each figure is the median of ``--repeat`` runs.

Usage::

    python benchmarks/streaming.py --records 2000000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE_MS = 1_767_225_600_000


def python_loop(records: int) -> dict:
    started = time.perf_counter()
    windows: dict[tuple[int, int], list[int]] = {}
    for i in range(records):
        record = {"user_id": i % 1000, "value": (i * 7919) % 1000, "ts": BASE_MS * 1000 + i}
        if record["value"] < 500:
            continue
        slot = (record["user_id"], record["ts"] // 1_000_000)
        acc = windows.get(slot)
        if acc is None:
            windows[slot] = [1, record["value"]]
        else:
            acc[0] += 1
            acc[1] += record["value"]
    seconds = time.perf_counter() - started
    count = sum(acc[0] for acc in windows.values())
    total = sum(acc[1] for acc in windows.values())
    return {"seconds": seconds, "rows": len(windows), "count": count, "sum": total}


def dataflare(records: int, batch_size: int, state_dir: str) -> dict:
    import anyio

    from dataflare.streaming import (
        AggregationSpec,
        CollectingSink,
        FileStateBackend,
        GeneratorConnector,
        GeneratorOptions,
        Pipeline,
        PipelineRunner,
        StreamingSettings,
        WindowOperatorSpec,
    )

    sink = CollectingSink()
    source = GeneratorConnector(GeneratorOptions(records=records, interval_us=1, start_ms=BASE_MS))
    window = WindowOperatorSpec(
        kind="tumbling",
        size_ms=1000,
        aggregations=(
            AggregationSpec("n", "count"),
            AggregationSpec("total", "sum", column="value"),
        ),
    )
    pipeline = (
        Pipeline("bench", source)
        .filter(lambda batch: batch.column("value") >= 500)
        .key_by("user_id")
        .window(window)
        .sink(sink)
    )
    settings = StreamingSettings(batch_size=batch_size, checkpoint_interval=1.0)
    runner = PipelineRunner(pipeline, settings, backend=FileStateBackend(Path(state_dir)))
    statistics_ = anyio.run(runner.run)
    out = sink.batch()
    return {
        "seconds": statistics_.seconds,
        "rows": len(out),
        "count": int(out.column("n").sum()),
        "sum": int(out.column("total").sum()),
        "throttled": statistics_.throttled_seconds,
        "checkpoints": statistics_.checkpoints,
    }


def child(variant: str, records: int, batch_size: int) -> None:
    with tempfile.TemporaryDirectory() as state:
        result = (
            python_loop(records)
            if variant == "python-loop"
            else dataflare(records, batch_size, state)
        )
    result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2_000_000)
    parser.add_argument("--batch-size", type=int, default=8192)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", choices=["python-loop", "dataflare"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.records, args.batch_size)
        return
    variants = ("python-loop", "dataflare")
    runs: dict[str, list[dict]] = {variant: [] for variant in variants}
    for _ in range(args.repeat):
        for variant in variants:
            command = [
                sys.executable,
                __file__,
                "--child",
                variant,
                "--records",
                str(args.records),
                "--batch-size",
                str(args.batch_size),
            ]
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            runs[variant].append(json.loads(output.splitlines()[-1]))
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; N = {args.records:,}, batch {args.batch_size}, "
        f"median of {args.repeat}"
    )
    print(
        f"{'variant':<12} {'records/s':>12} {'range':>21} {'peak RSS':>9} {'rows':>6} "
        f"{'Σcount':>10} {'Σsum':>12}"
    )
    totals = set()
    for variant, results in runs.items():
        rates = [args.records / r["seconds"] for r in results]
        totals.update((r["count"], r["sum"]) for r in results)
        rss = statistics.median(r["rss_mb"] for r in results)
        first = results[0]
        print(
            f"{variant:<12} {statistics.median(rates) / 1e6:>10.2f} M "
            f"{min(rates) / 1e6:>8.2f}-{max(rates) / 1e6:.2f} M/s {rss:>6.0f} MB "
            f"{first['rows']:>6} {first['count']:>10,} {first['sum']:>12,}"
        )
    if len(totals) != 1:
        sys.exit(f"variants disagree on the totals: {sorted(totals)}")
    print("every run produced the same totals")


if __name__ == "__main__":
    main()
