"""DataFlare observability: Prometheus metrics, OpenTelemetry traces, trace-aware logs, alerts.

Install it and every extension implementing ``dataflare_telemetry`` is counted,
timed and traced; the kernel's bus and every ``dataflare_metrics`` collector
are exported too. ``/metrics``, ``/health`` and ``/ready`` serve while the
kernel runs.

Example::

    import anyio
    from dataflare.kernel import Kernel
    from dataflare.observability import ObservabilityExtension

    async def main():
        extension = ObservabilityExtension()
        config = {"observability": {"metrics": {"port": 0}, "tracing": {"exporter": "none"}}}
        async with Kernel(config, plugins=[extension], discover=False):
            print(extension.server_url + "/metrics")

    anyio.run(main)
"""

from __future__ import annotations

from dataflare.observability._alert_settings import (
    AlertingSettings,
    AlertLevel,
    AlertRule,
    ChannelSettings,
    Condition,
)
from dataflare.observability._alerts import AlertManager, AlertState, HistoryEntry, Notification
from dataflare.observability._catalogue import LATENCY_BUCKETS, MetricCatalogue
from dataflare.observability._channels import Channel, LogChannel, NatsChannel, WebhookChannel
from dataflare.observability._contract import BatchScope, ComponentProbe, Telemetry
from dataflare.observability._export import (
    dashboard,
    export_files,
    metric_names_used,
    prometheus_rules,
)
from dataflare.observability._extension import ObservabilityExtension
from dataflare.observability._notify import Alerting, read_value
from dataflare.observability._propagation import (
    batch_with_trace,
    context_from_batch,
    context_from_event,
    event_with_trace,
    extract,
    inject,
)
from dataflare.observability._server import AdminServer
from dataflare.observability._settings import (
    LoggingSettings,
    MetricsSettings,
    ObservabilitySettings,
    TracingSettings,
)
from dataflare.observability._telemetry import PrometheusTelemetry
from dataflare.observability._top import ComponentRow, component_rows
from dataflare.observability._tracing import JsonLinesSpanExporter
from dataflare.observability.errors import (
    AdminServerError,
    NotificationError,
    ObservabilityError,
    ScrapeError,
)

__all__ = (
    "LATENCY_BUCKETS",
    "AdminServer",
    "AdminServerError",
    "AlertLevel",
    "AlertManager",
    "AlertRule",
    "AlertState",
    "Alerting",
    "AlertingSettings",
    "BatchScope",
    "Channel",
    "ChannelSettings",
    "ComponentProbe",
    "ComponentRow",
    "Condition",
    "HistoryEntry",
    "JsonLinesSpanExporter",
    "LogChannel",
    "LoggingSettings",
    "MetricCatalogue",
    "MetricsSettings",
    "NatsChannel",
    "Notification",
    "NotificationError",
    "ObservabilityError",
    "ObservabilityExtension",
    "ObservabilitySettings",
    "PrometheusTelemetry",
    "ScrapeError",
    "Telemetry",
    "TracingSettings",
    "WebhookChannel",
    "batch_with_trace",
    "component_rows",
    "context_from_batch",
    "context_from_event",
    "dashboard",
    "event_with_trace",
    "export_files",
    "extract",
    "inject",
    "metric_names_used",
    "prometheus_rules",
    "read_value",
)
