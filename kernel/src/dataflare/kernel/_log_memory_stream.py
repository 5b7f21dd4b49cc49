"""A MemoryLog stream and its pull consumers: leases, redelivery, max_deliver, back-pressure.

A consumer's cursor is the next sequence to hand out plus a lease per handed-out
message; a lease that falls due is handed out again (after ``ack_wait``, a backoff
step, or a nak's delay) until ``max_deliver``. Waiting fetches sleep on the stream's
event, which a publish or a settlement sets, or until the next lease falls due.

Example::

    stream = MemoryStream(StreamConfig("ORDERS", ["orders.>"]))
    consumer = MemoryConsumer(Cursor(stream, ConsumerConfig(), 1), check_open=lambda: None)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime

import anyio
import attrs
from anyio.lowlevel import checkpoint

from dataflare.kernel._log_api import DeliveredMessage, PullConsumer, Settlement
from dataflare.kernel._log_values import ConsumerConfig, StoredMessage, StreamConfig
from dataflare.kernel._subjects import subject_matches
from dataflare.kernel.errors import LogClosedError, MessagingError

__all__ = ("Cursor", "MemoryConsumer", "MemoryStream")


@attrs.define
class MemoryStream:
    """One stream's messages, in sequence order, and the msg ids inside its window."""

    config: StreamConfig
    changed: anyio.Event | None = None  # made by the first waiter: publishing stays cheap
    messages: dict[int, tuple[StoredMessage, float]] = attrs.field(factory=dict)
    msg_ids: dict[str, tuple[int, float]] = attrs.field(factory=dict)
    # For only_if_empty: subject -> its newest seq, and token prefix ("a", "a.b") -> the
    # newest seq of a subject below it. None after messages aged out: rebuilt on use.
    subject_index: tuple[dict[str, int], dict[str, int]] | None = attrs.field(
        factory=lambda: ({}, {})
    )
    last_seq: int = 0
    last_time: datetime | None = None

    def notify(self) -> None:
        """Wake every fetch waiting on this stream."""
        if self.changed is not None:
            self.changed.set()
            self.changed = None

    async def wait(self) -> None:
        """Wait for the next :meth:`notify`."""
        if self.changed is None:
            self.changed = anyio.Event()
        await self.changed.wait()

    def expire(self, now: float) -> None:
        """Drop messages past ``max_age`` and msg ids past the duplicate window."""
        max_age = self.config.max_age or math.inf
        while self.messages and now - next(iter(self.messages.values()))[1] >= max_age:
            del self.messages[next(iter(self.messages))]
            self.subject_index = None
        window = self.config.effective_duplicate_window
        while self.msg_ids and now - next(iter(self.msg_ids.values()))[1] >= window:
            del self.msg_ids[next(iter(self.msg_ids))]

    def index(self, subject: str, seq: int) -> None:
        """Record a newly stored message's subject for :meth:`last_matching`."""
        if self.subject_index is None:
            return  # rebuilt from the messages on next use
        exact, below = self.subject_index
        exact[subject] = seq
        tokens = subject.split(".")
        for end in range(1, len(tokens)):
            below[".".join(tokens[:end])] = seq

    def last_matching(self, pattern: str) -> int | None:
        """The newest stored seq whose subject matches ``pattern``, or ``None``."""
        if self.subject_index is None:
            self.subject_index = ({}, {})
            for seq, (message, _) in self.messages.items():
                self.index(message.subject, seq)
        exact, below = self.subject_index
        tokens = pattern.split(".")
        if "*" not in tokens and ">" not in tokens:
            return exact.get(pattern)
        if "*" not in tokens:  # "a.b.>": any subject under the literal prefix
            return below.get(".".join(tokens[:-1]))
        found = (s for s, (m, _) in self.messages.items() if subject_matches(pattern, m.subject))
        return max(found, default=None)

    def start_seq(self, config: ConsumerConfig) -> int:
        """The first sequence a new consumer with ``config`` considers."""
        if config.deliver_policy == "new":
            return self.last_seq + 1
        if config.deliver_policy == "by_start_sequence":
            return config.start_seq or 1
        if config.deliver_policy == "by_start_time":
            assert config.start_time is not None
            later = (s for s, (m, _) in self.messages.items() if m.time >= config.start_time)
            return next(later, self.last_seq + 1)
        return 1


