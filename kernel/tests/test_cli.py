"""The dataflare command: exit codes, stdout for data, stderr for messages."""

from __future__ import annotations

import json

from dataflare.kernel._cli import main


def test_version_names_the_kernel_version(capsys):
    """--version prints the installed dataflare-kernel version and exits 0."""
    from importlib.metadata import version

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith(f"dataflare {version('dataflare-kernel')} (Python 3.")


def test_validate_accepts_a_valid_file(tmp_path, capsys):
    """A valid file exits 0 and says so on stderr, leaving stdout empty."""
    path = tmp_path / "ok.yaml"
    path.write_text("kernel:\n  bus:\n    buffer_size: 16\n")
    assert main(["validate", str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "valid" in captured.err


def test_validate_reports_every_problem_and_exits_78(tmp_path, capsys):
    """A broken file exits 78; JSON output lists each problem with line and column."""
    path = tmp_path / "bad.yaml"
    path.write_text(
        "kernel:\n  bus:\n    buffer_sise: 16\n    shutdown_timeout: -1\nstreming: {}\n"
    )
    assert main(["validate", "--format", "json", str(path)]) == 78
    (report,) = json.loads(capsys.readouterr().out)
    found = [(i["line"], i["column"], i["path"]) for i in report["issues"]]
    assert found == [
        (3, 5, "kernel.bus.buffer_sise"),
        (4, 23, "kernel.bus.shutdown_timeout"),
        (5, 1, "streming"),
    ]
    assert report["issues"][0]["hint"] == "did you mean 'buffer_size'?"


def test_validate_in_text_names_file_line_and_column(tmp_path, capsys):
    """The text format puts file:line:column in front of each problem on stderr."""
    path = tmp_path / "bad.yaml"
    path.write_text("kernel:\n  log:\n    level: loud\n")
    assert main(["validate", str(path)]) == 78
    assert f"{path}:3:12: kernel.log.level" in capsys.readouterr().err


def test_extensions_json_lists_the_builtin_demo(capsys):
    """The kernel's own demo extension loads through its entry point like any other."""
    assert main(["extensions", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["demo"]["status"] == "loaded"
    assert rows["demo"]["distribution"] == "dataflare-kernel"
    assert rows["demo"]["hooks"] == ["dataflare_cli_commands"]


def test_demo_runs_and_reports_json(capsys):
    """dataflare demo --json processes every reading it was asked for."""
    assert main(["demo", "--records", "5000", "--batch-size", "512", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["records"] == 5000
    assert figures["batches"] == 10
    assert figures["records_per_second"] > 0


def test_a_usage_error_exits_2(capsys):
    """An unknown option is a usage error, reported on stderr."""
    assert main(["validate", "--no-such-option", "x"]) == 2
    assert "No such option" in capsys.readouterr().err
