"""The typed records the event bus reports: statistics snapshots and the shutdown report.

Example::

    stats = bus.statistics()
    if stats.publishers_waiting:
        slow = [s.pattern for s in stats.per_subscription if s.buffered == s.buffer_size]
"""

from __future__ import annotations

import attrs

__all__ = ("BusStatistics", "ShutdownReport", "SubscriptionStatistics")


@attrs.frozen
class SubscriptionStatistics:
    """A snapshot of one subscription, from :meth:`Subscription.statistics`."""

    pattern: str
    """The subject pattern it was created with."""

    queue: str | None
    """Its queue group, or ``None`` for a plain subscription."""

    buffer_size: int
    """How many messages its buffer holds before publishers wait."""

    buffered: int
    """Messages in its buffer now, waiting to be read (never more than ``buffer_size``)."""

    delivered: int
    """Messages the bus has put in its buffer (or handed straight to a waiting reader)."""

    received: int
    """Messages the subscriber has read."""

    active: bool
    """``False`` once unsubscribed or once the bus shuts down: no new messages arrive."""


@attrs.frozen
class BusStatistics:
    """A snapshot of the whole bus, from :meth:`EventBus.statistics`."""

    published: int
    """Publish calls accepted, including those no subscription matched."""

    delivered: int
    """Messages put in subscription buffers: one publish reaching three subscriptions is 3."""

    dropped: int
    """Messages discarded because their subscription was closed with them still buffered."""

    subscriptions: int
    """Subscriptions not yet closed (including unsubscribed ones still holding messages)."""

    buffered: int
    """Messages waiting in all subscription buffers."""

    publishers_waiting: int
    """Publish calls blocked right now because a subscriber's buffer is full."""

    closed: bool
    """``True`` once :meth:`EventBus.aclose` has begun."""

    per_subscription: tuple[SubscriptionStatistics, ...]
    """One snapshot per open subscription, oldest first."""


@attrs.frozen
class ShutdownReport:
    """What :meth:`EventBus.aclose` did with the messages in flight."""

    drained: int
    """Messages buffered when shutdown began that subscribers read before the deadline
    (one message read by two subscriptions counts 2)."""

    undelivered: int
    """Messages still buffered at the deadline, handed to ``on_undelivered`` (each once,
    even if several subscriptions held it)."""

    timed_out: bool
    """``True`` if the deadline passed with messages still buffered."""
