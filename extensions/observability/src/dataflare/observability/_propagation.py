"""W3C trace context in the places DataFlare carries metadata: headers, batches, events.

A span started in one process continues in another when its context travels
with the data: as ``traceparent``/``tracestate`` in NATS or bus headers, in a
record batch's metadata, and in an event (``trace_id`` plus a ``traceparent``
metadata entry, so the exact parent span survives too).

Example::

    headers = inject({})                       # inside a span: {"traceparent": "00-..."}
    await log.publish("orders.new", data, headers=headers)
    ...
    with tracer.start_as_current_span("process orders", context=extract(msg.headers)):
        ...
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping

import attrs
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from dataflare.kernel import Event, RecordBatch

__all__ = (
    "TRACEPARENT",
    "batch_with_trace",
    "context_from_batch",
    "context_from_event",
    "event_with_trace",
    "extract",
    "inject",
)

TRACEPARENT = "traceparent"
_PROPAGATOR = TraceContextTextMapPropagator()


def inject(carrier: dict[str, str], context: Context | None = None) -> dict[str, str]:
    """Add the current (or given) span's ``traceparent`` and ``tracestate`` to ``carrier``.

    Outside a recording span nothing is added.

    Returns:
        ``carrier``, for chaining.
    """
    _PROPAGATOR.inject(carrier, context=context)
    return carrier


def extract(carrier: Mapping[str, str] | None) -> Context | None:
    """The remote context in ``carrier``, or ``None`` when it carries none."""
    if not carrier or TRACEPARENT not in carrier:
        return None
    context = _PROPAGATOR.extract(dict(carrier))
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def batch_with_trace(batch: RecordBatch) -> RecordBatch:
    """Return ``batch`` with the current span's context in its metadata."""
    carrier = inject(dict(batch.metadata))
    return batch if carrier == dict(batch.metadata) else batch.with_metadata(carrier)


def context_from_batch(batch: RecordBatch) -> Context | None:
    """The context a batch's metadata carries, or ``None``."""
    return extract(batch.metadata)


def event_with_trace(event: Event) -> Event:
    """Return ``event`` carrying the current span: its ``trace_id`` and a ``traceparent``."""
    span = trace.get_current_span().get_span_context()
    if not span.is_valid:
        return event
    metadata = inject(dict(event.metadata))
    return attrs.evolve(event, trace_id=trace.format_trace_id(span.trace_id), metadata=metadata)


def context_from_event(event: Event) -> Context | None:
    """The context an event carries: its ``traceparent``, else just its ``trace_id``.

    An event written elsewhere may have only a trace id; the span then joins that
    trace under a synthetic remote parent, which is all a trace id can say.
    """
    context = extract(event.metadata)
    if context is not None or event.trace_id is None:
        return context
    parent = trace.SpanContext(
        trace_id=int(event.trace_id, 16),
        span_id=int.from_bytes(secrets.token_bytes(8), "big") or 1,
        is_remote=True,
        trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
    )
    return trace.set_span_in_context(trace.NonRecordingSpan(parent))
