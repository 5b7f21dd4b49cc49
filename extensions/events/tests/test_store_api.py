"""The EventStore contract, checked against every store (dataflare.events._store_api)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import anyio
import pytest
from events_helpers import TRACE, at, event

from dataflare.events import (
    EventRejectedError,
    EventStore,
    FileEventStore,
    InvalidQueryError,
    JetStreamEventStore,
    MemoryEventStore,
    StoreClosedError,
    StoredEvent,
)

pytestmark = pytest.mark.anyio


pytest_plugins = ["dataflare.kernel.testing"]

# nats-py runs on asyncio only, so JetStream is checked there; the others on both.
KINDS = [("memory", "asyncio"), ("memory", "trio"), ("file", "asyncio"), ("file", "trio")]
KINDS += [("jetstream", "asyncio")]


@pytest.fixture(params=KINDS, ids=["-".join(kind) for kind in KINDS])
def kind(request: pytest.FixtureRequest) -> tuple[str, str]:
    """A store kind and the async backend to check it on."""
    return request.param


@pytest.fixture
def anyio_backend(kind: tuple[str, str]) -> str:
    return kind[1]


@pytest.fixture
async def store(
    kind: tuple[str, str], request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[EventStore]:
    """An open, empty store of each kind (file segments are small, so reads cross them),
    JetStream on a real nats-server."""
    made: EventStore
    if kind[0] == "memory":
        made = MemoryEventStore()
    elif kind[0] == "file":
        made = FileEventStore(tmp_path / "log", segment_bytes=1024)
    else:
        made = JetStreamEventStore(request.getfixturevalue("nats_server").url)
    async with made:
        yield made


async def offsets(
    store: EventStore,
    *,
    from_offset: int | None = None,
    to_offset: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    event_types: tuple[str, ...] = (),
    limit: int | None = None,
) -> list[int]:
    """The offsets a read yields."""
    found = store.read(
        from_offset=from_offset,
        to_offset=to_offset,
        since=since,
        until=until,
        event_types=event_types,
        limit=limit,
    )
    return [stored.offset async for stored in found]


async def fill(store: EventStore, count: int) -> None:
    """Append events 1..count, alternating order.created and order.paid."""
    types = ["order.created", "order.paid"]
    await store.append_many([event(n, types[n % 2 == 0]) for n in range(1, count + 1)])


async def test_an_empty_store_has_no_last_offset(store):
    """last_offset is None before anything is stored, and a read yields nothing."""
    assert await store.last_offset() is None
    assert await offsets(store) == []


async def test_offsets_start_at_one_and_count_up(store):
    """append and append_many hand out consecutive offsets from 1; last_offset follows."""
    assert await store.append(event(1)) == 1
    assert await store.append_many([event(2), event(3)]) == [2, 3]
    assert await store.append_many([]) == []
    assert await store.last_offset() == 3


async def test_get_returns_what_was_appended(store):
    """get(offset) returns the very event stored there, every field intact."""
    original = event(1, metadata={"tenant": "acme"}, trace_id=TRACE, version=2)
    await store.append(original)
    assert await store.get(1) == StoredEvent(1, original)
    assert await store.get(2) is None


async def test_get_refuses_offsets_below_one(store):
    """Offset 0 can never name an event, so asking for it is an error, not None."""
    with pytest.raises(InvalidQueryError, match="offsets are integers from 1"):
        await store.get(0)


async def test_get_by_id_finds_the_event(store):
    """get_by_id returns the stored event with its offset, or None for an unknown id."""
    await fill(store, 5)
    found = await store.get_by_id("e-4")
    assert found is not None
    assert (found.offset, found.event.data) == (4, {"n": 4})
    assert await store.get_by_id("nope") is None


async def test_a_duplicate_id_is_stored_once(store):
    """Appending a stored id again returns its offset and stores nothing, whatever the content."""
    await fill(store, 3)
    assert await store.append(event(2, data={"changed": True})) == 2
    assert await store.append_many([event(4), event(1), event(4)]) == [4, 1, 4]
    assert await store.last_offset() == 4
    stored = await store.get(2)
    assert stored is not None
    assert stored.event.data == {"n": 2}


async def test_an_invalid_event_is_refused_and_nothing_is_stored(store):
    """Data mutated into non-JSON is refused with its path, and the batch stores nothing."""
    await fill(store, 2)
    bad = event(4)
    bad.data["tags"] = {"a", "b"}  # data is a plain dict: a caller can still break it
    with pytest.raises(EventRejectedError) as caught:
        await store.append_many([event(3), bad, event(5)])
    assert caught.value.index == 1
    assert caught.value.event_id == "e-4"
    assert [path for path, _ in caught.value.problems] == ["$.data.tags"]
    assert "nothing was stored" in str(caught.value)
    assert await store.last_offset() == 2
    assert await store.get_by_id("e-3") is None
    assert await store.append(event(3)) == 3


async def test_something_that_is_not_an_event_is_refused(store):
    """A dict is not an Event: append refuses it rather than guess."""
    with pytest.raises(EventRejectedError, match=r"expected a dataflare\.kernel\.Event, got dict"):
        await store.append({"event_type": "order.created"})  # type: ignore[arg-type]
    assert await store.last_offset() is None


async def test_read_by_offset_range_is_inclusive(store):
    """from_offset and to_offset both include their ends; a range past the end stops at it."""
    await fill(store, 40)
    assert await offsets(store, from_offset=5, to_offset=8) == [5, 6, 7, 8]
    assert await offsets(store, from_offset=38) == [38, 39, 40]
    assert await offsets(store, to_offset=3) == [1, 2, 3]
    assert await offsets(store, from_offset=39, to_offset=100) == [39, 40]
    assert await offsets(store, from_offset=41) == []
    assert await offsets(store) == list(range(1, 41))


async def test_read_by_time_range_includes_since_and_excludes_until(store):
    """since is inclusive and until exclusive, so adjacent ranges never overlap."""
    await fill(store, 40)
    assert await offsets(store, since=at(10), until=at(13)) == [10, 11, 12]
    assert await offsets(store, since=at(38.5)) == [39, 40]
    assert await offsets(store, until=at(2)) == [1]


async def test_read_by_type_takes_exact_types_and_wildcards(store):
    """event_types match exactly, with '*' for one part and '>' for the rest."""
    await fill(store, 6)
    await store.append(event(7, "order.item.added"))
    assert await offsets(store, event_types=("order.paid",)) == [2, 4, 6]
    assert await offsets(store, event_types=("order.*",)) == [1, 2, 3, 4, 5, 6]
    assert await offsets(store, event_types=("order.>",)) == [1, 2, 3, 4, 5, 6, 7]
    assert await offsets(store, event_types=("order.item.added", "order.created")) == [1, 3, 5, 7]
    assert await offsets(store, event_types=("user.*",)) == []


async def test_read_combines_filters_and_limit(store):
    """Offset, time, type and limit all apply together; limit counts matches, not reads."""
    await fill(store, 40)
    found = await offsets(store, from_offset=5, since=at(10), event_types=("order.paid",), limit=3)
    assert found == [10, 12, 14]
    assert await offsets(store, limit=0) == []


async def test_read_yields_events_in_offset_order_with_their_content(store):
    """Each StoredEvent pairs an offset with the event that was appended there."""
    await fill(store, 30)
    async for stored in store.read():
        assert stored.event.data == {"n": stored.offset}
        assert stored.event.id == f"e-{stored.offset}"


async def test_a_read_sees_what_was_stored_when_it_started(store):
    """Events appended while a read runs are left for the next read, so a read ends."""
    await fill(store, 3)
    seen = []
    async for stored in store.read():
        seen.append(stored.offset)
        await store.append(event(100 + stored.offset))
    assert seen == [1, 2, 3]
    assert await store.last_offset() == 6


@pytest.mark.parametrize(
    ("arguments", "argument"),
    [
        ({"from_offset": 0}, "from_offset"),
        ({"to_offset": -1}, "to_offset"),
        ({"from_offset": True}, "from_offset"),
        ({"since": datetime(2025, 1, 1)}, "since"),  # naive on purpose
        ({"until": "2025-01-01"}, "until"),
        ({"event_types": "order.created"}, "event_types"),
        ({"event_types": ["order..created"]}, "event_types"),
        ({"event_types": ["order.>.x"]}, "event_types"),
        ({"limit": -1}, "limit"),
    ],
)
async def test_bad_read_arguments_are_refused_when_read_is_called(store, arguments, argument):
    """A read with a bad argument raises InvalidQueryError naming it, before iterating."""
    with pytest.raises(InvalidQueryError) as caught:
        store.read(**arguments)
    assert caught.value.argument == argument


async def test_a_closed_store_refuses_to_be_used(store):
    """After aclose every operation raises StoreClosedError; closing again is harmless."""
    await store.append(event(1))
    await store.aclose()
    await store.aclose()
    with pytest.raises(StoreClosedError):
        await store.append(event(2))
    with pytest.raises(StoreClosedError):
        await store.last_offset()
    with pytest.raises(StoreClosedError):
        await store.get(1)
    with pytest.raises(StoreClosedError):
        await offsets(store)


async def test_concurrent_appends_get_distinct_offsets(store):
    """Appends from many tasks at once each get their own offset, none lost."""
    results: list[int] = []

    async def append(n: int) -> None:
        results.append(await store.append(event(n)))

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            for n in range(1, 21):
                group.start_soon(append, n)
    assert sorted(results) == list(range(1, 21))
    assert sorted([(await store.get(o)).event.id for o in results]) == sorted(  # type: ignore[union-attr]
        f"e-{n}" for n in range(1, 21)
    )


async def test_a_reopened_file_store_reads_everything_back(tmp_path):
    """A FileEventStore closed and opened again has every event, offset, id and type index."""
    directory = tmp_path / "log"
    async with FileEventStore(directory, segment_bytes=1024) as first:
        await fill(first, 30)
    async with FileEventStore(directory, segment_bytes=1024) as second:
        assert await second.last_offset() == 30
        everything = [stored async for stored in second.read()]
        assert [s.event for s in everything] == [
            event(n, ["order.created", "order.paid"][n % 2 == 0]) for n in range(1, 31)
        ]
        assert await second.append(event(7)) == 7  # the id set was rebuilt
        assert await second.append(event(31)) == 31
        assert await offsets(second, event_types=("order.paid",), since=at(25)) == [26, 28, 30]
