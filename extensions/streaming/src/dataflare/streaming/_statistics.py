"""Typed figures of a running or finished pipeline, updated as it runs."""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ("PipelineStatistics",)


@attrs.define
class PipelineStatistics:
    """What one pipeline has done so far; read it while it runs or after."""

    pipeline: str
    """The pipeline's name."""
    records_in: int = 0
    """Records the source produced (inputs it could not decode count as dead letters)."""
    records_out: int = 0
    """Records delivered to the sinks (each sink counted once per record)."""
    batches: int = 0
    """Batches that went through the operators."""
    dead_letters: int = 0
    """Records sent to the dead-letter destination."""
    checkpoints: int = 0
    """Checkpoints saved by this run."""
    restored_from: int | None = None
    """The checkpoint number this run resumed from, if any."""
    buffered: int = 0
    """Batches waiting between source and operators right now."""
    backpressure_level: float = 0.0
    """Buffer fill last seen by the backpressure controller, 0 to 1."""
    throttled_seconds: float = 0.0
    """Total time the source was paused by backpressure."""
    latency_seconds: float = 0.0
    """Moving average of the time one batch takes through operators and sinks."""
    seconds: float = 0.0
    """Wall-clock time of the run."""

    @property
    def records_per_second(self) -> float:
        """Source throughput over the run."""
        return self.records_in / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain values, for ``--json`` output."""
        return {**attrs.asdict(self), "records_per_second": round(self.records_per_second, 1)}
