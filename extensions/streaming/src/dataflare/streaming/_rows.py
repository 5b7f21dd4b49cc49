"""Decoding text rows (JSON objects, CSV rows) into record batches at a source's edge.

Each row keeps its original text as the record's value; the fields named in
``columns`` become typed columns (numbers), ``key_field`` the key and
``timestamp_field`` the event time. A row that cannot be decoded is returned as
a dead letter with the reason and where it came from, and the rest go on.
This is the one place a Python object per record is made, because text must be
parsed; everything after the source moves whole batches. Typed columns from rows
are always f64.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs
import numpy as np

from dataflare.kernel import RecordBatch

__all__ = ("RowDecoder", "RowSchema")


@attrs.frozen
class RowSchema:
    """Which row fields become the key, the event time and typed columns."""

    columns: tuple[str, ...] = ()
    key_field: str | None = None
    timestamp_field: str | None = None


@attrs.define
class RowDecoder:
    """Collects decoded rows and failures, then builds a batch and dead-letter list."""

    schema: RowSchema
    values: list[bytes] = attrs.field(factory=list)
    keys: list[bytes] = attrs.field(factory=list)
    timestamps: list[int] = attrs.field(factory=list)
    numbers: dict[str, list[int | float]] = attrs.field(factory=dict)
    failures: list[tuple[bytes, str]] = attrs.field(factory=list)

    def __attrs_post_init__(self) -> None:
        self.numbers = {name: [] for name in self.schema.columns}

    def add(self, raw: bytes, row: Any, where: str) -> None:
        """Decode one row; a bad one is kept as a failure naming ``where`` and the field."""
        try:
            key, timestamp, numbers = self._decode(row)
        except (TypeError, ValueError) as exc:
            self.failures.append((raw, f"{where}: {exc}"))
            return
        self.values.append(raw)
        self.keys.append(key)
        self.timestamps.append(timestamp)
        for name, number in zip(self.schema.columns, numbers, strict=True):
            self.numbers[name].append(number)

    def fail(self, raw: bytes, error: str) -> None:
        """Record an input that could not be parsed at all."""
        self.failures.append((raw, error))

    def build(self) -> RecordBatch:
        """The decoded rows as one batch."""
        columns = {name: _column(numbers) for name, numbers in self.numbers.items()}
        return RecordBatch.from_arrays(
            values=self.values,
            keys=self.keys,
            timestamps=np.array(self.timestamps, np.int64),
            columns=columns,
            count=len(self.values),
        )

    def _decode(self, row: Any) -> tuple[bytes, int, list[int | float]]:
        if not isinstance(row, Mapping):
            raise TypeError(f"expected a JSON object, got {type(row).__name__}")
        schema = self.schema
        key = b"" if schema.key_field is None else _key(row, schema.key_field)
        timestamp = 0 if schema.timestamp_field is None else _timestamp(row, schema.timestamp_field)
        return key, timestamp, [_number(row, name) for name in schema.columns]


def _field(row: Mapping[str, Any], name: str) -> Any:
    if name not in row:
        raise ValueError(f"field {name!r} is missing (fields: {sorted(row)})")
    return row[name]


def _key(row: Mapping[str, Any], name: str) -> bytes:
    value = _field(row, name)
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value).encode()
    raise TypeError(f"key field {name!r} must be a string or number, got {value!r}")


def _timestamp(row: Mapping[str, Any], name: str) -> int:
    value = _field(row, name)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        if value.lstrip("-").isdigit():
            return int(value)
        try:
            return int(datetime.fromisoformat(value).timestamp() * 1000)
        except ValueError:
            raise ValueError(
                f"timestamp field {name!r} is {value!r}: give milliseconds since the epoch "
                "or an ISO 8601 time"
            ) from None
    raise TypeError(f"timestamp field {name!r} must be a number or a string, got {value!r}")


def _number(row: Mapping[str, Any], name: str) -> int | float:
    value = _field(row, name)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            try:
                return float(value)
            except ValueError:
                pass
    raise TypeError(f"column {name!r} must be a number, got {value!r}")


def _column(numbers: Sequence[int | float]) -> np.ndarray[Any, Any]:
    # Always f64: a column's type must not depend on which rows one batch happened to
    # hold, or batches of one source could not be joined (and sums would switch type).
    return np.array(numbers, np.float64)
