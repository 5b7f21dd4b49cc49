"""The tracer provider: sampling, resource, and the exporter the config names.

One provider per extension instance, never the process-global one, so several
kernels in one process (tests, embedding) keep their spans apart; the W3C
context they propagate is the same either way.

Example::

    provider = build_provider(settings)
    provider.add_span_processor(BatchSpanProcessor(build_exporter(settings)))
    tracer = provider.get_tracer("dataflare")
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, TraceIdRatioBased

from dataflare.observability._settings import TracingSettings
from dataflare.observability.errors import ObservabilityError

__all__ = ("JsonLinesSpanExporter", "build_exporter", "build_provider")


def _span_line(span: ReadableSpan) -> str:
    # The fields of ReadableSpan.to_json(), without its resource block and pretty
    # printing: built by hand because this runs for every span exported.
    context, parent = span.context, span.parent
    document = {
        "name": span.name,
        "context": {
            "trace_id": f"0x{context.trace_id:032x}" if context else None,
            "span_id": f"0x{context.span_id:016x}" if context else None,
        },
        "kind": str(span.kind),
        "parent_id": f"0x{parent.span_id:016x}" if parent else None,
        "start_time": span.start_time,
        "end_time": span.end_time,
        "status": {
            "status_code": span.status.status_code.name,
            "description": span.status.description,
        },
        "attributes": dict(span.attributes or {}),
        "events": [
            {"name": event.name, "timestamp": event.timestamp,
             "attributes": dict(event.attributes or {})}
            for event in span.events
        ],
    }  # fmt: skip
    return json.dumps(document, default=str) + "\n"


class JsonLinesSpanExporter(SpanExporter):
    """Writes each finished span as one line of JSON (the fields of OpenTelemetry's span JSON).

    Args:
        stream: An open text stream, or a path (opened for appending, closed on
            shutdown).
    """

    def __init__(self, stream: IO[str] | Path) -> None:
        self._owned = isinstance(stream, Path)
        self._out: IO[str] = (
            stream.open("a", encoding="utf-8") if isinstance(stream, Path) else stream
        )

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Write ``spans``, one line each, and flush."""
        self._out.write("".join(_span_line(span) for span in spans))
        self._out.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Close the file if this exporter opened it."""
        if self._owned and not self._out.closed:
            self._out.close()


def build_exporter(settings: TracingSettings) -> SpanExporter | None:
    """The exporter ``settings`` name, or ``None`` for ``none``.

    Raises:
        ObservabilityError: ``otlp`` is asked for without the ``otlp`` extra.
    """
    if settings.exporter == "none":
        return None
    if settings.exporter == "console":
        # stderr: stdout carries data in DataFlare's commands.
        return JsonLinesSpanExporter(sys.stderr)
    if settings.exporter == "file":
        assert settings.path is not None  # the settings validator guarantees it
        return JsonLinesSpanExporter(Path(settings.path).expanduser())
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        raise ObservabilityError(
            "tracing.exporter is otlp but the OTLP exporter is not installed; "
            "pip install 'dataflare-observability[otlp]', or choose console, file or none"
        ) from exc
    return OTLPSpanExporter(endpoint=settings.endpoint)


def build_provider(settings: TracingSettings) -> TracerProvider:
    """A tracer provider that samples as ``settings`` say, with no exporter yet.

    The exporter is added when the kernel starts (:func:`build_exporter`), so
    loading a config to validate it starts no thread and opens no file.
    """
    # With nowhere to export, recording spans is pure cost; unrecorded spans still
    # carry ids, so context propagation and trace ids in logs keep working.
    sampler = (
        ALWAYS_OFF if settings.exporter == "none" else TraceIdRatioBased(settings.sample_ratio)
    )
    return TracerProvider(
        sampler=ParentBased(sampler),
        resource=Resource.create({"service.name": settings.service_name}),
    )
