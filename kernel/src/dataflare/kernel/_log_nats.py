"""NatsLog: the message log on NATS JetStream, through nats-py.

It reconnects on its own and logs connection events under ``dataflare.kernel.nats``.
A publish keeps its ``Nats-Msg-Id`` through every retry within a time budget (20 s,
longer than a leader election), so a retry after a lost ack is dropped by the server
as a duplicate; :meth:`~NatsLog.publish_batch` pipelines up to ``max_in_flight``
messages. :meth:`~NatsLog.aclose` unsubscribes pull consumers, then drains within a
bound. nats-py runs on asyncio only, so use anyio's asyncio backend.

Example::

    async with NatsLog(["nats://127.0.0.1:4222"]) as log:
        await log.ensure_stream(StreamConfig("ORDERS", ["orders.>"], replicas=3))
        ack = await log.publish("orders.new", b"order-1", msg_id="order-1")
"""

from __future__ import annotations

try:
    import nats
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the environment
    raise ModuleNotFoundError(
        f"NatsLog needs nats-py ({exc}): pip install 'dataflare-kernel[nats]'", name="nats"
    ) from exc

import json
import logging
import ssl
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import aclosing
from datetime import datetime
from typing import Any, Self

import anyio
import nats.errors
import nats.js.errors
from nats.js import api
from nats.js.kv import KeyValue
from nats.js.object_store import ObjectStore as RawObjectStore

from dataflare.kernel._log_api import KeyValueStore, MessageLog, ObjectStore, PullConsumer
from dataflare.kernel._log_nats_link import (
    MESSAGE_NOT_FOUND,
    STREAM_NOT_FOUND,
    NatsLink,
    connect_link,
    parse_time,
    redact,
)
from dataflare.kernel._log_nats_parts import NatsConsumer, NatsKeyValue, NatsObjectStore
from dataflare.kernel._log_nats_publish import Publisher
from dataflare.kernel._log_nats_read import read_stream
from dataflare.kernel._log_values import (
    ConsumerConfig,
    OutgoingMessage,
    PubAck,
    StoredMessage,
    StreamConfig,
    StreamState,
    check_bucket,
    check_read,
    stamp_msg_id,
)
from dataflare.kernel._metrics import MetricSample
from dataflare.kernel._subjects import validate_pattern, validate_subject
from dataflare.kernel.errors import (
    LogClosedError,
    MessagingError,
    MessagingValueError,
    StreamNotFoundError,
)

__all__ = ("NatsLog",)

log = logging.getLogger("dataflare.kernel.nats")

_HELP = {
    "published": "Messages a stream stored and acknowledged.",
    "publish_retries": "Publish attempts repeated (same msg id) after no ack or no leader.",
    "duplicates": "Publishes the stream dropped as already stored (msg id or subject).",
    "errors": "Errors the connection reported.",
    "disconnects": "Times the connection was lost.",
    "reconnects": "Times it reconnected.",
}

_NAME_IN_USE = 10058  # a stream (or bucket) of that name exists with other settings


