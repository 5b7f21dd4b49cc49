"""The extension in a kernel: entry point, sections, metrics, the public surface, the README."""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from pathlib import Path

import anyio
import numpy as np
import pytest

import dataflare.streaming
from dataflare.kernel import ExtensionStatus, Kernel, RecordBatch, hookimpl
from dataflare.kernel._cli import main
from dataflare.streaming import (
    CollectingSink,
    Connector,
    GeneratorConnector,
    GeneratorOptions,
    NullSink,
    Operator,
    OperatorOutput,
    Pipeline,
    PipelineRunner,
    Received,
    StreamingExtension,
    StreamingSettings,
    load_pipeline,
)

README = Path(__file__).parents[1] / "README.md"
EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "pipelines"


def test_the_extension_loads_from_its_entry_point():
    (point,) = [p for p in entry_points(group="dataflare.extensions") if p.name == "streaming"]
    assert point.load() is StreamingExtension
    kernel = Kernel()
    kernel.load()
    info = next(info for info in kernel.extensions if info.name == "streaming")
    assert info.status is ExtensionStatus.LOADED
    assert kernel.config.section("streaming", StreamingSettings) == StreamingSettings()


def test_dataflare_is_a_namespace_package():
    """PEP 420: the streaming distribution ships no dataflare/__init__.py."""
    src = Path(dataflare.streaming.__file__).parents[1]
    assert not (src / "__init__.py").exists()


def test_all_names_exist_and_every_public_name_is_listed():
    public = {name for name in vars(dataflare.streaming) if not name.startswith("_")}
    modules = {name for name in public if name in ("errors", "testing", "windows")}
    assert set(dataflare.streaming.__all__) == public - modules - {"annotations"}
    for name in dataflare.streaming.__all__:
        assert getattr(dataflare.streaming, name) is not None


@pytest.mark.anyio
async def test_running_pipelines_report_metrics_through_the_kernel():
    """While a pipeline runs, the metrics hook reports its counters and backpressure level."""
    kernel = Kernel()
    kernel.load()
    seen: list[dict[str, float]] = []

    def look(batch):
        samples = kernel.collect_metrics()
        seen.append({s.name: s.value for s in samples if s.labels.get("pipeline") == "metered"})
        return batch

    source = GeneratorConnector(GeneratorOptions(records=3000))
    pipeline = Pipeline("metered", source).map_batches(look).sink(NullSink())
    await PipelineRunner(pipeline, StreamingSettings(batch_size=1000, checkpoint_interval=0)).run()
    assert seen[-1]["dataflare_streaming_records_in_total"] >= 2000
    assert "dataflare_streaming_backpressure_level" in seen[-1]
    assert "dataflare_streaming_throttled_seconds_total" in seen[-1]
    await anyio.sleep(0)
    assert not [s for s in kernel.collect_metrics() if s.labels.get("pipeline") == "metered"]


def test_the_readme_python_example_runs():
    code = re.search(r"## In Python\n\n```python\n(.*?)```", README.read_text(), re.S)
    assert code is not None
    exec(compile(code.group(1), str(README), "exec"), {})


def test_the_readme_pipeline_file_is_valid(tmp_path, capsys):
    text = re.search(r"## A pipeline file\n\n```yaml\n(.*?)```", README.read_text(), re.S)
    assert text is not None
    path = tmp_path / "pipeline.yaml"
    path.write_text(text.group(1))
    assert main(["validate", str(path)]) == 0, capsys.readouterr().err


def test_the_example_pipeline_validates_tests_and_runs(tmp_path, capsys, monkeypatch):
    example = EXAMPLES / "orders" / "pipeline.yaml"
    assert main(["validate", str(example)]) == 0
    assert main(["test", str(example)]) == 0
    assert "2 passed, 0 failed" in capsys.readouterr().err
    # Run a copy, so the example directory stays clean.
    for name in ("pipeline.yaml", "orders.jsonl", "transforms.py"):
        (tmp_path / name).write_text((EXAMPLES / "orders" / name).read_text())
    monkeypatch.chdir(tmp_path)
    assert main(["run", "pipeline.yaml"]) == 0
    assert len((tmp_path / "out" / "revenue.jsonl").read_text().splitlines()) == 4
    assert "'n/a'" in (tmp_path / "out" / "dead-letters.jsonl").read_text()


class Countdown(Connector):
    """A third party's source: n, n-1, ... 1 in one batch."""

    name = "countdown"

    def __init__(self, start: int) -> None:
        super().__init__()
        self.start, self.done = start, False

    async def receive(self, max_records, timeout):
        if self.done:
            return None
        self.done = True
        return Received(RecordBatch.from_arrays(columns={"n": np.arange(self.start, 0, -1)}))


class Doubler(Operator):
    def __init__(self, column: str) -> None:
        self.column = column

    def process(self, batch):
        return OperatorOutput(batch.with_columns({self.column: batch.column(self.column) * 2}))


class ThirdParty:
    """An extension contributing a connector and an operator through the kernel's hooks."""

    name = "third-party"

    @hookimpl
    def dataflare_connectors(self, register):
        register("countdown", lambda options: Countdown(int(options["from"])))

    @hookimpl
    def dataflare_operators(self, register):
        register("double", lambda options: Doubler(options["column"]))


def test_third_party_connectors_and_operators_are_used_by_name(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        "pipeline:\n"
        "  source: {type: countdown, options: {from: 3}}\n"
        "  operators:\n"
        "    - operator: {type: double, options: {column: n}}\n"
        "  sinks: [{type: discard}]\n"
    )
    kernel = Kernel(path, plugins=[ThirdParty()])
    loaded = load_pipeline(path, kernel=kernel)
    assert loaded.pipeline.operators[0].name == "operator-0"
    sink = CollectingSink()
    loaded.pipeline.sinks[:] = [sink]
    anyio.run(PipelineRunner(loaded.pipeline, StreamingSettings(checkpoint_interval=0)).run)
    assert sink.batch().column("n").tolist() == [6, 4, 2]


def test_the_connector_example_in_the_docs_works_end_to_end():
    docs = Path(__file__).resolve().parents[3] / "docs" / "streaming.md"
    code = re.search(r"## Writing a connector\n.*?```python\n(.*?)```", docs.read_text(), re.S)
    assert code is not None
    namespace: dict = {}
    exec(compile(code.group(1), str(docs), "exec"), namespace)
    sink = CollectingSink()
    source = namespace["TickSource"](2500)
    anyio.run(PipelineRunner(Pipeline("ticks", source).sink(sink), StreamingSettings()).run)
    assert sink.batch().timestamps.tolist() == list(range(2500))
