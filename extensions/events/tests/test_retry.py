"""Tests for retry attempts and backoff (dataflare.events._retry)."""

from __future__ import annotations

import pytest

from dataflare.events import RetryPolicy


def test_backoff_grows_by_the_multiplier_up_to_the_cap():
    """Waits start at initial_backoff, multiply each time, and stop at max_backoff."""
    policy = RetryPolicy(max_attempts=6, initial_backoff=0.5, multiplier=2, max_backoff=3)
    assert [policy.backoff(attempt) for attempt in range(1, 6)] == [0.5, 1.0, 2.0, 3, 3]


def test_a_huge_attempt_number_does_not_overflow():
    """The cap is reached without computing multiplier ** attempt."""
    assert RetryPolicy(multiplier=10, max_backoff=60).backoff(10_000) == 60


def test_zero_backoff_never_waits():
    """initial_backoff 0 means retry at once."""
    assert RetryPolicy(initial_backoff=0, max_backoff=0).backoff(3) == 0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"initial_backoff": -1}, "initial_backoff"),
        ({"multiplier": 0.5}, "multiplier"),
        ({"initial_backoff": 5, "max_backoff": 1}, "must be at least initial_backoff"),
    ],
)
def test_out_of_range_fields_are_refused(fields, message):
    """Attempts below 1, negative waits, a shrinking multiplier or a low cap are refused."""
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**fields)
