"""Tests for the event bus: delivery, queue groups, backpressure, request/reply, shutdown."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import anyio
import pytest
import trio

from dataflare.kernel._bus import EventBus
from dataflare.kernel._message import Message
from dataflare.kernel._routing import _CACHE_SIZE
from dataflare.kernel._shutdown import _merge
from dataflare.kernel._statistics import ShutdownReport
from dataflare.kernel._subscription import Subscription
from dataflare.kernel.errors import (
    BusClosedError,
    BusError,
    BusSettingError,
    InvalidSubjectError,
    NoRespondersError,
    RequestTimeoutError,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every async test on asyncio and on trio."""
    return str(request.param)


async def settle() -> None:
    """Let every other task run until all of them are blocked."""
    with anyio.fail_after(5):
        await anyio.wait_all_tasks_blocked()


async def drain(subscription: Subscription) -> list[Any]:
    """Read a subscription to its end and return the payloads."""
    with anyio.fail_after(5):
        return [message.payload async for message in subscription]


async def test_publish_delivers_subject_payload_and_headers() -> None:
    """A subscriber receives the subject, the very payload object, and the headers."""
    payload = {"id": 7}
    async with EventBus() as bus:
        subscription = bus.subscribe("orders.created")
        assert await bus.publish("orders.created", payload, headers={"trace-id": "4bf9"}) == 1
        with anyio.fail_after(5):
            message = await anext(subscription)
    assert message == Message("orders.created", payload, {"trace-id": "4bf9"})
    assert message.payload is payload
    assert message.reply_to is None


async def test_headers_are_a_read_only_copy() -> None:
    """Changing the publisher's headers dict afterwards does not change the delivered message."""
    headers = {"trace-id": "4bf9"}
    async with EventBus() as bus:
        subscription = bus.subscribe("a")
        await bus.publish("a", None, headers=headers)
        headers["trace-id"] = "changed"
        with anyio.fail_after(5):
            message = await anext(subscription)
    assert message.headers == {"trace-id": "4bf9"}
    with pytest.raises(TypeError):
        message.headers["trace-id"] = "x"  # type: ignore[index]


async def test_star_matches_exactly_one_token() -> None:
    """A '*' subscription gets 'orders.eu' but neither 'orders' nor 'orders.eu.created'."""
    async with EventBus() as bus:
        subscription = bus.subscribe("orders.*")
        assert await bus.publish("orders.eu", 1) == 1
        assert await bus.publish("orders", 2) == 0
        assert await bus.publish("orders.eu.created", 3) == 0
        subscription.unsubscribe()
        assert await drain(subscription) == [1]


async def test_greater_than_matches_one_or_more_trailing_tokens() -> None:
    """A '>' subscription gets every deeper subject but not the prefix itself."""
    async with EventBus() as bus:
        subscription = bus.subscribe("orders.>")
        assert await bus.publish("orders.eu", 1) == 1
        assert await bus.publish("orders.eu.created", 2) == 1
        assert await bus.publish("orders", 3) == 0
        assert await bus.publish("shipments.eu", 4) == 0
        subscription.unsubscribe()
        assert await drain(subscription) == [1, 2]


async def test_fan_out_reaches_every_matching_subscription_with_one_object() -> None:
    """Every matching subscription gets the same message object; others get nothing."""
    async with EventBus() as bus:
        matching = [bus.subscribe(p) for p in ("orders.eu", "orders.*", "orders.>", ">")]
        other = bus.subscribe("shipments.>")
        assert await bus.publish("orders.eu", "batch") == 4
        with anyio.fail_after(5):
            received = [await anext(subscription) for subscription in matching]
        assert all(message is received[0] for message in received)
        assert other.statistics().buffered == 0


async def test_queue_group_gives_each_message_to_exactly_one_member() -> None:
    """Group members share messages in turn; plain subscribers and other groups get all."""
    async with EventBus() as bus:
        workers = [bus.subscribe("jobs.*", queue="workers") for _ in range(3)]
        audit = bus.subscribe("jobs.>", queue="audit")
        tap = bus.subscribe("jobs.>")
        for number in range(30):
            assert await bus.publish(f"jobs.{number}", number) == 3
        for subscription in [*workers, audit, tap]:
            subscription.unsubscribe()
        shares = [await drain(worker) for worker in workers]
        assert sorted(number for share in shares for number in share) == list(range(30))
        assert [len(share) for share in shares] == [10, 10, 10]
        assert await drain(audit) == list(range(30))
        assert await drain(tap) == list(range(30))


