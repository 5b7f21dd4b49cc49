"""Tests for handling stored events with retries and dead letters (dataflare.events._processor)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest
from events_helpers import TRACE, event

from dataflare.events import (
    DeadLetter,
    DeadLetterSink,
    EventProcessor,
    FileEventStore,
    FilePositionStore,
    MemoryEventStore,
    MemoryPositionStore,
    ProcessorError,
    RetryPolicy,
    StoreDeadLetterSink,
)
from dataflare.kernel import Event

pytestmark = pytest.mark.anyio

NO_WAIT = RetryPolicy(max_attempts=3, initial_backoff=0, max_backoff=0)


@pytest.fixture
async def store() -> AsyncIterator[MemoryEventStore]:
    """An open in-memory event store."""
    async with MemoryEventStore() as made:
        yield made


@pytest.fixture
async def sink() -> AsyncIterator[StoreDeadLetterSink]:
    """A dead-letter sink over its own in-memory store."""
    async with MemoryEventStore() as letters:
        yield StoreDeadLetterSink(letters)


class Seen:
    """A handler that records the ids it was called with."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    async def __call__(self, event: Event) -> None:
        self.ids.append(event.id)


class DeclinedError(Exception):
    """A handler's own error type."""


def ids(*numbers: int) -> list[str]:
    return [f"e-{n}" for n in numbers]


async def settle() -> None:
    """Let every other task run until all of them are blocked."""
    with anyio.fail_after(10):
        await anyio.wait_all_tasks_blocked()


async def test_each_event_reaches_the_matching_handlers_in_order(store, sink):
    """Handlers get the events whose type matches their pattern, in offset order."""
    await store.append_many([event(1), event(2, "order.paid"), event(3, "user.created")])
    orders, paid = Seen(), Seen()
    processor = EventProcessor(store, dead_letters=sink, retry=NO_WAIT)
    processor.on("order.*", orders)
    processor.on("order.paid", paid, name="paid")
    stats = await processor.process_available()
    assert (orders.ids, paid.ids) == (ids(1, 2), ids(2))
    assert (stats.handled, stats.skipped, stats.committed) == (2, 1, 3)


async def test_metadata_filters_narrow_a_handler(store, sink):
    """A handler registered with metadata sees only events that carry it."""
    await store.append_many([event(1, metadata={"tenant": "acme"}), event(2)])
    acme = Seen()
    processor = EventProcessor(store, dead_letters=sink)
    processor.on(">", acme, metadata={"tenant": "acme"})
    await processor.process_available()
    assert acme.ids == ids(1)


async def test_a_handler_that_crashes_mid_event_gets_the_event_again(store, sink):
    """A handler that raises is called again with the same event, and its success commits it."""
    await store.append_many([event(1), event(2)])
    calls: list[str] = []

    async def flaky(event: Event) -> None:
        calls.append(event.id)
        if calls.count(event.id) == 1 and event.id == "e-1":
            raise ConnectionError("database went away")

    processor = EventProcessor(store, dead_letters=sink, retry=NO_WAIT)
    processor.on(">", flaky)
    stats = await processor.process_available()
    assert calls == ids(1, 1, 2)
    assert (stats.retries, stats.dead_lettered, stats.committed) == (1, 0, 2)
    assert await sink.list() == []


async def test_a_poison_event_is_dead_lettered_and_processing_goes_on(store, sink):
    """After max_attempts the event goes to the sink with its error; the next one is handled."""
    await store.append_many([event(1), event(2, trace_id=TRACE), event(3)])
    seen = Seen()

    async def picky(event: Event) -> None:
        await seen(event)
        if event.data["n"] == 2:
            raise ValueError(f"cannot bill order {event.data['n']}")

    processor = EventProcessor(store, dead_letters=sink, retry=NO_WAIT, name="billing")
    processor.on("order.created", picky, name="bill")
    stats = await processor.process_available()
    assert seen.ids == ids(1, 2, 2, 2, 3)
    assert (stats.handled, stats.dead_lettered, stats.retries, stats.committed) == (3, 1, 2, 3)
    (letter,) = await sink.list()
    assert letter.event == event(2, trace_id=TRACE)
    assert letter.trace_id == TRACE
    assert (letter.handler, letter.attempts, letter.consumer, letter.offset) == (
        "bill",
        3,
        "billing",
        2,
    )
    assert (letter.error_type, letter.error_message) == ("ValueError", "cannot bill order 2")


