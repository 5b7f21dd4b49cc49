"""Replay stored events into a callable, as fast as it takes them or at their original pace.

The replay's target is the store's last offset when it starts (or ``to_offset``,
if lower); events appended meanwhile are left for the next replay, so a replay of
a live store ends. The report says how far it got against that target.

At ``pace="original"`` the gaps between consecutive replayed events' timestamps
are reproduced, divided by ``speed`` and each capped at ``max_gap`` seconds, so a
replay across a quiet weekend stays bounded. The schedule is kept against the
clock, not per event: time ``into`` spends counts towards the next gap, and a slow
target catches up instead of drifting. A timestamp earlier than one already
replayed gives no gap, and the next gap is measured from the latest one.

Example::

    report = await replay(store, since=yesterday, event_types=["order.*"],
                          pace="original", speed=10, into=publish)
    print(f"{report.replayed} events, up to offset {report.last_offset_replayed}")
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from contextlib import aclosing
from datetime import datetime
from typing import Literal

import anyio
import attrs

from dataflare.events._store_api import EventStore, StoredEvent
from dataflare.events.errors import InvalidQueryError, ReplayError

__all__ = ("Pace", "ReplayReport", "replay")

Pace = Literal["full", "original"]
"""``"full"``: as fast as the target takes events. ``"original"``: with the gaps
between their timestamps, scaled by ``speed``."""


@attrs.frozen
class ReplayReport:
    """How a replay went."""

    first_offset: int | None
    """The offset of the first event replayed, or ``None`` when none was."""
    last_offset_replayed: int | None
    """The offset of the last event the target took, or ``None`` when none was."""
    target_last_offset: int | None
    """The last offset the replay meant to reach: the store's last offset when it
    started (capped by ``to_offset``), or ``None`` for an empty store."""
    replayed: int
    """How many events the target took."""
    complete: bool
    """``True`` when the replay went through to the target."""


async def replay(
    store: EventStore,
    *,
    into: Callable[[StoredEvent], Awaitable[None]],
    from_offset: int | None = None,
    to_offset: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    event_types: Sequence[str] = (),
    pace: Pace = "full",
    speed: float = 1.0,
    max_gap: float = 60.0,
) -> ReplayReport:
    """Read events from a store and hand each to ``into``, in offset order.

    Args:
        store: Where the events are.
        into: Awaited with each event; a replay waits for it before the next.
        from_offset: The first offset to replay (inclusive).
        to_offset: The last offset to replay (inclusive).
        since: Only events timestamped at or after this.
        until: Only events timestamped before this.
        event_types: Only these types (``*`` and ``>`` wildcards allowed).
        pace: ``"full"`` or ``"original"``.
        speed: At original pace, how many times faster than real time.
        max_gap: At original pace, the longest wait between two events, in seconds.

    Returns:
        How far the replay got; ``complete`` is ``True``.

    Raises:
        ReplayError: ``into`` raised; its ``report`` says how far the replay got and
            the exception is the cause.
        InvalidQueryError: An argument is out of range.
    """
    _check(pace, speed, max_gap)
    target = await store.last_offset()
    if to_offset is not None and target is not None:
        target = min(target, to_offset)
    progress = _Progress(target)
    if target is None:
        return progress.report(complete=True)
    events = store.read(
        from_offset=from_offset,
        to_offset=target,
        since=since,
        until=until,
        event_types=event_types,
    )
    schedule = _Schedule(speed, max_gap) if pace == "original" else None
    async with aclosing(events):
        async for stored in events:
            if schedule is not None:
                await schedule.wait_for(stored.event.timestamp)
            try:
                await into(stored)
            except Exception as exc:
                raise ReplayError(progress.report(complete=False), stored.offset) from exc
            progress.took(stored.offset)
    return progress.report(complete=True)


def _check(pace: str, speed: float, max_gap: float) -> None:
    if pace not in ("full", "original"):
        raise InvalidQueryError("pace", pace, "use 'full' or 'original'")
    if not isinstance(speed, int | float) or not math.isfinite(speed) or speed <= 0:
        raise InvalidQueryError("speed", speed, "expected a finite number above 0")
    if not isinstance(max_gap, int | float) or not math.isfinite(max_gap) or max_gap < 0:
        raise InvalidQueryError(
            "max_gap", max_gap, "expected a finite number of seconds, 0 or more"
        )


@attrs.define
class _Progress:
    target: int | None
    first: int | None = None
    last: int | None = None
    count: int = 0

    def took(self, offset: int) -> None:
        self.first = offset if self.first is None else self.first
        self.last = offset
        self.count += 1

    def report(self, *, complete: bool) -> ReplayReport:
        return ReplayReport(self.first, self.last, self.target, self.count, complete)


@attrs.define
class _Schedule:
    """When each event is due at original pace, on anyio's clock."""

    speed: float
    max_gap: float
    previous: datetime | None = None
    due: float = 0.0

    async def wait_for(self, timestamp: datetime) -> None:
        if self.previous is None:
            self.due = anyio.current_time()
        else:
            gap = max((timestamp - self.previous).total_seconds(), 0.0) / self.speed
            self.due += min(gap, self.max_gap)
            await anyio.sleep_until(self.due)
        # The latest timestamp so far: an event out of order does not stretch the next gap.
        self.previous = timestamp if self.previous is None else max(self.previous, timestamp)