async def test_queue_group_passes_over_a_full_member() -> None:
    """When the member whose turn it is has a full buffer, a member with room gets the message."""
    async with EventBus() as bus:
        small = bus.subscribe("jobs", queue="workers", buffer_size=1)
        large = bus.subscribe("jobs", queue="workers", buffer_size=10)
        with anyio.fail_after(5):
            for number in range(4):
                assert await bus.publish("jobs", number) == 1
        small.unsubscribe()
        large.unsubscribe()
        assert await drain(small) == [0]
        assert await drain(large) == [1, 2, 3]


async def test_slow_subscriber_blocks_its_publisher_and_bounds_the_buffer() -> None:
    """10,000 publishes into a buffer of 8 block while the reader pauses; at most 8 are buffered."""
    count = 10_000
    published = 0
    async with EventBus(buffer_size=8) as bus, bus.subscribe("load") as subscription:

        async def publisher() -> None:
            nonlocal published
            for number in range(count):
                await bus.publish("load", number)
                published += 1

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(publisher)
                await settle()  # the reader has not started: the publisher must be stuck
                paused = bus.statistics()
                assert (paused.publishers_waiting, paused.buffered, published) == (1, 8, 8)
                received: list[int] = []
                most_buffered = 0
                async for message in subscription:
                    received.append(message.payload)
                    most_buffered = max(most_buffered, bus.statistics().buffered)
                    if len(received) == count // 2:
                        await settle()  # pause the reader again, halfway
                        paused = bus.statistics()
                        assert (paused.publishers_waiting, paused.buffered) == (1, 8)
                    if len(received) == count:
                        break
    assert received == list(range(count))
    assert most_buffered <= 8


async def test_request_gets_the_reply_on_a_unique_inbox() -> None:
    """request() returns the responder's reply, sent through a fresh _INBOX subject."""
    reply_subjects: list[str | None] = []
    async with EventBus() as bus, bus.subscribe("math.double") as requests:

        async def responder() -> None:
            async for request in requests:
                reply_subjects.append(request.reply_to)
                await bus.respond(request, request.payload * 2, headers={"by": "doubler"})

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(responder)
            with anyio.fail_after(5):
                first = await bus.request("math.double", 21, timeout=5)
                second = await bus.request("math.double", 5, timeout=5)
            assert bus.statistics().subscriptions == 1  # the inboxes are gone
            requests.unsubscribe()
        assert (first.payload, first.headers, second.payload) == (42, {"by": "doubler"}, 10)
        assert first.subject == reply_subjects[0]
        assert all(str(subject).startswith("_INBOX.") for subject in reply_subjects)
        assert reply_subjects[0] != reply_subjects[1]


async def test_request_without_responders_fails_at_once() -> None:
    """A request nobody subscribes to raises NoRespondersError without waiting for the timeout."""
    async with EventBus() as bus:
        with anyio.fail_after(5), pytest.raises(NoRespondersError) as caught:
            await bus.request("nobody.home", 1, timeout=60)
        assert caught.value.subject == "nobody.home"
        assert bus.statistics().subscriptions == 0


async def test_request_times_out_when_nobody_replies() -> None:
    """A request whose subscriber never answers raises RequestTimeoutError, a TimeoutError."""
    async with EventBus(shutdown_timeout=0) as bus:
        bus.subscribe("slow")
        with anyio.fail_after(5), pytest.raises(RequestTimeoutError) as caught:
            await bus.request("slow", 1, timeout=0.05)
        assert (caught.value.subject, caught.value.timeout) == ("slow", 0.05)
        assert isinstance(caught.value, TimeoutError)
        assert bus.statistics().subscriptions == 1  # the inbox is gone


async def test_respond_to_a_message_without_reply_to_is_refused() -> None:
    """Responding to a plain published message raises a BusError that says why."""
    async with EventBus() as bus:
        subscription = bus.subscribe("a")
        await bus.publish("a", 1)
        with anyio.fail_after(5):
            message = await anext(subscription)
        with pytest.raises(BusError, match="no reply_to"):
            await bus.respond(message, 2)


