"""Writing plugins: scaffold a project, then compile it to wasm32 and package it.

:func:`new_project` copies a template for a language and a transform kind from
the SDK shipped in this package (``sdk/``: ``dataflare.h``, ``dataflare.zig``,
``templates/``). :func:`build_project` compiles the project with the ``ziglang``
distribution (``pip install 'dataflare-kernel[build]'``), which is both the C
compiler (``zig cc``) and the Zig compiler, checks the module's exports and
imports against the ABI, and writes an unsigned package. The project file is
described in :mod:`dataflare.kernel._plugin_project`.

Example::

    project = new_project(Path("shout"), name="acme/shout", language="c", kind="map")
    package = build_project(project)        # shout/dist/acme-shout-0.1.0.dfp
"""

from __future__ import annotations

import importlib.util
import logging
import subprocess
import sys
from pathlib import Path
from typing import Final

import wasmtime

from dataflare.kernel._manifest_rules import KINDS, NAME
from dataflare.kernel._package import write_package
from dataflare.kernel._plugin_project import LANGUAGES, PROJECT_FILE, PluginProject, load_project
from dataflare.kernel.errors import PluginError

__all__ = ("SDK_DIR", "build_project", "new_project")

SDK_DIR: Final = Path(__file__).parent / "sdk"
"""The SDK: ``dataflare.h``, ``dataflare.zig`` and the project templates."""

logger = logging.getLogger("dataflare.plugin")

_EXTENSION: Final = {"c": "c", "zig": "zig"}
_TEMPLATES: Final = {  # kind -> (description, [params] lines)
    "filter": ("Keeps the records whose value contains a needle.", 'needle = "ERROR"\n'),
    "map": ("Upper-cases the ASCII letters of every value.", ""),
    "filter_map": ("Trims the spaces around each value and drops blank records.", ""),
    "flat_map": ("One output record per comma-separated item of each value.", ""),
    "aggregate": ("Counts records and emits the count when flushed.", ""),
}
_REQUIRED: Final = ("df_abi_v1", "df_reserve", "df_init", "df_process")
_OPTIONAL: Final = ("df_flush", "df_snapshot", "df_restore")
_CAPABILITY_IMPORTS: Final = {"df": "log", "wasi_snapshot_preview1": "wasi-stdio"}
_C_OPTIMIZE: Final = {
    "fast": ["-O2"],
    "small": ["-Oz"],
    "safe": ["-O2", "-fsanitize=undefined", "-fsanitize-trap=undefined"],
}
_ZIG_OPTIMIZE: Final = {"fast": "ReleaseFast", "small": "ReleaseSmall", "safe": "ReleaseSafe"}
# The ABI's feature set: MVP plus bulk memory, sign extension and mutable globals.
_C_TARGET: Final = (
    "--target=wasm32-freestanding",
    "-mcpu=mvp",
    "-mbulk-memory",
    "-msign-ext",
    "-mmutable-globals",
)
_ZIG_TARGET: Final = (
    "-target",
    "wasm32-freestanding",
    "-mcpu=mvp+bulk_memory+sign_ext+mutable_globals",
)
_TIMEOUT: Final = 600  # seconds; a first Zig build also compiles its standard library


