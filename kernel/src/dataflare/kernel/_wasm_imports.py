"""What a plugin may import: nothing, unless a capability grants it.

A plugin's linker starts empty. Each capability in its manifest links one thing
(``docs/plugin-abi.md``, "Imports"):

* ``log``: ``df.log(level, ptr, len)``, a line in the ``dataflare.plugins`` log,
  rate-limited so that a plugin cannot flood it;
* ``wasi-stdio``: ``wasi_snapshot_preview1`` with no files, no environment, no
  arguments and no network; stdout and stderr go to the same log.

:func:`check_imports` refuses a module that imports anything else before it is
linked, naming the import and the capability that would grant it.

Example::

    check_imports(module, {"log"}, plugin="acme/redact")
    host = HostImports(engine, {"log"}, plugin="acme/redact")
    pre = host.linker.instantiate_pre(module)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Set

import wasmtime

from dataflare.kernel._wasm_abi import describe_type
from dataflare.kernel.errors import PluginLoadError

__all__ = ("CAPABILITIES", "HostImports", "check_imports")

logger = logging.getLogger("dataflare.plugins")

CAPABILITIES = {
    "log": "df.log(level: i32, ptr: i32, len: i32)",
    "wasi-stdio": "wasi_snapshot_preview1 (no files, environment, arguments or network)",
}
"""Every capability a plugin may ask for, and what it grants."""

_WASI = "wasi_snapshot_preview1"
_LOG_TYPE = "(i32, i32, i32) -> ()"
# df.log levels 0 to 4; 2 ("notice") has no Python level of its own.
_LEVELS = (logging.DEBUG, logging.INFO, logging.INFO, logging.WARNING, logging.ERROR)
_MAX_LINE = 4096
_LINES_PER_SECOND = 20.0
_BURST = 100


def check_imports(module: wasmtime.Module, capabilities: Set[str], *, plugin: str) -> None:
    """Refuse a module that imports anything its capabilities do not grant.

    Args:
        module: The compiled module.
        capabilities: The capabilities its manifest declares.
        plugin: The plugin's name, for messages.

    Raises:
        PluginLoadError: A capability is unknown, or an import is not granted
            (every such import is named, with the capability it would need).
    """
    unknown = sorted(set(capabilities) - CAPABILITIES.keys())
    if unknown:
        raise PluginLoadError(
            f"asks for unknown capabilities {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(CAPABILITIES)}",
            plugin=plugin,
        )
    problems = []
    for item in module.imports:
        where = f"{item.module}.{item.name}"
        if item.module == "df" and item.name == "log":
            if describe_type(item.type) != _LOG_TYPE:
                problems.append(f"{where} has type {describe_type(item.type)}, not {_LOG_TYPE}")
            elif "log" not in capabilities:
                problems.append(f"{where}, which needs the capability 'log'")
        elif item.module == _WASI:
            if "wasi-stdio" not in capabilities:
                problems.append(f"{where}, which needs the capability 'wasi-stdio'")
        else:
            problems.append(f"{where}, which no capability grants")
    if problems:
        raise PluginLoadError(
            f"imports what its capabilities do not grant: {'; '.join(problems)}. Plugins may "
            "import only df.log (capability 'log') and wasi_snapshot_preview1 (capability "
            "'wasi-stdio'): add the capability to the manifest, or build without the import",
            plugin=plugin,
        )


class HostImports:
    """The linker of one plugin, holding only what its capabilities grant.

    Args:
        engine: The engine the plugin's module was compiled with.
        capabilities: Checked capabilities (see :func:`check_imports`).
        plugin: The plugin's name, attached to every log line it writes.
    """

    def __init__(self, engine: wasmtime.Engine, capabilities: Set[str], *, plugin: str) -> None:
        self.linker = wasmtime.Linker(engine)
        self._plugin = plugin
        self._wasi = "wasi-stdio" in capabilities
        self._limiter = _RateLimiter(_LINES_PER_SECOND, _BURST)
        if "log" in capabilities:
            i32 = wasmtime.ValType.i32()
            log_type = wasmtime.FuncType([i32, i32, i32], [])
            self.linker.define_func("df", "log", log_type, self._df_log, access_caller=True)
        if self._wasi:
            self.linker.define_wasi()

    def prepare(self, store: wasmtime.Store) -> None:
        """Give a new store what the plugin's capabilities need (its WASI context)."""
        if self._wasi:
            # A default WasiConfig has no preopened directories, environment or
            # arguments; stdin reads as empty.
            config = wasmtime.WasiConfig()
            config.stdout_custom = self._stdout
            config.stderr_custom = self._stderr
            store.set_wasi(config)

    def _emit(self, level: int, text: str, source: str) -> None:
        dropped = self._limiter.take()
        if dropped is None:
            return
        extra = {"plugin": self._plugin, "source": source}
        if dropped:
            logger.warning("plugin log rate limit: dropped %d lines", dropped, extra=extra)
        logger.log(level, "%s", text[:_MAX_LINE], extra=extra)

    def _df_log(self, caller: wasmtime.Caller, level: int, ptr: int, length: int) -> None:
        # A host function must never raise: wasmtime would re-raise the exception
        # from the plugin call, and a plugin could then crash its host's caller.
        try:
            memory = caller.get("memory")
            start, size = ptr & 0xFFFFFFFF, min(length & 0xFFFFFFFF, _MAX_LINE)
            if not isinstance(memory, wasmtime.Memory) or start + size > memory.data_len(caller):
                text = f"(df.log called with a message outside memory: {start}+{size})"
            else:
                text = memory.read(caller, start, start + size).decode("utf-8", "replace")
            self._emit(
                _LEVELS[level] if 0 <= level < len(_LEVELS) else logging.WARNING, text, "df.log"
            )
        except Exception:  # see above: nothing may escape into wasm
            logger.exception("df.log failed", extra={"plugin": self._plugin})

    def _stdout(self, data: bytes) -> None:
        self._emit(logging.INFO, data.decode("utf-8", "replace").rstrip("\n"), "stdout")

    def _stderr(self, data: bytes) -> None:
        self._emit(logging.WARNING, data.decode("utf-8", "replace").rstrip("\n"), "stderr")


class _RateLimiter:
    """A token bucket: ``burst`` lines at once, then ``rate`` lines per second."""

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._last = time.monotonic()
        self._dropped = 0
        self._lock = threading.Lock()

    def take(self) -> int | None:
        """Take a token: ``None`` when the line must be dropped, else how many were."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
            self._last = now
            if self._tokens < 1:
                self._dropped += 1
                return None
            self._tokens -= 1
            dropped, self._dropped = self._dropped, 0
            return dropped
