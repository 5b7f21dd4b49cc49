"""Mergeable aggregation state for many groups at once, as numpy arrays.

A group is one key in one window. :class:`Accumulators` holds, for ``n`` groups,
only what the aggregations need to merge: a count, per-column sums (sum, mean),
minima and maxima, the distinct values (exact: sorted unique ``(group, value)``
rows) and percentile histograms (``(group, bucket, count)`` rows, see ``_sketch``).
Records enter as one-row groups and every step after that is :meth:`regroup`:
aggregating a batch, folding a batch into a window, merging sessions. No rows of
input are kept, and nothing here runs a Python step per record or per group.

Example::

    plan = AccumulatorPlan.of([Aggregation("n", "count"), Aggregation("s", "sum", column="x")])
    acc = Accumulators.of_records(plan, {"x": np.array([1.0, 2.0, 4.0])}, 3)
    acc = acc.regroup(np.array([0, 1, 0]), 2)   # groups {0, 2} and {1}
    acc.results(aggregations)                   # {"n": [2, 1], "s": [5.0, 2.0]}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeAlias

import attrs
import numpy as np
import numpy.typing as npt

from dataflare.streaming._sketch import bucket_codes, bucket_values
from dataflare.streaming._window_spec import Aggregation

__all__ = ("AccumulatorPlan", "Accumulators", "Floats", "Ints", "unique_inverse")

Ints: TypeAlias = npt.NDArray[np.int64]
Floats: TypeAlias = npt.NDArray[np.float64]


@attrs.frozen
class AccumulatorPlan:
    """Which state each input column needs, derived from the aggregations."""

    sums: tuple[str, ...]
    """Columns summed (for sum and mean)."""
    mins: tuple[str, ...]
    """Columns whose minimum is kept."""
    maxs: tuple[str, ...]
    """Columns whose maximum is kept."""
    distinct: tuple[str, ...]
    """Columns whose distinct values are kept."""
    hists: tuple[str, ...]
    """Columns with a percentile histogram (shared by every quantile of a column)."""

    @classmethod
    def of(cls, aggregations: Sequence[Aggregation]) -> AccumulatorPlan:
        """Work out the state that ``aggregations`` need, each column once."""

        def columns(*functions: str) -> tuple[str, ...]:
            found = (a.column for a in aggregations if a.function in functions and a.column)
            return tuple(dict.fromkeys(found))

        return cls(
            sums=columns("sum", "mean"),
            mins=columns("min"),
            maxs=columns("max"),
            distinct=columns("distinct"),
            hists=columns("percentile"),
        )

    @property
    def columns(self) -> tuple[str, ...]:
        """Every input column read, each once."""
        every = (*self.sums, *self.mins, *self.maxs, *self.distinct, *self.hists)
        return tuple(dict.fromkeys(every))


def _empty_ints() -> Ints:
    return np.zeros(0, np.int64)


@attrs.define
class Accumulators:
    """Mergeable state for ``size`` groups; group ``i`` is row ``i`` of every array."""

    count: Ints
    """Records per group."""
    sums: dict[str, Floats]
    """Per column: the sum per group."""
    mins: dict[str, Floats]
    """Per column: the minimum per group (``inf`` for none)."""
    maxs: dict[str, Floats]
    """Per column: the maximum per group (``-inf`` for none)."""
    distinct: dict[str, tuple[Ints, Ints]]
    """Per column: ``(group, value bits)`` rows, unique and sorted by group then value."""
    hists: dict[str, tuple[Ints, Ints, Ints]]
    """Per column: ``(group, bucket, count)`` rows, unique and sorted by group then bucket."""

    @property
    def size(self) -> int:
        """The number of groups."""
        return int(self.count.size)

    @property
    def rows(self) -> int:
        """Groups plus distinct-value and histogram rows: the size a merge sorts."""
        extra = sum(pairs[0].size for pairs in self.distinct.values())
        extra += sum(rows[0].size for rows in self.hists.values())
        return self.size + extra

    @classmethod
    def empty(cls, plan: AccumulatorPlan) -> Accumulators:
        """State for no groups."""
        return cls.of_records(plan, {name: np.zeros(0) for name in plan.columns}, 0)

    @classmethod
    def of_records(
        cls, plan: AccumulatorPlan, columns: Mapping[str, Floats], count: int
    ) -> Accumulators:
        """One group per record, from ``count`` records' float64 input columns."""
        rows = np.arange(count, dtype=np.int64)
        return cls(
            count=np.ones(count, np.int64),
            sums={name: columns[name] for name in plan.sums},
            mins={name: columns[name] for name in plan.mins},
            maxs={name: columns[name] for name in plan.maxs},
            distinct={
                name: _unique_pairs(rows, _value_bits(columns[name])) for name in plan.distinct
            },
            hists={
                name: _merge_buckets(rows, bucket_codes(columns[name]), np.ones(count, np.int64))
                for name in plan.hists
            },
        )

    def regroup(self, mapping: Ints, size: int) -> Accumulators:
        """Merge groups: group ``i`` becomes part of new group ``mapping[i]``.

        Args:
            mapping: The new group of each current group, ``0 <= mapping[i] < size``.
            size: The number of new groups.

        Returns:
            The merged state; a new group that nothing maps to has count 0.
        """
        # bincount sums in float64: exact for counts below 2**53.
        count = np.bincount(mapping, weights=self.count, minlength=size).astype(np.int64)
        sums = {k: _sum_at(mapping, v, size) for k, v in self.sums.items()}
        mins = {k: _reduce_at(np.minimum, mapping, v, size, np.inf) for k, v in self.mins.items()}
        maxs = {k: _reduce_at(np.maximum, mapping, v, size, -np.inf) for k, v in self.maxs.items()}
        distinct = {k: _unique_pairs(mapping[g], v) for k, (g, v) in self.distinct.items()}
        hists = {k: _merge_buckets(mapping[g], b, c) for k, (g, b, c) in self.hists.items()}
        return Accumulators(count, sums, mins, maxs, distinct, hists)

    def take(self, indices: Ints) -> Accumulators:
        """Keep groups ``indices`` (distinct), renumbered in that order from 0."""
        renumber = np.full(self.size, -1, np.int64)
        renumber[indices] = np.arange(indices.size)

        def rows(group: Ints) -> tuple[Ints, npt.NDArray[np.bool_]]:
            new = renumber[group]
            return new, new >= 0

        distinct = {}
        for name, (group, values) in self.distinct.items():
            new, keep = rows(group)
            distinct[name] = _unique_pairs(new[keep], values[keep])
        hists = {}
        for name, (group, buckets, counts) in self.hists.items():
            new, keep = rows(group)
            hists[name] = _merge_buckets(new[keep], buckets[keep], counts[keep])
        return Accumulators(
            count=self.count[indices],
            sums={k: v[indices] for k, v in self.sums.items()},
            mins={k: v[indices] for k, v in self.mins.items()},
            maxs={k: v[indices] for k, v in self.maxs.items()},
            distinct=distinct,
            hists=hists,
        )

    @classmethod
    def concat(cls, parts: Sequence[Accumulators]) -> Accumulators:
        """Stack the groups of ``parts`` (all built from one plan), in order."""
        first = parts[0]
        if len(parts) == 1:
            return first
        offsets = np.cumsum([0, *(part.size for part in parts[:-1])])

        def shifted(index: int, field: str, name: str) -> Ints:
            group: Ints = getattr(parts[index], field)[name][0] + offsets[index]
            return group

        distinct = {
            name: (
                np.concatenate([shifted(i, "distinct", name) for i in range(len(parts))]),
                np.concatenate([p.distinct[name][1] for p in parts]),
            )
            for name in first.distinct
        }
        hists = {
            name: (
                np.concatenate([shifted(i, "hists", name) for i in range(len(parts))]),
                np.concatenate([p.hists[name][1] for p in parts]),
                np.concatenate([p.hists[name][2] for p in parts]),
            )
            for name in first.hists
        }
        return cls(
            count=np.concatenate([p.count for p in parts]),
            sums={k: np.concatenate([p.sums[k] for p in parts]) for k in first.sums},
            mins={k: np.concatenate([p.mins[k] for p in parts]) for k in first.mins},
            maxs={k: np.concatenate([p.maxs[k] for p in parts]) for k in first.maxs},
            distinct=distinct,
            hists=hists,
        )

    def results(self, aggregations: Sequence[Aggregation]) -> dict[str, Ints | Floats]:
        """Each aggregation's value per group: int64 for count and distinct, else float64."""
        out: dict[str, Ints | Floats] = {}
        for agg in aggregations:
            column = agg.column or ""
            if agg.function == "count":
                out[agg.output] = self.count.copy()
            elif agg.function == "sum":
                out[agg.output] = self.sums[column].copy()
            elif agg.function == "mean":
                with np.errstate(invalid="ignore", divide="ignore"):
                    out[agg.output] = self.sums[column] / self.count
            elif agg.function == "min":
                out[agg.output] = self.mins[column].copy()
            elif agg.function == "max":
                out[agg.output] = self.maxs[column].copy()
            elif agg.function == "distinct":
                group = self.distinct[column][0]
                out[agg.output] = np.bincount(group, minlength=self.size).astype(np.int64)
            else:
                out[agg.output] = self._quantile(column, agg.quantile or 0.0)
        return out

    def _quantile(self, column: str, quantile: float) -> Floats:
        group, buckets, counts = self.hists[column]
        if self.size == 0:
            return np.zeros(0)
        cumulative = np.cumsum(counts)
        totals = np.bincount(group, weights=counts, minlength=self.size).astype(np.int64)
        before = np.cumsum(totals) - totals
        # The element of rank floor(q * (n - 1)) (0-based) in sorted order, per group.
        rank = np.floor(quantile * (totals - 1)).astype(np.int64)
        row = np.searchsorted(cumulative, before + np.maximum(rank, 0), side="right")
        values = bucket_values(buckets[np.minimum(row, buckets.size - 1)])
        return np.where(totals > 0, values, np.nan)

    def to_arrays(self, prefix: str) -> dict[str, npt.NDArray[np.generic]]:
        """Every array, named for a snapshot (see :meth:`from_arrays`)."""
        arrays: dict[str, npt.NDArray[np.generic]] = {f"{prefix}count": self.count}
        for field in ("sums", "mins", "maxs"):
            for name, values in getattr(self, field).items():
                arrays[f"{prefix}{field}/{name}"] = values
        for name, pairs in self.distinct.items():
            for index, part in enumerate(pairs):
                arrays[f"{prefix}distinct{index}/{name}"] = part
        for name, rows in self.hists.items():
            for index, part in enumerate(rows):
                arrays[f"{prefix}hists{index}/{name}"] = part
        return arrays

    @classmethod
    def from_arrays(
        cls, plan: AccumulatorPlan, arrays: Mapping[str, npt.NDArray[np.generic]], prefix: str
    ) -> Accumulators:
        """Rebuild state saved by :meth:`to_arrays`; raises ``KeyError`` if an array is missing."""

        def ints(name: str) -> Ints:
            return np.asarray(arrays[prefix + name], dtype=np.int64)

        def floats(name: str) -> Floats:
            return np.asarray(arrays[prefix + name], dtype=np.float64)

        return cls(
            count=ints("count"),
            sums={n: floats(f"sums/{n}") for n in plan.sums},
            mins={n: floats(f"mins/{n}") for n in plan.mins},
            maxs={n: floats(f"maxs/{n}") for n in plan.maxs},
            distinct={n: (ints(f"distinct0/{n}"), ints(f"distinct1/{n}")) for n in plan.distinct},
            hists={
                n: (ints(f"hists0/{n}"), ints(f"hists1/{n}"), ints(f"hists2/{n}"))
                for n in plan.hists
            },
        )


