"""A plugin's source project: ``dataflare-plugin.toml``, read and checked.

``dataflare plugin new`` writes the file and ``dataflare plugin build`` reads it.
Its ``[plugin]``, ``[params]`` and ``[limits]`` tables become the package manifest
(:class:`~dataflare.kernel._manifest.PluginManifest`); ``[build]`` says how to
compile::

    [plugin]
    name = "acme/shout"            # namespace/name
    version = "0.1.0"              # PEP 440
    kind = "map"                   # filter, map, filter_map, flat_map, aggregate
    license = "Apache-2.0"         # SPDX
    description = "Upper-cases values."
    dataflare = ">=0.1,<0.2"       # the DataFlare versions it works with
    capabilities = []              # "log", "wasi-stdio"

    [params]                       # default parameter values, strings
    mask = "#"

    [limits]                       # optional; the ABI's defaults otherwise
    memory_mb = 64                 # also fuel_base, fuel_per_record, timeout_ms,
                                   # max_output_bytes

    [build]
    language = "c"                 # c or zig
    sources = ["src/shout.c"]      # C: every file; Zig: the root file
    optimize = "fast"              # fast, small or safe (C default fast, Zig safe)

Every problem in the file is reported at once, as a
:class:`~dataflare.kernel.errors.ConfigError` whose issues carry the line.

Example::

    project = load_project(Path("shout"))
    project.manifest.name          # "acme/shout"
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Final, Protocol

import attrs
import cattrs

from dataflare.kernel._config_issues import ConfigIssue
from dataflare.kernel._convert import make_converter
from dataflare.kernel._manifest import PluginManifest, problems_of
from dataflare.kernel._suggest import did_you_mean
from dataflare.kernel.errors import ConfigError

__all__ = ("LANGUAGES", "OPTIMIZE", "PROJECT_FILE", "PluginProject", "load_project")

PROJECT_FILE: Final = "dataflare-plugin.toml"
LANGUAGES: Final = ("c", "zig")
OPTIMIZE: Final = ("fast", "small", "safe")
_DEFAULT_OPTIMIZE: Final = {"c": "fast", "zig": "safe"}
_TABLES: Final = ("plugin", "params", "limits", "build")
_BUILD_KEYS: Final = ("language", "sources", "optimize")
# Manifest fields a project must not set: the build fills them in.
_BUILT: Final = ("schema", "abi", "module", "files", "params", "limits")
_CONVERTER: Final = make_converter(forbid_extra_keys=True, strict=True)


class _Report(Protocol):
    def __call__(self, table: str, key: str, message: str, hint: str | None = None) -> None: ...


@attrs.frozen
class PluginProject:
    """A checked plugin project: what to compile, and the manifest to package it with."""

    directory: Path
    """The project's folder (where ``dataflare-plugin.toml`` is)."""
    manifest: PluginManifest
    """The manifest, without ``files`` (the build adds them)."""
    language: str
    """``c`` or ``zig``."""
    sources: tuple[str, ...]
    """Source files, relative to :attr:`directory`."""
    optimize: str
    """``fast``, ``small`` or ``safe``."""

    @property
    def package_name(self) -> str:
        """``<namespace>-<name>-<version>.dfp``, the file ``build`` writes."""
        namespace, name = self.manifest.name.split("/")
        return f"{namespace}-{name}-{self.manifest.version}.dfp"


