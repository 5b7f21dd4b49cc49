"""WindowAggregator behaviour, one rule at a time: watermarks, idle sources, late policies,
results, errors, snapshots, and the numpy paths small random streams do not reach."""

from __future__ import annotations

import json
from collections import Counter, defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataflare.kernel import RecordBatch
from dataflare.streaming import _window_aggregator
from dataflare.streaming._accumulators import unique_inverse
from dataflare.streaming._window_snapshot import pack
from dataflare.streaming.errors import WindowDataError, WindowSnapshotError, WindowStateError
from dataflare.streaming.windows import (
    Aggregation,
    LatePolicy,
    WatermarkSpec,
    WindowAggregator,
    WindowOutput,
    WindowSpec,
)

COUNT = [Aggregation("n", "count")]
TUMBLING = WindowSpec("tumbling", size_ms=10)


def batch(times: list[int], keys: list[bytes] | None = None, x: list[float] | None = None):
    return RecordBatch.from_arrays(
        keys=keys or [b"k"] * len(times),
        values=[f"v{t}".encode() for t in times],
        timestamps=np.array(times, np.int64),
        columns={"x": np.array(x if x is not None else [1.0] * len(times))},
        count=len(times),
    )


def rows(output: WindowOutput) -> list[tuple[bytes, int, int]]:
    """(key, window_start, n) of every result, sorted."""
    return sorted((r.key, r.fields["window_start"], r.fields["n"]) for r in output.results)


def test_a_window_is_emitted_once_the_watermark_reaches_its_end():
    agg = WindowAggregator(TUMBLING, COUNT)
    assert rows(agg.process(batch([0, 5, 9]))) == []
    assert rows(agg.process(batch([10]))) == [(b"k", 0, 3)]
    assert agg.statistics.watermark_ms == 10
    assert rows(agg.finish()) == [(b"k", 10, 1)]


def test_out_of_orderness_holds_windows_open_and_admits_records_within_it():
    agg = WindowAggregator(TUMBLING, COUNT, watermark=WatermarkSpec(max_out_of_orderness_ms=5))
    assert rows(agg.process(batch([12]))) == []  # watermark 7: [0, 10) stays open
    assert rows(agg.process(batch([3]))) == []  # 5 behind the newest: on time
    assert rows(agg.process(batch([15]))) == [(b"k", 0, 1)]
    assert agg.statistics.late_dropped == 0


def test_results_carry_window_bounds_as_columns_timestamp_and_json_value():
    agg = WindowAggregator(
        WindowSpec("sliding", size_ms=10, slide_ms=5),
        [*COUNT, Aggregation("s", "sum", column="x")],
    )
    out = agg.process(batch([1, 2, 30], x=[1.5, 2.0, 4.0]))
    assert out.results.column_names == ("window_start", "window_end", "n", "s")
    assert out.results.column("window_start").dtype == np.int64
    assert out.results.column("n").dtype == np.int64
    assert out.results.column("s").dtype == np.float64
    for record in out.results:
        assert record.timestamp == record.fields["window_end"]
        assert json.loads(record.value) == dict(record.fields)
    assert sorted(r.fields["window_start"] for r in out.results) == [-5, 0]


def test_result_values_can_be_left_empty():
    agg = WindowAggregator(TUMBLING, COUNT, result_values="empty")
    out = agg.process(batch([1, 20]))
    assert [r.value for r in out.results] == [b""]


def test_drop_counts_late_records_and_returns_none():
    agg = WindowAggregator(TUMBLING, COUNT)
    agg.process(batch([1, 25]))
    out = agg.process(batch([3, 4, 26]))
    assert len(out.late) == 0
    assert agg.statistics.late_dropped == 2
    assert rows(agg.finish()) == [(b"k", 20, 2)]


def test_side_output_returns_late_records_unchanged():
    agg = WindowAggregator(TUMBLING, COUNT, late=LatePolicy("side_output"))
    agg.process(batch([1, 25]))
    sent = batch([3, 26, 4], keys=[b"a", b"b", b"c"])
    out = agg.process(sent)
    assert out.late == sent.filter(np.array([True, False, True]))
    assert agg.statistics.late_side_output == 2
    assert agg.statistics.late_dropped == 0


