"""Tests for naming types and values in plain words."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Literal

import attrs
import pytest

from dataflare.kernel._describe import choices_of, describe_type, describe_value


class Format(enum.Enum):
    """An enum to describe."""

    JSON = "json"
    CONSOLE = "console"


@attrs.frozen
class Section:
    """An attrs class to describe."""

    size: int = 1


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        (int, "an integer"),
        (float, "a number"),
        (str, "a string"),
        (bool, "true or false"),
        (datetime, "an ISO 8601 timestamp"),
        (Any, "any value"),
        (Format, "one of: json or console"),
        (Literal["a", "b", "c"], "one of: a, b or c"),
        (Literal["only"], "one of: only"),
        (tuple[str, ...], "a list of strings"),
        (list[int], "a list of integers"),
        (frozenset[str], "a list of strings"),
        (list[Any], "a list"),
        (tuple[str, ...] | None, "a list of strings or null"),
        (list[list[int]], "a list of lists of integers"),
        (dict[str, int], "a mapping of strings to integers"),
        (Mapping[str, Section], "a mapping of strings to mappings"),
        (Section, "a mapping"),
        (int | str, "an integer or a string"),
        (date, "a date"),
    ],
)
def test_types_are_described_as_a_yaml_author_says_them(kind, words):
    """Each type annotation gets the words a config file's author would use."""
    assert describe_type(kind) == words


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (3.7, "3.7"),
        (10, "10"),
        ("10", "'10'"),
        ("x" * 50, repr("x" * 37 + "...")),
        ([1], "a list"),
        ({"a": 1}, "a mapping"),
        (date(2024, 1, 2), "the timestamp 2024-01-02"),
    ],
)
def test_values_are_shown_as_they_look_in_yaml(value, words):
    """Values read like YAML, with strings quoted so '10' is told from 10."""
    assert describe_value(value) == words


def test_choices_are_listed_for_enums_and_literals_only():
    """Enums and Literals list their values; other types have no choices."""
    assert choices_of(Format) == ("json", "console")
    assert choices_of(Literal["a", 1, True]) == ("a", "1", "true")
    assert choices_of(int) is None
