"""What only MemoryLog shows: it runs on trio too, wakes fetches at once, and refuses clashes.

The semantics it shares with NatsLog are in test_log_behaviour.py.
"""

from __future__ import annotations

import anyio
import pytest

from dataflare.kernel._log_memory import MemoryLog
from dataflare.kernel._log_values import ConsumerConfig, OutgoingMessage, StreamConfig
from dataflare.kernel.errors import LogClosedError, MessagingError

pytestmark = pytest.mark.anyio

ORDERS = StreamConfig("ORDERS", ["orders.>"])


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


@pytest.fixture
async def log():
    async with MemoryLog() as opened:
        yield opened


@pytest.mark.parametrize(
    "subjects", [["orders.eu"], ["orders.*"], ["*.eu"], [">"], ["orders.eu.>", "invoices"]]
)
async def test_a_stream_whose_subjects_overlap_another_is_refused(log, subjects):
    await log.ensure_stream(StreamConfig("ORDERS", ["orders.>"]))
    with pytest.raises(MessagingError, match=r"overlaps .* of stream 'ORDERS'"):
        await log.ensure_stream(StreamConfig("OTHER", subjects))


@pytest.mark.parametrize("subjects", [["orders"], ["invoices.>"], ["order.eu"]])
async def test_disjoint_streams_live_side_by_side(log, subjects):
    await log.ensure_stream(StreamConfig("ORDERS", ["orders.>"]))
    await log.ensure_stream(StreamConfig("OTHER", subjects))
    assert "OTHER" in repr(log)


async def test_a_waiting_fetch_wakes_as_soon_as_a_message_arrives(log):
    await log.ensure_stream(ORDERS)
    consumer = await log.consumer("ORDERS", ConsumerConfig("c"))
    got = []
    with anyio.fail_after(2):  # far less than the fetch's own 30 s
        async with anyio.create_task_group() as tasks:

            async def fetch():
                got.extend(await consumer.fetch(10, timeout=30))

            tasks.start_soon(fetch)
            await anyio.sleep(0.05)
            await log.publish("orders.new", b"o-1")
    assert [m.data for m in got] == [b"o-1"]


async def test_closing_the_log_ends_a_waiting_fetch(log):
    await log.ensure_stream(ORDERS)
    consumer = await log.consumer("ORDERS", ConsumerConfig("c"))
    refused = []

    async def fetch():
        try:
            await consumer.fetch(1, timeout=30)
        except LogClosedError as exc:
            refused.append(exc)

    with anyio.fail_after(2):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(fetch)
            await anyio.sleep(0.05)
            await log.aclose()
    assert len(refused) == 1


async def test_a_closed_consumer_refuses_to_fetch(log):
    await log.ensure_stream(ORDERS)
    async with await log.consumer("ORDERS", ConsumerConfig()) as consumer:
        pass
    with pytest.raises(LogClosedError, match="consumer was closed"):
        await consumer.fetch()


async def test_fetch_arguments_are_checked(log):
    await log.ensure_stream(ORDERS)
    consumer = await log.consumer("ORDERS", ConsumerConfig())
    with pytest.raises(MessagingError, match="batch >= 1"):
        await consumer.fetch(0)


async def test_max_ack_pending_holds_back_new_messages(log):
    await log.ensure_stream(ORDERS)
    await log.publish_batch([OutgoingMessage("orders.new", b"%d" % i) for i in range(5)])
    consumer = await log.consumer("ORDERS", ConsumerConfig("c", max_ack_pending=2))
    first = await consumer.fetch(5, timeout=0.1)
    assert [m.seq for m in first] == [1, 2]
    assert await consumer.fetch(5, timeout=0.1) == []
    await first[0].ack()
    assert [m.seq for m in await consumer.fetch(5, timeout=0.1)] == [3]


async def test_rebinding_a_durable_keeps_its_position(log):
    await log.ensure_stream(ORDERS)
    await log.publish_batch([OutgoingMessage("orders.new", b"%d" % i) for i in range(3)])
    first = await log.consumer("ORDERS", ConsumerConfig("billing"))
    for message in await first.fetch(2, timeout=0.1):
        await message.ack()
    await first.close()
    again = await log.consumer("ORDERS", ConsumerConfig("billing", ack_wait=5))
    assert [m.seq for m in await again.fetch(5, timeout=0.1)] == [3]


async def test_a_private_consumer_starts_afresh_each_time(log):
    await log.ensure_stream(ORDERS)
    await log.publish("orders.new", b"o")
    for _ in range(2):
        consumer = await log.consumer("ORDERS", ConsumerConfig())
        assert [m.seq for m in await consumer.fetch(5, timeout=0.1)] == [1]


async def test_ensure_stream_applies_new_settings_to_stored_messages(log):
    await log.ensure_stream(ORDERS)
    await log.publish("orders.new", b"o")
    await log.ensure_stream(StreamConfig("ORDERS", ["orders.>"], max_age=0.2))
    with anyio.fail_after(5):
        while (await log.stream_state("ORDERS")).messages:
            await anyio.sleep(0.05)


async def test_a_delete_is_a_write_that_update_can_follow(log):
    kv = await log.key_value("locks")
    first = await kv.create("leader", b"a")
    await kv.delete("leader")
    assert await kv.get("leader") is None
    with pytest.raises(MessagingError):
        await kv.update("leader", b"b", first)  # the delete moved the revision on
    assert await kv.update("leader", b"b", first + 1) == first + 2


async def test_stores_of_a_closed_log_refuse_calls(log):
    kv = await log.key_value("k")
    store = await log.object_store("o")
    await log.aclose()
    with pytest.raises(LogClosedError):
        await kv.get("a")
    with pytest.raises(LogClosedError):
        await store.list()
    with pytest.raises(LogClosedError):
        await log.key_value("k")
