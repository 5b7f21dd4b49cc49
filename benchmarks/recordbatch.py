"""RecordBatch against pickle and json, on the same clickstream records, in one run.

For each encoding the script times four steps over the same synthetic records
(key = user id, value = a small JSON document, an event time, an i64 and an f64
field) and prints records per second (median of ``--repeat`` runs, garbage
collector paused while timing, as ``timeit`` does) and bytes per record:

* build  - from the source columns to the in-memory form: a RecordBatch (which is
  already the wire form), a list of tuples (pickle) or a list of dicts (json);
* encode - to bytes: ``batch.to_bytes()``, ``pickle.dumps``, ``json.dumps``;
* decode - from bytes, then read every record's fields: for RecordBatch,
  ``from_buffer`` plus numpy sums over both columns and the value lengths; for
  the others, ``loads`` plus a Python loop over the same fields;
* filter - keep the records with ``price < 50`` (about half): ``batch.filter``,
  whose result is again a wire-ready batch, against a list comprehension (the
  cheapest Python loop) over the decoded tuples or dicts, whose result is a list
  of references that still has to be encoded;
* filter + encode - the same, ending in bytes for all three;
* group by key - the sum of ``price`` per user: ``key_codes`` plus
  ``np.bincount`` against a dict loop over the decoded records.

Two more lines: the same filter written as a per-record Python loop over the
batch (same output: a batch), and what per-record Python objects cost on top of
a RecordBatch (slicing every value out as a ``bytes`` object).

Usage::

    python benchmarks/recordbatch.py --records 1000000 --repeat 3
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import pickle
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from dataflare.kernel._batch import RecordBatch

ACTIONS = [b"view", b"click", b"scroll", b"purchase"]


def make_source(count: int) -> dict[str, Any]:
    """Synthetic clickstream records, as columns (bytes lists and numpy arrays)."""
    rng = np.random.default_rng(42)
    users = rng.integers(0, 50_000, count)
    pages = rng.integers(0, 5_000, count)
    actions = rng.integers(0, len(ACTIONS), count)
    return {
        "keys": [b"user-%06d" % user for user in users.tolist()],
        "values": [
            b'{"page":"/p/%d","action":"%s"}' % (page, ACTIONS[action])
            for page, action in zip(pages.tolist(), actions.tolist(), strict=True)
        ],
        "timestamps": 1_700_000_000_000 + np.cumsum(rng.integers(0, 3, count)),
        "clicks": rng.integers(0, 20, count),
        "price": np.round(rng.random(count) * 100, 2),
    }


def timed(function: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Return the median wall time of ``function`` and its last result."""
    times = []
    result = None
    for _ in range(repeat):
        result = None  # let the previous result go before timing the next run
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            result = function()
            times.append(time.perf_counter() - start)
        finally:
            gc.enable()
    return statistics.median(times), result


def bench_recordbatch(source: dict[str, Any], repeat: int) -> dict[str, Any]:
    """Time the four steps for RecordBatch."""
    results: dict[str, Any] = {}

    def build() -> RecordBatch:
        return RecordBatch.from_arrays(
            keys=source["keys"],
            values=source["values"],
            timestamps=source["timestamps"],
            columns={"clicks": source["clicks"], "price": source["price"]},
        )

    results["build"], batch = timed(build, repeat)
    results["encode"], wire = timed(batch.to_bytes, repeat)

    def decode() -> tuple[int, float, int]:
        read = RecordBatch.from_buffer(wire)
        clicks = int(read.column("clicks").sum())
        price = float(read.column("price").sum())
        return clicks, price, int(read.value_offsets[-1])

    results["decode"], results["check"] = timed(decode, repeat)
    results["filter"], kept = timed(lambda: batch.filter(batch.column("price") < 50), repeat)
    results["filter + encode"] = results["filter"]  # a filtered batch is already bytes

    def python_loop() -> RecordBatch:
        # The filter without numpy: one Python step per record, same result.
        key_offsets, keys = batch.key_offsets.tolist(), batch.key_data.tobytes()
        value_offsets, values = batch.value_offsets.tolist(), batch.value_data.tobytes()
        stamps, clicks = batch.timestamps.tolist(), batch.column("clicks").tolist()
        prices = batch.column("price").tolist()
        kept: dict[str, list[Any]] = {name: [] for name in ("k", "v", "t", "c", "p")}
        for index, price in enumerate(prices):
            if price < 50:
                kept["k"].append(keys[key_offsets[index] : key_offsets[index + 1]])
                kept["v"].append(values[value_offsets[index] : value_offsets[index + 1]])
                kept["t"].append(stamps[index])
                kept["c"].append(clicks[index])
                kept["p"].append(price)
        return RecordBatch.from_arrays(
            keys=kept["k"],
            values=kept["v"],
            timestamps=kept["t"],
            columns={"clicks": kept["c"], "price": kept["p"]},
        )

    def group() -> dict[bytes, float]:
        codes, keys = batch.key_codes()
        sums = np.bincount(codes, weights=batch.column("price"))
        return dict(zip(keys, sums.tolist(), strict=True))

    results["group"], results["groups"] = timed(group, repeat)
    results["loop"], looped = timed(python_loop, repeat)
    if looped != kept:
        sys.exit("the Python-loop filter and batch.filter disagree")

    def materialise() -> list[bytes]:
        offsets = batch.value_offsets.tolist()
        data = batch.value_data.tobytes()
        return [data[start:stop] for start, stop in itertools.pairwise(offsets)]

    results["objects"], _ = timed(materialise, repeat)
    results["bytes"] = len(wire)
    results["kept"] = len(kept)
    return results


