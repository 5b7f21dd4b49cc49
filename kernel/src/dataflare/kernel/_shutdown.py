"""How the event bus shuts down: drain buffers within a deadline, then hand over the rest.

Closing a subscription's send side lets its reader take what is buffered and then
see end-of-stream, and releases publishers waiting for room in it. A shutdown
waits, up to a deadline, for the readers to empty their buffers; whatever is still
buffered then goes to a callback that can persist it, so nothing is lost silently.

Example::

    shutdown = Shutdown.begin(subscriptions)  # intake stops here
    report = await shutdown.run(5.0, on_undelivered=spool.append)
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable

import anyio
import attrs

from dataflare.kernel._message import Message
from dataflare.kernel._statistics import ShutdownReport
from dataflare.kernel._subscription import Subscription

__all__ = ("OnUndelivered", "Shutdown")

OnUndelivered = Callable[[Message], Awaitable[None] | None]
"""Receives each message left over at shutdown; may be a coroutine function."""


@attrs.define(eq=False)
class Shutdown:
    """One shutdown of the bus: the buffers still draining, then the report."""

    _subscriptions: list[Subscription]
    _received_before: list[int]
    _pending: set[Subscription]
    _drained: anyio.Event = attrs.Factory(anyio.Event)
    _finished: anyio.Event = attrs.Factory(anyio.Event)
    _report: ShutdownReport | None = None

    @classmethod
    def begin(cls, subscriptions: Iterable[Subscription]) -> Shutdown:
        """Stop every subscription's intake; call it in a task, with no await before.

        From here each reader sees end-of-stream once its buffer is empty, and
        each publisher waiting for room in a buffer gets ``ClosedResourceError``.

        Args:
            subscriptions: Every open subscription, oldest first.

        Returns:
            The shutdown, ready to :meth:`run`.
        """
        subscriptions = list(subscriptions)
        shutdown = cls(
            subscriptions,
            [sub._received for sub in subscriptions],
            {sub for sub in subscriptions if sub._buffered()},
        )
        for sub in subscriptions:
            sub._draining = sub in shutdown._pending
            sub._active = False
            sub._send.close()
        return shutdown

    async def run(self, deadline: float, on_undelivered: OnUndelivered | None) -> ShutdownReport:
        """Wait for the buffers to drain, then hand what is left to ``on_undelivered``.

        Handing over is shielded from cancellation, so a cancelled shutdown still
        persists its messages; if the callback raises, the error propagates and
        the later messages are not handed over. Either way every stream is closed.

        Args:
            deadline: Seconds to wait for the buffers to drain.
            on_undelivered: Called once per message left over, or ``None`` to
                discard them (they are still counted).

        Returns:
            The report, also returned by :meth:`report` to later callers.
        """
        try:
            try:
                if self._pending:
                    with anyio.move_on_after(deadline):
                        await self._drained.wait()
            finally:
                timed_out = bool(self._pending)
                with anyio.CancelScope(shield=True):
                    leftovers = self._take_leftovers()
                    drained = sum(
                        sub._received - before
                        for sub, before in zip(
                            self._subscriptions, self._received_before, strict=True
                        )
                    )
                    report = self._report = ShutdownReport(drained, len(leftovers), timed_out)
                    if on_undelivered is not None:
                        for message in leftovers:
                            result = on_undelivered(message)
                            if result is not None:
                                await result
        finally:
            self._finished.set()
        return report

    async def report(self) -> ShutdownReport:
        """Wait until :meth:`run` has finished, in whichever task, and return its report.

        Returns:
            The report of this shutdown.
        """
        await self._finished.wait()
        assert self._report is not None  # run() sets it before it sets _finished
        return self._report

    def progress(self, subscription: Subscription) -> None:
        """Note that a draining subscription was read from or closed."""
        if subscription._buffered() and not subscription._closed:
            return
        subscription._draining = False
        self._pending.discard(subscription)
        if not self._pending:
            self._drained.set()

    def _take_leftovers(self) -> list[Message]:
        """Empty every buffer and merge what was in them, each message once."""
        return _merge([sub._take_remaining() for sub in self._subscriptions])


def _merge(buffers: list[list[Message]]) -> list[Message]:
    """Merge buffers into one list that keeps each buffer's order, each message once.

    Fan-out puts one message object in several buffers; handing it over once means a
    replay of what was persisted does not deliver it twice, and keeping every
    buffer's order means the replay does not reorder a stream. Each buffer is in
    publish order; where two disagree (racing publishers can cause that), the older
    subscription's order wins. Every step takes one message, so the loop is bounded.
    """
    queues = [deque(buffer) for buffer in buffers if buffer]
    # Counted by identity, since payloads may be unhashable or costly to compare.
    holders = Counter(id(message) for queue in queues for message in queue)
    taken: set[int] = set()
    merged: list[Message] = []
    while queues:
        at_front = Counter(id(queue[0]) for queue in queues)
        # Next is a message at the front of every buffer holding it; if there is none,
        # the buffers disagree and the oldest subscription's next message goes first.
        chosen = next(
            (queue[0] for queue in queues if at_front[id(queue[0])] == holders[id(queue[0])]),
            queues[0][0],
        )
        merged.append(chosen)
        taken.add(id(chosen))
        for queue in queues:
            while queue and id(queue[0]) in taken:
                queue.popleft()
        queues = [queue for queue in queues if queue]
    return merged
