"""The ``observability`` extension: metrics, traces, trace-aware logs and alerts for a kernel.

Registered through the ``dataflare.extensions`` entry point as ``observability``.
It reads ``observability:``, publishes the ``dataflare_telemetry`` hook, hands
every extension implementing it a telemetry object, and while the kernel runs
serves ``/metrics``, ``/health`` and ``/ready``, exports spans, stamps log lines
with trace ids and evaluates alert rules. Nothing else needs to change to be
observed, and removing it leaves no trace: other extensions keep their no-op probes.

Example::

    extension = ObservabilityExtension()
    async with Kernel({"observability": {"metrics": {"port": 0}}}, plugins=[extension]):
        print(extension.server_url)   # http://127.0.0.1:PORT
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
from opentelemetry import trace
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from prometheus_client import CollectorRegistry

from dataflare.kernel import Kernel, KernelStateError, hookimpl
from dataflare.observability import _logging, hookspecs
from dataflare.observability._catalogue import MetricCatalogue
from dataflare.observability._collectors import KernelCollector, Snapshot
from dataflare.observability._components import ComponentCollector
from dataflare.observability._notify import Alerting
from dataflare.observability._server import AdminServer
from dataflare.observability._settings import ObservabilitySettings
from dataflare.observability._stores import event_store_samples
from dataflare.observability._telemetry import PrometheusTelemetry
from dataflare.observability._tracing import build_exporter, build_provider

__all__ = ("ObservabilityExtension",)

log = logging.getLogger("dataflare.observability")


class ObservabilityExtension:
    """Adds ``observability:``, the telemetry hook, the metrics endpoint, tracing and alerts.

    Args:
        clock: Seconds for alert durations; ``time.time`` when ``None``. Tests pass
            a clock they step.
    """

    name = "observability"
    """The extension's name when registered in process (the entry point's name too)."""

    def __init__(self, *, clock: Callable[[], float] | None = None) -> None:
        self.settings = ObservabilitySettings()
        self.registry = CollectorRegistry()
        self.metrics = MetricCatalogue(self.registry)
        self.provider: TracerProvider = build_provider(self.settings.tracing)
        self.telemetry = PrometheusTelemetry(self.metrics, self._tracer())
        self.registry.register(ComponentCollector(self.telemetry.counts))
        self._clock = clock
        self._kernel: Kernel | None = None
        self._collector: KernelCollector | None = None
        self._server: AdminServer | None = None
        self._alerting: Alerting | None = None
        self._processor: SpanProcessor | None = None
        self._loop_token: Any = None
        self._loop_thread: int | None = None
        self._ready = False

    # --- hooks ------------------------------------------------------------------------

    @hookimpl
    def dataflare_add_hookspecs(self, pluginmanager: Any) -> None:
        """Publish ``dataflare_telemetry``."""
        pluginmanager.add_hookspecs(hookspecs)

    @hookimpl
    def dataflare_config_sections(self, register: Any) -> None:
        """Register ``observability:`` with :class:`ObservabilitySettings`."""
        register("observability", ObservabilitySettings)

    @hookimpl(trylast=True)
    def dataflare_configure(self, kernel: Kernel, config: Mapping[str, Any]) -> None:
        """Keep the settings and hand the telemetry to every extension that asks.

        Last of all configure hooks, so the others are configured when they get it.
        """
        self._kernel = kernel
        self.settings = config["observability"]
        self.provider = build_provider(self.settings.tracing)
        self.telemetry.tracer = self._tracer()
        self.telemetry.sample_ratio = self.settings.tracing.sample_ratio
        takers = [(impl.plugin_name, impl.function) for impl in self._hook_impls(kernel)]
        hooked = {id(impl.plugin) for impl in self._hook_impls(kernel)}
        # The same method, undecorated: the kernel does not yet honour pluggy's
        # optionalhook, so a component that must also load without this extension
        # installed leaves it unmarked (see the README), and is found by name.
        for name, plugin in kernel.pm.list_name_plugin():
            method = getattr(plugin, "dataflare_telemetry", None)
            if id(plugin) not in hooked and callable(method):
                takers.append((name, method))
        for name, take in takers:
            try:
                take(telemetry=self.telemetry)
            except Exception as exc:
                # One extension's bad hook must not cost the others their telemetry.
                log.error(
                    "extension %s failed to take its telemetry: %s",
                    name,
                    exc,
                    extra={"extension": name},
                    exc_info=exc,
                )

    @staticmethod
    def _hook_impls(kernel: Kernel) -> list[Any]:
        caller = getattr(kernel.pm.hook, "dataflare_telemetry", None)
        return list(caller.get_hookimpls()) if caller is not None else []

    @hookimpl
    def dataflare_cli_commands(self, register: Any) -> None:
        """Add ``dataflare observability export`` and ``dataflare top``."""
        from dataflare.observability._cli import observability, top

        register(observability)
        register(top)

    @hookimpl
    def dataflare_startup(self, kernel: Kernel) -> None:
        """Start exporting spans, serve ``/metrics`` and start alerting."""
        self._kernel = kernel
        self._loop_token = anyio.lowlevel.current_token()
        self._loop_thread = threading.get_ident()
        settings = self.settings
        exporter = build_exporter(settings.tracing)
        if exporter is not None:
            # Batched, so the pipeline never waits on an exporter's I/O.
            self._processor = BatchSpanProcessor(exporter)
            self.provider.add_span_processor(self._processor)
        if self._collector is None:
            self._collector = KernelCollector(self._snapshot)
            self.registry.register(self._collector)
        if settings.logging.trace_ids:
            _logging.install()
        if settings.metrics.enabled:
            self._server = AdminServer(
                self.registry,
                host=settings.metrics.host,
                port=settings.metrics.port,
                ready=lambda: self._ready,
            )
            self._server.start()
            log.info("serving metrics", extra={"url": f"{self._server.url}/metrics"})
        self._alerting = Alerting(
            settings.alerting, self.registry, self.metrics, clock=self._clock or time.time
        )
        self._alerting.start()
        self._ready = True

    @hookimpl
    async def dataflare_shutdown(self) -> None:
        """Stop alerting and the endpoint, flush spans, stop stamping logs."""
        self._ready = False
        alerting, self._alerting = self._alerting, None
        server, self._server = self._server, None
        processor, self._processor = self._processor, None
        try:
            # Joined from a worker thread: a scrape or an evaluation in progress may be
            # waiting to read kernel state on this loop, which must stay free to answer.
            if alerting is not None:
                await anyio.to_thread.run_sync(alerting.stop)
            if server is not None:
                await anyio.to_thread.run_sync(server.stop)
        finally:
            if processor is not None:
                # Flushes what is queued, then stops its thread.
                await anyio.to_thread.run_sync(processor.shutdown)
            _logging.uninstall()

    # --- while running ----------------------------------------------------------------

    @property
    def server_url(self) -> str:
        """``http://host:port`` of the metrics endpoint; only while the kernel runs."""
        if self._server is None:
            raise KernelStateError(
                "the metrics endpoint serves only while the kernel runs with "
                "observability.metrics.enabled: true"
            )
        return self._server.url

    @property
    def alerting(self) -> Alerting:
        """The alert rules' evaluation; only while the kernel runs."""
        if self._alerting is None:
            raise KernelStateError("alerting runs only while the kernel runs")
        return self._alerting

    def _tracer(self) -> trace.Tracer | None:
        # With nowhere to export, batches get no span at all: the cheapest path.
        if self.settings.tracing.exporter == "none":
            return None
        return self.provider.get_tracer("dataflare.observability")

    def _snapshot(self) -> Snapshot:
        # Kernel state belongs to its event loop; read it there unless already on it.
        # On the loop itself (a caller reading values synchronously) the event stores,
        # which must be awaited, are left out.
        if self._loop_token is None or threading.get_ident() == self._loop_thread:
            return self._kernel_snapshot()
        return anyio.from_thread.run(self._kernel_snapshot_async, token=self._loop_token)

    def _kernel_snapshot(self) -> Snapshot:
        kernel = self._kernel
        if kernel is None:
            return None, []
        try:
            bus = kernel.bus.statistics()
        except KernelStateError:
            bus = None
        return bus, kernel.collect_metrics()

    async def _kernel_snapshot_async(self) -> Snapshot:
        bus, samples = self._kernel_snapshot()
        if self._kernel is not None:
            samples += await event_store_samples(self._kernel.pm.list_name_plugin())
        return bus, samples
