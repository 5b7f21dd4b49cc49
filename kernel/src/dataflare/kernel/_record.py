"""One record, as a Python value: for convenience and tests, not for the hot path.

Records travel in a :class:`~dataflare.kernel.RecordBatch`; a :class:`Record` is
what you get when you look at one of them (``batch.record(i)``) or what you hand
to a :class:`~dataflare.kernel.RecordBatchBuilder` when building a small batch.

Example::

    record = Record(b'{"page": "/"}', key=b"user-42", timestamp=1_700_000_000_000,
                    fields={"clicks": 3, "dwell": 1.5})
    batch = RecordBatch.from_records([record])
    assert batch.record(0) == record
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import attrs

__all__ = ("Record",)

_I64_MIN = -(2**63)
_I64_MAX = 2**63 - 1


def _frozen_map(value: Mapping[str, object]) -> Mapping[str, object]:
    # A read-only copy: a frozen record must not change when the caller's dict does.
    return MappingProxyType(dict(value))


def _check_int64(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{attribute.name} must be an int, got {type(value).__name__}")
    if not _I64_MIN <= value <= _I64_MAX:
        raise ValueError(f"{attribute.name} {value} does not fit in 64 bits")


def _check_headers(
    _: object, attribute: attrs.Attribute[Mapping[str, str]], value: Mapping[str, str]
) -> None:
    for key, text in value.items():
        if not isinstance(key, str) or not isinstance(text, str):
            raise TypeError(f"headers must map strings to strings, got {key!r}: {text!r}")


def _check_fields(
    _: object,
    attribute: attrs.Attribute[Mapping[str, int | float]],
    value: Mapping[str, int | float],
) -> None:
    for name, number in value.items():
        if not isinstance(name, str):
            raise TypeError(f"field names must be strings, got {name!r}")
        if not isinstance(number, int | float):
            raise TypeError(
                f"field {name!r} must be an int or a float, got {type(number).__name__}"
            )
        if isinstance(number, int) and not _I64_MIN <= number <= _I64_MAX:
            raise ValueError(f"field {name!r} value {number} does not fit in 64 bits")


@attrs.frozen
class Record:
    """One record: a value, an optional key, an event time, headers and typed fields."""

    value: bytes = attrs.field(validator=attrs.validators.instance_of(bytes))
    """The payload; opaque bytes (often JSON). May be empty."""
    key: bytes = attrs.field(default=b"", validator=attrs.validators.instance_of(bytes))
    """The partitioning and grouping key. ``b""`` means "no key": the layout has no
    separate null, so an empty key and a missing key are the same thing."""
    timestamp: int = attrs.field(default=0, validator=_check_int64)
    """Event time in milliseconds since the Unix epoch (UTC); 0 when not set."""
    headers: Mapping[str, str] = attrs.field(
        factory=dict,
        converter=_frozen_map,
        validator=_check_headers,
        hash=False,
        repr=lambda value: repr(dict(value)),
    )
    """String headers of this record (copied, read-only); empty when there are none."""
    fields: Mapping[str, int | float] = attrs.field(
        factory=dict,
        converter=_frozen_map,
        validator=_check_fields,
        hash=False,
        repr=lambda value: repr(dict(value)),
    )
    """Typed column values by column name (copied, read-only). In a batch each name is
    a column: ``int`` values (and ``bool``, stored as 0 or 1) make an i64 column, and
    any ``float`` makes the column f64."""
