"""Built-in connectors: files, stdio and the generator, through whole pipelines."""

from __future__ import annotations

import io
import json
import os

import numpy as np
import pytest

from dataflare.kernel import Kernel, RecordBatch
from dataflare.streaming import (
    ERROR_HEADER,
    CollectingSink,
    ConnectorError,
    CsvConnector,
    FileOptions,
    GeneratorConnector,
    GeneratorOptions,
    JsonLinesConnector,
    Pipeline,
    PipelineRunner,
    StdinConnector,
    StdioOptions,
    StdoutConnector,
    StreamingSettings,
)

pytestmark = pytest.mark.anyio

NO_CHECKPOINTS = StreamingSettings(checkpoint_interval=0)


async def run(pipeline):
    return await PipelineRunner(pipeline, NO_CHECKPOINTS).run()


async def test_jsonl_objects_become_typed_records_and_malformed_lines_dead_letters(tmp_path):
    """Good lines become records; a bad line goes to the dead letters with file:line and why."""
    source = tmp_path / "in.jsonl"
    source.write_text(
        '{"user": "ann", "amount": 12.5, "ts": 1000}\n'
        "this is not json\n"
        '{"user": "bob", "amount": "lots", "ts": 2000}\n'
        "\n"
        '{"user": "cy", "amount": 3, "ts": "1970-01-01T00:00:03+00:00"}\n'
    )
    options = FileOptions(
        path=str(source), columns=("amount",), key_field="user", timestamp_field="ts"
    )
    sink, letters = CollectingSink(), CollectingSink()
    pipeline = Pipeline("p", JsonLinesConnector(options)).sink(sink).dead_letters(letters)
    statistics = await run(pipeline)
    out = list(sink.batch())
    assert [(r.key, r.timestamp, r.fields["amount"]) for r in out] == [
        (b"ann", 1000, 12.5),
        (b"cy", 3000, 3.0),
    ]
    assert out[0].value == b'{"user": "ann", "amount": 12.5, "ts": 1000}'
    errors = [r.headers[ERROR_HEADER] for r in letters.batch()]
    assert errors[0].startswith(f"{source}:2: not JSON")
    assert errors[1] == f"{source}:3: column 'amount' must be a number, got 'lots'"
    assert [r.value for r in letters.batch()] == [
        b"this is not json",
        b'{"user": "bob", "amount": "lots", "ts": 2000}',
    ]
    assert statistics.dead_letters == 2


async def test_a_jsonl_sink_writes_record_json_that_the_records_format_reads_back(tmp_path):
    """What the jsonl sink writes, a jsonl source with format: records reads unchanged."""
    batch = RecordBatch.from_arrays(
        keys=[b"a", b"b"], values=[b"x", b"y"], timestamps=[5, 6], columns={"n": np.array([1, 2])}
    )
    out = tmp_path / "out.jsonl"
    first = Pipeline("w", _Given(batch)).sink(JsonLinesConnector(FileOptions(path=str(out))))
    await run(first)
    assert json.loads(out.read_text().splitlines()[0]) == {
        "key": "a",
        "value": "x",
        "timestamp": 5,
        "fields": {"n": 1},
    }
    sink = CollectingSink()
    again = JsonLinesConnector(FileOptions(path=str(out), format="records"))
    await run(Pipeline("r", again).sink(sink))
    assert sink.batch() == batch


async def test_csv_rows_become_records_and_a_short_row_is_dead_lettered(tmp_path):
    """The header names the fields; a row with the wrong cell count is rejected with its line."""
    source = tmp_path / "in.csv"
    source.write_text("device,temp,ts\nd1,20.5,1000\nd2,21\nd3,19.0,3000\n")
    options = FileOptions(
        path=str(source), columns=("temp",), key_field="device", timestamp_field="ts"
    )
    sink, letters = CollectingSink(), CollectingSink()
    await run(Pipeline("p", CsvConnector(options)).sink(sink).dead_letters(letters))
    assert [(r.key, r.fields["temp"], r.timestamp) for r in sink.batch()] == [
        (b"d1", 20.5, 1000),
        (b"d3", 19.0, 3000),
    ]
    assert json.loads(sink.batch().value(0)) == {"device": "d1", "temp": "20.5", "ts": "1000"}
    (letter,) = letters.batch()
    assert letter.headers[ERROR_HEADER] == f"{source}:3: 2 cells, the header has 3"


