"""Keyed event-time windows: the public import point for windows, watermarks and aggregations.

A :class:`WindowAggregator` consumes record batches and returns one result record
per key and window once the watermark closes the window. Everything on the hot
path is whole-array numpy work on the batch; state is mergeable accumulators (no
rows are kept), and windows are closed in order of their deadline.

Units: every time is integer milliseconds since the Unix epoch, as in
``RecordBatch.timestamps``. Windows are half-open ``[start, end)``, aligned to the
epoch.

Example::

    from dataflare.streaming.windows import (
        Aggregation, LatePolicy, WatermarkSpec, WindowAggregator, WindowSpec,
    )

    windows = WindowAggregator(
        WindowSpec("tumbling", size_ms=60_000),
        [Aggregation("clicks", "count"), Aggregation("spent", "sum", column="amount")],
        watermark=WatermarkSpec(max_out_of_orderness_ms=2_000, idle_timeout_ms=30_000),
        late=LatePolicy("side_output"),
    )
    out = windows.process(batch, source="orders")  # results of windows the watermark closed
    out.results.column("clicks")                   # one record per (key, window)
    out.late                                       # late records (side_output)
    out = windows.tick(now_ms)                     # idle sources stop holding time back
    state = windows.snapshot()                     # bytes: windows.restore(state), or
    again = WindowAggregator.from_snapshot(state)  # a new aggregator from the bytes alone
    out = windows.finish()                         # end of input: close every window
"""

from __future__ import annotations

from dataflare.streaming._window_aggregator import (
    WindowAggregator,
    WindowOutput,
    WindowStatistics,
)
from dataflare.streaming._window_spec import Aggregation, LatePolicy, WatermarkSpec, WindowSpec

__all__ = (
    "Aggregation",
    "LatePolicy",
    "WatermarkSpec",
    "WindowAggregator",
    "WindowOutput",
    "WindowSpec",
    "WindowStatistics",
)
