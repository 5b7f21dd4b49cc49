"""The ``events`` extension: the ``events:`` config section and the store's lifecycle.

Registered through the ``dataflare.extensions`` entry point as ``events``. It
validates ``events:``, opens the event store (and the dead-letter store) when the
kernel starts and closes them when it stops; :meth:`EventsExtension.processor`
builds a processor wired to them with the configured retry and concurrency.

Example::

    extension = EventsExtension()
    async with Kernel({"events": {"store": "memory"}}, plugins=[extension]) as kernel:
        await extension.store.append(Event.create("order.created", {}, source="shop"))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pluggy

from dataflare.events import hookspecs
from dataflare.events._dlq import StoreDeadLetterSink
from dataflare.events._positions import FilePositionStore, MemoryPositionStore, PositionStore
from dataflare.events._positions_kv import KeyValuePositionStore
from dataflare.events._processor import EventProcessor
from dataflare.events._router import handler_name
from dataflare.events._settings import EventsSettings
from dataflare.events._store_api import EventStore
from dataflare.events._store_file import FileEventStore
from dataflare.events._store_jetstream import JetStreamEventStore
from dataflare.events._store_memory import MemoryEventStore
from dataflare.events.hookspecs import EventHandler
from dataflare.kernel import Kernel, KernelStateError, hookimpl
from dataflare.kernel.messaging import MessageLog, open_log

__all__ = ("EventsExtension",)


class EventsExtension:
    """Adds the ``events:`` section and opens the event store while the kernel runs."""

    name = "events"
    """The extension's name when registered in process (the entry point's name too)."""

    def __init__(self) -> None:
        self.settings = EventsSettings()
        self._store: EventStore | None = None
        self._dead_letters: StoreDeadLetterSink | None = None
        self._positions: PositionStore | None = None
        self._log: MessageLog | None = None
        self._kernel: Kernel | None = None

    telemetry: Any = None
    """What the observability extension handed over, when it is installed."""

    @hookimpl(optionalhook=True)
    def dataflare_telemetry(self, telemetry: Any) -> None:
        """Keep observability's telemetry: handlers are then timed, counted and traced."""
        self.telemetry = telemetry

    @hookimpl
    def dataflare_add_hookspecs(self, pluginmanager: pluggy.PluginManager) -> None:
        """Publish ``dataflare_events_handlers``."""
        pluginmanager.add_hookspecs(hookspecs)

    @hookimpl
    def dataflare_cli_commands(self, register: Any) -> None:
        """Add ``dataflare events``."""
        from dataflare.events._cli import events  # click is imported only for the CLI

        register(events)

    @hookimpl
    def dataflare_metrics(self, register: Any) -> None:
        """Report the JetStream connection's figures (published, retries, reconnects)."""
        register(lambda: [] if self._log is None else self._log.metrics())

    @hookimpl
    def dataflare_config_sections(self, register: Any) -> None:
        """Register ``events:`` with :class:`EventsSettings`."""
        register("events", EventsSettings)

    @hookimpl
    def dataflare_configure(self, config: Mapping[str, Any]) -> None:
        """Keep the validated ``events:`` settings."""
        self.settings = config["events"]

    @hookimpl
    async def dataflare_startup(self, kernel: Kernel) -> None:
        """Open the event store and the dead-letter store (recovering a torn tail)."""
        self._kernel = kernel
        settings = self.settings
        if settings.store == "jetstream":
            await self._open_jetstream()
            return
        if settings.store == "memory":
            store: EventStore = MemoryEventStore()
            letters: EventStore = MemoryEventStore()
            self._positions = MemoryPositionStore()
        else:
            base = settings.directory()
            store = FileEventStore(base / "log", fsync=settings.fsync)
            letters = FileEventStore(base / "dead-letters", fsync=settings.fsync)
            self._positions = FilePositionStore(base / "consumers")
        await store.open()
        try:
            await letters.open()
        except BaseException:
            await store.aclose()
            raise
        self._store, self._dead_letters = store, StoreDeadLetterSink(letters)

    async def _open_jetstream(self) -> None:
        js = self.settings.jetstream
        log = open_log(js.servers)
        await log.__aenter__()
        try:
            store, letters = (
                JetStreamEventStore(
                    log,
                    stream=stream,
                    subject_prefix=prefix,
                    replicas=js.replicas,
                    duplicate_window=js.duplicate_window,
                    max_age=max_age,
                )
                for stream, prefix, max_age in (
                    (js.stream, js.stream.lower(), js.max_age),
                    # Dead letters wait for a person, so they do not age out.
                    (f"{js.stream}_DLQ", f"{js.stream.lower()}_dlq", None),
                )
            )
            await store.open()
            await letters.open()
        except BaseException:
            await log.aclose()
            raise
        self._log = log
        self._positions = KeyValuePositionStore(
            log, bucket=f"{js.stream}_POSITIONS", replicas=js.replicas
        )
        self._store, self._dead_letters = store, StoreDeadLetterSink(letters)

    @hookimpl
    async def dataflare_shutdown(self) -> None:
        """Close both stores (waiting for an append in progress), then the connection."""
        store, letters, log = self._store, self._dead_letters, self._log
        self._store = self._dead_letters = self._log = None
        try:
            if store is not None:
                await store.aclose()
        finally:
            try:
                if letters is not None:
                    await letters.store.aclose()
            finally:
                if log is not None:
                    await log.aclose()

    @property
    def store(self) -> EventStore:
        """The event store; open while the kernel runs."""
        if self._store is None:
            raise KernelStateError(
                "the event store is open only while the kernel runs: use "
                "'async with Kernel(...)' before touching extension.store"
            )
        return self._store

    @property
    def dead_letters(self) -> StoreDeadLetterSink:
        """The dead-letter sink; open while the kernel runs."""
        if self._dead_letters is None:
            raise KernelStateError("the dead-letter store is open only while the kernel runs")
        return self._dead_letters

    def processor(self, *, name: str = "default") -> EventProcessor:
        """Build a processor over the store with the configured retry and concurrency.

        Its position is kept under ``path/consumers`` (in memory for a memory store,
        in a KV bucket for JetStream), its dead letters go to :attr:`dead_letters`, and
        the handlers given through ``dataflare_events_handlers`` for this consumer are
        attached.

        Args:
            name: The consumer's name, which keys its committed position.
        """
        processor = EventProcessor(
            self.store,
            dead_letters=self.dead_letters,
            concurrency=self.settings.concurrency,
            retry=self.settings.retry,
            positions=self._positions,
            name=name,
        )
        contributed = (
            self._kernel.contributions("dataflare_events_handlers") if self._kernel else []
        )
        for _, given in contributed:
            if isinstance(given, EventHandler) and given.consumer == name:
                label = given.name or handler_name(given.handler)
                handler = given.handler
                if self.telemetry is not None:
                    handler = self.telemetry.handler(label, handler)
                processor.on(given.pattern, handler, metadata=given.metadata, name=label)
        return processor
