"""Tests for ${VAR} references in config values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dataflare.kernel._interpolate import Unresolved, expand, interpolate
from dataflare.kernel._yaml import parse_document

NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True)


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("${A}", {"A": "1"}, "1"),
        ("x-${A}-${B}-y", {"A": "1", "B": "2"}, "x-1-2-y"),
        ("${A:-fallback}", {}, "fallback"),
        ("${A:-fallback}", {"A": ""}, "fallback"),
        ("${A:-fallback}", {"A": "set"}, "set"),
        ("${A:-}", {}, ""),
        ("${A}", {"A": ""}, ""),
        ("${A:?needed}", {"A": "set"}, "set"),
        ("$${A}", {"A": "1"}, "${A}"),
        ("$A and $$ and {A}", {"A": "1"}, "$A and $$ and {A}"),
        ("${A:-a:-b}", {}, "a:-b"),
    ],
)
def test_expand_resolves_references(text, env, expected):
    """Variables, defaults (also for empty values) and escapes expand as documented."""
    assert expand(text, env) == (expected, ())


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("${A}", {}, "environment variable A is not set"),
        ("${A:?give A}", {}, "environment variable A is not set: give A"),
        ("${A:?give A}", {"A": ""}, "environment variable A is empty: give A"),
        ("${A:?}", {}, "environment variable A is not set"),
        ("${1A}", {}, "'${1A}' is not a valid reference"),
        ("${A:+x}", {}, "'${A:+x}' is not a valid reference"),
        ("${A:-${B}}", {}, "'${A:-${B}' is not a valid reference (references do not nest)"),
        ("${A", {}, "'${' is not closed with '}'"),
    ],
)
def test_expand_reports_what_it_cannot_resolve(text, env, message):
    """Unset variables, failed `:?` checks and malformed references are reported."""
    _, unresolved = expand(text, env)
    assert [problem.message for problem in unresolved] == [message]


def test_expand_leaves_unresolved_references_as_written_and_reports_each():
    """Two unset variables in one value give two problems, at their offsets."""
    text, unresolved = expand("${A}/${B}", {})
    assert text == "${A}/${B}"
    assert [(p.expression, p.offset) for p in unresolved] == [("${A}", 0), ("${B}", 5)]
    assert unresolved[0] == Unresolved(
        "${A}", 0, "environment variable A is not set", "set it, or give a default: ${A:-value}"
    )


@given(st.text().filter(lambda text: "$" not in text), st.dictionaries(NAMES, st.text()))
def test_text_without_a_dollar_is_unchanged(text, env):
    """Interpolating text that has no `$` gives the same text back."""
    assert expand(text, env) == (text, ())


@given(st.text(), st.dictionaries(NAMES, st.text()))
def test_escaping_every_reference_gives_the_text_back(text, env):
    """Writing `$${` for every `${` yields the original text, whatever the environment."""
    assert expand(text.replace("${", "$${"), env) == (text, ())


@given(NAMES, st.text())
def test_a_variable_value_is_inserted_verbatim(name, value):
    """A value holding `${...}` itself is not expanded again: substitution is one pass."""
    assert expand(f"<${{{name}}}>", {name: value}) == (f"<{value}>", ())


def test_only_values_are_interpolated_never_keys_or_comments():
    """Keys and comments keep their `${...}`; values in lists and mappings are expanded."""
    text = "# ${A}\nsection:\n  ${A}: ${A}  # ${A}\n  items: [x, '${A}']\n"
    document = parse_document(text, "test.yaml")
    expanded, issues = interpolate(document, {"A": "v"})
    assert expanded.data == {"section": {"${A}": "v", "items": ["x", "v"]}}
    assert issues == []
    assert document.data["section"]["${A}"] == "${A}"  # the parsed document is not changed


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("${X}", 64),
        ("'${X}'", "64"),
        ('"${X}"', "64"),
        ("${X}${X}", "6464"),
        ("size ${X}", "size 64"),
        ("${X:-1}", 64),
        ("${Y:-true}", True),
        ("${Y:-null}", None),
        ("${Y:-}", ""),
        ("$${X}", "${X}"),
    ],
)
def test_only_a_plain_whole_reference_is_typed_again(value, expected):
    """An unquoted value that is one reference is typed like YAML; anything else is a string."""
    document = parse_document(f"a: {value}\n", "test.yaml")
    expanded, _ = interpolate(document, {"X": "64"})
    assert (expanded.data["a"], type(expanded.data["a"])) == (expected, type(expected))


def test_issues_point_at_each_reference_in_the_file():
    """Each unresolved reference is an issue at its own column, quoted or not."""
    text = "a:\n  url: http://${HOST}:${PORT}\n  b: '${HOST} ${HOST}'  # ${HOST}\n"
    _, issues = interpolate(parse_document(text, "test.yaml"), {})
    assert [(i.line, i.column, i.path) for i in issues] == [
        (2, 15, "a.url"),
        (2, 23, "a.url"),
        (3, 7, "a.b"),
        (3, 15, "a.b"),
    ]


def test_a_reference_in_a_block_value_is_reported_at_the_value():
    """A multi-line block value has no single line to search, so its start is used."""
    text = "a: |  # ${HOST}\n  first\n  ${HOST}\n"
    _, issues = interpolate(parse_document(text, "test.yaml"), {})
    assert [(i.line, i.column, i.path) for i in issues] == [(1, 4, "a")]
