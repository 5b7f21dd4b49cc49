"""The instrumentation contract: what a component reports, and the no-op default.

A component (a source, an operator, a sink, an event handler) gets a
:class:`Telemetry` through the ``dataflare_telemetry`` hook and asks it for one
:class:`ComponentProbe` per component. The classes here record nothing: they
are what a component uses when the observability extension is not installed,
so its code never checks. The extension hands over a subclass that counts,
times and traces.

Components need not import this module: the contract is the method names,
so a component may keep its own three-line no-op instead.

Example::

    probe = telemetry.component("enrich", "operator")
    probe.received(len(batch), batch.nbytes)
    with probe.batch(batch.metadata) as scope:
        out = enrich(batch).with_metadata(scope.metadata(batch.metadata))
    probe.sent(len(out), out.nbytes)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any

__all__ = ("BatchScope", "ComponentProbe", "Telemetry")

Handler = Callable[[Any], Awaitable[None]]


class BatchScope:
    """The processing of one batch: timed, traced, and its failure counted."""

    def __enter__(self) -> BatchScope:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def metadata(self, metadata: Mapping[str, str] | None = None) -> dict[str, str]:
        """``metadata`` plus this batch's trace context, for the batch passed on."""
        return dict(metadata or {})


class ComponentProbe:
    """What one component reports. This base records nothing."""

    def received(self, records: int, nbytes: int = 0) -> None:
        """Records (and their bytes) the component took in."""

    def sent(self, records: int, nbytes: int = 0) -> None:
        """Records (and their bytes) the component passed on."""

    def discarded(self, records: int, reason: str, *, intentional: bool) -> None:
        """Records dropped: ``intentional`` for a filter, not for a loss."""

    def error(self, error_type: str, stage: str) -> None:
        """An error, by type (``"TimeoutError"``) and stage (``"connect"``, ``"process"``)."""

    def backpressure(self, ratio: float) -> None:
        """How full the component's input buffer is, 0 to 1."""

    def batch(self, metadata: Mapping[str, str] | None = None) -> BatchScope:
        """Time and trace one batch; ``metadata`` is the incoming batch's (its trace).

        An exception leaving the block is counted as an error of stage ``process``.
        """
        return BatchScope()

    def plugin_result(self, plugin: str, result: Any) -> None:
        """Report a WASM plugin call: ``result`` is its ``BatchResult`` (fuel, time)."""


class Telemetry:
    """Hands out probes. This base hands out probes that record nothing."""

    def component(self, name: str, kind: str) -> ComponentProbe:
        """The probe for component ``name`` of ``kind`` (source, operator, sink...)."""
        return ComponentProbe()

    def handler(self, name: str, handler: Handler) -> Handler:
        """Wrap an event handler so each message is counted, timed and traced."""
        return handler

    def inject(self, carrier: dict[str, str]) -> dict[str, str]:
        """Add the current trace context to ``carrier`` (NATS headers, metadata)."""
        return carrier