def test_allow_updates_a_closed_window_and_emits_it_again_then_drops_beyond_lateness():
    agg = WindowAggregator(TUMBLING, COUNT, late=LatePolicy("allow", allowed_lateness_ms=10))
    assert rows(agg.process(batch([1, 2, 15]))) == [(b"k", 0, 2)]  # watermark 15
    # [0, 10) closed at 10 and is kept until 20: a late record updates it.
    assert rows(agg.process(batch([3]))) == [(b"k", 0, 3)]
    assert agg.statistics.late_admitted == 1
    assert rows(agg.process(batch([21]))) == [(b"k", 10, 1)]  # watermark 21: [0, 10) expires
    assert rows(agg.process(batch([4]))) == []
    assert agg.statistics.late_dropped == 1
    assert agg.statistics.results_emitted == 3


def test_the_slowest_source_holds_the_watermark_until_it_goes_idle():
    agg = WindowAggregator(TUMBLING, COUNT, watermark=WatermarkSpec(idle_timeout_ms=1000))
    agg.tick(0)
    agg.process(batch([5]), source="slow")
    assert rows(agg.process(batch([50]), source="fast")) == []  # held at 5 by "slow"
    assert agg.statistics.watermark_ms == 5
    agg.tick(500)
    assert rows(agg.process(batch([60]), source="fast")) == []
    # "slow" has sent nothing for 1000 ms of processing time: it stops holding back.
    out = agg.tick(1000)
    assert rows(out) == [(b"k", 0, 1), (b"k", 50, 1)]
    assert agg.statistics.watermark_ms == 60
    # When it sends again it is active, and its records behind the watermark are late.
    agg.process(batch([7]), source="slow")
    assert agg.statistics.late_dropped == 1
    assert agg.statistics.watermark_ms == 60  # the watermark never goes back


def test_without_an_idle_timeout_a_silent_source_holds_the_watermark_forever():
    agg = WindowAggregator(TUMBLING, COUNT)
    agg.process(batch([5]), source="slow")
    agg.process(batch([50]), source="fast")
    assert rows(agg.tick(10**9)) == []
    assert agg.statistics.watermark_ms == 5


def test_a_source_that_sent_only_empty_batches_holds_the_watermark_back():
    agg = WindowAggregator(TUMBLING, COUNT)
    agg.process(batch([]), source="quiet")
    assert rows(agg.process(batch([1, 50]), source="busy")) == []
    assert agg.statistics.watermark_ms is None


def test_when_every_source_is_idle_the_watermark_moves_to_the_newest():
    agg = WindowAggregator(TUMBLING, COUNT, watermark=WatermarkSpec(idle_timeout_ms=10))
    agg.tick(0)
    agg.process(batch([5]), source="a")
    agg.process(batch([42]), source="b")
    assert rows(agg.tick(10)) == [(b"k", 0, 1)]
    assert agg.statistics.watermark_ms == 42


def test_watermarks_do_not_follow_the_wall_clock():
    agg = WindowAggregator(TUMBLING, COUNT, watermark=WatermarkSpec(idle_timeout_ms=10))
    agg.tick(0)
    agg.process(batch([1, 2]))
    # Hours of processing time pass; the only source going idle releases nothing
    # beyond its own event time.
    assert rows(agg.tick(10**7)) == []
    assert rows(agg.process(batch([3]))) == []
    assert agg.statistics.late_dropped == 0


def test_finish_closes_every_window_and_then_refuses_more_input():
    agg = WindowAggregator(WindowSpec("session", gap_ms=5), COUNT)
    assert rows(agg.process(batch([50, 53, 52], keys=[b"a", b"a", b"b"]))) == []
    assert rows(agg.finish()) == [(b"a", 50, 2), (b"b", 52, 1)]
    assert agg.statistics.open_windows == 0
    with pytest.raises(WindowStateError, match="after finish"):
        agg.process(batch([200]))
    with pytest.raises(WindowStateError):
        agg.tick(5)


def test_a_batch_without_an_aggregated_column_is_refused_whole():
    agg = WindowAggregator(TUMBLING, [Aggregation("s", "sum", column="amount")])
    with pytest.raises(WindowDataError, match="no column 'amount'") as exc:
        agg.process(batch([1, 2]))
    assert exc.value.column == "amount"
    assert agg.statistics.open_windows == 0
    assert agg.statistics.watermark_ms is None


