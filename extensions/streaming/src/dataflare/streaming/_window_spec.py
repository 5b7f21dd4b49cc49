"""The values that configure a windowed aggregation: window, aggregations, watermark, lateness.

Each value checks itself when built and reports every bad field at once in one
:class:`~dataflare.streaming.errors.WindowConfigError`, naming the field and the fix.
All times are integer milliseconds, the unit of ``RecordBatch.timestamps``.

Example::

    WindowSpec("sliding", size_ms=60_000, slide_ms=10_000)
    Aggregation("p95", "percentile", column="latency_ms", quantile=0.95)
    LatePolicy("allow", allowed_lateness_ms=5_000)
"""

from __future__ import annotations

from typing import Any, Final, Literal

import attrs

from dataflare.streaming.errors import WindowConfigError

__all__ = (
    "RESERVED_OUTPUTS",
    "Aggregation",
    "LatePolicy",
    "WatermarkSpec",
    "WindowSpec",
)

WindowKind = Literal["tumbling", "sliding", "session"]
Function = Literal["count", "sum", "min", "max", "mean", "distinct", "percentile"]
LateMode = Literal["drop", "side_output", "allow"]

_KINDS: Final = ("tumbling", "sliding", "session")
_FUNCTIONS: Final = ("count", "sum", "min", "max", "mean", "distinct", "percentile")
_MODES: Final = ("drop", "side_output", "allow")
RESERVED_OUTPUTS: Final = ("window_start", "window_end")
"""Result columns every window result has; an aggregation may not reuse their names."""


