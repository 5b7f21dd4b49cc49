"""The built-in connectors, how their options are checked, and how a spec becomes one.

Built-ins are registered through the kernel's ``dataflare_connectors`` hook like
any third-party connector; a factory takes the ``options`` mapping of a pipeline
file and returns a :class:`~dataflare.streaming.Connector`. Options of built-ins
are checked while the pipeline file is validated, so ``dataflare validate``
reports a misspelt option with its line and column.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
from cattrs.errors import BaseValidationError, ForbiddenExtraKeysError

from dataflare.kernel import ComponentRegistry, Registrar, make_converter
from dataflare.streaming._conn_files import CsvConnector, FileOptions, JsonLinesConnector
from dataflare.streaming._conn_generator import GeneratorConnector, GeneratorOptions
from dataflare.streaming._conn_memory import NullOptions, NullSink
from dataflare.streaming._conn_nats import NatsConnector, NatsOptions
from dataflare.streaming._conn_stdio import StdinConnector, StdioOptions, StdoutConnector
from dataflare.streaming._connector import Connector
from dataflare.streaming._spec import ConnectorSpec
from dataflare.streaming.errors import PipelineDefinitionError

__all__ = ("BUILTIN", "build_connector", "check_builtin_options", "register_builtin")


@attrs.frozen
class _Builtin:
    options: type
    make: Callable[[Any], Connector]
    description: str


BUILTIN: dict[str, _Builtin] = {
    "jsonl": _Builtin(FileOptions, JsonLinesConnector, "JSON Lines file: source and sink"),
    "csv": _Builtin(FileOptions, CsvConnector, "CSV file with a header row: source and sink"),
    "stdin": _Builtin(StdioOptions, StdinConnector, "JSON objects from standard input"),
    "stdout": _Builtin(StdioOptions, StdoutConnector, "record JSON lines to standard output"),
    "generator": _Builtin(GeneratorOptions, GeneratorConnector, "synthetic records (numpy)"),
    "nats": _Builtin(NatsOptions, NatsConnector, "record batches on NATS JetStream subjects"),
    "discard": _Builtin(NullOptions, NullSink, "discards what it is sent"),
}

_converter = make_converter(forbid_extra_keys=True, strict=True)


def structure_options(kind: str, options: Mapping[str, Any]) -> Any:
    """Structure a built-in connector's options, or raise ValueError naming every problem."""
    builtin = BUILTIN[kind]
    try:
        return _converter.structure(dict(options), builtin.options)
    except (BaseValidationError, TypeError, ValueError) as exc:
        raise ValueError(
            f"connector {kind!r}: " + "; ".join(_problems(exc, builtin.options))
        ) from None


def check_builtin_options(kind: str, options: Mapping[str, Any]) -> None:
    """Check a built-in connector's options (others are checked by their factory)."""
    if kind in BUILTIN:
        structure_options(kind, options)


def register_builtin(register: Registrar) -> None:
    """Register every built-in connector with the kernel."""
    for name, builtin in BUILTIN.items():

        def factory(options: Mapping[str, Any], _name: str = name) -> Connector:
            return BUILTIN[_name].make(structure_options(_name, options))

        register(name, factory, description=builtin.description)


def build_connector(
    spec: ConnectorSpec, registry: ComponentRegistry, *, base_dir: Path, where: str
) -> Connector:
    """Build the connector a spec names; relative file paths are taken from ``base_dir``.

    Raises:
        UnknownComponentError: No extension registered the type (close matches listed).
        PipelineDefinitionError: The factory refused the options.
    """
    component = registry.get(spec.type)
    options = dict(spec.options)
    if spec.type in ("jsonl", "csv") and "path" in options:
        options["path"] = str(base_dir / str(options["path"]))
    try:
        connector = component.factory(options)
    except (TypeError, ValueError) as exc:
        raise PipelineDefinitionError(str(exc), where=where) from exc
    if not isinstance(connector, Connector):
        raise PipelineDefinitionError(
            f"connector {spec.type!r} from extension {component.extension!r} built a "
            f"{type(connector).__name__}, not a Connector",
            where=where,
        )
    return connector


def _problems(exc: BaseException, kind: type, path: str = "") -> list[str]:
    if isinstance(exc, BaseValidationError):
        found: list[str] = []
        for child in exc.exceptions:
            note = next((n for n in getattr(child, "__notes__", ()) if hasattr(n, "name")), None)
            name = getattr(note, "name", None)
            found += _problems(child, kind, f"{path}.{name}" if name else path)
        return found
    if isinstance(exc, ForbiddenExtraKeysError):
        names = [field.name for field in attrs.fields(exc.cl)]
        return [
            f"unknown option {key!r} (options: {', '.join(names)})"
            for key in sorted(exc.extra_fields)
        ]
    if isinstance(exc, KeyError):
        return [f"option {exc.args[0]!r} is required"]
    return [f"option {path.lstrip('.')}: {exc}" if path else str(exc)]
