"""Variable-length byte strings held as one offsets array and one data array.

Keys, values and per-record header blocks of a record batch are each a
:class:`Ragged`: item ``i`` is ``data[offsets[i]:offsets[i + 1]]``. Every operation
here (select, take, slice, concat, codes) is a handful of numpy calls over whole
arrays, never a Python step per item, which is what lets a batch be filtered or
grouped at millions of records per second.

Example::

    keys = Ragged.from_sequence([b"alice", b"bob", b"alice"])
    codes, first = keys.codes()      # codes == [0, 1, 0], first == [0, 1]
    keys.select(codes == 0).item(1)  # b"alice"
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Final

import attrs
import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from dataflare.kernel._grouping import group_codes
from dataflare.kernel.errors import DataError

__all__ = ("Ragged", "offsets_from_lengths")

# Temporary arrays are built for at most about this many bytes at a time, so
# selecting from or gathering a 1 GB region never needs GBs of masks or indices.
_CHUNK_BYTES: Final = 1 << 22

_EMPTY_BYTES: Final = np.zeros(0, np.uint8)


def offsets_from_lengths(lengths: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Turn item lengths into the ``len + 1`` offsets that start at 0.

    Args:
        lengths: The length of each item.

    Returns:
        The offsets, as int64.
    """
    offsets = np.zeros(lengths.size + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets


@attrs.frozen(eq=False)
class Ragged:
    """A sequence of byte strings stored as offsets plus one contiguous data array."""

    offsets: npt.NDArray[np.int64]
    """``len + 1`` non-decreasing offsets into :attr:`data`, starting at 0."""
    data: npt.NDArray[np.uint8]
    """The items' bytes, back to back; exactly ``offsets[-1]`` long."""

    @classmethod
    def from_sequence(cls, items: Sequence[bytes], *, what: str = "items") -> Ragged:
        """Pack a sequence of byte strings, at C speed (one join, one length pass).

        Args:
            items: The byte strings.
            what: What they are (``"values"``), for error messages.

        Returns:
            The packed items.

        Raises:
            TypeError: An item is not a bytes-like object of single bytes.
        """
        try:
            joined = b"".join(items)
        except TypeError as exc:
            raise TypeError(f"{what} must be bytes: {exc}") from None
        lengths = np.fromiter(map(len, items), np.int64, count=len(items))
        offsets = offsets_from_lengths(lengths)
        # len() of a memoryview counts items, not bytes; the join counted bytes.
        if offsets[-1] != len(joined):
            raise TypeError(f"{what} must be bytes (or byte-format buffers)")
        return cls(offsets, np.frombuffer(joined, np.uint8))

    @classmethod
    def from_packed(cls, offsets: npt.ArrayLike, data: npt.ArrayLike, *, what: str) -> Ragged:
        """Take items already packed as ``(offsets, data)`` arrays, checking them.

        Args:
            offsets: ``len + 1`` non-decreasing integer offsets starting at 0.
            data: The bytes (uint8), exactly ``offsets[-1]`` long.
            what: What they are (``"keys"``), for error messages.

        Raises:
            DataError: The offsets are not a valid index of the data.
        """
        starts = np.asarray(offsets)
        raw = np.asarray(data)
        if starts.ndim != 1 or starts.size == 0 or starts.dtype.kind not in "iu":
            raise DataError(f"{what} offsets must be a 1-d integer array of len + 1, from 0")
        if raw.ndim != 1 or raw.dtype != np.uint8:
            raise DataError(f"{what} data must be a 1-d uint8 array, got {raw.dtype} {raw.shape}")
        widened = starts.astype(np.int64)
        if widened[0] != 0 or widened[-1] != raw.size or np.any(np.diff(widened) < 0):
            raise DataError(
                f"{what} offsets must start at 0, never decrease, and end at the data's "
                f"length ({raw.size}); got {widened[0]}..{widened[-1]}"
            )
        return cls(widened, raw)

    @classmethod
    def from_view(cls, offsets: npt.NDArray[np.uint32], data: npt.NDArray[np.uint8]) -> Ragged:
        """Wrap offsets and data read from a batch.

        Args:
            offsets: The batch's u32 offsets.
            data: The data region they index.

        Returns:
            The items, with offsets widened to int64 for arithmetic.
        """
        return cls(offsets.astype(np.int64), data)

    @classmethod
    def empty(cls, count: int) -> Ragged:
        """Make ``count`` empty byte strings.

        Args:
            count: How many.

        Returns:
            The items.
        """
        return cls(np.zeros(count + 1, np.int64), _EMPTY_BYTES)

    @classmethod
    def concat(cls, parts: Sequence[Ragged]) -> Ragged:
        """Join several sequences end to end.

        Args:
            parts: The sequences, in order.

        Returns:
            One sequence holding every item of every part (none for no parts).
        """
        if not parts:
            return cls.empty(0)
        bases = np.cumsum([0] + [int(part.offsets[-1]) for part in parts[:-1]])
        offsets = np.concatenate(
            [np.zeros(1, np.int64)]
            + [part.offsets[1:] + base for part, base in zip(parts, bases, strict=True)]
        )
        data = np.concatenate([_EMPTY_BYTES] + [part.data for part in parts])
        return cls(offsets, data)

    def __len__(self) -> int:
        return self.offsets.size - 1

    def lengths(self) -> npt.NDArray[np.int64]:
        """Return the length of every item."""
        return np.diff(self.offsets)

    def item(self, index: int) -> bytes:
        """Return item ``index`` as bytes.

        Args:
            index: A position in ``range(len(self))``.

        Returns:
            A copy of the item's bytes.
        """
        return self.data[self.offsets[index] : self.offsets[index + 1]].tobytes()

    def items(self, positions: npt.NDArray[np.int64]) -> list[bytes]:
        """Return the items at ``positions`` as bytes objects.

        One Python object per position: meant for a few items, such as the distinct
        keys of a batch.

        Args:
            positions: Positions in ``range(len(self))``.

        Returns:
            The items, in the order of ``positions``.
        """
        data = self.data.tobytes()  # slicing bytes is cheaper than slicing arrays
        starts, stops = self.offsets[positions].tolist(), self.offsets[positions + 1].tolist()
        return [data[start:stop] for start, stop in zip(starts, stops, strict=True)]

    def select(self, mask: npt.NDArray[np.bool_]) -> Ragged:
        """Keep the items where ``mask`` is true.

        Args:
            mask: One boolean per item.

        Returns:
            The kept items, in order.
        """
        if self.data.size == 0:  # common for headers: no per-record work at all
            return Ragged.empty(int(np.count_nonzero(mask)))
        lengths = self.lengths()
        if _same_width(lengths):
            width = int(lengths[0])
            data = self.data.reshape(-1, width)[mask].reshape(-1)
            return Ragged(np.arange(data.size + 1, step=width, dtype=np.int64), data)
        kept = offsets_from_lengths(np.where(mask, lengths, 0))
        data = np.empty(int(kept[-1]), np.uint8)
        # One boolean per data byte, so boolean indexing copies the kept bytes in one
        # pass; built for about _CHUNK_BYTES of data at a time, so the temporaries
        # stay small (and in cache) however large the region is.
        cuts = np.searchsorted(self.offsets, np.arange(0, self.data.size, _CHUNK_BYTES), "right")
        bounds = np.append(np.unique(cuts - 1), len(self)).tolist()
        for first, last in itertools.pairwise(bounds):
            chunk = self.data[self.offsets[first] : self.offsets[last]]
            keep = np.repeat(mask[first:last], lengths[first:last])
            data[kept[first] : kept[last]] = chunk[keep]
        return Ragged(offsets_from_lengths(lengths[mask]), data)

    def take(self, indices: npt.NDArray[np.int64]) -> Ragged:
        """Gather the items at ``indices``, which may repeat and come in any order.

        Args:
            indices: Positions in ``range(len(self))``.

        Returns:
            The gathered items, in the order of ``indices``.
        """
        if self.data.size == 0:
            return Ragged.empty(indices.size)
        lengths = self.lengths()
        if _same_width(lengths):
            width = int(lengths[0])
            data = self.data.reshape(-1, width)[indices].reshape(-1)
            return Ragged(np.arange(data.size + 1, step=width, dtype=np.int64), data)
        if bool(np.all(indices[1:] > indices[:-1])):
            mask = np.zeros(len(self), np.bool_)
            mask[indices] = True
            return self.select(mask)
        starts = self.offsets[indices]
        sizes = lengths[indices]
        offsets = offsets_from_lengths(sizes)
        data = np.empty(int(offsets[-1]), np.uint8)
        if data.size == 0:
            return Ragged(offsets, data)
        rows = _RowReader(self)
        if rows.width * indices.size <= 4 * data.size + _CHUNK_BYTES:
            # Items of similar lengths: copy each as one fixed-width row, then keep
            # the bytes that belong to it; numpy copies rows far faster than bytes.
            for part in rows.chunks(indices.size):
                low, high = int(offsets[part.start]), int(offsets[part.stop])
                data[low:high] = rows.window(indices[part])[rows.keep(indices[part])]
            return Ragged(offsets, data)
        # A few long items among short ones: rows would be mostly padding, so build
        # a byte index instead: output byte j of item k comes from
        # starts[k] + (j - offsets[k]), about _CHUNK_BYTES output bytes at a time.
        cuts = np.searchsorted(offsets, np.arange(0, data.size, _CHUNK_BYTES), side="right") - 1
        bounds = np.append(np.unique(cuts), indices.size).tolist()
        for first, last in itertools.pairwise(bounds):
            low, high = int(offsets[first]), int(offsets[last])
            source = np.repeat(starts[first:last] - offsets[first:last], sizes[first:last])
            source += np.arange(low, high)
            data[low:high] = self.data[source]
        return Ragged(offsets, data)

    def slice(self, start: int, stop: int) -> Ragged:
        """Return items ``start`` to ``stop - 1`` (``0 <= start <= stop <= len``).

        Args:
            start: The first item to keep.
            stop: One past the last item to keep.

        Returns:
            The items, with their bytes copied out of this sequence.
        """
        offsets = self.offsets[start : stop + 1]
        data = self.data[offsets[0] : offsets[-1]].copy()
        return Ragged(offsets - offsets[0], data)

    def codes(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Number the distinct items in order of first appearance (see :mod:`._grouping`).

        Returns:
            ``codes`` (one int64 per item; equal items, equal codes) and ``first``
            (for each code, the position of its first item).
        """
        return group_codes(self.offsets, self.data)


class _RowReader:
    """Reads items as fixed-width rows, one row per item, in bounded chunks."""

    def __init__(self, items: Ragged) -> None:
        self.lengths = items.lengths()
        self.width = max(8, -(-int(self.lengths.max()) // 8) * 8)
        padded = np.zeros(items.data.size + self.width, np.uint8)
        padded[: items.data.size] = items.data
        # A window of `width` bytes starting at every byte: indexing it by the
        # items' starts copies each item (and the bytes after it) as one row.
        self._windows = sliding_window_view(padded, self.width)
        self._starts = items.offsets[:-1]
        self._columns = np.arange(self.width)

    def chunks(self, count: int) -> list[slice]:
        """Split ``range(count)`` rows into runs of about _CHUNK_BYTES."""
        step = max(1, _CHUNK_BYTES // self.width)
        return [slice(start, min(start + step, count)) for start in range(0, count, step)]

    def window(self, rows: slice | npt.NDArray[np.int64]) -> npt.NDArray[np.uint8]:
        """Copy the rows, each item followed by whatever bytes come after it."""
        matrix: npt.NDArray[np.uint8] = self._windows[self._starts[rows]]
        return matrix

    def keep(self, rows: slice | npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """Mark the bytes of each row that belong to its item."""
        return self._columns < self.lengths[rows][:, None]


def _same_width(lengths: npt.NDArray[np.int64]) -> bool:
    # Fixed-width items (ids, hashes, fixed-size structs) are rows of a matrix, and
    # numpy copies whole rows much faster than masked bytes.
    return lengths.size > 0 and int(lengths[0]) > 0 and bool(np.all(lengths == lengths[0]))
