"""Figures the kernel already keeps, exported at scrape time: the bus and every collector.

The event bus reports typed statistics; other extensions (the event store, the
NATS log, a streaming engine) report through the kernel's ``dataflare_metrics``
hook as :class:`~dataflare.kernel.MetricSample` values. Both are read when
Prometheus scrapes, so they cost nothing in between.

Both are kernel state owned by its event loop, so a scrape from the HTTP thread
reads them on that loop, never concurrently with it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from dataflare.kernel import BusStatistics, MetricSample

__all__ = ("KernelCollector",)

log = logging.getLogger("dataflare.observability")

Snapshot = tuple[BusStatistics | None, list[MetricSample]]


class KernelCollector(Collector):
    """A Prometheus collector over the kernel's bus statistics and metric collectors.

    Args:
        snapshot: Returns the bus statistics (``None`` when the bus is not running)
            and the samples of every ``dataflare_metrics`` collector, read on the
            kernel's event loop.
    """

    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        """Yield the bus's families, then one family per reported sample name."""
        try:
            bus, samples = self._snapshot()
        except Exception as exc:  # noqa: BLE001 -- collectors are other extensions' code
            # A stopped loop or a broken collector must not take /metrics down with it.
            log.warning("kernel figures unavailable for this scrape: %s", exc)
            return
        if bus is not None:
            yield from _bus_families(bus)
        yield from _sample_families(samples)


def _bus_families(bus: BusStatistics) -> Iterator[Metric]:
    for name, help_text, value in (
        ("dataflare_bus_published", "Messages published on the event bus.", bus.published),
        ("dataflare_bus_delivered", "Messages put in subscription buffers.", bus.delivered),
        ("dataflare_bus_dropped", "Messages lost with a closed subscription.", bus.dropped),
    ):
        yield CounterMetricFamily(name, help_text, value=value)
    yield GaugeMetricFamily(
        "dataflare_bus_buffered_messages", "Messages waiting in all buffers.", value=bus.buffered
    )
    yield GaugeMetricFamily(
        "dataflare_bus_publishers_waiting",
        "Publishers blocked on a full buffer (backpressure).",
        value=bus.publishers_waiting,
    )
    ratio = GaugeMetricFamily(
        "dataflare_bus_backpressure_ratio",
        "How full a subscription's buffer is, 0 to 1.",
        labels=("pattern", "queue"),
    )
    for sub in bus.per_subscription:
        ratio.add_metric((sub.pattern, sub.queue or ""), sub.buffered / sub.buffer_size)
    yield ratio


def _sample_families(samples: Iterable[MetricSample]) -> Iterator[Metric]:
    grouped: dict[str, list[MetricSample]] = defaultdict(list)
    for sample in samples:
        grouped[sample.name].append(sample)
    for name, group in grouped.items():
        first = group[0]
        labels = sorted({key for sample in group for key in sample.labels})
        family: Any = (
            CounterMetricFamily(name, first.help, labels=labels)
            if first.kind == "counter"
            else GaugeMetricFamily(name, first.help, labels=labels)
        )
        for sample in group:
            family.add_metric([sample.labels.get(key, "") for key in labels], sample.value)
        yield family