async def test_shutdown_lets_a_reading_consumer_drain_its_buffer() -> None:
    """A consumer that keeps reading gets everything buffered before aclose, then its loop ends."""
    bus = EventBus(buffer_size=16)
    subscription = bus.subscribe("jobs.>")
    for number in range(5):
        await bus.publish(f"jobs.{number}", number)
    start_reading = anyio.Event()
    received: list[int] = []
    reports: list[ShutdownReport] = []

    async def consumer() -> None:
        await start_reading.wait()
        received.extend(await drain(subscription))

    async def closer() -> None:
        reports.append(await bus.aclose(timeout=60))

    with anyio.fail_after(5):  # far below the 60 s deadline: the drain is noticed at once
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(consumer)
            tasks.start_soon(closer)
            await settle()
            assert not reports
            with pytest.raises(BusClosedError):
                await bus.publish("jobs.late", 99)
            start_reading.set()
    assert received == [0, 1, 2, 3, 4]
    assert reports == [ShutdownReport(drained=5, undelivered=0, timed_out=False)]


async def test_shutdown_deadline_hands_unread_messages_over_in_order() -> None:
    """When the reader stops, aclose times out and hands over exactly the unread ones, in order."""
    handed: list[Message] = []
    bus = EventBus()
    subscription = bus.subscribe("jobs.>")
    for number in range(10):
        await bus.publish(f"jobs.{number}", number)
    with anyio.fail_after(5):
        assert [(await anext(subscription)).payload for _ in range(2)] == [0, 1]
        report = await bus.aclose(timeout=0.05, on_undelivered=handed.append)
    assert report == ShutdownReport(drained=0, undelivered=8, timed_out=True)
    assert [message.payload for message in handed] == list(range(2, 10))
    assert [message.subject for message in handed] == [f"jobs.{n}" for n in range(2, 10)]
    assert await anext(subscription, None) is None


async def test_bus_default_async_callback_runs_when_the_context_exits() -> None:
    """An async on_undelivered given to the bus receives the leftovers when `async with` ends."""
    handed: list[int] = []

    async def persist(message: Message) -> None:
        await anyio.lowlevel.checkpoint()
        handed.append(message.payload)

    with anyio.fail_after(5):
        async with EventBus(shutdown_timeout=0, on_undelivered=persist) as bus:
            bus.subscribe("a")
            await bus.publish("a", 1)
            await bus.publish("a", 2)
    assert handed == [1, 2]


async def test_fanned_out_leftovers_are_handed_over_once_in_publish_order() -> None:
    """A message left in several buffers is handed over once, and in publish order."""
    handed: list[Message] = []
    async with EventBus() as bus:
        ahead = bus.subscribe("a.*")
        bus.subscribe("a.>")
        for number in range(1, 4):
            await bus.publish("a.x", number)
        with anyio.fail_after(5):
            await anext(ahead)  # this buffer now holds 2, 3; the other 1, 2, 3
            report = await bus.aclose(timeout=0, on_undelivered=handed.append)
    assert [message.payload for message in handed] == [1, 2, 3]
    assert report.undelivered == 3


def test_merge_keeps_every_buffer_order_and_takes_each_message_once() -> None:
    """Merged leftovers keep each buffer's order, and the older one's where two disagree."""
    a, b, c = (Message("s", name) for name in "abc")

    def merged(*buffers: list[Message]) -> list[str]:
        result = _merge(list(buffers))
        assert len({id(message) for message in result}) == len(result)
        return [message.payload for message in result]

    assert merged([b, c], [a, b, c]) == ["a", "b", "c"]
    assert merged([a], [b], [c]) == ["a", "b", "c"]
    assert merged([a, b], [b, a]) == ["a", "b"]
    disagreeing = merged([b, a], [a, b], [c])
    assert sorted(disagreeing) == ["a", "b", "c"]
    assert disagreeing.index("b") < disagreeing.index("a")
    assert merged() == []


async def test_cancelled_shutdown_still_hands_messages_over() -> None:
    """If aclose is cancelled during the drain, the leftovers still reach on_undelivered."""
    handed: list[Message] = []
    bus = EventBus()
    bus.subscribe("a")
    await bus.publish("a", 1)
    with anyio.fail_after(5), anyio.move_on_after(0.05) as scope:
        await bus.aclose(timeout=60, on_undelivered=handed.append)
    assert scope.cancelled_caught
    assert [message.payload for message in handed] == [1]
    assert bus.statistics().subscriptions == 0


