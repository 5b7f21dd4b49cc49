"""The static half of the ABI handshake: what a compiled module must export.

Everything here reads ``Module.exports`` only, before anything is instantiated,
so a module for another ABI version, or one that is no plugin at all, never runs
a single instruction (``docs/plugin-abi.md``, "Version handshake" and "Exports").

Example::

    exports = check_exports(module, abi="dataflare-batch/1", plugin="acme/redact")
    exports.has_flush       # df_flush is exported
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import attrs
import wasmtime

from dataflare.kernel.errors import PluginIncompatibleError, PluginLoadError

__all__ = ("ABI", "PluginExports", "check_exports", "describe_type")

ABI = "dataflare-batch/1"
"""The one ABI version this host runs."""

_VERSION = 1
_MARKER = re.compile(r"df_abi_v([1-9][0-9]*)")
_DECLARED = re.compile(r"dataflare-batch/([1-9][0-9]*)")
_UPGRADE = "upgrade dataflare-kernel, or build the plugin against an older SDK"

_I32 = "i32"
# name -> (parameter types, result types)
_REQUIRED = {
    "df_abi_v1": ((), ()),
    "df_reserve": ((_I32,), (_I32,)),
    "df_init": ((_I32, _I32), (_I32,)),
    "df_process": ((_I32, _I32), (_I32,)),
}
_OPTIONAL = {
    "df_flush": ((), (_I32,)),
    "df_snapshot": ((), (_I32,)),
    "df_restore": ((_I32, _I32), (_I32,)),
}


@attrs.frozen
class PluginExports:
    """Which optional exports a plugin module has."""

    has_flush: bool
    """``df_flush``: it emits held output at the end of a window or of the input."""
    has_snapshot: bool
    """``df_snapshot``: it can serialise its state."""
    has_restore: bool
    """``df_restore``: it can load state that ``df_snapshot`` produced."""


def check_exports(module: wasmtime.Module, *, abi: str, plugin: str) -> PluginExports:
    """Check the version marker and every export's presence and type.

    Args:
        module: The compiled module.
        abi: The ABI version the plugin's manifest declares.
        plugin: The plugin's name, for messages.

    Returns:
        The optional exports the module has.

    Raises:
        PluginIncompatibleError: The module or its manifest is for another ABI
            version (reason ``incompatible-abi``); the message names both versions.
        PluginLoadError: The module has no version marker, or lacks a required
            export, or an export has the wrong type; every problem is listed.
    """
    exports = {export.name: export.type for export in module.exports}
    _check_version(exports, abi, plugin)
    problems = []
    missing = [name for name in ("memory", *_REQUIRED) if name not in exports]
    if missing:
        problems.append(f"it lacks the required export(s) {', '.join(missing)}")
    memory = exports.get("memory")
    if memory is not None:
        if not isinstance(memory, wasmtime.MemoryType):
            problems.append(f"its export memory is a {describe_type(memory)}, not a memory")
        elif memory.is_64 or memory.is_shared:
            problems.append("its memory must be a plain 32-bit memory (not memory64 or shared)")
    for name, (params, results) in (_REQUIRED | _OPTIONAL).items():
        found = exports.get(name)
        if found is None:
            continue
        expected = _signature(params, results)
        if describe_type(found) != expected:
            problems.append(f"{name} has type {describe_type(found)}, expected {expected}")
    if problems:
        raise PluginLoadError(
            f"does not implement {ABI}: {'; '.join(problems)} (see docs/plugin-abi.md)",
            plugin=plugin,
        )
    return PluginExports(
        has_flush="df_flush" in exports,
        has_snapshot="df_snapshot" in exports,
        has_restore="df_restore" in exports,
    )


def describe_type(extern: object) -> str:
    """Render an import or export type the way the ABI document writes it."""
    if isinstance(extern, wasmtime.FuncType):
        results = ", ".join(str(result) for result in extern.results)
        params = ", ".join(str(param) for param in extern.params)
        return f"({params}) -> ({results})"
    for kind in ("memory", "table", "global"):
        if type(extern).__name__.lower().startswith(kind):
            return kind
    return type(extern).__name__


def _signature(params: tuple[str, ...], results: tuple[str, ...]) -> str:
    return f"({', '.join(params)}) -> ({', '.join(results)})"


def _check_version(exports: Mapping[str, object], abi: str, plugin: str) -> None:
    versions = sorted(int(match[1]) for name in exports if (match := _MARKER.fullmatch(name)))
    if not versions:
        raise PluginLoadError(
            "not a DataFlare plugin: the module exports no df_abi_v* version marker "
            f"({ABI} plugins export df_abi_v1); build it with the DataFlare SDK "
            "(`dataflare plugin new`)",
            plugin=plugin,
        )
    if _VERSION not in versions:
        built = ", ".join(f"dataflare-batch/{version}" for version in versions)
        raise PluginIncompatibleError(
            "incompatible-abi",
            f"built for {built}; this host supports {ABI}: {_UPGRADE}",
            plugin=plugin,
        )
    declared = _DECLARED.fullmatch(abi)
    if declared is None or int(declared[1]) != _VERSION:
        raise PluginIncompatibleError(
            "incompatible-abi",
            f"its manifest declares ABI {abi!r}, but the module exports df_abi_v{_VERSION} "
            f"and this host supports {ABI}: {_UPGRADE}, or fix the manifest's abi field",
            plugin=plugin,
        )
