"""Event-time watermarks per source: bounded out-of-orderness, idle sources, no wall clock.

A source's watermark is the highest event time it has sent minus
``max_out_of_orderness_ms``. The aggregator's watermark is the lowest of its active
sources' watermarks, and it never goes back. A window ``[start, end)`` is closed
once the watermark reaches ``end``: every record of the window should have arrived.

Processing time enters only through :meth:`WatermarkTracker.tick`, and only to
decide that a source is idle (no batch for ``idle_timeout_ms``): an idle source
stops holding the watermark back until it sends again. When every source is idle,
nothing holds the watermark back, so it moves to the highest source watermark.
The watermark never advances with the wall clock: a replay running slower or
faster than event time gives the same results.

Example::

    marks = WatermarkTracker(WatermarkSpec(max_out_of_orderness_ms=100))
    marks.observe("a", 1_000)
    marks.advance()          # 900
"""

from __future__ import annotations

from typing import Any, Final

import attrs

from dataflare.streaming._window_spec import WatermarkSpec

__all__ = ("NO_WATERMARK", "WatermarkTracker")

NO_WATERMARK: Final = -(2**63)
"""The watermark before any source has sent a record: nothing is late."""


@attrs.define
class _Source:
    max_time: int | None = None
    """The highest event time the source has sent; ``None`` before its first record."""
    last_active_ms: int | None = None
    """The processing time of its last batch; ``None`` until the first ``tick``."""
    idle: bool = False


class WatermarkTracker:
    """The watermark of one windowed operator over all its sources.

    Args:
        spec: The out-of-orderness bound and idle timeout.
    """

    def __init__(self, spec: WatermarkSpec) -> None:
        self._spec = spec
        self._sources: dict[str, _Source] = {}
        self._now_ms: int | None = None
        self.current = NO_WATERMARK
        """Windows whose end is at or below this are closed."""

    def observe(self, source: str, max_time: int | None) -> None:
        """Record that ``source`` sent a batch whose highest event time is ``max_time``.

        An empty batch (``None``) still marks the source active.
        """
        state = self._sources.setdefault(source, _Source())
        if max_time is not None and (state.max_time is None or max_time > state.max_time):
            state.max_time = max_time
        state.idle = False
        state.last_active_ms = self._now_ms

    def tick(self, now_ms: int) -> None:
        """Move processing time to ``now_ms``; sources silent for the idle timeout go idle."""
        self._now_ms = now_ms
        timeout = self._spec.idle_timeout_ms
        for state in self._sources.values():
            if state.last_active_ms is None:
                # Active before the first tick: count its silence from now.
                state.last_active_ms = now_ms
            elif timeout is not None and now_ms - state.last_active_ms >= timeout:
                state.idle = True

    def advance(self) -> int:
        """Recompute the watermark from the sources (it never goes back) and return it."""
        if not self._sources:
            return self.current
        marks = [(self._mark(state), state.idle) for state in self._sources.values()]
        active = [mark for mark, idle in marks if not idle]
        candidate = min(active) if active else max(mark for mark, _ in marks)
        self.current = max(self.current, candidate)
        return self.current

    def close_all(self) -> None:
        """End of input: move the watermark past every window."""
        self.current = 2**63 - 1

    def _mark(self, state: _Source) -> int:
        if state.max_time is None:
            return NO_WATERMARK
        return max(NO_WATERMARK, state.max_time - self._spec.max_out_of_orderness_ms)

    def to_json(self) -> dict[str, Any]:
        """The tracker's state as JSON-ready values."""
        return {
            "current": self.current,
            "now_ms": self._now_ms,
            "sources": {
                name: [state.max_time, state.last_active_ms, state.idle]
                for name, state in self._sources.items()
            },
        }

    def load_json(self, data: dict[str, Any]) -> None:
        """Replace the tracker's state with what :meth:`to_json` returned."""
        self.current = int(data["current"])
        self._now_ms = data["now_ms"]
        self._sources = {
            str(name): _Source(max_time, last_active, bool(idle))
            for name, (max_time, last_active, idle) in data["sources"].items()
        }
