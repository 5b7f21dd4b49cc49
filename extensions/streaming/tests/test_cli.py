"""The commands: dataflare run, dataflare test, dataflare streaming connectors."""

from __future__ import annotations

import json
import textwrap

from dataflare.kernel._cli import main

TRANSFORMS = """
def big(batch):
    return batch.filter(batch.column("amount") >= 100)
"""

PIPELINE = """
streaming: {{checkpoint_interval: 0.01, state_dir: {state}}}
pipeline:
  name: orders
  source:
    type: jsonl
    options: {{path: orders.jsonl, columns: [amount], key_field: customer, timestamp_field: ts}}
  operators:
    - python: {{function: "transforms:big"}}
  sinks:
    - {{type: jsonl, options: {{path: big.jsonl}}}}
  dead_letter: {{type: jsonl, options: {{path: dead.jsonl}}}}
  tests:
    - name: big orders pass
      input:
        - {{key: c1, fields: {{amount: 150.0}}}}
        - {{key: c2, fields: {{amount: 50.0}}}}
      expect:
        - {{key: c1, fields: {{amount: 150.0}}}}
    - name: a wrong expectation
      input:
        - {{key: c3, fields: {{amount: 500.0}}}}
      expect:
        - {{key: c4}}
"""


def project(tmp_path):
    (tmp_path / "transforms.py").write_text(TRANSFORMS)
    (tmp_path / "orders.jsonl").write_text(
        '{"customer": "c1", "amount": 120, "ts": 1}\n'
        "{broken\n"
        '{"customer": "c2", "amount": 5, "ts": 2}\n'
    )
    path = tmp_path / "pipeline.yaml"
    path.write_text(textwrap.dedent(PIPELINE.format(state=tmp_path / "state")))
    return path


def test_run_processes_a_pipeline_file_and_dead_letters_the_malformed_line(tmp_path, capsys):
    path = project(tmp_path)
    assert main(["run", str(path), "--json"]) == 0
    statistics = json.loads(capsys.readouterr().out)
    assert (statistics["records_in"], statistics["records_out"], statistics["dead_letters"]) == (
        2,
        1,
        1,
    )
    (line,) = (tmp_path / "big.jsonl").read_text().splitlines()
    assert json.loads(line)["key"] == "c1"
    (dead,) = (tmp_path / "dead.jsonl").read_text().splitlines()
    headers = json.loads(dead)["headers"]
    assert headers["dataflare.error"].startswith(f"{tmp_path / 'orders.jsonl'}:2: not JSON")
    # Run again: the finished checkpoint means nothing is re-emitted; --reset starts over.
    assert main(["run", str(path)]) == 0
    assert "resumed from checkpoint" in capsys.readouterr().err
    assert len((tmp_path / "big.jsonl").read_text().splitlines()) == 1
    assert main(["run", str(path), "--reset"]) == 0
    assert len((tmp_path / "big.jsonl").read_text().splitlines()) == 1


def test_run_rejects_a_bad_pipeline_file_with_exit_78(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("pipeline:\n  source: {type: jsonl, options: {}}\n  sinks: [{type: stdout}]\n")
    assert main(["run", str(path)]) == 78
    assert (
        "bad.yaml:2:34: pipeline.source.options: connector 'jsonl': option 'path' is required"
        in (capsys.readouterr().err)
    )


def test_an_unknown_connector_type_is_named_with_what_is_installed(tmp_path, capsys):
    path = tmp_path / "p.yaml"
    path.write_text("pipeline:\n  source: {type: kafka}\n  sinks: [{type: stdout}]\n")
    assert main(["run", str(path)]) == 1
    err = capsys.readouterr().err
    assert "kafka" in err
    assert "generator" in err


def test_dataflare_test_passes_and_fails_with_a_readable_diff(tmp_path, capsys):
    path = project(tmp_path)
    assert main(["test", str(path)]) == 1
    err = capsys.readouterr().err
    assert "PASS big orders pass" in err
    assert "FAIL a wrong expectation: expected 1 record(s), got 1" in err
    assert '-{"key": "c4"}' in err
    assert '+{"key": "c3"}' in err
    assert "1 passed, 1 failed" in err


def test_streaming_connectors_lists_the_builtins(capsys):
    assert main(["streaming", "connectors"]) == 0
    out = capsys.readouterr().out
    assert "generator" in out
    assert "records, profile, keys" in out
