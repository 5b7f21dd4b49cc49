"""Tests for NATS-style subject validation and wildcard matching."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dataflare.kernel._subjects import subject_matches, validate_pattern, validate_subject
from dataflare.kernel.errors import BusError, InvalidSubjectError

# Any printable character that is not a dot, a wildcard or whitespace can be in a token.
tokens = st.text(
    st.characters(blacklist_categories=("Z", "C"), blacklist_characters=".*>"),
    min_size=1,
    max_size=5,
)
subjects = st.lists(tokens, min_size=1, max_size=6)


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        ("orders", "orders", True),
        ("orders", "order", False),
        ("orders.created", "orders.created", True),
        ("orders.created", "orders.deleted", False),
        ("orders.created", "orders", False),
        ("orders", "orders.created", False),
        ("orders.*", "orders.eu", True),
        ("orders.*", "orders", False),
        ("orders.*", "orders.eu.created", False),
        ("*.created", "orders.created", True),
        ("*.*", "a.b", True),
        ("*.*", "a", False),
        ("*", "orders", True),
        ("orders.>", "orders.eu", True),
        ("orders.>", "orders.eu.created", True),
        ("orders.>", "orders", False),
        ("orders.>", "shipments.eu", False),
        (">", "anything.at.all", True),
        (">", "one", True),
        ("orders.*.>", "orders.eu.created.today", True),
        ("orders.*.>", "orders.eu", False),
        ("_INBOX.>", "_INBOX.9f2c", True),
    ],
)
def test_subject_matches_table(pattern: str, subject: str, expected: bool) -> None:
    """Each pattern matches exactly the subjects NATS would deliver to it."""
    assert subject_matches(pattern, subject) is expected


@pytest.mark.parametrize(
    ("subject", "problem"),
    [
        ("", "empty"),
        (".orders", "token 1 is empty"),
        ("orders.", "token 2 is empty"),
        ("orders..created", "token 2 is empty"),
        ("orders created", "whitespace at position 6"),
        ("orders.\tcreated", "whitespace"),
        ("orders\n", "whitespace"),
        ("orders.*", "only allowed in subscription patterns"),
        ("orders.>", "only allowed in subscription patterns"),
        ("ord*ers", "must be whole tokens"),
        ("orders.>x", "must be whole tokens"),
    ],
)
def test_invalid_subjects_are_refused_with_the_reason_and_an_example(
    subject: str, problem: str
) -> None:
    """A malformed publish subject raises InvalidSubjectError naming the problem and an example."""
    with pytest.raises(InvalidSubjectError, match=re.escape(problem)) as caught:
        validate_subject(subject)
    assert caught.value.subject == subject
    assert "e.g. 'orders" in str(caught.value)


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("", "empty"),
        ("orders..*", "token 2 is empty"),
        ("orders.* ", "whitespace"),
        ("orders.>.created", "must be the last token"),
        (">.orders", "must be the last token"),
        ("orders*", "must be whole tokens"),
    ],
)
def test_invalid_patterns_are_refused_with_the_reason_and_an_example(
    pattern: str, problem: str
) -> None:
    """A malformed pattern raises InvalidSubjectError naming the problem and an example."""
    with pytest.raises(InvalidSubjectError, match=re.escape(problem)) as caught:
        validate_pattern(pattern)
    assert "e.g. 'orders" in str(caught.value)


def test_invalid_subject_error_is_a_bus_error_and_a_value_error() -> None:
    """InvalidSubjectError can be caught as BusError or as ValueError."""
    with pytest.raises(InvalidSubjectError) as caught:
        subject_matches("orders.*", "orders.*")
    assert isinstance(caught.value, BusError)
    assert isinstance(caught.value, ValueError)


def test_validators_return_the_tokens() -> None:
    """validate_subject and validate_pattern split what they accept into tokens."""
    assert validate_subject("orders.eu.created") == ("orders", "eu", "created")
    assert validate_pattern("orders.*.>") == ("orders", "*", ">")


@given(subject=subjects, data=st.data())
def test_pattern_built_from_a_subject_matches_it(subject: list[str], data: st.DataObject) -> None:
    """Replacing any tokens by '*', and optionally a non-empty suffix by '>', still matches."""
    pattern = [
        "*" if wild else token
        for token, wild in zip(
            subject, data.draw(st.lists(st.booleans(), min_size=len(subject))), strict=False
        )
    ]
    if data.draw(st.booleans()):
        cut = data.draw(st.integers(min_value=0, max_value=len(subject) - 1))
        pattern = [*pattern[:cut], ">"]
    assert subject_matches(".".join(pattern), ".".join(subject))


@given(subject=subjects, data=st.data())
def test_changing_a_literal_token_or_the_length_breaks_the_match(
    subject: list[str], data: st.DataObject
) -> None:
    """A subject that differs in a literal token, or is shorter or longer, does not match."""
    wild = data.draw(st.lists(st.booleans(), min_size=len(subject), max_size=len(subject)))
    pattern = ".".join("*" if w else token for token, w in zip(subject, wild, strict=True))
    literal = [index for index, w in enumerate(wild) if not w]
    if literal:
        index = data.draw(st.sampled_from(literal))
        changed = [*subject[:index], subject[index] + "x", *subject[index + 1 :]]
        assert not subject_matches(pattern, ".".join(changed))
    assert not subject_matches(pattern, ".".join([*subject, "extra"]))
    if len(subject) > 1:
        assert not subject_matches(pattern, ".".join(subject[:-1]))


def _oracle(pattern: str, subject: str) -> bool:
    """An independent reference: translate the pattern to a regular expression."""
    parts = [
        r"[^.]+" if token == "*" else r"[^.]+(?:\.[^.]+)*" if token == ">" else re.escape(token)
        for token in pattern.split(".")
    ]
    return re.fullmatch(r"\.".join(parts), subject) is not None


@given(
    pattern=st.lists(st.sampled_from(["a", "b", "ab", "*"]), min_size=1, max_size=4).flatmap(
        lambda head: st.sampled_from([head, [*head[:-1], ">"]])
    ),
    subject=st.lists(st.sampled_from(["a", "b", "ab"]), min_size=1, max_size=5),
)
def test_random_pairs_agree_with_a_regex_oracle(pattern: list[str], subject: list[str]) -> None:
    """On random pattern/subject pairs, matching agrees with a regex translation of the pattern."""
    pattern_text, subject_text = ".".join(pattern), ".".join(subject)
    assert subject_matches(pattern_text, subject_text) is _oracle(pattern_text, subject_text)
