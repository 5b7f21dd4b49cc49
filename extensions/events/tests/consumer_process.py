"""A consumer process for the SIGKILL test: handles every stored event, then exits.

Usage: python consumer_process.py (file DIRECTORY | jetstream URL) RESULTS

Each handled event's id is appended to RESULTS with one unbuffered write before the
handler returns, so what a handler finished survives the process being killed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio

from dataflare.events import (
    EventProcessor,
    FileEventStore,
    FilePositionStore,
    JetStreamEventStore,
    KeyValuePositionStore,
    MemoryEventStore,
    StoreDeadLetterSink,
)
from dataflare.kernel import Event
from dataflare.kernel.messaging import open_log


async def main(kind: str, where: str, results: Path) -> None:
    fd = os.open(results, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    async def record(event: Event) -> None:
        await anyio.sleep(0.002)  # slow enough to be killed mid-stream
        os.write(fd, f"{event.id}\n".encode())

    async with MemoryEventStore() as letters:
        sink = StoreDeadLetterSink(letters)
        if kind == "file":
            async with FileEventStore(Path(where) / "log") as store:
                positions = FilePositionStore(Path(where) / "consumers")
                await run(store, sink, positions, record)
        else:
            async with open_log(where) as log, JetStreamEventStore(log) as store:
                await run(store, sink, KeyValuePositionStore(log), record)
    os.close(fd)


async def run(store, sink, positions, record) -> None:  # type: ignore[no-untyped-def]
    processor = EventProcessor(
        store, dead_letters=sink, positions=positions, name="billing", concurrency=4
    )
    processor.on(">", record)
    statistics = await processor.process_available()
    print(f"committed {statistics.committed}", flush=True)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], sys.argv[2], Path(sys.argv[3]))
