"""One running copy of a plugin: a store, an instance, and the ABI calls into it.

A :class:`WasmInstance` owns one wasmtime store with the plugin's limits: at
most one instance, memory, and table (of at most 10,000 elements), and the
memory limit. Before instantiation (a module's ``start`` function may loop) and
before every call, it sets the store's fuel and epoch deadline afresh, because
both are used up by calls. It looks the exports up once, remembers the input
buffer ``df_reserve`` gave it, and copies input in and results out with one
memory copy each.

Any failure surfaces as a :class:`~dataflare.kernel._wasm_result.CallFailure`;
after one, the instance must be thrown away (:meth:`close`) and a new one made,
which is what :class:`~dataflare.kernel._wasm_plugin.WasmPlugin` does.

Example::

    instance = WasmInstance(pre, engine, host, limits)
    instance.init(encode_kv({"mask": "#"}))
    result = instance.process(batch.buffer, records=len(batch))
"""

from __future__ import annotations

import wasmtime

from dataflare.kernel._wasm_engine import WasmEngine
from dataflare.kernel._wasm_imports import HostImports
from dataflare.kernel._wasm_limits import HostLimits
from dataflare.kernel._wasm_result import CallFailure, CallResult, describe_trap, read_result

__all__ = ("WasmInstance",)

_MASK = 0xFFFFFFFF
_TABLE_ELEMENTS = 10_000
_MIN_RESERVE = 64 * 1024
_CALLS = ("df_reserve", "df_init", "df_process", "df_flush", "df_snapshot", "df_restore")


