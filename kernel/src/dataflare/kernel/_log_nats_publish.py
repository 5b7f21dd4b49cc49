"""Publishing to JetStream that survives a leader election without storing anything twice.

Every message carries a ``Nats-Msg-Id`` through all of its retries, so a retry after a
lost ack is dropped by the server as a duplicate. Retries run on a time budget, not a
count: "no responders" fails instantly during an election, and an election takes 4-9 s.
Batches are pipelined (``publish_async``) up to ``max_in_flight`` unacknowledged
messages; stragglers fall back to the one-by-one path with the same id and budget.

Example::

    publisher = Publisher(link, max_in_flight=1000)
    acks = await publisher.publish_many([("orders.new", b"1", {"Nats-Msg-Id": "o-1"}, "o-1")])
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence

import anyio
import nats.errors
import nats.js.errors
from nats.js import api

from dataflare.kernel._log_nats_link import NatsLink
from dataflare.kernel._log_values import EXPECTED_SUBJECT_HEADER, PubAck
from dataflare.kernel.errors import ConnectionLostError, PublishError

__all__ = ("Prepared", "Publisher")

Prepared = tuple[str, bytes, dict[str, str], str]
"""A message ready to send: subject, data, headers (with its msg id), msg id."""

# The stream's answer when the subject's last sequence is not the expected one; its
# description, "wrong last sequence: 42", names the message already there.
_WRONG_LAST_SEQ = 10071
_LAST_SEQ = re.compile(r"wrong last sequence: (\d+)")

_RETRYABLE = (
    TimeoutError,
    nats.js.errors.ServiceUnavailableError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.StaleConnectionError,
)


class Publisher:
    """Publishes through one link with a retry budget and bounded pipelining.

    Args:
        link: The shared connection; its ``retry_budget`` bounds each message's retries.
        max_in_flight: Messages a batch has unacknowledged at once.
    """

    def __init__(self, link: NatsLink, *, max_in_flight: int) -> None:
        self._link = link
        self._max_in_flight = max_in_flight

    async def publish_one(self, message: Prepared, started: float) -> PubAck:
        """Publish until acked or the budget counted from ``started`` runs out.

        Raises:
            PublishError: Refused, no stream for the subject, or out of budget.
            ConnectionLostError: The connection gave up reconnecting.
        """
        link = self._link
        link.check_open()
        subject, data, headers, msg_id = message
        budget = link.retry_budget
        deadline, attempt, checked, cause = started + budget, 0, False, "no attempt made"
        while (left := deadline - anyio.current_time()) > 0:  # bounded by the budget
            try:
                timeout = min(link.request_timeout, left)
                ack = await link.js.publish(subject, data, timeout=timeout, headers=headers)
                return self._counted(PubAck(ack.stream, ack.seq, bool(ack.duplicate)))
            except nats.js.errors.NoStreamResponseError:
                cause = "no stream answered (a leader election, or no stream for the subject)"
                checked = checked or await self._require_stream(subject, msg_id)
            except _RETRYABLE as exc:
                cause = f"{type(exc).__name__}: {exc}"
            except nats.js.errors.APIError as exc:
                taken = await self._subject_taken(exc, subject, headers)
                if taken is not None:
                    return taken
                reason = f"refused by the stream: {exc.description} (error {exc.err_code})"
                raise PublishError(subject, msg_id, reason, outcome_unknown=False) from None
            except nats.errors.MaxPayloadError:
                reason = f"{len(data)} bytes exceed the server's max_payload: send less per message"
                raise PublishError(subject, msg_id, reason, outcome_unknown=False) from None
            except nats.errors.ConnectionClosedError:
                link.check_open()
                raise ConnectionLostError(link.servers, "reconnecting gave up") from None
            attempt += 1
            link.counts["publish_retries"] += 1
            pause = min(0.05 * 2**attempt, 1.0, deadline - anyio.current_time())
            await anyio.sleep(max(pause, 0.0))
        raise PublishError(
            subject,
            msg_id,
            f"no ack within the {budget:g}s retry budget (last: {cause}"
            f"{link.hint(prefix='; ')}); it may be stored: publishing it again with "
            "the same msg id is safe",
            outcome_unknown=True,
        )

    def _counted(self, ack: PubAck) -> PubAck:
        self._link.counts["duplicates" if ack.duplicate else "published"] += 1
        return ack

    async def _subject_taken(
        self, exc: nats.js.errors.APIError, subject: str, headers: dict[str, str]
    ) -> PubAck | None:
        """The duplicate receipt when an ``only_if_empty`` publish found a message there."""
        if EXPECTED_SUBJECT_HEADER not in headers or exc.err_code != _WRONG_LAST_SEQ:
            return None
        found = _LAST_SEQ.search(exc.description or "")
        if found is None:
            return None
        stream = await self._link.call(
            f"stream lookup for {subject!r}",
            lambda: self._link.js.find_stream_name_by_subject(subject),
        )
        return self._counted(PubAck(stream, int(found.group(1)), duplicate=True))

    async def _require_stream(self, subject: str, msg_id: str) -> bool:
        """Fail fast when no stream captures ``subject``; an election only delays."""
        try:
            await self._link.js.find_stream_name_by_subject(subject)
        except nats.js.errors.NotFoundError:
            reason = "no stream captures this subject: ensure_stream() one that does"
            raise PublishError(subject, msg_id, reason, outcome_unknown=False) from None
        except (TimeoutError, nats.errors.Error):
            pass  # the JetStream API is busy too: keep retrying within the budget
        return True

    async def publish_many(self, messages: Sequence[Prepared]) -> list[PubAck]:
        """Publish in windows of ``max_in_flight``; acks in message order."""
        acks: list[PubAck] = []
        for start in range(0, len(messages), self._max_in_flight):
            acks += await self._window(messages[start : start + self._max_in_flight])
        return acks

    async def _window(self, window: Sequence[Prepared]) -> list[PubAck]:
        link = self._link
        link.check_open()
        started = anyio.current_time()
        futures: list[asyncio.Future[api.PubAck] | None] = []
        for subject, data, headers, _ in window:
            try:  # sent in order on one connection, so the stream keeps message order
                futures.append(await link.js.publish_async(subject, data, headers=headers))
            except (nats.errors.Error, OSError):
                futures.append(None)  # retried below, with its msg id
        waiting = [future for future in futures if future is not None]
        if waiting:
            await asyncio.wait(waiting, timeout=min(link.request_timeout, link.retry_budget))
        settled = [_settled_ack(future) for future in futures]  # all, before any retry raises
        acks: list[PubAck] = []
        for message, ack in zip(window, settled, strict=True):
            # Lost, refused or late: one by one, same msg id, within the same budget.
            acks.append(self._counted(ack) if ack else await self.publish_one(message, started))
        return acks


def _settled_ack(future: asyncio.Future[api.PubAck] | None) -> PubAck | None:
    """The ack in ``future``, or ``None`` if it failed or has not come (then cancel it)."""
    if future is None or future.cancelled():
        return None
    if not future.done():
        future.cancel()  # its late answer is dropped; nats-py frees its slot
        return None
    if future.exception() is not None:  # retrieved, so asyncio does not log it
        return None
    ack = future.result()
    return PubAck(ack.stream, ack.seq, bool(ack.duplicate))
