"""Keys and values built with whole-array numpy operations, not a ``bytes`` per record.

The kernel's :class:`~dataflare.kernel.RecordBatch` takes keys and values only as
Python sequences of ``bytes``, so this module builds those regions with numpy
and writes the batch through the kernel's batch parts. It is the one place that
touches those private kernel modules; the proposed public
``RecordBatch.with_keys`` and ``RecordBatch.from_ragged`` would replace it.
"""

from __future__ import annotations

import attrs
import numpy as np
import numpy.typing as npt

from dataflare.kernel import RecordBatch
from dataflare.kernel._parts import BatchParts
from dataflare.kernel._ragged import Ragged, offsets_from_lengths
from dataflare.kernel._reader import read_batch
from dataflare.kernel._writer import write_batch

__all__ = ("IntKeyTable", "batch_from_matrix", "keys_from_column", "with_keys")


def keys_from_column(values: npt.NDArray[np.int64] | npt.NDArray[np.float64]) -> Ragged:
    """Render each value as decimal text, the key of its record.

    Only the distinct values are formatted in Python (one step per distinct key);
    the per-record key bytes are gathered with numpy.
    """
    distinct, inverse = np.unique(values, return_inverse=True)
    table = Ragged.from_sequence([_text(v).encode() for v in distinct.tolist()], what="keys")
    return _gather(table, inverse)


class IntKeyTable:
    """Decimal keys for a range of integers, formatted once and reused for every batch.

    Integer key columns (user ids, device numbers, regions) usually span a small
    range; for those, re-keying a batch is a subtraction and a gather, with no
    sort and no formatting. Values outside the range widen it, up to
    :data:`MAX_SPAN` integers; past that :meth:`keys` returns ``None``.
    """

    MAX_SPAN = 1 << 20

    def __init__(self) -> None:
        self._base = 0
        self._table: Ragged | None = None

    def keys(self, values: npt.NDArray[np.int64]) -> Ragged | None:
        """The keys of ``values``, or ``None`` when they span too wide a range."""
        if values.size == 0:
            return Ragged.empty(0)
        low, high = int(values.min()), int(values.max())
        table = self._table
        if table is None or low < self._base or high >= self._base + len(table):
            if table is not None:
                low, high = min(low, self._base), max(high, self._base + len(table) - 1)
            if high - low >= self.MAX_SPAN:
                return None
            self._base = low
            texts = [str(value).encode() for value in range(low, high + 1)]
            table = self._table = Ragged.from_sequence(texts, what="keys")
        return _gather(table, values - self._base)


def _gather(table: Ragged, index: npt.NDArray[np.int64]) -> Ragged:
    """Item ``index[i]`` of ``table`` for every ``i``, as a new ragged sequence."""
    lengths = np.diff(table.offsets)[index]
    offsets = offsets_from_lengths(lengths)
    # Byte j of record i's key is table.data[start of its item + j].
    starts = np.repeat(table.offsets[:-1][index] - offsets[:-1], lengths)
    gather = starts + np.arange(int(offsets[-1]), dtype=np.int64)
    return Ragged(offsets, table.data[gather])


def with_keys(batch: RecordBatch, keys: Ragged) -> RecordBatch:
    """Return ``batch`` with its keys replaced by ``keys`` (one per record)."""
    parts = BatchParts.from_view(read_batch(batch.buffer))
    return RecordBatch.from_buffer(write_batch(attrs.evolve(parts, keys=keys)))


def batch_from_matrix(
    values: npt.NDArray[np.uint8],
    *,
    keys: Ragged,
    timestamps: npt.NDArray[np.int64],
    columns: dict[str, npt.NDArray[np.int64] | npt.NDArray[np.float64]],
) -> RecordBatch:
    """Build a batch whose values are the rows of a ``(count, width)`` byte matrix."""
    count, width = values.shape
    offsets = np.arange(count + 1, dtype=np.int64) * width
    parts = BatchParts.from_arrays(timestamps=timestamps, columns=columns, count=count)
    parts = attrs.evolve(parts, keys=keys, values=Ragged(offsets, values.reshape(-1)))
    return RecordBatch.from_buffer(write_batch(parts))


def _text(value: int | float) -> str:
    # 7.0 keys as "7", so an integer stored as a float groups with the integer.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
