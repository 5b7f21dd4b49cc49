"""Keyed event-time windows: WindowAggregator against a plain Python dict loop, in one run.

The workload follows ``research/streaming_anchors.md`` part B: ``--records`` records
(default 2,000,000) over ``--keys`` keys (default 10,000), one record per
microsecond of event time (1 M records per event-second), a float ``value``
column, fed in batches of ``--batch`` records. Each variant computes, per key and
window, the count and the sum of ``value`` (one variant adds min, max, mean and
a 95th percentile), and the script checks that every variant agrees with the dict
loop on the totals.

Variants:

* ``WindowAggregator`` tumbling (1 s), sliding (1 s every 250 ms: four windows
  per record), session (100 ms gap: every key's session stays open, the worst
  case for the session table), and tumbling with out-of-order input (each record
  up to 50 ms late, ``max_out_of_orderness_ms=50``);
* baseline: a dict loop, one Python step per record, with no watermark or lateness
  logic at all (a lower bound for any per-record Python engine);
* baseline: numpy over the whole input at once (one ``key_codes`` and one
  ``bincount``; no batches, no state, no watermark). It is not faster than the
  aggregator: grouping 2 M keys in one sort costs more than in 64 k pieces, and it
  holds the whole input.

Records per second are the median of ``--repeat`` runs with the garbage collector
paused, as ``timeit`` does; building the input is not timed. Peak memory is the
most memory traced (``tracemalloc``, which sees numpy's buffers) during one more
run of the variant, on top of the input.

Usage::

    python benchmarks/streaming_windows.py --records 2000000 --keys 10000 --batch 65536
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

from dataflare.kernel import RecordBatch
from dataflare.streaming.windows import (
    Aggregation,
    WatermarkSpec,
    WindowAggregator,
    WindowSpec,
)

SECOND = 1000
BASE = 1_700_000_000_000  # ms; windows are aligned to the epoch


def make_input(records: int, keys: int, batch: int, jitter_ms: int) -> dict[str, Any]:
    """Columns and batches of the same records."""
    rng = np.random.default_rng(42)
    key_ids = rng.integers(0, keys, records)
    times = BASE + np.arange(records, dtype=np.int64) // 1000  # 1 record per microsecond
    if jitter_ms:
        times = times - rng.integers(0, jitter_ms + 1, records)
    values = rng.integers(0, 1000, records).astype(np.float64)
    names = [b"user-%05d" % k for k in range(keys)]
    key_list = [names[k] for k in key_ids.tolist()]
    batches = [
        RecordBatch.from_arrays(
            keys=key_list[lo : lo + batch],
            timestamps=times[lo : lo + batch],
            columns={"value": values[lo : lo + batch]},
        )
        for lo in range(0, records, batch)
    ]
    return {"keys": key_list, "times": times, "values": values, "batches": batches}


def run_aggregator(
    data: dict[str, Any], window: WindowSpec, aggregations: list[Aggregation], delay: int
) -> tuple[int, float]:
    agg = WindowAggregator(
        window,
        aggregations,
        watermark=WatermarkSpec(max_out_of_orderness_ms=delay),
        result_values="empty",
    )
    results = []
    for batch in data["batches"]:
        results.append(agg.process(batch).results)
    results.append(agg.finish().results)
    count = sum(int(r.column("n").sum()) for r in results if len(r))
    total = sum(float(r.column("total").sum()) for r in results if len(r))
    return count, total


def run_dict_loop(data: dict[str, Any], size: int, slide: int) -> tuple[int, float]:
    counts: dict[tuple[bytes, int], int] = {}
    sums: dict[tuple[bytes, int], float] = {}
    steps = size // slide
    for key, t, value in zip(
        data["keys"], data["times"].tolist(), data["values"].tolist(), strict=True
    ):
        last = t // slide * slide
        for i in range(steps):
            cell = (key, last - i * slide)
            counts[cell] = counts.get(cell, 0) + 1
            sums[cell] = sums.get(cell, 0.0) + value
    return sum(counts.values()), sum(sums.values())


def run_numpy_whole(data: dict[str, Any], size: int) -> tuple[int, float]:
    whole = RecordBatch.concat(data["batches"])
    codes, keys = whole.key_codes()
    window = (whole.timestamps - whole.timestamps.min()) // size
    cell = window * len(keys) + codes
    cells = int(cell.max()) + 1
    counts = np.bincount(cell, minlength=cells)
    sums = np.bincount(cell, weights=whole.column("value"), minlength=cells)
    return int(counts.sum()), float(sums.sum())


def measure(run: Callable[[], tuple[int, float]], repeat: int) -> tuple[list[float], int, Any]:
    seconds = []
    result: Any = None
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        started = time.perf_counter()
        result = run()
        seconds.append(time.perf_counter() - started)
        gc.enable()
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak, result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=2_000_000)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=65_536)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-dict", action="store_true", help="leave out the slow dict loop")
    args = parser.parse_args(argv)

    data = make_input(args.records, args.keys, args.batch, jitter_ms=0)
    late_data = make_input(args.records, args.keys, args.batch, jitter_ms=50)
    simple = [Aggregation("n", "count"), Aggregation("total", "sum", column="value")]
    rich = [
        *simple,
        Aggregation("low", "min", column="value"),
        Aggregation("high", "max", column="value"),
        Aggregation("mean", "mean", column="value"),
        Aggregation("p95", "percentile", column="value", quantile=0.95),
    ]
    tumbling = WindowSpec("tumbling", size_ms=SECOND)
    sliding = WindowSpec("sliding", size_ms=SECOND, slide_ms=SECOND // 4)
    variants: list[tuple[str, Callable[[], tuple[int, float]], int]] = [
        ("WindowAggregator tumbling 1s", lambda: run_aggregator(data, tumbling, simple, 0), 1),
        ("WindowAggregator sliding 1s/250ms", lambda: run_aggregator(data, sliding, simple, 0), 4),
        (
            "WindowAggregator tumbling, 6 aggregations",
            lambda: run_aggregator(data, tumbling, rich, 0),
            1,
        ),
        (
            "WindowAggregator session, gap 100ms",
            lambda: run_aggregator(data, WindowSpec("session", gap_ms=100), simple, 0),
            1,
        ),
        (
            "WindowAggregator tumbling, out of order",
            lambda: run_aggregator(late_data, tumbling, simple, 50),
            1,
        ),
        ("numpy, whole input at once (baseline)", lambda: run_numpy_whole(data, SECOND), 1),
    ]
    if not args.skip_dict:
        variants += [
            ("dict loop tumbling (baseline)", lambda: run_dict_loop(data, SECOND, SECOND), 1),
            (
                "dict loop sliding (baseline)",
                lambda: run_dict_loop(data, SECOND, SECOND // 4),
                4,
            ),
        ]

    print(
        f"# {args.records:,} records, {args.keys:,} keys, batches of {args.batch:,}; "
        f"median of {args.repeat}; Python {platform.python_version()}, numpy {np.__version__}, "
        f"{os.cpu_count()} CPUs",
        file=sys.stderr,
    )
    print(f"{'variant':<44} {'records/s':>14} {'range':>21} {'peak MiB':>9}")
    expected = {1: run_dict_loop_totals(data, 1), 4: run_dict_loop_totals(data, 4)}
    for name, run, windows_per_record in variants:
        seconds, peak, (count, total) = measure(run, args.repeat)
        want_count, want_total = expected[windows_per_record]
        if "out of order" not in name:
            assert count == want_count, (name, count, want_count)
            assert abs(total - want_total) <= 1e-9 * want_total, (name, total, want_total)
        else:
            assert count == args.records, (name, count)  # nothing is late within 50 ms
        rates = sorted(args.records / s for s in seconds)
        print(
            f"{name:<44} {args.records / statistics.median(seconds):>14,.0f} "
            f"{rates[0]:>10,.0f}-{rates[-1]:<10,.0f} {peak / 2**20:>9.1f}"
        )


def run_dict_loop_totals(data: dict[str, Any], windows_per_record: int) -> tuple[int, float]:
    """What every variant must find: each record counted once per window it is in."""
    count = len(data["keys"]) * windows_per_record
    return count, float(data["values"].sum()) * windows_per_record


if __name__ == "__main__":
    main()
