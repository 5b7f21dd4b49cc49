"""The ``window`` operator as a pipeline file writes it, mapped onto the windows module.

Example::

    - window:
        kind: sliding
        size_ms: 60000
        slide_ms: 10000
        aggregations:
          - {output: clicks, function: count}
          - {output: p95_ms, function: percentile, column: latency_ms, quantile: 0.95}
        watermark: {max_out_of_orderness_ms: 2000}
        late: {mode: side_output, allowed_lateness_ms: 5000}
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

__all__ = ("AggregationSpec", "LateSpec", "WatermarkSpecConfig", "WindowOperatorSpec")

WindowKind = Literal["tumbling", "sliding", "session"]
Function = Literal["count", "sum", "min", "max", "mean", "distinct", "percentile"]


def _check_aggregation(spec: AggregationSpec, _: attrs.Attribute[Any], __: Any) -> None:
    if spec.function != "count" and spec.column is None:
        raise ValueError(f"{spec.function} needs 'column:' (the typed column it aggregates)")
    if spec.function == "percentile" and (spec.quantile is None or not 0 <= spec.quantile <= 1):
        raise ValueError("percentile needs 'quantile:' between 0 and 1, such as 0.95")


@attrs.frozen
class AggregationSpec:
    """One aggregate per key and window."""

    output: str = attrs.field(validator=_check_aggregation)
    """The result column's name."""
    function: Function
    """count, sum, min, max, mean, distinct or percentile."""
    column: str | None = None
    """The typed column aggregated (not needed for count)."""
    quantile: float | None = None
    """percentile: the quantile, 0 to 1."""


@attrs.frozen
class WatermarkSpecConfig:
    """How event time advances."""

    max_out_of_orderness_ms: int = 0
    """How far behind the newest event time a record may arrive and still count."""
    idle_timeout_ms: int | None = None
    """After this long without records, a source stops holding the watermark back."""


@attrs.frozen
class LateSpec:
    """What happens to records that arrive after their window closed."""

    mode: Literal["drop", "side_output", "allow"] = "drop"
    """drop them, send them to the dead-letter destination, or update the window."""
    allowed_lateness_ms: int = 0
    """allow: how long after closing a window still accepts records."""


def _check_window(spec: WindowOperatorSpec, _: attrs.Attribute[Any], __: Any) -> None:
    needs = {"tumbling": ("size_ms",), "sliding": ("size_ms", "slide_ms"), "session": ("gap_ms",)}
    missing = [name for name in needs[spec.kind] if getattr(spec, name) is None]
    if missing:
        raise ValueError(f"a {spec.kind} window needs {' and '.join(missing)}")
    for name in ("size_ms", "slide_ms", "gap_ms"):
        value = getattr(spec, name)
        if value is not None and value <= 0:
            raise ValueError(f"{name} must be greater than 0, got {value}")
    if not spec.aggregations:
        raise ValueError(
            "a window needs at least one aggregation, such as {output: n, function: count}"
        )


@attrs.frozen
class WindowOperatorSpec:
    """Keyed event-time windows with aggregations."""

    kind: WindowKind = attrs.field(validator=_check_window)
    """tumbling, sliding or session."""
    size_ms: int | None = None
    """tumbling and sliding: the window length."""
    slide_ms: int | None = None
    """sliding: how far apart windows start."""
    gap_ms: int | None = None
    """session: the silence that closes a session."""
    aggregations: tuple[AggregationSpec, ...] = ()
    """What is computed per key and window."""
    watermark: WatermarkSpecConfig = attrs.field(factory=WatermarkSpecConfig)
    """How event time advances."""
    late: LateSpec = attrs.field(factory=LateSpec)
    """What happens to late records."""
