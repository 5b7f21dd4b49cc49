"""WASM plugins against the same logic in pure Python, in one run; and what loading costs.

Two transforms, each written twice:

* filter - keep the records whose value's first byte is even;
* map - uppercase the ASCII letters of every value.

The WASM versions are the WAT plugins of ``kernel/tests/wasm_transforms.py``
(``FILTER_EVEN`` and ``UPPERCASE``); they build their output batch in the record
batch layout, copying keys, timestamps and typed columns. Each runs through
``WasmPlugin.process`` with the ABI's default limits (fuel and a deadline on every
call), one call per batch. The Python versions loop over each batch's records
(``batch.value(i)``, the cheapest per-record access) and end in the same output
batch. Both are timed at batch sizes 1, 64, 1024 and 8192, as records per second
(median of ``--repeat`` runs, garbage collector paused).

Then the cost of loading a plugin: a cold load (validate, compile, write the
cache artifact, instantiate, ``df_init``), a load served from the disk cache by a
fresh engine (as in a new process: HMAC check, deserialise, instantiate,
``df_init``), a load of a module already in memory, and verifying a signed package.

Usage::

    python benchmarks/wasm.py --repeat 3
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from dataflare.kernel import (
    PluginManifest,
    RecordBatch,
    TrustStore,
    WasmEngine,
    WasmPlugin,
    generate_keypair,
    host_version,
    load_plugin,
    sign_package,
    verify_package,
    write_package,
)

ROOT = Path(__file__).resolve().parents[1]
BATCH_SIZES = (1, 64, 1024, 8192)
ACTIONS = [b"view", b"click", b"scroll", b"purchase"]


def load_modules() -> Any:
    """Import the test suite's WAT transforms (one source for the tests and the benchmark)."""
    module = None
    for name in ("wasm_modules", "wasm_transforms"):  # the second imports the first
        spec = importlib.util.spec_from_file_location(
            name, ROOT / "kernel" / "tests" / f"{name}.py"
        )
        assert spec is not None
        assert spec.loader is not None
        module = sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


def make_batches(size: int, count: int) -> list[RecordBatch]:
    """``count`` batches of ``size`` clickstream records (key, JSON value, time, a column)."""
    rng = np.random.default_rng(size)
    batches = []
    for _ in range(count):
        pages = rng.integers(0, 5_000, size).tolist()
        actions = rng.integers(0, len(ACTIONS), size).tolist()
        # Values start with a letter, so about half have an even first byte.
        values = [b"%s page=/p/%d" % (ACTIONS[a], p) for p, a in zip(pages, actions, strict=True)]
        batches.append(
            RecordBatch.from_arrays(
                values=values,
                keys=[b"user-%05d" % p for p in pages],
                timestamps=1_700_000_000_000 + np.arange(size),
                columns={"page": np.array(pages)},
            )
        )
    return batches


