"""Tests for JSON-compatibility checks and copies (dataflare.kernel._json)."""

from __future__ import annotations

import json
from types import MappingProxyType

from hypothesis import given
from hypothesis import strategies as st

from dataflare.kernel._json import MAX_DEPTH, json_copy, json_problems, key_path

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_json_values_have_no_problems(value):
    """Whatever json.loads can produce is accepted."""
    assert list(json_problems(value)) == []
    assert json.loads(json.dumps(value)) == value


def test_every_problem_is_reported_with_its_path():
    """Several problems in one value are all reported, each at its own path."""
    value = {"tags": {"a"}, "items": [1, object(), {"bad key": float("nan")}], 3: "x"}
    problems = dict(json_problems(value, "$.data"))
    assert set(problems) == {
        "$.data.tags",
        "$.data.items[1]",
        '$.data.items[2]["bad key"]',
        "$.data",
    }
    assert problems["$.data.tags"].startswith("set is not a JSON value")
    assert "no NaN or infinity" in problems['$.data.items[2]["bad key"]']
    assert problems["$.data"] == "object keys must be strings, got 3"


def test_infinity_is_refused():
    """Infinity is not a JSON number."""
    assert [path for path, _ in json_problems([float("inf")])] == ["[0]"]


def test_too_deep_nesting_is_refused():
    """Nesting deeper than MAX_DEPTH is reported once, at the level it goes too deep."""
    value: object = []
    for _ in range(MAX_DEPTH + 5):
        value = [value]
    problems = list(json_problems(value))
    assert len(problems) == 1
    assert problems[0][0] == "[0]" * MAX_DEPTH
    assert "nested more than 64 levels" in problems[0][1]


def test_copy_is_deep_for_lists_and_dicts():
    """Changing the original after copying does not change the copy."""
    original = {"a": [1, {"b": 2}]}
    copy = json_copy(original)
    original["a"][1]["b"] = 3  # type: ignore[index]
    assert copy == {"a": [1, {"b": 2}]}


def test_copy_turns_tuples_into_lists_and_mappings_into_dicts():
    """The copy holds exactly what JSON gives back."""
    assert json_copy((1, MappingProxyType({"k": (2,)}))) == [1, {"k": [2]}]


def test_copy_leaves_non_json_values_for_the_check():
    """json_copy never raises; what is not JSON stays as it was."""
    marker = object()
    assert json_copy([marker])[0] is marker


def test_key_path_quotes_keys_that_are_not_identifiers():
    """Simple keys read as .name; others are quoted."""
    assert key_path("order_id") == ".order_id"
    assert key_path("a-b") == '["a-b"]'