class WasmInstance:
    """A plugin instantiated in its own store, under its limits.

    Not thread-safe: a store must only be used by one thread at a time.

    Attributes:
        fuel_used: Fuel consumed by every call so far, failed ones included.

    Args:
        pre: The plugin's module, linked to its host imports.
        engine: The engine the module was compiled with.
        host: The plugin's host imports, which prepare the store.
        limits: The plugin's limits.

    Raises:
        CallFailure: Instantiation failed: the start function trapped or ran out
            of fuel or time, or the module needs more than the limits allow.
    """

    def __init__(
        self, pre: wasmtime.InstancePre, engine: WasmEngine, host: HostImports, limits: HostLimits
    ) -> None:
        self._limits = limits
        self._ticks = engine.deadline_ticks(limits.timeout_ms)
        self._store = store = wasmtime.Store(engine.engine)
        store.set_limits(
            memory_size=limits.memory_bytes,
            table_elements=_TABLE_ELEMENTS,
            instances=1,
            tables=1,
            memories=1,
        )
        host.prepare(store)
        self.fuel_used = 0
        self._arm(limits.fuel_base)
        try:
            instance = pre.instantiate(store)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            self.fuel_used += limits.fuel_base - store.get_fuel()
            store.close()
            failure = self._explain(describe_trap(exc), "the start function", limits.fuel_base)
            raise CallFailure(failure.failure, f"instantiating: {failure.message}") from None
        self.fuel_used += limits.fuel_base - store.get_fuel()
        exports = instance.exports(store)
        memory = exports["memory"]
        # check_exports has checked every export's type; this only informs mypy.
        assert isinstance(memory, wasmtime.Memory)
        self._memory = memory
        # Looked up once: each lookup costs microseconds, as much as a small batch.
        self._funcs = {
            name: func for name in _CALLS if isinstance(func := exports.get(name), wasmtime.Func)
        }
        self._buffer = 0
        self._capacity = 0

    @property
    def memory_bytes(self) -> int:
        """The current size of the plugin's linear memory."""
        return self._memory.data_len(self._store)

    def init(self, params: bytes) -> None:
        """Call ``df_init`` with the plugin's parameters, a KV block.

        Raises:
            CallFailure: ``df_init`` failed; a status 4 (bad config) has
                ``code == 4`` and the plugin's messages in ``errors``.
        """
        pointer = self._write(params) if params else 0
        result = self._call("df_init", self._limits.fuel_base, pointer, len(params))
        read_result(
            self._memory, self._store, result, max_bytes=self._limits.max_output_bytes, records=1
        )

    def process(self, batch: memoryview, *, records: int) -> CallResult:
        """Call ``df_process`` on one batch.

        Args:
            batch: The batch's bytes (already a checked batch).
            records: How many records it holds (for the fuel budget and the
                error-list check).

        Returns:
            The output bytes, still to be checked as a batch, and the per-record
            errors.

        Raises:
            CallFailure: The call failed.
        """
        pointer = self._write(batch)
        fuel = self._limits.fuel_for(records)
        result = self._call("df_process", fuel, pointer, batch.nbytes)
        return read_result(
            self._memory,
            self._store,
            result,
            max_bytes=self._limits.max_output_bytes,
            records=records,
        )

    def flush(self) -> CallResult:
        """Call ``df_flush``; its error list, if any, is not checked against any input.

        Raises:
            CallFailure: The call failed.
        """
        result = self._call("df_flush", self._limits.fuel_base)
        return read_result(
            self._memory, self._store, result, max_bytes=self._limits.max_output_bytes, records=None
        )

    def snapshot(self) -> bytes:
        """Call ``df_snapshot`` and return the state bytes it produced.

        Raises:
            CallFailure: The call failed.
        """
        result = self._call("df_snapshot", self._limits.fuel_base)
        state = read_result(
            self._memory, self._store, result, max_bytes=self._limits.max_output_bytes, records=None
        )
        return bytes(state.output)

    def restore(self, state: bytes) -> None:
        """Call ``df_restore`` with state from an earlier ``df_snapshot``.

        Raises:
            CallFailure: The call failed.
        """
        pointer = self._write(state) if state else 0
        result = self._call("df_restore", self._limits.fuel_base, pointer, len(state))
        read_result(
            self._memory, self._store, result, max_bytes=self._limits.max_output_bytes, records=None
        )

    def close(self) -> None:
        """Free the store, its instance and its memory now rather than at collection."""
        self._store.close()

    def _arm(self, fuel: int) -> None:
        # Both budgets are consumed by every call, so each call sets them again.
        self._store.set_fuel(fuel)
        self._store.set_epoch_deadline(self._ticks)

    def _call(self, name: str, fuel: int, *args: int) -> int:
        store = self._store
        self._arm(fuel)
        try:
            result: int = self._funcs[name](store, *args)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            raise self._explain(describe_trap(exc), name, fuel) from None
        finally:
            self.fuel_used += fuel - store.get_fuel()
        return result

    def _explain(self, failure: CallFailure, name: str, fuel: int) -> CallFailure:
        """Say which limit a call hit, in the manifest's terms."""
        if failure.failure == "out-of-fuel":
            return CallFailure(
                failure.failure,
                f"{name} used all of its {fuel:,} fuel (limits.fuel_base + "
                "limits.fuel_per_record x records): it loops, or needs more fuel",
            )
        if failure.failure == "deadline":
            return CallFailure(
                failure.failure,
                f"{name} ran past its {self._limits.timeout_ms} ms deadline (limits.timeout_ms)",
            )
        return failure

    def _write(self, data: bytes | memoryview) -> int:
        """Copy ``data`` into the guest's input buffer, reserving a bigger one if needed."""
        size = len(data)  # batch buffers are one-dimensional byte views
        if size > self._capacity:
            self._reserve(size)
        if size:
            target = self._memory.get_buffer_ptr(self._store, size, self._buffer)
            memoryview(target).cast("B")[:] = data
        return self._buffer

    def _reserve(self, size: int) -> None:
        # Ask for the next power of two, so that slowly growing batches do not
        # call df_reserve every time; settle for the exact size if that fails.
        wanted = max(_MIN_RESERVE, 1 << (size - 1).bit_length())
        pointer = self._call("df_reserve", self._limits.fuel_base, wanted) & _MASK
        if pointer == 0 and wanted > size:
            wanted = size
            pointer = self._call("df_reserve", self._limits.fuel_base, wanted) & _MASK
        if pointer == 0:
            raise CallFailure(
                "memory",
                f"df_reserve could not provide {size} bytes for the input "
                f"(memory limit {self._limits.memory_mb} MiB)",
            )
        end = pointer + wanted
        if end > self.memory_bytes:
            raise CallFailure(
                "bad-output",
                f"df_reserve returned [{pointer}, {end}), outside the plugin's memory "
                f"({self.memory_bytes} bytes)",
            )
        self._buffer, self._capacity = pointer, wanted