class NatsLog(MessageLog):
    """The message log on JetStream; connect with ``async with`` or :meth:`connect`.

    Args:
        servers: One URL or several (a cluster); the client fails over between them.
        name: The connection's name in server monitoring.
        tls: A TLS context for ``tls://`` servers (and a client certificate for mTLS).
        connect_timeout: Seconds one connection attempt may take.
        request_timeout: Seconds a JetStream request waits for its answer.
        retry_budget: Seconds a publish (with the same msg id) or an idempotent request
            keeps retrying through an election or a reconnect.
        max_in_flight: Messages :meth:`publish_batch` has unacknowledged at once.
        reconnect_wait: Seconds between reconnect attempts to one server.
        max_reconnect_attempts: Attempts per server before the connection gives up
            (-1: never).

    Raises:
        MessagingValueError: A timeout is not > 0, or ``max_in_flight`` is below 1.
    """

    def __init__(
        self,
        servers: str | Sequence[str] = "nats://127.0.0.1:4222",
        *,
        name: str = "dataflare",
        tls: ssl.SSLContext | None = None,
        connect_timeout: float = 2.0,
        request_timeout: float = 5.0,
        retry_budget: float = 20.0,
        max_in_flight: int = 1000,
        reconnect_wait: float = 0.5,
        max_reconnect_attempts: int = 240,
    ) -> None:
        self._servers = [servers] if isinstance(servers, str) else list(servers)
        timeouts = {
            "connect_timeout": connect_timeout,
            "request_timeout": request_timeout,
            "retry_budget": retry_budget,
            "reconnect_wait": reconnect_wait,
        }
        for setting, value in timeouts.items():
            if not value > 0:
                raise MessagingValueError(setting, value, "a number of seconds > 0 is expected")
        if max_in_flight < 1:
            raise MessagingValueError("max_in_flight", max_in_flight, "use >= 1")
        self._connect_options: dict[str, Any] = {
            "name": name,
            "tls": tls,
            "connect_timeout": connect_timeout,
            "reconnect_time_wait": reconnect_wait,
            "drain_timeout": 5,
        }
        self._request_timeout = request_timeout
        self._retry_budget = retry_budget
        self._max_reconnect_attempts = max_reconnect_attempts
        self._max_in_flight = max_in_flight
        self._link: NatsLink | None = None
        self._publisher: Publisher | None = None
        self._consumers: set[NatsConsumer] = set()

    def __repr__(self) -> str:
        state = "not connected" if self._link is None else "closed" if self._link.closed else "open"
        return f"<NatsLog {state} {', '.join(map(redact, self._servers))}>"

    async def connect(self) -> None:
        """Connect to the first server that answers; does nothing if connected.

        Raises:
            ConnectionLostError: No server could be reached.
            MessagingError: A server refused the connection (credentials, TLS).
            LogClosedError: The log was closed.
        """
        if self._link is None:
            self._link = await connect_link(
                self._servers,
                request_timeout=self._request_timeout,
                retry_budget=self._retry_budget,
                max_reconnect_attempts=self._max_reconnect_attempts,
                **self._connect_options,
            )
            self._publisher = Publisher(self._link, max_in_flight=self._max_in_flight)
        self._link.check_open()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    def _open(self) -> tuple[NatsLink, Publisher]:
        if self._link is None or self._publisher is None:
            raise LogClosedError("NatsLog is not connected: use `async with NatsLog(...)`")
        self._link.check_open()
        return self._link, self._publisher

    async def ensure_stream(self, config: StreamConfig) -> None:
        link, _ = self._open()
        wanted = api.StreamConfig(
            name=config.name,
            subjects=list(config.subjects),
            num_replicas=config.replicas,
            max_age=config.max_age,
            duplicate_window=config.effective_duplicate_window,
            storage=api.StorageType(config.storage),
        )

        async def create() -> None:
            try:
                await link.js.add_stream(wanted)
            except nats.js.errors.BadRequestError as exc:
                if exc.err_code != _NAME_IN_USE:
                    raise
                await link.js.update_stream(wanted)

        await link.call(f"create stream {config.name!r}", create)

    async def stream_state(self, stream: str) -> StreamState:
        link, _ = self._open()
        # The raw answer, because nats-py's StreamState drops first_ts and last_ts.
        subject, timeout = f"$JS.API.STREAM.INFO.{stream}", link.request_timeout
        reply = await link.call(
            f"stream info for {stream!r}", lambda: link.nc.request(subject, b"", timeout=timeout)
        )
        answer = json.loads(reply.data)
        error = answer.get("error")
        if error is not None and error.get("err_code") == STREAM_NOT_FOUND:
            raise StreamNotFoundError(stream)
        if error is not None:
            raise MessagingError(f"JetStream refused stream info for {stream!r}: {error}")
        state = answer["state"]
        return StreamState(
            first_seq=state["first_seq"],
            last_seq=state["last_seq"],
            messages=state["messages"],
            first_time=parse_time(state["first_ts"]) if state["messages"] else None,
            last_time=parse_time(state["last_ts"]),
        )

    async def publish(
        self,
        subject: str,
        data: bytes,
        *,
        headers: Mapping[str, str] | None = None,
        msg_id: str | None = None,
        only_if_empty: str | None = None,
    ) -> PubAck:
        _, publisher = self._open()
        validate_subject(subject)
        sent, msg_id, _ = stamp_msg_id(headers, msg_id, only_if_empty=only_if_empty)
        return await publisher.publish_one((subject, data, sent, msg_id), anyio.current_time())

    async def publish_batch(self, items: Sequence[OutgoingMessage]) -> list[PubAck]:
        _, publisher = self._open()
        prepared = [
            (
                i.subject,
                i.data,
                *stamp_msg_id(i.headers, i.msg_id, only_if_empty=i.only_if_empty)[:2],
            )
            for i in items
        ]
        return await publisher.publish_many(prepared)

    async def get(self, stream: str, seq: int) -> StoredMessage | None:
        link, _ = self._open()
        if seq < 1:
            return None

        async def fetch() -> api.RawStreamMsg | None:
            try:
                return await link.js.get_msg(stream, seq)
            except nats.js.errors.NotFoundError as exc:
                if exc.err_code == MESSAGE_NOT_FOUND:
                    return None
                raise

        raw = await link.call(f"get of seq {seq} from {stream!r}", fetch, stream=stream)
        if raw is None:
            return None
        if raw.subject is None or raw.time is None:
            raise MessagingError(f"JetStream returned message {seq} of {stream!r} incomplete")
        return StoredMessage(raw.subject, raw.data or b"", raw.headers, seq, raw.time)

    async def read(
        self,
        stream: str,
        *,
        start_seq: int | None = None,
        start_time: datetime | None = None,
        filter_subject: str | None = None,
        batch: int = 512,
    ) -> AsyncGenerator[list[StoredMessage], None]:
        link, _ = self._open()
        check_read(start_seq, start_time, batch)
        if filter_subject is not None:
            validate_pattern(filter_subject)
        last_seq = (await self.stream_state(stream)).last_seq
        if last_seq == 0 or (start_seq or 0) > last_seq:
            return
        chunks = read_stream(
            link,
            stream,
            last_seq,
            start_seq=start_seq,
            start_time=start_time,
            filter_subject=filter_subject,
            batch=batch,
        )
        async with aclosing(chunks):
            async for chunk in chunks:
                yield chunk

    async def consumer(self, stream: str, config: ConsumerConfig) -> PullConsumer:
        link, _ = self._open()
        wanted = api.ConsumerConfig(
            name=config.durable,
            durable_name=config.durable,
            deliver_policy=api.DeliverPolicy(config.deliver_policy),
            opt_start_seq=config.start_seq,
            opt_start_time=config.start_time,
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=config.ack_wait,
            max_deliver=config.max_deliver or -1,
            backoff=list(config.backoff) or None,
            filter_subject=config.filter_subject,
            max_ack_pending=config.max_ack_pending,
            # The server forgets an unnamed consumer 5 s after its last fetch by default.
            inactive_threshold=None if config.durable else 300.0,
        )
        what = f"create consumer on {stream!r}"
        info = await link.call(what, lambda: link.js.add_consumer(stream, wanted), stream=stream)
        with link.translate(what, stream=stream):
            subscription = await link.js.pull_subscribe_bind(consumer=info.name, stream=stream)
        consumer = NatsConsumer(link, subscription, stream, self._consumers.discard)
        self._consumers.add(consumer)
        return consumer

    async def key_value(
        self, bucket: str, *, ttl: float | None = None, replicas: int = 1
    ) -> KeyValueStore:
        link, _ = self._open()
        check_bucket(bucket)

        async def open_kv() -> KeyValue:
            try:
                # No limit markers: nats-py 2.16's get/create misread them.
                return await link.js.create_key_value(bucket=bucket, ttl=ttl, replicas=replicas)
            except nats.js.errors.BadRequestError as exc:
                if exc.err_code != _NAME_IN_USE:
                    raise
                log.warning("KV bucket exists with other settings", extra={"bucket": bucket})
                return await link.js.key_value(bucket)

        return NatsKeyValue(link, await link.call(f"open of KV bucket {bucket!r}", open_kv), bucket)

    async def object_store(self, bucket: str, *, replicas: int = 1) -> ObjectStore:
        link, _ = self._open()
        check_bucket(bucket)

        async def open_store() -> RawObjectStore:
            try:
                return await link.js.create_object_store(bucket, replicas=replicas)
            except nats.js.errors.BadRequestError as exc:
                if exc.err_code != _NAME_IN_USE:
                    raise
                return await link.js.object_store(bucket)

        store = await link.call(f"open of object store {bucket!r}", open_store)
        return NatsObjectStore(link, store, bucket)

    def metrics(self) -> list[MetricSample]:
        """Counters of this connection, labelled with its ``name``, and whether it is up."""
        link = self._link
        if link is None:
            return []
        labels = {"client": str(self._connect_options["name"])}
        samples = [
            MetricSample(f"dataflare_nats_{what}_total", count, "counter", labels, _HELP[what])
            for what, count in link.counts.items()
        ]
        connected = 1.0 if link.nc.is_connected else 0.0
        samples.append(
            MetricSample(
                "dataflare_nats_connected", connected, "gauge", labels, "1 while connected"
            )
        )
        return samples

    async def aclose(self) -> None:
        link = self._link
        if link is None or link.closed:
            return
        link.closed = True
        for consumer in list(self._consumers):
            await consumer.close()  # before drain: a timed-out fetch makes drain hang
        nc = link.nc
        if nc.is_connected:
            try:
                with anyio.fail_after(10):
                    await nc.drain()
            except (TimeoutError, nats.errors.Error, OSError) as exc:
                log.warning("NATS drain did not finish; closing", extra={"error": repr(exc)})
        if not nc.is_closed:
            if not nc.is_connected:
                # nats-py's close() would flush what was buffered while reconnecting into
                # the dead socket and fail half-way; those publishes were never acked, and
                # a retry with the same msg id stays safe, so drop them.
                nc._pending, nc._pending_data_size = [], 0
            await nc.close()
