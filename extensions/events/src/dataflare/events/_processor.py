"""Handle stored events with retries and dead letters, resuming from a committed position.

An :class:`EventProcessor` reads a store from its consumer's committed position
and calls every handler whose pattern matches each event's type. What it
guarantees:

* **At least once.** The committed position never passes an event until every
  matching handler has succeeded or the event was dead-lettered for it. A
  restarted processor (same ``name``, same position store) resumes after the
  committed position, so a crash (or a stop during a backoff) hands the
  unfinished events to the handlers again, and a handler must tolerate that.
* **Not twice after a restart, where possible.** Events finished above the
  committed position (workers finish out of order) are saved with their ids and
  skipped after a restart. Only events that finished after the last position
  write (positions are saved after every event, coalesced under load) and events
  whose handlers were interrupted are handled again; within one run, never.
* **Retries, then a dead letter.** A handler that raises is called again after a
  backoff, up to ``retry.max_attempts`` calls in all; then the event, its trace
  id, the error's type and message, the attempt count and the handler's name go
  to the dead-letter sink, and processing continues with the next event. Other
  handlers of the event are unaffected, but an event is finished as a whole: if
  one of its handlers is interrupted, all of them see it again after a restart.
* **Bounded.** At most ``concurrency`` events are handled at once (an anyio
  :class:`~anyio.CapacityLimiter`), in offset order of starting; with
  ``concurrency=1`` events are handled strictly in order. At most
  ``max_pending`` events run ahead of the committed position.

Example::

    processor = EventProcessor(store, concurrency=4, dead_letters=sink,
                               positions=FilePositionStore(directory), name="billing")
    processor.on("order.*", charge)
    await processor.process_available()    # everything stored so far, then return
    # or: async with anyio.create_task_group() as tg: await tg.start(processor.run)
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from contextlib import aclosing
from typing import Final

import anyio
import attrs
from anyio.abc import TaskGroup, TaskStatus

from dataflare.events._attempts import Abandoned, Failure, call_with_retries
from dataflare.events._dlq import DeadLetter, DeadLetterSink
from dataflare.events._positions import MemoryPositionStore, PositionStore, check_consumer
from dataflare.events._retry import RetryPolicy
from dataflare.events._router import EventRouter, Route
from dataflare.events._store_api import EventStore, StoredEvent
from dataflare.events._watermark import Committer, Watermark
from dataflare.events.errors import ProcessorError, UnknownHandlerError
from dataflare.kernel import Event

__all__ = ("EventProcessor", "Handler", "ProcessorStatistics")

log = logging.getLogger("dataflare.events")

Handler = Callable[[Event], Awaitable[None]]
"""An async callable taking an event; raising means "try again later"."""

_READ_BATCH: Final = 512


@attrs.frozen
class _Workers:
    group: TaskGroup
    limiter: anyio.CapacityLimiter


@attrs.frozen
class ProcessorStatistics:
    """What a processor has done since it was made."""

    handled: int
    """Events finished: every matching handler succeeded or dead-lettered the event."""
    skipped: int
    """Events no handler matched, or finished before a restart."""
    retries: int
    """Handler calls beyond the first for an event."""
    dead_lettered: int
    """Dead letters put in the sink."""
    committed: int
    """The committed position: every event up to this offset is finished."""


class EventProcessor:
    """Runs handlers over a store's events; see the module for its guarantees.

    Args:
        store: The events.
        dead_letters: Where events go after their last failed attempt.
        concurrency: How many events are handled at once.
        retry: Attempts and backoff for a handler that raises.
        positions: Where the committed position is kept; in memory by default.
        name: The consumer's name, which keys its position.
        poll_interval: Seconds :meth:`run` waits before looking for new events.
        max_pending: How many events may run ahead of the committed position.

    Raises:
        ValueError: A number is out of range, or the name is not a valid consumer name.
    """

    def __init__(
        self,
        store: EventStore,
        *,
        dead_letters: DeadLetterSink,
        concurrency: int = 1,
        retry: RetryPolicy | None = None,
        positions: PositionStore | None = None,
        name: str = "default",
        poll_interval: float = 0.5,
        max_pending: int = 1024,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency={concurrency!r} is not allowed: use 1 or more")
        if max_pending < concurrency:
            raise ValueError(f"max_pending={max_pending!r} must be at least concurrency")
        if poll_interval <= 0:
            raise ValueError(f"poll_interval={poll_interval!r} is not allowed: use above 0")
        self.store = store
        self.name = check_consumer(name)
        self.retry = retry or RetryPolicy()
        self.dead_letters = dead_letters
        self.positions = positions or MemoryPositionStore()
        self.concurrency = concurrency
        self._poll_interval = poll_interval
        self._max_pending = max_pending
        self._router: EventRouter[Handler] = EventRouter()
        self._mark: Watermark | None = None
        self._stop = False
        self._stopped: anyio.Event | None = None  # made in the running loop
        self._running = False
        self._failure: BaseException | None = None
        self._committer: Committer | None = None
        self._counts = dict.fromkeys(("handled", "skipped", "retries", "dead_lettered"), 0)

    def on(
        self,
        pattern: str,
        handler: Handler,
        *,
        metadata: Mapping[str, str] | None = None,
        name: str | None = None,
    ) -> Route[Handler]:
        """Call ``handler`` for every event whose type matches ``pattern``.

        Args:
            pattern: An event type (``order.created``) or a pattern (``order.*``, ``>``).
            handler: An async callable taking the event.
            metadata: Only events whose metadata holds these values.
            name: The handler's name in dead letters and for retries; unique in
                this processor. Defaults to its qualified name.

        Raises:
            ValueError: Another handler has that name.
            InvalidQueryError: ``pattern`` is not a valid pattern.
        """
        route = self._router.subscribe(handler, event_type=pattern, metadata=metadata, name=name)
        if sum(1 for other in self._router.routes if other.name == route.name) > 1:
            self._router.unsubscribe(route)
            raise ValueError(f"a handler named {route.name!r} exists; pass name= to tell apart")
        return route

    @property
    def committed(self) -> int:
        """The committed position (0 before anything was committed or loaded)."""
        return 0 if self._mark is None else self._mark.committed

    def statistics(self) -> ProcessorStatistics:
        """Return what the processor has done so far."""
        return ProcessorStatistics(committed=self.committed, **self._counts)

    async def process_available(self) -> ProcessorStatistics:
        """Handle every event stored now (from the committed position), then return.

        Raises:
            ProcessorError: The dead-letter sink or the position store failed, or
                the processor is already running.
        """
        await self._pump(follow=False, task_status=anyio.TASK_STATUS_IGNORED)
        return self.statistics()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Handle events as they are stored, until :meth:`stop`; then finish in-flight events.

        Start it with ``await task_group.start(processor.run)``, which returns once
        it runs. A backoff in progress at a stop is abandoned: that event is not
        committed, and is handled again by the next run.

        Raises:
            ProcessorError: The dead-letter sink or the position store failed, or
                the processor is already running.
        """
        await self._pump(follow=True, task_status=task_status)

    def stop(self) -> None:
        """Ask a running processor to stop starting events; it returns when in-flight ones end."""
        self._stop = True
        if self._stopped is not None:
            self._stopped.set()
        if self._mark is not None:
            self._mark.wake()

    @property
    def routes(self) -> tuple[Route[Handler], ...]:
        """The handlers registered, in registration order."""
        return tuple(self._router.routes)

    def handler(self, name: str) -> Route[Handler]:
        """Return the route of the handler registered under ``name``.

        Raises:
            UnknownHandlerError: No handler has that name.
        """
        for route in self._router.routes:
            if route.name == name:
                return route
        raise UnknownHandlerError(name, [route.name for route in self._router.routes])

    async def _pump(self, *, follow: bool, task_status: TaskStatus[None]) -> None:
        if self._running:
            raise ProcessorError(f"processor {self.name!r} is already running")
        self._running, self._stop, self._failure = True, False, None
        self._stopped = anyio.Event()
        try:
            if self._mark is None:
                self._mark = Watermark(await self.positions.load(self.name))
                self._committer = Committer(self.name, self._mark, self.positions)
            limiter = anyio.CapacityLimiter(self.concurrency)
            async with anyio.create_task_group() as group:
                task_status.started()
                await self._feed(self._mark, _Workers(group, limiter), follow=follow)
            await self._commit()
        finally:
            self._running = False
        if self._failure is not None:
            raise ProcessorError(
                f"processor {self.name!r} stopped: {self._failure}; events it had not "
                "finished are handled again by the next run"
            ) from self._failure

    async def _feed(self, mark: Watermark, workers: _Workers, *, follow: bool) -> None:
        next_offset = mark.committed + 1
        while not self._stop:
            last = await self.store.last_offset() or 0
            if next_offset > last:
                if not follow:
                    return
                with anyio.move_on_after(self._poll_interval):
                    assert self._stopped is not None
                    await self._stopped.wait()
                continue
            batch_end = min(last, next_offset + _READ_BATCH - 1)
            events = self.store.read(from_offset=next_offset, to_offset=batch_end)
            async with aclosing(events):
                async for stored in events:
                    await self._skip_gap(mark, next_offset, stored.offset)
                    next_offset = stored.offset + 1
                    if not await self._start(mark, workers, stored):
                        return
            await self._skip_gap(mark, next_offset, batch_end + 1)
            next_offset = max(next_offset, batch_end + 1)

    async def _skip_gap(self, mark: Watermark, first: int, end: int) -> None:
        # A store may have no event at some offsets (a JetStream purge); they count as done.
        if mark.finish_gap(first, end):
            await self._commit()

    async def _start(self, mark: Watermark, workers: _Workers, stored: StoredEvent) -> bool:
        if mark.is_done(stored.offset, stored.event.id):
            self._counts["skipped"] += 1
            mark.finish(stored.offset, stored.event.id)
            return True
        while not mark.has_room(stored.offset, self._max_pending) and not self._stop:
            await mark.moved()
        if self._stop:
            return False
        token = object()
        await workers.limiter.acquire_on_behalf_of(token)
        workers.group.start_soon(self._handle, mark, workers.limiter, token, stored)
        return True

    async def _handle(
        self, mark: Watermark, limiter: anyio.CapacityLimiter, token: object, stored: StoredEvent
    ) -> None:
        try:
            routes = self._router.match(stored.event)
            for route in routes:
                outcome = await self._attempt(route, stored.event, stored.offset)
                if isinstance(outcome, Abandoned):
                    return
                if isinstance(outcome, DeadLetter):
                    try:
                        await self.dead_letters.put(outcome)
                    except Exception as exc:  # noqa: BLE001 -- any sink failure stops the processor
                        self._fail(exc)
                        return
                    self._counts["dead_lettered"] += 1
            self._counts["handled" if routes else "skipped"] += 1
            mark.finish(stored.offset, stored.event.id)
            await self._commit()
        finally:
            limiter.release_on_behalf_of(token)

    async def _attempt(
        self, route: Route[Handler], event: Event, offset: int | None
    ) -> DeadLetter | Abandoned | None:
        outcome = await call_with_retries(
            route.handler,
            event,
            self.retry,
            name=route.name,
            offset=offset,
            wait=self._backoff,
            on_retry=self._retried,
        )
        if isinstance(outcome, Failure):
            return DeadLetter.from_failure(event, route.name, outcome, self.name, offset)
        return outcome

    def _retried(self) -> None:
        self._counts["retries"] += 1

    async def _backoff(self, delay: float) -> bool:
        """Wait before the next attempt; ``False`` when a stop came first."""
        assert self._stopped is not None
        with anyio.move_on_after(delay):
            await self._stopped.wait()
            return False
        return True

    async def _commit(self) -> None:
        assert self._committer is not None
        try:
            await self._committer.save()
        except Exception as exc:  # noqa: BLE001 -- any position failure stops the processor
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        log.error("processor %s stops: %s", self.name, exc, exc_info=exc)
        if self._failure is None:
            self._failure = exc
        self.stop()
