"""Suggestions that turn a config error into its fix: "did you mean" and "write it as".

::

    did_you_mean("buffer_sise", ["buffer_size", "shutdown_timeout"])
    # "did you mean 'buffer_size'?"
    hint_for_value(int, 3.0)
    # 'write 3'
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable
from typing import Any

from cattrs.cols import is_any_set, is_sequence

from dataflare.kernel._describe import choices_of

__all__ = ("closest", "did_you_mean", "hint_for_value")

_CUTOFF = 0.6  # difflib's default: catches one or two slips without suggesting unrelated names
_BOOLEAN_WORDS = frozenset({"yes", "no", "on", "off", "y", "n", "true", "false"})


def closest(word: str, choices: Iterable[str]) -> str | None:
    """Find the choice a misspelt word most likely meant.

    Case is ignored, so ``INFO`` finds ``info``.

    Args:
        word: What the user wrote.
        choices: The names that would have been accepted.

    Returns:
        The closest choice, or ``None`` when none is close enough to suggest.
    """
    by_folded = {choice.casefold(): choice for choice in choices}
    matches = difflib.get_close_matches(word.casefold(), by_folded, n=1, cutoff=_CUTOFF)
    return by_folded[matches[0]] if matches else None


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """Phrase :func:`closest` as a hint.

    Args:
        word: What the user wrote.
        choices: The names that would have been accepted.

    Returns:
        ``did you mean 'choice'?``, or ``None`` when nothing is close.
    """
    match = closest(word, choices)
    return f"did you mean {match!r}?" if match is not None else None


def hint_for_value(kind: Any, value: object) -> str | None:
    """Suggest how to write a value so that it has the type a field wants.

    Args:
        kind: The field's type annotation.
        value: The value the file gave, which that type refused.

    Returns:
        A short fix (``remove the quotes to make it a number``), or ``None`` when
        there is no better advice than the expected type itself.
    """
    wanted = _members(kind)
    allowed = next((c for c in map(choices_of, wanted) if c is not None), None)
    if allowed is not None and isinstance(value, str):
        return did_you_mean(value, allowed)
    if str in wanted and isinstance(value, (bool, int, float)):
        return "put the value in quotes to make it a string"
    if isinstance(value, str):
        return _hint_for_text(wanted, value)
    if int in wanted and float not in wanted and isinstance(value, float):
        return f"write {int(value)}" if value.is_integer() else "use a whole number"
    return None


def _hint_for_text(wanted: tuple[Any, ...], value: str) -> str | None:
    if bool in wanted and value.casefold() in _BOOLEAN_WORDS:
        return "write true or false, without quotes"
    if (int in wanted or float in wanted) and _is_number(value):
        return "remove the quotes to make it a number"
    if any(is_sequence(kind) or is_any_set(kind) for kind in wanted):
        return f"write a list, e.g. [{value}]"
    return None


def _members(kind: Any) -> tuple[Any, ...]:
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return typing.get_args(kind)
    return (kind,)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