def test_event_times_beyond_the_supported_range_are_refused():
    agg = WindowAggregator(TUMBLING, COUNT)
    with pytest.raises(WindowDataError, match="milliseconds"):
        agg.process(batch([2**62]))


def test_distinct_counts_each_value_once_and_zero_once():
    agg = WindowAggregator(TUMBLING, [Aggregation("d", "distinct", column="x")])
    agg.process(batch([1, 2, 3, 4, 5], x=[0.0, -0.0, 2.0, 2.0, 3.5]))
    (record,) = list(agg.finish().results)
    assert record.fields["d"] == 3


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.floats(min_value=-1e12, max_value=1e12, allow_nan=False) | st.integers(-100, 100),
        min_size=1,
        max_size=200,
    ),
    st.floats(0.0, 1.0),
    st.integers(1, 5),
)
def test_percentiles_are_within_one_percent_of_the_exact_value(
    values: list[float], quantile: float, parts: int
):
    agg = WindowAggregator(
        TUMBLING, [Aggregation("q", "percentile", column="x", quantile=quantile)]
    )
    floats = [float(v) for v in values]
    # Split across batches: the histogram merges.
    for chunk in np.array_split(np.arange(len(floats)), parts):
        agg.process(batch([1] * chunk.size, x=[floats[i] for i in chunk]))
    (record,) = list(agg.finish().results)
    exact = sorted(floats)[int(quantile * (len(floats) - 1))]
    assert abs(record.fields["q"] - exact) <= 0.01 * abs(exact) + 1e-9


def _dict_counts(times: np.ndarray, keys: list[bytes], size: int, slide: int):
    counts: Counter[tuple[bytes, int]] = Counter()
    for t, key in zip(times.tolist(), keys, strict=True):
        for start in range(((t - size) // slide + 1) * slide, t // slide * slide + 1, slide):
            counts[key, start] += 1
    return counts


@pytest.mark.parametrize(
    ("size", "slide", "spread"),
    [
        (1000, 1000, 10**4),  # few windows, many keys: a sorted grouping, not a dense one
        (10, 10, 10**9),  # windows far apart: only the present ones are numbered
        (100, 25, 10**6),
    ],
)
def test_many_keys_and_far_apart_windows_aggregate_like_a_dict(size: int, slide: int, spread: int):
    rng = np.random.default_rng(7)
    n = 6000
    times = np.sort(rng.integers(0, spread, n))
    keys = [f"key-{k}".encode() for k in rng.integers(0, 4000, n)]
    agg = WindowAggregator(WindowSpec("sliding", size_ms=size, slide_ms=slide), COUNT)
    found: Counter[tuple[bytes, int]] = Counter()
    for lo in range(0, n, 1500):
        out = agg.process(
            RecordBatch.from_arrays(keys=keys[lo : lo + 1500], timestamps=times[lo : lo + 1500])
        )
        for key, start, count in rows(out):
            found[key, start] += count
    for key, start, count in rows(agg.finish()):
        found[key, start] += count
    assert found == _dict_counts(times, keys, size, slide)


def test_a_window_fed_by_many_batches_merges_its_pending_updates():
    rng = np.random.default_rng(3)
    agg = WindowAggregator(TUMBLING, [*COUNT, Aggregation("s", "sum", column="x")])
    expected: defaultdict[bytes, float] = defaultdict(float)
    for _ in range(12):  # 12 x 1000 rows into one window: more than one merge
        keys = [f"k{k}".encode() for k in rng.integers(0, 3000, 1000)]
        x = rng.integers(0, 100, 1000).astype(float)
        for key, value in zip(keys, x.tolist(), strict=True):
            expected[key] += value
        agg.process(
            RecordBatch.from_arrays(keys=keys, timestamps=np.ones(1000, np.int64), columns={"x": x})
        )
    assert agg.statistics.open_windows == len(expected)
    got = {r.key: r.fields["s"] for r in agg.finish().results}
    assert got == expected


def test_sessions_spanning_most_of_the_time_range_still_merge_per_key():
    agg = WindowAggregator(WindowSpec("session", gap_ms=10), COUNT)
    far = 2**61
    times = [-far, -far + 5, far, far + 3, 0, 9]
    out = agg.process(batch(times, keys=[b"a", b"a", b"b", b"b", b"c", b"c"]))
    assert rows(out) == [(b"a", -far, 2), (b"c", 0, 2)]  # the watermark is far + 3
    assert rows(agg.finish()) == [(b"b", far, 2)]


def test_keys_without_state_are_forgotten_so_snapshots_stay_small(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(_window_aggregator, "_FORGET_MIN", 8)
    agg = WindowAggregator(TUMBLING, COUNT)
    sizes = []
    for window in range(40):
        keys = [f"user-{window}-{i}".encode() for i in range(20)]
        out = agg.process(batch([window * 10] * 20, keys=keys))
        if window:
            assert {r.key for r in out.results} == {
                f"user-{window - 1}-{i}".encode() for i in range(20)
            }
        sizes.append(len(agg.snapshot()))
    assert max(sizes[5:]) <= 1.5 * min(sizes[5:])


def test_statistics_survive_a_snapshot():
    agg = WindowAggregator(TUMBLING, COUNT, late=LatePolicy("side_output"))
    agg.process(batch([1, 2, 30]))
    agg.process(batch([3]))
    restored = WindowAggregator.from_snapshot(agg.snapshot())
    assert restored.statistics == agg.statistics
    assert restored.statistics.late_side_output == 1
    assert restored.statistics.watermark_ms == 30


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "truncated"),
        (b"XXXX" + bytes(8), "not a window aggregator snapshot"),
        (pack({}, {})[:4] + (99).to_bytes(4, "little") + bytes(4), "upgrade dataflare-streaming"),
        (pack({"config": {}}, {}), "configuration is damaged"),
    ],
)
def test_bytes_that_are_not_a_snapshot_are_refused(data: bytes, match: str):
    with pytest.raises(WindowSnapshotError, match=match):
        WindowAggregator.from_snapshot(data)


