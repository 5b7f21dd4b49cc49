"""The hook the events extension adds: handlers for its event processors.

Published to the kernel with ``dataflare_add_hookspecs``, so any extension (or an
application's in-process plugin) can give handlers to the processors the events
extension builds, including ``dataflare events process`` and ``dataflare events dlq
retry``, without importing this extension.

Example::

    from dataflare.events import EventHandler
    from dataflare.kernel import hookimpl

    class Billing:
        @hookimpl
        def dataflare_events_handlers(self, register):
            register(EventHandler("order.created", charge, name="charge", consumer="billing"))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import attrs
import pluggy

from dataflare.events._processor import Handler
from dataflare.kernel.hookspecs import PROJECT_NAME

__all__ = ("EventHandler", "dataflare_events_handlers")

hookspec = pluggy.HookspecMarker(PROJECT_NAME)


@attrs.frozen
class EventHandler:
    """A handler for the processor of one consumer."""

    pattern: str
    """The event types it handles: ``order.created``, ``order.*``, ``>``."""
    handler: Handler
    """An async callable taking the event; raising means "try again later"."""
    name: str | None = None
    """Its name in dead letters and for ``dlq retry``; its qualified name by default."""
    consumer: str = "default"
    """The processor (consumer name) it belongs to."""
    metadata: Mapping[str, str] | None = None
    """Only events whose metadata holds these values."""


@hookspec
def dataflare_events_handlers(register: Callable[[EventHandler], None]) -> None:
    """Give handlers to the events extension's processors.

    Called when a processor is built (``extension.processor(name)``, ``dataflare
    events process``, ``dataflare events dlq retry``); handlers whose ``consumer``
    is the processor's name are attached to it.

    Args:
        register: Takes one :class:`EventHandler`.
    """
