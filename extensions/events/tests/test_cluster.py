"""The JetStream event store on a 3-node cluster: SIGKILL the stream leader while appending."""

from __future__ import annotations

import anyio
import pytest
from events_helpers import event

from dataflare.events import JetStreamEventStore
from dataflare.kernel.messaging import NatsLog

pytest_plugins = ["dataflare.kernel.testing"]
pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # nats-py runs on asyncio only


async def test_killing_the_leader_while_appending_loses_no_acknowledged_event(nats_cluster):
    acked: dict[str, int] = {}
    batch, kill_after = 20, 200
    log = NatsLog(nats_cluster.urls, request_timeout=2.0, retry_budget=20.0)
    with anyio.fail_after(40):  # an election takes 4-9 s; the whole test stays bounded
        async with log, JetStreamEventStore(log, replicas=3) as store:
            leader = await nats_cluster.stream_leader("EVENTS")
            killed_at = None
            for start in range(1, 10_000, batch):  # bounded; stops 200 events past the kill
                events = [event(n) for n in range(start, start + batch)]
                offsets = await store.append_many(events)
                acked.update((e.id, offset) for e, offset in zip(events, offsets, strict=True))
                if killed_at is None and len(acked) >= kill_after:
                    nats_cluster.server(leader).kill()
                    killed_at = len(acked)
                elif killed_at is not None and len(acked) >= killed_at + kill_after:
                    break
            assert killed_at is not None
            stored = {s.event.id: s.offset async for s in store.read()}
            new_leader = await nats_cluster.stream_leader("EVENTS")
    assert new_leader != leader
    assert len(acked) >= 2 * kill_after, "appending did not resume after the kill"
    assert acked.items() <= stored.items(), "an acknowledged event is missing or moved"
    assert sorted(stored.values()) == list(range(1, len(stored) + 1)), "an event was stored twice"
