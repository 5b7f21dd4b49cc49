"""Validation of WindowSpec, Aggregation, WatermarkSpec, LatePolicy and the aggregator's outputs."""

from __future__ import annotations

from typing import Any

import pytest

from dataflare.kernel.errors import DataFlareError
from dataflare.streaming.errors import StreamingError, WindowConfigError
from dataflare.streaming.windows import (
    Aggregation,
    LatePolicy,
    WatermarkSpec,
    WindowAggregator,
    WindowSpec,
)


def _fields(exc: pytest.ExceptionInfo[WindowConfigError]) -> list[str]:
    return [field for field, _ in exc.value.problems]


@pytest.mark.parametrize(
    "spec",
    [
        WindowSpec("tumbling", size_ms=1000),
        WindowSpec("sliding", size_ms=1000, slide_ms=250),
        WindowSpec("sliding", size_ms=1000, slide_ms=1000),
        WindowSpec("session", gap_ms=30_000),
    ],
)
def test_valid_window_specs_keep_their_fields(spec: WindowSpec):
    assert spec.kind in ("tumbling", "sliding", "session")


@pytest.mark.parametrize(
    ("kwargs", "fields", "hint"),
    [
        ({"kind": "tumbling"}, ["size_ms"], "needs size_ms"),
        ({"kind": "sliding"}, ["size_ms", "slide_ms"], "needs"),
        ({"kind": "session"}, ["gap_ms"], "needs gap_ms"),
        ({"kind": "tumbling", "size_ms": 0}, ["size_ms"], "above 0"),
        ({"kind": "tumbling", "size_ms": -5}, ["size_ms"], "above 0"),
        ({"kind": "tumbling", "size_ms": 1.5}, ["size_ms"], "whole number"),
        ({"kind": "tumbling", "size_ms": 10, "gap_ms": 5}, ["gap_ms"], "only for session"),
        ({"kind": "session", "gap_ms": 5, "size_ms": 10}, ["size_ms"], "remove it"),
        ({"kind": "tumbling", "size_ms": 10, "slide_ms": 5}, ["slide_ms"], "only for sliding"),
        ({"kind": "sliding", "size_ms": 10, "slide_ms": 20}, ["slide_ms"], "slide_ms <= size_ms"),
        ({"kind": "hopping", "size_ms": 10}, ["kind"], "tumbling, sliding, session"),
    ],
)
def test_invalid_window_specs_name_every_bad_field_and_the_fix(
    kwargs: dict[str, Any], fields: list[str], hint: str
):
    with pytest.raises(WindowConfigError) as exc:
        WindowSpec(**kwargs)
    assert _fields(exc) == fields
    assert hint in str(exc.value)


def test_config_errors_belong_to_the_kernel_tree_and_are_value_errors():
    with pytest.raises(WindowConfigError) as exc:
        WindowSpec("tumbling")
    assert isinstance(exc.value, StreamingError)
    assert isinstance(exc.value, DataFlareError)
    assert isinstance(exc.value, ValueError)


@pytest.mark.parametrize(
    ("kwargs", "fields", "hint"),
    [
        ({"output": "n", "function": "count", "column": "x"}, ["column"], "remove column"),
        ({"output": "s", "function": "sum"}, ["column"], "needs the typed column"),
        ({"output": "p", "function": "percentile", "column": "x"}, ["quantile"], "0.95"),
        (
            {"output": "p", "function": "percentile", "column": "x", "quantile": 1.5},
            ["quantile"],
            "from 0 to 1",
        ),
        ({"output": "m", "function": "max", "column": "x", "quantile": 0.5}, ["quantile"], "only"),
        ({"output": "window_end", "function": "count"}, ["output"], "pick another name"),
        ({"output": "x" * 24, "function": "count"}, ["output"], "1 to 23 bytes"),
        ({"output": "", "function": "count"}, ["output"], "1 to 23 bytes"),
        ({"output": "m", "function": "median", "column": "x"}, ["function"], "percentile"),
        ({"output": "", "function": "sum"}, ["output", "column"], "needs"),
    ],
)
def test_invalid_aggregations_name_the_field_and_the_fix(
    kwargs: dict[str, Any], fields: list[str], hint: str
):
    with pytest.raises(WindowConfigError) as exc:
        Aggregation(**kwargs)
    assert _fields(exc) == fields
    assert hint in str(exc.value)
    assert exc.value.where == f"aggregation {kwargs['output']!r}"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_out_of_orderness_ms": -1}, "max_out_of_orderness_ms"),
        ({"idle_timeout_ms": 0}, "idle_timeout_ms"),
    ],
)
def test_invalid_watermarks_name_the_field(kwargs: dict[str, Any], field: str):
    with pytest.raises(WindowConfigError) as exc:
        WatermarkSpec(**kwargs)
    assert _fields(exc) == [field]


@pytest.mark.parametrize(
    ("kwargs", "hint"),
    [
        ({"mode": "allow"}, "use mode 'drop'"),
        ({"mode": "drop", "allowed_lateness_ms": 10}, "only applies to mode 'allow'"),
        ({"mode": "side_output", "allowed_lateness_ms": 10}, "only applies to mode 'allow'"),
        ({"mode": "allow", "allowed_lateness_ms": -1}, "0 or more"),
        ({"mode": "keep"}, "drop, side_output, allow"),
    ],
)
def test_invalid_late_policies_say_how_to_fix_them(kwargs: dict[str, Any], hint: str):
    with pytest.raises(WindowConfigError, match=hint):
        LatePolicy(**kwargs)


def test_an_aggregator_refuses_duplicate_outputs_and_no_aggregations():
    window = WindowSpec("tumbling", size_ms=10)
    with pytest.raises(WindowConfigError, match="'n' is used twice"):
        WindowAggregator(window, [Aggregation("n", "count"), Aggregation("n", "count")])
    with pytest.raises(WindowConfigError, match="needs at least one"):
        WindowAggregator(window, [])
