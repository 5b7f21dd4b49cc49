"""Pipeline figures as metric samples, for whoever exports metrics (``dataflare_metrics``).

Every :class:`~dataflare.streaming.PipelineRunner` registers its live statistics
here while it runs; the extension's collector turns them into Prometheus-style
samples at scrape time, so backpressure level and time spent throttled are
visible without importing a metrics library.
"""

from __future__ import annotations

from collections.abc import Iterator

from dataflare.kernel import MetricSample
from dataflare.streaming._statistics import PipelineStatistics

__all__ = ("RUNNING", "collect")

RUNNING: dict[int, PipelineStatistics] = {}
"""Statistics of the pipelines running in this process, by runner id."""

_COUNTERS = (
    ("records_in", "dataflare_streaming_records_in_total", "Records read by the source."),
    ("records_out", "dataflare_streaming_records_out_total", "Records delivered to sinks."),
    ("dead_letters", "dataflare_streaming_dead_letters_total", "Records dead-lettered."),
    ("checkpoints", "dataflare_streaming_checkpoints_total", "Checkpoints saved."),
    (
        "throttled_seconds",
        "dataflare_streaming_throttled_seconds_total",
        "Time the source was paused by backpressure.",
    ),
)
_GAUGES = (
    ("backpressure_level", "dataflare_streaming_backpressure_level", "Buffer fill, 0 to 1."),
    ("buffered", "dataflare_streaming_buffered_batches", "Batches waiting for the operators."),
    ("latency_seconds", "dataflare_streaming_batch_latency_seconds", "Mean batch latency."),
)


def collect() -> Iterator[MetricSample]:
    """One sample per figure and running pipeline."""
    for statistics in list(RUNNING.values()):
        labels = {"pipeline": statistics.pipeline}
        for field, name, text in _COUNTERS:
            value = float(getattr(statistics, field))
            yield MetricSample(name, value, "counter", labels, text)
        for field, name, text in _GAUGES:
            yield MetricSample(name, float(getattr(statistics, field)), "gauge", labels, text)
