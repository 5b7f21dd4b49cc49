"""The hooks the observability extension adds for other extensions to implement.

Published through ``dataflare_add_hookspecs`` when the extension is installed.
An extension implementing them needs no import from here: the hook is called
by name, with the arguments below.

Example::

    from dataflare.kernel import hookimpl

    class Streaming:
        probe = None

        @hookimpl
        def dataflare_telemetry(self, telemetry):
            self.probe = telemetry.component("enrich", "operator")
"""

from __future__ import annotations

from typing import Any

from dataflare.kernel.hookspecs import hookspec

__all__ = ("dataflare_telemetry",)


@hookspec
def dataflare_telemetry(telemetry: Any) -> None:
    """Receive the telemetry object components report to.

    Called once, while the kernel is configured (after every extension's
    ``dataflare_configure`` and before ``dataflare_startup``), so handlers
    registered in ``dataflare_event_handlers`` can already be wrapped with
    ``telemetry.handler``. The object has the methods of
    :class:`dataflare.observability.Telemetry`: ``component(name, kind)``
    returning a probe, ``handler(name, fn)`` and ``inject(carrier)``.

    Args:
        telemetry: The telemetry to ask for probes.
    """
