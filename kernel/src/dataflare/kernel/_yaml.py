"""Read YAML config text into plain data that remembers where every value was written.

The text is composed into ruamel.yaml's node graph, which keeps the line and
column of every key and value, and then walked into plain Python data (``dict``,
``list``, ``str``, ``int``...) beside a table of positions, so a later error
about ``kernel.bus.buffer_size`` can name its line and column. ruamel.yaml reads
YAML 1.2, where ``no`` and ``on`` stay strings.

Problems YAML itself rejects are all reported together: a syntax error (the
parser cannot go past it, so it is the only one), every duplicate key, every
unsupported tag, and a top level that is not a mapping of sections.

Example::

    document = parse_document("kernel:\\n  bus:\\n    buffer_size: 64\\n", "app.yaml")
    document.data   # {'kernel': {'bus': {'buffer_size': 64}}}
    document.value_position(("kernel", "bus", "buffer_size"))  # Position(line=3, column=18)
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import attrs
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError

from dataflare.kernel._config_issues import ConfigIssue, format_path
from dataflare.kernel._describe import describe_value
from dataflare.kernel.errors import ConfigError

__all__ = ("Document", "DocumentPath", "Position", "parse_document", "parse_scalar")

#: Mapping keys and sequence indexes from the top of a document to one value.
DocumentPath = tuple[Hashable, ...]

_CORE = "tag:yaml.org,2002:"  # the prefix of every tag YAML resolves on its own
_MERGE = f"{_CORE}merge"


@attrs.frozen
class Position:
    """A place in a text file."""

    line: int
    """1-based line number."""

    column: int
    """1-based column number, in characters."""


@attrs.frozen
class Document:
    """A parsed config file: its data, and where each part of it was written."""

    source: str
    """The file name used in messages."""

    text: str
    """The text the document was parsed from."""

    data: dict[Any, Any]
    """The top-level mapping as plain Python data (empty for an empty file)."""

    value_positions: Mapping[DocumentPath, Position]
    """Where each value starts; the root mapping is at the empty path."""

    key_positions: Mapping[DocumentPath, Position]
    """Where the key of each mapping entry starts, by the path of its value."""

    styles: Mapping[DocumentPath, str]
    """How each string value was written: ``""`` plain, ``'`` or ``"`` quoted,
    ``|`` or ``>`` block. Quoting is a statement that the value is a string."""

    def value_position(self, path: DocumentPath) -> Position | None:
        """Find where a value was written, or its closest written ancestor.

        Args:
            path: The value's path; it may lead past the data (a missing key).

        Returns:
            The position, or ``None`` when not even the root has one (empty file).
        """
        for end in range(len(path), -1, -1):
            position = self.value_positions.get(path[:end])
            if position is not None:
                return position
        return None

    def key_position(self, path: DocumentPath) -> Position | None:
        """Find where the key naming a value was written (for unknown or bad keys).

        Args:
            path: The path of the value the key names.

        Returns:
            The key's position, else the value's (see :meth:`value_position`).
        """
        return self.key_positions.get(path) or self.value_position(path)


def parse_document(text: str, source: str) -> Document:
    """Parse config text, keeping the position of every key and value.

    Args:
        text: The YAML text. An empty file (or one of only comments) is an empty mapping.
        source: The file name to put in positions and messages.

    Returns:
        The document.

    Raises:
        ConfigError: The text is not valid YAML, repeats a key, uses an unsupported
            tag, or its top level is not a mapping; every such problem is listed.
    """
    yaml = YAML(typ="safe", pure=True)
    try:
        root = yaml.compose(text)
    except MarkedYAMLError as exc:
        raise ConfigError([_syntax_issue(exc, source)], source) from exc
    except ReaderError as exc:
        raise ConfigError([_character_issue(exc, text, source)], source) from exc
    except YAMLError as exc:  # anything else the parser refuses, without a position
        raise ConfigError([ConfigIssue(f"invalid YAML: {exc}", source)], source) from exc
    if root is None:
        return Document(source, text, {}, {}, {}, {})
    reader = _Reader(yaml, source)
    data = reader.read(root, ())
    if not isinstance(data, dict):
        got = describe_value(data)
        message = f"the top level must be a mapping of sections (like 'kernel:'), got {got}"
        # A file name passed where text was expected parses as one string.
        looks_like_path = isinstance(data, str) and data.endswith((".yaml", ".yml", ".json"))
        hint = "to read a file, pass a pathlib.Path, not a str" if looks_like_path else None
        reader.issue((), root, message, hint)
    if reader.issues:
        raise ConfigError(sorted(reader.issues, key=_by_position), source)
    return Document(source, text, data, reader.values, reader.keys, reader.styles)


def parse_scalar(text: str) -> Any:
    """Type text the way YAML types a plain (unquoted) value written in a file.

    Args:
        text: The text of one value.

    Returns:
        ``64`` for ``"64"``, ``True`` for ``"true"``, ``None`` for ``"null"``; text
        YAML would read as a string is returned unchanged, and so is ``""`` (an
        empty value is an empty string here, not YAML's null).
    """
    if not text:
        return text
    yaml = YAML(typ="safe", pure=True)
    tag = yaml.resolver.resolve(ScalarNode, text, (True, False))
    if tag == f"{_CORE}str":
        return text
    return yaml.constructor.construct_object(ScalarNode(tag, text), deep=True)


class _Reader:
    """Walks composed nodes into plain data, recording positions and problems."""

    def __init__(self, yaml: YAML, source: str) -> None:
        self.constructor = yaml.constructor
        self.source = source
        self.values: dict[DocumentPath, Position] = {}
        self.keys: dict[DocumentPath, Position] = {}
        self.styles: dict[DocumentPath, str] = {}
        self.issues: list[ConfigIssue] = []
        self._open: set[int] = set()  # collections being read, to catch an alias inside itself

    def issue(self, path: DocumentPath, node: Node, message: str, hint: str | None = None) -> None:
        position = _position(node)
        path_text = format_path(path)
        self.issues.append(
            ConfigIssue(message, self.source, path_text, position.line, position.column, hint=hint)
        )

    def read(self, node: Node, path: DocumentPath) -> Any:
        self.values[path] = _position(node)
        if isinstance(node, ScalarNode):
            return self._scalar(node, path)
        if id(node) in self._open:
            self.issue(path, node, "an alias refers to a collection that contains it")
            return None
        self._open.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self._mapping(node, path)
            self._expect_tag(node, path, "seq")
            return [self.read(child, (*path, index)) for index, child in enumerate(node.value)]
        finally:
            self._open.discard(id(node))

    def _scalar(self, node: ScalarNode, path: DocumentPath) -> Any:
        value = self._construct(node, path)
        if isinstance(value, str):
            self.styles[path] = node.style or ""
        return value

    def _construct(self, node: ScalarNode, path: DocumentPath) -> Any:
        if not self._expect_tag(node, path, None):
            return None
        try:
            return self.constructor.construct_object(node, deep=True)
        except (MarkedYAMLError, ValueError) as exc:
            # An explicit tag the text does not fit, like `!!int abc`.
            problem = exc.problem if isinstance(exc, MarkedYAMLError) else str(exc)
            self.issue(path, node, f"invalid value: {problem}")
            return None

    def _mapping(self, node: MappingNode, path: DocumentPath) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        # Merged entries go in first, so the mapping's own keys override them.
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                result.update(self._merged(value_node, path))
        self._expect_tag(node, path, "map")
        seen: dict[Any, Node] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                continue
            if not isinstance(key_node, ScalarNode):
                self.issue(path, key_node, "a key must be a single value, not a list or mapping")
                continue
            key = self._construct(key_node, path)
            if key in seen:
                first = _position(seen[key])
                hint = f"it is first set at line {first.line}; keep one of them"
                self.issue((*path, key), key_node, f"duplicate key {key!r}", hint)
                continue
            seen[key] = key_node
            self.keys[(*path, key)] = _position(key_node)
            result[key] = self.read(value_node, (*path, key))
        return result

    def _merged(self, node: Node, path: DocumentPath) -> dict[Any, Any]:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        merged: dict[Any, Any] = {}
        # Earlier sources win over later ones, so apply them last.
        for source in reversed(sources):
            if not isinstance(source, MappingNode):
                self.issue(path, source, "'<<' can only merge mappings (an alias like *defaults)")
                continue
            if id(source) in self._open:
                self.issue(path, source, "an alias refers to a collection that contains it")
                continue
            merged.update(self._mapping(source, path))
        return merged

    def _expect_tag(self, node: Node, path: DocumentPath, kind: str | None) -> bool:
        tag = str(node.tag)
        if (kind is None and tag.startswith(_CORE)) or tag == f"{_CORE}{kind}":
            return True
        hint = "config files use plain YAML values; remove the tag"
        shown = f"!!{tag.removeprefix(_CORE)}" if tag.startswith(_CORE) else tag
        self.issue(path, node, f"unsupported tag {shown!r}", hint)
        return False


def _position(node: Node) -> Position:
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


def _by_position(issue: ConfigIssue) -> tuple[int, int]:
    return (issue.line or 0, issue.column or 0)


def _syntax_issue(exc: MarkedYAMLError, source: str) -> ConfigIssue:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or str(exc)
    hint = None
    if "'\\t'" in problem:
        hint = "indent with spaces; YAML does not allow tabs there"
    elif problem == "mapping values are not allowed here":
        hint = "put the value in quotes if it contains ': '"
    elif exc.context == "expected a single document in the stream":
        problem = "found a second document"
        hint = "a config file holds one document; remove the '---' line"
    elif exc.context and exc.context_mark is not None and exc.problem:
        line, column = exc.context_mark.line + 1, exc.context_mark.column + 1
        hint = f"{exc.context} that starts at line {line}, column {column}"
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
    return ConfigIssue(f"invalid YAML: {problem}", source, line=line, column=column, hint=hint)


def _character_issue(exc: ReaderError, text: str, source: str) -> ConfigIssue:
    line_start = text.rfind("\n", 0, exc.position) + 1
    return ConfigIssue(
        f"invalid YAML: the control character U+{exc.character:04X} is not allowed",
        source,
        line=text.count("\n", 0, exc.position) + 1,
        column=exc.position - line_start + 1,
        hint="remove it, or write it as an escape inside double quotes",
    )
