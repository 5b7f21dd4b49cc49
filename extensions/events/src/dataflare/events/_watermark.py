"""The committed position of a processor whose workers finish events out of order.

Events are started in offset order but finish in any order. The watermark moves to
the highest offset below which every event is finished, and remembers the finished
events above it (with their ids, so a restart can skip them). The processor keeps
only a bounded number of events above the watermark in flight, so that memory
stays bounded when one event is slow. :class:`Committer` saves the watermark to a
position store after each change, coalescing saves that come in while one runs.

Example::

    mark = Watermark(Position())
    mark.finish(2, "b")     # committed stays 0: offset 1 is not finished
    mark.finish(1, "a")     # committed is 2
"""

from __future__ import annotations

import anyio

from dataflare.events._positions import Position, PositionStore

__all__ = ("Committer", "Watermark")


class Watermark:
    """Tracks finished offsets and the contiguous committed position.

    Args:
        start: The position to resume from.
    """

    def __init__(self, start: Position) -> None:
        self.committed = start.committed
        self._done = dict(start.done)
        self._done_ids = set(self._done.values())
        self._moved = anyio.Event()
        self._advance()

    def is_done(self, offset: int, event_id: str) -> bool:
        """Tell whether an event is finished already (by offset, or by id above the watermark)."""
        return offset <= self.committed or offset in self._done or event_id in self._done_ids

    def finish(self, offset: int, event_id: str | None) -> None:
        """Record a finished event (``event_id=None`` for an offset the store has no event at)."""
        if offset <= self.committed or offset in self._done:
            return
        self._done[offset] = event_id or ""
        if event_id:
            self._done_ids.add(event_id)
        self._advance()

    def finish_gap(self, first: int, end: int) -> bool:
        """Record offsets ``first`` to ``end - 1`` as finished with no event; ``True`` if any."""
        for offset in range(first, end):
            self.finish(offset, None)
        return end > first

    def snapshot(self) -> Position:
        """The position to save: the watermark and the finished events above it."""
        return Position(self.committed, {o: i for o, i in self._done.items() if i})

    def has_room(self, offset: int, limit: int) -> bool:
        """Tell whether ``offset`` is at most ``limit`` above the watermark."""
        return offset - self.committed <= limit

    async def moved(self) -> None:
        """Wait until the watermark moves or :meth:`wake` is called."""
        await self._moved.wait()

    def wake(self) -> None:
        """Wake every task waiting in :meth:`moved` (the watermark moved, or a stop)."""
        self._moved.set()
        self._moved = anyio.Event()

    def _advance(self) -> None:
        start = self.committed
        while self.committed + 1 in self._done:
            self.committed += 1
            self._done_ids.discard(self._done.pop(self.committed))
        if self.committed != start:
            self.wake()


class Committer:
    """Saves a consumer's watermark; a save asked for during another joins it.

    Args:
        consumer: The consumer's name.
        mark: The watermark to save.
        positions: Where to save it.
    """

    def __init__(self, consumer: str, mark: Watermark, positions: PositionStore) -> None:
        self.consumer = consumer
        self.mark = mark
        self.positions = positions
        self._saving = self._dirty = False

    async def save(self) -> None:
        """Save the current position, unless a save in progress will pick it up.

        Raises:
            Exception: Whatever the position store raised.
        """
        self._dirty = True
        if self._saving:
            return
        self._saving = True
        try:
            while self._dirty:
                self._dirty = False
                await self.positions.save(self.consumer, self.mark.snapshot())
        finally:
            self._saving = False
