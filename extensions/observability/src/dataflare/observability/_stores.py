"""Event store figures, read from whichever installed extension keeps event stores.

The events extension exposes its open stores as ``extension.store`` and
``extension.dead_letters.store``, each with an async ``last_offset()``. Any
loaded extension with that shape is read at scrape time; nothing is imported
from it, so this costs nothing when no such extension is installed.

Example::

    samples = await event_store_samples(kernel.pm.list_name_plugin())
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable
from typing import Any

from dataflare.kernel import DataFlareError, MetricSample

__all__ = ("event_store_samples",)

log = logging.getLogger("dataflare.observability")

LAST_OFFSET = "dataflare_event_store_last_offset"


def _stores(plugin: Any) -> list[tuple[str, Callable[[], Any]]]:
    return [
        ("events", lambda: plugin.store),
        ("dead-letters", lambda: plugin.dead_letters.store),
    ]


async def event_store_samples(plugins: Iterable[tuple[str, Any]]) -> list[MetricSample]:
    """The last offset of every open event store the given extensions expose.

    Args:
        plugins: ``(name, extension object)`` pairs, as the plugin manager lists them.

    Returns:
        One ``dataflare_event_store_last_offset`` gauge per store, labelled with the
        extension and ``events`` or ``dead-letters``.
    """
    samples = []
    for name, plugin in plugins:
        for store_name, get in _stores(plugin):
            try:
                store = get()
            except (AttributeError, DataFlareError):
                continue  # not an event-store extension, or its store is closed
            last_offset = getattr(store, "last_offset", None)
            if not inspect.iscoroutinefunction(last_offset):
                continue
            try:
                offset = await last_offset()
            except Exception as exc:  # noqa: BLE001 -- another extension's store
                log.warning("event store of %s unreadable: %s", name, exc)
                continue
            samples.append(
                MetricSample(
                    LAST_OFFSET,
                    float(offset or 0),
                    kind="gauge",
                    labels={"extension": name, "store": store_name},
                    help="Offset of the newest event in an event store (0: empty).",
                )
            )
    return samples
