"""Metric samples: how extensions report figures without a metrics library."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import attrs

__all__ = ("MetricSample",)


@attrs.frozen
class MetricSample:
    """One value of one metric, as a ``dataflare_metrics`` collector returns it."""

    name: str
    """Prometheus-style name: ``dataflare_`` prefix, ``_total`` for counters."""
    value: float
    """The current value."""
    kind: Literal["counter", "gauge"] = "gauge"
    """Counters only go up; gauges go either way."""
    labels: Mapping[str, str] = attrs.field(factory=dict)
    """Label names to values, e.g. ``{"extension": "demo"}``."""
    help: str = ""
    """One line saying what is measured."""
