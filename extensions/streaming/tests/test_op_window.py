"""The window operator in pipelines: keyed results, late records, idle sources."""

from __future__ import annotations

import numpy as np

from dataflare.kernel import RecordBatch
from dataflare.streaming import (
    ERROR_HEADER,
    AggregationSpec,
    LateSpec,
    MemorySource,
    Pipeline,
    StreamingSettings,
    WindowOperatorSpec,
)
from dataflare.streaming.testing import run_pipeline

TUMBLING = WindowOperatorSpec(
    kind="tumbling",
    size_ms=1000,
    aggregations=(
        AggregationSpec("n", "count"),
        AggregationSpec("total", "sum", column="amount"),
        AggregationSpec("top", "max", column="amount"),
    ),
)


def orders(rows):
    keys, stamps, amounts = zip(*rows, strict=True)
    return RecordBatch.from_arrays(
        keys=[k.encode() for k in keys],
        timestamps=list(stamps),
        columns={"amount": np.array(amounts, float)},
    )


def results(output):
    return sorted(
        (
            r.key.decode(),
            r.fields["window_start"],
            r.fields["n"],
            r.fields["total"],
            r.fields["top"],
        )
        for r in output.records
    )


def test_a_tumbling_window_emits_one_result_per_key_and_window():
    """Counts, sums and maxima per key and one-second window, each window emitted once."""
    pipeline = Pipeline("w", MemorySource([])).window(TUMBLING)
    batch = orders(
        [("a", 100, 1.0), ("b", 200, 5.0), ("a", 900, 2.0), ("a", 1500, 7.0), ("b", 2100, 1.0)]
    )
    output = run_pipeline(pipeline, [batch])
    assert results(output) == [
        ("a", 0, 2, 3.0, 2.0),
        ("a", 1000, 1, 7.0, 7.0),
        ("b", 0, 1, 5.0, 5.0),
        ("b", 2000, 1, 1.0, 1.0),
    ]
    assert {r.timestamp - r.fields["window_start"] for r in output.records} == {1000}


def test_key_by_then_window_groups_by_a_typed_column():
    """key_by turns a column into keys the window groups by."""
    batch = RecordBatch.from_arrays(
        timestamps=[10, 20, 30, 40],
        columns={"user": np.array([1, 2, 1, 1]), "amount": np.array([1.0, 2.0, 3.0, 4.0])},
    )
    pipeline = Pipeline("w", MemorySource([])).key_by("user").window(TUMBLING)
    output = run_pipeline(pipeline, [batch])
    assert results(output) == [("1", 0, 3, 8.0, 4.0), ("2", 0, 1, 2.0, 2.0)]


def test_late_records_go_to_the_dead_letters_with_side_output():
    """With late.mode side_output, a record behind the watermark is dead-lettered as late."""
    spec = WindowOperatorSpec(
        kind="tumbling",
        size_ms=1000,
        aggregations=(AggregationSpec("n", "count"),),
        late=LateSpec(mode="side_output"),
    )
    pipeline = Pipeline("w", MemorySource([])).window(spec)
    first = RecordBatch.from_arrays(keys=[b"a", b"a"], timestamps=[100, 5000])
    late = RecordBatch.from_arrays(keys=[b"a"], values=[b"too late"], timestamps=[200])
    output = run_pipeline(
        pipeline, [first, late], settings=StreamingSettings(batch_size=1, checkpoint_interval=0)
    )
    (letter,) = output.dead_letters
    assert letter.value == b"too late"
    assert letter.headers[ERROR_HEADER].startswith("late")
    assert sorted((r.fields["window_start"], r.fields["n"]) for r in output.records) == [
        (0, 1),
        (5000, 1),
    ]