async def test_a_dead_letter_names_a_custom_error_by_module(store, sink):
    """A non-builtin exception is recorded with its module, so it can be found."""
    await store.append(event(1))

    async def decline(event: Event) -> None:
        raise DeclinedError("card declined")

    processor = EventProcessor(store, dead_letters=sink, retry=RetryPolicy(max_attempts=1))
    processor.on(">", decline)
    await processor.process_available()
    (letter,) = await sink.list()
    assert letter.error_type.endswith("test_processor.DeclinedError")
    assert letter.handler.endswith("decline")
    assert letter.attempts == 1


async def test_one_failing_handler_does_not_repeat_the_others(store, sink):
    """When one handler of an event keeps failing, the others run once and are not retried."""
    await store.append(event(1))
    steady = Seen()

    async def broken(event: Event) -> None:
        raise RuntimeError("always")

    processor = EventProcessor(store, dead_letters=sink, retry=NO_WAIT)
    processor.on(">", steady, name="steady")
    processor.on(">", broken, name="broken")
    await processor.process_available()
    assert steady.ids == ids(1)
    assert [letter.handler for letter in await sink.list()] == ["broken"]


async def test_a_restart_resumes_after_the_committed_position(tmp_path, sink):
    """A new processor on the same store and positions handles only the events after the commit."""
    positions = FilePositionStore(tmp_path / "consumers")
    async with FileEventStore(tmp_path / "log") as store:
        await store.append_many([event(n) for n in range(1, 6)])
        first = Seen()
        processor = EventProcessor(store, dead_letters=sink, positions=positions, name="billing")
        processor.on(">", first)
        await processor.process_available()
        await store.append_many([event(n) for n in range(6, 9)])
    assert first.ids == ids(1, 2, 3, 4, 5)

    async with FileEventStore(tmp_path / "log") as reopened:
        second = Seen()
        positions = FilePositionStore(tmp_path / "consumers")
        restarted = EventProcessor(reopened, dead_letters=sink, positions=positions, name="billing")
        restarted.on(">", second)
        assert (await restarted.process_available()).committed == 8
    assert second.ids == ids(6, 7, 8)


async def test_an_interrupted_event_is_handled_again_after_a_restart(store, sink):
    """Cancelled while a handler is mid-event, the event stays uncommitted; the next run gets it."""
    await store.append_many([event(n) for n in range(1, 4)])
    positions = MemoryPositionStore()
    seen, stuck = Seen(), anyio.Event()

    async def hangs_on_two(event: Event) -> None:
        await seen(event)
        if event.id == "e-2":
            await stuck.wait()  # never set: the "crash" comes first

    processor = EventProcessor(store, dead_letters=sink, positions=positions)
    processor.on(">", hangs_on_two)
    async with anyio.create_task_group() as group:
        group.start_soon(processor.process_available)
        await settle()
        group.cancel_scope.cancel()
    assert seen.ids == ids(1, 2)
    assert (await positions.load("default")).committed == 1

    again = Seen()
    restarted = EventProcessor(store, dead_letters=sink, positions=positions)
    restarted.on(">", again)
    await restarted.process_available()
    assert again.ids == ids(2, 3)


async def test_events_finished_out_of_order_are_not_handled_twice_after_a_restart(store, sink):
    """With several workers, events done above a stuck one are saved by id and skipped later."""
    await store.append_many([event(n) for n in range(1, 6)])
    positions = MemoryPositionStore()
    seen, stuck = Seen(), anyio.Event()

    async def hangs_on_one(event: Event) -> None:
        await seen(event)
        if event.id == "e-1":
            await stuck.wait()

    processor = EventProcessor(store, dead_letters=sink, positions=positions, concurrency=3)
    processor.on(">", hangs_on_one)
    async with anyio.create_task_group() as group:
        group.start_soon(processor.process_available)
        await settle()
        group.cancel_scope.cancel()
    assert sorted(seen.ids) == ids(1, 2, 3, 4, 5)
    saved = await positions.load("default")
    assert (saved.committed, dict(saved.done)) == (
        0,
        dict(zip(range(2, 6), ids(2, 3, 4, 5), strict=True)),
    )

    again = Seen()
    restarted = EventProcessor(store, dead_letters=sink, positions=positions, concurrency=3)
    restarted.on(">", again)
    stats = await restarted.process_available()
    assert again.ids == ids(1)
    assert (stats.committed, stats.skipped, stats.handled) == (5, 4, 1)


