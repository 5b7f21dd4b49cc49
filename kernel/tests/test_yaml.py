"""Tests for parsing YAML into plain data with the position of every key and value."""

from __future__ import annotations

from datetime import date

import pytest

from dataflare.kernel._yaml import Position, parse_document, parse_scalar
from dataflare.kernel.errors import ConfigError

TEXT = """\
# a comment
kernel:
  bus:
    buffer_size: 10
  names: [a, 'b', "c"]
  note: |
    two
    lines
"""


def problems(text: str) -> list[tuple[int | None, int | None, str, str]]:
    """Parse text that must fail; return (line, column, path, message) per issue."""
    with pytest.raises(ConfigError) as caught:
        parse_document(text, "test.yaml")
    return [(i.line, i.column, i.path, i.message) for i in caught.value.issues]


def test_values_become_plain_data():
    """Mappings, lists and scalars come out as dict, list and Python scalars."""
    document = parse_document(TEXT, "test.yaml")
    assert document.data == {
        "kernel": {"bus": {"buffer_size": 10}, "names": ["a", "b", "c"], "note": "two\nlines\n"}
    }
    assert type(document.data["kernel"]["bus"]["buffer_size"]) is int


def test_every_value_and_key_has_its_position():
    """Values, list items and keys are found at their 1-based line and column."""
    document = parse_document(TEXT, "test.yaml")
    assert document.value_position(("kernel", "bus", "buffer_size")) == Position(4, 18)
    assert document.key_position(("kernel", "bus", "buffer_size")) == Position(4, 5)
    assert document.value_position(("kernel", "names", 2)) == Position(5, 19)
    assert document.key_position(("kernel",)) == Position(2, 1)


def test_a_path_past_the_data_falls_back_to_its_closest_ancestor():
    """A missing key's position is that of the closest value that exists."""
    document = parse_document(TEXT, "test.yaml")
    assert document.value_position(("kernel", "bus", "missing", 3)) == Position(4, 5)
    assert document.key_position(("kernel", "names", 1)) == Position(5, 14)


def test_string_styles_are_recorded():
    """Plain, quoted and block strings are told apart (quoting means: keep it a string)."""
    document = parse_document(TEXT, "test.yaml")
    assert document.styles[("kernel", "names", 0)] == ""
    assert document.styles[("kernel", "names", 1)] == "'"
    assert document.styles[("kernel", "names", 2)] == '"'
    assert document.styles[("kernel", "note")] == "|"


def test_yaml_1_2_keeps_yes_no_and_on_as_strings():
    """Unlike YAML 1.1, `no`, `on` and `yes` are strings; `true` is a boolean."""
    document = parse_document("a: no\nb: on\nc: yes\nd: true\n", "test.yaml")
    assert document.data == {"a": "no", "b": "on", "c": "yes", "d": True}


def test_merge_keys_are_applied_and_keep_their_positions():
    """`<<: *anchor` copies entries the mapping does not set itself, with the anchor's positions."""
    text = "base: &base {size: 1, name: x}\nuse:\n  <<: *base\n  size: 2\n"
    document = parse_document(text, "test.yaml")
    assert document.data["use"] == {"size": 2, "name": "x"}
    assert document.value_position(("use", "size")) == Position(4, 9)
    assert document.value_position(("use", "name")) == Position(1, 29)


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        ("a: [1, 2\nb: 3\n", 2, 2, "invalid YAML: expected ',' or ']', but got ':'"),
        ("a:\n\tb: 1\n", 2, 1, "invalid YAML: found character '\\t' that cannot start any token"),
        ("a: b: c\n", 1, 5, "invalid YAML: mapping values are not allowed here"),
        ("a: 1\n---\nb: 2\n", 2, 1, "invalid YAML: found a second document"),
        ("a: *nowhere\n", 1, 4, "invalid YAML: found undefined alias 'nowhere'"),
        ("a: 'open\n", 2, 1, "invalid YAML: found unexpected end of stream"),
    ],
)
def test_a_syntax_error_is_one_issue_at_its_position(text, line, column, message):
    """Each kind of syntax error is reported once, where the parser found it."""
    assert problems(text) == [(line, column, "", message)]