async def test_publisher_waiting_on_a_subscriber_that_unsubscribes_moves_on() -> None:
    """A publish blocked on a full subscriber moves on to the next when the first unsubscribes."""
    async with EventBus() as bus:
        full = bus.subscribe("a", buffer_size=1)
        other = bus.subscribe("a")
        await bus.publish("a", 1)
        counts: list[int] = []

        async def publisher() -> None:
            counts.append(await bus.publish("a", 2))

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(publisher)
                await settle()
                assert bus.statistics().publishers_waiting == 1
                full.unsubscribe()
        assert counts == [1]
        other.unsubscribe()
        assert await drain(full) == [1]
        assert await drain(other) == [1, 2]


async def test_publisher_blocked_at_shutdown_gets_bus_closed_error() -> None:
    """A publish waiting for space at shutdown raises BusClosedError and is not handed over."""
    handed: list[Message] = []
    errors: list[BaseException] = []
    async with EventBus(buffer_size=1) as bus:
        bus.subscribe("a")
        await bus.publish("a", 1)

        async def blocked_publisher() -> None:
            try:
                await bus.publish("a", 2)
            except BusClosedError as error:
                errors.append(error)

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(blocked_publisher)
                await settle()
                assert bus.statistics().publishers_waiting == 1
                report = await bus.aclose(timeout=0, on_undelivered=handed.append)
    assert len(errors) == 1
    assert "waited for buffer space" in str(errors[0])
    assert [message.payload for message in handed] == [1]
    assert report == ShutdownReport(drained=0, undelivered=1, timed_out=True)


async def test_publish_and_subscribe_after_close_raise_bus_closed_error() -> None:
    """Once the bus is closed, publish and subscribe raise BusClosedError."""
    async with EventBus() as bus:
        pass
    with pytest.raises(BusClosedError, match="shut down"):
        await bus.publish("a", 1)
    with pytest.raises(BusClosedError, match="shut down"):
        bus.subscribe("a")
    assert bus.statistics().closed


async def test_aclose_is_idempotent_and_concurrent_calls_share_one_report() -> None:
    """Concurrent and later aclose calls return the first call's report; messages go over once."""
    handed: list[Message] = []
    reports: list[ShutdownReport] = []
    bus = EventBus()
    bus.subscribe("a")
    await bus.publish("a", 1)

    async def close() -> None:
        reports.append(await bus.aclose(timeout=0, on_undelivered=handed.append))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(close)
            tasks.start_soon(close)
        reports.append(await bus.aclose())
    assert reports == [ShutdownReport(drained=0, undelivered=1, timed_out=True)] * 3
    assert len(handed) == 1


async def test_unsubscribe_stops_delivery_and_keeps_what_is_buffered() -> None:
    """After unsubscribe no new message arrives, and iteration ends once the buffer is read."""
    async with EventBus() as bus:
        subscription = bus.subscribe("a.>")
        assert await bus.publish("a.1", 1) == 1
        subscription.unsubscribe()
        subscription.unsubscribe()
        assert await bus.publish("a.2", 2) == 0
        assert await drain(subscription) == [1]
        assert bus.statistics().subscriptions == 0


async def test_closing_a_subscription_drops_its_buffer_and_counts_it() -> None:
    """Leaving a subscription's `async with` discards what it held, counted as dropped."""
    async with EventBus() as bus:
        async with bus.subscribe("a") as subscription:
            for number in range(3):
                await bus.publish("a", number)
        stats = bus.statistics()
        assert (stats.dropped, stats.subscriptions, stats.buffered) == (3, 0, 0)
        assert await anext(subscription, None) is None
        assert await bus.publish("a", 4) == 0


async def test_statistics_count_published_delivered_buffered_and_received() -> None:
    """Statistics count publishes, per-subscription deliveries and reads, and what is buffered."""
    async with EventBus(buffer_size=4, shutdown_timeout=0) as bus:
        first = bus.subscribe("s.*")
        bus.subscribe("s.>", queue="q", buffer_size=2)
        for _ in range(2):
            await bus.publish("s.x", None)
        await bus.publish("nobody", None)
        with anyio.fail_after(5):
            await anext(first)
        stats = bus.statistics()
        assert (stats.published, stats.delivered, stats.dropped) == (3, 4, 0)
        assert (stats.subscriptions, stats.buffered, stats.publishers_waiting) == (2, 3, 0)
        assert not stats.closed
        one, two = stats.per_subscription
        assert (one.pattern, one.queue, one.buffer_size) == ("s.*", None, 4)
        assert (one.delivered, one.received, one.buffered, one.active) == (2, 1, 1, True)
        assert (two.pattern, two.queue, two.buffer_size) == ("s.>", "q", 2)
        assert (two.delivered, two.received, two.buffered) == (2, 0, 2)
        assert first.statistics() == one


