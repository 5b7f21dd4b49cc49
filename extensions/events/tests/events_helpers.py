"""Small builders the events tests share (registered by conftest.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from dataflare.kernel import Event

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
"""The timestamp of event 0; event ``n`` happens ``n`` seconds later."""

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def event(n: int, event_type: str = "order.created", **fields: Any) -> Event:
    """Event number ``n``: id ``e-<n>``, data ``{"n": n}``, timestamped ``T0 + n`` seconds."""
    values: dict[str, Any] = {
        "id": f"e-{n}",
        "event_type": event_type,
        "data": {"n": n},
        "source": "test",
        "timestamp": T0 + timedelta(seconds=n),
    }
    return Event(**{**values, **fields})


def at(seconds: float) -> datetime:
    """``T0`` plus some seconds."""
    return T0 + timedelta(seconds=seconds)
