"""Tests for read arguments and event-type patterns (dataflare.events._query)."""

from __future__ import annotations

import pytest
from events_helpers import at

from dataflare.events import InvalidQueryError
from dataflare.events._query import ReadQuery, type_matches


@pytest.mark.parametrize(
    ("pattern", "event_type", "expected"),
    [
        ("order.created", "order.created", True),
        ("order.created", "order.paid", False),
        ("order.*", "order.created", True),
        ("order.*", "order.item.added", False),
        ("order.>", "order.item.added", True),
        ("*.created", "user.created", True),
        (">", "anything.at_all", True),
        ("order.>", "order", False),
    ],
)
def test_type_patterns_use_nats_wildcards(pattern, event_type, expected):
    """'*' matches one part and '>' one or more trailing parts, as in subjects."""
    assert type_matches(pattern, event_type) is expected


def test_build_fills_defaults():
    """A query with no arguments reads everything from offset 1."""
    assert ReadQuery.build() == ReadQuery(1, None, None, None, (), None)


def test_last_caps_the_range_at_the_store_end():
    """last() is the smaller of to_offset and the store's last offset; 0 for an empty store."""
    assert ReadQuery.build(to_offset=5).last(9) == 5
    assert ReadQuery.build(to_offset=5).last(3) == 3
    assert ReadQuery.build().last(None) == 0


def test_the_time_range_is_half_open():
    """wants_time includes since and excludes until."""
    query = ReadQuery.build(since=at(1), until=at(2))
    assert [query.wants_time(at(s)) for s in (0.5, 1, 1.5, 2)] == [False, True, True, False]


def test_a_bad_pattern_names_the_problem():
    """A malformed type pattern is refused with the subject rule it breaks."""
    with pytest.raises(InvalidQueryError, match="must be the last token"):
        ReadQuery.build(event_types=["order.>.paid"])
