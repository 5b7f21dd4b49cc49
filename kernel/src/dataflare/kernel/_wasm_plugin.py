"""A WASM plugin, loaded and sandboxed: what the pipeline calls once per batch.

:meth:`WasmPlugin.load` checks a module against the ABI before it runs a single
instruction (its version marker, exports and imports), then instantiates it
under its limits and hands it its parameters. :meth:`WasmPlugin.process` makes
one ``df_process`` call per batch. Whatever the plugin does (trap, loop, exhaust
its memory, return garbage) the call returns: the records it failed on become
dead letters and every other record's output goes on (``docs/plugin-abi.md``).

Example::

    with WasmPlugin.load(wasm, name="acme/redact", params={"mask": "#"}) as plugin:
        result = plugin.process(batch)
        forward(result.output)
        for letter in result.dead_letters:
            dead_letter(letter)
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import TypeVar

import wasmtime

from dataflare.kernel._batch import RecordBatch
from dataflare.kernel._kv import encode_kv
from dataflare.kernel._wasm_abi import ABI, PluginExports, check_exports
from dataflare.kernel._wasm_engine import WasmEngine, default_engine
from dataflare.kernel._wasm_imports import HostImports, check_imports
from dataflare.kernel._wasm_instance import WasmInstance
from dataflare.kernel._wasm_isolate import Isolation, record_errors
from dataflare.kernel._wasm_limits import HostLimits
from dataflare.kernel._wasm_outcome import BatchResult, DeadLetter
from dataflare.kernel._wasm_result import CallFailure
from dataflare.kernel._wasm_supervisor import EMPTY, Supervisor, as_batch
from dataflare.kernel.errors import PluginError, PluginLoadError, PluginRuntimeError

__all__ = ("WasmPlugin",)

logger = logging.getLogger("dataflare.plugins")

_T = TypeVar("_T")

#: Batches in a row that may fail on every record before the plugin is stopped.
MAX_FAILED_BATCHES = 3


class WasmPlugin:
    """A loaded plugin: one sandboxed instance, replaced whenever it fails.

    Create one with :meth:`load`. Calls are serialised by a lock (a wasmtime
    store serves one thread at a time); load a plugin several times to run it on
    several threads.

    A plugin that fails on every record of :data:`MAX_FAILED_BATCHES` batches in
    a row is stopped: it is broken, not unlucky, and each such batch costs the
    host a full isolation. Later calls raise ``PluginRuntimeError("stopped")``.
    """

    def __init__(
        self,
        *,
        name: str,
        engine: WasmEngine,
        module: wasmtime.Module,
        supervisor: Supervisor,
        exports: PluginExports,
    ) -> None:
        self._name = name
        self._engine = engine
        # Holding the module keeps it in the engine's memory cache while the plugin
        # is loaded, so loading the same wasm again does not compile it again.
        self._module = module
        self._supervisor = supervisor
        self._exports = exports
        self._lock = threading.Lock()
        self._closed = False
        self._failed_batches = 0
        self._stopped: str | None = None

    @classmethod
    def load(
        cls,
        wasm: bytes,
        *,
        name: str,
        engine: WasmEngine | None = None,
        params: Mapping[str, str] | None = None,
        limits: HostLimits | None = None,
        capabilities: Sequence[str] = (),
        abi: str = ABI,
    ) -> WasmPlugin:
        """Check, compile (or fetch from the cache), instantiate and initialise a plugin.

        Args:
            wasm: The module's bytes, already verified by the caller.
            name: The plugin's name (``namespace/name``), for errors and logs.
            engine: The engine to run on; :func:`default_engine` when ``None``.
            params: Its parameters, passed to ``df_init``.
            limits: Its limits; the ABI's defaults when ``None``.
            capabilities: What it may import (``log``, ``wasi-stdio``).
            abi: The ABI version its manifest declares.

        Returns:
            The plugin, ready for :meth:`process`.

        Raises:
            PluginLoadError: The bytes are not a valid module, it is not a DataFlare
                plugin, it lacks an export, imports something not granted, or fails
                to start (its start function or ``df_init`` traps, runs out of fuel
                or time, or rejects its parameters).
            PluginIncompatibleError: It is built for another ABI version.
            DataError: ``params`` does not map strings to strings.
        """
        engine = engine if engine is not None else default_engine()
        engine.check_open()
        try:
            wasmtime.Module.validate(engine.engine, wasm)
            module = engine.compile(wasm)
        except wasmtime.WasmtimeError as exc:
            message = f"is not a valid WebAssembly module: {exc}"
            raise PluginLoadError(message, plugin=name) from None
        exports = check_exports(module, abi=abi, plugin=name)
        granted = frozenset(capabilities)
        check_imports(module, granted, plugin=name)
        host = HostImports(engine.engine, granted, plugin=name)
        try:
            pre = host.linker.instantiate_pre(module)
        except wasmtime.WasmtimeError as exc:
            raise PluginLoadError(f"cannot be linked: {exc}", plugin=name) from None
        block = encode_kv(params or {}, what=f"parameters of plugin {name}")
        limits = limits if limits is not None else HostLimits()
        supervisor = Supervisor(pre, engine, host, limits, params=block, exports=exports)
        try:
            supervisor.restart()
        except CallFailure as failure:
            if failure.code == 4:
                said = "; ".join(error.message for error in failure.errors) or "no reason given"
                raise PluginLoadError(f"rejected its parameters: {said}", plugin=name) from None
            raise PluginLoadError(f"failed to start: {failure}", plugin=name) from None
        return cls(name=name, engine=engine, module=module, supervisor=supervisor, exports=exports)

    @property
    def name(self) -> str:
        """The plugin's name."""
        return self._name

    @property
    def has_flush(self) -> bool:
        """Whether it exports ``df_flush`` (it may hold output until flushed)."""
        return self._exports.has_flush

    @property
    def has_snapshot(self) -> bool:
        """Whether it exports ``df_snapshot`` (its state can be checkpointed)."""
        return self._exports.has_snapshot

    @property
    def has_restore(self) -> bool:
        """Whether it exports ``df_restore`` (checkpointed state can be loaded back)."""
        return self._exports.has_restore

    def process(self, batch: RecordBatch) -> BatchResult:
        """Run one batch through the plugin: one ``df_process`` call when nothing fails.

        A failed call is isolated by bisection (see :mod:`._wasm_isolate`): the
        records it fails on become dead letters, the others are processed.

        Args:
            batch: The input.

        Returns:
            The output, the dead letters, and what it cost.

        Raises:
            PluginError: The plugin or its engine is closed.
        """
        with self._lock:
            self._check_open()
            started = time.perf_counter()
            supervisor = self._supervisor
            fuel_before = supervisor.fuel_used
            dead_letters: tuple[DeadLetter, ...]
            try:
                output, errors = supervisor.attempt(batch)
            except CallFailure as failure:
                isolation = Isolation(
                    batch,
                    plugin=self._name,
                    attempt=supervisor.attempt,
                    restart=supervisor.restart,
                    budget=10 * supervisor.limits.timeout_ms / 1000,
                )
                isolation.run(failure)
                output, dead_letters = isolation.output(), isolation.dead_letters()
                calls = isolation.calls
                self._count_failure(batch, dead_letters, failure)
            else:
                dead_letters = tuple(record_errors(batch, errors, 0, plugin=self._name))
                calls = 1
                self._failed_batches = 0
            return BatchResult(
                output=output,
                dead_letters=dead_letters,
                fuel_used=supervisor.fuel_used - fuel_before,
                memory_bytes=supervisor.memory_bytes,
                calls=calls,
                seconds=time.perf_counter() - started,
            )

    def flush(self) -> BatchResult:
        """Ask the plugin for the output it holds (``df_flush``); empty if it has none.

        Per-record errors in a flush have no input record to dead-letter; they
        are logged.

        Raises:
            PluginRuntimeError: ``df_flush`` failed; the plugin is restarted from
                its last good state, and the output it held is lost.
            PluginError: The plugin or its engine is closed.
        """
        with self._lock:
            self._check_open()
            started = time.perf_counter()
            fuel_before = self._supervisor.fuel_used
            output = self._checked("df_flush", self._flush) if self.has_flush else EMPTY
            return BatchResult(
                output=output,
                dead_letters=(),
                fuel_used=self._supervisor.fuel_used - fuel_before,
                memory_bytes=self._supervisor.memory_bytes,
                calls=0,
                seconds=time.perf_counter() - started,
            )

    def snapshot(self) -> bytes | None:
        """Return the plugin's state (``df_snapshot``), or ``None`` if it exports none.

        Raises:
            PluginRuntimeError: ``df_snapshot`` failed; the plugin is restarted.
            PluginError: The plugin or its engine is closed.
        """
        with self._lock:
            self._check_open()
            if not self.has_snapshot:
                return None
            return self._checked("df_snapshot", lambda instance: instance.snapshot())

    def restore(self, state: bytes) -> None:
        """Replace the plugin's state with bytes from an earlier :meth:`snapshot`.

        The plugin also returns to this state after a failure, until its next good
        batch.

        Raises:
            PluginRuntimeError: ``df_restore`` failed; the plugin is restarted with
                its previous state.
            PluginError: It does not export ``df_restore``, or it or its engine is
                closed.
        """
        with self._lock:
            self._check_open()
            if not self.has_restore:
                message = "cannot restore state: it does not export df_restore"
                raise PluginError(message, plugin=self._name)
            self._checked("df_restore", lambda instance: instance.restore(state))
            self._supervisor.state = bytes(state)

    def close(self) -> None:
        """Free the plugin's instance; later calls raise. Idempotent."""
        with self._lock:
            self._closed = True
            self._supervisor.close()

    def __enter__(self) -> WasmPlugin:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"WasmPlugin(name={self._name!r})"

    def _check_open(self) -> None:
        if self._closed:
            raise PluginError("is closed", plugin=self._name)
        if self._stopped is not None:
            raise PluginRuntimeError("stopped", self._stopped, plugin=self._name)
        self._engine.check_open()

    def _count_failure(
        self, batch: RecordBatch, dead: tuple[DeadLetter, ...], failure: CallFailure
    ) -> None:
        failed = sum(1 for letter in dead if letter.failure != "record-error")
        if not len(batch) or failed < len(batch):
            self._failed_batches = 0
            return
        self._failed_batches += 1
        if self._failed_batches >= MAX_FAILED_BATCHES:
            self._stopped = (
                f"failed on every record of {self._failed_batches} batches in a row "
                f"(last: {failure}), so it was stopped; fix the plugin or its limits "
                "and load it again"
            )
            logger.error(
                "plugin %s stopped: %s",
                self._name,
                self._stopped,
                extra={"plugin": self._name, "failure": "stopped", "record_index": None},
            )

    def _flush(self, instance: WasmInstance) -> RecordBatch:
        result = instance.flush()
        output = as_batch(result.output)
        if result.errors:
            first = result.errors[0]
            logger.warning(
                "plugin %s listed %d record errors from df_flush, which has no input; "
                "the first: code %d: %s",
                self._name,
                len(result.errors),
                first.code,
                first.message,
                extra={"plugin": self._name, "failure": "record-error", "record_index": None},
            )
        self._supervisor.checkpoint()
        return output

    def _checked(self, call: str, run: Callable[[WasmInstance], _T]) -> _T:
        """Make a call that has no records to dead-letter: a failure raises, after a restart."""
        try:
            return run(self._supervisor.instance)
        except CallFailure as failure:
            logger.warning(
                "plugin %s failed in %s: %s",
                self._name,
                call,
                failure,
                extra={"plugin": self._name, "failure": failure.failure, "record_index": None},
            )
            with contextlib.suppress(CallFailure):
                self._supervisor.restart()  # if this fails too, the next call tries again
            message = f"{call} failed: {failure.message}"
            raise PluginRuntimeError(failure.failure, message, plugin=self._name) from None
