"""The telemetry the extension hands to components: Prometheus counts, OpenTelemetry spans.

A probe's counts are plain numbers (exported by ``_components``) and its
histogram child is bound once, so a report on the hot path is an addition; a
batch span is one span per batch, never per record, and with tracing off
there is none at all.
Span names and attributes follow the OpenTelemetry messaging conventions:
``process <component>`` with ``messaging.operation.type = process``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from dataflare.kernel import Event
from dataflare.observability._catalogue import MetricCatalogue
from dataflare.observability._components import ComponentCounts
from dataflare.observability._contract import BatchScope, ComponentProbe, Handler, Telemetry
from dataflare.observability._propagation import TRACEPARENT, context_from_event, extract, inject

__all__ = ("PrometheusTelemetry",)

_SYSTEM = "dataflare"


class _TracedBatch(BatchScope):
    def __init__(self, probe: _Probe, metadata: Mapping[str, str] | None) -> None:
        self._probe = probe
        self._metadata = metadata
        self._span: trace.Span = trace.INVALID_SPAN
        self._token: object = None
        self._started = 0.0

    def __enter__(self) -> _TracedBatch:
        probe = self._probe
        assert probe.tracer is not None  # only made when tracing is on
        self._span = span = probe.tracer.start_span(
            probe.span_name,
            context=extract(self._metadata),
            kind=SpanKind.CONSUMER,
            attributes=probe.span_attributes,
        )
        # attach/detach by hand: trace.use_span does the same with more per-call work,
        # and this runs once per batch.
        self._token = otel_context.attach(trace.set_span_in_context(span))
        self._started = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._probe.latency.observe(time.perf_counter() - self._started)
        span = self._span
        if exc is not None and isinstance(exc, Exception):
            self._probe.error(type(exc).__name__, "process")
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        otel_context.detach(self._token)  # type: ignore[arg-type]
        span.end()

    def metadata(self, metadata: Mapping[str, str] | None = None) -> dict[str, str]:
        carrier = dict(metadata or {})
        return inject(carrier, trace.set_span_in_context(self._span))


class _TimedBatch(BatchScope):
    """Times a batch and counts its failure, without a span.

    Used when tracing is off and for batches not sampled. The incoming trace
    context passes through unchanged (or, for a new trace not sampled, a
    ``traceparent`` saying so), so downstream processes make the same decision.
    """

    def __init__(self, probe: _Probe, traceparent: str | None = None) -> None:
        self._probe = probe
        self._traceparent = traceparent
        self._started = 0.0

    def metadata(self, metadata: Mapping[str, str] | None = None) -> dict[str, str]:
        carrier = dict(metadata or {})
        if self._traceparent is not None:
            carrier[TRACEPARENT] = self._traceparent
        return carrier

    def __enter__(self) -> _TimedBatch:
        self._started = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._probe.latency.observe(time.perf_counter() - self._started)
        if exc is not None and isinstance(exc, Exception):
            self._probe.error(type(exc).__name__, "process")


class _Probe(ComponentProbe):
    def __init__(
        self,
        metrics: MetricCatalogue,
        tracer: trace.Tracer | None,
        counts: ComponentCounts,
        sample_ratio: float = 1.0,
    ) -> None:
        self.metrics = metrics
        self.tracer = tracer
        self.sample_ratio = sample_ratio
        self.counts = counts
        self.name, self.kind = counts.component, counts.kind
        self.latency = metrics.processing_seconds.labels(self.name, self.kind)
        # Built once: the attributes are the same for every batch of this component.
        self.span_name = f"process {self.name}"
        self.span_attributes = {
            "messaging.system": _SYSTEM,
            "messaging.operation.type": "process",
            "messaging.destination.name": self.name,
        }

    def received(self, records: int, nbytes: int = 0) -> None:
        counts = self.counts
        counts.received_records += records
        counts.received_bytes += nbytes

    def sent(self, records: int, nbytes: int = 0) -> None:
        counts = self.counts
        counts.sent_records += records
        counts.sent_bytes += nbytes

    def discarded(self, records: int, reason: str, *, intentional: bool) -> None:
        key = (reason, "true" if intentional else "false")
        self.counts.discarded[key] = self.counts.discarded.get(key, 0) + records

    def error(self, error_type: str, stage: str) -> None:
        key = (error_type, stage)
        self.counts.errors[key] = self.counts.errors.get(key, 0) + 1

    def backpressure(self, ratio: float) -> None:
        self.counts.backpressure = min(max(ratio, 0.0), 1.0)

    def batch(self, metadata: Mapping[str, str] | None = None) -> BatchScope:
        if self.tracer is None:
            return _TimedBatch(self)
        parent = metadata.get(TRACEPARENT) if metadata else None
        # Decided here, before the SDK, because even an unsampled SDK span costs
        # tens of microseconds; the decision follows the parent's, as ParentBased does.
        if parent is None:
            if self.sample_ratio < 1.0 and random.random() >= self.sample_ratio:
                return _TimedBatch(self, _unsampled_traceparent())
        elif parent.endswith("-00"):
            return _TimedBatch(self)
        return _TracedBatch(self, metadata)

    def plugin_result(self, plugin: str, result: Any) -> None:
        seconds = float(result.seconds)
        self.metrics.plugin_fuel.labels(plugin).observe(result.fuel_used)
        self.metrics.plugin_seconds.labels(plugin).observe(seconds)
        self.metrics.plugin_memory.labels(plugin).set(result.memory_bytes)
        for letter in result.dead_letters:
            self.metrics.plugin_dead_letters.labels(plugin, letter.failure).inc()
        if self.tracer is None or random.random() >= self.sample_ratio:
            return  # sampled like batches: even an unsampled SDK span costs microseconds
        # The call is over: record its span after the fact with its real start and end.
        end = time.time_ns()
        span = self.tracer.start_span(
            f"process {plugin}",
            kind=SpanKind.INTERNAL,
            start_time=end - int(seconds * 1e9),
            attributes={
                "messaging.system": _SYSTEM,
                "messaging.operation.type": "process",
                "dataflare.plugin.name": plugin,
                "dataflare.plugin.fuel": int(result.fuel_used),
                "dataflare.plugin.calls": int(result.calls),
                "dataflare.plugin.dead_letters": len(result.dead_letters),
            },
        )
        span.end(end_time=end)


def _unsampled_traceparent() -> str:
    # A new trace this process chose not to record: downstream should not either.
    return f"00-{random.getrandbits(128) or 1:032x}-{random.getrandbits(64) or 1:016x}-00"


def _message_context(message: Any) -> otel_context.Context | None:
    # Headers first (set by whoever published); else the event the message carries.
    context = extract(getattr(message, "headers", None))
    payload = getattr(message, "payload", None)
    if context is None and isinstance(payload, Event):
        context = context_from_event(payload)
    return context


class PrometheusTelemetry(Telemetry):
    """Counts for Prometheus and traces with ``tracer``.

    Args:
        metrics: The instruments (latency histograms, plugins, events).
        tracer: Where spans start; ``None`` turns batch spans off (the
            ``none`` exporter), leaving batch metadata as it came.
        sample_ratio: The share of new traces a batch span is recorded for.
    """

    def __init__(
        self,
        metrics: MetricCatalogue,
        tracer: trace.Tracer | None,
        *,
        sample_ratio: float = 1.0,
    ) -> None:
        self.metrics = metrics
        self.tracer = tracer
        self.sample_ratio = sample_ratio
        self._probes: dict[tuple[str, str], _Probe] = {}

    def component(self, name: str, kind: str) -> ComponentProbe:
        key = (name, kind)
        if key not in self._probes:
            self._probes[key] = _Probe(
                self.metrics, self.tracer, ComponentCounts(name, kind), self.sample_ratio
            )
        return self._probes[key]

    def counts(self) -> list[ComponentCounts]:
        """The counts of every component handed a probe."""
        return [probe.counts for probe in list(self._probes.values())]

    def handler(self, name: str, handler: Handler) -> Handler:
        metrics, tracer = self.metrics, self.tracer or trace.NoOpTracer()
        seconds = metrics.event_seconds.labels(name)
        ok, failed = (
            metrics.events_handled.labels(name, "ok"),
            metrics.events_handled.labels(name, "error"),
        )

        async def traced(message: Any) -> None:
            subject = str(getattr(message, "subject", name))
            with tracer.start_as_current_span(
                f"process {subject}",
                context=_message_context(message),
                kind=SpanKind.CONSUMER,
                attributes={
                    "messaging.system": _SYSTEM,
                    "messaging.operation.type": "process",
                    "messaging.destination.name": subject,
                    "dataflare.handler": name,
                },
            ) as span:
                started = time.perf_counter()
                try:
                    await handler(message)
                except Exception as exc:
                    failed.inc()
                    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                    raise
                else:
                    ok.inc()
                finally:
                    seconds.observe(time.perf_counter() - started)

        return traced

    def inject(self, carrier: dict[str, str]) -> dict[str, str]:
        return inject(carrier)
