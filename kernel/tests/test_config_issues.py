"""Tests for ConfigIssue: its location, one-line rendering and JSON form."""

from __future__ import annotations

import json

import pytest

from dataflare.kernel._config_issues import ConfigIssue, format_path
from dataflare.kernel.errors import ConfigError


def test_a_full_issue_renders_as_one_line():
    """Location, path, message and hint appear in that order on one line."""
    issue = ConfigIssue(
        "unknown key",
        "pipeline.yaml",
        "kernel.bus.buffer_sise",
        line=4,
        column=5,
        expected="one of: buffer_size, shutdown_timeout",
        hint="did you mean 'buffer_size'?",
    )
    assert issue.render() == (
        "pipeline.yaml:4:5: kernel.bus.buffer_sise: unknown key (did you mean 'buffer_size'?)"
    )


@pytest.mark.parametrize(
    ("issue", "rendered"),
    [
        (ConfigIssue("bad", "a.yaml"), "a.yaml: bad"),
        (ConfigIssue("bad", "a.yaml", line=3), "a.yaml:3: bad"),
        (ConfigIssue("bad", "a.yaml", "x", line=3, column=1), "a.yaml:3:1: x: bad"),
    ],
)
def test_unknown_parts_are_left_out(issue, rendered):
    """Without a position, column or path, the line simply omits them."""
    assert issue.render() == rendered


def test_the_json_form_has_every_field_and_the_location():
    """to_dict is JSON-serialisable and carries the location string."""
    issue = ConfigIssue("bad", "a.yaml", "x", line=3, column=1, expected="an integer")
    data = json.loads(json.dumps(issue.to_dict()))
    assert data == {
        "message": "bad",
        "source": "a.yaml",
        "path": "x",
        "line": 3,
        "column": 1,
        "expected": "an integer",
        "hint": None,
        "location": "a.yaml:3:1",
    }


def test_a_config_error_lists_every_issue():
    """ConfigError's message counts the issues and renders each on its own line."""
    issues = [ConfigIssue("one", "a.yaml", line=1, column=1), ConfigIssue("two", "a.yaml")]
    assert str(ConfigError(issues, "a.yaml")).splitlines() == [
        "a.yaml: 2 problems found",
        "  a.yaml:1:1: one",
        "  a.yaml: two",
    ]


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ((), ""),
        (("kernel", "bus", "buffer_size"), "kernel.bus.buffer_size"),
        (("pipeline", "operators", 2, "uses"), "pipeline.operators[2].uses"),
        (("headers", "content.type"), 'headers["content.type"]'),
        (("a", True), "a[True]"),
        ((0,), "[0]"),
    ],
)
def test_paths_are_written_as_a_user_reads_them(path, text):
    """Keys join with dots, indexes go in brackets, and unusual keys are quoted."""
    assert format_path(path) == text