async def test_the_concurrency_limit_is_respected(store, sink):
    """No more than `concurrency` handlers run at once, and that many do when there is work."""
    await store.append_many([event(n) for n in range(1, 11)])
    running, peak, gate = 0, 0, anyio.Event()

    async def slow(event: Event) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await gate.wait()
        running -= 1

    processor = EventProcessor(store, dead_letters=sink, concurrency=3)
    processor.on(">", slow)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(processor.process_available)
            await settle()
            assert running == 3
            gate.set()
    assert peak == 3
    assert processor.statistics().committed == 10


async def test_max_pending_bounds_how_far_work_runs_ahead_of_a_slow_event(store, sink):
    """Events beyond max_pending above the committed position wait for the slow one to finish."""
    await store.append_many([event(n) for n in range(1, 11)])
    seen, gate = Seen(), anyio.Event()

    async def slow_first(event: Event) -> None:
        await seen(event)
        if event.id == "e-1":
            await gate.wait()

    processor = EventProcessor(store, dead_letters=sink, concurrency=2, max_pending=4)
    processor.on(">", slow_first)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(processor.process_available)
            await settle()
            assert sorted(seen.ids) == ids(1, 2, 3, 4)
            gate.set()
    assert set(seen.ids) == set(ids(*range(1, 11)))


async def test_run_follows_new_events_until_stopped(store, sink):
    """run() handles events appended while it runs, and returns after stop()."""
    seen, arrived = Seen(), anyio.Event()

    async def note(event: Event) -> None:
        await seen(event)
        if len(seen.ids) == 3:
            arrived.set()

    processor = EventProcessor(store, dead_letters=sink, poll_interval=0.01)
    processor.on(">", note)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            await group.start(processor.run)
            await store.append(event(1))
            await store.append_many([event(2), event(3)])
            await arrived.wait()
            processor.stop()
    assert seen.ids == ids(1, 2, 3)
    assert processor.committed == 3


async def test_stop_abandons_a_backoff_and_leaves_the_event_uncommitted(store, sink):
    """A stop during a backoff returns at once; the event is not committed or dead-lettered."""
    await store.append(event(1))
    failed = anyio.Event()

    async def failing(event: Event) -> None:
        failed.set()
        raise RuntimeError("try later")

    retry = RetryPolicy(max_attempts=5, initial_backoff=3600, max_backoff=3600)
    processor = EventProcessor(store, dead_letters=sink, retry=retry)
    processor.on(">", failing)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            await group.start(processor.run)
            await failed.wait()
            processor.stop()
    assert processor.committed == 0
    assert await sink.list() == []


async def test_a_failing_dead_letter_sink_stops_the_processor(store):
    """If the sink cannot keep a dead letter, the processor stops with ProcessorError."""

    class BrokenSink(DeadLetterSink):
        async def put(self, letter: DeadLetter) -> None:
            raise OSError("dead-letter disk full")

    await store.append_many([event(1), event(2)])

    async def poison(event: Event) -> None:
        raise ValueError("poison")

    processor = EventProcessor(store, dead_letters=BrokenSink(), retry=RetryPolicy(max_attempts=1))
    processor.on(">", poison)
    with pytest.raises(ProcessorError, match="dead-letter disk full") as caught:
        await processor.process_available()
    assert isinstance(caught.value.__cause__, OSError)
    assert processor.committed == 0


async def test_a_processor_runs_once_at_a_time(store, sink):
    """Starting a processor that is already running raises ProcessorError."""
    processor = EventProcessor(store, dead_letters=sink, poll_interval=0.01)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            await group.start(processor.run)
            with pytest.raises(ProcessorError, match="already running"):
                await processor.process_available()
            processor.stop()


async def test_handler_names_are_unique(store, sink):
    """Two handlers under one name would make dead letters ambiguous, so the second is refused."""
    processor = EventProcessor(store, dead_letters=sink)
    processor.on("order.*", Seen(), name="h")
    with pytest.raises(ValueError, match="a handler named 'h' exists"):
        processor.on("user.*", Seen(), name="h")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"concurrency": 0}, "concurrency=0"),
        ({"concurrency": 8, "max_pending": 4}, "max_pending=4"),
        ({"poll_interval": 0}, "poll_interval=0"),
        ({"name": "../etc"}, "consumer name"),
    ],
)
async def test_bad_options_are_refused(store, sink, options, message):
    """Out-of-range numbers and names that are not file-safe are refused when made."""
    with pytest.raises(ValueError, match=message):
        EventProcessor(store, dead_letters=sink, **options)
