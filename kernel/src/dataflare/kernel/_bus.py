"""The kernel's in-process event bus, on anyio memory object streams.

Subjects and wildcards follow NATS (``orders.*``, ``orders.>``), so the same code
runs against JetStream later. Every subscription has a bounded buffer; a publisher
waits when a matching subscriber's buffer is full, so a slow subscriber slows its
publishers instead of growing memory. Queue groups share work, :meth:`~EventBus.request`
does request/reply, and :meth:`~EventBus.aclose` drains buffers within a deadline
and hands whatever is left to a callback, so nothing is lost silently. It runs
under asyncio and trio, in a host application's own event loop.

Example::

    async with EventBus(buffer_size=256) as bus:
        async with bus.subscribe("orders.>") as orders, anyio.create_task_group() as tg:
            tg.start_soon(consume, orders)
            await bus.publish("orders.eu.created", batch, headers={"trace-id": "4bf9"})
            orders.unsubscribe()  # consume() reads what is buffered, then its loop ends
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import anyio
from anyio import BrokenResourceError, ClosedResourceError, WouldBlock
from anyio.lowlevel import checkpoint

from dataflare.kernel._message import Message
from dataflare.kernel._routing import QueueGroup, RouteTable
from dataflare.kernel._shutdown import OnUndelivered, Shutdown
from dataflare.kernel._statistics import BusStatistics, ShutdownReport, SubscriptionStatistics
from dataflare.kernel._subjects import validate_subject
from dataflare.kernel._subscription import Subscription, check_buffer_size
from dataflare.kernel.errors import (
    BusClosedError,
    BusError,
    BusSettingError,
    NoRespondersError,
    RequestTimeoutError,
)

# The whole bus surface, so the rest of the kernel imports it from one place.
__all__ = (
    "BusStatistics",
    "EventBus",
    "Message",
    "OnUndelivered",
    "ShutdownReport",
    "Subscription",
    "SubscriptionStatistics",
)


def _check_timeout(setting: str, value: float) -> float:
    if not value >= 0:  # also refuses NaN
        raise BusSettingError(
            setting, value, "a timeout is a number of seconds >= 0, e.g. 5.0 (math.inf waits)"
        )
    return value


class EventBus:
    """Publish/subscribe on NATS-style subjects, with bounded buffers and backpressure.

    Create it anywhere (no event loop is needed until you publish) and close it with
    ``async with`` or :meth:`aclose`, which also releases every subscription's stream.
    One bus belongs to one event loop.

    Args:
        buffer_size: The default buffer of each subscription, in messages (>= 1).
        shutdown_timeout: Seconds :meth:`aclose` waits for buffers to drain, by default.
        on_undelivered: :meth:`aclose`'s callback by default, so that leaving an
            ``async with`` block can persist what is left over too.

    Raises:
        BusSettingError: If ``buffer_size`` is below 1 or ``shutdown_timeout`` is
            negative.
    """

    __slots__ = (
        "_buffer_size",
        "_delivered",
        "_dropped",
        "_on_undelivered",
        "_published",
        "_shutdown",
        "_shutdown_timeout",
        "_table",
    )

    def __init__(
        self,
        *,
        buffer_size: int = 1024,
        shutdown_timeout: float = 5.0,
        on_undelivered: OnUndelivered | None = None,
    ) -> None:
        self._buffer_size = check_buffer_size(buffer_size)
        self._shutdown_timeout = _check_timeout("shutdown_timeout", shutdown_timeout)
        self._on_undelivered = on_undelivered
        self._table = RouteTable()
        self._shutdown: Shutdown | None = None
        self._published = 0
        self._delivered = 0
        self._dropped = 0

    def __repr__(self) -> str:
        state = "closed" if self._shutdown is not None else "open"
        return (
            f"<EventBus {state}, buffer_size={self._buffer_size}, subscriptions={len(self._table)}>"
        )

    @property
    def buffer_size(self) -> int:
        """The default buffer of each subscription, in messages."""
        return self._buffer_size

    @property
    def shutdown_timeout(self) -> float:
        """Seconds :meth:`aclose` waits for subscribers to drain, by default."""
        return self._shutdown_timeout

    async def __aenter__(self) -> EventBus:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def subscribe(
        self, pattern: str, *, buffer_size: int | None = None, queue: str | None = None
    ) -> Subscription:
        """Start buffering the messages published to subjects matching a pattern.

        Args:
            pattern: A subject pattern, e.g. ``"orders.*"`` or ``"orders.>"``.
            buffer_size: This subscription's buffer, in messages; the bus's
                ``buffer_size`` by default.
            queue: A queue group name. Each message goes to exactly one matching
                member of a group, in turn, skipping members whose buffer is full
                when another has room; other groups and plain subscriptions still
                get their own copy.

        Returns:
            The subscription: iterate it, and close it (``async with``) when done.

        Raises:
            BusClosedError: If the bus is shutting down or closed.
            InvalidSubjectError: If the pattern is malformed.
            BusSettingError: If ``buffer_size`` is below 1 or ``queue`` is empty or
                has whitespace.
        """
        if self._shutdown is not None:
            raise BusClosedError(
                f"cannot subscribe to {pattern!r}: the event bus is shut down; "
                "subscribe before closing it"
            )
        size = self._buffer_size if buffer_size is None else buffer_size
        subscription = Subscription.open(self, pattern, buffer_size=size, queue=queue)
        self._table.add(subscription)
        return subscription

    async def publish(
        self,
        subject: str,
        payload: Any,
        *,
        headers: Mapping[str, str] | None = None,
        reply_to: str | None = None,
    ) -> int:
        """Deliver a message to every subscription whose pattern matches the subject.

        When a subscriber's buffer is full this waits for room (backpressure), then
        carries on with the next subscriber. If the calling task is cancelled while
        waiting, the subscriptions before the full one have the message and the rest
        do not.

        Args:
            subject: A concrete subject, e.g. ``"orders.eu.created"``.
            payload: Any object; subscribers receive this very object, not a copy.
            headers: Metadata for subscribers; copied into a read-only mapping.
            reply_to: The subject a responder should answer on.

        Returns:
            How many subscriptions received the message (one per queue group at most).

        Raises:
            BusClosedError: If the bus is shutting down or closed, including while
                this call waits for buffer space: the message then reached the
                subscriptions before the full one, not that one nor any after it,
                and it is not passed to ``on_undelivered``.
            InvalidSubjectError: If ``subject`` or ``reply_to`` is malformed or has
                a wildcard.
        """
        # One scheduling point per publish, as anyio's send() has, so a publisher
        # whose messages never fill a buffer still lets other tasks run.
        await checkpoint()
        if self._shutdown is not None:
            raise BusClosedError(
                f"cannot publish to {subject!r}: the event bus is shut down; publish "
                "before closing it"
            )
        route = self._table.route(subject)
        if reply_to is not None:
            validate_subject(reply_to)
        message = Message(subject, payload, headers, reply_to)
        self._published += 1
        delivered = 0
        for subscription in route.subscribers:
            try:
                subscription._send.send_nowait(message)
            except WouldBlock:
                if not await self._send_waiting(subscription, message):
                    continue
            except (BrokenResourceError, ClosedResourceError):
                # Closed while this publish waited on an earlier subscriber.
                self._raise_if_closed(subject)
                continue
            subscription._delivered += 1
            self._delivered += 1
            delivered += 1
        for group, members in route.groups:
            delivered += await self._deliver_to_group(group, members, message)
        return delivered

    async def request(
        self,
        subject: str,
        payload: Any,
        *,
        timeout: float = 1.0,
        headers: Mapping[str, str] | None = None,
    ) -> Message:
        """Publish a request and wait for the first reply, as NATS request/reply does.

        The request carries a fresh ``_INBOX.<hex>`` subject in ``reply_to``; a
        responder answers with :meth:`respond`. Later replies are dropped.

        Args:
            subject: A concrete subject, e.g. ``"prices.quote"``.
            payload: The request payload.
            timeout: Seconds to wait in all, including any wait for buffer space.
            headers: Metadata for the responder.

        Returns:
            The first reply.

        Raises:
            NoRespondersError: If no subscription matches ``subject``.
            RequestTimeoutError: If no reply came within ``timeout``.
            BusClosedError: If the bus is shut down, before or during the request.
            InvalidSubjectError: If ``subject`` is malformed or has a wildcard.
        """
        inbox = self.subscribe(f"_INBOX.{secrets.token_hex(16)}", buffer_size=1)
        try:
            with anyio.move_on_after(timeout):
                sent = await self.publish(subject, payload, headers=headers, reply_to=inbox.pattern)
                if not sent:
                    raise NoRespondersError(subject)
                reply = await anext(inbox, None)
                if reply is None:
                    raise BusClosedError(
                        f"the event bus shut down while a request on {subject!r} waited "
                        "for its reply"
                    )
                return reply
        finally:
            inbox._close()
        raise RequestTimeoutError(subject, timeout)

    async def respond(
        self, request: Message, payload: Any, *, headers: Mapping[str, str] | None = None
    ) -> int:
        """Reply to a message received from :meth:`request`.

        Args:
            request: The request message, as the responder received it.
            payload: The reply payload.
            headers: Metadata for the requester.

        Returns:
            How many subscriptions received the reply: 0 if the requester gave up.

        Raises:
            BusError: If the message has no ``reply_to`` (it came from
                :meth:`publish`, not :meth:`request`).
            BusClosedError: If the bus is shutting down or closed.
        """
        if request.reply_to is None:
            raise BusError(
                f"cannot respond to the message on {request.subject!r}: it has no reply_to, "
                "so it was published with publish(), not request(); check "
                "message.reply_to before responding"
            )
        return await self.publish(request.reply_to, payload, headers=headers)

    def statistics(self) -> BusStatistics:
        """Take a snapshot of the bus's counters and buffers.

        Returns:
            The bus's statistics at this instant.
        """
        per_subscription = tuple(sub.statistics() for sub in self._table)
        return BusStatistics(
            published=self._published,
            delivered=self._delivered,
            dropped=self._dropped,
            subscriptions=len(per_subscription),
            buffered=sum(stats.buffered for stats in per_subscription),
            publishers_waiting=sum(
                sub._send.statistics().tasks_waiting_send for sub in self._table
            ),
            closed=self._shutdown is not None,
            per_subscription=per_subscription,
        )

    async def aclose(
        self, *, timeout: float | None = None, on_undelivered: OnUndelivered | None = None
    ) -> ShutdownReport:
        """Shut down: refuse new work, let subscribers drain, hand over what is left.

        In order: new publishes and subscriptions raise :class:`BusClosedError`, and
        so do publishes waiting for buffer space; every subscription stops receiving,
        and its iterator ends once its buffer is read; this waits up to ``timeout``
        for the buffers to empty; then every message still buffered is passed to
        ``on_undelivered``, in publish order and once even if several subscriptions
        held it, and all streams are closed. That last step is shielded from
        cancellation, so a cancelled shutdown still hands its messages over: keep
        the callback short. If the callback raises, the messages after that one
        are not handed over and the error propagates; the bus is closed all the
        same.

        Calling it again, even concurrently, waits for the first call and returns
        its report; the later call's arguments are ignored.

        Args:
            timeout: Seconds to wait for subscribers to drain; the bus's
                ``shutdown_timeout`` by default.
            on_undelivered: Called with each message left over, to persist it; may be
                async. The bus's ``on_undelivered`` by default; with neither, the
                messages are discarded and only counted in the report.

        Returns:
            How many messages were drained and how many were left over.

        Raises:
            BusSettingError: If ``timeout`` is negative.
        """
        if self._shutdown is not None:
            return await self._shutdown.report()
        deadline = self.shutdown_timeout if timeout is None else _check_timeout("timeout", timeout)
        self._shutdown = Shutdown.begin(self._table)
        self._table.clear_cache()
        callback = self._on_undelivered if on_undelivered is None else on_undelivered
        return await self._shutdown.run(deadline, callback)

    async def _deliver_to_group(
        self, group: QueueGroup, members: tuple[Subscription, ...], message: Message
    ) -> int:
        start = group.cursor % len(members)
        group.cursor = start + 1
        in_turn = members[start:] + members[:start]
        # First the members with room, in turn order, so a slow member is passed over.
        for member in in_turn:
            try:
                member._send.send_nowait(message)
            except WouldBlock:
                continue
            except (BrokenResourceError, ClosedResourceError):
                self._raise_if_closed(message.subject)
                continue
            member._delivered += 1
            self._delivered += 1
            return 1
        # All full: wait on the member whose turn it is, the next only if it leaves.
        for member in in_turn:
            if await self._send_waiting(member, message):
                member._delivered += 1
                self._delivered += 1
                return 1
        return 0

    async def _send_waiting(self, subscription: Subscription, message: Message) -> bool:
        """Wait for room in a full buffer; ``False`` if the subscription went away."""
        try:
            await subscription._send.send(message)
        except (BrokenResourceError, ClosedResourceError):
            self._raise_if_closed(message.subject)
            return False
        return True

    def _raise_if_closed(self, subject: str) -> None:
        if self._shutdown is not None:
            raise BusClosedError(
                f"the event bus shut down while a publish to {subject!r} waited for buffer "
                "space; the message did not reach every subscriber"
            ) from None

    # Called by Subscription -------------------------------------------------------

    def _unroute(self, subscription: Subscription) -> None:
        self._table.unroute(subscription)

    def _forget(self, subscription: Subscription, dropped: int) -> None:
        self._table.remove(subscription)
        self._dropped += dropped
        if subscription._draining:
            self._drain_progress(subscription)

    def _drain_progress(self, subscription: Subscription) -> None:
        if self._shutdown is not None:
            self._shutdown.progress(subscription)
