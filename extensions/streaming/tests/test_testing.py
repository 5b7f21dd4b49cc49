"""The user-facing testing helpers: as_batches, run_pipeline over a list or a file."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dataflare.kernel import Record
from dataflare.streaming import PipelineTestError
from dataflare.streaming.testing import (
    TestingSink,
    TestingSource,
    as_batches,
    check_pipeline_tests,
    run_pipeline,
)


def test_inputs_of_every_shape_become_batches_in_order():
    """Records, record-JSON dicts and batches mix; a change of fields starts a new batch."""
    batches = as_batches(
        [
            Record(b"a", fields={"x": 1}),
            {"value": "b", "fields": {"x": 2}},
            {"value": "c", "fields": {"y": 3.5}},
        ]
    )
    assert [len(batch) for batch in batches] == [2, 1]
    assert [r.value for batch in batches for r in batch] == [b"a", b"b", b"c"]
    assert batches[1].record(0).fields == {"y": 3.5}


def test_run_pipeline_takes_a_pipeline_file_and_replaces_its_source_and_sinks(tmp_path):
    """The file's operators run; its own source and sinks are not touched."""
    (tmp_path / "ops.py").write_text(
        "def double(batch):\n    return batch.with_columns({'x': batch.column('x') * 2})\n"
    )
    path = tmp_path / "p.yaml"
    path.write_text(
        textwrap.dedent(
            """
            pipeline:
              source: {type: jsonl, options: {path: never-read.jsonl}}
              operators: [{python: {function: "ops:double"}}]
              sinks: [{type: jsonl, options: {path: never-written.jsonl}}]
            """
        )
    )
    output = run_pipeline(path, [{"fields": {"x": 4}}, {"fields": {"x": 5}}])
    assert [r.fields["x"] for r in output.records] == [8, 10]
    assert output.statistics.records_in == 2
    assert not (tmp_path / "never-written.jsonl").exists()


def test_the_testing_source_and_sink_are_the_in_memory_connectors():
    assert TestingSource.__name__ == "MemorySource"
    assert TestingSink.__name__ == "CollectingSink"


def test_pipeline_file_tests_run_from_pytest_and_a_failure_carries_the_diff(tmp_path):
    example = Path(__file__).resolve().parents[3] / "examples/pipelines/orders/pipeline.yaml"
    assert check_pipeline_tests(example) == 2
    broken = tmp_path / "broken.yaml"
    broken.write_text(example.read_text().replace("revenue: 100.0}", "revenue: 99.0}"))
    (tmp_path / "transforms.py").write_text((example.parent / "transforms.py").read_text())
    with pytest.raises(PipelineTestError) as failed:
        check_pipeline_tests(broken)
    assert failed.value.test == "refunds do not count as revenue"
    assert '"revenue": 99.0' in failed.value.diff
    assert '"revenue": 100.0' in failed.value.diff
