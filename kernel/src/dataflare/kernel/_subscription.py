"""A subscription: one subscriber's bounded buffer on the event bus, read as an async iterator.

Each subscription owns one anyio memory object stream. The bus holds the send side
and the subscriber reads the receive side, so a full buffer makes publishers wait
(backpressure) and closing the send side lets the subscriber read what is left and
then stop.

Example::

    async with bus.subscribe("orders.*", buffer_size=64) as subscription:
        async for message in subscription:
            await handle(message)
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

import anyio
import attrs
from anyio import ClosedResourceError, EndOfStream
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from dataflare.kernel._message import Message
from dataflare.kernel._statistics import SubscriptionStatistics
from dataflare.kernel._subjects import validate_pattern
from dataflare.kernel.errors import BusSettingError

if TYPE_CHECKING:
    from dataflare.kernel._bus import EventBus

__all__ = ("Subscription", "check_buffer_size")


def check_buffer_size(value: object, setting: str = "buffer_size") -> int:
    """Refuse a buffer size that is not a whole number >= 1.

    Raises:
        BusSettingError: If it is not.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BusSettingError(
            setting,
            value,
            "a buffer holds a whole number of messages, at least 1 (the default is 1024): "
            "with no buffer a publisher waits on every reader, and an unbounded one lets "
            "memory grow without limit",
        )
    return value


# No on_setattr hooks: attrs would then route every counter update through a
# Python-level __setattr__, which costs about a microsecond per message.
@attrs.define(eq=False, repr=False, on_setattr=attrs.setters.NO_OP)
class Subscription:
    """Messages whose subject matches a pattern, in the order they were published.

    Create one with :meth:`EventBus.subscribe`, not directly. Messages are buffered
    from the moment :meth:`~EventBus.subscribe` returns, before iteration starts.
    Iteration ends (``StopAsyncIteration``) once the subscription is unsubscribed or
    the bus shuts down, and everything buffered before that has been read.
    """

    _pattern: str
    _queue: str | None
    _buffer_size: int
    _bus: EventBus
    _tokens: tuple[str, ...]
    _send: MemoryObjectSendStream[Message]
    _receive: MemoryObjectReceiveStream[Message]
    _active: bool = True
    _closed: bool = False
    # Set by the bus while it shuts down and this buffer still holds messages, so
    # that reads report drain progress only then and cost nothing otherwise.
    _draining: bool = False
    _delivered: int = 0
    _received: int = 0

    @property
    def pattern(self) -> str:
        """The subject pattern, e.g. ``"orders.*"``."""
        return self._pattern

    @property
    def queue(self) -> str | None:
        """The queue group (each message goes to one member, in turn), or ``None``."""
        return self._queue

    @property
    def buffer_size(self) -> int:
        """How many messages the buffer holds before publishers wait."""
        return self._buffer_size

    @classmethod
    def open(
        cls, bus: EventBus, pattern: str, *, buffer_size: int, queue: str | None
    ) -> Subscription:
        """Check the arguments and create a subscription with its stream (for the bus).

        Raises:
            InvalidSubjectError: If the pattern is malformed.
            BusSettingError: If ``buffer_size`` is below 1 or ``queue`` is empty or
                has whitespace.
        """
        tokens = validate_pattern(pattern)
        check_buffer_size(buffer_size)
        if queue is not None and (not queue or any(char.isspace() for char in queue)):
            raise BusSettingError("queue", queue, "a queue group name is a word, e.g. 'workers'")
        send, receive = anyio.create_memory_object_stream[Message](buffer_size)
        return cls(pattern, queue, buffer_size, bus, tokens, send, receive)

    def __repr__(self) -> str:
        queue = f", queue={self.queue!r}" if self.queue is not None else ""
        return f"<Subscription {self.pattern!r}{queue}, buffered={self._buffered()}>"

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Message:
        try:
            message = await self._receive.receive()
        except EndOfStream:
            # Nothing is buffered and nothing more can arrive: release the stream.
            self._close()
            raise StopAsyncIteration from None
        except ClosedResourceError:
            raise StopAsyncIteration from None
        self._received += 1
        if self._draining:
            self._bus._drain_progress(self)
        return message

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def unsubscribe(self) -> None:
        """Stop receiving new messages; what is already buffered can still be read.

        Iteration ends after the buffered messages. A publisher waiting for room in
        this buffer moves on to the next subscriber. Calling it again does nothing.
        """
        if self._active:
            self._active = False
            self._send.close()
            self._bus._unroute(self)

    async def aclose(self) -> None:
        """Unsubscribe and discard whatever is still buffered.

        Discarded messages are counted in :attr:`BusStatistics.dropped`. To read them
        first, call :meth:`unsubscribe` and iterate to the end instead. Calling it
        again does nothing.
        """
        self._close()

    def statistics(self) -> SubscriptionStatistics:
        """Take a snapshot of this subscription's counters and buffer.

        Returns:
            The subscription's statistics at this instant.
        """
        return SubscriptionStatistics(
            pattern=self.pattern,
            queue=self.queue,
            buffer_size=self.buffer_size,
            buffered=self._buffered(),
            delivered=self._delivered,
            received=self._received,
            active=self._active,
        )

    def _buffered(self) -> int:
        return self._receive.statistics().current_buffer_used

    def _close(self) -> None:
        """Close both ends and leave the bus, dropping what is buffered."""
        if self._closed:
            return
        self.unsubscribe()
        dropped = self._buffered()
        self._closed = True
        self._receive.close()
        self._bus._forget(self, dropped)

    def _take_remaining(self) -> list[Message]:
        """Empty the buffer without counting the messages as received, then close.

        The bus calls this at the end of shutdown, after closing the send side, so
        the buffer can only shrink and the loop is bounded by its size.
        """
        remaining: list[Message] = []
        if not self._closed:
            for _ in range(self._buffered()):
                remaining.append(self._receive.receive_nowait())
            self._close()
        return remaining
