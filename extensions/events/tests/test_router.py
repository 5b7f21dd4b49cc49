"""Tests for routing by subject, type and metadata (dataflare.events._router)."""

from __future__ import annotations

import pytest
from events_helpers import event

from dataflare.events import EventRouter, InvalidQueryError
from dataflare.kernel import InvalidSubjectError


def _router(**routes: dict[str, object]) -> EventRouter[str]:
    router: EventRouter[str] = EventRouter()
    for name, criteria in routes.items():
        router.subscribe(name, **criteria)  # type: ignore[arg-type]
    return router


def test_subject_patterns_use_nats_wildcards():
    """'*' matches one subject token and '>' the rest, exactly as on the bus."""
    router = _router(
        star={"subject": "orders.*"}, tail={"subject": "orders.>"}, exact={"subject": "orders.eu"}
    )
    assert router.route(event(1), "orders.eu") == ["star", "tail", "exact"]
    assert router.route(event(1), "orders.eu.created") == ["tail"]
    assert router.route(event(1), "shipments.eu") == []


def test_a_subject_route_needs_a_subject():
    """An event that arrived on no subject matches no route that asks for one."""
    router = _router(bus={"subject": ">"}, any={})
    assert router.route(event(1)) == ["any"]


def test_event_types_match_exactly_or_by_glob():
    """A type route matches its exact type, or parts by '*' and '>'."""
    router = _router(
        exact={"event_type": "order.created"},
        glob={"event_type": "order.*"},
        deep={"event_type": "order.>"},
    )
    assert router.route(event(1, "order.created")) == ["exact", "glob", "deep"]
    assert router.route(event(1, "order.paid")) == ["glob", "deep"]
    assert router.route(event(1, "order.item.added")) == ["deep"]
    assert router.route(event(1, "user.created")) == []


def test_metadata_filters_need_every_key_equal():
    """A metadata route matches only when each of its keys is present with the same value."""
    router = _router(
        acme={"metadata": {"tenant": "acme"}}, eu={"metadata": {"tenant": "acme", "region": "eu"}}
    )
    assert router.route(event(1, metadata={"tenant": "acme", "region": "eu"})) == ["acme", "eu"]
    assert router.route(event(1, metadata={"tenant": "acme"})) == ["acme"]
    assert router.route(event(1, metadata={"tenant": "globex", "region": "eu"})) == []
    assert router.route(event(1)) == []


def test_criteria_combine_with_and():
    """A route with a subject, a type and metadata needs all three to match."""
    router = _router(
        all={"subject": "orders.>", "event_type": "order.paid", "metadata": {"tenant": "acme"}}
    )
    paid = event(1, "order.paid", metadata={"tenant": "acme"})
    assert router.route(paid, "orders.eu") == ["all"]
    assert router.route(paid, "billing.eu") == []
    assert router.route(event(1, "order.created", metadata={"tenant": "acme"}), "orders.eu") == []
    assert router.route(event(1, "order.paid"), "orders.eu") == []


def test_unsubscribe_removes_one_route():
    """An unsubscribed route no longer matches; the others are untouched and in order."""
    router: EventRouter[str] = EventRouter()
    first = router.subscribe("first", event_type="order.*")
    router.subscribe("second", event_type="order.*")
    router.unsubscribe(first)
    router.unsubscribe(first)
    assert router.route(event(1)) == ["second"]
    assert [route.handler for route in router.routes] == ["second"]


def test_routes_are_named_after_their_handler():
    """A route's default name is its handler's module-qualified name; name= overrides it."""
    router: EventRouter[object] = EventRouter()
    route = router.subscribe(test_routes_are_named_after_their_handler)
    assert route.name.endswith(".test_routes_are_named_after_their_handler")
    assert router.subscribe(print, name="printer").name == "printer"


def test_bad_patterns_are_refused_when_subscribing():
    """A malformed subject or type pattern, or non-string metadata, is refused at once."""
    router: EventRouter[str] = EventRouter()
    with pytest.raises(InvalidSubjectError):
        router.subscribe("h", subject="orders.>.x")
    with pytest.raises(InvalidQueryError):
        router.subscribe("h", event_type="order..paid")
    with pytest.raises(TypeError, match="strings to strings"):
        router.subscribe("h", metadata={"tenant": 1})  # type: ignore[dict-item]
    assert router.routes == ()


def test_route_refuses_a_wildcard_subject():
    """Routing is for concrete subjects; a pattern passed as the arrival subject is an error."""
    with pytest.raises(InvalidSubjectError):
        _router(any={}).route(event(1), "orders.*")
