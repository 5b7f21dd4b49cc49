"""State of tumbling and sliding windows: one pane per window start, closed by deadline.

Each open window (a start time) is a pane holding one accumulator row per key seen
in it. A batch is aggregated per (window, key) in a few numpy passes, then each
pane appends the batch's rows to a pending list; pending rows are merged into the
pane once they outnumber it, so folding a batch in costs the batch's size
(amortised), never the number of keys held. The watermark closes panes in order
of their end: only panes that close are touched, and the number of panes is the
number of open windows (``size / slide`` plus the allowed lateness), not of keys.

Example::

    store = PaneStore(plan, size=1000, slide=1000, lateness=0)
    late, admitted = store.add(codes, key_ids, times, columns, watermark)
    fired = store.fire(watermark)   # Fired rows for every pane the watermark closed
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from dataflare.streaming._accumulators import (
    AccumulatorPlan,
    Accumulators,
    Floats,
    Ints,
    unique_inverse,
)
from dataflare.streaming._window_assign import assign_windows

__all__ = ("Fired", "PaneStore")

# Below this many pending rows a pane is not worth merging yet.
_MIN_PENDING = 4096


@attrs.frozen
class Fired:
    """Window results to emit: one row per (key, window), aligned with ``acc``."""

    keys: Ints
    """Global key ids."""
    starts: Ints
    """Window starts, ms."""
    ends: Ints
    """Window ends, ms."""
    acc: Accumulators
    """Their accumulators."""


@attrs.define
class _Pane:
    keys: Ints
    """Global key ids with merged state, sorted and unique."""
    acc: Accumulators
    pending_keys: list[Ints] = attrs.field(factory=list)
    pending: list[Accumulators] = attrs.field(factory=list)
    pending_rows: int = 0
    emitted: bool = False
    """Whether a result was emitted already (later updates are emitted again)."""
    changed: Ints = attrs.field(factory=lambda: np.zeros(0, np.int64))
    """Keys updated since the last emission, once ``emitted``; sorted and unique."""

    def add(self, keys: Ints, acc: Accumulators) -> None:
        self.pending_keys.append(keys)
        self.pending.append(acc)
        self.pending_rows += acc.rows
        # Merge once pending rows outnumber merged ones: each row is merged O(log n)
        # times over a window's life, and pending state is at most the merged size.
        if self.pending_rows > max(self.acc.rows, _MIN_PENDING):
            self.compact()

    @property
    def updated(self) -> bool:
        return not self.emitted or bool(self.pending) or self.changed.size > 0

    def compact(self) -> None:
        if not self.pending:
            return
        new_keys = np.concatenate(self.pending_keys)
        if self.emitted:
            self.changed = np.union1d(self.changed, new_keys)
        self.keys, inverse = unique_inverse(np.concatenate([self.keys, new_keys]))
        self.acc = Accumulators.concat([self.acc, *self.pending]).regroup(inverse, self.keys.size)
        self.pending_keys, self.pending, self.pending_rows = [], [], 0

    def emit(self) -> tuple[Ints, Accumulators]:
        self.compact()
        if self.emitted:
            rows = np.searchsorted(self.keys, self.changed)
            keys, acc = self.keys[rows], self.acc.take(rows)
        else:
            keys, acc = self.keys, self.acc
        self.emitted = True
        self.changed = np.zeros(0, np.int64)
        return keys, acc


class PaneStore:
    """Open tumbling or sliding windows of every key.

    Args:
        plan: The state each group keeps.
        size: Window length, ms.
        slide: Distance between window starts, ms (``size`` for tumbling).
        lateness: Allowed lateness, ms (0 unless the late policy is ``allow``).
    """

    def __init__(self, plan: AccumulatorPlan, *, size: int, slide: int, lateness: int) -> None:
        self._plan = plan
        self._size = size
        self._slide = slide
        self._lateness = lateness
        self._panes: dict[int, _Pane] = {}

    def add(
        self,
        codes: Ints,
        key_ids: Ints,
        times: Ints,
        columns: Mapping[str, Floats],
        watermark: int,
    ) -> tuple[npt.NDArray[np.bool_], int]:
        """Fold a batch into its windows.

        Args:
            codes: Each record's key, numbered within the batch.
            key_ids: The global id of each batch key number.
            times: Event times, ms.
            columns: The input columns, float64.
            watermark: The watermark the batch is judged against.

        Returns:
            ``(late, admitted)``: which records were refused because every window they
            fall into has expired, and how many records updated a closed window.
        """
        records, starts = assign_windows(times, size=self._size, slide=self._slide)
        ends = starts + self._size
        expired = ends + self._lateness <= watermark
        closed = ends <= watermark
        late = np.zeros(times.size, np.bool_)
        admitted = 0
        if closed.any():
            live = ~expired
            late = np.bincount(records[live], minlength=times.size) == 0
            admitted = int(
                np.count_nonzero(np.bincount(records[live & closed], minlength=times.size))
            )
            records, starts = records[live], starts[live]
        if records.size:
            self._fold(codes[records], key_ids, starts, {k: v[records] for k, v in columns.items()})
        return late, admitted

    def _fold(
        self, codes: Ints, key_ids: Ints, starts: Ints, columns: Mapping[str, Floats]
    ) -> None:
        nkeys = key_ids.size
        first = int(starts.min())
        window = (starts - first) // self._slide
        nwindows = int(window.max()) + 1
        if nwindows > 4 * starts.size:
            # Far-apart windows: number only the ones present.
            present, window = unique_inverse(window)
            nwindows = present.size
        else:
            present = np.arange(nwindows, dtype=np.int64)
        combined = window * nkeys + codes
        if nwindows * nkeys <= max(4 * starts.size, 1 << 16):
            # Few (window, key) cells: a dense count is cheaper than sorting.
            seen = np.bincount(combined, minlength=nwindows * nkeys) > 0
            cells = np.flatnonzero(seen)
            group = (np.cumsum(seen) - 1)[combined]
        else:
            cells, group = unique_inverse(combined)
        acc = Accumulators.of_records(self._plan, columns, codes.size).regroup(group, cells.size)
        cell_starts = first + present[cells // nkeys] * self._slide
        cell_keys = key_ids[cells % nkeys]
        # Cells are numbered window first, so each window's rows are one run.
        bounds = np.flatnonzero(np.diff(cell_starts)) + 1
        for lo, hi in zip([0, *bounds.tolist()], [*bounds.tolist(), cells.size], strict=True):
            start = int(cell_starts[lo])
            rows = np.arange(lo, hi, dtype=np.int64)
            part = acc if (lo, hi) == (0, cells.size) else acc.take(rows)
            pane = self._panes.get(start)
            if pane is None:
                self._panes[start] = pane = _Pane(
                    np.zeros(0, np.int64), Accumulators.empty(self._plan)
                )
            pane.add(cell_keys[lo:hi], part)

    def fire(self, watermark: int, *, final: bool = False) -> list[Fired]:
        """Emit the windows the watermark closed (all with ``final``) and drop expired ones."""
        fired: list[Fired] = []
        for start in sorted(self._panes):
            end = start + self._size
            if end > watermark and not final:
                break  # panes close in order of start: the rest are open
            pane = self._panes[start]
            if pane.updated:
                keys, acc = pane.emit()
                starts = np.full(keys.size, start, np.int64)
                fired.append(Fired(keys, starts, starts + self._size, acc))
            if final or end + self._lateness <= watermark:
                del self._panes[start]
        return fired

    def open_windows(self) -> int:
        """The number of (key, window) accumulators held."""
        for pane in self._panes.values():
            pane.compact()
        return sum(pane.keys.size for pane in self._panes.values())

    def live_keys(self) -> Ints:
        """Every key id with state (to find keys that can be forgotten)."""
        for pane in self._panes.values():
            pane.compact()
        if not self._panes:
            return np.zeros(0, np.int64)
        return np.unique(np.concatenate([pane.keys for pane in self._panes.values()]))

    def renumber_keys(self, renumber: Ints) -> None:
        """Replace every key id ``k`` with ``renumber[k]`` (an order-keeping renumbering)."""
        for pane in self._panes.values():
            pane.compact()
            pane.keys = renumber[pane.keys]
            pane.changed = renumber[pane.changed]

    def to_state(self) -> tuple[list[Any], dict[str, npt.NDArray[np.generic]]]:
        """The panes as JSON-ready metadata and named arrays."""
        meta: list[Any] = []
        arrays: dict[str, npt.NDArray[np.generic]] = {}
        for index, (start, pane) in enumerate(sorted(self._panes.items())):
            pane.compact()
            meta.append([start, pane.emitted])
            arrays[f"pane{index}/keys"] = pane.keys
            arrays[f"pane{index}/changed"] = pane.changed
            arrays.update(pane.acc.to_arrays(f"pane{index}/"))
        return meta, arrays

    def load_state(self, meta: list[Any], arrays: Mapping[str, npt.NDArray[np.generic]]) -> None:
        """Replace the panes with what :meth:`to_state` returned."""
        self._panes = {}
        for index, (start, emitted) in enumerate(meta):
            acc = Accumulators.from_arrays(self._plan, arrays, f"pane{index}/")
            keys = np.asarray(arrays[f"pane{index}/keys"], np.int64)
            changed = np.asarray(arrays[f"pane{index}/changed"], np.int64)
            self._panes[int(start)] = _Pane(keys, acc, emitted=bool(emitted), changed=changed)
