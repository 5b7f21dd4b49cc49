"""The backpressure controller: slows the source when the operators fall behind.

The source asks :meth:`BackpressureController.delay` before each read. The
controller looks at how full the buffer between source and operators is (its
*level*, 0 to 1) and, for the adaptive strategy, at how long batches take, and
answers with a pause:

* ``linear``: ``max_delay`` scaled by how far the level is above the threshold.
* ``exponential``: ``base_delay`` doubling with each consecutive read over the
  threshold, reset as soon as the level drops below it.
* ``adaptive``: holds batch latency at ``target_latency``: the pause grows by the
  relative excess of the measured latency (an exponential moving average) over
  the target, and shrinks when latency is under it, even below the threshold.

No pause is longer than the operators need to drain the queued batches (queued
batches times the measured latency): a longer one would only leave them idle.
The level, the pauses and the total time spent throttled are observable
(:attr:`~BackpressureController.level`, :attr:`~BackpressureController.throttled_seconds`).
"""

from __future__ import annotations

import attrs

from dataflare.streaming._settings import BackpressureSettings, BackpressureStrategy

__all__ = ("BackpressureController",)

_SMOOTHING = 0.2  # weight of the newest latency sample in the moving average


@attrs.define
class BackpressureController:
    """Decides how long the source pauses before its next read."""

    settings: BackpressureSettings = attrs.field(factory=BackpressureSettings)
    threshold: float = 0.8
    """Buffer fill at which throttling starts."""
    level: float = 0.0
    """The buffer fill last observed, 0 to 1."""
    latency: float = 0.0
    """Moving average of batch processing time, seconds."""
    throttled_seconds: float = 0.0
    """Total time the source was paused."""
    throttles: int = 0
    """How many times the source was paused."""
    _streak: int = 0
    _adaptive_delay: float = 0.0

    def observe_latency(self, seconds: float) -> None:
        """Record how long the operators and sinks took for one batch."""
        self.latency = (
            seconds
            if self.latency == 0
            else (_SMOOTHING * seconds + (1 - _SMOOTHING) * self.latency)
        )

    def delay(self, used: int, capacity: int) -> float:
        """Return how long to pause, given the buffer's ``used`` slots of ``capacity``."""
        self.level = used / capacity if capacity else 0.0
        strategy = self.settings.strategy
        if strategy is BackpressureStrategy.ADAPTIVE:
            pause = self._adaptive()
        elif self.level < self.threshold:
            self._streak = 0
            pause = 0.0
        elif strategy is BackpressureStrategy.LINEAR:
            over = (self.level - self.threshold) / max(1.0 - self.threshold, 1e-9)
            pause = self.settings.base_delay + over * self.settings.max_delay
        else:
            pause = self.settings.base_delay * 2.0**self._streak
            self._streak += 1
        pause = min(pause, self.settings.max_delay)
        if self.latency > 0:
            # Pausing longer than the operators need to drain what is queued would only
            # leave them idle: throughput would drop and latency would not improve.
            pause = min(pause, used * self.latency)
        if pause > 0:
            self.throttles += 1
            self.throttled_seconds += pause
        return pause

    def _adaptive(self) -> float:
        target = self.settings.target_latency
        excess = (self.latency - target) / target
        if self.level >= self.threshold and excess > 0:
            step = self.settings.base_delay * (1.0 + excess)
            self._adaptive_delay = min(self._adaptive_delay + step, self.settings.max_delay)
        else:
            self._adaptive_delay /= 2.0  # recover quickly once the operators keep up
            if self._adaptive_delay < self.settings.base_delay / 4:
                self._adaptive_delay = 0.0
        return self._adaptive_delay