def new_project(directory: Path, *, name: str, language: str = "c", kind: str = "map") -> Path:
    """Create a plugin project from the SDK's template for ``language`` and ``kind``.

    Args:
        directory: The folder to create; it must not exist or be empty.
        name: The plugin's ``namespace/name`` (lowercase letters, digits, hyphens).
        language: ``c`` or ``zig``.
        kind: ``filter``, ``map``, ``filter_map``, ``flat_map`` or ``aggregate``.

    Returns:
        ``directory``.

    Raises:
        PluginError: The name, language or kind is invalid, or ``directory`` is
            a file or a folder that is not empty.
    """
    if not NAME.fullmatch(name):
        message = f"{name!r} is not namespace/name in lowercase letters, digits and hyphens"
        raise PluginError(f"{message}, e.g. 'acme/shout'")
    if language not in LANGUAGES:
        raise PluginError(f"no template for language {language!r}; choose one of {LANGUAGES}")
    if kind not in KINDS:
        raise PluginError(f"no template for kind {kind!r}; choose one of {KINDS}", plugin=name)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        message = f"{directory} already exists and is not an empty folder: choose another --dir"
        raise PluginError(message, plugin=name)
    namespace, short = name.split("/")
    source = f"src/{short.replace('-', '_')}.{_EXTENSION[language]}"
    description, params = _TEMPLATES[kind]
    fill = {
        "name": name,
        "namespace": namespace,
        "kind": kind,
        "source": source,
        "description": description,
        "params": params,
        "package": f"{namespace}-{short}-0.1.0.dfp",
    }
    template = SDK_DIR / "templates" / language
    files = {
        PROJECT_FILE: template / PROJECT_FILE,
        "README.md": template / "README.md",
        ".gitignore": template / "gitignore",
        source: template / "src" / f"{kind}.{_EXTENSION[language]}",
    }
    for target, origin in files.items():
        text = origin.read_text(encoding="utf-8")
        for key, value in fill.items():
            text = text.replace("{{" + key + "}}", value)
        (directory / target).parent.mkdir(parents=True, exist_ok=True)
        (directory / target).write_text(text, encoding="utf-8")
    if language == "c":  # lets clangd find dataflare.h and know the target
        flags = ["--target=wasm32", "-std=c11", f"-I{SDK_DIR}"]
        (directory / "compile_flags.txt").write_text("\n".join(flags) + "\n", encoding="utf-8")
    return directory


def build_project(directory: Path, *, out_dir: Path | None = None) -> Path:
    """Compile a plugin project to wasm32 and write its unsigned package.

    The module goes to ``<directory>/build/plugin.wasm`` and the package to
    ``<out_dir>/<namespace>-<name>-<version>.dfp`` (``out_dir`` defaults to
    ``<directory>/dist``). Compiler warnings are logged on ``dataflare.plugin``.

    Args:
        directory: The project's folder (where ``dataflare-plugin.toml`` is).
        out_dir: Where to write the package.

    Returns:
        The package's path.

    Raises:
        ConfigError: ``dataflare-plugin.toml`` is missing or has problems.
        PluginError: The compiler is not installed or reported errors (its
            output is in the message), or the module does not fit the ABI or
            imports something its capabilities do not grant.
    """
    project = load_project(directory)
    name = project.manifest.name
    if importlib.util.find_spec("ziglang") is None:
        hint = "install it with `pip install 'dataflare-kernel[build]'`"
        raise PluginError(
            f"cannot build: the ziglang compiler is not installed; {hint}", plugin=name
        )
    build = directory / "build"
    build.mkdir(exist_ok=True)
    wasm_path = build / "plugin.wasm"
    if project.language == "c":
        _compile_c(project, wasm_path)
    else:
        _compile_zig(project, build, wasm_path)
    wasm = wasm_path.read_bytes()
    _check_module(project, wasm)
    out = out_dir if out_dir is not None else directory / "dist"
    out.mkdir(parents=True, exist_ok=True)
    return write_package(out / project.package_name, project.manifest, {"plugin.wasm": wasm})


def _compile_c(project: PluginProject, wasm_path: Path) -> None:
    command = ["cc", *_C_TARGET, "-std=c11", *_C_OPTIMIZE[project.optimize], "-g0"]
    command += ["-Wall", "-Wextra", "-nostdlib", "-Wl,--no-entry", "-I", str(SDK_DIR)]
    # dataflare.h marks the ABI functions export_name(...), so the module exports
    # exactly those (never --export-dynamic, which adds __stack_pointer).
    command += ["-o", str(wasm_path.resolve()), *project.sources]
    _zig(project, command, "compiling")