def load_project(directory: Path) -> PluginProject:
    """Read and check ``dataflare-plugin.toml`` in ``directory``.

    Args:
        directory: The project's folder.

    Returns:
        The project.

    Raises:
        ConfigError: The file is missing, is not TOML, or has problems; every
            problem is listed, with its line when it can be found.
    """
    path = directory / PROJECT_FILE
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        hint = "create one with `dataflare plugin new`, or pass the project's folder"
        raise ConfigError([ConfigIssue("no such file", source, hint=hint)], source) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigIssue(f"cannot read it: {exc}", source)], source) from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([ConfigIssue(f"not valid TOML: {exc}", source)], source) from None
    issues: list[ConfigIssue] = []

    def issue(table: str, key: str, message: str, hint: str | None = None) -> None:
        line = _line_of(text, table, key)
        where = f"{table}.{key}" if key else table
        issues.append(ConfigIssue(message, source, where, line=line, hint=hint))

    for table in sorted(set(document) - set(_TABLES)):
        hint = did_you_mean(table, _TABLES) or f"the tables are {', '.join(_TABLES)}"
        issue(table, "", "unknown table", hint)
    tables: dict[str, dict[str, Any]] = {}
    for table in _TABLES:
        value = document.get(table, {})
        if not isinstance(value, dict):
            issue(table, "", f"must be a table, got {type(value).__name__}")
            value = {}
        tables[table] = value
    manifest = _manifest(tables, issue)
    language, sources, optimize = _build(tables["build"], directory, issue)
    if issues or manifest is None:
        raise ConfigError(issues, source)
    return PluginProject(directory, manifest, language, sources, optimize)


def _manifest(tables: dict[str, dict[str, Any]], issue: _Report) -> PluginManifest | None:
    plugin = tables["plugin"]
    for key in _BUILT:
        if key in plugin:
            table = key if key in ("params", "limits") else "plugin"
            issue("plugin", key, f"is not set here; the build fills it in (use [{table}])")
    known = [field.name for field in attrs.fields(PluginManifest) if field.name not in _BUILT]
    for key in sorted(set(plugin) - set(known) - set(_BUILT)):
        issue("plugin", key, "unknown key", did_you_mean(key, known) or f"keys: {', '.join(known)}")
    document = {key: value for key, value in plugin.items() if key in known}
    document["params"] = tables["params"]
    document["limits"] = tables["limits"]
    try:
        return _CONVERTER.structure(document, PluginManifest)
    except (cattrs.BaseValidationError, TypeError, ValueError) as exc:
        for problem in problems_of(exc):
            path, _, message = problem.partition(": ")
            head, _, rest = path.partition(".")
            if head in ("params", "limits"):
                issue(head, rest, message)
            else:
                issue("plugin", "" if path == "(top level)" else path, message)
        return None


def _build(
    build: dict[str, Any], directory: Path, issue: _Report
) -> tuple[str, tuple[str, ...], str]:
    for key in sorted(set(build) - set(_BUILD_KEYS)):
        issue("build", key, "unknown key", did_you_mean(key, _BUILD_KEYS))
    language = build.get("language")
    if language not in LANGUAGES:
        issue("build", "language", f"must be one of {', '.join(LANGUAGES)}, got {language!r}")
        language = "c"
    sources = build.get("sources")
    if not isinstance(sources, list) or not sources or not all(isinstance(s, str) for s in sources):
        issue("build", "sources", "must be a non-empty list of file names, e.g. ['src/plugin.c']")
        sources = []
    elif language == "zig" and len(sources) != 1:
        issue("build", "sources", "a Zig plugin has one root file; @import the others from it")
    for name in sources:
        if Path(name).is_absolute() or ".." in Path(name).parts:
            issue("build", "sources", f"{name!r} must be a path inside the project")
        elif not (directory / name).is_file():
            issue("build", "sources", f"{name!r} does not exist in {directory}")
    optimize = build.get("optimize", _DEFAULT_OPTIMIZE[language])
    if optimize not in OPTIMIZE:
        issue("build", "optimize", f"must be one of {', '.join(OPTIMIZE)}, got {optimize!r}")
    return language, tuple(sources), optimize


def _line_of(text: str, table: str, key: str) -> int | None:
    """The 1-based line of ``key`` in ``[table]`` (or of the table's header), if found."""
    current = None
    header = re.compile(r"\s*\[\s*([A-Za-z0-9_.-]+)\s*\]")
    want = re.compile(rf"\s*{re.escape(key.split('.')[0])}\s*=") if key else None
    for number, line in enumerate(text.splitlines(), start=1):
        match = header.match(line)
        if match:
            current = match[1]
            if want is None and current == table:
                return number
        elif want is not None and current == table and want.match(line):
            return number
    return None
