"""Per-component counts: plain numbers on the hot path, Prometheus families at scrape time.

A component reports once or more per batch; an addition to an attribute costs a
fraction of a prometheus-client ``inc`` (which takes a lock and checks its
argument). The counts are read when Prometheus scrapes; a read racing an
addition sees the count just before or just after it, as with any counter.

Example::

    counts = ComponentCounts("enrich", "operator")
    counts.received_records += 512
    registry.register(ComponentCollector(lambda: [counts]))
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import attrs
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from dataflare.observability._catalogue import COMPONENT, COMPONENT_FAMILIES

__all__ = ("ComponentCollector", "ComponentCounts")


@attrs.define(slots=True)
class ComponentCounts:
    """What one component reported so far."""

    component: str
    kind: str
    received_records: int = 0
    received_bytes: int = 0
    sent_records: int = 0
    sent_bytes: int = 0
    errors: dict[tuple[str, str], int] = attrs.field(factory=dict)
    """By (error type, stage)."""
    discarded: dict[tuple[str, str], int] = attrs.field(factory=dict)
    """By (reason, ``"true"``/``"false"`` for intentional)."""
    backpressure: float = 0.0


class ComponentCollector(Collector):
    """Exports every component's counts, and its throughput since the last collection.

    Args:
        components: Returns the counts of every component (called at each collection).
        clock: Monotonic seconds, for throughput.
    """

    def __init__(
        self,
        components: Callable[[], Iterable[ComponentCounts]],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._components = components
        self._clock = clock
        self._last: dict[tuple[str, str], tuple[float, int]] = {}

    def collect(self) -> Iterator[Metric]:
        """Yield one family per component metric, with a series per component."""
        families: dict[str, Any] = {}
        for name, kind, help_text, extra in COMPONENT_FAMILIES:
            family_type = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            families[name] = family_type(name, help_text, labels=(*COMPONENT, *extra))
        now = self._clock()
        for counts in list(self._components()):
            key = (counts.component, counts.kind)
            add = {name: family.add_metric for name, family in families.items()}
            add["dataflare_component_received_records"](key, counts.received_records)
            add["dataflare_component_received_bytes"](key, counts.received_bytes)
            add["dataflare_component_sent_records"](key, counts.sent_records)
            add["dataflare_component_sent_bytes"](key, counts.sent_bytes)
            add["dataflare_component_backpressure_ratio"](key, counts.backpressure)
            for labels, value in list(counts.errors.items()):
                add["dataflare_component_errors"]((*key, *labels), value)
            for labels, value in list(counts.discarded.items()):
                add["dataflare_component_discarded_records"]((*key, *labels), value)
            then, sent = self._last.get(key, (now, counts.sent_records))
            rate = (counts.sent_records - sent) / (now - then) if now > then else 0.0
            add["dataflare_component_throughput_records_per_second"](key, rate)
            self._last[key] = (now, counts.sent_records)
        yield from families.values()
