"""Every metric DataFlare exports, declared once, with Prometheus names and units.

The per-component counts are kept by the probes themselves as plain numbers (a
report on the hot path is an addition) and exported by ``_components``; the
rest are prometheus-client instruments. Names follow Prometheus practice: the
``dataflare_`` prefix, ``_total`` on counters (prometheus-client appends it),
base units in ``_seconds`` and ``_bytes``. The dashboard, the alert rules and
``dataflare top`` use these names, and a test checks each one they use is
really exported.

Example::

    registry = CollectorRegistry()
    metrics = MetricCatalogue(registry)
    metrics.processing_seconds.labels(component="enrich", kind="operator").observe(0.02)
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ("COMPONENT_FAMILIES", "LATENCY_BUCKETS", "MetricCatalogue")

#: OpenTelemetry's messaging duration buckets (also prometheus-client's defaults),
#: plus the 0.3 s and 1.2 s edges an Apdex target of 0.3 s needs.
LATENCY_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.3, 0.5, 0.75, 1.0, 1.2, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip

#: Fuel is WASM instructions (roughly); buckets span tiny filters to heavy parsers.
FUEL_BUCKETS = tuple(float(10**exponent) for exponent in range(3, 11))

COMPONENT = ("component", "kind")

#: The per-component families a probe counts itself (see ``_components``):
#: name, type, help, and the labels beyond component and kind.
COMPONENT_FAMILIES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("dataflare_component_received_records", "counter", "Records a component took in.", ()),
    ("dataflare_component_received_bytes", "counter",
     "Bytes of record batches a component took in.", ()),
    ("dataflare_component_sent_records", "counter", "Records a component passed on.", ()),
    ("dataflare_component_sent_bytes", "counter",
     "Bytes of record batches a component passed on.", ()),
    ("dataflare_component_errors", "counter",
     "Errors by component, error type and processing stage.", ("error_type", "stage")),
    ("dataflare_component_discarded_records", "counter",
     "Records dropped: intentional=true for filters, false for losses.",
     ("reason", "intentional")),
    ("dataflare_component_throughput_records_per_second", "gauge",
     "Records sent per second since the previous collection.", ()),
    ("dataflare_component_backpressure_ratio", "gauge",
     "How full a component's input buffer is, 0 (empty) to 1 (full: upstream waits).", ()),
)  # fmt: skip


class MetricCatalogue:
    """The Prometheus instruments, registered in one registry.

    Args:
        registry: Where the instruments live; one per extension instance, so two
            kernels in one process (tests) never share counts.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.processing_seconds = Histogram(
            "dataflare_component_processing_seconds",
            "Time a component spent on one batch.",
            COMPONENT,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.plugin_fuel = Histogram(
            "dataflare_plugin_batch_fuel",
            "WASM fuel one plugin call used for one batch.",
            ("plugin",),
            buckets=FUEL_BUCKETS,
            registry=registry,
        )
        self.plugin_seconds = Histogram(
            "dataflare_plugin_batch_seconds",
            "Wall-clock time one plugin call took for one batch.",
            ("plugin",),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.plugin_memory = Gauge(
            "dataflare_plugin_memory_bytes",
            "A plugin's linear memory after its last batch.",
            ("plugin",),
            registry=registry,
        )
        self.plugin_dead_letters = Counter(
            "dataflare_plugin_dead_letters",
            "Records a plugin rejected or failed on, by failure kind.",
            ("plugin", "failure"),
            registry=registry,
        )
        self.events_handled = Counter(
            "dataflare_events_handled",
            "Events handed to a handler, by handler and outcome (ok or error).",
            ("handler", "outcome"),
            registry=registry,
        )
        self.event_seconds = Histogram(
            "dataflare_event_handling_seconds",
            "Time a handler spent on one event.",
            ("handler",),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.alerts_firing = Gauge(
            "dataflare_alerts_firing",
            "1 while an alert rule fires, at its current level; 0 otherwise.",
            ("rule", "level"),
            registry=registry,
        )
        self.notifications = Counter(
            "dataflare_alert_notifications",
            "Notifications sent, by rule, channel and outcome (sent or failed).",
            ("rule", "channel", "outcome"),
            registry=registry,
        )
