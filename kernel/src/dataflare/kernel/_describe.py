"""Types and values in plain words, for the messages a config file's author reads.

A YAML author knows "an integer" and "a list of strings", not ``tuple[str, ...]``::

    describe_type(tuple[str, ...] | None)   # 'a list of strings or null'
    describe_value("10")                    # "'10'"  (quoted: it is a string)
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Literal

import attrs
from cattrs.cols import is_any_set, is_mapping, is_sequence

__all__ = ("choices_of", "describe_type", "describe_value")

# (singular with its article, plural) for the types a config file is made of.
_NOUNS: dict[Any, tuple[str, str]] = {
    int: ("an integer", "integers"),
    float: ("a number", "numbers"),
    str: ("a string", "strings"),
    bool: ("true or false", "booleans (true or false)"),
    bytes: ("a string", "strings"),
    type(None): ("null", "nulls"),
    datetime: ("an ISO 8601 timestamp", "ISO 8601 timestamps"),
    Any: ("any value", "values"),
    object: ("any value", "values"),
}

_LONGEST_SHOWN = 40  # characters of a string value quoted back in a message


def describe_type(kind: Any) -> str:
    """Name what a type accepts, as a config file's author would say it.

    Args:
        kind: A type annotation (``int``, ``tuple[str, ...] | None``, an enum...).

    Returns:
        For example ``an integer``, ``a list of strings or null``,
        ``one of: debug, info``.
    """
    return _noun(kind, plural=False)


def describe_value(value: object) -> str:
    """Show a value the way it looks in YAML, short enough for a one-line message.

    Args:
        value: A value read from a config file.

    Returns:
        ``3.7``, ``'10'`` (quoted, so a string is told from a number), ``true``,
        ``null``, ``a list`` or ``a mapping``.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = value if len(value) <= _LONGEST_SHOWN else f"{value[: _LONGEST_SHOWN - 3]}..."
        return repr(shown)
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple, set, frozenset)):
        return "a list"
    if isinstance(value, date):
        return f"the timestamp {value.isoformat()}"
    return repr(value)


def choices_of(kind: Any) -> tuple[str, ...] | None:
    """List the values an enum or a ``Literal`` allows.

    Args:
        kind: Any type annotation.

    Returns:
        The allowed values as written in a config file, or ``None`` when ``kind``
        is neither an enum nor a ``Literal``.
    """
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return tuple(str(member.value) for member in kind)
    if typing.get_origin(kind) is Literal:
        return tuple(
            arg if isinstance(arg, str) else describe_value(arg) for arg in typing.get_args(kind)
        )
    return None


def _noun(kind: Any, *, plural: bool) -> str:
    if kind in _NOUNS:
        singular, many = _NOUNS[kind]
        return many if plural else singular
    allowed = choices_of(kind)
    if allowed is not None:
        listed = ", ".join(allowed[:-1]) + " or " + allowed[-1] if len(allowed) > 1 else allowed[0]
        return f"{'values from' if plural else 'one of'}: {listed}"
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return " or ".join(_noun(arg, plural=plural) for arg in typing.get_args(kind))
    args = typing.get_args(kind)
    if is_sequence(kind) or is_any_set(kind):
        of = f" of {_noun(args[0], plural=True)}" if args and args[0] not in (Any, object) else ""
        return f"{'lists' if plural else 'a list'}{of}"
    if is_mapping(kind):
        of = f" of {_noun(args[0], plural=True)} to {_noun(args[1], plural=True)}" if args else ""
        return f"{'mappings' if plural else 'a mapping'}{of}"
    if isinstance(kind, type) and attrs.has(kind):
        return "mappings" if plural else "a mapping"
    name = getattr(kind, "__name__", str(kind))
    return f"{name} values" if plural else f"a {name}"