def test_a_control_character_is_reported_where_it_is():
    """A stray control character is one issue at its own line and column."""
    message = "invalid YAML: the control character U+0007 is not allowed"
    assert problems("a: 1\nb: x\x07\n") == [(2, 5, "", message)]


def test_a_value_that_does_not_fit_its_explicit_tag_is_reported():
    """`!!int abc` is an issue at the value, not a crash."""
    assert problems("a: !!int abc\n") == [
        (1, 4, "a", "invalid value: invalid literal for int() with base 10: 'abc'")
    ]


def test_a_syntax_error_hint_names_where_the_construct_started():
    """The hint of an unclosed bracket points back at the bracket."""
    with pytest.raises(ConfigError) as caught:
        parse_document("a: [1, 2\nb: 3\n", "test.yaml")
    [issue] = caught.value.issues
    assert issue.hint == "while parsing a flow sequence that starts at line 1, column 4"


def test_every_duplicate_key_is_reported():
    """All repeated keys are reported together, each at the repetition."""
    text = "a: 1\nb:\n  c: 1\n  c: 2\na: 3\n"
    assert problems(text) == [
        (4, 3, "b.c", "duplicate key 'c'"),
        (5, 1, "a", "duplicate key 'a'"),
    ]


def test_unsupported_tags_are_reported():
    """Custom tags and collection tags such as !!set are refused, each at its value."""
    assert problems("a: !secret x\nb: !!set {x}\n") == [
        (1, 4, "a", "unsupported tag '!secret'"),
        (2, 4, "b", "unsupported tag '!!set'"),
    ]


def test_a_collection_key_is_refused():
    """A list used as a mapping key is reported at the key."""
    assert problems("? [a, b]\n: 1\n") == [
        (1, 3, "", "a key must be a single value, not a list or mapping")
    ]


def test_an_alias_inside_itself_is_refused():
    """A list that contains an alias to itself is reported instead of recursing forever."""
    assert problems("a: &x [1, *x]\n") == [
        (1, 4, "a[1]", "an alias refers to a collection that contains it")
    ]


@pytest.mark.parametrize(
    ("text", "got"), [("- a\n", "a list"), ("42\n", "42"), ("'app.yaml'\n", "'app.yaml'")]
)
def test_the_top_level_must_be_a_mapping(text, got):
    """A list or scalar at the top level is one issue at the start of the document."""
    message = f"the top level must be a mapping of sections (like 'kernel:'), got {got}"
    assert problems(text) == [(1, 1, "", message)]


def test_a_file_name_given_as_text_gets_a_hint():
    """Text that is only a file name suggests passing a Path instead."""
    with pytest.raises(ConfigError) as caught:
        parse_document("pipeline.yaml", "<string>")
    assert caught.value.issues[0].hint == "to read a file, pass a pathlib.Path, not a str"


@pytest.mark.parametrize("text", ["", "# only a comment\n", "\n\n"])
def test_an_empty_document_is_an_empty_mapping(text):
    """No content parses to an empty mapping with no positions."""
    document = parse_document(text, "test.yaml")
    assert (document.data, document.value_position(("kernel",))) == ({}, None)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("64", 64),
        ("0x10", 16),
        ("2.5", 2.5),
        ("true", True),
        ("null", None),
        ("2024-01-02", date(2024, 1, 2)),
        ("", ""),
        ("no", "no"),
        ("a: b", "a: b"),
        ("# not a comment", "# not a comment"),
        (" 5", " 5"),
    ],
)
def test_parse_scalar_types_text_like_a_plain_yaml_value(text, value):
    """Text is typed as YAML would type it unquoted; anything else stays the same text."""
    result = parse_scalar(text)
    assert (result, type(result)) == (value, type(value))
