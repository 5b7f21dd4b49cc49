"""NatsLog's stateless read: a throwaway consumer that acknowledges nothing.

Replay and inspection must not leave durable state behind or pay for an ack per
message, so a read makes an ephemeral consumer with ``AckPolicy.NONE`` on one
replica, in memory, pulls batches from it, and deletes it at the end. It stops at
the last sequence the stream's leader reported when the read began: a replica that
rejoined after a partition may lag, and an empty fetch is not the end of a stream.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import suppress
from datetime import datetime

import anyio
import nats.errors
import nats.js.errors
from nats.js import api
from nats.js.client import JetStreamContext

from dataflare.kernel._log_nats_link import NatsLink, stored_from
from dataflare.kernel._log_values import StoredMessage
from dataflare.kernel.errors import MessagingTimeoutError

__all__ = ("read_stream",)

_IDLE_SERVER_CLEANUP = 30.0  # the server removes the consumer if this process dies mid-read


async def read_stream(
    link: NatsLink,
    stream: str,
    last_seq: int,
    *,
    start_seq: int | None,
    start_time: datetime | None,
    filter_subject: str | None,
    batch: int,
) -> AsyncGenerator[list[StoredMessage], None]:
    """Yield ``stream``'s messages from the start given up to ``last_seq``, in batches."""
    if start_seq is not None:
        policy, seq_start = api.DeliverPolicy.BY_START_SEQUENCE, start_seq
    else:
        policy = api.DeliverPolicy.BY_START_TIME if start_time else api.DeliverPolicy.ALL
        seq_start = None
    wanted = api.ConsumerConfig(
        deliver_policy=policy,
        opt_start_seq=seq_start,
        opt_start_time=start_time,
        ack_policy=api.AckPolicy.NONE,
        filter_subject=filter_subject,
        num_replicas=1,
        mem_storage=True,
        inactive_threshold=_IDLE_SERVER_CLEANUP,
    )
    what = f"read of stream {stream!r}"
    info = await link.call(what, lambda: link.js.add_consumer(stream, wanted), stream=stream)
    try:
        if info.num_pending:
            with link.translate(what, stream=stream):
                subscription = await link.js.pull_subscribe_bind(consumer=info.name, stream=stream)
            try:
                async for chunk in _pull(link, subscription, what, last_seq, batch):
                    yield chunk
            finally:
                with suppress(nats.errors.Error, ValueError):
                    await subscription.unsubscribe()
    finally:
        if not link.nc.is_closed:
            with suppress(nats.errors.Error, nats.js.errors.Error, TimeoutError):
                await link.js.delete_consumer(stream, info.name)


async def _pull(
    link: NatsLink,
    subscription: JetStreamContext.PullSubscription,
    what: str,
    last_seq: int,
    batch: int,
) -> AsyncGenerator[list[StoredMessage], None]:
    quiet_since = anyio.current_time()
    while True:  # bounded: each turn delivers messages, or the quiet time runs out
        link.check_open()
        with link.translate(what):
            try:
                msgs = await subscription.fetch(batch, timeout=min(1.0, link.request_timeout))
            except (TimeoutError, nats.js.errors.ServiceUnavailableError):
                msgs = []
        if not msgs:
            if anyio.current_time() - quiet_since > link.retry_budget:
                raise MessagingTimeoutError(
                    what, link.retry_budget, "the stream stopped delivering; is its leader up?"
                )
            continue
        quiet_since = anyio.current_time()
        chunk = [stored_from(msg) for msg in msgs]
        kept = [message for message in chunk if message.seq <= last_seq]
        if kept:
            yield kept
        if chunk[-1].seq >= last_seq or msgs[-1].metadata.num_pending == 0:
            return
