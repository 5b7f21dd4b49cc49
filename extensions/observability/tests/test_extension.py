"""A running pipeline observed through the extension: /metrics, /health, /ready, spans, logs."""

from __future__ import annotations

import io
import json
import logging
import urllib.error

import anyio
import pytest
from obs_helpers import OUT, EventsStandIn, HookedPipeline, PipelineExtension, batch, http_get
from prometheus_client.parser import text_string_to_metric_families

from dataflare.kernel import ExtensionStatus, Kernel, KernelStateError, configure_logging
from dataflare.observability import ObservabilityExtension, ObservabilitySettings

pytestmark = pytest.mark.anyio


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition, keyed by name and label set."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(scraped: dict, name: str, **labels: str) -> float:
    return scraped[(name, frozenset(labels.items()))]


def config(tmp_path, **observability):
    spans = tmp_path / "spans.jsonl"
    base = {
        "metrics": {"port": 0},
        "tracing": {"exporter": "file", "path": str(spans), "sample_ratio": 1.0},
    }
    return {"observability": {**base, **observability}}, spans


async def test_scraped_counts_equal_the_records_the_pipeline_processed(tmp_path):
    """/metrics over real HTTP reports exactly the records and batches that flowed."""
    observability, pipeline = ObservabilityExtension(), PipelineExtension()
    cfg, _ = config(tmp_path)
    async with Kernel(cfg, plugins=[observability, pipeline], discover=False):
        for start in range(0, 1000, 100):
            await pipeline.produce(batch(start, 100))
        await pipeline.wait_for_batches(10)
        status, text = await anyio.to_thread.run_sync(
            http_get, observability.server_url + "/metrics"
        )
    assert status == 200
    scraped = samples(text)
    assert pipeline.sunk_records == 500
    source = {"component": "numbers", "kind": "source"}
    operator = {"component": "keep-odd", "kind": "operator"}
    sink = {"component": "counter", "kind": "sink"}
    assert value(scraped, "dataflare_component_sent_records_total", **source) == 1000
    assert value(scraped, "dataflare_component_received_records_total", **operator) == 1000
    assert value(scraped, "dataflare_component_sent_records_total", **operator) == 500
    assert value(scraped, "dataflare_component_received_records_total", **sink) == 500
    discarded = {**operator, "reason": "even", "intentional": "true"}
    assert value(scraped, "dataflare_component_discarded_records_total", **discarded) == 500
    assert value(scraped, "dataflare_component_processing_seconds_count", **operator) == 10
    assert value(scraped, "dataflare_events_handled_total", handler="counter", outcome="ok") == 10
    # The bus is exported too: 10 raw + 10 kept batches were published.
    assert value(scraped, "dataflare_bus_published_total") == 20
    bytes_in = value(scraped, "dataflare_component_received_bytes_total", **operator)
    assert bytes_in == sum(batch(start, 100).nbytes for start in range(0, 1000, 100))


async def test_a_failing_batch_is_counted_by_type_and_stage(tmp_path):
    """An exception inside probe.batch() counts as an error and marks the span failed."""
    observability, pipeline = ObservabilityExtension(), PipelineExtension()
    cfg, spans = config(tmp_path)
    async with Kernel(cfg, plugins=[observability, pipeline], discover=False):
        await pipeline.produce(batch(0, 10, {"poison": "yes"}))
        await pipeline.produce(batch(10, 10))
        await pipeline.wait_for_batches(1)
        _, text = await anyio.to_thread.run_sync(http_get, observability.server_url + "/metrics")
    labels = {"component": "keep-odd", "kind": "operator", "error_type": "ValueError"}
    assert value(samples(text), "dataflare_component_errors_total", **labels, stage="process") == 1
    failed = [
        span
        for span in map(json.loads, spans.read_text().splitlines())
        if span["name"] == "process keep-odd" and span["status"]["status_code"] == "ERROR"
    ]
    assert len(failed) == 1


async def test_health_and_ready_follow_the_kernel_lifecycle(tmp_path):
    """/health and /ready answer 200 while running; unknown paths 404; after stop, nothing."""
    observability = ObservabilityExtension()
    cfg, _ = config(tmp_path)
    async with Kernel(cfg, plugins=[observability], discover=False) as kernel:
        url = observability.server_url
        assert [info.status for info in kernel.extensions] == [ExtensionStatus.LOADED]
        assert await anyio.to_thread.run_sync(http_get, url + "/health") == (
            200,
            '{"status": "ok"}',
        )
        assert await anyio.to_thread.run_sync(http_get, url + "/ready") == (200, '{"ready": true}')
        status, body = await anyio.to_thread.run_sync(http_get, url + "/nope")
        assert status == 404
        assert "/metrics" in body
    with pytest.raises(urllib.error.URLError, match="Connection refused"):
        http_get(url + "/health")  # the port is closed once the kernel stopped
    with pytest.raises(KernelStateError, match="only while the kernel runs"):
        observability.server_url  # noqa: B018 -- the property access is what is tested


async def test_a_trace_continues_through_batch_metadata(tmp_path):
    """The operator's span is the parent recorded in the batch the sink receives."""
    observability, pipeline = ObservabilityExtension(), PipelineExtension()
    cfg, spans = config(tmp_path)
    async with Kernel(cfg, plugins=[observability, pipeline], discover=False):
        await pipeline.produce(batch(0, 10))
        await pipeline.wait_for_batches(1)
    (metadata,) = pipeline.sunk_metadata
    _, trace_id, span_id, _ = metadata["traceparent"].split("-")
    recorded = {
        span["context"]["span_id"]: span for span in map(json.loads, spans.read_text().splitlines())
    }
    operator_span = recorded[f"0x{span_id}"]
    assert operator_span["name"] == "process keep-odd"
    assert operator_span["kind"] == "SpanKind.CONSUMER"
    assert operator_span["attributes"]["messaging.operation.type"] == "process"
    assert operator_span["context"]["trace_id"] == f"0x{trace_id}"


