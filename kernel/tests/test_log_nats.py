"""What only NatsLog does: connecting, reconnecting, retrying on a budget, permissions, drain."""

from __future__ import annotations

import logging

import anyio
import nats
import pytest

from dataflare.kernel._log_nats import NatsLog
from dataflare.kernel._log_values import ConsumerConfig, OutgoingMessage, StreamConfig
from dataflare.kernel._nats_server import LocalNatsServer, free_ports
from dataflare.kernel.errors import (
    ConnectionLostError,
    LogClosedError,
    MessagingError,
    MessagingTimeoutError,
    MessagingValueError,
    PublishError,
)

pytest_plugins = ["dataflare.kernel.testing"]
pytestmark = pytest.mark.anyio

ORDERS = StreamConfig("ORDERS", ["orders.>"])
USERS = """
authorization {
  users: [
    { user: admin, password: "admin-pw" }
    { user: producer, password: "producer-pw",
      permissions: { publish: { allow: ["orders.>"] }, subscribe: { allow: ["_INBOX.>"] } } }
  ]
}
"""


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def server(tmp_path):
    """A server this test may stop and start again, on the same port and store."""
    server = LocalNatsServer(tmp_path).start()
    yield server
    server.stop()
    assert not server.running


async def test_an_unreachable_server_is_named_with_the_fix():
    (port,) = free_ports(1)
    with anyio.fail_after(10), pytest.raises(ConnectionLostError) as caught:
        await NatsLog(f"nats://127.0.0.1:{port}", connect_timeout=0.5).connect()
    message = str(caught.value)
    assert f"cannot reach NATS at nats://127.0.0.1:{port}" in message
    assert "`dataflare dev up` starts one" in message
    assert caught.value.servers == (f"nats://127.0.0.1:{port}",)


async def test_an_unconnected_log_says_how_to_connect(nats_server):
    with pytest.raises(LogClosedError, match="async with NatsLog"):
        await NatsLog(nats_server.url).stream_state("ORDERS")


def test_settings_are_checked():
    with pytest.raises(MessagingValueError, match="request_timeout"):
        NatsLog(request_timeout=0)
    with pytest.raises(MessagingValueError, match="max_in_flight"):
        NatsLog(max_in_flight=0)


async def test_a_publish_rides_out_a_server_restart_with_its_msg_id(server, caplog):
    caplog.set_level(logging.INFO, logger="dataflare.kernel.nats")
    async with NatsLog(server.url, reconnect_wait=0.1, request_timeout=1.0) as log:
        await log.ensure_stream(ORDERS)
        server.stop()
        acks = []
        async with anyio.create_task_group() as tasks:

            async def publish():
                acks.append(await log.publish("orders.new", b"o-1", msg_id="during-outage"))

            tasks.start_soon(publish)
            await anyio.sleep(0.5)  # the publish is retrying against a stopped server
            await anyio.to_thread.run_sync(server.start)
        assert (acks[0].seq, acks[0].duplicate) == (1, False)
        again = await log.publish("orders.new", b"o-1", msg_id="during-outage")
        assert (again.seq, again.duplicate) == (1, True)
        figures = {(m.name, m.kind): m.value for m in log.metrics()}
    assert figures[("dataflare_nats_published_total", "counter")] == 1
    assert figures[("dataflare_nats_duplicates_total", "counter")] == 1
    assert figures[("dataflare_nats_publish_retries_total", "counter")] >= 1
    assert figures[("dataflare_nats_disconnects_total", "counter")] >= 1
    assert figures[("dataflare_nats_reconnects_total", "counter")] >= 1
    assert figures[("dataflare_nats_connected", "gauge")] == 1
    messages = [record.getMessage() for record in caplog.records]
    assert "NATS connection lost; reconnecting" in messages
    assert "NATS reconnected" in messages
    lost = next(r for r in caplog.records if r.getMessage().startswith("NATS connection lost"))
    assert lost.servers == [server.url]  # structured, for JSON logs


async def test_a_publish_that_runs_out_of_budget_may_be_stored(server):
    async with NatsLog(server.url, retry_budget=1.0, request_timeout=0.5) as log:
        await log.ensure_stream(ORDERS)
        server.stop()
        with anyio.fail_after(10), pytest.raises(PublishError, match="1s retry budget") as caught:
            await log.publish("orders.new", b"o", msg_id="o-1")
    assert caught.value.outcome_unknown
    assert "same msg id is safe" in str(caught.value)


async def test_a_batch_to_a_subject_without_stream_is_refused(nats_server):
    async with NatsLog(nats_server.url) as log:
        await log.ensure_stream(ORDERS)
        with anyio.fail_after(10), pytest.raises(PublishError, match="no stream captures"):
            await log.publish_batch([OutgoingMessage("invoices.new", b"x")])


async def test_closing_after_a_fetch_timed_out_does_not_hang(nats_server):
    log = NatsLog(nats_server.url)
    await log.connect()
    await log.ensure_stream(ORDERS)
    consumer = await log.consumer("ORDERS", ConsumerConfig("idle"))
    assert await consumer.fetch(1, timeout=0.3) == []
    with anyio.fail_after(3):  # nats-py's drain alone would wait out its timeout here
        await log.aclose()
    with pytest.raises(LogClosedError):
        await consumer.fetch(1, timeout=0.1)


async def test_a_denied_request_times_out_with_the_servers_reason(tmp_path):
    with LocalNatsServer(tmp_path, extra_config=USERS) as server:
        admin_url = server.url.replace("nats://", "nats://admin:admin-pw@")
        async with NatsLog(admin_url) as admin:
            await admin.ensure_stream(ORDERS)
        producer_url = server.url.replace("nats://", "nats://producer:producer-pw@")
        async with NatsLog(producer_url, request_timeout=1.0) as producer:
            with pytest.raises(MessagingTimeoutError, match=r"(?i)permissions violation"):
                await producer.stream_state("ORDERS")


async def test_wrong_credentials_are_refused_not_unreachable(tmp_path):
    with LocalNatsServer(tmp_path, extra_config=USERS) as server:
        url = server.url.replace("nats://", "nats://admin:wrong-pw@")
        with (
            anyio.fail_after(10),
            pytest.raises(MessagingError, match="check the credentials") as caught,
        ):
            await NatsLog(url).connect()
    assert "wrong-pw" not in str(caught.value)  # a password never reaches a message or a log
    assert "nats://***@127.0.0.1" in str(caught.value)
    assert "wrong-pw" not in repr(NatsLog(url))


async def test_ensure_stream_brings_an_existing_stream_to_the_new_settings(nats_server):
    async with NatsLog(nats_server.url) as log:
        await log.ensure_stream(ORDERS)
        await log.ensure_stream(StreamConfig("ORDERS", ["orders.>"], duplicate_window=30))
    nc = await nats.connect(nats_server.url)
    try:
        info = await nc.jetstream().stream_info("ORDERS")
    finally:
        await nc.close()
    assert info.config.duplicate_window == 30


async def test_a_kv_bucket_with_other_settings_is_reused_with_a_warning(nats_server, caplog):
    async with NatsLog(nats_server.url) as log:
        first = await log.key_value("leases", ttl=5.0)
        await first.put("leader", b"a")
        second = await log.key_value("leases", ttl=9.0)
        assert (await second.get("leader")).value == b"a"
    assert "KV bucket exists with other settings" in caplog.text
