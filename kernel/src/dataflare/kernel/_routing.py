"""Which subscriptions a subject reaches: the event bus's routing table.

Matching a subject against every pattern on every publish would cost one pattern
match per subscription per message, so the table caches each subject's route and
updates the cache when subscriptions come and go. It also keeps each queue
group's turn, so work rotates through a group across all the subjects it matches.

Example::

    table = RouteTable()
    table.add(subscription)          # a Subscription on "orders.*"
    route = table.route("orders.eu") # Route(subscribers=(subscription,), groups=())
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs

from dataflare.kernel._subjects import _match_tokens, validate_subject
from dataflare.kernel._subscription import Subscription

__all__ = ("QueueGroup", "Route", "RouteTable")

# Subjects are often unbounded (``orders.<id>``), so the route cache is capped; past
# the cap the oldest entry goes, which is cheaper per publish than LRU bookkeeping.
_CACHE_SIZE = 4096


@attrs.define(eq=False)
class QueueGroup:
    """Whose turn it is in one queue group, shared by every route through the group."""

    cursor: int = 0
    """Where the next message starts looking, as an index into a route's members."""


@attrs.frozen
class Route:
    """The subscriptions one subject reaches."""

    subscribers: tuple[Subscription, ...]
    """Plain subscriptions: each gets its own copy."""

    groups: tuple[tuple[QueueGroup, tuple[Subscription, ...]], ...]
    """Queue groups with their matching members: one member of each gets the message."""


@attrs.define(eq=False)
class RouteTable:
    """The open subscriptions, oldest first, and a bounded cache of subject routes."""

    _subscriptions: dict[Subscription, None] = attrs.Factory(dict)
    _cache: dict[str, Route] = attrs.Factory(dict)
    _queues: dict[str, QueueGroup] = attrs.Factory(dict)

    def __iter__(self) -> Iterator[Subscription]:
        return iter(self._subscriptions)

    def __len__(self) -> int:
        return len(self._subscriptions)

    def add(self, subscription: Subscription) -> None:
        """Register a new, active subscription and start routing to it."""
        self._subscriptions[subscription] = None
        if subscription.queue is not None:
            self._queues.setdefault(subscription.queue, QueueGroup())
        self._invalidate(subscription)

    def unroute(self, subscription: Subscription) -> None:
        """Stop routing to a subscription that is no longer active; it stays listed."""
        self._invalidate(subscription)
        queue = subscription.queue
        if queue is not None and not any(
            sub._active and sub.queue == queue for sub in self._subscriptions
        ):
            self._queues.pop(queue, None)

    def remove(self, subscription: Subscription) -> None:
        """Forget a closed subscription."""
        self._subscriptions.pop(subscription, None)
        self._invalidate(subscription)

    def clear_cache(self) -> None:
        """Drop every cached route (the bus does at shutdown, when routing stops)."""
        self._cache.clear()

    def route(self, subject: str) -> Route:
        """Find the subscriptions a subject reaches.

        Args:
            subject: A concrete subject.

        Returns:
            Its route, from the cache when possible.

        Raises:
            InvalidSubjectError: If the subject is malformed or has a wildcard.
        """
        route = self._cache.get(subject)
        if route is not None:
            return route
        tokens = validate_subject(subject)
        subscribers: list[Subscription] = []
        groups: dict[str, list[Subscription]] = {}
        for sub in self._subscriptions:
            if sub._active and _match_tokens(sub._tokens, tokens):
                if sub.queue is None:
                    subscribers.append(sub)
                else:
                    groups.setdefault(sub.queue, []).append(sub)
        route = Route(
            tuple(subscribers),
            tuple((self._queues[queue], tuple(members)) for queue, members in groups.items()),
        )
        if len(self._cache) >= _CACHE_SIZE:
            del self._cache[next(iter(self._cache))]
        self._cache[subject] = route
        return route

    def _invalidate(self, subscription: Subscription) -> None:
        tokens = subscription._tokens
        if "*" in tokens or ">" in tokens:
            self._cache.clear()
        else:
            # A literal pattern (a request inbox, say) only changes its own subject's
            # route, so request/reply does not flush the whole cache.
            self._cache.pop(subscription.pattern, None)