def _compile_zig(project: PluginProject, build: Path, wasm_path: Path) -> None:
    mode = ["-O", _ZIG_OPTIMIZE[project.optimize], "-fstrip"]
    obj = build / "plugin.o"
    modules = ["--dep", "dataflare", f"-Mroot={project.sources[0]}"]
    modules += [f"-Mdataflare={SDK_DIR / 'dataflare.zig'}"]
    _zig(
        project,
        ["build-obj", *_ZIG_TARGET, *mode, *modules, f"-femit-bin={obj.resolve()}"],
        "compiling",
    )
    # Zig exports nothing from a wasm executable unless told to: link once with
    # every export to see which df_ functions the SDK emitted, then again with
    # exactly those (-rdynamic alone would also export __stack_pointer).
    link = ["build-exe", *_ZIG_TARGET, *mode, "-fno-entry", str(obj.resolve())]
    probe = build / "probe.wasm"
    _zig(project, [*link, "-rdynamic", f"-femit-bin={probe.resolve()}"], "linking")
    found = {export.name for export in _module(project, probe.read_bytes()).exports}
    probe.unlink()
    exports = [f"--export={n}" for n in (*_REQUIRED, *_OPTIONAL) if n in found]
    _zig(project, [*link, *exports, f"-femit-bin={wasm_path.resolve()}"], "linking")


def _zig(project: PluginProject, arguments: list[str], doing: str) -> None:
    command = [sys.executable, "-m", "ziglang", *arguments]
    logger.debug("running %s", " ".join(command))
    try:
        done = subprocess.run(
            command,
            cwd=project.directory,
            capture_output=True,
            text=True,
            timeout=_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        message = f"{doing} took more than {_TIMEOUT} s and was stopped"
        raise PluginError(message, plugin=project.manifest.name) from None
    output = (done.stderr + done.stdout).strip()
    if done.returncode != 0:
        where = ", ".join(project.sources)
        hint = (
            "fix the errors above in " + where + "; the SDK reference is the top comment of "
            f"{SDK_DIR / ('dataflare.h' if project.language == 'c' else 'dataflare.zig')}"
        )
        raise PluginError(
            f"{doing} failed (exit {done.returncode}):\n{output}\n{hint}",
            plugin=project.manifest.name,
        )
    if output:
        logger.warning("%s %s:\n%s", doing, project.manifest.name, output)


def _module(project: PluginProject, wasm: bytes) -> wasmtime.Module:
    try:
        return wasmtime.Module(wasmtime.Engine(), wasm)
    except wasmtime.WasmtimeError as exc:
        message = f"the compiler produced an invalid module: {exc}"
        raise PluginError(message, plugin=project.manifest.name) from None


def _check_module(project: PluginProject, wasm: bytes) -> None:
    """Check what the module exports and imports, as loading it will."""
    module = _module(project, wasm)
    exports = {export.name for export in module.exports}
    problems = []
    missing = [name for name in ("memory", *_REQUIRED) if name not in exports]
    if missing:
        problems.append(
            f"it does not export {', '.join(missing)}: include the SDK and define its callbacks "
            "(C: df_on_init and df_on_batch; Zig: pub fn init and process, and "
            "`comptime { df.plugin(@This()); }`)"
        )
    extra = sorted(exports - {"memory", *_REQUIRED, *_OPTIONAL})
    if extra:
        problems.append(f"it exports {', '.join(extra)}, which the ABI does not define")
    if project.manifest.kind == "aggregate" and "df_flush" not in exports:
        logger.warning(
            "plugin %s is an aggregate but does not export df_flush: it can only emit from "
            "df_process",
            project.manifest.name,
        )
    granted = set(project.manifest.capabilities)
    for item in module.imports:
        capability = _CAPABILITY_IMPORTS.get(item.module)
        if capability is None:
            problems.append(f"it imports {item.module}.{item.name}, which no capability grants")
        elif capability not in granted:
            problems.append(
                f"it imports {item.module}.{item.name}: add {capability!r} to capabilities in "
                f"[plugin] of {PROJECT_FILE}"
            )
    if problems:
        raise PluginError(
            f"the module does not fit dataflare-batch/1: {'; '.join(problems)}",
            plugin=project.manifest.name,
        )
