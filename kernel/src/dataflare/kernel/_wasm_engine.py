"""The WASM engine: one wasmtime ``Engine``, its epoch ticker and its compile cache.

Every plugin store comes from an engine configured the same way: fuel metering
(a deterministic CPU budget), epoch interruption (a wall-clock deadline), a
512 KiB wasm stack and Cranelift optimising for speed. One daemon thread per
engine advances the epoch every 10 ms; it starts when the first deadline is
asked for and stops on :meth:`WasmEngine.close`. wasmtime releases the GIL while
wasm runs, so the ticker keeps ticking during a long call.

:meth:`WasmEngine.compile` keeps the modules in use in memory and compiled
artifacts on disk (:mod:`._wasm_cache`), so loading a plugin a second time costs a
deserialise or nothing, not a compile.

Example::

    with WasmEngine(cache_dir=Path("/var/cache/dataflare/wasm")) as engine:
        module = engine.compile(wasm)           # compiled, then cached
        again = engine.compile(wasm)            # the same module, from memory
"""

from __future__ import annotations

import hashlib
import math
import os
import platform
import threading
import weakref
from importlib.metadata import version
from pathlib import Path
from types import TracebackType

import wasmtime

from dataflare.kernel._wasm_cache import CacheStats, CompileCache
from dataflare.kernel.errors import PluginError

__all__ = ("TICK_SECONDS", "WasmEngine", "default_engine")

TICK_SECONDS = 0.010
"""How often the epoch advances: the resolution of every plugin deadline."""

_OPT_LEVEL = "speed"


class WasmEngine:
    """A wasmtime engine set up for plugins, with its epoch ticker and compile cache.

    One per process is typical (see :func:`default_engine`); it is shared by every
    plugin, and compiling is thread-safe. Use it as a context manager, or call
    :meth:`close`, to stop the ticker thread.

    Args:
        cache_dir: Where compiled modules are kept (created 0700); ``None`` keeps
            them in memory only.
        max_stack: The most stack, in bytes, wasm code may use before it traps
            with a stack overflow.

    Attributes:
        fingerprint: The settings compiled code depends on (wasmtime version,
            machine, fuel, epochs, stack, optimisation); part of every cache key.
    """

    def __init__(self, *, cache_dir: Path | None = None, max_stack: int = 512 * 1024) -> None:
        config = wasmtime.Config()
        config.consume_fuel = True
        config.epoch_interruption = True
        config.max_wasm_stack = max_stack
        config.cranelift_opt_level = _OPT_LEVEL
        self._engine = wasmtime.Engine(config)
        self.fingerprint = (
            f"wasmtime={version('wasmtime')};machine={platform.machine()};fuel=1;epoch=1;"
            f"stack={max_stack};opt={_OPT_LEVEL}"
        )
        self._cache = CompileCache(cache_dir) if cache_dir is not None else None
        # Modules in use, shared by every plugin loaded from the same wasm.
        self._modules: weakref.WeakValueDictionary[str, wasmtime.Module] = (
            weakref.WeakValueDictionary()
        )
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._closed = False
        # Stop the ticker if the engine is dropped without close().
        weakref.finalize(self, self._stop.set)

    @property
    def engine(self) -> wasmtime.Engine:
        """The wasmtime engine that stores and modules must come from."""
        return self._engine

    @property
    def cache_stats(self) -> CacheStats:
        """What the on-disk cache has done (all zeros without a cache directory)."""
        return self._cache.stats if self._cache is not None else CacheStats()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called; a closed engine runs no more plugins."""
        return self._closed

    @property
    def ticking(self) -> bool:
        """Whether the epoch ticker thread is running."""
        return self._ticker is not None and self._ticker.is_alive()

    def compile(self, wasm: bytes, *, sha256: str | None = None) -> wasmtime.Module:
        """Compile ``wasm``, or return it from the memory or disk cache.

        Args:
            wasm: The module's bytes, already verified by the caller.
            sha256: Its hex sha256, when the caller has it (from a manifest). It is
                checked, not trusted: a wrong digest would file one module's code
                under another's key.

        Returns:
            The compiled module.

        Raises:
            ValueError: ``sha256`` is not the digest of ``wasm``.
            wasmtime.WasmtimeError: ``wasm`` is not a valid module.
        """
        digest = hashlib.sha256(wasm).hexdigest()
        if sha256 is not None and sha256.lower() != digest:
            raise ValueError(f"sha256 {sha256} was given for wasm whose sha256 is {digest}")
        with self._lock:
            module = self._modules.get(digest)
        if module is not None:
            return module
        key = CompileCache.key(digest, self.fingerprint)
        module = self._cache.get(key, self._engine) if self._cache is not None else None
        if module is None:
            module = wasmtime.Module(self._engine, wasm)
            if self._cache is not None:
                self._cache.put(key, module)
        # Two threads may have compiled the same wasm at once; keep one module.
        with self._lock:
            return self._modules.setdefault(digest, module)

    def deadline_ticks(self, timeout_ms: int) -> int:
        """Return the epoch deadline for a wall-clock timeout, starting the ticker.

        The deadline is one tick longer than the timeout, because the first tick
        may come at any moment after the deadline is set.

        Args:
            timeout_ms: The timeout in milliseconds.

        Returns:
            The number of ticks to pass to ``Store.set_epoch_deadline``.

        Raises:
            PluginError: The engine is closed.
        """
        self._start_ticker()
        return math.ceil(timeout_ms / (TICK_SECONDS * 1000)) + 1

    def check_open(self) -> None:
        """Raise unless the engine can still run plugins.

        Raises:
            PluginError: The engine is closed, so no deadline would ever fire.
        """
        if self._closed:
            raise PluginError("the WASM engine is closed; plugins that used it cannot run")

    def close(self) -> None:
        """Stop the ticker thread and refuse further plugin calls. Idempotent."""
        with self._lock:
            self._closed = True
            self._stop.set()
            ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.join()

    def __enter__(self) -> WasmEngine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _start_ticker(self) -> None:
        with self._lock:
            self.check_open()
            if self._ticker is None:
                self._ticker = threading.Thread(
                    target=_tick,
                    args=(self._engine, self._stop),
                    name="dataflare-wasm-epoch",
                    daemon=True,
                )
                self._ticker.start()


def _tick(engine: wasmtime.Engine, stop: threading.Event) -> None:
    # The thread holds the wasmtime engine, not the WasmEngine, so the WasmEngine
    # can be collected (and its finalizer stop this loop).
    while not stop.wait(TICK_SECONDS):
        engine.increment_epoch()


_default: WasmEngine | None = None
_default_lock = threading.Lock()


def default_engine() -> WasmEngine:
    """Return the process-wide engine, creating it on first use.

    Its cache is ``$DATAFLARE_HOME/cache/wasm`` (``DATAFLARE_HOME`` defaults to
    ``~/.dataflare``). A closed default engine is replaced by a new one.
    """
    global _default
    with _default_lock:
        if _default is None or _default.closed:
            home = Path(os.environ.get("DATAFLARE_HOME") or Path.home() / ".dataflare")
            _default = WasmEngine(cache_dir=home / "cache" / "wasm")
        return _default