def test_a_damaged_snapshot_is_refused():
    data = bytearray(WindowAggregator(TUMBLING, COUNT).snapshot())
    data[12:14] = b"]]"  # inside the JSON header
    with pytest.raises(WindowSnapshotError, match="damaged"):
        WindowAggregator.from_snapshot(bytes(data))


def test_restoring_into_an_aggregator_built_differently_is_refused():
    data = WindowAggregator(TUMBLING, COUNT).snapshot()
    other = WindowAggregator(WindowSpec("tumbling", size_ms=20), COUNT)
    with pytest.raises(WindowSnapshotError, match="different window"):
        other.restore(data)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-(2**40), 2**40) | st.integers(-50, 50), max_size=300))
def test_unique_inverse_matches_numpy_unique_for_dense_and_sparse_values(values: list[int]):
    array = np.array(values, np.int64)
    unique, inverse = unique_inverse(array)
    expected, expected_inverse = np.unique(array, return_inverse=True)
    assert unique.tolist() == expected.tolist()
    assert inverse.tolist() == expected_inverse.reshape(-1).tolist()


def test_distinct_and_percentile_state_merges_across_many_batches():
    rng = np.random.default_rng(11)
    agg = WindowAggregator(
        TUMBLING,
        [
            Aggregation("d", "distinct", column="x"),
            Aggregation("p", "percentile", column="x", quantile=0.75),
        ],
    )
    seen: defaultdict[bytes, list[float]] = defaultdict(list)
    for _ in range(12):  # enough value and bucket rows to merge pending state repeatedly
        keys = [f"k{k}".encode() for k in rng.integers(0, 300, 1000)]
        x = rng.integers(1, 10_000, 1000).astype(float)
        for key, value in zip(keys, x.tolist(), strict=True):
            seen[key].append(value)
        agg.process(
            RecordBatch.from_arrays(keys=keys, timestamps=np.ones(1000, np.int64), columns={"x": x})
        )
    results = {r.key: r.fields for r in agg.finish().results}
    assert set(results) == set(seen)
    for key, values in seen.items():
        assert results[key]["d"] == len(set(values))
        exact = sorted(values)[int(0.75 * (len(values) - 1))]
        assert abs(results[key]["p"] - exact) <= 0.01 * exact
