"""The events extension watched by observability: handler outcomes and store offsets on /metrics."""

from __future__ import annotations

import re
import urllib.request

import anyio
import pytest

from dataflare.events import EventHandler
from dataflare.kernel import Event, Kernel, hookimpl

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Billing:
    name = "billing"

    @hookimpl
    def dataflare_events_handlers(self, register):
        register(EventHandler("order.*", charge, name="charge", consumer="billing"))


async def charge(event: Event) -> None:
    if event.data["n"] % 3 == 0:
        raise ValueError("card declined")


def scrape(url: str) -> str:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as answer:
        return answer.read().decode()


def sample(text: str, pattern: str) -> float:
    found = re.search(rf"^{pattern} (\S+)$", text, flags=re.MULTILINE)
    assert found is not None, f"no sample matches {pattern}"
    return float(found[1])


async def test_handled_events_and_store_offsets_are_exported(tmp_path):
    config = {
        "events": {"path": str(tmp_path), "retry": {"max_attempts": 2, "initial_backoff": 0}},
        "observability": {"metrics": {"port": 0}, "tracing": {"exporter": "none"}},
    }
    async with Kernel(config, plugins=[Billing()]) as kernel:
        events = kernel.pm.get_plugin("events")
        await events.store.append_many(
            [Event.create("order.created", {"n": n}, source="shop") for n in range(1, 10)]
        )
        statistics = await events.processor(name="billing").process_available()
        url = kernel.pm.get_plugin("observability").server_url
        text = await anyio.to_thread.run_sync(scrape, url)
    assert (statistics.handled, statistics.dead_lettered) == (9, 3)
    ok = sample(text, r'dataflare_events_handled_total\{handler="charge",outcome="ok"\}')
    failed = sample(text, r'dataflare_events_handled_total\{handler="charge",outcome="error"\}')
    assert (ok, failed) == (6, 6)  # 3 poison events, 2 attempts each
    offsets = re.findall(r"^dataflare_event_store_last_offset\{[^}]*\} (\S+)$", text, re.MULTILINE)
    assert sorted(float(o) for o in offsets) == [3.0, 9.0]  # dead letters, events
