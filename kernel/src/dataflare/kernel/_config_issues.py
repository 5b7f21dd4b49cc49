"""One problem found in a config file, and how its place in the file is written.

A :class:`ConfigIssue` is what :class:`~dataflare.kernel.errors.ConfigError`
carries, one per problem. It renders as a single line a user (or an editor's
problem matcher) can jump to::

    pipeline.yaml:4:5: kernel.bus.buffer_sise: unknown key (did you mean 'buffer_size'?)
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import attrs

__all__ = ("ConfigIssue", "format_path")


@attrs.frozen
class ConfigIssue:
    """One problem in a config file, with where it is and how to fix it."""

    message: str
    """What is wrong, e.g. ``expected an integer, got 3.7``."""

    source: str
    """The file the problem is in, as the user named it (or ``<string>``)."""

    path: str = ""
    """Dotted path to the offending value, e.g. ``pipeline.operators[2].uses``; empty
    when the problem is the file as a whole (a YAML syntax error)."""

    line: int | None = None
    """1-based line of the offending value or key; ``None`` when unknown."""

    column: int | None = None
    """1-based column of the offending value or key; ``None`` when unknown."""

    expected: str | None = None
    """What would have been accepted, in words (``an integer``, ``one of: a, b``)."""

    hint: str | None = None
    """A suggested fix, e.g. ``did you mean 'buffer_size'?``."""

    @property
    def location(self) -> str:
        """``file:line:column``, or just ``file`` when the position is unknown."""
        if self.line is None:
            return self.source
        if self.column is None:
            return f"{self.source}:{self.line}"
        return f"{self.source}:{self.line}:{self.column}"

    def render(self) -> str:
        """Return the issue as one human-readable line.

        Returns:
            ``location: path: message (hint)``, leaving out the parts that are empty.
        """
        text = ": ".join(part for part in (self.location, self.path, self.message) if part)
        return f"{text} ({self.hint})" if self.hint else text

    def to_dict(self) -> dict[str, Any]:
        """Return the issue as JSON-ready data (``dataflare validate --format json``).

        Returns:
            Every field, plus ``location``.
        """
        return {**attrs.asdict(self), "location": self.location}


def format_path(path: Sequence[Hashable]) -> str:
    """Write a path into a document the way a user reads it.

    Args:
        path: Mapping keys and sequence indexes from the top of the document.

    Returns:
        ``kernel.bus.buffer_size`` or ``pipeline.operators[2].uses``; keys that are
        not plain names are quoted (``headers["content.type"]``).
    """
    text = ""
    for part in path:
        if isinstance(part, str) and part and _is_plain_name(part):
            text = f"{text}.{part}" if text else part
        elif isinstance(part, int) and not isinstance(part, bool):
            text = f"{text}[{part}]"
        else:
            text = f'{text}["{part}"]' if isinstance(part, str) else f"{text}[{part!r}]"
    return text


def _is_plain_name(key: str) -> bool:
    return all(char.isalnum() or char in "_-" for char in key)
