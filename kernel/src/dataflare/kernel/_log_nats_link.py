"""What the parts of NatsLog share: the connection, its callbacks, and nats-py errors made plain.

:func:`connect_link` connects with reconnects, and logs every connection event under
``dataflare.kernel.nats`` with structured fields. nats-py reports most failures as
its own exceptions, and some only through the error callback (a permission denied
on a JetStream request arrives as a timeout; the reason goes to ``error_cb``).
:meth:`NatsLink.translate` turns them into the kernel's
:class:`~dataflare.kernel.errors.MessagingError` tree and adds the last error the
server reported, so an operator sees why, not just that it timed out.

Example::

    link = await connect_link(["nats://127.0.0.1:4222"], request_timeout=5.0)
    with link.translate(f"stream info for {name!r}", stream=name):
        reply = await link.nc.request(f"$JS.API.STREAM.INFO.{name}", b"", timeout=5)
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import re
import ssl
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import anyio
import attrs
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

from dataflare.kernel._log_values import StoredMessage
from dataflare.kernel.errors import (
    ConnectionLostError,
    LogClosedError,
    MessagingError,
    MessagingTimeoutError,
    StreamNotFoundError,
)

__all__ = ("NatsLink", "connect_link", "parse_time", "redact", "stored_from")

log = logging.getLogger("dataflare.kernel.nats")

STREAM_NOT_FOUND = 10059
MESSAGE_NOT_FOUND = 10037
_CONNECT_ATTEMPTS = 2  # a failing first connect reports fast; reconnects try far longer
# What an election or a reconnect looks like to a JetStream request.
_TRANSIENT = (
    TimeoutError,
    nats.js.errors.ServiceUnavailableError,
    nats.errors.ConnectionReconnectingError,
)
T = TypeVar("T")


@attrs.define
class NatsLink:
    """The connection a :class:`NatsLog` and its consumers and stores share."""

    servers: Sequence[str]
    """The server URLs, for messages."""

    request_timeout: float
    """Seconds a JetStream request waits for its answer."""

    retry_budget: float = 20.0
    """Seconds a request keeps being retried through an election."""

    nc: Client = attrs.field(factory=Client)
    """The nats-py connection."""

    js: JetStreamContext = attrs.field(init=False)
    """Its JetStream context, once connected."""

    last_error: str | None = None
    """The last error the connection reported (from ``error_cb``)."""

    refused: str | None = None
    """The last authorization or permission error, which later errors must not hide."""

    refused_at: float = -math.inf
    """When (anyio's clock) ``refused`` came."""

    closed: bool = False
    """Set by ``aclose``: every later call raises LogClosedError."""

    counts: dict[str, int] = attrs.field(
        factory=lambda: dict.fromkeys(
            ("published", "publish_retries", "duplicates", "errors", "disconnects", "reconnects"),
            0,
        )
    )
    """What happened on this connection, for :meth:`NatsLog.metrics`."""

    def check_open(self) -> None:
        """Raise LogClosedError once the log was closed."""
        if self.closed:
            raise LogClosedError("this NatsLog was closed; connect a new one")

    async def call(
        self, operation: str, request: Callable[[], Awaitable[T]], *, stream: str | None = None
    ) -> T:
        """Run an idempotent JetStream request, retrying through an election within the budget.

        A request the server denied also ends in a timeout; it is not retried once the
        error callback has reported the denial.

        Raises:
            MessagingError: As :meth:`translate` maps what the last attempt raised.
        """
        deadline = anyio.current_time() + self.retry_budget
        with self.translate(operation, stream=stream):
            for attempt in itertools.count():  # bounded by the deadline
                started = anyio.current_time()
                try:
                    return await request()
                except _TRANSIENT:
                    pause = min(0.05 * 2**attempt, 1.0)
                    if self.refused_at >= started or started + pause >= deadline:
                        raise
                self.check_open()
                await anyio.sleep(pause)
        raise AssertionError("unreachable")  # pragma: no cover

    @contextlib.contextmanager
    def translate(
        self, operation: str, *, stream: str | None = None, timeout: float | None = None
    ) -> Iterator[None]:
        """Turn nats-py errors raised inside the block into MessagingError subclasses.

        Args:
            operation: What the block does, for messages (``"create stream 'ORDERS'"``).
            stream: The stream it is about, to report a missing one as such.
            timeout: The block's own deadline, if not the request timeout.
        """
        try:
            yield
        except nats.errors.ConnectionClosedError:
            self.check_open()
            raise ConnectionLostError(self.servers, "reconnecting gave up") from None
        except nats.js.errors.ServiceUnavailableError:
            raise MessagingError(
                f"JetStream is unavailable for {operation} (503): a leader election is under "
                "way, or a stream lost its quorum; retry shortly"
            ) from None
        except nats.js.errors.APIError as exc:
            if exc.err_code == STREAM_NOT_FOUND and stream is not None:
                raise StreamNotFoundError(stream) from None
            raise MessagingError(
                f"JetStream refused {operation}: {exc.description} "
                f"(code {exc.code}, error {exc.err_code})"
            ) from None
        except TimeoutError:
            waited = timeout or self.request_timeout
            raise MessagingTimeoutError(operation, waited, self.hint()) from None
        except (nats.errors.NoRespondersError, nats.js.errors.NoStreamResponseError):
            raise MessagingError(
                f"nothing answered {operation}: is JetStream enabled (nats-server -js), "
                "and is the cluster past its leader election?"
            ) from None
        except nats.errors.Error as exc:
            raise MessagingError(f"{operation} failed: {exc}{self.hint(prefix='; ')}") from None

    def hint(self, *, prefix: str = "") -> str:
        """Why a request may have gone unanswered, with the server's last error if any."""
        if prefix:
            return f"{prefix}last error from NATS: {self.last_error}" if self.last_error else ""
        why = "the server may be electing a leader, or this user lacks permission for it"
        return f"{why} (last error from NATS: {self.last_error})" if self.last_error else why

    # Connection callbacks: nats-py needs coroutines, and prints tracebacks without them.
    async def on_error(self, exc: Exception) -> None:
        """Remember and log an error the connection reported."""
        self.last_error = f"{type(exc).__name__}: {exc}"
        self.counts["errors"] += 1
        if (
            "authorization violation" in str(exc).lower()
            or "permissions violation" in str(exc).lower()
        ):
            self.refused, self.refused_at = self.last_error, anyio.current_time()
        # Refused reconnects repeat every reconnect_wait while a server is down.
        level = logging.DEBUG if isinstance(exc, OSError) else logging.WARNING
        log.log(level, "NATS error", extra={"servers": self.servers, "error": self.last_error})

    async def on_disconnected(self) -> None:
        """Log a lost connection (not the one ``aclose`` ends)."""
        if not self.closed:
            self.counts["disconnects"] += 1
            log.warning("NATS connection lost; reconnecting", extra={"servers": self.servers})

    async def on_reconnected(self) -> None:
        """Log a reconnect and to which server."""
        self.counts["reconnects"] += 1
        log.info("NATS reconnected", extra={"server": self.server})

    async def on_closed(self) -> None:
        """Log the connection's end."""
        log.info("NATS connection closed", extra={"servers": self.servers})

    async def on_lame_duck(self) -> None:
        """Log that the server is shutting down gracefully."""
        log.warning("NATS server is shutting down (lame duck mode)", extra={"server": self.server})

    @property
    def server(self) -> str | None:
        """The ``host:port`` connected to now."""
        url = self.nc.connected_url
        return None if url is None else str(url.netloc)


async def connect_link(
    servers: Sequence[str],
    *,
    request_timeout: float,
    retry_budget: float = 20.0,
    max_reconnect_attempts: int = 240,
    **options: Any,
) -> NatsLink:
    """Connect to the first server that answers, with logging callbacks installed.

    Args:
        servers: The server URLs.
        request_timeout: Seconds a JetStream request waits for its answer.
        retry_budget: Seconds a request or publish keeps being retried.
        max_reconnect_attempts: Reconnect attempts per server once connected.
        **options: Passed to nats-py's ``connect`` (``name``, ``tls``, timeouts).

    Raises:
        ConnectionLostError: No server could be reached.
        MessagingError: A server refused the connection (credentials, TLS).
    """
    link = NatsLink([redact(url) for url in servers], request_timeout, retry_budget)
    try:
        await link.nc.connect(
            servers=list(servers),
            max_reconnect_attempts=_CONNECT_ATTEMPTS,
            error_cb=link.on_error,
            disconnected_cb=link.on_disconnected,
            reconnected_cb=link.on_reconnected,
            closed_cb=link.on_closed,
            lame_duck_mode_cb=link.on_lame_duck,
            **options,
        )
    except (OSError, TimeoutError, nats.errors.Error) as exc:
        link.closed = True  # so closing what is left logs no "connection lost"
        with contextlib.suppress(Exception):
            await link.nc.close()
        reason = link.refused or link.last_error or f"{type(exc).__name__}: {exc}"
        if link.refused or isinstance(exc, ssl.SSLError):
            raise MessagingError(
                f"NATS at {', '.join(link.servers)} refused this connection ({reason}): "
                "check the credentials and TLS settings"
            ) from None
        raise ConnectionLostError(link.servers, reason) from None
    link.nc.options["max_reconnect_attempts"] = max_reconnect_attempts
    link.js = link.nc.jetstream(timeout=request_timeout)
    log.info("connected to NATS", extra={"server": link.server})
    return link


def redact(url: str) -> str:
    """``url`` without the user, password or token it may carry, for messages and logs."""
    return re.sub(r"//[^/@]*@", "//***@", url)


def parse_time(text: str) -> datetime | None:
    """Parse a JetStream RFC 3339 timestamp (nanoseconds allowed); ``None`` for the zero time."""
    if text.startswith("0001-01-01"):
        return None
    stamp, _, fraction = text.rstrip("Z").partition(".")
    micros = fraction[:6].ljust(6, "0")
    return datetime.fromisoformat(f"{stamp}.{micros}").replace(tzinfo=UTC)


def stored_from(msg: Msg) -> StoredMessage:
    """The StoredMessage of a message a pull consumer delivered."""
    meta = msg.metadata
    return StoredMessage(
        subject=msg.subject,
        data=msg.data,
        headers=msg.headers,
        seq=meta.sequence.stream,
        time=meta.timestamp.astimezone(UTC),
        delivered=meta.num_delivered,
    )
