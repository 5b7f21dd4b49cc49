"""Pipeline unit tests (``dataflare test``): given inputs, expected outputs, a readable diff.

Tests live in the pipeline file, under ``pipeline.tests``::

    tests:
      - name: big orders pass, small ones do not
        input:
          - {key: c-1, fields: {amount: 250.0}}
          - {key: c-2, fields: {amount: 20.0}}
        expect:
          - {key: c-1}

Each test builds the pipeline afresh (no state leaks between tests), feeds the
inputs through its operators with a testing source and sink, and compares each
output record with the expected one on the members the expectation names. A
failure shows a unified diff of expected and actual records, one JSON line each.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import attrs

from dataflare.kernel import Kernel, Record
from dataflare.kernel.jsonlines import record_from_json, record_to_json
from dataflare.streaming._build import build_pipeline
from dataflare.streaming._spec import PipelineSpec, TestCaseSpec
from dataflare.streaming.errors import PipelineTestError
from dataflare.streaming.testing import arun_pipeline

__all__ = ("TestOutcome", "check_pipeline_tests", "run_pipeline_tests")


@attrs.frozen
class TestOutcome:
    """One test's result."""

    name: str
    passed: bool
    diff: str = ""
    """A unified diff (expected → actual) when the records differ."""
    message: str = ""
    """Why it failed, in a sentence."""


async def run_pipeline_tests(path: Path, *, kernel: Kernel | None = None) -> list[TestOutcome]:
    """Run every test declared in a pipeline file.

    Raises:
        ConfigError: The file is invalid.
    """
    kernel = kernel or Kernel(path)
    kernel.load()
    spec: PipelineSpec = kernel.config.section("pipeline", PipelineSpec)
    outcomes = []
    for test in spec.tests:
        pipeline = build_pipeline(spec, kernel, base_dir=path.resolve().parent)
        output = await arun_pipeline(pipeline, test.input)
        outcomes.append(_judge(test, output.records, len(output.dead_letters)))
    return outcomes


def check_pipeline_tests(path: str | os.PathLike[str]) -> int:
    """Run a pipeline file's tests from Python (in pytest, say); raise on the first failure.

    Returns:
        How many tests passed (all of them).

    Raises:
        PipelineTestError: A test failed; ``diff`` holds the unified diff.
    """
    outcomes = anyio.run(run_pipeline_tests, Path(path))
    for outcome in outcomes:
        if not outcome.passed:
            raise PipelineTestError(outcome.message, test=outcome.name, diff=outcome.diff)
    return len(outcomes)


def _judge(test: TestCaseSpec, records: list[Record], dead: int) -> TestOutcome:
    expected = [_expected(item) for item in test.expect]
    actual = [_project(_as_json(record), want) for record, want in _pairs(records, expected)]
    if actual != expected:
        diff = "\n".join(
            difflib.unified_diff(
                [_line(item) for item in expected],
                [_line(item) for item in actual],
                "expected",
                "actual",
                lineterm="",
            )
        )
        message = f"expected {len(expected)} record(s), got {len(records)}"
        return TestOutcome(test.name, False, diff, message)
    if test.expect_dead_letters is not None and dead != test.expect_dead_letters:
        message = f"expected {test.expect_dead_letters} dead letter(s), got {dead}"
        return TestOutcome(test.name, False, "", message)
    return TestOutcome(test.name, True)


def _pairs(
    records: list[Record], expected: list[dict[str, Any]]
) -> list[tuple[Record, Mapping[str, Any] | None]]:
    # Records beyond the expected ones are compared in full, so the diff shows them.
    return [
        (record, expected[i] if i < len(expected) else None) for i, record in enumerate(records)
    ]


def _as_json(record: Record) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(record_to_json(record))
    return data


def _expected(item: Mapping[str, Any]) -> dict[str, Any]:
    normal = _as_json(record_from_json(json.dumps(dict(item)), source="<expect>"))
    # Compare only what the test names; fields compare as the numbers they are.
    return {name: normal.get(name, {} if name == "fields" else None) for name in item}


def _project(actual: dict[str, Any], want: Mapping[str, Any] | None) -> dict[str, Any]:
    if want is None:
        return actual
    return {name: actual.get(name, {} if name == "fields" else None) for name in want}


def _line(item: Mapping[str, Any]) -> str:
    return json.dumps(item, sort_keys=True, ensure_ascii=False)