@attrs.define
class _Lease:
    due: float
    delivered: int


@attrs.define
class Cursor:
    """A consumer's position and its handed-out messages; shared by a durable's handles."""

    stream: MemoryStream
    config: ConsumerConfig
    next_seq: int
    pending: dict[int, _Lease] = attrs.field(factory=dict)

    def wait(self, delivered: int) -> float:
        backoff = self.config.backoff
        return backoff[min(delivered, len(backoff)) - 1] if backoff else self.config.ack_wait

    def take(self, batch: int, now: float) -> list[StoredMessage]:
        """Hand out up to ``batch`` messages: due redeliveries first, then new ones."""
        out: list[StoredMessage] = []
        limit = self.config.max_deliver or math.inf
        for seq in sorted(self.pending):
            lease = self.pending[seq]
            if len(out) == batch:
                break
            if lease.due > now:
                continue
            found = self.stream.messages.get(seq)
            if found is None or lease.delivered >= limit:
                del self.pending[seq]  # aged out, or out of deliveries: never again
                continue
            lease.delivered += 1
            lease.due = now + self.wait(lease.delivered)
            out.append(attrs.evolve(found[0], delivered=lease.delivered))
        wanted = self.config.filter_subject
        while len(out) < batch and self.next_seq <= self.stream.last_seq:
            if len(self.pending) >= self.config.max_ack_pending:
                break
            seq, self.next_seq = self.next_seq, self.next_seq + 1
            found = self.stream.messages.get(seq)
            if found is None or (wanted and not subject_matches(wanted, found[0].subject)):
                continue
            self.pending[seq] = _Lease(now + self.wait(1), 1)
            out.append(attrs.evolve(found[0], delivered=1))
        return out

    def next_due(self) -> float:
        return min((lease.due for lease in self.pending.values()), default=math.inf)

    def settle(self, seq: int, kind: Settlement, delay: float | None) -> None:
        lease = self.pending.get(seq)
        if lease is None:
            return  # already settled or given up: a late ack is accepted, as JetStream does
        now = anyio.current_time()
        if kind in ("ack", "term"):
            del self.pending[seq]
        elif kind == "nak":
            lease.due = now + (delay or 0.0)
        else:
            lease.due = now + self.wait(lease.delivered)
        self.stream.notify()


class _Delivered(DeliveredMessage):
    def __init__(self, message: StoredMessage, cursor: Cursor) -> None:
        super().__init__(message)
        self._cursor = cursor

    async def _send(self, kind: Settlement, delay: float | None) -> None:
        await checkpoint()
        self._cursor.settle(self.seq, kind, delay)


class MemoryConsumer(PullConsumer):
    """A handle on a cursor; a durable's handles share one cursor."""

    def __init__(self, cursor: Cursor, check_open: Callable[[], None]) -> None:
        self._cursor = cursor
        self._check_open = check_open
        self._closed = False

    async def fetch(self, batch: int = 1, timeout: float = 5.0) -> list[DeliveredMessage]:
        if batch < 1 or not timeout > 0:
            raise MessagingError(f"fetch needs batch >= 1 and timeout > 0, got {batch}, {timeout}")
        deadline = anyio.current_time() + timeout
        while True:  # bounded: each turn waits for a change, a lease, or the deadline
            if self._closed:
                raise LogClosedError("this consumer was closed; open another with log.consumer()")
            self._check_open()
            now = anyio.current_time()
            stream = self._cursor.stream
            stream.expire(now)
            taken = self._cursor.take(batch, now)
            if taken:
                await checkpoint()
                return [_Delivered(message, self._cursor) for message in taken]
            if now >= deadline:
                return []
            with anyio.move_on_after(min(deadline, self._cursor.next_due()) - now):
                await stream.wait()

    async def close(self) -> None:
        self._closed = True
        await checkpoint()
