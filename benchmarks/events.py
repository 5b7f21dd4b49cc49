"""Events appended and replayed per second: embedded against JetStream, single against batched.

Four stores, each fresh, in one run:

* ``file`` - the embedded default (``FileEventStore``, ``fsync: batch``: one fsync
  per ``append``/``append_many`` call, before it returns);
* ``file, fsync never`` - the same log left to the OS (survives a killed process,
  not a power loss);
* ``jetstream`` - ``JetStreamEventStore`` on a real ``nats-server`` started by this
  script on 127.0.0.1 (file storage, one replica, the stream's own fsync policy);
* ``memory`` - the in-memory store, as the ceiling of the Python around it.

For each: ``append`` one event per call (one message, one ack), ``append_many`` in
batches of ``--batch`` (pipelined on JetStream), and a full ``read`` (replay at full
speed) of everything stored, as events per second. The server is stopped at the end.

Usage::

    python benchmarks/events.py --events 20000 --single 2000 --batch 500
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import anyio

from dataflare.events import EventStore, FileEventStore, JetStreamEventStore, MemoryEventStore
from dataflare.kernel import Event
from dataflare.kernel._nats_server import LocalNatsServer


def make_events(count: int, offset: int = 0) -> list[Event]:
    return [
        Event(
            id=f"evt-{offset + n}",
            event_type="order.created",
            data={"order": offset + n, "amount": 12.5, "customer": f"c-{n % 997}"},
            source="urn:bench",
        )
        for n in range(count)
    ]


async def measure(store: EventStore, single: int, total: int, batch: int) -> dict[str, float]:
    singles = make_events(single)
    started = time.perf_counter()
    for event in singles:
        await store.append(event)
    one_by_one = single / (time.perf_counter() - started)

    batched = make_events(total, offset=single)
    started = time.perf_counter()
    for start in range(0, total, batch):
        await store.append_many(batched[start : start + batch])
    many = total / (time.perf_counter() - started)

    started = time.perf_counter()
    count = 0
    async for _ in store.read():
        count += 1
    replayed = count / (time.perf_counter() - started)
    assert count == single + total, f"read {count} events, stored {single + total}"
    return {"append": one_by_one, "append_many": many, "replay": replayed}


def stores(
    directory: Path, url: str
) -> dict[str, Callable[[], AbstractAsyncContextManager[EventStore]]]:
    return {
        "file (fsync batch)": lambda: FileEventStore(directory / "file"),
        "file (fsync never)": lambda: FileEventStore(directory / "never", fsync="never"),
        "jetstream": lambda: JetStreamEventStore(url),
        "memory": lambda: MemoryEventStore(),
    }


@asynccontextmanager
async def opened(
    factory: Callable[[], AbstractAsyncContextManager[EventStore]],
) -> AsyncIterator[EventStore]:
    async with factory() as store:
        yield store


async def main(args: argparse.Namespace) -> None:
    print(
        f"python {platform.python_version()} on {platform.machine()}, {args.events} events "
        f"batched by {args.batch}, {args.single} one at a time"
    )
    with tempfile.TemporaryDirectory() as tmp, LocalNatsServer(Path(tmp) / "nats") as server:
        results = {}
        for name, factory in stores(Path(tmp), server.url).items():
            async with opened(factory) as store:
                results[name] = await measure(store, args.single, args.events, args.batch)
    header = f"{'store':<20} {'append (1/call)':>16} {'append_many':>14} {'replay':>12}"
    print(header)
    print("-" * len(header))
    for name, figures in results.items():
        print(
            f"{name:<20} {figures['append']:>14,.0f}/s {figures['append_many']:>12,.0f}/s "
            f"{figures['replay']:>10,.0f}/s"
        )
    base = results["file (fsync batch)"]
    jet = results["jetstream"]
    print(
        f"\njetstream / embedded: append x{jet['append'] / base['append']:.2f}, "
        f"append_many x{jet['append_many'] / base['append_many']:.2f}, "
        f"replay x{jet['replay'] / base['replay']:.2f}"
    )
    print(f"batched / one-at-a-time on jetstream: x{jet['append_many'] / jet['append']:.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--single", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=500)
    arguments = parser.parse_args()
    if arguments.events < 1 or arguments.single < 1 or arguments.batch < 1:
        sys.exit("--events, --single and --batch must be 1 or more")
    anyio.run(main, arguments, backend="asyncio")
