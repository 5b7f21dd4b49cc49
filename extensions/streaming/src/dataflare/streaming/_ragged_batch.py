"""Keys and values built with whole-array numpy operations, not a ``bytes`` per record.

They are kept packed, as the ``(offsets, data)`` pairs that
:meth:`RecordBatch.from_arrays` and :meth:`RecordBatch.with_keys` take: ``len + 1``
int64 offsets from 0 into one uint8 array.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from dataflare.kernel import RecordBatch

Packed = tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]

__all__ = ("IntKeyTable", "batch_from_matrix", "keys_from_column", "with_keys")


def keys_from_column(values: npt.NDArray[np.int64] | npt.NDArray[np.float64]) -> Packed:
    """Render each value as decimal text, the key of its record.

    Only the distinct values are formatted in Python (one step per distinct key);
    the per-record key bytes are gathered with numpy.
    """
    distinct, inverse = np.unique(values, return_inverse=True)
    table = _pack([_text(v).encode() for v in distinct.tolist()])
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
        self._table: Packed | None = None

    def keys(self, values: npt.NDArray[np.int64]) -> Packed | None:
        """The keys of ``values``, or ``None`` when they span too wide a range."""
        if values.size == 0:
            return _pack([])
        low, high = int(values.min()), int(values.max())
        table = self._table
        size = 0 if table is None else len(table[0]) - 1
        if table is None or low < self._base or high >= self._base + size:
            if table is not None:
                low, high = min(low, self._base), max(high, self._base + size - 1)
            if high - low >= self.MAX_SPAN:
                return None
            self._base = low
            table = self._table = _pack([str(value).encode() for value in range(low, high + 1)])
        return _gather(table, values - self._base)


def _pack(items: list[bytes]) -> Packed:
    offsets = np.zeros(len(items) + 1, np.int64)
    np.cumsum(np.fromiter(map(len, items), np.int64, count=len(items)), out=offsets[1:])
    return offsets, np.frombuffer(b"".join(items), np.uint8)


def _gather(table: Packed, index: npt.NDArray[np.int64]) -> Packed:
    """Item ``index[i]`` of ``table`` for every ``i``, packed."""
    table_offsets, table_data = table
    lengths = np.diff(table_offsets)[index]
    offsets = np.zeros(lengths.size + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    # Byte j of record i's key is table_data[start of its item + j].
    starts = np.repeat(table_offsets[:-1][index] - offsets[:-1], lengths)
    gather = starts + np.arange(int(offsets[-1]), dtype=np.int64)
    return offsets, table_data[gather]


def with_keys(batch: RecordBatch, keys: Packed) -> RecordBatch:
    """Return ``batch`` with its keys replaced by ``keys`` (one per record)."""
    return batch.with_keys(keys)


def batch_from_matrix(
    values: npt.NDArray[np.uint8],
    *,
    timestamps: npt.NDArray[np.int64],
    columns: dict[str, npt.NDArray[np.int64] | npt.NDArray[np.float64]],
) -> RecordBatch:
    """Build a batch whose values are the rows of a ``(count, width)`` byte matrix."""
    count, width = values.shape
    offsets = np.arange(count + 1, dtype=np.int64) * width
    return RecordBatch.from_arrays(
        values=(offsets, values.reshape(-1)), timestamps=timestamps, columns=columns
    )


def _text(value: int | float) -> str:
    # 7.0 keys as "7", so an integer stored as a float groups with the integer.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