def _positive(problems: list[tuple[str, str]], name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        problems.append((name, f"must be a whole number of milliseconds above 0, got {value!r}"))


def _check_window(spec: WindowSpec, _: attrs.Attribute[Any], __: object) -> None:
    problems: list[tuple[str, str]] = []
    needs = {"tumbling": ("size_ms",), "sliding": ("size_ms", "slide_ms"), "session": ("gap_ms",)}
    if spec.kind not in _KINDS:
        raise WindowConfigError(
            [("kind", f"must be one of {', '.join(_KINDS)}; got {spec.kind!r}")]
        )
    for name in ("size_ms", "slide_ms", "gap_ms"):
        value = getattr(spec, name)
        if name in needs[spec.kind]:
            if value is None:
                problems.append((name, f"a {spec.kind} window needs {name}"))
            else:
                _positive(problems, name, value)
        elif value is not None:
            users = " or ".join(kind for kind, fields in needs.items() if name in fields)
            problems.append((name, f"is only for {users} windows: remove it, or change kind"))
    if not problems and spec.kind == "sliding":
        assert spec.size_ms is not None
        assert spec.slide_ms is not None
        if spec.slide_ms > spec.size_ms:
            # A slide longer than the size would leave records in no window at all.
            problems.append(
                (
                    "slide_ms",
                    f"{spec.slide_ms} is longer than size_ms {spec.size_ms}: "
                    "records between windows would be lost; make slide_ms <= size_ms",
                )
            )
    if problems:
        raise WindowConfigError(problems)


@attrs.frozen
class WindowSpec:
    """Which windows a keyed record falls into.

    Windows are aligned to the Unix epoch and half-open, ``[start, end)``.
    """

    kind: WindowKind = attrs.field(validator=_check_window)
    """``tumbling`` (fixed, non-overlapping), ``sliding`` (fixed, overlapping) or ``session``."""
    size_ms: int | None = None
    """tumbling and sliding: the window length."""
    slide_ms: int | None = None
    """sliding: how far apart window starts are (at most ``size_ms``)."""
    gap_ms: int | None = None
    """session: records of a key closer than this in event time share a session; the
    session ends ``gap_ms`` after its last record."""


def _check_aggregation(spec: Aggregation, _: attrs.Attribute[Any], __: object) -> None:
    problems: list[tuple[str, str]] = []
    encoded = spec.output.encode() if isinstance(spec.output, str) else b""
    if not 1 <= len(encoded) <= 23 or b"\x00" in encoded:
        problems.append(
            ("output", f"must be 1 to 23 bytes of UTF-8 (a column name); got {spec.output!r}")
        )
    elif spec.output in RESERVED_OUTPUTS:
        problems.append(
            ("output", f"{spec.output!r} is a column every result has; pick another name")
        )
    if spec.function not in _FUNCTIONS:
        problems.append(
            ("function", f"must be one of {', '.join(_FUNCTIONS)}; got {spec.function!r}")
        )
    elif spec.function == "count":
        if spec.column is not None:
            problems.append(("column", "count counts records and reads no column: remove column"))
    elif not spec.column:
        problems.append(("column", f"{spec.function} needs the typed column it aggregates"))
    if spec.function == "percentile":
        if spec.quantile is None or not 0.0 <= spec.quantile <= 1.0:
            problems.append(
                (
                    "quantile",
                    f"percentile needs one from 0 to 1, such as 0.95; got {spec.quantile!r}",
                )
            )
    elif spec.quantile is not None:
        problems.append(("quantile", f"is only for percentile, not {spec.function}: remove it"))
    if problems:
        raise WindowConfigError(problems, where=f"aggregation {spec.output!r}")


@attrs.frozen
class Aggregation:
    """One value computed per key and window, written to result column ``output``.

    ``count`` and ``distinct`` give int64; the others float64 (input columns are read
    as float64: integers are exact below 2**53). ``percentile`` returns a value within
    1% of the exact one (the element of rank ``floor(q * (n - 1))``), from a mergeable
    log-bucketed histogram of about 116 buckets per factor of 10 the values span.
    ``distinct`` is exact: it keeps each distinct value once per key and window, so its
    memory grows with the number of distinct values.
    """

    output: str = attrs.field(validator=_check_aggregation)
    """The result column's name (1 to 23 bytes; not ``window_start`` or ``window_end``)."""
    function: Function
    """count, sum, min, max, mean, distinct or percentile."""
    column: str | None = None
    """The typed input column (every function but count needs one)."""
    quantile: float | None = None
    """percentile only: the quantile, 0 to 1 (0.5 is the median)."""


def _check_watermark(spec: WatermarkSpec, _: attrs.Attribute[Any], __: object) -> None:
    problems: list[tuple[str, str]] = []
    delay = spec.max_out_of_orderness_ms
    if not isinstance(delay, int) or isinstance(delay, bool) or delay < 0:
        problems.append(
            ("max_out_of_orderness_ms", f"must be 0 or more milliseconds, got {delay!r}")
        )
    if spec.idle_timeout_ms is not None:
        _positive(problems, "idle_timeout_ms", spec.idle_timeout_ms)
    if problems:
        raise WindowConfigError(problems, where="watermark")


@attrs.frozen
class WatermarkSpec:
    """How event time advances: bounded out-of-orderness, and idle sources.

    A source's watermark is the highest event time it has sent minus
    ``max_out_of_orderness_ms``; it is never tied to the wall clock.
    """

    max_out_of_orderness_ms: int = attrs.field(default=0, validator=_check_watermark)
    """How far behind the newest event time a record may arrive and still be on time."""
    idle_timeout_ms: int | None = None
    """After this much processing time (``tick``) without a batch, a source stops holding
    the watermark back; ``None`` means sources never go idle."""


def _check_late(spec: LatePolicy, _: attrs.Attribute[Any], __: object) -> None:
    problems: list[tuple[str, str]] = []
    lateness = spec.allowed_lateness_ms
    if spec.mode not in _MODES:
        problems.append(("mode", f"must be one of {', '.join(_MODES)}; got {spec.mode!r}"))
    if not isinstance(lateness, int) or isinstance(lateness, bool) or lateness < 0:
        problems.append(
            ("allowed_lateness_ms", f"must be 0 or more milliseconds, got {lateness!r}")
        )
    elif spec.mode == "allow" and lateness == 0:
        problems.append(
            (
                "allowed_lateness_ms",
                "mode 'allow' needs allowed_lateness_ms above 0 "
                "(with 0 nothing is admitted: use mode 'drop')",
            )
        )
    elif spec.mode in ("drop", "side_output") and lateness:
        problems.append(
            (
                "allowed_lateness_ms",
                f"only applies to mode 'allow': set mode: allow, "
                f"or remove it (mode is {spec.mode!r})",
            )
        )
    if problems:
        raise WindowConfigError(problems, where="late")


@attrs.frozen
class LatePolicy:
    """What happens to a record whose windows have all closed.

    ``drop`` counts and discards it; ``side_output`` returns it in ``WindowOutput.late``;
    ``allow`` adds it to its window while the watermark is less than
    ``allowed_lateness_ms`` past the window's end, and emits the window's result again
    (results are keyed by key and ``window_start``: a sink upserts). Records later
    than that are dropped and counted.
    """

    mode: LateMode = attrs.field(default="drop", validator=_check_late)
    """drop, side_output or allow."""
    allowed_lateness_ms: int = 0
    """allow only: how long after a window's end it still accepts records."""
