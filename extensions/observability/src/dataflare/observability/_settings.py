"""The ``observability:`` section of a config file.

Every field has a default, so the section may be left out::

    observability:
      metrics:
        enabled: true
        host: 127.0.0.1      # where /metrics, /health and /ready listen
        port: 9464           # 0 picks a free port
      tracing:
        exporter: console    # console (stderr), file, otlp or none
        path: null           # file: where spans are written, one JSON object a line
        endpoint: null       # otlp: e.g. http://127.0.0.1:4318/v1/traces
        service_name: dataflare
        sample_ratio: 0.01   # share of new traces recorded, 0..1 (1: every batch)
      logging:
        trace_ids: true      # add trace_id and span_id to every log line inside a span
      alerting: {...}        # see dataflare.observability._alert_settings
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

from dataflare.observability._alert_settings import AlertingSettings

__all__ = (
    "LoggingSettings",
    "MetricsSettings",
    "ObservabilitySettings",
    "SpanExporterKind",
    "TracingSettings",
)

SpanExporterKind = Literal["console", "file", "otlp", "none"]
"""Where finished spans go."""


@attrs.frozen
class MetricsSettings:
    """``observability.metrics``: the Prometheus endpoint."""

    enabled: bool = True
    """Serve ``/metrics``, ``/health`` and ``/ready`` while the kernel runs."""
    host: str = "127.0.0.1"
    """The address to listen on; ``0.0.0.0`` exposes it beyond this machine."""
    port: int = attrs.field(
        default=9464, validator=[attrs.validators.ge(0), attrs.validators.le(65535)]
    )
    """The TCP port; 0 picks a free one (read it back from the extension)."""


def _check_path(instance: TracingSettings, attribute: Any, value: str | None) -> None:
    if instance.exporter == "file" and not value:
        raise ValueError("tracing.exporter: file needs tracing.path, the file spans go to")


def _check_endpoint(instance: TracingSettings, attribute: Any, value: str | None) -> None:
    if instance.exporter == "otlp" and not value:
        raise ValueError(
            "tracing.exporter: otlp needs tracing.endpoint, e.g. http://127.0.0.1:4318/v1/traces"
        )


@attrs.frozen
class TracingSettings:
    """``observability.tracing``: OpenTelemetry spans and where they are exported."""

    exporter: SpanExporterKind = "console"
    """``console`` (stderr), ``file`` (JSON lines in ``path``), ``otlp`` or ``none``."""
    path: str | None = attrs.field(default=None, validator=_check_path)
    """The file for ``exporter: file``."""
    endpoint: str | None = attrs.field(default=None, validator=_check_endpoint)
    """The OTLP/HTTP traces endpoint for ``exporter: otlp``."""
    service_name: str = "dataflare"
    """The ``service.name`` resource attribute of every span."""
    sample_ratio: float = attrs.field(
        default=0.01, validator=[attrs.validators.ge(0.0), attrs.validators.le(1.0)]
    )
    """The share of new traces recorded; a trace continued from elsewhere keeps its
    parent's decision. A recorded batch span costs tens of microseconds of CPU, so
    the default records one new trace in ten; 1.0 records every batch."""


@attrs.frozen
class LoggingSettings:
    """``observability.logging``: what this extension adds to log lines."""

    trace_ids: bool = True
    """Add ``trace_id`` and ``span_id`` to every record logged inside a span."""


@attrs.frozen
class ObservabilitySettings:
    """The ``observability:`` section."""

    metrics: MetricsSettings = attrs.field(factory=MetricsSettings)
    """The Prometheus endpoint."""
    tracing: TracingSettings = attrs.field(factory=TracingSettings)
    """Spans and their exporter."""
    logging: LoggingSettings = attrs.field(factory=LoggingSettings)
    """Trace ids in logs."""
    alerting: AlertingSettings = attrs.field(factory=AlertingSettings)
    """Alert rules and channels."""