async def test_a_csv_sink_writes_a_header_and_one_row_per_record(tmp_path):
    out = tmp_path / "out.csv"
    batch = RecordBatch.from_arrays(
        keys=[b"k"], values=[b"v"], timestamps=[7], columns={"n": np.array([3])}
    )
    await run(Pipeline("p", _Given(batch)).sink(CsvConnector(FileOptions(path=str(out)))))
    assert out.read_text() == "key,timestamp,n,value\nk,7,3,v\n"


async def test_stdin_lines_flow_to_stdout():
    """stdin JSON objects come out on stdout as record JSON; a bad line is dead-lettered."""
    read_end, write_end = os.pipe()
    os.write(write_end, b'{"id": 1, "x": 2}\nnope\n{"id": 2, "x": 4}')  # last line unterminated
    os.close(write_end)
    stdout = io.StringIO()
    letters = CollectingSink()
    with os.fdopen(read_end, "rb") as stdin:
        source = StdinConnector(StdioOptions(columns=("x",), key_field="id"), stream=stdin)
        pipeline = Pipeline("p", source).sink(StdoutConnector(StdioOptions(), stream=stdout))
        await run(pipeline.dead_letters(letters))
    lines = [json.loads(line) for line in stdout.getvalue().splitlines()]
    assert [(line["key"], line["fields"]["x"]) for line in lines] == [("1", 2.0), ("2", 4.0)]
    assert letters.batch().headers(0)[ERROR_HEADER].startswith("<stdin>:2: not JSON")


def test_the_generator_is_a_pure_function_of_the_record_index():
    """Record i is the same whichever batch it is generated in: replays are exact."""
    generator = GeneratorConnector(GeneratorOptions(profile="orders", keys=10))
    whole = generator.generate(0, 100)
    parts = RecordBatch.concat([generator.generate(0, 30), generator.generate(30, 70)])
    assert whole == parts
    record = whole.record(12)
    assert record.value == b'{"order":"o-0000000012","card":"4111-1111-1111-' + (
        f"{12 * 7919 % 10000:04d}".encode() + b'"}'
    )
    mixed = 12 * 2654435761 % 2**31
    assert record.fields["customer"] == mixed % 10
    assert record.fields["amount"] == (mixed >> 8) % 50000 / 100
    assert 0 <= record.fields["region"] <= 4


async def test_the_generator_stops_after_its_records_and_resumes_from_a_position():
    generator = GeneratorConnector(GeneratorOptions(records=10))
    first = await generator.receive(6, 0.0)
    assert len(first.batch) == 6
    assert generator.position() == {"next": 6}
    resumed = GeneratorConnector(GeneratorOptions(records=10))
    await resumed.seek(generator.position())
    rest = await resumed.receive(100, 0.0)
    assert rest.batch.column("user_id").tolist() == [6, 7, 8, 9]
    assert await resumed.receive(100, 0.0) is None


def test_connectors_are_registered_through_the_kernel_hook():
    """Every built-in is in the kernel's connector registry, attributed to streaming."""
    kernel = Kernel()
    kernel.load()
    names = {component.name: component.extension for component in kernel.connectors}
    for name in ("jsonl", "csv", "stdin", "stdout", "generator", "nats", "discard"):
        assert names[name] == "streaming"
    built = kernel.connectors.get("generator").factory({"records": 3})
    assert isinstance(built, GeneratorConnector)
    assert built.options.records == 3


class _Given(GeneratorConnector):
    """A source that returns one given batch."""

    def __init__(self, batch: RecordBatch) -> None:
        super().__init__(GeneratorOptions(records=len(batch)))
        self.batch = batch

    def generate(self, start: int, count: int) -> RecordBatch:
        return self.batch.slice(start, start + count)


async def test_a_missing_input_file_is_a_connector_error_naming_the_path(tmp_path):
    missing = tmp_path / "nope.jsonl"
    pipeline = Pipeline("p", JsonLinesConnector(FileOptions(path=str(missing))))
    with pytest.raises(ConnectorError, match=r"connector 'jsonl': cannot read .*nope.jsonl"):
        await run(pipeline.sink(CollectingSink()))


async def test_connectors_report_their_status_and_counters(tmp_path):
    source = GeneratorConnector(GeneratorOptions(records=1234))
    out = JsonLinesConnector(FileOptions(path=str(tmp_path / "out.jsonl")))
    assert not source.status().connected
    await run(Pipeline("p", source).sink(out))
    assert source.status().records_in == 1234
    status = out.status()
    assert (status.name, status.records_out, status.connected) == ("jsonl", 1234, False)
