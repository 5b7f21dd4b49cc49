"""Trace context in headers, batches and events (dataflare.observability._propagation)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio
import pytest
from obs_helpers import batch
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

from dataflare.kernel import Event
from dataflare.kernel.messaging import StreamConfig, open_log
from dataflare.observability import (
    JsonLinesSpanExporter,
    batch_with_trace,
    context_from_batch,
    context_from_event,
    event_with_trace,
    extract,
    inject,
)

pytest_plugins = ["dataflare.kernel.testing"]

CONSUMER = Path(__file__).with_name("trace_consumer.py")


def spans_in(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # nats-py runs on asyncio only
async def test_a_trace_started_here_continues_in_another_process_over_nats(
    nats_server, tmp_path, anyio_backend
):
    """Process B's spans join process A's trace: via NATS headers and via the event."""
    producer_spans, consumer_spans = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(producer_spans)))
    tracer = provider.get_tracer("producer")
    async with open_log(nats_server.url) as log:
        await log.ensure_stream(StreamConfig("ORDERS", ["orders.>"]))
        with tracer.start_as_current_span("send orders.new", kind=SpanKind.PRODUCER) as span:
            event = event_with_trace(Event.create("order.created", {"id": 7}, source="shop"))
            await log.publish("orders.new", event.to_json(), headers=inject({}))
            sent = span.get_span_context()
    provider.shutdown()
    with anyio.fail_after(60):
        done = await anyio.run_process(
            [sys.executable, str(CONSUMER), nats_server.url, str(consumer_spans)], check=False
        )
    assert done.returncode == 0, done.stderr.decode()
    trace_id, span_id = f"0x{sent.trace_id:032x}", f"0x{sent.span_id:016x}"
    (producer,) = spans_in(producer_spans)
    assert producer["context"]["trace_id"] == trace_id
    via_headers, via_event = spans_in(consumer_spans)
    assert via_headers["name"] == "process orders.new"
    assert via_headers["context"]["trace_id"] == trace_id
    assert via_headers["parent_id"] == span_id
    assert via_event["name"] == "handle order.created"
    assert via_event["context"]["trace_id"] == trace_id
    assert via_event["parent_id"] == span_id
    assert event.trace_id == trace_id.removeprefix("0x")


def test_batch_metadata_carries_the_context_and_keeps_other_keys():
    """batch_with_trace adds traceparent beside existing metadata; extract reads it back."""
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("s") as span:
        traced = batch_with_trace(batch(0, 3, {"origin": "test"}))
    assert traced.metadata["origin"] == "test"
    context = context_from_batch(traced)
    assert context is not None
    from opentelemetry import trace

    remote = trace.get_current_span(context).get_span_context()
    assert (remote.trace_id, remote.span_id) == (
        span.get_span_context().trace_id,
        span.get_span_context().span_id,
    )
    assert remote.is_remote


def test_without_a_span_nothing_is_added_or_extracted():
    """Outside a span the carriers stay as they were and extract finds no context."""
    plain = batch(0, 2, {"k": "v"})
    assert batch_with_trace(plain) is plain
    assert inject({}) == {}
    assert extract({"traceparent": "garbage"}) is None
    assert extract(None) is None
    event = Event.create("order.created", {}, source="s")
    assert event_with_trace(event) is event
    assert context_from_event(event) is None


def test_an_event_with_only_a_trace_id_joins_that_trace():
    """An event written elsewhere with just trace_id still continues its trace."""
    from opentelemetry import trace

    event = Event.create(
        "order.created", {}, source="s", trace_id="4bf92f3577b34da6a3ce929d0e0e4736"
    )
    context = context_from_event(event)
    assert context is not None
    joined = trace.get_current_span(context).get_span_context()
    assert f"{joined.trace_id:032x}" == event.trace_id
