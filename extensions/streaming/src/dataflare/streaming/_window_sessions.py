"""State of session windows: one table of live sessions, merged with each batch as arrays.

A record at ``t`` opens the interval ``[t, t + gap)``; intervals of one key that
overlap form one session ``[first record, last record + gap)``. The live sessions
are one table sorted by key then start. A batch takes out the sessions of its
keys, sorts them with its records, and finds session boundaries with a running
maximum of interval ends per key, all in numpy; the merged sessions go back in
with one insertion. The cost per batch is the batch's size plus one pass over the
table (a copy, not a Python step per session), so it suits up to about a million
live sessions.

Lateness: a record is late when the session it would form, merged with every
live session and every record of its batch, already ended ``lateness`` or more
before the watermark. Such a session is made of new records only (live sessions
end later than that), so it is dropped whole.

Example::

    store = SessionStore(plan, gap=30_000, lateness=0)
    late, admitted = store.add(codes, key_ids, times, columns, watermark)
    fired = store.fire(watermark)
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from dataflare.streaming._accumulators import AccumulatorPlan, Accumulators, Floats, Ints
from dataflare.streaming._window_panes import Fired

__all__ = ("SessionStore",)

Bools = npt.NDArray[np.bool_]


class SessionStore:
    """Live session windows of every key.

    Args:
        plan: The state each session keeps.
        gap: Records of a key less than this far apart share a session, ms.
        lateness: Allowed lateness, ms (0 unless the late policy is ``allow``).
    """

    def __init__(self, plan: AccumulatorPlan, *, gap: int, lateness: int) -> None:
        self._plan = plan
        self._gap = gap
        self._lateness = lateness
        self._keys: Ints = np.zeros(0, np.int64)
        self._starts: Ints = np.zeros(0, np.int64)
        self._ends: Ints = np.zeros(0, np.int64)
        self._dirty: Bools = np.zeros(0, np.bool_)
        """Sessions with updates not yet emitted."""
        self._acc = Accumulators.empty(plan)

    def add(
        self,
        codes: Ints,
        key_ids: Ints,
        times: Ints,
        columns: Mapping[str, Floats],
        watermark: int,
    ) -> tuple[Bools, int]:
        """Merge a batch into the sessions; returns ``(late, admitted)`` as ``PaneStore.add``."""
        keys = key_ids[codes]
        batch_keys = np.sort(key_ids)  # distinct already: one id per batch key
        old = _rows_of(self._keys, batch_keys)
        nold = old.size
        item_keys = np.concatenate([self._keys[old], keys])
        item_starts = np.concatenate([self._starts[old], times])
        item_ends = np.concatenate([self._ends[old], times + self._gap])
        order = np.lexsort((item_starts, item_keys))
        s_keys, s_starts, s_ends = item_keys[order], item_starts[order], item_ends[order]
        reach = _running_max_per_key(s_keys, s_ends)
        opens = np.ones(order.size, np.bool_)
        opens[1:] = (s_keys[1:] != s_keys[:-1]) | (s_starts[1:] >= reach[:-1])
        firsts = np.flatnonzero(opens)
        group_sorted = np.cumsum(opens) - 1
        g_keys, g_starts = s_keys[firsts], s_starts[firsts]
        g_ends = np.maximum.reduceat(s_ends, firsts)
        group = np.empty(order.size, np.int64)
        group[order] = group_sorted
        # A session that expired already holds only new records: its records are late.
        expired = g_ends + self._lateness <= watermark
        late = expired[group[nold:]]
        admitted = int(np.count_nonzero(~late & (g_ends[group[nold:]] <= watermark)))
        keep_group = ~expired
        renumber = np.cumsum(keep_group) - 1
        kept_items = np.flatnonzero(keep_group[group])
        new_acc = Accumulators.of_records(self._plan, columns, times.size)
        items_acc = Accumulators.concat([self._acc.take(old), new_acc]).take(kept_items)
        merged = items_acc.regroup(renumber[group[kept_items]], int(np.count_nonzero(keep_group)))
        is_new = np.zeros(order.size, np.bool_)
        is_new[nold:] = True
        is_new[:nold] = self._dirty[old]
        dirty = np.bincount(group, weights=is_new, minlength=firsts.size)[keep_group] > 0
        self._replace(
            old, g_keys[keep_group], g_starts[keep_group], g_ends[keep_group], dirty, merged
        )
        return late, admitted

    def _replace(
        self, old: Ints, keys: Ints, starts: Ints, ends: Ints, dirty: Bools, acc: Accumulators
    ) -> None:
        rest = np.ones(self._keys.size, np.bool_)
        rest[old] = False
        rest_rows = np.flatnonzero(rest)
        rest_keys = self._keys[rest_rows]
        # The new sessions' keys are absent from the rest, so inserting them by key
        # keeps the table sorted by key, then start.
        at = np.searchsorted(rest_keys, keys) + np.arange(keys.size)
        total = rest_rows.size + keys.size
        slot_of_rest = np.ones(total, np.bool_)
        slot_of_rest[at] = False
        position = np.empty(total, np.int64)
        position[: rest_rows.size] = np.flatnonzero(slot_of_rest)
        position[rest_rows.size :] = at

        def place(mine: npt.NDArray[Any], theirs: npt.NDArray[Any]) -> npt.NDArray[Any]:
            out = np.empty(total, mine.dtype)
            out[position] = np.concatenate([mine[rest_rows], theirs])
            return out

        self._keys = place(self._keys, keys)
        self._starts = place(self._starts, starts)
        self._ends = place(self._ends, ends)
        self._dirty = place(self._dirty, dirty)
        both = Accumulators.concat([self._acc.take(rest_rows), acc])
        self._acc = both.regroup(position, total)

    def fire(self, watermark: int, *, final: bool = False) -> list[Fired]:
        """Emit updated sessions the watermark closed (all with ``final``); drop expired ones."""
        if not self._keys.size:
            return []
        closed = self._dirty if final else self._dirty & (self._ends <= watermark)
        fired: list[Fired] = []
        if closed.any():
            rows = np.flatnonzero(closed)
            fired.append(
                Fired(self._keys[rows], self._starts[rows], self._ends[rows], self._acc.take(rows))
            )
            self._dirty = self._dirty & ~closed
        gone = (
            np.ones(self._keys.size, np.bool_)
            if final
            else (self._ends + self._lateness <= watermark)
        )
        if gone.any():
            keep = np.flatnonzero(~gone)
            self._keys, self._starts, self._ends = (
                self._keys[keep],
                self._starts[keep],
                self._ends[keep],
            )
            self._dirty = self._dirty[keep]
            self._acc = self._acc.take(keep)
        return fired

    def open_windows(self) -> int:
        """The number of live sessions."""
        return int(self._keys.size)

    def live_keys(self) -> Ints:
        """Every key id with a live session."""
        return np.unique(self._keys)

    def renumber_keys(self, renumber: Ints) -> None:
        """Replace every key id ``k`` with ``renumber[k]`` (an order-keeping renumbering)."""
        self._keys = renumber[self._keys]

    def to_state(self) -> tuple[list[Any], dict[str, npt.NDArray[np.generic]]]:
        """The sessions as JSON-ready metadata and named arrays."""
        arrays: dict[str, npt.NDArray[np.generic]] = {
            "sessions/keys": self._keys,
            "sessions/starts": self._starts,
            "sessions/ends": self._ends,
            "sessions/dirty": self._dirty,
        }
        arrays.update(self._acc.to_arrays("sessions/"))
        return [], arrays

    def load_state(self, meta: list[Any], arrays: Mapping[str, npt.NDArray[np.generic]]) -> None:
        """Replace the sessions with what :meth:`to_state` returned."""
        del meta  # sessions keep everything in arrays
        self._keys = np.asarray(arrays["sessions/keys"], np.int64)
        self._starts = np.asarray(arrays["sessions/starts"], np.int64)
        self._ends = np.asarray(arrays["sessions/ends"], np.int64)
        self._dirty = np.asarray(arrays["sessions/dirty"], np.bool_)
        self._acc = Accumulators.from_arrays(self._plan, arrays, "sessions/")


def _rows_of(sorted_keys: Ints, wanted: Ints) -> Ints:
    """Positions of every row of ``sorted_keys`` whose key is in ``wanted`` (sorted)."""
    lo = np.searchsorted(sorted_keys, wanted, side="left")
    hi = np.searchsorted(sorted_keys, wanted, side="right")
    lengths = hi - lo
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    shift = np.repeat(lo - (np.cumsum(lengths) - lengths), lengths)
    rows: Ints = np.arange(total, dtype=np.int64) + shift
    return rows


def _running_max_per_key(keys: Ints, values: Ints) -> Ints:
    """The running maximum of ``values`` restarted at each new key (``keys`` sorted)."""
    rank = np.cumsum(np.concatenate([[0], keys[1:] != keys[:-1]])).astype(np.int64)
    low = int(values.min())
    span = int(values.max()) - low + 1
    if int(rank[-1]) * span < 2**62:
        # Lift each key's values above every earlier key's, so one running maximum
        # over the whole array never carries a value across keys.
        lifted = rank * span + (values - low)
        result: Ints = np.maximum.accumulate(lifted) - rank * span + low
        return result
    out = np.empty_like(values)
    bounds = [0, *(np.flatnonzero(np.diff(rank)) + 1).tolist(), values.size]
    for lo, hi in itertools.pairwise(bounds):  # rare: times spanning ~2**62 / keys
        out[lo:hi] = np.maximum.accumulate(values[lo:hi])
    return out
