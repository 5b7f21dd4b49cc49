"""Testing pipelines: a testing source and sink, and one call to run a pipeline over a list.

Pipeline unit tests declared in a file (``dataflare test``) run from pytest with
:func:`check_pipeline_tests`.

Example::

    from dataflare.streaming.testing import run_pipeline

    output = run_pipeline(pipeline, [{"key": "u1", "fields": {"amount": 120.0}}])
    assert [r.key for r in output.records] == [b"u1"]

The pipeline's own source and sinks are replaced by a :class:`TestingSource` over
the inputs and a :class:`TestingSink`; its operators (WASM included, verified as
always) run as they would in production. Checkpoints stay in memory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import anyio
import attrs

from dataflare.kernel import Record, RecordBatch
from dataflare.kernel.jsonlines import record_from_json
from dataflare.streaming._build import load_pipeline
from dataflare.streaming._conn_memory import CollectingSink, MemorySource
from dataflare.streaming._pipeline import Pipeline
from dataflare.streaming._runner import PipelineRunner
from dataflare.streaming._settings import StreamingSettings
from dataflare.streaming._state import MemoryStateBackend
from dataflare.streaming._statistics import PipelineStatistics

__all__ = (
    "PipelineOutput",
    "TestingSink",
    "TestingSource",
    "arun_pipeline",
    "as_batches",
    "check_pipeline_tests",
    "run_pipeline",
)

TestingSource = MemorySource
"""A source over given batches (then end of input)."""
TestingSink = CollectingSink
"""A sink that keeps every batch it receives."""

Input = Record | RecordBatch | Mapping[str, Any]


@attrs.frozen
class PipelineOutput:
    """What a test run produced."""

    records: list[Record]
    """Every record the sinks received, in order."""
    dead_letters: list[Record]
    """Every dead-lettered record, with its ``dataflare.error`` header."""
    statistics: PipelineStatistics
    """The run's figures."""


def as_batches(inputs: Iterable[Input]) -> list[RecordBatch]:
    """Turn records, record-JSON dicts and batches into batches, keeping the order.

    Consecutive records with the same typed field names share a batch.
    """
    batches: list[RecordBatch] = []
    run: list[Record] = []
    for item in inputs:
        if isinstance(item, RecordBatch):
            batches += [RecordBatch.from_records(run)] if run else []
            run = []
            batches.append(item)
            continue
        record = item if isinstance(item, Record) else _record(item)
        if run and set(run[-1].fields) != set(record.fields):
            batches.append(RecordBatch.from_records(run))
            run = []
        run.append(record)
    if run:
        batches.append(RecordBatch.from_records(run))
    return batches


def _record(data: Mapping[str, Any]) -> Record:
    return record_from_json(json.dumps(dict(data)), source="<test input>")


async def arun_pipeline(
    pipeline: Pipeline | str | os.PathLike[str],
    inputs: Iterable[Input],
    *,
    settings: StreamingSettings | None = None,
) -> PipelineOutput:
    """Run ``pipeline`` over ``inputs`` with a testing source and sink (async form)."""
    if not isinstance(pipeline, Pipeline):
        pipeline = load_pipeline(Path(pipeline)).pipeline
    sink, letters = TestingSink(), TestingSink()
    under_test = Pipeline(pipeline.name, TestingSource(as_batches(inputs)))
    under_test.operators = pipeline.operators
    under_test.sink(sink).dead_letters(letters)
    settings = settings or StreamingSettings(checkpoint_interval=0)
    statistics = await PipelineRunner(under_test, settings, backend=MemoryStateBackend()).run()
    return PipelineOutput(
        records=[record for batch in sink.batches for record in batch],
        dead_letters=[record for batch in letters.batches for record in batch],
        statistics=statistics,
    )


def run_pipeline(
    pipeline: Pipeline | str | os.PathLike[str],
    inputs: Iterable[Input],
    *,
    settings: StreamingSettings | None = None,
) -> PipelineOutput:
    """Run ``pipeline`` over ``inputs`` and collect what its sinks would receive.

    Args:
        pipeline: A :class:`Pipeline`, or the path of a pipeline file.
        inputs: Records, record-JSON dicts (``key``, ``value``, ``timestamp``,
            ``fields``...) or batches, in order.
        settings: Processor settings; checkpoints off by default.

    Returns:
        The output records, the dead letters and the statistics.
    """
    return anyio.run(lambda: arun_pipeline(pipeline, inputs, settings=settings))


def check_pipeline_tests(path: str | os.PathLike[str]) -> int:
    """Run the tests declared in a pipeline file; raise ``PipelineTestError`` on a failure.

    Use it to run ``dataflare test``'s tests from pytest::

        def test_orders_pipeline():
            assert check_pipeline_tests("pipelines/orders.yaml") == 2

    Returns:
        How many tests passed (all of them).
    """
    # Imported here: the test runner itself uses this module's helpers.
    from dataflare.streaming._pipeline_tests import check_pipeline_tests as check

    return check(path)
