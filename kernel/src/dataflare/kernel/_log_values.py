"""The values the message log takes and returns: stream and consumer settings, acks, messages.

Frozen records shared by every message log, so code written against :class:`MemoryLog`
moves to :class:`NatsLog` unchanged. Settings are checked when built: a bad one fails
where it is written, not at the server.

Example::

    orders = StreamConfig("ORDERS", ["orders.>"], replicas=3, duplicate_window=600)
    workers = ConsumerConfig("workers", ack_wait=30, max_deliver=5, backoff=(1, 5, 30, 120))
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Literal

import attrs

from dataflare.kernel._subjects import validate_pattern, validate_subject
from dataflare.kernel._uuid7 import uuid7
from dataflare.kernel.errors import MessagingValueError

__all__ = (
    "EXPECTED_SUBJECT_HEADER",
    "EXPECTED_SUBJECT_SEQ_HEADER",
    "MSG_ID_HEADER",
    "ConsumerConfig",
    "DeliverPolicy",
    "KeyValueEntry",
    "ObjectInfo",
    "OutgoingMessage",
    "PubAck",
    "StorageType",
    "StoredMessage",
    "StreamConfig",
    "StreamState",
    "check_bucket",
    "check_key",
    "check_read",
    "stamp_msg_id",
)

MSG_ID_HEADER = "Nats-Msg-Id"
# JetStream's own compare-and-set: "0" stores only if the subject (or the subjects
# matching the pattern in the second header) holds no message.
EXPECTED_SUBJECT_SEQ_HEADER = "Nats-Expected-Last-Subject-Sequence"
EXPECTED_SUBJECT_HEADER = "Nats-Expected-Last-Subject-Sequence-Subject"
StorageType = Literal["file", "memory"]
DeliverPolicy = Literal["all", "new", "by_start_sequence", "by_start_time"]

# NATS's own rules (nats-server names, nats-py's bucket and key checks), so a name
# that works on MemoryLog also works on a server.
_NAME = re.compile(r"[^\s.*>/\\]+")
_BUCKET = re.compile(r"[a-zA-Z0-9_-]+")
_KEY = re.compile(r"[-/_=.a-zA-Z0-9]+")
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


def _name(setting: str, value: str) -> None:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise MessagingValueError(
            setting, value, "use letters, digits, '-' and '_' (no spaces, '.', '*', '>' or '/')"
        )


def check_bucket(bucket: str) -> str:
    """Return ``bucket`` if it can name a KV or object store bucket.

    Raises:
        MessagingValueError: It holds characters other than letters, digits, ``-``, ``_``.
    """
    if not isinstance(bucket, str) or not _BUCKET.fullmatch(bucket):
        raise MessagingValueError("bucket", bucket, "use letters, digits, '-' and '_'")
    return bucket


def check_key(key: str) -> str:
    """Return ``key`` if it can be a KV key.

    Raises:
        MessagingValueError: It holds other than letters, digits and ``-/_=.``, or has
            a dot at either end.
    """
    if not isinstance(key, str) or not _KEY.fullmatch(key) or key[0] == "." or key[-1] == ".":
        raise MessagingValueError(
            "key", key, "use letters, digits and '-/_=.', not starting or ending with '.'"
        )
    return key


def check_read(start_seq: int | None, start_time: datetime | None, batch: int) -> None:
    """Check the arguments of :meth:`MessageLog.read`.

    Raises:
        MessagingValueError: ``batch`` < 1, ``start_seq`` < 1, both starts, or a naive time.
    """
    if not isinstance(batch, int) or batch < 1:
        raise MessagingValueError("read(batch)", batch, "use 1 or more")
    if start_seq is not None and start_time is not None:
        raise MessagingValueError(
            "read(start_seq, start_time)", (start_seq, start_time), "give one start, not both"
        )
    if start_seq is not None and (not isinstance(start_seq, int) or start_seq < 1):
        raise MessagingValueError("read(start_seq)", start_seq, "sequences start at 1")
    if start_time is not None and start_time.tzinfo is None:
        raise MessagingValueError(
            "read(start_time)", start_time, "give a timezone-aware time, e.g. datetime.now(UTC)"
        )


def _positive(setting: str, value: float | None, *, optional: bool = False) -> None:
    valid = isinstance(value, int | float) and 0 < value < math.inf
    if not valid and not (optional and value is None):
        raise MessagingValueError(setting, value, "a number of seconds > 0 is expected")


def _frozen(headers: Mapping[str, str] | None) -> Mapping[str, str]:
    return MappingProxyType(dict(headers)) if headers else _NO_HEADERS


def _strings(values: Iterable[str]) -> tuple[str, ...]:
    return (values,) if isinstance(values, str) else tuple(values)  # "a.>" is one subject


def _seconds(values: Iterable[float]) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


def stamp_msg_id(
    headers: Mapping[str, str] | None, msg_id: str | None, *, only_if_empty: str | None = None
) -> tuple[dict[str, str], str, bool]:
    """Give a message its ``Nats-Msg-Id``: ``msg_id``, else one in ``headers``, else a new one.

    A generated id still makes a retried publish safe: the server drops the copy.

    Returns:
        The headers to send, the id, and whether the caller chose it.
    """
    sent = dict(headers or {})
    chosen = msg_id or sent.get(MSG_ID_HEADER)
    sent[MSG_ID_HEADER] = chosen or uuid7()
    if only_if_empty is not None:
        validate_pattern(only_if_empty)
        sent[EXPECTED_SUBJECT_SEQ_HEADER] = "0"
        sent[EXPECTED_SUBJECT_HEADER] = only_if_empty
    return sent, sent[MSG_ID_HEADER], chosen is not None


@attrs.frozen
class StreamConfig:
    """What a stream keeps: its name, the subjects it captures, and for how long."""

    name: str
    """The stream's name, e.g. ``"ORDERS"`` (no spaces, dots or wildcards)."""

    subjects: tuple[str, ...] = attrs.field(converter=_strings)
    """The subjects or patterns it captures, e.g. ``("orders.>",)``; one at least."""

    replicas: int = 1
    """Copies kept on separate servers: 1, or 3 (or 5) in a cluster to survive a node."""

    max_age: float | None = None
    """Seconds a message is kept; ``None`` keeps it until removed otherwise."""

    duplicate_window: float = 120.0
    """Seconds a ``Nats-Msg-Id`` is remembered to drop a re-published copy (capped at
    ``max_age``); make it longer than any publisher's retry horizon."""

    storage: StorageType = "file"
    """``"file"`` survives a server restart; ``"memory"`` is faster and does not."""

    def __attrs_post_init__(self) -> None:
        _name("StreamConfig.name", self.name)
        if not self.subjects:
            raise MessagingValueError("StreamConfig.subjects", self.subjects, "name one at least")
        for subject in self.subjects:
            validate_pattern(subject)
        if self.replicas not in range(1, 6):
            raise MessagingValueError("StreamConfig.replicas", self.replicas, "use 1 to 5")
        _positive("StreamConfig.max_age", self.max_age, optional=True)
        _positive("StreamConfig.duplicate_window", self.duplicate_window)
        if self.duplicate_window < 0.1:  # the server's floor, so MemoryLog refuses it too
            raise MessagingValueError(
                "StreamConfig.duplicate_window", self.duplicate_window, "use 0.1 s or more"
            )
        if self.storage not in ("file", "memory"):
            raise MessagingValueError("StreamConfig.storage", self.storage, "'file' or 'memory'")

    @property
    def effective_duplicate_window(self) -> float:
        """``duplicate_window`` capped at ``max_age``, as the server applies it."""
        return min(self.duplicate_window, self.max_age or math.inf)


