"""The one place that builds cattrs converters for DataFlare's values.

Never use cattrs' global converter: it is shared with every other library in the
process, so a hook registered there leaks everywhere. Build one here instead.

Example::

    converter = make_converter(forbid_extra_keys=True, strict=True)
    settings = converter.structure({"buffer_size": 10}, BusSettings)
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

import cattrs

from dataflare.kernel._strict import configure_strict

__all__ = ("configure_converter", "make_converter")


def configure_converter(converter: cattrs.Converter) -> None:
    """Add DataFlare's rules to a converter.

    * :class:`datetime` is unstructured to an ISO 8601 string and structured from
      one (or from a number of seconds since the epoch); naive values are taken
      as UTC, and every result is timezone-aware.
    * :class:`bytes` passes through unchanged when it already is bytes, and a
      ``str`` is encoded as UTF-8, so a YAML or JSON document can hold either.
    * A :class:`~enum.StrEnum` member is unstructured to its plain string value,
      as other enums are (cattrs would pass it through as a ``str``, enum and
      all, which a YAML writer refuses).

    Args:
        converter: The converter to configure in place.
    """
    converter.register_unstructure_hook(datetime, lambda value: value.isoformat())
    converter.register_unstructure_hook(StrEnum, lambda member: member.value)
    converter.register_structure_hook(datetime, _structure_datetime)
    converter.register_structure_hook(bytes, _structure_bytes)


def make_converter(*, forbid_extra_keys: bool = False, strict: bool = False) -> cattrs.Converter:
    """Build a converter with DataFlare's rules and detailed validation.

    Validation errors come back as :class:`cattrs.ClassValidationError` groups
    that hold every bad field at once, each with its path.

    Args:
        forbid_extra_keys: Reject mapping keys that are not fields of the
            target class (what config files want: a typo must not pass silently).
        strict: Refuse values of the wrong type instead of coercing them (3.7 is
            not an integer, ``"10"`` is not a number, ``true`` is not 1, a string
            is not a list), and report every failing attrs validator, each with
            its field (see :mod:`dataflare.kernel._strict`). Config files use it.

    Returns:
        A new converter, not shared with anything else.
    """
    converter = cattrs.Converter(detailed_validation=True, forbid_extra_keys=forbid_extra_keys)
    configure_converter(converter)
    if strict:
        configure_strict(converter, forbid_extra_keys=forbid_extra_keys)
    return converter


def _structure_datetime(value: object, _: type) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        parsed = datetime.fromtimestamp(value, tz=UTC)
    elif isinstance(value, str):
        parsed = datetime.fromisoformat(value)
    else:
        raise TypeError(f"expected an ISO 8601 timestamp, got {type(value).__name__}")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _structure_bytes(value: object, _: type) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    raise TypeError(f"expected bytes or a string, got {type(value).__name__}")
