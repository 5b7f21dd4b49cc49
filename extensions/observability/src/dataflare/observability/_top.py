"""The data behind ``dataflare top``: per-component figures from a ``/metrics`` scrape.

:func:`scrape` reads the endpoint; :func:`component_rows` turns two scrapes into
one row per component (totals from the newer, rates and latency from the
difference), and :func:`render` lays them out as a table.

Example::

    before = scrape(url)
    after = scrape(url)
    console.print(render(component_rows(after, before, elapsed=1.0)))
"""

from __future__ import annotations

import math
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Mapping

import attrs
from prometheus_client.parser import text_string_to_metric_families
from rich.table import Table

from dataflare.observability.errors import ScrapeError

__all__ = ("ComponentRow", "Scrape", "component_rows", "render", "scrape")

Key = tuple[str, str]
#: sample name -> (component, kind) -> value; histogram buckets keyed by ``le`` as well.
Scrape = Mapping[str, Mapping[tuple[str, ...], float]]


@attrs.frozen
class ComponentRow:
    """What ``top`` shows for one component."""

    component: str
    kind: str
    received: float
    sent: float
    received_rate: float
    sent_rate: float
    errors: float
    discarded: float
    backpressure: float
    p99_seconds: float | None


def scrape(url: str, *, timeout: float = 5.0) -> Scrape:
    """Read ``url`` (a ``/metrics`` endpoint) into sums per component.

    Raises:
        ScrapeError: The endpoint cannot be reached or answered with an error.
    """
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            text = response.read().decode()
    except (urllib.error.URLError, OSError) as exc:
        raise ScrapeError(url, str(exc)) from exc
    return parse(text)


def parse(text: str) -> Scrape:
    """Sum the ``dataflare_component_*`` samples of an exposition by component and kind."""
    sums: dict[str, dict[tuple[str, ...], float]] = defaultdict(lambda: defaultdict(float))
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if not sample.name.startswith("dataflare_component_"):
                continue
            key: tuple[str, ...] = (
                sample.labels.get("component", ""),
                sample.labels.get("kind", ""),
            )
            if sample.name.endswith("_bucket"):
                key = (*key, sample.labels["le"])
            sums[sample.name][key] += sample.value
    return sums


def _p99(now: Scrape, before: Scrape | None, key: Key) -> float | None:
    name = "dataflare_component_processing_seconds_bucket"
    buckets = []
    for (component, kind, le), count in now.get(name, {}).items():
        if (component, kind) == key:
            earlier = before.get(name, {}).get((component, kind, le), 0.0) if before else 0.0
            buckets.append((float(le), count - earlier))
    buckets.sort()
    if not buckets or buckets[-1][1] <= 0:
        return None
    target = 0.99 * buckets[-1][1]
    for bound, count in buckets:
        if count >= target:
            return bound if not math.isinf(bound) else None
    return None


def component_rows(now: Scrape, before: Scrape | None, elapsed: float) -> list[ComponentRow]:
    """One row per component seen in ``now``; rates are 0 without ``before``."""

    def value(scrape: Scrape | None, name: str, key: Key) -> float:
        return scrape.get(name, {}).get(key, 0.0) if scrape else 0.0

    def rate(name: str, key: Key) -> float:
        if before is None or elapsed <= 0:
            return 0.0
        return max(value(now, name, key) - value(before, name, key), 0.0) / elapsed

    keys = sorted({(key[0], key[1]) for series in now.values() for key in series if key[0]})
    rows = []
    for component, kind in keys:
        key = (component, kind)
        rows.append(
            ComponentRow(
                component=component,
                kind=kind,
                received=value(now, "dataflare_component_received_records_total", key),
                sent=value(now, "dataflare_component_sent_records_total", key),
                received_rate=rate("dataflare_component_received_records_total", key),
                sent_rate=rate("dataflare_component_sent_records_total", key),
                errors=value(now, "dataflare_component_errors_total", key),
                discarded=value(now, "dataflare_component_discarded_records_total", key),
                backpressure=value(now, "dataflare_component_backpressure_ratio", key),
                p99_seconds=_p99(now, before, key),
            )
        )
    return rows


def render(rows: list[ComponentRow], *, title: str = "") -> Table:
    """The ``top`` table, Vector-style columns."""
    table = Table(title=title or None)
    for column in ("component", "kind", "in", "in/s", "out", "out/s", "errors", "discarded"):
        table.add_column(column, justify="left" if column in ("component", "kind") else "right")
    table.add_column("backpressure", justify="right")
    table.add_column("p99", justify="right")
    for row in rows:
        table.add_row(
            row.component,
            row.kind,
            f"{row.received:,.0f}",
            f"{row.received_rate:,.1f}",
            f"{row.sent:,.0f}",
            f"{row.sent_rate:,.1f}",
            f"{row.errors:,.0f}",
            f"{row.discarded:,.0f}",
            f"{row.backpressure:.0%}",
            "-" if row.p99_seconds is None else f"{row.p99_seconds * 1000:.0f} ms",
        )
    return table
