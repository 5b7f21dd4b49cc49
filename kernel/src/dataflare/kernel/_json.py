"""JSON-compatibility of Python values: find every problem, with its path, and copy.

An event's ``data`` must survive ``json.dumps`` and come back equal, so it may hold
only ``None``, ``bool``, ``int``, finite ``float``, ``str``, lists (or tuples, which
come back as lists) and dicts with string keys, nested at most 64 levels deep.

Example::

    list(json_problems({"tags": {"a", "b"}, "score": float("nan")}))
    # [(".tags", "set is not a JSON value ..."), (".score", "nan is not a JSON number ...")]
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from typing import Any, Final

__all__ = ("MAX_DEPTH", "json_copy", "json_problems", "key_path")

MAX_DEPTH: Final = 64
"""How deeply lists and dicts may nest; deeper data is refused rather than risk
Python's recursion limit while reading or writing it."""


def json_copy(value: Any, depth: int = 0) -> Any:
    """Copy the lists and dicts of a JSON value (tuples become lists; leaves are shared).

    Never raises: what is not JSON is left as it is, for :func:`json_problems` to
    report.

    Args:
        value: The value to copy.
        depth: How deep ``value`` is already nested.

    Returns:
        The copy.
    """
    if depth > MAX_DEPTH:
        return value
    if isinstance(value, Mapping):
        return {key: json_copy(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_copy(item, depth + 1) for item in value]
    return value


def json_problems(value: object, path: str = "", depth: int = 0) -> Iterator[tuple[str, str]]:
    """Find every part of ``value`` that JSON cannot hold.

    Args:
        value: The value to check.
        path: The path of ``value`` itself, prefixed to each problem's path.
        depth: How deep ``value`` is already nested.

    Yields:
        ``(path, message)`` for each problem, such as ``(".items[2]", "set is not a
        JSON value ...")``.
    """
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            yield path, f"{value} is not a JSON number (JSON has no NaN or infinity)"
    elif depth >= MAX_DEPTH and isinstance(value, Mapping | list | tuple):
        yield path, f"nested more than {MAX_DEPTH} levels deep"
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from json_problems(item, f"{path}[{index}]", depth + 1)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str):
                yield from json_problems(item, path + key_path(key), depth + 1)
            else:
                yield path, f"object keys must be strings, got {key!r}"
    else:
        kinds = "None, bool, int, float, str, list or dict"
        yield path, f"{type(value).__name__} is not a JSON value (use {kinds})"


def key_path(key: str) -> str:
    """Return the path step for a dict key: ``.name``, or ``["odd key"]`` when needed.

    Args:
        key: The key.

    Returns:
        The step to append to a path.
    """
    return f".{key}" if key.isidentifier() else f"[{json.dumps(key)}]"