def unique_inverse(values: Ints) -> tuple[Ints, Ints]:
    """``np.unique(values, return_inverse=True)``, without sorting when values are dense.

    Key ids and window numbers are small integers; for them a presence table is a
    counting sort, several times faster than the comparison sort ``np.unique`` does.
    """
    if values.size == 0:
        return values, values
    low = int(values.min())
    span = int(values.max()) - low + 1
    if span > 4 * values.size + 1024:
        unique, inverse = np.unique(values, return_inverse=True)
        return unique, inverse.reshape(-1)
    present = np.zeros(span, np.bool_)
    present[values - low] = True
    rank = np.cumsum(present) - 1
    return np.flatnonzero(present) + low, rank[values - low]


def _value_bits(values: Floats) -> Ints:
    # Distinct compares float64 values; + 0.0 turns -0.0 into 0.0 so they count once.
    bits: Ints = (values + 0.0).view(np.int64)
    return bits


def _sum_at(mapping: Ints, values: Floats, size: int) -> Floats:
    sums: Floats = np.bincount(mapping, weights=values, minlength=size).astype(np.float64)
    return sums


def _reduce_at(
    ufunc: np.ufunc, mapping: Ints, values: Floats, size: int, identity: float
) -> Floats:
    out = np.full(size, identity)
    ufunc.at(out, mapping, values)
    return out


