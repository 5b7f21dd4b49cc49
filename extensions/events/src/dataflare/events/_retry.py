"""How a failing handler is retried: how many attempts, and how long to wait between them.

The wait grows exponentially from ``initial_backoff`` by ``multiplier`` up to
``max_backoff``; it is also the ``retry:`` part of the ``events:`` config section.

Example::

    policy = RetryPolicy(max_attempts=4, initial_backoff=0.5, multiplier=2, max_backoff=1.5)
    [policy.backoff(attempt) for attempt in (1, 2, 3)]   # [0.5, 1.0, 1.5]
"""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ("RetryPolicy",)


def _at_least_initial(instance: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if value < instance.initial_backoff:
        raise ValueError(
            f"max_backoff ({value}) must be at least initial_backoff ({instance.initial_backoff})"
        )


@attrs.frozen
class RetryPolicy:
    """Attempts and exponential backoff for a handler that raises."""

    max_attempts: int = attrs.field(default=5, validator=attrs.validators.ge(1))
    """How many times a handler is called for one event in all, the first call
    included; after the last failure the event becomes a dead letter. 1 means no retry."""

    initial_backoff: float = attrs.field(default=0.1, validator=attrs.validators.ge(0))
    """Seconds to wait before the second attempt."""

    multiplier: float = attrs.field(default=2.0, validator=attrs.validators.ge(1))
    """How much longer each further wait is than the one before."""

    max_backoff: float = attrs.field(
        default=30.0, validator=[attrs.validators.ge(0), _at_least_initial]
    )
    """The longest wait between two attempts, in seconds."""

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (from 1) before the next."""
        delay = self.initial_backoff
        # Multiply step by step rather than raise to a power, which overflows for large
        # attempts; the loop ends at max_backoff, and attempts are few anyway.
        for _ in range(attempt - 1):
            if delay >= self.max_backoff:
                break
            delay *= self.multiplier
        return min(delay, self.max_backoff)
