"""RecordBatchBuilder: collect records one at a time, then write them as one batch.

Use it where records arrive one by one (a connector reading lines, a test). Each
:meth:`~RecordBatchBuilder.append` checks its record at once, so a mistake names
the record that made it; :meth:`~RecordBatchBuilder.build` then writes the batch
with the bulk operations of :meth:`RecordBatch.from_arrays`.

Every record must give the same typed fields: the first record appended decides
the columns, and a record that leaves one out, or adds one, is refused. There is
no silent default of 0, because a 0 that nobody wrote would skew every sum and mean.

Example::

    builder = RecordBatchBuilder()
    builder.append(b'{"page": "/"}', key=b"user-1", timestamp=1000, clicks=1)
    builder.append(b'{"page": "/a"}', key=b"user-2", timestamp=1001, clicks=4)
    batch = builder.build()
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs
import numpy as np

from dataflare.kernel._batch import RecordBatch
from dataflare.kernel._layout import check_column_name
from dataflare.kernel._record import Record
from dataflare.kernel.errors import DataError

__all__ = ("RecordBatchBuilder",)

_I64_MIN = -(2**63)
_I64_MAX = 2**63 - 1


@attrs.define
class RecordBatchBuilder:
    """Collects records and builds a :class:`RecordBatch` from them.

    :meth:`build` leaves the builder as it is; call :meth:`clear` to start again.
    """

    _values: list[bytes] = attrs.field(factory=list, init=False)
    _keys: list[bytes] = attrs.field(factory=list, init=False)
    _timestamps: list[int] = attrs.field(factory=list, init=False)
    _headers: list[Mapping[str, str]] = attrs.field(factory=list, init=False)
    _any_headers: bool = attrs.field(default=False, init=False)
    _fields: dict[str, list[int | float]] | None = attrs.field(default=None, init=False)

    def __len__(self) -> int:
        return len(self._values)

    def append(
        self,
        value: bytes | bytearray | memoryview,
        /,
        *,
        key: bytes | bytearray | memoryview = b"",
        timestamp: int = 0,
        headers: Mapping[str, str] | None = None,
        **fields: int | float,
    ) -> None:
        """Add one record.

        Fields named ``key``, ``timestamp`` or ``headers`` cannot be passed here;
        use :meth:`extend` with :class:`Record` values for those.

        Args:
            value: The record's payload (a bytearray or memoryview is copied).
            key: Its key; ``b""`` means no key.
            timestamp: Event time in milliseconds since the Unix epoch.
            headers: String headers.
            **fields: Typed column values (int, bool or float).

        Raises:
            TypeError: A value, key, timestamp, header or field has the wrong type.
            DataError: A number does not fit in 64 bits, a field name is invalid,
                or the fields differ from the first record's. Nothing is added.
        """
        self._add(value, key, timestamp, headers or {}, fields)

    def extend(self, records: Iterable[Record]) -> None:
        """Add records in order; on an error, the records before it stay added.

        Args:
            records: The records.

        Raises:
            TypeError: See :meth:`append`.
            DataError: See :meth:`append`.
        """
        for record in records:
            self._add(record.value, record.key, record.timestamp, record.headers, record.fields)

    def build(self, metadata: Mapping[str, str] | None = None) -> RecordBatch:
        """Write the collected records as a batch.

        Args:
            metadata: Batch metadata, such as a trace context.

        Returns:
            The new batch.

        Raises:
            DataError: The batch would be larger than the layout allows.
        """
        return RecordBatch.from_arrays(
            values=self._values,
            keys=self._keys,
            timestamps=np.array(self._timestamps, dtype=np.int64),
            columns={name: np.asarray(numbers) for name, numbers in (self._fields or {}).items()},
            headers=self._headers if self._any_headers else None,
            metadata=metadata,
            count=len(self),
        )

    def clear(self) -> None:
        """Forget every record and the column names, to build another batch."""
        for collected in (self._values, self._keys, self._timestamps, self._headers):
            collected.clear()
        self._any_headers = False
        self._fields = None

    def _add(
        self,
        value: bytes | bytearray | memoryview,
        key: bytes | bytearray | memoryview,
        timestamp: int,
        headers: Mapping[str, str],
        fields: Mapping[str, int | float],
    ) -> None:
        index = len(self)
        payload = _as_bytes(value, f"record {index} value")
        key_bytes = _as_bytes(key, f"record {index} key")
        if isinstance(timestamp, bool):
            raise TypeError(f"record {index} timestamp must be an int, got bool")
        _check_int64(timestamp, f"record {index} timestamp")
        for name, text in headers.items():
            if not isinstance(name, str) or not isinstance(text, str):
                raise TypeError(
                    f"record {index} headers must map strings to strings, got {name!r}: {text!r}"
                )
        for name, number in fields.items():
            if not isinstance(number, int | float):
                raise TypeError(
                    f"record {index} field {name!r} must be an int or a float, "
                    f"got {type(number).__name__}"
                )
            if isinstance(number, int):
                _check_int64(number, f"record {index} field {name!r}")
        columns = self._columns_for(index, fields)
        # Everything is checked: only now change the builder, so a refused record
        # leaves no trace.
        self._values.append(payload)
        self._keys.append(key_bytes)
        self._timestamps.append(timestamp)
        self._headers.append(dict(headers))  # a copy: the caller may reuse its dict
        self._any_headers = self._any_headers or bool(headers)
        for name, numbers in columns.items():
            numbers.append(fields[name])
        self._fields = columns

    def _columns_for(
        self, index: int, fields: Mapping[str, int | float]
    ) -> dict[str, list[int | float]]:
        if self._fields is None:
            for name in fields:
                try:
                    check_column_name(name)
                except (TypeError, ValueError) as exc:
                    raise DataError(f"record {index}: {exc}") from None
            return {name: [] for name in fields}
        for name in self._fields:
            if name not in fields:
                raise DataError(
                    f"record {index} has no field {name!r}: every record must give the "
                    f"fields the first record gave ({', '.join(self._fields)})"
                )
        for name in fields:
            if name not in self._fields:
                raise DataError(
                    f"record {index} gives field {name!r}, which the records before it "
                    f"did not: every record must give the same fields ({', '.join(self._fields)})"
                )
        return self._fields


def _as_bytes(data: object, what: str) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, bytearray | memoryview):
        # Copy now: a bytearray changed after append must not change the batch.
        return bytes(data)
    raise TypeError(f"{what} must be bytes, got {type(data).__name__}")


def _check_int64(number: object, what: str) -> None:
    if not isinstance(number, int):
        raise TypeError(f"{what} must be an int, got {type(number).__name__}")
    if not _I64_MIN <= number <= _I64_MAX:
        raise DataError(f"{what} is {number}, which does not fit in 64 bits")
