"""BatchParts: what a record batch is made of, how it is checked, and how it is transformed.

A :class:`~dataflare.kernel.RecordBatch` is bytes. To build one, the caller's
arrays are checked and turned into parts (:meth:`BatchParts.from_arrays`); to
filter, take, slice or concatenate batches, their parts (timestamps, the three
:class:`Ragged` regions, the columns) are transformed with whole-array numpy
operations. Either way :func:`~dataflare.kernel._writer.write_batch` then lays the
parts out as bytes.

Example::

    parts = BatchParts.from_view(read_batch(wire))
    kept = parts.select(parts.columns["amount"] > 10)
    new_wire = write_batch(kept)
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeAlias, cast

import attrs
import numpy as np
import numpy.typing as npt

from dataflare.kernel._kv import encode_kv
from dataflare.kernel._layout import Column, column_type
from dataflare.kernel._ragged import Ragged
from dataflare.kernel._reader import BatchView
from dataflare.kernel.errors import DataError

__all__ = ("BatchParts", "Packed", "normalise_column", "normalise_timestamps", "pack")

_I64_MAX = np.iinfo(np.int64).max


Packed: TypeAlias = tuple[npt.ArrayLike, npt.ArrayLike]
"""Byte strings already packed: ``(offsets, data)``, ``len + 1`` offsets from 0 into uint8."""


def pack(items: Sequence[bytes] | Packed | None, what: str) -> Ragged | None:
    """Byte strings as a :class:`Ragged`, from a sequence of ``bytes`` or a packed pair.

    Raises:
        DataError: A packed pair is not a valid index of its data.
        TypeError: An item of a sequence is not bytes.
    """
    if items is None:
        return None
    if isinstance(items, tuple) and len(items) == 2 and isinstance(items[0], np.ndarray):
        return Ragged.from_packed(items[0], items[1], what=what)
    return Ragged.from_sequence(cast("Sequence[bytes]", items), what=what)


@attrs.frozen(eq=False)
class BatchParts:
    """Everything a batch is made of, in the form the layout stores it."""

    timestamps: npt.NDArray[np.int64]
    """One event time per record; its length is the record count."""
    keys: Ragged
    """One key per record."""
    values: Ragged
    """One value per record."""
    headers: Ragged
    """One encoded header block per record."""
    columns: Mapping[str, Column]
    """Typed columns, one int64 or float64 value per record each."""
    metadata: Mapping[str, str]
    """The batch metadata."""

    @classmethod
    def from_arrays(
        cls,
        *,
        values: Sequence[bytes] | Packed | None = None,
        keys: Sequence[bytes] | Packed | None = None,
        timestamps: npt.ArrayLike | None = None,
        columns: Mapping[str, npt.ArrayLike] | None = None,
        headers: Sequence[Mapping[str, str]] | None = None,
        metadata: Mapping[str, str] | None = None,
        count: int | None = None,
    ) -> BatchParts:
        """Check and pack the arguments of ``RecordBatch.from_arrays``.

        Args:
            values: One payload per record, or ``None`` for empty values.
            keys: One key per record, or ``None`` for no keys.
            timestamps: Event times (integer milliseconds or ``datetime64``), or ``None``
                for 0.
            columns: Typed columns by name.
            headers: One string map per record, or ``None`` for none.
            metadata: Batch metadata.
            count: The number of records, if given.

        Returns:
            The parts.

        Raises:
            DataError: The arguments disagree on the number of records, or a value does
                not fit the layout.
            TypeError: A value or key is not bytes.
        """
        stamps = None if timestamps is None else normalise_timestamps(timestamps)
        typed = {name: normalise_column(name, data) for name, data in (columns or {}).items()}
        packed_values, packed_keys = pack(values, "values"), pack(keys, "keys")
        given = (
            ("values", packed_values),
            ("keys", packed_keys),
            ("timestamps", stamps),
            ("headers", headers),
        )
        lengths = {name: len(array) for name, array in given if array is not None}
        lengths.update({f"column {name!r}": column.size for name, column in typed.items()})
        if count is not None:
            if operator.index(count) < 0:
                raise DataError(f"count must not be negative, got {count}")
            lengths["count"] = count
        if len(set(lengths.values())) > 1:
            described = ", ".join(f"{name} has {size}" for name, size in lengths.items())
            raise DataError(f"from_arrays needs one length for every argument: {described}")
        size = next(iter(lengths.values()), 0)
        blocks = Ragged.empty(size)
        if headers is not None:
            encoded = [encode_kv(h, what=f"headers of record {i}") for i, h in enumerate(headers)]
            blocks = Ragged.from_sequence(encoded)
        return cls(
            timestamps=np.zeros(size, np.int64) if stamps is None else stamps,
            keys=Ragged.empty(size) if packed_keys is None else packed_keys,
            values=Ragged.empty(size) if packed_values is None else packed_values,
            headers=blocks,
            columns=typed,
            metadata=metadata or {},
        )

    @classmethod
    def from_view(cls, view: BatchView) -> BatchParts:
        """Take the parts of a batch that has been read.

        Args:
            view: The batch's checked sections.

        Returns:
            Parts that share the batch's data (the offsets are widened copies).
        """
        return cls(
            timestamps=view.timestamps,
            keys=Ragged.from_view(view.key_offsets, view.key_data),
            values=Ragged.from_view(view.value_offsets, view.value_data),
            headers=Ragged.from_view(view.header_offsets, view.header_data),
            columns=view.columns,
            metadata=view.metadata,
        )

    @classmethod
    def concat(cls, parts: Sequence[BatchParts]) -> BatchParts:
        """Join parts end to end, keeping the first one's metadata.

        Args:
            parts: At least one set of parts, all with the same column names and types.

        Returns:
            The joined parts.

        Raises:
            DataError: The columns differ.
        """
        expected = parts[0].schema()
        for index, part in enumerate(parts):
            if part.schema() != expected:
                raise DataError(
                    "cannot concatenate record batches with different columns: batch 0 has "
                    f"{_describe(expected)}, batch {index} has {_describe(part.schema())}"
                )
        return cls(
            timestamps=np.concatenate([part.timestamps for part in parts]),
            keys=Ragged.concat([part.keys for part in parts]),
            values=Ragged.concat([part.values for part in parts]),
            headers=Ragged.concat([part.headers for part in parts]),
            columns={
                name: np.concatenate([part.columns[name] for part in parts]) for name in expected
            },
            metadata=parts[0].metadata,
        )

    def with_columns(self, columns: Mapping[str, npt.ArrayLike]) -> BatchParts:
        """Add or replace typed columns.

        Args:
            columns: Values by column name, one per record each. A replaced column
                keeps its place; new ones go last.

        Returns:
            The parts with the new columns.

        Raises:
            DataError: A column has the wrong length or type.
        """
        merged: dict[str, Column] = dict(self.columns)
        for name, values in columns.items():
            merged[name] = normalise_column(name, values)
            if merged[name].size != self.timestamps.size:
                raise DataError(
                    f"column {name!r} has {merged[name].size} values for "
                    f"{self.timestamps.size} records"
                )
        return attrs.evolve(self, columns=merged)

    def schema(self) -> dict[str, str]:
        """Return each column's type (``"i64"`` or ``"f64"``) by name, in order."""
        return {name: column_type(array).name.lower() for name, array in self.columns.items()}

    def select(self, mask: npt.ArrayLike) -> BatchParts:
        """Keep the records where ``mask`` is true.

        Args:
            mask: One boolean per record.

        Returns:
            The kept records' parts.

        Raises:
            TypeError: ``mask`` is not boolean.
            ValueError: ``mask`` does not have one entry per record.
        """
        keep = np.asarray(mask)
        if keep.dtype != np.bool_:
            raise TypeError(f"filter needs a boolean mask, got dtype {keep.dtype}")
        if keep.shape != self.timestamps.shape:
            raise ValueError(
                f"filter needs {self.timestamps.size} booleans, got shape {keep.shape}"
            )
        positions = np.flatnonzero(keep)  # found once, used for every fixed-width array
        return self._map(lambda ragged: ragged.select(keep), lambda array: array[positions])

    def take(self, indices: npt.ArrayLike) -> BatchParts:
        """Gather records by position.

        Args:
            indices: Integer positions, in any order, repeats allowed; negative ones
                count from the end.

        Returns:
            The gathered records' parts, in the order of ``indices``.

        Raises:
            TypeError: ``indices`` are not integers.
            IndexError: A position is out of range.
        """
        positions = np.asarray(indices).reshape(-1)
        if positions.size and positions.dtype.kind not in "iu":
            raise TypeError(f"take needs integer positions, got dtype {positions.dtype}")
        count = self.timestamps.size
        positions = positions.astype(np.int64)
        positions[positions < 0] += count
        if positions.size and (positions.min() < 0 or positions.max() >= count):
            raise IndexError(f"take positions out of range for a batch of {count} records")
        return self._map(lambda ragged: ragged.take(positions), lambda array: array[positions])

    def slice(self, start: int, stop: int) -> BatchParts:
        """Keep records ``start`` to ``stop - 1`` (``0 <= start <= stop <= count``).

        Args:
            start: The first record to keep.
            stop: One past the last record to keep.

        Returns:
            Those records' parts.
        """
        return self._map(lambda ragged: ragged.slice(start, stop), lambda a: a[start:stop])

    def _map(
        self,
        regions: Callable[[Ragged], Ragged],
        arrays: Callable[[npt.NDArray[Any]], npt.NDArray[Any]],
    ) -> BatchParts:
        return BatchParts(
            timestamps=arrays(self.timestamps),
            keys=regions(self.keys),
            values=regions(self.values),
            headers=regions(self.headers),
            columns={name: arrays(column) for name, column in self.columns.items()},
            metadata=self.metadata,
        )


