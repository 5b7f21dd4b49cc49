"""Reporting to the observability extension, when it is installed, through its hook only.

The observability extension hands a telemetry object to every extension that
implements ``dataflare_telemetry`` (an optional hook: nothing breaks without it).
The runner asks it for one probe per component, source, operators and sinks, and
reports per batch: records and bytes in and out, records filtered out (on
purpose) or dead-lettered (not), processing time and trace context, backpressure
and WASM fuel. Without the extension every probe is the no-op below, so the hot
path makes a handful of empty calls per batch and never checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol

import attrs

from dataflare.streaming._operator import Operator

__all__ = ("NO_PROBE", "PipelineProbes", "Probe")


class Probe(Protocol):
    """What a component reports (the method names of observability's ``ComponentProbe``)."""

    def received(self, records: int, nbytes: int = 0) -> None: ...
    def sent(self, records: int, nbytes: int = 0) -> None: ...
    def discarded(self, records: int, reason: str, *, intentional: bool) -> None: ...
    def backpressure(self, ratio: float) -> None: ...
    def batch(self, metadata: Mapping[str, str] | None = None) -> AbstractContextManager[Any]: ...
    def plugin_result(self, plugin: str, result: Any) -> None: ...


class _NoProbe:
    def received(self, records: int, nbytes: int = 0) -> None:
        pass

    def sent(self, records: int, nbytes: int = 0) -> None:
        pass

    def discarded(self, records: int, reason: str, *, intentional: bool) -> None:
        pass

    def backpressure(self, ratio: float) -> None:
        pass

    def batch(self, metadata: Mapping[str, str] | None = None) -> AbstractContextManager[Any]:
        return nullcontext()

    def plugin_result(self, plugin: str, result: Any) -> None:
        pass


NO_PROBE: Probe = _NoProbe()


@attrs.frozen
class PipelineProbes:
    """One probe per component of a pipeline."""

    source: Probe = NO_PROBE
    operators: tuple[Probe, ...] = ()
    sinks: tuple[Probe, ...] = ()

    @classmethod
    def build(
        cls, telemetry: Any, pipeline: str, operators: tuple[Operator, ...], sinks: int
    ) -> PipelineProbes:
        """Ask ``telemetry`` for the probes, named ``<pipeline>.<component>``; no-ops if None."""
        if telemetry is None:
            return cls(NO_PROBE, (NO_PROBE,) * len(operators), (NO_PROBE,) * sinks)
        return cls(
            telemetry.component(f"{pipeline}.source", "source"),
            tuple(
                telemetry.component(f"{pipeline}.{i}.{op.name}", "operator")
                for i, op in enumerate(operators)
            ),
            tuple(telemetry.component(f"{pipeline}.sink.{i}", "sink") for i in range(sinks)),
        )
