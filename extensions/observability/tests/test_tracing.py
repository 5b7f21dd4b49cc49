"""Exporters, spans for plugin calls and event handlers, trace ids in log records."""

from __future__ import annotations

import importlib.util
import io
import json
import logging

import anyio
import pytest
from obs_helpers import plugin_result
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from prometheus_client import CollectorRegistry

from dataflare.kernel import Event, Message
from dataflare.observability import (
    JsonLinesSpanExporter,
    MetricCatalogue,
    ObservabilityError,
    PrometheusTelemetry,
    TracingSettings,
    event_with_trace,
    inject,
    read_value,
)
from dataflare.observability import _logging as trace_logging
from dataflare.observability._tracing import build_exporter, build_provider


def traced(out: io.StringIO) -> PrometheusTelemetry:
    provider = build_provider(TracingSettings(exporter="console", sample_ratio=1.0))
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(out)))
    return PrometheusTelemetry(MetricCatalogue(CollectorRegistry()), provider.get_tracer("t"))


def test_a_plugin_call_is_a_span_with_its_fuel_and_the_histograms_count_it():
    out = io.StringIO()
    telemetry = traced(out)
    telemetry.component("enrich", "operator").plugin_result("geo", plugin_result())
    (span,) = [json.loads(line) for line in out.getvalue().splitlines()]
    assert span["name"] == "process geo"
    assert span["attributes"]["dataflare.plugin.fuel"] == 12_345
    assert (span["end_time"] - span["start_time"]) == pytest.approx(2_000_000, rel=0.01)
    registry = telemetry.metrics.registry
    assert read_value(registry, "dataflare_plugin_batch_seconds_count", {"plugin": "geo"}) == 1


@pytest.mark.anyio
async def test_an_event_handler_span_continues_the_publishers_trace():
    """telemetry.handler() extracts traceparent from the message headers."""
    out = io.StringIO()
    telemetry = traced(out)
    tracer = telemetry.tracer
    assert tracer is not None
    seen: list[str] = []

    async def handle(message: Message) -> None:
        seen.append(message.subject)

    wrapped = telemetry.handler("orders", handle)
    with tracer.start_as_current_span("send orders.new") as parent:
        headers = inject({})
    await wrapped(Message("orders.new", b"{}", headers, None))

    async def fail(message: Message) -> None:
        raise KeyError("missing")

    with pytest.raises(KeyError):
        await telemetry.handler("orders", fail)(Message("orders.new", b"{}", None, None))
    with tracer.start_as_current_span("append order.created") as writer:
        event = event_with_trace(Event.create("order.created", {}, source="shop"))
    await wrapped(Message("orders.stored", event, None, None))
    spans = [json.loads(line) for line in out.getvalue().splitlines()]
    (from_event,) = (span for span in spans if span["name"] == "process orders.stored")
    assert from_event["parent_id"] == f"0x{writer.get_span_context().span_id:016x}"
    child, failed = (span for span in spans if span["name"] == "process orders.new")
    assert child["parent_id"] == f"0x{parent.get_span_context().span_id:016x}"
    assert child["status"]["status_code"] == "UNSET"
    assert failed["status"]["status_code"] == "ERROR"
    assert failed["parent_id"] is None
    assert seen == ["orders.new", "orders.stored"]
    registry = telemetry.metrics.registry
    handled = "dataflare_events_handled_total"
    assert read_value(registry, handled, {"handler": "orders", "outcome": "ok"}) == 2
    assert read_value(registry, handled, {"handler": "orders", "outcome": "error"}) == 1
    await anyio.lowlevel.checkpoint()


def test_with_tracing_off_batch_metadata_passes_through_unchanged():
    """exporter: none makes no spans; an upstream trace context still travels on."""
    telemetry = PrometheusTelemetry(MetricCatalogue(CollectorRegistry()), None)
    probe = telemetry.component("c", "operator")
    upstream = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
    with probe.batch(upstream) as scope:
        assert scope.metadata(upstream) == upstream


def _otlp_installed() -> bool:
    try:
        return importlib.util.find_spec("opentelemetry.exporter.otlp.proto.http") is not None
    except ModuleNotFoundError:  # a parent package is missing, so the extra is not installed
        return False


def test_exporters_are_chosen_by_the_settings(tmp_path):
    assert build_exporter(TracingSettings(exporter="none")) is None
    path = tmp_path / "spans.jsonl"
    exporter = build_exporter(TracingSettings(exporter="file", path=str(path)))
    assert isinstance(exporter, JsonLinesSpanExporter)
    exporter.shutdown()
    assert path.exists()
    otlp_settings = TracingSettings(exporter="otlp", endpoint="http://127.0.0.1:4318/v1/traces")
    # The OTLP exporter is the optional extra [otlp]: built when installed, and
    # otherwise refused with the command that installs it.
    if _otlp_installed():
        otlp = build_exporter(otlp_settings)
        assert type(otlp).__name__ == "OTLPSpanExporter"
        assert otlp is not None
        otlp.shutdown()
    else:
        with pytest.raises(ObservabilityError, match=r"dataflare-observability\[otlp\]"):
            build_exporter(otlp_settings)


def test_trace_ids_are_added_only_while_installed():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s %(trace_id)s"))
    logger = logging.getLogger("dataflare.tracing-test")
    logger.addHandler(handler)
    tracer = traced(io.StringIO()).tracer
    assert tracer is not None
    trace_logging.install()
    try:
        assert trace_logging.installed()
        with tracer.start_as_current_span("s") as span:
            logger.warning("inside")
    finally:
        trace_logging.uninstall()
        logger.removeHandler(handler)
    assert not trace_logging.installed()
    assert stream.getvalue() == f"inside {span.get_span_context().trace_id:032x}\n"


def test_sampling_is_decided_before_the_sdk_and_follows_the_parent():
    """ratio 0: a new trace gets an unsampled traceparent; a sampled parent still records."""
    out = io.StringIO()
    provider = build_provider(TracingSettings(exporter="console", sample_ratio=0.0))
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(out)))
    telemetry = PrometheusTelemetry(
        MetricCatalogue(CollectorRegistry()), provider.get_tracer("t"), sample_ratio=0.0
    )
    probe = telemetry.component("c", "operator")
    with probe.batch({}) as scope:
        unsampled = scope.metadata({})["traceparent"]
    assert unsampled.endswith("-00")
    with probe.batch({"traceparent": unsampled}) as scope:
        assert scope.metadata({"traceparent": unsampled}) == {"traceparent": unsampled}
    assert out.getvalue() == ""
    sampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    with probe.batch({"traceparent": sampled}) as scope:
        passed_on = scope.metadata({})["traceparent"]
    (span,) = [json.loads(line) for line in out.getvalue().splitlines()]
    assert span["parent_id"] == "0x00f067aa0ba902b7"
    assert passed_on.startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    assert passed_on.endswith("-01")
