"""Route events to handlers by subject, by event type, and by metadata.

A route matches when every criterion it has matches (a route with none matches
every event):

* ``subject``: a NATS subject pattern (``orders.*``, ``orders.>``) matched against
  the subject the event arrived on, checked with the kernel's subject rules. An
  event that did not arrive on a subject (``subject=None``, as when it is read
  from a store) matches no route that has one.
* ``event_type``: an exact type or a pattern with the same wildcards, matched
  against the event's type: ``order.*`` matches ``order.created`` but not
  ``order.item.added``; ``order.>`` matches both.
* ``metadata``: key/value pairs the event's metadata must hold, each equal.

Example::

    router = EventRouter()
    router.subscribe(audit, subject="orders.>")
    router.subscribe(bill, event_type="order.paid", metadata={"tenant": "acme"})
    router.route(event, "orders.eu")   # [audit, bill] when the event is acme's payment
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Generic, TypeVar

import attrs

from dataflare.events._query import check_type_pattern, type_matches
from dataflare.kernel import Event, subject_matches, validate_pattern, validate_subject

__all__ = ("EventRouter", "Route")

H = TypeVar("H")


def _read_only(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(value))


@attrs.frozen(eq=False)
class Route(Generic[H]):
    """One subscription: a handler and what an event must match to reach it."""

    handler: H
    """What the route delivers to."""
    subject: str | None
    """A subject pattern the arrival subject must match, or ``None`` for any."""
    event_type: str | None
    """An event-type pattern the event's type must match, or ``None`` for any."""
    metadata: Mapping[str, str] = attrs.field(converter=_read_only)
    """Metadata the event must hold, key by key; empty for any."""
    name: str
    """A name for the route, such as the handler's qualified name (shown in dead letters)."""

    def matches(self, event: Event, subject: str | None = None) -> bool:
        """Tell whether an event, arriving on ``subject``, matches this route."""
        if self.subject is not None and (
            subject is None or not subject_matches(self.subject, subject)
        ):
            return False
        if self.event_type is not None and not type_matches(self.event_type, event.event_type):
            return False
        return all(event.metadata.get(key) == value for key, value in self.metadata.items())


class EventRouter(Generic[H]):
    """Subscriptions in the order they were made; :meth:`route` finds the matching ones."""

    def __init__(self) -> None:
        self._routes: list[Route[H]] = []

    def subscribe(
        self,
        handler: H,
        *,
        subject: str | None = None,
        event_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        name: str | None = None,
    ) -> Route[H]:
        """Add a route.

        Args:
            handler: What matching events are routed to.
            subject: A subject pattern with NATS wildcards.
            event_type: An exact event type, or a pattern such as ``order.*``.
            metadata: Keys the event's metadata must hold with these values.
            name: The route's name; the handler's qualified name by default.

        Returns:
            The route, to pass to :meth:`unsubscribe`.

        Raises:
            InvalidSubjectError: ``subject`` is not a valid pattern.
            InvalidQueryError: ``event_type`` is not a valid pattern.
            TypeError: A metadata key or value is not a string.
        """
        if subject is not None:
            validate_pattern(subject)
        if event_type is not None:
            check_type_pattern("event_type", event_type)
        wanted = dict(metadata or {})
        for key, value in wanted.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise TypeError(f"metadata filters map strings to strings, got {key!r}: {value!r}")
        route = Route(handler, subject, event_type, wanted, name or handler_name(handler))
        self._routes.append(route)
        return route

    def unsubscribe(self, route: Route[H]) -> None:
        """Remove a route; removing one twice does nothing."""
        self._routes = [kept for kept in self._routes if kept is not route]

    @property
    def routes(self) -> tuple[Route[H], ...]:
        """Every route, in subscription order."""
        return tuple(self._routes)

    def match(self, event: Event, subject: str | None = None) -> list[Route[H]]:
        """Return the routes an event matches, in subscription order.

        Raises:
            InvalidSubjectError: ``subject`` is not a valid subject.
        """
        if subject is not None:
            validate_subject(subject)
        return [route for route in self._routes if route.matches(event, subject)]

    def route(self, event: Event, subject: str | None = None) -> list[H]:
        """Return the handlers of the routes an event matches, in subscription order.

        A handler subscribed by two matching routes appears twice.

        Args:
            event: The event.
            subject: The subject it arrived on, or ``None``.

        Raises:
            InvalidSubjectError: ``subject`` is not a valid subject.
        """
        return [route.handler for route in self.match(event, subject)]


def handler_name(handler: object) -> str:
    """Return ``module.qualname`` for a function or method, else the object's repr."""
    module = getattr(handler, "__module__", None)
    qualname = getattr(handler, "__qualname__", None)
    if isinstance(qualname, str):
        return f"{module}.{qualname}" if module else qualname
    return repr(handler)