def _describe(schema: Mapping[str, str]) -> str:
    return "[" + ", ".join(f"{name}: {kind}" for name, kind in schema.items()) + "]"


def normalise_timestamps(timestamps: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Turn event times into the layout's int64 milliseconds since the Unix epoch.

    Args:
        timestamps: Integers (milliseconds) or ``datetime64`` values.

    Returns:
        A contiguous int64 array.

    Raises:
        DataError: The values are not integers or datetimes, or not one-dimensional.
    """
    array = _as_array(timestamps, "timestamps")
    if array.dtype.kind == "M":
        array = array.astype("datetime64[ms]").view(np.int64)
    elif array.dtype.kind not in "iu" or (array.dtype.kind == "u" and _too_big(array)):
        raise DataError(
            "timestamps must be integers (milliseconds since the Unix epoch) or "
            f"datetime64 values, got dtype {array.dtype}"
        )
    return np.ascontiguousarray(array, dtype=np.int64)


def normalise_column(name: str, values: npt.ArrayLike) -> Column:
    """Turn a column's values into int64 (integers, booleans) or float64 (floats).

    Args:
        name: The column name, for error messages.
        values: One number per record.

    Returns:
        A contiguous int64 or float64 array.

    Raises:
        DataError: The values are not numbers that fit in 64 bits, or not
            one-dimensional.
    """
    array = _as_array(values, f"column {name!r}")
    kind = array.dtype.kind
    if kind in "biu" and not (kind == "u" and _too_big(array)):
        return np.ascontiguousarray(array, dtype=np.int64)
    if kind == "f":
        return np.ascontiguousarray(array, dtype=np.float64)
    raise DataError(
        f"column {name!r} must hold integers or floats that fit in 64 bits, got dtype {array.dtype}"
    )


def _as_array(values: npt.ArrayLike, what: str) -> npt.NDArray[np.generic]:
    try:
        array = np.asarray(values)
    except (TypeError, ValueError, OverflowError) as exc:
        raise DataError(f"{what} cannot be read as a numeric array: {exc}") from None
    if array.ndim != 1:
        raise DataError(f"{what} must be one-dimensional, got shape {array.shape}")
    return array


def _too_big(array: npt.NDArray[np.generic]) -> bool:
    return bool(array.size) and bool(array.max() > _I64_MAX)