async def test_log_lines_inside_a_span_carry_trace_and_span_ids(tmp_path):
    """JSON log lines written inside a batch span name its trace_id and span_id."""
    stream = io.StringIO()
    configure_logging("info", "json", stream)
    observability = ObservabilityExtension()
    cfg, _ = config(tmp_path)
    try:
        async with Kernel(cfg, plugins=[observability], discover=False):
            probe = observability.telemetry.component("logger", "operator")
            with probe.batch() as scope:
                logging.getLogger("dataflare.test").info("inside")
                traceparent = scope.metadata()["traceparent"]
            logging.getLogger("dataflare.test").info("outside")
    finally:
        configure_logging("warning", "console")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    inside = next(line for line in lines if line["message"] == "inside")
    outside = next(line for line in lines if line["message"] == "outside")
    _, trace_id, span_id, _ = traceparent.split("-")
    assert (inside["trace_id"], inside["span_id"]) == (trace_id, span_id)
    assert "trace_id" not in outside
    assert not logging.getLogRecordFactory().__name__.startswith("_with_trace")


async def test_without_observability_a_component_keeps_its_no_op_probe():
    """A pipeline without observability installed loads and runs; its probes record nothing."""
    pipeline = PipelineExtension()
    async with Kernel(plugins=[pipeline], discover=False) as kernel:
        assert [info.status for info in kernel.extensions] == [ExtensionStatus.LOADED]
        sub = kernel.bus.subscribe(OUT)
        async with sub:
            await pipeline.produce(batch(0, 4))
            with anyio.fail_after(10):
                out = await anext(sub)
    assert len(out.payload) == 2


async def test_the_section_is_validated_like_every_other():
    """Bad alert rules and tracing settings are config errors with their location."""
    from dataflare.kernel import ConfigError

    bad = {
        "observability": {
            "tracing": {"exporter": "otlp"},
            "alerting": {
                "rules": [{"name": "x", "metric": "m", "condition": "> 1", "channels": ["pager"]}]
            },
        }
    }
    with pytest.raises(ConfigError) as caught:
        Kernel(bad, plugins=[ObservabilityExtension()], discover=False).load()
    text = str(caught.value)
    assert "otlp needs tracing.endpoint" in text
    assert "names channel(s) ['pager'] that are not defined" in text
    assert len(caught.value.issues) == 2
    good = Kernel({}, plugins=[ObservabilityExtension()], discover=False)
    assert isinstance(good.config.section("observability"), ObservabilitySettings)


async def test_a_component_may_take_telemetry_through_the_published_hook(tmp_path):
    """An extension marking dataflare_telemetry as a hook gets the same telemetry."""
    observability, pipeline = ObservabilityExtension(), HookedPipeline()
    cfg, _ = config(tmp_path)
    async with Kernel(cfg, plugins=[observability, pipeline], discover=False) as kernel:
        assert {info.status for info in kernel.extensions} == {ExtensionStatus.LOADED}
        assert pipeline.telemetry is observability.telemetry
        await pipeline.produce(batch(0, 6))
        await pipeline.wait_for_batches(1)
        _, text = await anyio.to_thread.run_sync(http_get, observability.server_url + "/metrics")
    sink = {"component": "counter", "kind": "sink"}
    assert value(samples(text), "dataflare_component_received_records_total", **sink) == 3


async def test_event_store_figures_are_exported_when_an_events_extension_is_there(tmp_path):
    """An extension shaped like dataflare-events has its stores' newest offsets scraped."""
    observability = ObservabilityExtension()
    cfg, _ = config(tmp_path)
    plugins = [observability, EventsStandIn(41, None)]
    async with Kernel(cfg, plugins=plugins, discover=False):
        _, text = await anyio.to_thread.run_sync(http_get, observability.server_url + "/metrics")
    scraped = samples(text)
    last = "dataflare_event_store_last_offset"
    assert value(scraped, last, extension="events", store="events") == 41
    assert value(scraped, last, extension="events", store="dead-letters") == 0


async def test_figures_other_extensions_report_through_dataflare_metrics_are_served(tmp_path):
    """A MetricSample from the kernel's dataflare_metrics hook appears on /metrics."""
    from dataflare.kernel import MetricSample, hookimpl

    class NatsFigures:
        name = "nats-figures"

        @hookimpl
        def dataflare_metrics(self, register):
            register(
                lambda: [
                    MetricSample("dataflare_nats_reconnects_total", 3, "counter", {"server": "n1"})
                ]
            )

    observability = ObservabilityExtension()
    cfg, _ = config(tmp_path)
    async with Kernel(cfg, plugins=[observability, NatsFigures()], discover=False):
        _, text = await anyio.to_thread.run_sync(http_get, observability.server_url + "/metrics")
    assert value(samples(text), "dataflare_nats_reconnects_total", server="n1") == 3


def test_a_port_in_use_is_an_admin_server_error_naming_the_setting():
    """Binding a taken port fails with the address and the setting to change."""
    from prometheus_client import CollectorRegistry

    from dataflare.observability import AdminServer, AdminServerError

    taken = AdminServer(CollectorRegistry(), host="127.0.0.1", port=0, ready=lambda: True)
    try:
        host, port = taken.address
        with pytest.raises(AdminServerError, match=r"observability\.metrics\.port") as caught:
            AdminServer(CollectorRegistry(), host=host, port=port, ready=lambda: True)
        assert (caught.value.host, caught.value.port) == (host, port)
    finally:
        taken.stop()
