"""One behaviour suite for every MessageLog: MemoryLog, and NatsLog on a real nats-server.

Each test runs twice with the same assertions, which is what keeps the in-memory log
honest as a stand-in for JetStream.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import anyio
import pytest

from dataflare.kernel._log_api import MessageLog
from dataflare.kernel._log_memory import MemoryLog
from dataflare.kernel._log_memory_stores import digest_of
from dataflare.kernel._log_nats import NatsLog
from dataflare.kernel._log_values import ConsumerConfig, OutgoingMessage, StreamConfig
from dataflare.kernel.errors import (
    LogClosedError,
    MessagingError,
    MessagingValueError,
    PublishError,
    RevisionConflictError,
    StreamNotFoundError,
)

pytest_plugins = ["dataflare.kernel.testing"]
pytestmark = pytest.mark.anyio

ORDERS = StreamConfig("ORDERS", ["orders.>"])


@pytest.fixture
def anyio_backend():
    return "asyncio"  # nats-py runs on asyncio only


@pytest.fixture(params=["memory", "nats"])
def server_url(request):
    """None for MemoryLog, else the URL of a fresh nats-server."""
    return None if request.param == "memory" else request.getfixturevalue("nats_server").url


@pytest.fixture
async def log(server_url):
    impl = MemoryLog() if server_url is None else NatsLog(server_url, request_timeout=2.0)
    async with impl as opened:
        yield opened


async def orders(log: MessageLog, count: int, **config) -> None:
    await log.ensure_stream(StreamConfig("ORDERS", ["orders.>"], **config))
    for i in range(count):
        await log.publish("orders.new", f"order-{i + 1}".encode(), msg_id=f"order-{i + 1}")


async def test_publish_then_get_returns_the_stored_message(log):
    await log.ensure_stream(ORDERS)
    ack = await log.publish(
        "orders.eu", b"o-1", headers={"traceparent": "00-ab-cd-01"}, msg_id="o1"
    )
    assert (ack.stream, ack.seq, ack.duplicate) == ("ORDERS", 1, False)
    stored = await log.get("ORDERS", 1)
    assert (stored.subject, stored.data, stored.seq, stored.msg_id) == (
        "orders.eu",
        b"o-1",
        1,
        "o1",
    )
    assert stored.headers["traceparent"] == "00-ab-cd-01"
    assert stored.time.tzinfo is not None
    assert await log.get("ORDERS", 2) is None


async def test_a_publish_without_msg_id_gets_one(log):
    await log.ensure_stream(ORDERS)
    await log.publish("orders.eu", b"x")
    stored = await log.get("ORDERS", 1)
    assert stored.msg_id


async def test_a_subject_no_stream_captures_fails_fast_as_refused(log):
    await log.ensure_stream(ORDERS)
    with anyio.fail_after(5), pytest.raises(PublishError, match="no stream captures") as caught:
        await log.publish("invoices.new", b"x", msg_id="i1")
    assert not caught.value.outcome_unknown
    assert caught.value.msg_id == "i1"


async def test_a_missing_stream_is_named(log):
    with pytest.raises(StreamNotFoundError, match="'NOPE'"):
        await log.stream_state("NOPE")
    with pytest.raises(StreamNotFoundError):
        await log.get("NOPE", 1)
    with pytest.raises(StreamNotFoundError):
        await log.consumer("NOPE", ConsumerConfig("c"))


async def test_the_same_msg_id_inside_the_window_is_stored_once(log):
    await log.ensure_stream(ORDERS)
    first = await log.publish("orders.new", b"o", msg_id="order-1")
    again = await log.publish("orders.new", b"o", msg_id="order-1")
    assert (again.seq, again.duplicate, first.duplicate) == (first.seq, True, False)
    assert (await log.stream_state("ORDERS")).messages == 1


async def test_the_same_msg_id_after_the_window_is_stored_again(log):
    await log.ensure_stream(StreamConfig("ORDERS", ["orders.>"], duplicate_window=0.5))
    await log.publish("orders.new", b"o", msg_id="order-1")
    with anyio.fail_after(10):
        while (ack := await log.publish("orders.new", b"o", msg_id="order-1")).duplicate:
            await anyio.sleep(0.1)
    assert ack.seq == 2


async def test_a_batch_is_acked_in_item_order_and_dedupes_when_repeated(log):
    await log.ensure_stream(ORDERS)
    items = [OutgoingMessage("orders.new", b"%d" % i, msg_id=f"b-{i}") for i in range(2500)]
    acks = await log.publish_batch(items)
    assert [a.seq for a in acks] == list(range(1, 2501))
    assert not any(a.duplicate for a in acks)
    assert (await log.get("ORDERS", 1234)).data == b"1233"
    again = await log.publish_batch(items[:10])
    assert [(a.seq, a.duplicate) for a in again] == [(i, True) for i in range(1, 11)]


async def test_ack_nak_and_term_settle_as_documented(log):
    await orders(log, 3)
    consumer = await log.consumer("ORDERS", ConsumerConfig("billing", ack_wait=0.5))
    first, second, third = await consumer.fetch(3, timeout=2)
    assert [m.delivered for m in (first, second, third)] == [1, 1, 1]
    await first.ack()
    await second.nak()
    await third.term()
    (again,) = await consumer.fetch(3, timeout=2)
    assert (again.seq, again.delivered, again.data) == (2, 2, b"order-2")
    await again.ack()
    assert await consumer.fetch(3, timeout=1.0) == []  # past ack_wait: nothing comes back
    await consumer.close()


async def test_nak_with_delay_redelivers_after_the_delay(log):
    await orders(log, 1)
    consumer = await log.consumer("ORDERS", ConsumerConfig("c"))
    (message,) = await consumer.fetch(1, timeout=2)
    await message.nak(delay=0.6)
    started = anyio.current_time()
    assert await consumer.fetch(1, timeout=0.2) == []
    (again,) = await consumer.fetch(1, timeout=3)
    assert anyio.current_time() - started >= 0.5
    assert again.delivered == 2


async def test_an_unacked_message_comes_back_after_ack_wait(log):
    await orders(log, 1)
    consumer = await log.consumer("ORDERS", ConsumerConfig("c", ack_wait=0.5))
    (message,) = await consumer.fetch(1, timeout=2)
    started = anyio.current_time()
    (again,) = await consumer.fetch(1, timeout=3)
    assert anyio.current_time() - started >= 0.4
    assert (again.seq, again.delivered) == (message.seq, 2)


async def test_max_deliver_stops_redelivery(log):
    await orders(log, 1)
    consumer = await log.consumer("ORDERS", ConsumerConfig("c", ack_wait=0.3, max_deliver=2))
    assert [m.delivered for m in await consumer.fetch(1, timeout=2)] == [1]
    assert [m.delivered for m in await consumer.fetch(1, timeout=2)] == [2]
    assert await consumer.fetch(1, timeout=1.0) == []


async def test_backoff_spaces_the_redeliveries(log):
    await orders(log, 1)
    config = ConsumerConfig("c", max_deliver=3, backoff=(0.3, 0.9))
    consumer = await log.consumer("ORDERS", config)
    times = []
    for _ in range(3):
        (message,) = await consumer.fetch(1, timeout=3)
        times.append((anyio.current_time(), message.delivered))
    assert [delivered for _, delivered in times] == [1, 2, 3]
    assert times[1][0] - times[0][0] >= 0.25
    assert times[2][0] - times[1][0] >= 0.8


async def test_in_progress_holds_a_message_past_ack_wait(log):
    await orders(log, 1)
    consumer = await log.consumer("ORDERS", ConsumerConfig("c", ack_wait=0.6))
    (message,) = await consumer.fetch(1, timeout=2)
    for _ in range(6):  # 1.2 s of work, twice ack_wait
        await anyio.sleep(0.2)
        await message.in_progress()
    assert await consumer.fetch(1, timeout=0.1) == []
    await message.ack()


async def test_settling_twice_is_refused(log):
    await orders(log, 1)
    consumer = await log.consumer("ORDERS", ConsumerConfig("c"))
    (message,) = await consumer.fetch(1, timeout=2)
    await message.ack()
    with pytest.raises(MessagingError, match="already settled with ack"):
        await message.nak()


async def test_deliver_by_start_sequence(log):
    await orders(log, 5)
    config = ConsumerConfig(deliver_policy="by_start_sequence", start_seq=3)
    consumer = await log.consumer("ORDERS", config)
    assert [m.seq for m in await consumer.fetch(10, timeout=2)] == [3, 4, 5]


async def test_deliver_by_start_time(log):
    await orders(log, 2)
    await anyio.sleep(0.02)  # so message 3's time is strictly after message 2's
    await log.publish("orders.new", b"order-3")
    await log.publish("orders.new", b"order-4")
    start = (await log.get("ORDERS", 3)).time
    config = ConsumerConfig(deliver_policy="by_start_time", start_time=start.astimezone(UTC))
    consumer = await log.consumer("ORDERS", config)
    assert [m.seq for m in await consumer.fetch(10, timeout=2)] == [3, 4]


async def test_deliver_new_skips_what_is_stored(log):
    await orders(log, 2)
    consumer = await log.consumer("ORDERS", ConsumerConfig("c", deliver_policy="new"))
    await log.publish("orders.new", b"fresh")
    assert [m.data for m in await consumer.fetch(10, timeout=2)] == [b"fresh"]


async def test_handles_of_one_durable_share_the_work(log):
    await orders(log, 4)
    one = await log.consumer("ORDERS", ConsumerConfig("workers"))
    two = await log.consumer("ORDERS", ConsumerConfig("workers"))
    first = [m.seq for m in await one.fetch(2, timeout=2)]
    second = [m.seq for m in await two.fetch(2, timeout=2)]
    assert sorted(first + second) == [1, 2, 3, 4]


async def test_a_filter_subject_selects_messages(log):
    await log.ensure_stream(ORDERS)
    for subject in ("orders.eu.new", "orders.us.new", "orders.eu.paid"):
        await log.publish(subject, subject.encode())
    consumer = await log.consumer("ORDERS", ConsumerConfig("eu", filter_subject="orders.eu.*"))
    assert [m.subject for m in await consumer.fetch(10, timeout=2)] == [
        "orders.eu.new",
        "orders.eu.paid",
    ]


async def test_a_fetch_with_nothing_to_hand_out_returns_empty(log):
    await log.ensure_stream(ORDERS)
    consumer = await log.consumer("ORDERS", ConsumerConfig("c"))
    assert await consumer.fetch(5, timeout=0.2) == []


async def test_stream_state_tells_a_replay_where_the_log_ends(log):
    await log.ensure_stream(ORDERS)
    empty = await log.stream_state("ORDERS")
    assert (empty.first_seq, empty.last_seq, empty.messages) == (0, 0, 0)
    assert empty.first_time is None
    assert empty.last_time is None
    await orders(log, 25)
    state = await log.stream_state("ORDERS")
    assert (state.first_seq, state.last_seq, state.messages) == (1, 25, 25)
    assert state.first_time <= state.last_time
    replay = await log.consumer("ORDERS", ConsumerConfig())
    seen: list[int] = []
    with anyio.fail_after(10):
        while not seen or seen[-1] < state.last_seq:  # an empty fetch is not the end
            for message in await replay.fetch(10, timeout=1):
                seen.append(message.seq)
                await message.ack()
    assert seen == list(range(1, 26))


async def test_max_age_ages_messages_out(log):
    await orders(log, 2, max_age=1.0)
    with anyio.fail_after(10):
        while (state := await log.stream_state("ORDERS")).messages:
            await anyio.sleep(0.1)
    assert (state.first_seq, state.last_seq) == (3, 2)
    assert await log.get("ORDERS", 1) is None


async def test_key_value_put_get_create_update_delete(log):
    kv = await log.key_value("config")
    assert await kv.get("a") is None
    first = await kv.put("a", b"1")
    assert (await kv.get("a")).value == b"1"
    with pytest.raises(RevisionConflictError, match="exists"):
        await kv.create("a", b"2")
    second = await kv.update("a", b"2", first)
    assert second > first
    with pytest.raises(RevisionConflictError, match=f"revision {first}"):
        await kv.update("a", b"3", first)
    await kv.put("b", b"")
    assert (await kv.get("b")).value == b""
    assert await kv.keys() == ["a", "b"]
    await kv.delete("a")
    assert await kv.get("a") is None
    assert await kv.keys() == ["b"]
    assert await kv.create("a", b"again") > second
    with pytest.raises(MessagingValueError):
        await kv.put("bad key", b"x")


async def test_key_value_ttl_ages_writes_out(log):
    kv = await log.key_value("members", ttl=1.0)
    await kv.put("node-a", b"alive")
    with anyio.fail_after(10):
        while await kv.get("node-a") is not None:
            await anyio.sleep(0.1)
    assert await kv.keys() == []
    assert await kv.create("node-a", b"back") > 0


async def test_object_store_round_trips_a_mebibyte(log):
    store = await log.object_store("wasm")
    blob = os.urandom(1 << 20)
    info = await store.put("plugins/filter.wasm", blob)
    assert (info.size, info.digest) == (len(blob), digest_of(blob))
    assert await store.get("plugins/filter.wasm") == blob
    await store.put("small", b"tiny")
    assert [i.name for i in await store.list()] == ["plugins/filter.wasm", "small"]
    await store.delete("plugins/filter.wasm")
    await store.delete("never-there")
    assert await store.get("plugins/filter.wasm") is None
    assert [(i.name, i.size) for i in await store.list()] == [("small", 4)]


async def test_a_closed_log_refuses_calls(log):
    await log.ensure_stream(ORDERS)
    await log.aclose()
    await log.aclose()  # idempotent
    with pytest.raises(LogClosedError):
        await log.publish("orders.new", b"x")


async def test_a_zombies_late_ack_is_accepted(log):
    """JetStream accepts an ack after redelivery (nats-server#4786); handlers must be idempotent."""
    await orders(log, 1)
    consumer = await log.consumer("ORDERS", ConsumerConfig("c", ack_wait=0.3))
    (zombie,) = await consumer.fetch(1, timeout=2)
    (second,) = await consumer.fetch(1, timeout=3)
    assert (second.seq, second.delivered) == (zombie.seq, 2)
    await zombie.ack()
    assert await consumer.fetch(1, timeout=1.0) == []  # the second worker's copy is done too


async def read_all(log: MessageLog, **options) -> list[list[int]]:
    return [[m.seq for m in chunk] async for chunk in log.read("ORDERS", **options)]


async def test_read_yields_everything_in_batches_and_leaves_no_consumer_state(log):
    await orders(log, 7)
    assert await read_all(log, batch=3) == [[1, 2, 3], [4, 5, 6], [7]]
    assert await read_all(log, batch=3) == [[1, 2, 3], [4, 5, 6], [7]]  # nothing was acked
    messages = [m async for chunk in log.read("ORDERS") for m in chunk]
    assert [m.data for m in messages] == [f"order-{i}".encode() for i in range(1, 8)]


async def test_read_from_a_sequence_a_time_and_a_subject(log):
    await orders(log, 3)
    await anyio.sleep(0.02)
    await log.publish("orders.old", b"order-4")
    await log.publish("orders.new", b"order-5")
    start = (await log.get("ORDERS", 4)).time.astimezone(UTC)
    assert await read_all(log, start_seq=2) == [[2, 3, 4, 5]]
    assert await read_all(log, start_time=start) == [[4, 5]]
    assert await read_all(log, filter_subject="orders.old") == [[4]]
    assert await read_all(log, start_seq=99) == []


async def test_read_stops_at_the_last_sequence_of_when_it_began(log):
    await orders(log, 4)
    seen = []
    async for chunk in log.read("ORDERS", batch=2):
        seen += [m.seq for m in chunk]
        await log.publish("orders.new", b"late")  # arrives during the read
    assert seen == [1, 2, 3, 4]


async def test_read_of_a_missing_stream_or_with_bad_arguments_is_refused(log):
    await orders(log, 1)
    with pytest.raises(StreamNotFoundError):
        [chunk async for chunk in log.read("NOPE")]
    with pytest.raises(MessagingValueError, match="batch"):
        await read_all(log, batch=0)
    with pytest.raises(MessagingValueError, match="not both"):
        await read_all(log, start_seq=1, start_time=datetime.now(UTC))
    with pytest.raises(MessagingValueError, match="timezone-aware"):
        await read_all(log, start_time=datetime.now())


async def test_only_if_empty_stores_once_per_subject_with_no_time_window(log):
    await log.ensure_stream(StreamConfig("ORDERS", ["orders.>"], duplicate_window=0.1))
    first = await log.publish("orders.id-1", b"a", msg_id="a", only_if_empty="orders.id-1")
    await anyio.sleep(0.3)  # past the msg id window: only the subject check can catch it
    again = await log.publish("orders.id-1", b"b", msg_id="b", only_if_empty="orders.id-1")
    other = await log.publish("orders.id-2", b"c", only_if_empty="orders.id-2")
    assert (first.duplicate, again.duplicate, other.duplicate) == (False, True, False)
    assert again.seq == first.seq
    assert again.stream == "ORDERS"
    assert (await log.stream_state("ORDERS")).last_seq == 2
    assert (await log.get("ORDERS", first.seq)).data == b"a"


async def test_only_if_empty_takes_a_pattern_over_several_subjects(log):
    await log.ensure_stream(ORDERS)
    await log.publish("orders.o-1.created", b"1")
    await log.publish("orders.o-1x.created", b"2")  # a longer token is not under orders.o-1
    taken = await log.publish("orders.o-1.paid", b"3", only_if_empty="orders.o-1.>")
    free = await log.publish("orders.o-2.paid", b"4", only_if_empty="orders.o-2.>")
    wild = await log.publish("orders.o-3.paid", b"5", only_if_empty="orders.*.created")
    assert (taken.duplicate, taken.seq) == (True, 1)
    assert (free.duplicate, free.seq) == (False, 3)
    assert (wild.duplicate, wild.seq) == (True, 2)
    assert (await log.stream_state("ORDERS")).last_seq == 3


async def test_only_if_empty_in_a_batch_names_the_first_copy(log):
    await log.ensure_stream(ORDERS)
    items = [
        OutgoingMessage(f"orders.id-{n}", f"{i}".encode(), only_if_empty=f"orders.id-{n}")
        for i, n in enumerate([1, 2, 1, 3, 2])
    ]
    acks = await log.publish_batch(items)
    assert [a.duplicate for a in acks] == [False, False, True, False, True]
    assert [a.seq for a in acks] == [1, 2, 1, 3, 2]


async def test_only_if_empty_sees_past_aged_out_messages(log):
    await log.ensure_stream(StreamConfig("ORDERS", ["orders.>"], max_age=0.5))
    await log.publish("orders.id-1", b"old")
    await anyio.sleep(0.8)
    await log.publish("orders.id-2", b"new")  # the first has aged out by now
    again = await log.publish("orders.id-1", b"again", only_if_empty="orders.id-1")
    assert again.duplicate is False
    assert (await log.publish("orders.x", b"x", only_if_empty="orders.id-2")).duplicate
