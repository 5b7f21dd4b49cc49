"""One behaviour suite for both deployments: embedded (file store) and JetStream (real server).

Each test runs twice with the same assertions: on the embedded default (the file
store, file positions, a file dead-letter store) and on JetStream (a real
nats-server from a fixture: a JetStream store, KV positions, a JetStream
dead-letter stream).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import anyio
import attrs
import pytest
from events_helpers import TRACE, at, event

from dataflare.events import (
    EventProcessor,
    EventRejectedError,
    EventStore,
    FileEventStore,
    FilePositionStore,
    JetStreamEventStore,
    KeyValuePositionStore,
    PositionStore,
    RetryPolicy,
    StoreDeadLetterSink,
    StoredEvent,
    replay,
)
from dataflare.kernel import Event
from dataflare.kernel.messaging import open_log

pytestmark = pytest.mark.anyio
pytest_plugins = ["dataflare.kernel.testing"]

NO_WAIT = RetryPolicy(max_attempts=3, initial_backoff=0, max_backoff=0)
CONSUMER = Path(__file__).with_name("consumer_process.py")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # nats-py runs on asyncio only


@attrs.frozen
class Deployment:
    """How to open each part of one deployment, again and again (as a restart would)."""

    kind: str
    where: str
    """The file store's directory, or the NATS server's URL."""

    @asynccontextmanager
    async def parts(self) -> AsyncIterator[tuple[EventStore, StoreDeadLetterSink, PositionStore]]:
        """The store, a dead-letter sink and the positions, open."""
        if self.kind == "embedded":
            base = Path(self.where)
            async with FileEventStore(base / "log") as store, FileEventStore(base / "dlq") as dlq:
                yield store, StoreDeadLetterSink(dlq), FilePositionStore(base / "consumers")
            return
        async with open_log(self.where) as log:
            letters = JetStreamEventStore(log, stream="EVENTS_DLQ", subject_prefix="events_dlq")
            async with JetStreamEventStore(log) as store, letters:
                yield store, StoreDeadLetterSink(letters), KeyValuePositionStore(log)

    def store(self) -> AbstractAsyncContextManager[EventStore]:
        """The event store alone, open."""
        if self.kind == "embedded":
            return FileEventStore(Path(self.where) / "log")
        return JetStreamEventStore(self.where)


@pytest.fixture(params=["embedded", "jetstream"])
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Deployment:
    if request.param == "embedded":
        return Deployment("embedded", str(tmp_path))
    return Deployment("jetstream", request.getfixturevalue("nats_server").url)


def processor(parts: tuple[EventStore, StoreDeadLetterSink, PositionStore]) -> EventProcessor:
    store, sink, positions = parts
    return EventProcessor(store, dead_letters=sink, positions=positions, retry=NO_WAIT, name="bill")


class Seen:
    def __init__(self) -> None:
        self.ids: list[str] = []

    async def __call__(self, event: Event) -> None:
        self.ids.append(event.id)


def ids(*numbers: int) -> list[str]:
    return [f"e-{n}" for n in numbers]


def collect(into: list[StoredEvent]) -> Callable[[StoredEvent], Awaitable[None]]:
    async def take(stored: StoredEvent) -> None:
        into.append(stored)

    return take


async def test_publish_then_replay_by_offset_and_by_time(deployment):
    async with deployment.store() as store:
        assert await store.append_many([event(n) for n in range(1, 11)]) == list(range(1, 11))
        by_offset: list[StoredEvent] = []
        report = await replay(store, from_offset=4, to_offset=6, into=collect(by_offset))
        by_time: list[StoredEvent] = []
        await replay(store, since=at(8), into=collect(by_time))
    assert [s.event.id for s in by_offset] == ids(4, 5, 6)
    assert (report.complete, report.target_last_offset, report.replayed) == (True, 6, 3)
    assert [s.offset for s in by_time] == [8, 9, 10]


async def test_a_duplicate_publish_is_stored_once_even_from_a_new_connection(deployment):
    async with deployment.store() as store:
        await store.append_many([event(1), event(2)])
    async with deployment.store() as store:  # a producer that restarted and retries
        assert await store.append_many([event(2), event(3), event(3)]) == [2, 3, 3]
        assert await store.append(event(1, data={"changed": True})) == 1
        assert [s.event.id async for s in store.read()] == ids(1, 2, 3)


async def test_a_handler_that_crashes_mid_event_gets_it_again(deployment):
    async with deployment.parts() as parts:
        await parts[0].append_many([event(1), event(2)])
        calls: list[str] = []

        async def flaky(event: Event) -> None:
            calls.append(event.id)
            if calls == ["e-1"]:
                raise ConnectionError("database went away")

        worker = processor(parts)
        worker.on(">", flaky)
        statistics = await worker.process_available()
        assert calls == ids(1, 1, 2)
        assert (statistics.retries, statistics.committed) == (1, 2)
        assert await parts[1].list() == []


async def test_a_poison_event_lands_in_the_dead_letters_after_n_attempts(deployment):
    async with deployment.parts() as parts:
        poison = event(2, trace_id=TRACE, metadata={"tenant": "acme"})
        await parts[0].append_many([event(1), poison, event(3)])
        seen = Seen()

        async def picky(event: Event) -> None:
            await seen(event)
            if event.id == "e-2":
                raise ValueError("order 2 has no customer")

        worker = processor(parts)
        worker.on("order.*", picky, name="charge")
        await worker.process_available()
    assert seen.ids == ids(1, 2, 2, 2, 3)
    async with deployment.parts() as parts:  # the dead letter is durable
        (letter,) = await parts[1].list()
    assert letter.event == poison
    assert letter.trace_id == TRACE
    assert (letter.handler, letter.attempts, letter.offset) == ("charge", 3, 2)
    assert (letter.error_type, letter.error_message) == ("ValueError", "order 2 has no customer")


async def test_a_restarted_processor_resumes_after_its_committed_position(deployment):
    async with deployment.parts() as parts:
        await parts[0].append_many([event(n) for n in range(1, 4)])
        first = Seen()
        worker = processor(parts)
        worker.on(">", first)
        await worker.process_available()
        await parts[0].append_many([event(n) for n in range(4, 6)])
    async with deployment.parts() as parts:
        second = Seen()
        restarted = processor(parts)
        restarted.on(">", second)
        assert (await restarted.process_available()).committed == 5
    assert (first.ids, second.ids) == (ids(1, 2, 3), ids(4, 5))


async def test_sigkill_a_consumer_mid_stream_and_restart_it_loses_nothing(deployment, tmp_path):
    total = 400
    async with deployment.store() as store:
        await store.append_many([event(n) for n in range(1, total + 1)])
    results = tmp_path / "handled.txt"
    kind = "file" if deployment.kind == "embedded" else "jetstream"
    command = [sys.executable, str(CONSUMER), kind, deployment.where, str(results)]

    with anyio.fail_after(90):
        async with await anyio.open_process(command, stderr=subprocess.PIPE) as consumer:
            while _handled(results) < 60:  # bounded by fail_after
                assert consumer.returncode is None, "the consumer ended before it was killed"
                await anyio.sleep(0.01)
            consumer.send_signal(signal.SIGKILL)
            assert await consumer.wait() == -signal.SIGKILL
        killed_at = _handled(results)
        assert killed_at < total, "the kill came after the consumer had finished"

        done = await anyio.run_process(command, check=False)
    assert done.returncode == 0, done.stderr.decode()
    assert f"committed {total}" in done.stdout.decode()
    handled = results.read_text().split()
    assert set(handled) == {f"e-{n}" for n in range(1, total + 1)}, "an event was lost"
    # At least once: only events in flight at the kill (concurrency 4, and those finished
    # after the last position write) may be handled twice.
    assert len(handled) - total <= 16


def _handled(results: Path) -> int:
    return results.read_bytes().count(b"\n") if results.exists() else 0


async def test_an_invalid_event_is_refused_and_never_half_stored(deployment):
    async with deployment.store() as store:
        await store.append(event(1))
        bad = event(3)
        bad.data["when"] = os  # not JSON: refused before anything of the batch is sent
        with pytest.raises(EventRejectedError, match=r"\$\.data\.when"):
            await store.append_many([event(2), bad])
        assert [s.event.id async for s in store.read()] == ids(1)
