"""Pipeline files: validated through the kernel, every problem with its line and column."""

from __future__ import annotations

import textwrap

from dataflare.kernel import Kernel
from dataflare.kernel._cli import main
from dataflare.streaming import PipelineSpec


def write(tmp_path, text: str):
    path = tmp_path / "pipeline.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_a_valid_pipeline_file_structures_into_a_spec(tmp_path):
    """Every part of a pipeline file becomes its attrs value."""
    path = write(
        tmp_path,
        """
        pipeline:
          name: orders
          source: {type: generator, options: {records: 10, profile: orders}}
          operators:
            - wasm: {uses: high-value.dfp, params: {min: "100"}}
            - key_by: {column: customer}
            - window:
                kind: sliding
                size_ms: 1000
                slide_ms: 500
                aggregations: [{output: p95, function: percentile, column: amount, quantile: 0.95}]
          sinks: [{type: stdout}]
        """,
    )
    spec = Kernel(path).config.section("pipeline", PipelineSpec)
    assert spec.name == "orders"
    assert [op.kind() for op in spec.operators] == ["wasm", "key_by", "window"]
    assert spec.operators[0].wasm.params == {"min": "100"}
    assert spec.operators[2].window.aggregations[0].quantile == 0.95
    assert spec.sinks[0].type == "stdout"


def test_validate_reports_every_problem_with_line_and_column(tmp_path, capsys):
    """A bad pipeline file is rejected with exit 78, each problem at its line and column."""
    path = write(
        tmp_path,
        """
        pipeline:
          source: {type: generator, options: {recordz: 5}}
          operators:
            - python: {function: no_colon}
            - window: {kind: session, aggregations: [{output: s, function: sum}]}
          sinks: [{type: stdout}]
        """,
    )
    assert main(["validate", str(path)]) == 78
    err = capsys.readouterr().err
    where = "pipeline.yaml:3:38: pipeline.source.options: connector 'generator'"
    assert f"{where}: unknown option 'recordz'" in err
    assert (
        "pipeline.yaml:5:26: pipeline.operators[0].python.function: "
        "expected 'package.module:function'" in err
    )
    assert "a session window needs gap_ms" in err
    assert "sum needs 'column:'" in err


def test_an_operator_must_be_exactly_one_kind(tmp_path, capsys):
    """Two kinds in one operator entry are refused, naming both."""
    path = write(
        tmp_path,
        """
        pipeline:
          source: {type: generator}
          operators:
            - {key_by: {column: a}, python: {function: "m:f"}}
          sinks: [{type: stdout}]
        """,
    )
    assert main(["validate", str(path)]) == 78
    assert "exactly one of wasm, python, key_by, window, operator; got python, key_by" in (
        capsys.readouterr().err
    )


def test_sinks_without_a_source_and_a_source_without_sinks_are_refused(tmp_path, capsys):
    """Half a pipeline is a config error, with the fix in the message."""
    no_source = write(tmp_path, "pipeline:\n  sinks: [{type: stdout}]\n")
    assert main(["validate", str(no_source)]) == 78
    assert "a pipeline with sinks needs a (valid) source" in capsys.readouterr().err
    no_sinks = write(tmp_path, "pipeline:\n  source: {type: generator}\n")
    assert main(["validate", str(no_sinks)]) == 78
    assert "add 'sinks: [{type: stdout}]'" in capsys.readouterr().err


def test_a_config_file_without_a_pipeline_stays_valid(tmp_path, capsys):
    """Other extensions' config files need no pipeline section."""
    path = write(tmp_path, "kernel:\n  log: {level: info}\n")
    assert main(["validate", str(path)]) == 0


def test_streaming_settings_are_checked(tmp_path, capsys):
    """The streaming section refuses out-of-range values with the field named."""
    path = write(
        tmp_path,
        """
        streaming:
          batch_size: 0
          backpressure_threshold: 1.5
          backpressure: {strategy: sideways}
        """,
    )
    assert main(["validate", str(path)]) == 78
    err = capsys.readouterr().err
    assert "streaming.batch_size: batch_size must be greater than 0, got 0" in err
    assert "backpressure_threshold must be in (0, 1]" in err
    assert "streaming.backpressure.strategy" in err
