"""Call one handler on one event until it succeeds, its attempts run out, or a stop comes.

Each failure is logged (at warning level, with the handler, event, offset and
attempt); between attempts the caller's ``wait`` sleeps the policy's backoff and
may report that a stop came first, which abandons the event.

Example::

    outcome = await call_with_retries(charge, event, RetryPolicy(), name="charge",
                                      offset=7, wait=sleep_unless_stopped)
    if isinstance(outcome, Failure):
        print(outcome.attempts, outcome.error)
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable

import attrs

from dataflare.events._retry import RetryPolicy
from dataflare.kernel import Event

__all__ = ("Abandoned", "Failure", "call_with_retries")

log = logging.getLogger("dataflare.events")


class Abandoned(enum.Enum):
    """The attempts were given up because a stop came during a backoff."""

    ABANDONED = enum.auto()


@attrs.frozen
class Failure:
    """The handler failed in every attempt."""

    error: Exception
    """What the last attempt raised."""
    attempts: int
    """How many times the handler was called."""


async def call_with_retries(
    handler: Callable[[Event], Awaitable[None]],
    event: Event,
    policy: RetryPolicy,
    *,
    name: str,
    offset: int | None,
    wait: Callable[[float], Awaitable[bool]],
    on_retry: Callable[[], None] = lambda: None,
) -> Failure | Abandoned | None:
    """Call ``handler(event)`` up to ``policy.max_attempts`` times.

    Args:
        handler: The handler.
        event: The event.
        policy: Attempts and backoff.
        name: The handler's name, for the log.
        offset: The event's offset, for the log.
        wait: Sleeps the given seconds; returns ``False`` when a stop came first.
        on_retry: Called before each attempt after the first.

    Returns:
        ``None`` when an attempt succeeded, :class:`Failure` when all failed, or
        :attr:`Abandoned.ABANDONED` when a stop came during a backoff.
    """
    for attempt in range(1, policy.max_attempts + 1):
        try:
            await handler(event)
        except Exception as exc:  # noqa: BLE001 -- a handler may raise anything; it is retried
            log.warning(
                "handler %s failed on event %s (offset %s), attempt %d of %d: %s: %s",
                name,
                event.id,
                offset,
                attempt,
                policy.max_attempts,
                type(exc).__name__,
                exc,
                extra={"handler": name, "event_id": event.id, "attempt": attempt},
            )
            if attempt == policy.max_attempts:
                return Failure(exc, attempt)
            if not await wait(policy.backoff(attempt)):
                return Abandoned.ABANDONED
            on_retry()
        else:
            return None
    raise AssertionError("unreachable: the last attempt returns")  # pragma: no cover
