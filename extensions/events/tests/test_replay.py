"""Tests for replaying stored events (dataflare.events._replay)."""

from __future__ import annotations

import itertools
from typing import Any

import anyio
import pytest
from events_helpers import at, event
from trio.testing import MockClock

from dataflare.events import (
    InvalidQueryError,
    MemoryEventStore,
    ReplayError,
    ReplayReport,
    StoredEvent,
    replay,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio-mock-clock"])
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    """asyncio on the real clock, and trio on a mock clock that jumps to the next deadline.

    On the real clock a sleep may only overrun, so pace tests check lower bounds
    there; the mock clock only moves when every task sleeps, so they check exact
    waits there, without spending them.
    """
    if request.param == "asyncio":
        return "asyncio"
    return ("trio", {"clock": MockClock(autojump_threshold=0)})


@pytest.fixture
def mocked(anyio_backend: Any) -> bool:
    """Whether the test runs on the mock clock."""
    return anyio_backend != "asyncio"


class Recorder:
    """A replay target that notes each offset and when (on anyio's clock) it arrived."""

    def __init__(self) -> None:
        self.offsets: list[int] = []
        self.times: list[float] = []

    async def __call__(self, stored: StoredEvent) -> None:
        self.offsets.append(stored.offset)
        self.times.append(anyio.current_time())

    def gaps(self) -> list[float]:
        return [later - earlier for earlier, later in itertools.pairwise(self.times)]


async def _store(*seconds: float, event_type: str = "order.created") -> MemoryEventStore:
    """A store with one event at each of these times (offset 1, 2... in that order)."""
    store = MemoryEventStore()
    for n, second in enumerate(seconds, start=1):
        await store.append(event(n, event_type, timestamp=at(second)))
    return store


async def test_a_full_replay_delivers_everything_in_order_and_reports_it():
    """Every event reaches the target in offset order; the report is complete."""
    store = await _store(0, 1, 2, 3)
    target = Recorder()
    report = await replay(store, into=target)
    assert target.offsets == [1, 2, 3, 4]
    assert report == ReplayReport(1, 4, 4, 4, complete=True)


async def test_replay_from_an_offset_and_to_an_offset():
    """from_offset and to_offset bound the replay; the target is capped by to_offset."""
    store = await _store(0, 1, 2, 3, 4)
    target = Recorder()
    report = await replay(store, into=target, from_offset=2, to_offset=4)
    assert target.offsets == [2, 3, 4]
    assert report == ReplayReport(2, 4, 4, 3, complete=True)


async def test_replay_by_time_range():
    """since and until pick events by timestamp; the target is still the store's end."""
    store = await _store(0, 10, 20, 30)
    target = Recorder()
    report = await replay(store, into=target, since=at(10), until=at(30))
    assert target.offsets == [2, 3]
    assert report == ReplayReport(2, 3, 4, 2, complete=True)


async def test_replay_by_type():
    """event_types pick events by type, wildcards included."""
    store = await _store(0, 1)
    await store.append(event(3, "user.created", timestamp=at(2)))
    target = Recorder()
    report = await replay(store, into=target, event_types=["user.*"])
    assert target.offsets == [3]
    assert (report.replayed, report.complete) == (1, True)


async def test_an_empty_store_replays_nothing_completely():
    """With nothing stored the target is None and the replay is complete."""
    report = await replay(MemoryEventStore(), into=Recorder())
    assert report == ReplayReport(None, None, None, 0, complete=True)


async def test_the_target_is_the_last_offset_when_the_replay_started():
    """Events appended during a replay are not replayed, so a replay of a live store ends."""
    store = await _store(0, 1, 2)

    async def appending(stored: StoredEvent) -> None:
        await store.append(event(100 + stored.offset))

    report = await replay(store, into=appending)
    assert (report.target_last_offset, report.last_offset_replayed) == (3, 3)
    assert await store.last_offset() == 6


async def test_a_failing_target_stops_the_replay_with_a_partial_report():
    """When into raises, ReplayError says how far it got and where to resume; the cause is kept."""
    store = await _store(0, 1, 2, 3)

    async def fussy(stored: StoredEvent) -> None:
        if stored.offset == 3:
            raise RuntimeError("disk full")

    with pytest.raises(ReplayError) as caught:
        await replay(store, into=fussy)
    assert caught.value.report == ReplayReport(1, 2, 4, 2, complete=False)
    assert caught.value.offset == 3
    assert "from_offset=3" in str(caught.value)
    assert isinstance(caught.value.__cause__, RuntimeError)


async def test_original_pace_waits_the_scaled_gaps(mocked):
    """At original pace the target sees the events' gaps divided by speed."""
    store = await _store(0, 2, 3, 7)
    target = Recorder()
    await replay(store, into=target, pace="original", speed=20)
    expected = [0.1, 0.05, 0.2]  # (2, 1, 4) seconds at 20x
    if mocked:
        assert target.gaps() == pytest.approx(expected)
    else:
        elapsed = [sum(target.gaps()[: i + 1]) for i in range(3)]
        # A sleep never ends early (the 1 ms is the event loop's clock resolution).
        assert all(got >= want - 1e-3 for got, want in zip(elapsed, [0.1, 0.15, 0.35], strict=True))


async def test_full_pace_does_not_wait(mocked):
    """At full pace no time passes between events on the mock clock, whatever the gaps."""
    store = await _store(0, 3600, 7200)
    target = Recorder()
    with anyio.fail_after(30):
        await replay(store, into=target, pace="full")
    assert target.offsets == [1, 2, 3]
    if mocked:
        assert target.gaps() == [0, 0]


async def test_each_gap_is_capped_by_max_gap(mocked):
    """A long quiet spell waits at most max_gap, so a replay stays bounded."""
    store = await _store(0, 86_400, 86_401)
    target = Recorder()
    with anyio.fail_after(30):
        await replay(store, into=target, pace="original", speed=1, max_gap=0.2)
    if mocked:
        assert target.gaps() == pytest.approx([0.2, 0.2])
    else:
        assert target.gaps()[0] >= 0.2 - 1e-3


async def test_out_of_order_timestamps_add_no_gap(mocked):
    """An earlier timestamp waits nothing, and the next gap counts from the latest one."""
    store = await _store(10, 5, 12)
    target = Recorder()
    await replay(store, into=target, pace="original", speed=10)
    if mocked:
        assert target.gaps() == pytest.approx([0.0, 0.2])
    else:
        assert target.times[2] - target.times[0] >= 0.2 - 1e-3


async def test_a_slow_target_does_not_drift(mocked):
    """Time the target spends counts towards the next gap: the schedule follows the clock."""
    store = await _store(0, 1, 2)
    times: list[float] = []

    async def slow(stored: StoredEvent) -> None:
        times.append(anyio.current_time())
        await anyio.sleep(0.04)

    await replay(store, into=slow, pace="original", speed=10)
    if mocked:
        assert [b - a for a, b in itertools.pairwise(times)] == pytest.approx([0.1, 0.1])
    else:
        assert times[2] - times[0] >= 0.2 - 1e-3


@pytest.mark.parametrize(
    ("arguments", "argument"),
    [
        ({"pace": "fast"}, "pace"),
        ({"speed": 0}, "speed"),
        ({"speed": float("inf")}, "speed"),
        ({"max_gap": -1}, "max_gap"),
        ({"from_offset": 0}, "from_offset"),
    ],
)
async def test_bad_arguments_are_refused(arguments, argument):
    """A bad pace, speed, gap cap or offset is refused before anything is replayed."""
    target = Recorder()
    store = await _store(0)
    with pytest.raises(InvalidQueryError) as caught:
        await replay(store, into=target, **arguments)
    assert caught.value.argument == argument
    assert target.offsets == []
