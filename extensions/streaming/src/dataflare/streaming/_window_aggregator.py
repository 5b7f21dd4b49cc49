"""WindowAggregator: keyed event-time windows over record batches, with checkpointable state.

Per batch: number the keys (one kernel ``key_codes`` call), judge every record
against the watermark as it stood when the batch arrived, fold the batch into the
window state, then advance the watermark and emit the windows it closed. The
watermark moves between batches, not within one, so the records of a batch are
judged together; for data no more out of order than ``max_out_of_orderness_ms``
how a stream is cut into batches never changes which records are late.

Results: one record per (key, window), key = the group key, timestamp = the window
end, typed columns ``window_start`` and ``window_end`` (int64 ms) and one per
aggregation, and (by default) the same fields as a compact JSON object in the
value. With ``LatePolicy("allow", ...)`` a window updated by a late record is
emitted again with its new totals: results are keyed by ``(key, window_start)``,
so a sink should upsert. A late record that bridges two emitted sessions merges
them into one result with the earlier start; the later session's earlier result
is not retracted.

Example::

    agg = WindowAggregator(WindowSpec("tumbling", size_ms=1000), [Aggregation("n", "count")])
    out = agg.process(batch)
    restored = WindowAggregator.from_snapshot(agg.snapshot())
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final, Literal

import attrs
import numpy as np
import numpy.typing as npt

from dataflare.kernel import RecordBatch
from dataflare.streaming._accumulators import AccumulatorPlan, Accumulators, Floats, Ints
from dataflare.streaming._watermarks import NO_WATERMARK, WatermarkTracker
from dataflare.streaming._window_panes import Fired, PaneStore
from dataflare.streaming._window_sessions import SessionStore
from dataflare.streaming._window_snapshot import pack, unpack
from dataflare.streaming._window_spec import Aggregation, LatePolicy, WatermarkSpec, WindowSpec
from dataflare.streaming.errors import (
    WindowConfigError,
    WindowDataError,
    WindowSnapshotError,
    WindowStateError,
)

__all__ = ("WindowAggregator", "WindowOutput", "WindowStatistics")

# Event times must leave room for window ends and lateness without int64 overflow.
_TIME_LIMIT: Final = 2**62
# The key table is pruned of keys without state once it grows past this, and then
# past twice its pruned size: amortised, a pass over the state per doubling.
_FORGET_MIN: Final = 1 << 16


@attrs.frozen
class WindowOutput:
    """What one call of the aggregator produced."""

    results: RecordBatch
    """One record per (key, window) closed (or updated after closing) by this call."""
    late: RecordBatch
    """Late records, unchanged, when the late policy is ``side_output``; else empty."""


@attrs.frozen
class WindowStatistics:
    """Counters of a window aggregator since it was created (kept across snapshots)."""

    late_dropped: int
    """Late records dropped (mode ``drop``, or later than the allowed lateness)."""
    late_side_output: int
    """Late records returned in ``WindowOutput.late`` (mode ``side_output``)."""
    late_admitted: int
    """Records that updated an already closed window (mode ``allow``)."""
    open_windows: int
    """(key, window) accumulators held now, including closed windows kept for lateness."""
    results_emitted: int
    """Result records emitted, re-emissions included."""
    watermark_ms: int | None
    """The current watermark; ``None`` before any source has sent a record."""


class WindowAggregator:
    """Aggregates keyed records per event-time window; emits each window once closed.

    Args:
        window: Which windows records fall into.
        aggregations: What to compute per key and window (distinct output names).
        watermark: How event time advances.
        late: What happens to records whose windows have closed.
        result_values: ``"json"`` writes each result's fields as a compact JSON
            object in its value; ``"empty"`` leaves values empty (columns only).

    Raises:
        WindowConfigError: No aggregations, or two share an output name.
    """

    def __init__(
        self,
        window: WindowSpec,
        aggregations: Sequence[Aggregation],
        *,
        watermark: WatermarkSpec | None = None,
        late: LatePolicy | None = None,
        result_values: Literal["json", "empty"] = "json",
    ) -> None:
        self.window = window
        self.aggregations = tuple(aggregations)
        self.watermark = watermark or WatermarkSpec()
        self.late = late or LatePolicy()
        self.result_values = result_values
        _check_outputs(self.aggregations)
        self._plan = AccumulatorPlan.of(self.aggregations)
        self._marks = WatermarkTracker(self.watermark)
        self._store = self._new_store()
        self._key_ids: dict[bytes, int] = {}
        self._keys: list[bytes] = []
        self._counts = {"late_dropped": 0, "late_side_output": 0, "late_admitted": 0}
        self._results_emitted = 0
        self._finished = False
        self._forget_above = _FORGET_MIN

    def _new_store(self) -> PaneStore | SessionStore:
        lateness = self.late.allowed_lateness_ms
        if self.window.kind == "session":
            assert self.window.gap_ms is not None
            return SessionStore(self._plan, gap=self.window.gap_ms, lateness=lateness)
        assert self.window.size_ms is not None
        slide = self.window.slide_ms or self.window.size_ms
        return PaneStore(self._plan, size=self.window.size_ms, slide=slide, lateness=lateness)

    def process(self, batch: RecordBatch, *, source: str = "default") -> WindowOutput:
        """Consume a batch; emit the results of windows the watermark then closed.

        Args:
            batch: Keyed records (the key is the group key) carrying every column
                the aggregations read.
            source: Which input the batch came from; the watermark waits for the
                slowest active source.

        Returns:
            The results emitted and, for ``side_output``, the late records.

        Raises:
            WindowDataError: The batch lacks a column, or an event time is beyond
                +-2**62 ms; nothing of the batch was taken in.
            WindowStateError: :meth:`finish` was called already.
        """
        self._check_open("process")
        late_batch = _EMPTY
        if len(batch):
            times = batch.timestamps
            columns = self._columns(batch)
            if int(times.min()) < -_TIME_LIMIT or int(times.max()) >= _TIME_LIMIT:
                raise WindowDataError(
                    "an event time is beyond +-2**62 ms; timestamps are milliseconds since "
                    "the Unix epoch: check the unit the source sets"
                )
            codes, keys = batch.key_codes()
            key_ids = self._ids(keys)
            late, admitted = self._store.add(codes, key_ids, times, columns, self._marks.current)
            self._count_late(late, admitted)
            if self.late.mode == "side_output" and late.any():
                late_batch = batch.filter(late)
            self._marks.observe(source, int(times.max()))
        else:
            self._marks.observe(source, None)
        return WindowOutput(self._fire(self._marks.advance()), late_batch)

    def tick(self, now_ms: int) -> WindowOutput:
        """Advance processing time: sources silent for the idle timeout stop holding
        the watermark back, which may close windows.

        Args:
            now_ms: The current processing time (wall clock), ms; only differences
                between ticks matter.

        Returns:
            Results of the windows this closed (``late`` is empty).
        """
        self._check_open("tick")
        self._marks.tick(now_ms)
        return WindowOutput(self._fire(self._marks.advance()), _EMPTY)

    def finish(self) -> WindowOutput:
        """End of input: emit every open window that has updates, and drop all state.

        Afterwards :meth:`process` and :meth:`tick` raise ``WindowStateError``.
        """
        self._check_open("finish")
        self._marks.close_all()
        results = self._build(self._store.fire(self._marks.current, final=True))
        self._finished = True
        return WindowOutput(results, _EMPTY)

    @property
    def statistics(self) -> WindowStatistics:
        """Late-record counters, open windows, results emitted and the watermark.

        Exact, so it merges pending window updates first (work the next merge would
        do anyway): read it per checkpoint or metrics scrape, not after every batch.
        """
        mark = self._marks.current
        return WindowStatistics(
            **self._counts,
            open_windows=self._store.open_windows(),
            results_emitted=self._results_emitted,
            watermark_ms=None if mark == NO_WATERMARK else mark,
        )

    def snapshot(self) -> bytes:
        """Every piece of state as bytes: accumulators, watermarks per source, counters.

        ``restore`` (or ``from_snapshot``) of these bytes continues exactly where this
        aggregator is: no window result is emitted twice or lost.
        """
        self._forget_keys()
        store_meta, arrays = self._store.to_state()
        lengths = np.array([len(key) for key in self._keys], np.int64)
        arrays = {
            **arrays,
            "keys/lengths": lengths,
            "keys/data": np.frombuffer(b"".join(self._keys), np.uint8),
        }
        meta = {
            "config": self._config(),
            "watermarks": self._marks.to_json(),
            "counts": self._counts,
            "results_emitted": self._results_emitted,
            "finished": self._finished,
            "store": store_meta,
        }
        return pack(meta, arrays)

    def restore(self, data: bytes) -> None:
        """Replace this aggregator's state with a snapshot taken from the same configuration.

        Raises:
            WindowSnapshotError: The bytes are not a snapshot, or it was taken with a
                different window, aggregations, watermark or late policy.
        """
        meta, arrays = unpack(data)
        mine = self._config()
        theirs = meta.get("config")
        theirs = theirs if isinstance(theirs, dict) else {}
        differ = sorted(name for name in mine if theirs.get(name) != mine[name])
        if differ:
            raise WindowSnapshotError(
                f"the snapshot was taken with a different {', '.join(differ)}: restore it "
                "into an aggregator built the same way, or use WindowAggregator.from_snapshot"
            )
        try:
            self._store = self._new_store()
            self._store.load_state(meta["store"], arrays)
            self._marks = WatermarkTracker(self.watermark)
            self._marks.load_json(meta["watermarks"])
            self._counts = {name: int(meta["counts"][name]) for name in self._counts}
            self._results_emitted = int(meta["results_emitted"])
            self._finished = bool(meta["finished"])
            self._load_keys(
                np.asarray(arrays["keys/lengths"], np.int64),
                np.asarray(arrays["keys/data"], np.uint8),
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise WindowSnapshotError(f"snapshot is damaged: missing or bad {exc}") from exc

    @classmethod
    def from_snapshot(cls, data: bytes) -> WindowAggregator:
        """Build an aggregator from a snapshot alone (its configuration is inside).

        Raises:
            WindowSnapshotError: The bytes are not a snapshot this version reads.
        """
        meta, _ = unpack(data)
        try:
            config = meta["config"]
            aggregator = cls(
                WindowSpec(**config["window"]),
                [Aggregation(**item) for item in config["aggregations"]],
                watermark=WatermarkSpec(**config["watermark"]),
                late=LatePolicy(**config["late"]),
                result_values=config["result_values"],
            )
        except (KeyError, TypeError, WindowConfigError) as exc:
            raise WindowSnapshotError(f"snapshot configuration is damaged: {exc}") from exc
        aggregator.restore(data)
        return aggregator

    def _config(self) -> dict[str, Any]:
        return {
            "window": attrs.asdict(self.window),
            "aggregations": [attrs.asdict(item) for item in self.aggregations],
            "watermark": attrs.asdict(self.watermark),
            "late": attrs.asdict(self.late),
            "result_values": self.result_values,
        }

    def _check_open(self, method: str) -> None:
        if self._finished:
            raise WindowStateError(
                f"{method}() after finish(): every window is closed; build a new "
                "WindowAggregator (or restore a snapshot taken before finish)"
            )

    def _columns(self, batch: RecordBatch) -> dict[str, Floats]:
        missing = [name for name in self._plan.columns if name not in batch.column_names]
        if missing:
            raise WindowDataError(
                f"the batch has no column {missing[0]!r} that an aggregation reads "
                f"(its columns: {list(batch.column_names)}); add it upstream, or fix the "
                "aggregation's column",
                column=missing[0],
            )
        return {name: np.asarray(batch.column(name), np.float64) for name in self._plan.columns}

    def _ids(self, keys: list[bytes]) -> Ints:
        # One C-level dict lookup per distinct key of the batch (not per record); only
        # a batch with keys never seen before takes a Python step per key.
        table = self._key_ids
        try:
            return np.fromiter(map(table.__getitem__, keys), np.int64, len(keys))
        except KeyError:
            pass
        for key in keys:
            if key not in table:
                table[key] = len(self._keys)
                self._keys.append(key)
        return np.fromiter(map(table.__getitem__, keys), np.int64, len(keys))

    def _forget_keys(self) -> None:
        # Keys with no state left are dropped from the key table, so that a stream
        # of ever-new keys does not grow it (and snapshots) without bound.
        live = self._store.live_keys()
        if live.size == len(self._keys):
            return
        self._keys = [self._keys[i] for i in live.tolist()]
        self._key_ids = {key: i for i, key in enumerate(self._keys)}
        renumber = np.full(max(1, int(live.max(initial=0)) + 1), -1, np.int64)
        renumber[live] = np.arange(live.size)
        self._store.renumber_keys(renumber)

    def _load_keys(self, lengths: Ints, data: npt.NDArray[np.uint8]) -> None:
        raw = data.tobytes()
        ends = np.cumsum(lengths).tolist()
        self._keys = [raw[end - n : end] for end, n in zip(ends, lengths.tolist(), strict=True)]
        self._key_ids = {key: i for i, key in enumerate(self._keys)}

    def _count_late(self, late: npt.NDArray[np.bool_], admitted: int) -> None:
        count = int(np.count_nonzero(late))
        self._counts["late_admitted"] += admitted
        if self.late.mode == "side_output":
            self._counts["late_side_output"] += count
        else:
            self._counts["late_dropped"] += count

    def _fire(self, watermark: int) -> RecordBatch:
        results = self._build(self._store.fire(watermark))
        if len(self._keys) > self._forget_above:
            self._forget_keys()
            self._forget_above = max(_FORGET_MIN, 2 * len(self._keys))
        return results

    def _build(self, fired: list[Fired]) -> RecordBatch:
        if fired:
            keys = np.concatenate([part.keys for part in fired])
            starts = np.concatenate([part.starts for part in fired])
            ends = np.concatenate([part.ends for part in fired])
            acc = Accumulators.concat([part.acc for part in fired])
        else:
            keys = starts = ends = np.zeros(0, np.int64)
            acc = Accumulators.empty(self._plan)
        columns: dict[str, Ints | Floats] = {"window_start": starts, "window_end": ends}
        columns.update(acc.results(self.aggregations))
        self._results_emitted += int(keys.size)
        names = [self._keys[i] for i in keys.tolist()]
        values = _json_values(columns) if self.result_values == "json" else None
        return RecordBatch.from_arrays(
            keys=names, values=values, timestamps=ends, columns=columns, count=int(keys.size)
        )


_EMPTY: Final = RecordBatch.empty()


def _check_outputs(aggregations: Sequence[Aggregation]) -> None:
    if not aggregations:
        raise WindowConfigError(
            [("aggregations", "needs at least one, such as Aggregation('n', 'count')")]
        )
    seen: set[str] = set()
    problems = []
    for agg in aggregations:
        if agg.output in seen:
            problems.append(("aggregations", f"output {agg.output!r} is used twice: rename one"))
        seen.add(agg.output)
    if problems:
        raise WindowConfigError(problems)


def _json_values(columns: dict[str, Ints | Floats]) -> list[bytes]:
    # Results are far fewer than inputs; one format call per result keeps this cheap.
    names = list(columns)
    fields = ",".join(
        json.dumps(name).replace("{", "{{").replace("}", "}}") + ":{}" for name in names
    )
    template = "{{" + fields + "}}"
    lists = [columns[name].tolist() for name in names]
    if all(np.isfinite(columns[name]).all() for name in names if columns[name].dtype.kind == "f"):
        return [template.format(*row).encode() for row in zip(*lists, strict=True)]
    # Infinity and NaN are not JSON numbers; json.dumps writes them as Python reads them.
    return [
        json.dumps(dict(zip(names, row, strict=True)), separators=(",", ":")).encode()
        for row in zip(*lists, strict=True)
    ]
