"""Exactly-once results across crashes: checkpoints, source positions, transactional sinks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from dataflare.streaming import (
    AggregationSpec,
    FileOptions,
    FileStateBackend,
    GeneratorConnector,
    GeneratorOptions,
    JsonLinesConnector,
    Operator,
    OperatorError,
    OperatorOutput,
    Pipeline,
    PipelineRunner,
    StreamingSettings,
    StreamProcessor,
    WindowOperatorSpec,
)

pytestmark = pytest.mark.anyio
pytest_plugins = ["dataflare.kernel.testing"]

WINDOW = WindowOperatorSpec(
    kind="tumbling",
    size_ms=10_000,
    aggregations=(AggregationSpec("n", "count"), AggregationSpec("total", "sum", column="value")),
)


class FailOnce(Operator):
    """Passes batches through, but fails the run once after ``after`` batches."""

    name = "fail-once"

    def __init__(self, after: int, armed: list[bool]) -> None:
        self.after, self.armed, self.seen = after, armed, 0

    def process(self, batch):
        self.seen += 1
        if self.armed[0] and self.seen > self.after:
            self.armed[0] = False
            raise OperatorError("simulated crash", operator=self.name)
        return OperatorOutput(batch)


def windowed(out: Path, operator: Operator | None = None) -> Pipeline:
    pipeline = Pipeline("crashy", GeneratorConnector(GeneratorOptions(records=60_000, keys=7)))
    if operator is not None:
        pipeline.apply(operator)
    pipeline.key_by("user_id").window(WINDOW)
    return pipeline.sink(JsonLinesConnector(FileOptions(path=str(out))))


async def test_a_failed_run_resumes_from_its_checkpoint_without_loss_or_duplicates(tmp_path):
    """Fail mid-run, run again: the output file equals an uninterrupted run's, line for line."""
    settings = StreamingSettings(batch_size=1000, checkpoint_interval=0.0001)
    reference = tmp_path / "reference.jsonl"
    await PipelineRunner(
        windowed(reference), settings, backend=FileStateBackend(tmp_path / "r")
    ).run()

    out = tmp_path / "out.jsonl"
    backend = FileStateBackend(tmp_path / "state")
    armed = [True]
    with pytest.raises(OperatorError, match="simulated crash"):
        await PipelineRunner(windowed(out, FailOnce(30, armed)), settings, backend=backend).run()
    partial = out.read_text().splitlines()
    assert 0 < len(partial) < len(reference.read_text().splitlines())
    statistics = await PipelineRunner(
        windowed(out, FailOnce(30, armed)), settings, backend=backend
    ).run()
    assert statistics.restored_from is not None
    assert out.read_text() == reference.read_text()


PIPELINE = """
streaming:
  batch_size: 2000
  checkpoint_interval: 0.05
  state_dir: {state}
pipeline:
  name: sigkill
  source:
    type: generator
    options: {{records: 400000, keys: 20, interval_us: 1000, rate: {rate}}}
  operators:
    - python: {{function: "transforms:big"}}
    - key_by: {{column: user_id}}
    - window:
        kind: tumbling
        size_ms: 5000
        aggregations:
          - {{output: n, function: count}}
          - {{output: total, function: sum, column: value}}
  sinks:
    - {{type: jsonl, options: {{path: {out}}}}}
"""


def write_pipeline(directory: Path, rate: str) -> Path:
    directory.mkdir()
    (directory / "transforms.py").write_text(
        "def big(batch):\n    return batch.filter(batch.column('value') >= 300)\n"
    )
    path = directory / "pipeline.yaml"
    path.write_text(textwrap.dedent(PIPELINE.format(state="state", out="out.jsonl", rate=rate)))
    return path


def dataflare(*args: str, cwd: Path) -> list[str]:
    return [sys.executable, "-m", "dataflare.kernel", *args]


def test_sigkill_mid_run_then_restart_gives_the_results_of_an_uninterrupted_run(tmp_path):
    """The process is killed with SIGKILL mid-run; the restart's final output equals a clean run."""
    clean = write_pipeline(tmp_path / "clean", "null")
    subprocess.run(
        dataflare("run", str(clean), cwd=clean.parent), cwd=clean.parent, check=True, timeout=120
    )
    expected = (clean.parent / "out.jsonl").read_text().splitlines()
    assert len(expected) == 20 * 80  # 20 keys x 80 five-second windows

    crashy = write_pipeline(tmp_path / "crashy", "100000")
    out = crashy.parent / "out.jsonl"
    checkpoint = crashy.parent / "state" / "sigkill" / "checkpoint.state"
    process = subprocess.Popen(
        dataflare("run", str(crashy), cwd=crashy.parent),
        cwd=crashy.parent,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        # Kill once a checkpoint exists and more output was written after it.
        while time.monotonic() < deadline:
            if checkpoint.exists() and out.exists() and len(out.read_text().splitlines()) > 200:
                break
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            time.sleep(0.02)
        else:
            pytest.fail("no checkpoint and output within 60 s")
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        if process.stderr:
            process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    killed_at = len(out.read_text().splitlines())
    assert 0 < killed_at < len(expected)

    restarted = subprocess.run(
        dataflare("run", str(crashy), cwd=crashy.parent),
        cwd=crashy.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert restarted.returncode == 0, restarted.stderr
    assert "resumed from checkpoint" in restarted.stderr
    assert out.read_text().splitlines() == expected


async def test_checkpoints_in_a_jetstream_bucket_resume_a_pipeline(tmp_path, nats_server):
    """state_backend: jetstream keeps checkpoints in a KV bucket on a real server."""
    settings = StreamingSettings(
        batch_size=1000,
        checkpoint_interval=0.0001,
        state_backend="jetstream",
        state_servers=(nats_server.url,),
        state_bucket="pipelines",
    )
    reference = tmp_path / "reference.jsonl"
    await PipelineRunner(windowed(reference), StreamingSettings(checkpoint_interval=0)).run()
    out = tmp_path / "out.jsonl"
    armed = [True]
    first = StreamProcessor(settings)
    try:
        with pytest.raises(OperatorError, match="simulated crash"):
            await first.run(windowed(out, FailOnce(30, armed)))
        assert await first.backend.list_keys() == ["crashy/checkpoint"]
    finally:
        await first.aclose()
    second = StreamProcessor(settings)
    try:
        statistics = await second.run(windowed(out, FailOnce(30, armed)))
    finally:
        await second.aclose()
    assert statistics.restored_from is not None
    assert out.read_text() == reference.read_text()