def timed(function: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Return the median wall time of ``function`` and its last result."""
    times = []
    result = None
    for _ in range(repeat):
        result = None
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            result = function()
            times.append(time.perf_counter() - start)
        finally:
            gc.enable()
    return statistics.median(times), result


def python_filter(batch: RecordBatch) -> RecordBatch:
    """The filter as a per-record Python loop; the output is a batch, as the plugin's is."""
    keep = [bool(value) and value[0] % 2 == 0 for value in map(batch.value, range(len(batch)))]
    return batch.filter(np.array(keep, dtype=bool))


def python_map(batch: RecordBatch) -> RecordBatch:
    """The map as a per-record Python loop (``bytes.upper`` changes ASCII letters only)."""
    count = len(batch)
    return RecordBatch.from_arrays(
        values=[batch.value(i).upper() for i in range(count)],
        keys=[batch.key(i) for i in range(count)],
        timestamps=batch.timestamps,
        columns={name: batch.column(name) for name in batch.column_names},
        metadata=batch.metadata,
        count=count,
    )


def run_wasm(plugin: WasmPlugin, batches: list[RecordBatch]) -> int:
    """Process every batch through the plugin; return how many records came out."""
    return sum(len(plugin.process(batch).output) for batch in batches)


def run_python(transform: Callable[[RecordBatch], RecordBatch], batches: list[RecordBatch]) -> int:
    """Process every batch through the Python version; return how many records came out."""
    return sum(len(transform(batch)) for batch in batches)


def throughput(wt: Any, repeat: int) -> dict[tuple[str, str, int], float]:
    """Records per second for each transform, implementation and batch size."""
    rates: dict[tuple[str, str, int], float] = {}
    with WasmEngine() as engine:
        plugins = {
            "filter": WasmPlugin.load(wt.FILTER_EVEN, name="bench/filter", engine=engine),
            "map": WasmPlugin.load(wt.UPPERCASE, name="bench/map", engine=engine),
        }
        pythons = {"filter": python_filter, "map": python_map}
        for size in BATCH_SIZES:
            batches = make_batches(size, max(20, min(2_000, 250_000 // size)))
            records = size * len(batches)
            for name, plugin in plugins.items():
                first = plugin.process(batches[0])
                if first.output != pythons[name](batches[0]):
                    sys.exit(f"the WASM and Python {name} disagree")

                seconds, kept = timed(lambda p=plugin, b=batches: run_wasm(p, b), repeat)
                rates[name, "wasm", size] = records / seconds
                python = pythons[name]
                seconds, kept_python = timed(lambda f=python, b=batches: run_python(f, b), repeat)
                rates[name, "python", size] = records / seconds
                if kept != kept_python:
                    sys.exit(f"the WASM and Python {name} kept different records")
        for plugin in plugins.values():
            plugin.close()
    return rates


def load_times(wt: Any, repeat: int) -> dict[str, float]:
    """Seconds to load a plugin: cold, from the disk cache, from memory."""
    results: dict[str, list[float]] = {"cold": [], "disk": [], "memory": []}
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as directory:
            cache = Path(directory) / "cache"
            for kind in ("cold", "disk"):
                with WasmEngine(cache_dir=cache) as engine:
                    start = time.perf_counter()
                    plugin = WasmPlugin.load(wt.FILTER_EVEN, name="bench/filter", engine=engine)
                    results[kind].append(time.perf_counter() - start)
                    if kind == "disk":
                        assert engine.cache_stats.hits == 1, engine.cache_stats
                        start = time.perf_counter()
                        again = WasmPlugin.load(wt.FILTER_EVEN, name="bench/filter", engine=engine)
                        results["memory"].append(time.perf_counter() - start)
                        again.close()
                    plugin.close()
    return {kind: statistics.median(times) for kind, times in results.items()}


# --- signed, verified loads --------------------------------------------------------------


def verified_load_times(wt: Any, repeat: int) -> dict[str, float]:
    """Seconds to verify the signed filter package, and to verify + load it from a warm cache."""
    now = datetime.now(UTC)
    identity = generate_keypair("bench")
    trust = TrustStore()
    trust.trust(identity.public, now=now)
    manifest = PluginManifest(
        name="bench/filter", version="1.0.0", kind="filter", license="MIT", dataflare=">=0.1"
    )
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "filter.dfp"
        write_package(path, manifest, {"plugin.wasm": wt.FILTER_EVEN})
        sign_package(path, identity)
        data = path.read_bytes()
        verify, _ = timed(
            lambda: verify_package(data, trust, host_version=host_version(), now=now),
            max(repeat, 5),
        )
        cache = Path(directory) / "cache"
        with WasmEngine(cache_dir=cache) as engine:  # warms the disk cache
            load_plugin(data, trust=trust, engine=engine, now=now).close()
        loads = []
        for _ in range(max(repeat, 5)):
            with WasmEngine(cache_dir=cache) as engine:  # a new process would start like this
                start = time.perf_counter()
                plugin = load_plugin(data, trust=trust, engine=engine, now=now)
                loads.append(time.perf_counter() - start)
                plugin.close()
    return {"verify": verify, "verified": statistics.median(loads)}


# -----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    args = parser.parse_args()
    wt = load_modules()
    started = time.perf_counter()
    rates = throughput(wt, args.repeat)
    loads = load_times(wt, args.repeat)
    verified = verified_load_times(wt, args.repeat)

    print(
        f"WASM plugins vs pure Python, same logic ({platform.python_implementation()} "
        f"{platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs; "
        f"median of {args.repeat})"
    )
    print()
    header = f"{'records/s':<18}" + "".join(f"{'batch ' + str(s):>14}" for s in BATCH_SIZES)
    print(header)
    print("-" * len(header))
    for name in ("filter", "map"):
        for kind in ("wasm", "python"):
            cells = "".join(f"{rates[name, kind, s]:>14,.0f}" for s in BATCH_SIZES)
            print(f"{name + ' ' + kind:<18}{cells}")
        ratio = "".join(
            f"{rates[name, 'wasm', s] / rates[name, 'python', s]:>13.1f}x" for s in BATCH_SIZES
        )
        print(f"{name + ' wasm/python':<18}{ratio}")
    print()
    print(f"plugin load (the filter, a {len(wt.FILTER_EVEN)}-byte module)")
    lines = [
        ("cold: validate + compile + cache write + instantiate + init", loads["cold"]),
        ("disk cache hit (new engine) + instantiate + init", loads["disk"]),
        ("module already in memory + instantiate + init", loads["memory"]),
        ("verify the signed package (read, signature, hashes)", verified["verify"]),
        ("load_plugin: verify + disk cache hit + instantiate + init", verified["verified"]),
    ]
    for label, seconds in lines:
        shown = f"{seconds * 1e3:.2f} ms"
        print(f"  {label:<58}{shown:>10}")
    print()
    print(f"total benchmark time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