async def test_routes_follow_subscriptions_made_and_removed_after_caching() -> None:
    """A cached route picks up later subscriptions and drops removed ones, literal or wildcard."""
    async with EventBus(shutdown_timeout=0) as bus:
        assert await bus.publish("orders.eu", 0) == 0
        literal = bus.subscribe("orders.eu")
        assert await bus.publish("orders.eu", 1) == 1
        wildcard = bus.subscribe("orders.*")
        assert await bus.publish("orders.eu", 2) == 2
        literal.unsubscribe()
        assert await bus.publish("orders.eu", 3) == 1
        await wildcard.aclose()
        assert await bus.publish("orders.eu", 4) == 0


async def test_route_cache_stays_bounded() -> None:
    """Publishing to more distinct subjects than the route cache holds keeps it at its cap."""
    async with EventBus() as bus:
        bus.subscribe("shipments.>")
        for number in range(_CACHE_SIZE + 10):
            assert await bus.publish(f"orders.{number}", number) == 0
        assert len(bus._table._cache) == _CACHE_SIZE
        async with bus.subscribe("orders.*"):
            assert await bus.publish("orders.0", 0) == 1


@pytest.mark.parametrize("size", [0, -1, 1.5, True, math.inf, "8"])
async def test_buffer_sizes_below_one_or_not_whole_are_refused(size: Any) -> None:
    """buffer_size must be a whole number >= 1, on the bus and per subscription."""
    with pytest.raises(BusSettingError, match="at least 1") as caught:
        EventBus(buffer_size=size)
    assert isinstance(caught.value, ValueError)
    async with EventBus() as bus:
        with pytest.raises(BusSettingError, match="at least 1"):
            bus.subscribe("a", buffer_size=size)


async def test_negative_timeouts_and_blank_queue_names_are_refused() -> None:
    """Negative or NaN timeouts and empty or spaced queue names raise BusSettingError."""
    for timeout in (-1.0, math.nan):
        with pytest.raises(BusSettingError, match="timeout"):
            EventBus(shutdown_timeout=timeout)
    async with EventBus() as bus:
        for queue in ("", "my workers"):
            with pytest.raises(BusSettingError, match="queue"):
                bus.subscribe("a", queue=queue)
        with pytest.raises(BusSettingError, match="timeout"):
            await bus.aclose(timeout=-1)


async def test_malformed_subjects_are_refused_by_publish_subscribe_and_request() -> None:
    """Wildcards in a publish subject and malformed patterns raise InvalidSubjectError."""
    async with EventBus() as bus:
        with pytest.raises(InvalidSubjectError):
            await bus.publish("orders.*", 1)
        with pytest.raises(InvalidSubjectError):
            await bus.publish("orders", 1, reply_to="replies.>")
        with pytest.raises(InvalidSubjectError):
            bus.subscribe("orders.>.eu")
        with pytest.raises(InvalidSubjectError):
            await bus.request("orders..eu", 1)
        assert bus.statistics().subscriptions == 0


def test_bus_runs_in_a_host_asyncio_application() -> None:
    """A bus made outside any loop works under asyncio.run with plain asyncio tasks."""
    bus = EventBus(buffer_size=2)
    subscription = bus.subscribe("ticks")

    async def host() -> list[int]:
        reader = asyncio.create_task(drain(subscription))
        for number in range(10):
            await bus.publish("ticks", number)
        await bus.aclose()
        return await reader

    assert asyncio.run(host()) == list(range(10))


def test_bus_runs_in_a_host_trio_application() -> None:
    """A bus made outside any loop works under trio.run with a trio nursery."""
    bus = EventBus(buffer_size=2)
    subscription = bus.subscribe("ticks")
    received: list[int] = []

    async def host() -> None:
        async def reader() -> None:
            received.extend(await drain(subscription))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            for number in range(10):
                await bus.publish("ticks", number)
            await bus.aclose()

    trio.run(host)
    assert received == list(range(10))
