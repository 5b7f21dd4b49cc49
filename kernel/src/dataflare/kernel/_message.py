"""The message: what the event bus hands to each subscriber.

The bus neither copies nor serialises the payload: every subscriber of one publish
receives the same :class:`Message` object, holding the very payload object the
publisher passed (a record batch, an event, bytes...). Treat payloads as read-only.

Example::

    async with bus.subscribe("orders.>") as subscription:
        async for message in subscription:
            print(message.subject, message.headers.get("trace-id"), message.payload)
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

__all__ = ("Message",)

_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


def _freeze_headers(headers: Mapping[str, str] | None) -> Mapping[str, str]:
    """Copy headers into a read-only mapping, since every subscriber shares the message."""
    if headers is None or headers is _NO_HEADERS:
        return _NO_HEADERS
    return MappingProxyType(dict(headers))


@attrs.frozen
class Message:
    """One message published on the bus.

    Example::

        Message("orders.created", {"id": 7}, headers={"trace-id": "4bf9"})
    """

    subject: str
    """The concrete subject it was published to (never a pattern)."""

    payload: Any
    """What the publisher sent, passed by reference: the bus never copies it."""

    headers: Mapping[str, str] = attrs.field(default=None, converter=_freeze_headers)
    """Metadata such as a trace id; a read-only copy of what the publisher gave."""

    reply_to: str | None = None
    """The subject to send a reply to, set by :meth:`EventBus.request`; else ``None``."""
