"""Load a config file into typed sections, reporting every problem in it at once.

A config file is a YAML mapping of sections (``kernel:``, ``pipeline:``...); each
section name is registered with an attrs class, by the kernel or by an extension.
Loading goes: parse the YAML (a syntax error stops here), check the section
names, expand ``${VAR}`` references, then structure every section with a strict
cattrs converter. Whatever goes wrong in the last three steps is collected, each
problem mapped back to the line and column it comes from, and raised as one
:class:`~dataflare.kernel.errors.ConfigError`.

Example::

    from pathlib import Path

    try:
        config = load_config(Path("app.yaml"), sections={"kernel": KernelSettings})
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue.render())   # app.yaml:4:5: kernel.bus.buffer_sise: unknown key (...)
    else:
        print(config.section("kernel", KernelSettings).bus.buffer_size)
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar, overload

import attrs
from cattrs.errors import (
    AttributeValidationNote,
    BaseValidationError,
    ForbiddenExtraKeysError,
    IterableValidationNote,
)

from dataflare.kernel._config_issues import ConfigIssue, format_path
from dataflare.kernel._convert import make_converter
from dataflare.kernel._describe import describe_type
from dataflare.kernel._interpolate import interpolate
from dataflare.kernel._strict import ValidatorError
from dataflare.kernel._suggest import closest, did_you_mean, hint_for_value
from dataflare.kernel._yaml import Document, DocumentPath, Position, parse_document
from dataflare.kernel.errors import ConfigError, InterpolationError

__all__ = ("Config", "load_config", "validate_file")

T = TypeVar("T")

_MISSING = object()
_NOTES = (AttributeValidationNote, IterableValidationNote)  # where cattrs records a field or index


def _read_only(sections: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(sections))


@attrs.frozen
class Config:
    """A validated config: one structured value per registered section."""

    source: str
    """The file it was read from, as named in messages."""

    sections: Mapping[str, Any] = attrs.field(converter=_read_only)
    """Each registered section's value (an instance of its class), by name."""

    @overload
    def section(self, name: str) -> Any: ...

    @overload
    def section(self, name: str, kind: type[T]) -> T: ...

    def section(self, name: str, kind: type[Any] | None = None) -> Any:
        """Return one section's value.

        Args:
            name: The section's name, e.g. ``kernel``.
            kind: The class the section should be; pass it to get a typed value.

        Returns:
            The section's structured value.

        Raises:
            KeyError: No section of that name is registered.
            TypeError: The section is not an instance of ``kind``.
        """
        if name not in self.sections:
            hint = did_you_mean(name, self.sections) or f"known: {', '.join(self.sections)}"
            raise KeyError(f"no config section {name!r} is registered ({hint})")
        value = self.sections[name]
        if kind is not None and not isinstance(value, kind):
            raise TypeError(
                f"config section {name!r} is {type(value).__name__}, not {kind.__name__}"
            )
        return value

    def __getitem__(self, name: str) -> Any:
        """Return one section's value, like :meth:`section`."""
        return self.section(name)


def load_config(
    path_or_text: str | os.PathLike[str],
    *,
    sections: Mapping[str, type],
    source: str | None = None,
    env: Mapping[str, str] | None = None,
    ignore_unknown_sections: bool = False,
) -> Config:
    """Read, check and structure a config file.

    A registered section the file leaves out gets its class's defaults; an
    empty section (``kernel:`` with nothing under it) counts as an empty mapping.

    Args:
        path_or_text: A path (any :class:`os.PathLike`, e.g. :class:`~pathlib.Path`)
            to read, or a ``str`` holding the YAML text itself.
        sections: Each allowed section name and the attrs class its value becomes.
        source: The name used in messages; defaults to the path, or ``<string>``.
        env: Variables for ``${VAR}`` references; defaults to :data:`os.environ`.
        ignore_unknown_sections: Skip sections nobody registered instead of
            reporting them (the kernel reads ``kernel:`` alone before extensions load).

    Returns:
        The validated config.

    Raises:
        ConfigError: The file is invalid; ``issues`` lists every problem, each at
            its line and column. It is an :class:`InterpolationError` when the only
            problems are unresolved ``${VAR}`` references.
        OSError: The file cannot be read.
    """
    text, source = _read(path_or_text, source)
    document = parse_document(text, source)
    known, section_issues = _split_sections(document, sections, ignore_unknown_sections)
    document, env_issues = interpolate(
        attrs.evolve(document, data=known), os.environ if env is None else env
    )
    unresolved = {issue.path for issue in env_issues}
    values, value_issues = _structure_sections(document, sections)
    # A value with an unresolved reference is already reported; its type error would be noise.
    value_issues = [issue for issue in value_issues if issue.path not in unresolved]
    issues = sorted([*section_issues, *env_issues, *value_issues], key=_by_position)
    if issues:
        only_env = len(env_issues) == len(issues)
        raise (InterpolationError if only_env else ConfigError)(issues, source)
    return Config(source, values)


def validate_file(
    path: str | os.PathLike[str],
    sections: Mapping[str, type],
    *,
    env: Mapping[str, str] | None = None,
) -> list[ConfigIssue]:
    """Check a config file and list its problems (what ``dataflare validate`` prints).

    Args:
        path: The file to check (a ``str`` here is always a path).
        sections: Each allowed section name and its attrs class.
        env: Variables for ``${VAR}`` references; defaults to :data:`os.environ`.

    Returns:
        Every problem found, in file order; empty when the file is valid.

    Raises:
        OSError: The file cannot be read.
    """
    try:
        load_config(Path(path), sections=sections, env=env)
    except ConfigError as exc:
        return list(exc.issues)
    return []


