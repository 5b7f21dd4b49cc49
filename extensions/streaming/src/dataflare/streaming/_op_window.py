"""The ``window`` operator: keyed event-time windows, backed by the windows module.

This module only adapts a pipeline's window spec to
:class:`dataflare.streaming.windows.WindowAggregator` and routes its output: window
results go on to the sinks, late records (``late.mode: side_output``) go to the
dead-letter destination with the reason. Its state is the aggregator's snapshot,
so a checkpoint restores open windows exactly.
"""

from __future__ import annotations

from dataflare.kernel import RecordBatch
from dataflare.streaming import windows
from dataflare.streaming._dead_letters import dead_letter_batch
from dataflare.streaming._operator import Operator, OperatorOutput
from dataflare.streaming._spec_window import WindowOperatorSpec

__all__ = ("WindowOperator", "build_aggregator")

LATE_ERROR = "late: the record arrived after its window closed"


def build_aggregator(spec: WindowOperatorSpec) -> windows.WindowAggregator:
    """Build the windows module's aggregator from a pipeline's window spec."""
    return windows.WindowAggregator(
        windows.WindowSpec(
            kind=spec.kind, size_ms=spec.size_ms, slide_ms=spec.slide_ms, gap_ms=spec.gap_ms
        ),
        [
            windows.Aggregation(
                output=item.output,
                function=item.function,
                column=item.column,
                quantile=item.quantile,
            )
            for item in spec.aggregations
        ],
        watermark=windows.WatermarkSpec(
            max_out_of_orderness_ms=spec.watermark.max_out_of_orderness_ms,
            idle_timeout_ms=spec.watermark.idle_timeout_ms,
        ),
        late=windows.LatePolicy(
            mode=spec.late.mode, allowed_lateness_ms=spec.late.allowed_lateness_ms
        ),
    )


class WindowOperator(Operator):
    """Aggregates records per key and window; emits a record per closed window."""

    aggregates = True

    def __init__(self, spec: WindowOperatorSpec, *, name: str | None = None) -> None:
        self.spec = spec
        self.name = name or f"window-{spec.kind}"
        self._aggregator = build_aggregator(spec)

    def process(self, batch: RecordBatch) -> OperatorOutput:
        return self._route(self._aggregator.process(batch))

    def tick(self, now_ms: int) -> OperatorOutput | None:
        return self._route(self._aggregator.tick(now_ms))

    def finish(self) -> OperatorOutput | None:
        return self._route(self._aggregator.finish())

    def snapshot(self) -> bytes | None:
        return self._aggregator.snapshot()

    def restore(self, state: bytes) -> None:
        self._aggregator.restore(state)

    def _route(self, output: windows.WindowOutput) -> OperatorOutput:
        late = output.late
        if self.spec.late.mode == "side_output" and len(late):
            letters = dead_letter_batch(((record, LATE_ERROR) for record in late), self.name)
            return OperatorOutput(output.results, letters)
        return OperatorOutput(output.results)
