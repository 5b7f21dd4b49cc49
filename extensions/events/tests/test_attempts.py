"""Tests for calling a handler with retries (dataflare.events._attempts)."""

from __future__ import annotations

import logging

import pytest
from events_helpers import event

from dataflare.events import RetryPolicy
from dataflare.events._attempts import Abandoned, Failure, call_with_retries
from dataflare.kernel import Event

pytestmark = pytest.mark.anyio

POLICY = RetryPolicy(max_attempts=3, initial_backoff=0.5, multiplier=2, max_backoff=10)


class FailsFirst:
    """A handler that raises on its first `failures` calls."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self, event: Event) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise KeyError(f"call {self.calls}")


async def test_success_after_failures_waits_the_policy_backoffs():
    """Two failures then a success: the waits are the policy's, and the result is None."""
    waits: list[float] = []

    async def wait(delay: float) -> bool:
        waits.append(delay)
        return True

    handler = FailsFirst(2)
    retried: list[int] = []
    outcome = await call_with_retries(
        handler, event(1), POLICY, name="h", offset=1, wait=wait,
        on_retry=lambda: retried.append(1),
    )  # fmt: skip
    assert (outcome, handler.calls, waits, len(retried)) == (None, 3, [0.5, 1.0], 2)


async def test_the_last_failure_is_returned_with_the_attempt_count(caplog):
    """When every attempt fails, the last error comes back with the count, each failure logged."""

    async def wait(delay: float) -> bool:
        return True

    with caplog.at_level(logging.WARNING, logger="dataflare.events"):
        outcome = await call_with_retries(
            FailsFirst(9), event(1), POLICY, name="h", offset=4, wait=wait
        )
    assert isinstance(outcome, Failure)
    assert (str(outcome.error), outcome.attempts) == ("'call 3'", 3)
    assert caplog.text.count("handler h failed on event e-1 (offset 4)") == 3


async def test_a_stop_during_the_backoff_abandons_the_event():
    """If wait reports a stop, no further attempt is made."""

    async def stopped(delay: float) -> bool:
        return False

    handler = FailsFirst(9)
    outcome = await call_with_retries(handler, event(1), POLICY, name="h", offset=1, wait=stopped)
    assert (outcome, handler.calls) == (Abandoned.ABANDONED, 1)
