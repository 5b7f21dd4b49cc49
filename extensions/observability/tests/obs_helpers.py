"""A small pipeline-like extension and HTTP helpers for the observability tests.

``PipelineExtension`` stands in for a streaming engine: a source publishes
record batches on the bus, an operator keeps the odd-numbered records and
passes them on, a sink counts them. Each reports through the telemetry it is
handed by the ``dataflare_telemetry`` hook (a no-op probe without it).
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import anyio
import numpy as np

from dataflare.kernel import BatchResult, DeadLetter, Kernel, RecordBatch, hookimpl
from dataflare.observability import Telemetry

RAW, OUT = "pipeline.raw", "pipeline.out"


def batch(start: int, count: int, metadata: dict[str, str] | None = None) -> RecordBatch:
    """``count`` records numbered from ``start`` in column ``n``."""
    numbers = np.arange(start, start + count)
    return RecordBatch.from_arrays(
        values=[b"%d" % n for n in numbers], columns={"n": numbers}, metadata=metadata
    )


def plugin_result() -> BatchResult:
    """What a WASM plugin call returns for 3 records, one of them refused."""
    one = RecordBatch.from_arrays(values=[b"bad"])
    return BatchResult(
        output=batch(0, 2),
        dead_letters=(DeadLetter(1, one, "record-error", 3, "no", "geo"),),
        fuel_used=12_345,
        memory_bytes=65_536,
        calls=2,
        seconds=0.002,
    )


class PipelineExtension:
    """source -> keep-odd -> sink over the kernel's bus, reporting through telemetry."""

    name = "pipeline"

    def __init__(self) -> None:
        self.telemetry: Any = Telemetry()
        self.kernel: Kernel | None = None
        self.sunk_records = 0
        self.sunk_batches = 0
        self.sunk_metadata: list[dict[str, str]] = []

    # Not marked as a hook: the kernel unloads an extension implementing a hook nobody
    # specified, and this one must also run where observability is not installed.
    def dataflare_telemetry(self, telemetry: Any) -> None:
        self.telemetry = telemetry

    @hookimpl
    def dataflare_event_handlers(self, register: Any) -> None:
        self.source = self.telemetry.component("numbers", "source")
        self.operator = self.telemetry.component("keep-odd", "operator")
        self.sink = self.telemetry.component("counter", "sink")
        register(RAW, self._operate)
        register(OUT, self.telemetry.handler("counter", self._sink))

    @hookimpl
    def dataflare_startup(self, kernel: Kernel) -> None:
        self.kernel = kernel

    async def produce(self, data: RecordBatch) -> None:
        """The source: count the batch out and publish it."""
        assert self.kernel is not None
        self.source.sent(len(data), data.nbytes)
        await self.kernel.bus.publish(RAW, data)

    async def _operate(self, message: Any) -> None:
        data: RecordBatch = message.payload
        self.operator.received(len(data), data.nbytes)
        with self.operator.batch(data.metadata) as scope:
            if data.metadata.get("poison"):
                raise ValueError("poisoned batch")
            kept = data.filter(data.column("n") % 2 == 1)
            kept = kept.with_metadata(scope.metadata(data.metadata))
        self.operator.discarded(len(data) - len(kept), "even", intentional=True)
        self.operator.sent(len(kept), kept.nbytes)
        assert self.kernel is not None
        await self.kernel.bus.publish(OUT, kept)

    async def _sink(self, message: Any) -> None:
        data: RecordBatch = message.payload
        self.sink.received(len(data), data.nbytes)
        self.sunk_records += len(data)
        self.sunk_batches += 1
        self.sunk_metadata.append(dict(data.metadata))

    async def wait_for_batches(self, count: int) -> None:
        """Wait (at most 10 s) until the sink has seen ``count`` batches."""
        with anyio.fail_after(10):
            while self.sunk_batches < count:
                await anyio.sleep(0.005)


def http_get(url: str) -> tuple[int, str]:
    """GET over real HTTP: the status and the body (also for 4xx/5xx answers)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


class WebhookReceiver:
    """A real HTTP server on 127.0.0.1 that keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)
        assert not self._thread.is_alive()


class HookedPipeline(PipelineExtension):
    """The same pipeline taking its telemetry through the published hook."""

    name = "hooked-pipeline"

    @hookimpl
    def dataflare_telemetry(self, telemetry: Any) -> None:
        self.telemetry = telemetry


class StoreStandIn:
    """The part of an event store the observability extension reads."""

    def __init__(self, offset: int | None) -> None:
        self.offset = offset

    async def last_offset(self) -> int | None:
        return self.offset


class EventsStandIn:
    """The shape of dataflare-events' extension object: open stores as attributes."""

    name = "events"

    def __init__(self, events: int | None, dead_letters: int | None) -> None:
        self.store = StoreStandIn(events)
        self.dead_letters = SimpleNamespace(store=StoreStandIn(dead_letters))