@attrs.frozen
class PubAck:
    """The server's receipt for a stored message."""

    stream: str
    """The stream that stored it."""

    seq: int
    """Its sequence number in that stream (from 1, never reused)."""

    duplicate: bool
    """``True`` when its msg id was seen inside the window: the earlier copy is kept and
    ``seq`` is that copy's sequence."""


@attrs.frozen
class StreamState:
    """A stream's extent, as its leader sees it."""

    first_seq: int
    """The oldest sequence still stored (``last_seq + 1`` once all aged out; 0 if never used)."""

    last_seq: int
    """The newest sequence ever stored: a replay is complete once it has read this far."""

    messages: int
    """How many messages are stored now."""

    first_time: datetime | None
    """When the oldest stored message was stored (UTC); ``None`` when the stream is empty."""

    last_time: datetime | None
    """When the newest message was stored (UTC); ``None`` before the first one."""


@attrs.frozen
class StoredMessage:
    """A message as the stream keeps it."""

    subject: str
    """The subject it was published to."""

    data: bytes
    """Its payload."""

    headers: Mapping[str, str] = attrs.field(converter=_frozen)
    """Its headers, read-only; ``Nats-Msg-Id`` is always among them."""

    seq: int
    """Its sequence number in the stream."""

    time: datetime
    """When the stream stored it (UTC)."""

    delivered: int = 0
    """How many times a consumer has handed it out, this time included (0 from ``get``)."""

    @property
    def msg_id(self) -> str | None:
        """Its ``Nats-Msg-Id`` header."""
        return self.headers.get(MSG_ID_HEADER)


