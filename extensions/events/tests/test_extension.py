"""Tests for the events extension in a kernel (dataflare.events._extension)."""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from pathlib import Path

import anyio
import pytest
from events_helpers import event

from dataflare.events import (
    EventsExtension,
    EventsSettings,
    FileEventStore,
    JetStreamEventStore,
    MemoryEventStore,
    RetryPolicy,
)
from dataflare.kernel import ConfigError, Event, ExtensionStatus, Kernel, KernelStateError

pytestmark = pytest.mark.anyio
pytest_plugins = ["dataflare.kernel.testing"]

README = Path(__file__).parents[1] / "README.md"


async def test_a_kernel_with_a_memory_store_starts_and_stores():
    """Kernel({"events": {"store": "memory"}}) validates the section and opens a memory store."""
    extension = EventsExtension()
    async with Kernel(
        {"events": {"store": "memory", "concurrency": 2}}, plugins=[extension], discover=False
    ) as kernel:
        assert kernel.config.section("events", EventsSettings).concurrency == 2
        (info,) = kernel.extensions
        assert (info.name, info.status) == ("events", ExtensionStatus.LOADED)
        assert isinstance(extension.store, MemoryEventStore)
        assert await extension.store.append(event(1)) == 1
    with pytest.raises(KernelStateError, match="only while the kernel runs"):
        extension.store  # noqa: B018 -- the property access is what is tested


async def test_a_file_store_keeps_events_across_kernel_restarts(tmp_path):
    """With store: file the events land under path/log and are there after a restart."""
    config = {"events": {"path": str(tmp_path), "fsync": "always"}}
    first = EventsExtension()
    async with Kernel(config, plugins=[first], discover=False):
        assert isinstance(first.store, FileEventStore)
        assert first.store.fsync == "always"
        await first.store.append(event(1))
    second = EventsExtension()
    async with Kernel(config, plugins=[second], discover=False):
        assert await second.store.last_offset() == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dead-letters", "log"]


async def test_the_processor_is_wired_to_the_settings(tmp_path):
    """extension.processor() uses the configured retry and concurrency and keeps its position."""
    config = {
        "events": {
            "path": str(tmp_path),
            "concurrency": 3,
            "retry": {"max_attempts": 2, "initial_backoff": 0},
        }
    }
    extension = EventsExtension()
    async with Kernel(config, plugins=[extension], discover=False):
        processor = extension.processor(name="billing")
        assert (processor.concurrency, processor.retry) == (3, RetryPolicy(2, 0))
        await extension.store.append_many([event(1), event(2)])

        async def poison(event: Event) -> None:
            if event.id == "e-2":
                raise ValueError("nope")

        processor.on(">", poison, name="poison")
        assert (await processor.process_available()).committed == 2
        assert [d.event.id for d in await extension.dead_letters.list()] == ["e-2"]
    assert (tmp_path / "consumers" / "billing.json").exists()


async def test_a_locked_store_fails_startup_and_unloads_the_extension(tmp_path):
    """A dead-letter log open elsewhere fails startup; it is reported and the event log closed."""
    async with FileEventStore(tmp_path / "dead-letters"):
        extension = EventsExtension()
        async with Kernel(
            {"events": {"path": str(tmp_path)}}, plugins=[extension], discover=False
        ) as kernel:
            (info,) = kernel.extensions
            assert info.status is ExtensionStatus.FAILED
            assert "StoreLockedError" in (info.error or "")
    async with FileEventStore(tmp_path / "log") as log:  # released when startup failed
        assert await log.last_offset() is None


def test_a_bad_section_is_a_config_error_with_positions(tmp_path):
    """A kernel loading a file with a bad events: section reports each problem at line:column."""
    path = tmp_path / "dataflare.yaml"
    path.write_text("kernel: {}\nevents:\n  store: postgres\n  retry:\n    max_attempts: 0\n")
    with pytest.raises(ConfigError) as caught:
        Kernel(path, plugins=[EventsExtension()], discover=False).load()
    rendered = [issue.render() for issue in caught.value.issues]
    assert rendered[0].startswith(
        f"{path}:3:10: events.store: expected one of: file, memory or jetstream"
    )
    assert rendered[1].startswith(f"{path}:5:19: events.retry.max_attempts:")
    assert caught.value.exit_code == 78


def test_the_entry_point_names_the_extension():
    """The installed distribution registers `events` in the dataflare.extensions group."""
    (point,) = [p for p in entry_points(group="dataflare.extensions") if p.name == "events"]
    assert point.load() is EventsExtension
    assert point.dist is not None
    assert point.dist.name == "dataflare-events"


def test_the_readme_example_runs(capsys):
    """The README's Python snippets run, and the example prints what it says."""
    snippets = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert len(snippets) == 2  # the hook, then the example
    for snippet in snippets:
        exec(compile(snippet, str(README), "exec"), {"__name__": "readme"})
    printed = capsys.readouterr().out.splitlines()
    assert printed == [
        "charged order 1",
        "charged order 3",
        "committed up to offset 3",
        "dead letter: charge ValueError card declined",
    ]


async def test_shutdown_closes_both_stores(tmp_path):
    """After the kernel stops, the directories are free for another writer."""
    extension = EventsExtension()
    async with Kernel({"events": {"path": str(tmp_path)}}, plugins=[extension], discover=False):
        pass
    with anyio.fail_after(10):
        async with FileEventStore(tmp_path / "log"), FileEventStore(tmp_path / "dead-letters"):
            pass


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # nats-py: asyncio only
async def test_a_jetstream_store_keeps_events_and_positions_across_restarts(nats_server):
    """With store: jetstream the events, dead letters and positions live on the server."""
    config = {"events": {"store": "jetstream", "jetstream": {"servers": [nats_server.url]}}}
    first = EventsExtension()
    async with Kernel(config, plugins=[first], discover=False) as kernel:
        assert isinstance(first.store, JetStreamEventStore)
        await first.store.append_many([event(1), event(2)])
        processor = first.processor(name="billing")
        processor.on(">", _refuse_two, name="refuse")
        assert (await processor.process_available()).committed == 2
        figures = {m.name: m.value for m in kernel.collect_metrics()}
        assert figures["dataflare_nats_published_total"] >= 3  # 2 events, 1 dead letter
        assert figures["dataflare_nats_connected"] == 1
    second = EventsExtension()
    async with Kernel(config, plugins=[second], discover=False):
        assert await second.store.last_offset() == 2
        assert [d.event.id for d in await second.dead_letters.list()] == ["e-2"]
        await second.store.append(event(3))
        again = second.processor(name="billing")
        seen: list[str] = []
        again.on(">", lambda e: _note(seen, e), name="note")
        assert (await again.process_available()).committed == 3
    assert seen == ["e-3"]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # nats-py: asyncio only
async def test_an_unreachable_server_fails_startup_naming_the_fix():
    """A jetstream store with no server answering is reported, and the kernel carries on."""
    config = {"events": {"store": "jetstream", "jetstream": {"servers": ["nats://127.0.0.1:9"]}}}
    extension = EventsExtension()
    async with Kernel(config, plugins=[extension], discover=False) as kernel:
        (info,) = kernel.extensions
        assert info.status is ExtensionStatus.FAILED
        assert "cannot reach NATS at nats://127.0.0.1:9" in (info.error or "")
        assert "dataflare dev up" in (info.error or "")


async def _refuse_two(event: Event) -> None:
    if event.id == "e-2":
        raise ValueError("nope")


async def _note(seen: list[str], event: Event) -> None:
    seen.append(event.id)
