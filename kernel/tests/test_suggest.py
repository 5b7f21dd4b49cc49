"""Tests for did-you-mean suggestions and fix hints."""

from __future__ import annotations

import enum

import pytest

from dataflare.kernel._suggest import closest, did_you_mean, hint_for_value


class Level(enum.StrEnum):
    """Levels to suggest from."""

    DEBUG = "debug"
    INFO = "info"


def test_a_close_misspelling_is_suggested():
    """One swapped or wrong letter finds the intended name."""
    assert did_you_mean("buffer_sise", ["buffer_size", "shutdown_timeout"]) == (
        "did you mean 'buffer_size'?"
    )
    assert closest("shutdwon_timeout", ["buffer_size", "shutdown_timeout"]) == "shutdown_timeout"


def test_case_is_ignored_and_the_choice_is_returned_as_written():
    """`INFO` finds `info`, and `Kernel` finds `kernel`."""
    assert closest("INFO", ["debug", "info"]) == "info"
    assert closest("Kernel", ["kernel"]) == "kernel"


def test_nothing_is_suggested_when_nothing_is_close():
    """An unrelated word gets no suggestion."""
    assert did_you_mean("metrics", ["kernel", "streaming"]) is None


@pytest.mark.parametrize(
    ("kind", "value", "hint"),
    [
        (int, 3.0, "write 3"),
        (int, 3.7, "use a whole number"),
        (int, "10", "remove the quotes to make it a number"),
        (float, "1.5", "remove the quotes to make it a number"),
        (bool, "yes", "write true or false, without quotes"),
        (str, 8080, "put the value in quotes to make it a string"),
        (str | None, True, "put the value in quotes to make it a string"),
        (tuple[str, ...], "demo", "write a list, e.g. [demo]"),
        (Level, "inf", "did you mean 'info'?"),
        (int, "ten", None),
        (float, 3.7, None),
    ],
)
def test_hints_say_how_to_write_the_value(kind, value, hint):
    """Each common slip gets the matching fix, and there is none where none helps."""
    assert hint_for_value(kind, value) == hint
