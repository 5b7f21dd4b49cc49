"""RecordBatch: the unit that moves, one binary buffer that numpy reads in place.

A batch is an immutable view over one buffer in the layout described in
``docs/record-batch.md``. The same bytes go into WASM memory and onto NATS
unchanged; numpy views over them give columnar access (timestamps, offsets, typed
columns) without a Python object per record, and filter, take, slice, concat and
grouping are whole-array numpy operations.

Example::

    batch = RecordBatch.from_arrays(
        keys=[b"alice", b"bob", b"alice"],
        values=[b"{}", b"{}", b"{}"],
        timestamps=[1000, 2000, 3000],
        columns={"amount": np.array([5, 7, 9])},
    )
    big = batch.filter(batch.column("amount") > 6)             # 2 records
    codes, keys = batch.key_codes()                            # [0, 1, 0], [b"alice", b"bob"]
    sums = np.bincount(codes, weights=batch.column("amount"))  # [14.0, 7.0]
    assert RecordBatch.from_buffer(batch.to_bytes()) == batch
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Mapping, Sequence

import attrs
import numpy as np
import numpy.typing as npt

from dataflare.kernel._layout import Column
from dataflare.kernel._parts import BatchParts, Packed, pack
from dataflare.kernel._ragged import Ragged
from dataflare.kernel._reader import BatchView, read_batch
from dataflare.kernel._record import Record
from dataflare.kernel._writer import write_batch
from dataflare.kernel.errors import DataError

__all__ = ("RecordBatch",)


@attrs.frozen(eq=False, repr=False)
class RecordBatch:
    """An immutable batch of records over one buffer in the record batch layout.

    Create one with :meth:`from_buffer`, :meth:`from_arrays`, :meth:`from_records`
    or :meth:`empty`. Batches are equal when their bytes are equal; they are not
    hashable (a hash would have to read the whole buffer).
    """

    _view: BatchView

    @classmethod
    def from_buffer(cls, buffer: bytes | bytearray | memoryview) -> RecordBatch:
        """Check a buffer and view it as a batch, without copying it.

        Every structural rule of the layout is checked with a fixed number of numpy
        operations; per-record header blocks are checked when read. Do not modify a
        ``bytearray`` while a batch views it.

        Args:
            buffer: Exactly one batch's bytes.

        Returns:
            A batch whose arrays are read-only views into ``buffer``.

        Raises:
            BatchFormatError: The bytes are not a valid batch; the message names the
                field, and the error's ``offset`` is the byte.
            TypeError: ``buffer`` is not a C-contiguous bytes-like object.
        """
        return cls(read_batch(buffer))

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
    ) -> RecordBatch:
        """Build a batch from whole arrays: the fast way to make one.

        Values and keys are packed with one ``b"".join`` and one length pass;
        timestamps and columns are copied in bulk. Headers are encoded one record at
        a time, so leave them out on hot paths (batch-wide context belongs in
        ``metadata``). What is left out is empty (values, keys, headers) or 0
        (timestamps); a batch may carry all its data in columns.

        Args:
            values: One payload per record: ``bytes`` each, or already packed as an
                ``(offsets, data)`` pair of numpy arrays (``len + 1`` integer offsets
                from 0 into uint8 data), which involves no Python object per record.
            keys: One key per record (``b""``: no key), as ``bytes`` or packed.
            timestamps: Event times in milliseconds since the Unix epoch (integers
                or ``datetime64``).
            columns: Typed columns by name (1 to 23 bytes of UTF-8): integers and
                booleans become i64, floats f64.
            headers: One string map per record.
            metadata: Batch metadata, such as a trace context.
            count: The number of records; needed only when nothing else gives it.

        Returns:
            The new batch.

        Raises:
            DataError: The arguments disagree on the number of records, or a value
                does not fit the layout.
            TypeError: A value or key is not bytes.
        """
        parts = BatchParts.from_arrays(
            values=values,
            keys=keys,
            timestamps=timestamps,
            columns=columns,
            headers=headers,
            metadata=metadata,
            count=count,
        )
        return cls._write(parts)

    @classmethod
    def from_records(
        cls, records: Iterable[Record], metadata: Mapping[str, str] | None = None
    ) -> RecordBatch:
        """Build a batch from :class:`Record` values (convenient, one step per record).

        Args:
            records: The records; each must have the same field names.
            metadata: Batch metadata.

        Returns:
            The new batch.

        Raises:
            DataError: The records' fields disagree (see ``RecordBatchBuilder``).
        """
        # Imported here because the builder module builds batches with this class.
        from dataflare.kernel._builder import RecordBatchBuilder

        builder = RecordBatchBuilder()
        builder.extend(records)
        return builder.build(metadata)

    @classmethod
    def empty(cls) -> RecordBatch:
        """Return a batch with no records, no columns and no metadata."""
        return cls.from_arrays()

    @classmethod
    def concat(cls, batches: Iterable[RecordBatch]) -> RecordBatch:
        """Join batches end to end, keeping the first batch's metadata.

        Args:
            batches: Batches with the same column names and types.

        Returns:
            One batch with every record in order (an empty batch for no batches).

        Raises:
            DataError: The batches' columns differ; the message shows both.
        """
        parts = [batch._parts() for batch in batches]
        return cls._write(BatchParts.concat(parts)) if parts else cls.empty()

    def __len__(self) -> int:
        return self._view.timestamps.size

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RecordBatch):
            return NotImplemented
        mine, theirs = self._view.buffer, other._view.buffer
        return np.array_equal(np.frombuffer(mine, np.uint8), np.frombuffer(theirs, np.uint8))

    def __repr__(self) -> str:
        return (
            f"RecordBatch(count={len(self)}, nbytes={self.nbytes}, "
            f"columns={list(self.column_names)}, metadata={dict(self.metadata)})"
        )

    def __iter__(self) -> Iterator[Record]:
        """Yield each record as a :class:`Record`.

        One Python object per record: fine for tests and small batches, not for hot
        paths; use the array views, :meth:`filter` and :meth:`key_codes` there.
        """
        for index in range(len(self)):
            yield self.record(index)

    @property
    def buffer(self) -> memoryview:
        """A read-only view of exactly this batch's bytes (what goes on the wire)."""
        return self._view.buffer

    @property
    def nbytes(self) -> int:
        """The size of the batch in bytes."""
        return self._view.buffer.nbytes

    @property
    def timestamps(self) -> npt.NDArray[np.int64]:
        """Event times in milliseconds since the Unix epoch (a read-only view)."""
        return self._view.timestamps

    @property
    def key_offsets(self) -> npt.NDArray[np.uint32]:
        """``len + 1`` offsets: key ``i`` is ``key_data[key_offsets[i]:key_offsets[i + 1]]``."""
        return self._view.key_offsets

    @property
    def key_data(self) -> npt.NDArray[np.uint8]:
        """Every key's bytes, back to back (a read-only view)."""
        return self._view.key_data

    @property
    def value_offsets(self) -> npt.NDArray[np.uint32]:
        """``len + 1`` offsets into :attr:`value_data`, as for keys."""
        return self._view.value_offsets

    @property
    def value_data(self) -> npt.NDArray[np.uint8]:
        """Every value's bytes, back to back (a read-only view)."""
        return self._view.value_data

    @property
    def column_names(self) -> tuple[str, ...]:
        """The typed columns' names, in layout order."""
        return tuple(self._view.columns)

    @property
    def metadata(self) -> Mapping[str, str]:
        """Batch metadata, such as a trace context (read-only)."""
        return self._view.metadata

    def column(self, name: str) -> Column:
        """Return a typed column as a read-only int64 or float64 view.

        Raises:
            KeyError: There is no such column; the message lists the columns.
        """
        try:
            return self._view.columns[name]
        except KeyError:
            raise KeyError(
                f"no column {name!r} in this record batch; columns: {list(self.column_names)}"
            ) from None

    def to_bytes(self) -> bytes:
        """Return a copy of the batch's bytes."""
        return self._view.buffer.tobytes()

    def key(self, index: int) -> bytes:
        """Return record ``index``'s key (``b""`` when it has none)."""
        return self._view.key(self._position(index))

    def value(self, index: int) -> bytes:
        """Return record ``index``'s value."""
        return self._view.value(self._position(index))

    def headers(self, index: int) -> dict[str, str]:
        """Return record ``index``'s headers as a new dict.

        Raises:
            BatchFormatError: The record's header block is malformed.
            IndexError: ``index`` is out of range.
        """
        return self._view.headers(self._position(index))

    def record(self, index: int) -> Record:
        """Return record ``index`` as a :class:`Record` (negative counts from the end)."""
        position = self._position(index)
        return Record(
            value=self.value(position),
            key=self.key(position),
            timestamp=int(self._view.timestamps[position]),
            headers=self.headers(position),
            fields={name: array[position].item() for name, array in self._view.columns.items()},
        )

    def filter(self, mask: npt.ArrayLike) -> RecordBatch:
        """Keep the records where ``mask`` is true.

        Args:
            mask: One boolean per record, such as ``batch.column("price") < 50``.

        Returns:
            A new batch with the kept records, in order, and this batch's metadata.

        Raises:
            TypeError: ``mask`` is not boolean.
            ValueError: ``mask`` does not have one entry per record.
        """
        return self._write(self._parts().select(mask))

    def take(self, indices: npt.ArrayLike) -> RecordBatch:
        """Gather records by position.

        Args:
            indices: Integer positions; they may repeat, come in any order, or be
                negative (counting from the end).

        Returns:
            A new batch with those records, in the order of ``indices``.

        Raises:
            TypeError: ``indices`` are not integers.
            IndexError: A position is out of range.
        """
        return self._write(self._parts().take(indices))

    def slice(self, start: int, stop: int) -> RecordBatch:
        """Return records ``start`` to ``stop - 1``, as ``records[start:stop]`` would.

        Args:
            start: The first record; negative counts from the end.
            stop: One past the last record; clamped to the batch like a list slice.

        Returns:
            A new batch with those records.
        """
        first, last, _ = slice(start, stop).indices(len(self))
        return self._write(self._parts().slice(first, max(first, last)))

    def with_metadata(self, metadata: Mapping[str, str]) -> RecordBatch:
        """Return a copy of this batch with its metadata replaced.

        Args:
            metadata: The new metadata (not merged with the old).

        Returns:
            The new batch.
        """
        return self._write(attrs.evolve(self._parts(), metadata=metadata))

    def with_columns(self, columns: Mapping[str, npt.ArrayLike]) -> RecordBatch:
        """Return a copy with columns added or replaced.

        Args:
            columns: Typed columns by name, one value per record each. A replaced
                column keeps its place; new ones go last.

        Returns:
            The new batch.

        Raises:
            DataError: A column has the wrong length or type, or a bad name.
        """
        return self._write(self._parts().with_columns(columns))

    def with_keys(self, keys: Sequence[bytes] | Packed) -> RecordBatch:
        """Return a copy with every record's key replaced (what ``key_by`` does).

        Args:
            keys: One key per record, as ``bytes`` or packed ``(offsets, data)`` arrays.

        Raises:
            DataError: Not one key per record, or packed offsets that do not index the data.
        """
        packed = pack(keys, "keys")
        assert packed is not None
        if len(packed) != len(self):
            raise DataError(f"with_keys needs one key per record: {len(packed)} for {len(self)}")
        return self._write(attrs.evolve(self._parts(), keys=packed))

    def key_codes(self) -> tuple[npt.NDArray[np.int64], list[bytes]]:
        """Number the records' keys, for grouping with numpy (``np.bincount`` and so on).

        Returns:
            ``codes``, one int64 per record (equal keys, equal codes), and the
            distinct keys, so that ``keys[codes[i]]`` is record ``i``'s key. Keys are
            numbered in order of first appearance; records without a key share
            ``b""``.
        """
        keys = Ragged.from_view(self._view.key_offsets, self._view.key_data)
        codes, first = keys.codes()
        return codes, keys.items(first)

    def _position(self, index: int) -> int:
        position = operator.index(index)
        if position < 0:
            position += len(self)
        if not 0 <= position < len(self):
            raise IndexError(f"record {index} is out of range for a batch of {len(self)}")
        return position

    def _parts(self) -> BatchParts:
        return BatchParts.from_view(self._view)

    @classmethod
    def _write(cls, parts: BatchParts) -> RecordBatch:
        return cls(read_batch(write_batch(parts)))