def _row_order(group: Ints, other: Ints) -> Ints:
    """The order that sorts rows by ``group``, then ``other``."""
    low, high = int(other.min()), int(other.max())
    if high - low < 2**32:
        span, rank = high - low + 1, other - low
    else:
        # Wide values (float bits): rank them first, so one int64 key holds both.
        values, rank = np.unique(other, return_inverse=True)
        span, rank = values.size, rank.reshape(-1)
    if int(group.max()) * span < 2**62:
        # One single-key sort is several times faster than lexsort on two keys.
        order: Ints = np.argsort(group * span + rank)
        return order
    return np.lexsort((other, group))


def _unique_pairs(group: Ints, values: Ints) -> tuple[Ints, Ints]:
    if group.size == 0:
        return _empty_ints(), _empty_ints()
    order = _row_order(group, values)
    group, values = group[order], values[order]
    keep = np.ones(group.size, np.bool_)
    keep[1:] = (group[1:] != group[:-1]) | (values[1:] != values[:-1])
    return group[keep], values[keep]


def _merge_buckets(group: Ints, buckets: Ints, counts: Ints) -> tuple[Ints, Ints, Ints]:
    if group.size == 0:
        return _empty_ints(), _empty_ints(), _empty_ints()
    order = _row_order(group, buckets)
    group, buckets, counts = group[order], buckets[order], counts[order]
    starts = np.ones(group.size, np.bool_)
    starts[1:] = (group[1:] != group[:-1]) | (buckets[1:] != buckets[:-1])
    first = np.flatnonzero(starts)
    return group[first], buckets[first], np.add.reduceat(counts, first)