@attrs.frozen
class OutgoingMessage:
    """One item of :meth:`MessageLog.publish_batch`."""

    subject: str = attrs.field(validator=lambda _i, _a, value: validate_subject(value))
    """The concrete subject to publish to."""

    data: bytes
    """The payload."""

    headers: Mapping[str, str] = attrs.field(default=None, converter=_frozen)
    """Headers to send along, such as ``traceparent``."""

    msg_id: str | None = None
    """The de-duplication id; a fresh one is made when ``None``."""

    only_if_empty: str | None = None
    """Store it only if no message matches this pattern (see :meth:`MessageLog.publish`)."""


@attrs.frozen
class ConsumerConfig:
    """How a pull consumer hands messages out and when it hands them out again."""

    durable: str | None = None
    """A name shared by every worker that binds to it, kept by the server across restarts;
    ``None`` makes a private consumer that lives as long as its handle."""

    filter_subject: str | None = None
    """Only messages on subjects matching this pattern; ``None`` for all of the stream."""

    ack_wait: float = 30.0
    """Seconds a handed-out message waits for ``ack`` before it is handed out again."""

    max_deliver: int | None = None
    """Times a message is handed out at most; ``None`` for no limit."""

    backoff: tuple[float, ...] = attrs.field(default=(), converter=_seconds)
    """Waits before each redelivery in seconds (the last repeats); replaces ``ack_wait``.
    Needs ``max_deliver`` greater than its length."""

    deliver_policy: DeliverPolicy = "all"
    """Where a new consumer starts: ``all``, ``new`` (after the last stored message),
    ``by_start_sequence`` (``start_seq``) or ``by_start_time`` (``start_time``)."""

    start_seq: int | None = None
    """The first sequence for ``by_start_sequence``."""

    start_time: datetime | None = None
    """The earliest store time for ``by_start_time`` (timezone-aware)."""

    max_ack_pending: int = 1000
    """Messages handed out and not yet settled, at most: back-pressure for a worker pool."""

    def __attrs_post_init__(self) -> None:
        if self.durable is not None:
            _name("ConsumerConfig.durable", self.durable)
        if self.filter_subject is not None:
            validate_pattern(self.filter_subject)
        _positive("ConsumerConfig.ack_wait", self.ack_wait)
        for wait in self.backoff:
            _positive("ConsumerConfig.backoff", wait)
        self._check_counts()
        self._check_start()

    def _check_counts(self) -> None:
        if self.max_deliver is not None and self.max_deliver < 1:
            raise MessagingValueError("ConsumerConfig.max_deliver", self.max_deliver, "use >= 1")
        if self.backoff and (self.max_deliver or 0) <= len(self.backoff):
            raise MessagingValueError(
                "ConsumerConfig.max_deliver",
                self.max_deliver,
                f"backoff has {len(self.backoff)} waits, so max_deliver must be more than that",
            )
        if self.max_ack_pending < 1:
            raise MessagingValueError(
                "ConsumerConfig.max_ack_pending", self.max_ack_pending, "use >= 1"
            )

    def _check_start(self) -> None:
        policy = self.deliver_policy
        if policy not in ("all", "new", "by_start_sequence", "by_start_time"):
            raise MessagingValueError(
                "ConsumerConfig.deliver_policy",
                policy,
                "use 'all', 'new', 'by_start_sequence' or 'by_start_time'",
            )
        seq, time = self.start_seq, self.start_time
        by_seq, by_time = policy == "by_start_sequence", policy == "by_start_time"
        if not (seq is not None and seq >= 1 if by_seq else seq is None):
            raise MessagingValueError(
                "ConsumerConfig.start_seq", seq, "give one >= 1 exactly with by_start_sequence"
            )
        if not (time is not None and time.tzinfo is not None if by_time else time is None):
            raise MessagingValueError(
                "ConsumerConfig.start_time", time, "give an aware one exactly with by_start_time"
            )


@attrs.frozen
class KeyValueEntry:
    """The current value of a key in a KV bucket."""

    key: str
    """The key."""

    value: bytes
    """Its value."""

    revision: int
    """The bucket-wide revision of this write; pass it to ``update`` to compare-and-set."""


@attrs.frozen
class ObjectInfo:
    """What an object store holds under one name."""

    name: str
    """The object's name."""

    size: int
    """Its size in bytes."""

    digest: str
    """``SHA-256=`` and the URL-safe base64 of its SHA-256, as NATS writes it."""
