"""WindowAggregator against a brute-force reference, over random out-of-order streams.

The reference below is plain Python: it keeps every record of every window, and
applies the documented rules one record at a time (windows ``[start, end)``; a
batch is judged against the watermark as it stood when the batch arrived; a
record whose windows all ended ``allowed_lateness`` or more before the watermark
is late; the watermark is the lowest source's highest event time minus the
out-of-orderness bound, never going back, and a source silent for the idle timeout
of processing time stops holding it back; a window is emitted when the watermark
reaches its end, and again after a late update). Every window kind is crossed
with every late policy and several aggregations, fed in random batch splits from
one or two sources with processing-time ticks between them, and every call's
output is compared.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataflare.kernel import RecordBatch
from dataflare.streaming.windows import (
    Aggregation,
    LatePolicy,
    WatermarkSpec,
    WindowAggregator,
    WindowOutput,
    WindowSpec,
)

NO_MARK = -(2**63)
AGGREGATIONS = (
    Aggregation("n", "count"),
    Aggregation("total", "sum", column="x"),
    Aggregation("low", "min", column="x"),
    Aggregation("high", "max", column="x"),
    Aggregation("avg", "mean", column="x"),
    Aggregation("kinds", "distinct", column="x"),
    Aggregation("median", "percentile", column="x", quantile=0.5),
    Aggregation("p90", "percentile", column="y", quantile=0.9),
)

Row = tuple[bytes, int, dict[str, float]]  # key, event time, columns


@dataclass
class _Window:
    start: int
    end: int
    rows: list[Row] = field(default_factory=list)
    dirty: bool = True


def _aggregate(rows: list[Row]) -> dict[str, float]:
    xs = [row[2]["x"] for row in rows]
    ys = sorted(row[2]["y"] for row in rows)
    ordered = sorted(xs)
    return {
        "n": len(rows),
        "total": sum(xs),
        "low": min(xs),
        "high": max(xs),
        "avg": sum(xs) / len(xs),
        "kinds": len(set(xs)),
        "median": ordered[int(0.5 * (len(xs) - 1))],
        "p90": ys[int(0.9 * (len(ys) - 1))],
    }


class Reference:
    """The documented semantics, one record at a time, keeping every row."""

    def __init__(self, window: WindowSpec, watermark: WatermarkSpec, late: LatePolicy) -> None:
        self.window = window
        self.delay = watermark.max_out_of_orderness_ms
        self.idle_timeout = watermark.idle_timeout_ms
        self.now: int | None = None
        self.last_active: dict[str, int | None] = {}
        self.idle: set[str] = set()
        self.mode = late.mode
        self.lateness = late.allowed_lateness_ms
        self.windows: dict[bytes, list[_Window]] = defaultdict(list)
        self.sources: dict[str, int | None] = {}
        self.mark = NO_MARK
        self.counts = {"late_dropped": 0, "late_side_output": 0, "late_admitted": 0}
        self.emitted = 0

    def process(self, rows: list[Row], source: str) -> tuple[list[dict[str, Any]], list[Row]]:
        late: list[Row] = []
        if self.window.kind == "session":
            late = self._sessions(rows)
        else:
            for row in rows:
                late += self._fixed(row)
        key = "late_side_output" if self.mode == "side_output" else "late_dropped"
        self.counts[key] += len(late)
        seen = [row[1] for row in rows]
        previous = self.sources.get(source)
        if previous is not None:
            seen.append(previous)
        self.sources[source] = max(seen, default=None)
        self.last_active[source] = self.now
        self.idle.discard(source)
        self._advance()
        return self._fire(final=False), late if self.mode == "side_output" else []

    def tick(self, now: int) -> list[dict[str, Any]]:
        self.now = now
        for source, last in self.last_active.items():
            if last is None:
                self.last_active[source] = now
            elif self.idle_timeout is not None and now - last >= self.idle_timeout:
                self.idle.add(source)
        self._advance()
        return self._fire(final=False)

    def _advance(self) -> None:
        marks = {s: NO_MARK if t is None else t - self.delay for s, t in self.sources.items()}
        active = [mark for source, mark in marks.items() if source not in self.idle]
        if marks:
            self.mark = max(self.mark, min(active) if active else max(marks.values()))

    def finish(self) -> list[dict[str, Any]]:
        return self._fire(final=True)

    def _fixed(self, row: Row) -> list[Row]:
        size = self.window.size_ms
        slide = self.window.slide_ms or size
        assert size is not None
        assert slide is not None
        starts = range(((row[1] - size) // slide + 1) * slide, row[1] // slide * slide + 1, slide)
        live = [start for start in starts if start + size + self.lateness > self.mark]
        if not live:
            return [row]
        if any(start + size <= self.mark for start in live):
            self.counts["late_admitted"] += 1
        for start in live:
            found = [w for w in self.windows[row[0]] if w.start == start]
            if not found:
                found = [_Window(start, start + size)]
                self.windows[row[0]].append(found[0])
            found[0].rows.append(row)
            found[0].dirty = True
        return []

    def _sessions(self, rows: list[Row]) -> list[Row]:
        gap = self.window.gap_ms
        assert gap is not None
        late: list[Row] = []
        for key in {row[0] for row in rows}:
            # (start, end, rows, has unemitted data, how many rows are new)
            items = [(w.start, w.end, w.rows, w.dirty, 0) for w in self.windows[key]]
            items += [(r[1], r[1] + gap, [r], True, 1) for r in rows if r[0] == key]
            items.sort(key=lambda item: item[0])
            merged: list[list[Any]] = []
            for start, end, members, dirty, new in items:
                if merged and start < merged[-1][1]:
                    last = merged[-1]
                    last[1] = max(last[1], end)
                    last[2] = last[2] + members
                    last[3] = last[3] or dirty
                    last[4] += new
                else:
                    merged.append([start, end, list(members), dirty, new])
            sessions = []
            for start, end, members, dirty, new in merged:
                if end + self.lateness <= self.mark:
                    assert new == len(members)  # live sessions never expire unpurged
                    late += members
                    continue
                if end <= self.mark:
                    self.counts["late_admitted"] += new
                sessions.append(_Window(start, end, members, dirty))
            self.windows[key] = sessions
        return late

    def _fire(self, *, final: bool) -> list[dict[str, Any]]:
        out = []
        for key, windows in self.windows.items():
            for window in windows:
                if window.dirty and (final or window.end <= self.mark):
                    out.append(
                        {
                            "key": key,
                            "window_start": window.start,
                            "window_end": window.end,
                            **_aggregate(window.rows),
                        }
                    )
                    window.dirty = False
            self.windows[key] = [
                w for w in windows if not final and w.end + self.lateness > self.mark
            ]
        self.emitted += len(out)
        return out


def _batch(rows: list[Row]) -> RecordBatch:
    return RecordBatch.from_arrays(
        keys=[row[0] for row in rows],
        timestamps=np.array([row[1] for row in rows], np.int64),
        columns={
            "x": np.array([row[2]["x"] for row in rows], np.float64),
            "y": np.array([row[2]["y"] for row in rows], np.int64),
        },
        count=len(rows),
    )


def _results(output: WindowOutput) -> dict[tuple[bytes, int], dict[str, Any]]:
    found: dict[tuple[bytes, int], dict[str, Any]] = {}
    for record in output.results:
        fields = dict(record.fields)
        assert record.timestamp == fields["window_end"]
        assert (record.key, fields["window_start"]) not in found
        found[record.key, fields["window_start"]] = fields
    return found


def _assert_same(actual: dict[tuple[bytes, int], dict[str, Any]], expected: list[dict[str, Any]]):
    wanted = {(row["key"], row["window_start"]): row for row in expected}
    assert set(actual) == set(wanted)
    for ident, row in wanted.items():
        got = actual[ident]
        for name in ("window_end", "n", "total", "low", "high", "kinds"):
            assert got[name] == row[name], (ident, name)
        assert math.isclose(got["avg"], row["avg"], rel_tol=1e-9, abs_tol=1e-9)
        for name in ("median", "p90"):
            # The percentile sketch is within 1% of the exact value (0 is exact).
            assert abs(got[name] - row[name]) <= 0.01 * abs(row[name]) + 1e-9, (ident, name)


@st.composite
def scenarios(draw: st.DrawFn, kind: str | None = None, mode: str | None = None) -> dict[str, Any]:
    kind = kind or draw(st.sampled_from(["tumbling", "sliding", "session"]))
    mode = mode or draw(st.sampled_from(["drop", "side_output", "allow"]))
    if kind == "tumbling":
        window = WindowSpec(kind, size_ms=draw(st.integers(1, 30)))
    elif kind == "sliding":
        size = draw(st.integers(2, 30))
        window = WindowSpec(kind, size_ms=size, slide_ms=draw(st.integers(1, size)))
    else:
        window = WindowSpec(kind, gap_ms=draw(st.integers(1, 20)))
    lateness = draw(st.integers(1, 30)) if mode == "allow" else 0
    count = draw(st.integers(0, 60) | st.integers(30, 60))
    # Mostly rising event times with jitter: out of order, sometimes far behind.
    jitter = draw(st.lists(st.integers(-40, 5), min_size=count, max_size=count))
    rows: list[Row] = [
        (
            draw(st.sampled_from([b"a", b"b", b"c", b""])),
            100 + 2 * i + j,
            {"x": float(draw(st.integers(-20, 20))), "y": float(draw(st.integers(0, 1000)))},
        )
        for i, j in enumerate(jitter)
    ]
    cuts = sorted(draw(st.lists(st.integers(0, count), max_size=12)))
    batches = [rows[lo:hi] for lo, hi in zip([0, *cuts], [*cuts, count], strict=True)]
    # One source, or two: the watermark then follows the one behind.
    names = draw(st.sampled_from([["s1"], ["s1", "s2"]]))
    sources = [draw(st.sampled_from(names)) for _ in batches]
    # Processing time between batches (None: no tick), for idle sources.
    ticks = [draw(st.none() | st.integers(0, 15)) for _ in batches]
    return {
        "window": window,
        "late": LatePolicy(mode, allowed_lateness_ms=lateness),
        "watermark": WatermarkSpec(
            max_out_of_orderness_ms=draw(st.integers(0, 8)),
            idle_timeout_ms=draw(st.none() | st.integers(1, 20)),
        ),
        "batches": list(zip(batches, sources, ticks, strict=True)),
    }


def _aggregator(scenario: dict[str, Any]) -> WindowAggregator:
    return WindowAggregator(
        scenario["window"],
        AGGREGATIONS,
        watermark=scenario["watermark"],
        late=scenario["late"],
    )


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(scenarios())
def test_every_call_matches_the_reference(scenario: dict[str, Any]):
    aggregator = _aggregator(scenario)
    reference = Reference(scenario["window"], scenario["watermark"], scenario["late"])
    now = 0
    for rows, source, tick in scenario["batches"]:
        if tick is not None:
            now += tick
            _assert_same(_results(aggregator.tick(now)), reference.tick(now))
        output = aggregator.process(_batch(rows), source=source)
        expected, expected_late = reference.process(rows, source)
        _assert_same(_results(output), expected)
        late = sorted((r.key, r.timestamp, r.fields["x"]) for r in output.late)
        assert late == sorted((key, t, cols["x"]) for key, t, cols in expected_late)
        held = sum(len(windows) for windows in reference.windows.values())
        assert aggregator.statistics.open_windows == held
    _assert_same(_results(aggregator.finish()), reference.finish())
    stats = aggregator.statistics
    assert stats.late_dropped == reference.counts["late_dropped"]
    assert stats.late_side_output == reference.counts["late_side_output"]
    assert stats.late_admitted == reference.counts["late_admitted"]
    assert stats.results_emitted == reference.emitted
    assert stats.open_windows == 0


@pytest.mark.parametrize("kind", ["tumbling", "sliding", "session"])
@pytest.mark.parametrize("mode", ["drop", "side_output", "allow"])
@settings(max_examples=12, deadline=None)
@given(data=st.data())
def test_each_kind_and_policy_matches_the_reference(kind: str, mode: str, data: st.DataObject):
    scenario = data.draw(scenarios(kind, mode))
    aggregator = _aggregator(scenario)
    reference = Reference(scenario["window"], scenario["watermark"], scenario["late"])
    now = 0
    for rows, source, tick in scenario["batches"]:
        if tick is not None:
            now += tick
            _assert_same(_results(aggregator.tick(now)), reference.tick(now))
        expected, _ = reference.process(rows, source)
        _assert_same(_results(aggregator.process(_batch(rows), source=source)), expected)
    _assert_same(_results(aggregator.finish()), reference.finish())


@SETTINGS
@given(scenarios(), st.integers(0, 8), st.booleans())
def test_a_restored_snapshot_continues_like_the_uninterrupted_run(
    scenario: dict[str, Any], cut: int, in_place: bool
):
    whole = _aggregator(scenario)
    first = _aggregator(scenario)
    batches = scenario["batches"]
    cut = min(cut, len(batches))
    now = 0
    for rows, source, tick in batches[:cut]:
        if tick is not None:
            now += tick
            whole.tick(now)
            first.tick(now)
        whole.process(_batch(rows), source=source)
        first.process(_batch(rows), source=source)
    data = first.snapshot()
    if in_place:
        second = _aggregator(scenario)
        second.restore(data)
    else:
        second = WindowAggregator.from_snapshot(data)
    # The original goes on too: taking a snapshot must not disturb it.
    for rows, source, tick in batches[cut:]:
        if tick is not None:
            now += tick
            expected = _results(whole.tick(now))
            assert _results(second.tick(now)) == expected
            assert _results(first.tick(now)) == expected
        expected = _results(whole.process(_batch(rows), source=source))
        assert _results(second.process(_batch(rows), source=source)) == expected
        assert _results(first.process(_batch(rows), source=source)) == expected
    assert _results(second.finish()) == _results(whole.finish())
    assert second.statistics == whole.statistics