def bench_pickle(source: dict[str, Any], repeat: int) -> dict[str, Any]:
    """Time the four steps for pickle over a list of tuples."""
    results: dict[str, Any] = {}
    columns = (
        source["keys"],
        source["values"],
        source["timestamps"].tolist(),
        source["clicks"].tolist(),
        source["price"].tolist(),
    )
    results["build"], rows = timed(lambda: list(zip(*columns, strict=True)), repeat)
    results["encode"], wire = timed(lambda: pickle.dumps(rows, protocol=5), repeat)

    def decode() -> tuple[int, float, int]:
        clicks, price, size = 0, 0.0, 0
        for _, value, _, row_clicks, row_price in pickle.loads(wire):
            clicks += row_clicks
            price += row_price
            size += len(value)
        return clicks, price, size

    results["decode"], results["check"] = timed(decode, repeat)
    results["filter"], kept = timed(lambda: [row for row in rows if row[4] < 50], repeat)
    results["filter + encode"], _ = timed(
        lambda: pickle.dumps([row for row in rows if row[4] < 50], protocol=5), repeat
    )

    def group() -> dict[bytes, float]:
        sums: dict[bytes, float] = {}
        for key, _, _, _, price in rows:
            sums[key] = sums.get(key, 0.0) + price
        return sums

    results["group"], results["groups"] = timed(group, repeat)
    results["bytes"] = len(wire)
    results["kept"] = len(kept)
    return results


def bench_json(source: dict[str, Any], repeat: int) -> dict[str, Any]:
    """Time the four steps for json over a list of dicts (bytes stored as text)."""
    results: dict[str, Any] = {}
    columns = (
        source["keys"],
        source["values"],
        source["timestamps"].tolist(),
        source["clicks"].tolist(),
        source["price"].tolist(),
    )

    def build() -> list[dict[str, Any]]:
        return [
            {"key": key.decode(), "value": value.decode(), "ts": ts, "clicks": c, "price": p}
            for key, value, ts, c, p in zip(*columns, strict=True)
        ]

    results["build"], rows = timed(build, repeat)
    results["encode"], wire = timed(lambda: json.dumps(rows).encode(), repeat)

    def decode() -> tuple[int, float, int]:
        clicks, price, size = 0, 0.0, 0
        for row in json.loads(wire):
            clicks += row["clicks"]
            price += row["price"]
            size += len(row["value"])
        return clicks, price, size

    results["decode"], results["check"] = timed(decode, repeat)
    results["filter"], kept = timed(lambda: [row for row in rows if row["price"] < 50], repeat)
    results["filter + encode"], _ = timed(
        lambda: json.dumps([row for row in rows if row["price"] < 50]).encode(), repeat
    )

    def group() -> dict[bytes, float]:
        sums: dict[bytes, float] = {}
        for row in rows:
            sums[row["key"]] = sums.get(row["key"], 0.0) + row["price"]
        return {key.encode(): total for key, total in sums.items()}

    results["group"], results["groups"] = timed(group, repeat)
    results["bytes"] = len(wire)
    results["kept"] = len(kept)
    return results


def main() -> None:
    """Parse arguments, run every benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="records per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per step (median)")
    arguments = parser.parse_args()
    count, repeat = arguments.records, arguments.repeat

    started = time.perf_counter()
    source = make_source(count)
    results = {
        "RecordBatch": bench_recordbatch(source, repeat),
        "pickle": bench_pickle(source, repeat),
        "json": bench_json(source, repeat),
    }
    checks = {name: result["check"] for name, result in results.items()}
    kept = {result["kept"] for result in results.values()}
    clicks_sizes = {(clicks, size) for clicks, _, size in checks.values()}
    prices = [price for _, price, _ in checks.values()]
    if len(clicks_sizes) != 1 or len(kept) != 1 or max(prices) - min(prices) > 1e-6 * count:
        sys.exit(f"encodings disagree: {checks}, kept {kept}")
    groups = [result["groups"] for result in results.values()]
    if any(group.keys() != groups[0].keys() for group in groups) or any(
        abs(group[key] - groups[0][key]) > 1e-6 for group in groups for key in group
    ):
        sys.exit("the group-by sums disagree")

    print(
        f"{count:,} records, median of {repeat}; Python {platform.python_version()}, "
        f"numpy {np.__version__}, {os.cpu_count()} CPUs, {platform.machine()}"
    )
    names = list(results)
    print(f"\n{'step':<22}" + "".join(f"{name:>16}" for name in names) + f"{'RB vs best':>14}")
    for step, label in [
        ("build", "build"),
        ("encode", "encode"),
        ("decode", "decode + read"),
        ("filter", "filter (price < 50)"),
        ("filter + encode", "filter + encode"),
        ("group", "group by key (sum)"),
    ]:
        rates = {name: count / results[name][step] for name in names}
        best_other = max(rate for name, rate in rates.items() if name != "RecordBatch")
        cells = "".join(f"{rates[name] / 1e6:>12.2f} M/s" for name in names)
        print(f"{label:<22}{cells}{rates['RecordBatch'] / best_other:>13.1f}x")
    print(
        f"{'bytes per record':<22}"
        + "".join(f"{results[n]['bytes'] / count:>16.1f}" for n in names)
    )
    mine = results["RecordBatch"]
    print(
        f"\nfilter as a per-record Python loop over the batch: {count / mine['loop'] / 1e6:.2f} "
        f"M/s; batch.filter is {mine['loop'] / mine['filter']:.1f}x faster"
    )
    objects = count / mine["objects"]
    print(f"RecordBatch values as Python bytes objects: {objects / 1e6:.2f} M/s (per-record cost)")
    print(f"kept by filter: {kept.pop():,}; total time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
