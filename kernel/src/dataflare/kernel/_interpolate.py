"""Environment variables in config values: ``${VAR}``, ``${VAR:-default}``, ``${VAR:?message}``.

The rules, chosen so a config file never changes meaning by surprise:

* Only values are interpolated, never keys, and only after the YAML is parsed,
  so a ``${X}`` in a comment (say, a commented-out line) is never touched.
* ``${VAR}`` is the variable's value; unset, it is an error (set but empty, it is
  the empty string). ``${VAR:-default}`` gives ``default`` when ``VAR`` is unset or
  empty. ``${VAR:?message}`` is an error saying ``message`` when ``VAR`` is unset
  or empty. ``$${`` is a literal ``${``. Substitution is one pass: a value that
  itself contains ``${`` is not expanded again.
* A plain (unquoted) value that is exactly one reference is typed again as YAML
  would type it, so ``buffer_size: ${SIZE:-64}`` is the integer 64 and
  ``strict: ${STRICT:-false}`` the boolean false. A quoted or block value, or one
  with other text around the reference, stays a string: ``port: "${PORT}"`` is
  the string ``"8080"``.
* Every unresolved reference in the document is reported, each at its line and
  column.

Example::

    expand("http://${HOST:-localhost}:$${PORT}", {})
    # ('http://localhost:${PORT}', ())
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

from dataflare.kernel._config_issues import ConfigIssue, format_path
from dataflare.kernel._yaml import Document, DocumentPath, Position, parse_scalar

__all__ = ("Unresolved", "expand", "interpolate")

_TOKEN = re.compile(r"(?P<escape>\$\$\{)|\$\{(?P<body>[^}]*)\}|(?P<unclosed>\$\{)")
_BODY = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:-|:\?)(?P<arg>.*))?", re.DOTALL)
_WHOLE = re.compile(r"\$\{[^}]*\}")
_LINE_BREAK = re.compile(r"\r\n|[\n\r\x85\u2028\u2029]")  # what YAML counts as a new line
_FORMS = "write ${NAME}, ${NAME:-default} or ${NAME:?message}; $${ is a literal ${"


@attrs.frozen
class Unresolved:
    """A ``${...}`` reference in a value that could not be given a value."""

    expression: str
    """The reference as written, e.g. ``${DB_URL}``."""

    offset: int
    """Where the reference starts in the value's text (0-based)."""

    message: str
    """Why it has no value."""

    hint: str | None = None
    """How to fix it."""


def expand(text: str, env: Mapping[str, str]) -> tuple[str, tuple[Unresolved, ...]]:
    """Substitute every reference in one string.

    Args:
        text: A value from a config file.
        env: The environment variables to read.

    Returns:
        The expanded text and the references that could not be resolved; those
        are left in the text as written.
    """
    parts: list[str] = []
    unresolved: list[Unresolved] = []
    end = 0
    for match in _TOKEN.finditer(text):
        parts.append(text[end : match.start()])
        end = match.end()
        if match["escape"] is not None:
            parts.append("${")
            continue
        value, problem = _resolve(match, env)
        parts.append(match[0] if value is None else value)
        if problem is not None:
            unresolved.append(problem)
    parts.append(text[end:])
    return "".join(parts), tuple(unresolved)


def interpolate(document: Document, env: Mapping[str, str]) -> tuple[Document, list[ConfigIssue]]:
    """Expand the references in every string value of a document.

    Args:
        document: The parsed document.
        env: The environment variables to read.

    Returns:
        The document with its values expanded (positions unchanged), and one issue
        per unresolved reference; an unresolved value keeps its text as written.
    """
    issues: list[ConfigIssue] = []
    lines = _LINE_BREAK.split(document.text)

    def walk(value: Any, path: DocumentPath) -> Any:
        if isinstance(value, dict):
            return {key: walk(item, (*path, key)) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item, (*path, index)) for index, item in enumerate(value)]
        if not isinstance(value, str) or "${" not in value:
            return value
        expanded, unresolved = expand(value, env)
        for problem in unresolved:
            position = _position_of(problem, value, path, document, lines)
            issues.append(
                ConfigIssue(
                    problem.message,
                    document.source,
                    format_path(path),
                    line=position.line if position else None,
                    column=position.column if position else None,
                    hint=problem.hint,
                )
            )
        plain = document.styles.get(path) == ""
        if plain and not unresolved and _WHOLE.fullmatch(value):
            return parse_scalar(expanded)
        return expanded

    return attrs.evolve(document, data=walk(document.data, ())), issues


def _resolve(match: re.Match[str], env: Mapping[str, str]) -> tuple[str | None, Unresolved | None]:
    expression, offset = match[0], match.start()
    if match["unclosed"] is not None:
        problem = Unresolved(expression, offset, "'${' is not closed with '}'", _FORMS)
        return None, problem
    body = _BODY.fullmatch(match["body"])
    if body is None or "${" in (body["arg"] or ""):
        message = f"{expression!r} is not a valid reference"
        if body is not None:
            message += " (references do not nest)"
        return None, Unresolved(expression, offset, message, _FORMS)
    name, op, arg = body["name"], body["op"], body["arg"]
    value = env.get(name)
    if op == ":-":
        return (value if value else arg), None
    if op == ":?" and not value:
        state = "is empty" if value == "" else "is not set"
        message = f"environment variable {name} {state}" + (f": {arg}" if arg else "")
        return None, Unresolved(expression, offset, message)
    if value is None:
        hint = f"set it, or give a default: ${{{name}:-value}}"
        return None, Unresolved(expression, offset, f"environment variable {name} is not set", hint)
    return value, None


def _position_of(
    problem: Unresolved, value: str, path: DocumentPath, document: Document, lines: list[str]
) -> Position | None:
    """Point at the reference itself when the value sits on one line, else at the value.

    Quoting escapes can make the value's text differ from the file's, so the
    reference is looked for in the file's line, as the n-th occurrence of its text
    after the value's start.
    """
    start = document.value_position(path)
    if start is None or document.styles.get(path) not in ("", "'", '"'):
        return start
    occurrence = value.count(problem.expression, 0, problem.offset)
    line = lines[start.line - 1]
    index = start.column - 2
    for _ in range(occurrence + 1):
        index = line.find(problem.expression, index + 1)
        if index < 0:
            return start
    return Position(start.line, index + 1)
