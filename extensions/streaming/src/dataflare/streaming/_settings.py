"""The ``streaming:`` config section: how the stream processor runs pipelines.

Every field has a default, so a pipeline file needs no ``streaming:`` section::

    streaming:
      max_concurrent_streams: 4     # pipelines one processor runs at once
      buffer_size: 16               # batches a stage may queue before the source slows
      batch_size: 8192              # records per batch, at most
      linger_ms: 2.0                # a partial batch flushes after this wait
      processing_timeout: 30.0      # seconds one batch may take through the operators
      backpressure_threshold: 0.8   # buffer fill (0..1) at which the source is throttled
      checkpoint_interval: 10.0     # seconds between checkpoints; 0 turns them off
      state_backend: file           # file (embedded) or jetstream (a KV bucket)
      state_dir: .dataflare/state   # the embedded state backend's directory
      state_servers: [nats://127.0.0.1:4222]   # jetstream only
      state_bucket: dataflare-state            # jetstream only
      backpressure:
        strategy: adaptive          # linear, exponential or adaptive
        max_delay: 0.5              # longest single throttle, seconds
        target_latency: 0.01        # adaptive: the batch latency to hold, seconds
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any, Literal

import attrs

__all__ = ("BackpressureSettings", "BackpressureStrategy", "StreamingSettings")


def _positive(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be greater than 0, got {value}")


def _not_negative(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be 0 or more, got {value}")


def _fraction(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not 0 < value <= 1:
        raise ValueError(f"{attribute.name} must be in (0, 1], got {value}")


class BackpressureStrategy(enum.StrEnum):
    """How the source is slowed when the buffers fill up."""

    LINEAR = "linear"
    """Delay grows in proportion to how far the fill is above the threshold."""
    EXPONENTIAL = "exponential"
    """Delay doubles for every consecutive batch over the threshold."""
    ADAPTIVE = "adaptive"
    """Delay follows the gap between measured batch latency and the target."""


@attrs.frozen
class BackpressureSettings:
    """How the backpressure controller throttles a source (``streaming.backpressure``)."""

    strategy: BackpressureStrategy = BackpressureStrategy.ADAPTIVE
    """linear, exponential or adaptive."""
    base_delay: float = attrs.field(default=0.001, validator=_positive)
    """The first throttle step, seconds."""
    max_delay: float = attrs.field(default=0.5, validator=_positive)
    """The longest single throttle, seconds."""
    target_latency: float = attrs.field(default=0.01, validator=_positive)
    """adaptive: the batch processing latency to hold, seconds."""


@attrs.frozen
class StreamingSettings:
    """The stream processor's settings (the ``streaming:`` section)."""

    max_concurrent_streams: int = attrs.field(default=4, validator=_positive)
    """Pipelines one processor runs at once; more wait for a slot."""
    buffer_size: int = attrs.field(default=16, validator=_positive)
    """Batches queued between the source and the operators (bounded)."""
    batch_size: int = attrs.field(default=8192, validator=_positive)
    """Records per batch, at most."""
    linger_ms: float = attrs.field(default=2.0, validator=_not_negative)
    """A partial batch is flushed after this wait, so light traffic stays fast."""
    processing_timeout: float = attrs.field(default=30.0, validator=_positive)
    """Seconds one batch may take through the operators and sinks."""
    backpressure_threshold: float = attrs.field(default=0.8, validator=_fraction)
    """Buffer fill (0 to 1) at which the source starts being throttled."""
    checkpoint_interval: float = attrs.field(default=10.0, validator=_not_negative)
    """Seconds between checkpoints; 0 turns checkpoints off."""
    state_backend: Literal["file", "jetstream"] = "file"
    """Where checkpoints go: ``file`` (embedded, in ``state_dir``) or a ``jetstream`` KV bucket."""
    state_dir: str = ".dataflare/state"
    """Where the embedded state backend keeps checkpoints."""
    state_servers: tuple[str, ...] = ("nats://127.0.0.1:4222",)
    """jetstream: the NATS servers."""
    state_bucket: str = "dataflare-state"
    """jetstream: the KV bucket."""
    backpressure: BackpressureSettings = attrs.field(factory=BackpressureSettings)
    """The backpressure controller."""

    def state_path(self) -> Path:
        """The state directory as a path."""
        return Path(self.state_dir)