def _read(path_or_text: str | os.PathLike[str], source: str | None) -> tuple[str, str]:
    if isinstance(path_or_text, str):
        return path_or_text, source or "<string>"
    name = source or os.fspath(path_or_text)
    data = Path(path_or_text).read_bytes()
    try:
        return data.decode("utf-8-sig"), name
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        issue = ConfigIssue(f"the file is not UTF-8 text: {exc.reason}", name, line=line)
        raise ConfigError([issue], name) from exc


def _split_sections(
    document: Document, sections: Mapping[str, type], ignore_unknown: bool
) -> tuple[dict[str, Any], list[ConfigIssue]]:
    known: dict[str, Any] = {}
    issues: list[ConfigIssue] = []
    for name, value in document.data.items():
        if name in sections:
            known[name] = {} if value is None else value
        elif not ignore_unknown:
            issues.append(_unknown_section(document, name, sections))
    return known, issues


def _unknown_section(document: Document, name: Any, sections: Mapping[str, type]) -> ConfigIssue:
    listed = ", ".join(sorted(sections))
    match = closest(str(name), sections)
    if match is not None:
        message, hint = "unknown section", f"did you mean {match!r}?"
    else:
        message = f"no installed extension provides section {name!r}"
        hint = f"known sections: {listed}; install the extension that provides it, or remove it"
    where = document.key_position((name,))
    return _issue(document, (name,), where, message, f"one of: {listed}", hint)


def _structure_sections(
    document: Document, sections: Mapping[str, type]
) -> tuple[dict[str, Any], list[ConfigIssue]]:
    converter = make_converter(forbid_extra_keys=True, strict=True)
    values: dict[str, Any] = {}
    issues: list[ConfigIssue] = []
    for name, kind in sections.items():
        if name not in document.data and not _has_defaults(kind):
            hint = f"add a '{name}:' section with: {', '.join(_required_keys(kind))}"
            issues.append(ConfigIssue("missing section", document.source, name, hint=hint))
            continue
        try:
            values[name] = converter.structure(document.data.get(name, {}), kind)
        except (BaseValidationError, TypeError, ValueError) as exc:
            issues.extend(_issues_from(exc, (name,), kind, document))
    return values, issues


def _has_defaults(kind: type) -> bool:
    # A class that is not attrs is not ours to judge: structuring {} will say what is missing.
    return not attrs.has(kind) or not _required_keys(kind)


def _required_keys(kind: type) -> list[str]:
    fields = attrs.fields(kind)
    return [field.name for field in fields if field.init and field.default is attrs.NOTHING]


def _issues_from(
    exc: BaseException, path: DocumentPath, kind: Any, document: Document
) -> Iterator[ConfigIssue]:
    """Turn one cattrs error (a tree of them, for a class) into issues at their positions."""
    if isinstance(exc, BaseValidationError):
        for child in exc.exceptions:
            note = next((n for n in getattr(child, "__notes__", ()) if isinstance(n, _NOTES)), None)
            if isinstance(note, AttributeValidationNote):
                yield from _issues_from(child, (*path, note.name), note.type, document)
            elif isinstance(note, IterableValidationNote):
                yield from _issues_from(child, (*path, note.index), note.type, document)
            else:
                yield from _issues_from(child, path, kind, document)
    elif isinstance(exc, ForbiddenExtraKeysError):
        yield from _unknown_keys(exc, path, document)
    elif isinstance(exc, KeyError) and path and exc.args == (path[-1],):
        where = document.key_position(path[:-1])
        add = f"add '{path[-1]}:' to {format_path(path[:-1])}"
        yield _issue(document, path, where, "required key is missing", describe_type(kind), add)
    elif isinstance(exc, ValidatorError):
        yield _issue(document, path, document.value_position(path), str(exc))
    else:
        value = _value_at(document.data, path)
        hint = None if value is _MISSING else hint_for_value(kind, value)
        where = document.value_position(path)
        yield _issue(document, path, where, str(exc), describe_type(kind), hint)


def _unknown_keys(
    exc: ForbiddenExtraKeysError, path: DocumentPath, document: Document
) -> Iterator[ConfigIssue]:
    names = [field.name for field in attrs.fields(exc.cl) if field.init]
    expected = f"one of: {', '.join(names)}"
    for key in sorted(exc.extra_fields, key=str):
        hint = did_you_mean(str(key), names) or f"valid keys: {', '.join(names)}"
        where = document.key_position((*path, key))
        yield _issue(document, (*path, key), where, "unknown key", expected, hint)


def _issue(
    document: Document,
    path: DocumentPath,
    where: Position | None,
    message: str,
    expected: str | None = None,
    hint: str | None = None,
) -> ConfigIssue:
    return ConfigIssue(
        message,
        document.source,
        format_path(path),
        line=where.line if where else None,
        column=where.column if where else None,
        expected=expected,
        hint=hint,
    )


def _value_at(data: Any, path: DocumentPath) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return _MISSING
    return data


def _by_position(issue: ConfigIssue) -> tuple[bool, int, int]:
    # Issues without a position (a missing section) go last.
    return (issue.line is None, issue.line or 0, issue.column or 0)
