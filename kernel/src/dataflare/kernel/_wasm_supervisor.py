"""Keeping one healthy instance of a plugin: restart after failure, checkpoint its state.

A :class:`Supervisor` owns a plugin's current
:class:`~dataflare.kernel._wasm_instance.WasmInstance`. After any failure it
throws the instance away and makes a fresh one from the linked module
(``InstancePre``), calls ``df_init`` with the parameters again and, for an
aggregate (``df_snapshot`` and ``df_restore`` both exported), restores the state
checkpointed after the last good call. It also keeps the fuel count across
instances.

Example::

    supervisor = Supervisor(pre, engine, host, limits, params=block, exports=exports)
    supervisor.restart()                       # the first instance
    output, errors = supervisor.attempt(batch)  # raises CallFailure
"""

from __future__ import annotations

import wasmtime

from dataflare.kernel._batch import RecordBatch
from dataflare.kernel._wasm_abi import PluginExports
from dataflare.kernel._wasm_engine import WasmEngine
from dataflare.kernel._wasm_imports import HostImports
from dataflare.kernel._wasm_instance import WasmInstance
from dataflare.kernel._wasm_limits import HostLimits
from dataflare.kernel._wasm_result import CallFailure, RecordError
from dataflare.kernel.errors import BatchFormatError

__all__ = ("EMPTY", "Supervisor", "as_batch")

EMPTY = RecordBatch.empty()
"""What a call that returns no output produced."""


class Supervisor:
    """The current instance of one plugin, and how to replace it.

    Args:
        pre: The plugin's module, linked to its host imports.
        engine: The engine it was compiled with.
        host: Its host imports.
        limits: Its limits.
        params: Its parameters, as a KV block.
        exports: Its optional exports.

    Attributes:
        state: An aggregate's state after its last good call (or the state given
            to :meth:`set_state`); what a restart restores.
    """

    def __init__(
        self,
        pre: wasmtime.InstancePre,
        engine: WasmEngine,
        host: HostImports,
        limits: HostLimits,
        *,
        params: bytes,
        exports: PluginExports,
    ) -> None:
        self._pre = pre
        self._engine = engine
        self._host = host
        self._limits = limits
        self._params = params
        self._checkpoint = exports.has_snapshot and exports.has_restore
        self._restore = exports.has_restore
        self._instance: WasmInstance | None = None
        self._fuel_spent = 0  # by instances already discarded
        self.state: bytes | None = None

    @property
    def instance(self) -> WasmInstance:
        """The current instance, restarting first if the last restart failed.

        Raises:
            CallFailure: No instance could be made.
        """
        if self._instance is None:
            self.restart()
            assert self._instance is not None
        return self._instance

    @property
    def limits(self) -> HostLimits:
        """The limits every call runs under."""
        return self._limits

    @property
    def fuel_used(self) -> int:
        """Fuel consumed by every instance of this plugin so far."""
        current = self._instance.fuel_used if self._instance is not None else 0
        return self._fuel_spent + current

    @property
    def memory_bytes(self) -> int:
        """The current instance's memory size (0 when there is none)."""
        return self._instance.memory_bytes if self._instance is not None else 0

    def attempt(self, batch: RecordBatch) -> tuple[RecordBatch, tuple[RecordError, ...]]:
        """Process one batch on the current instance and checkpoint an aggregate.

        Returns:
            The checked output and the per-record errors.

        Raises:
            CallFailure: The call failed; :meth:`restart` before the next one.
        """
        instance = self.instance
        result = instance.process(batch.buffer, records=len(batch))
        output = as_batch(result.output)
        self.checkpoint()
        return output, result.errors

    def checkpoint(self) -> None:
        """Take an aggregate's state after a good call, so that a restart loses nothing.

        Raises:
            CallFailure: ``df_snapshot`` failed.
        """
        if self._checkpoint:
            self.state = self.instance.snapshot()

    def restart(self) -> None:
        """Replace the instance: instantiate, ``df_init``, restore the last good state.

        Raises:
            CallFailure: Any of those steps failed; there is then no instance, and
                the next use of :attr:`instance` tries again.
        """
        self.close()
        instance = WasmInstance(self._pre, self._engine, self._host, self._limits)
        try:
            instance.init(self._params)
            if self._restore and self.state is not None:
                instance.restore(self.state)
        except CallFailure:
            self._fuel_spent += instance.fuel_used
            instance.close()
            raise
        self._instance = instance

    def close(self) -> None:
        """Discard the current instance, if any."""
        old, self._instance = self._instance, None
        if old is not None:
            self._fuel_spent += old.fuel_used
            old.close()


def as_batch(output: bytearray) -> RecordBatch:
    """Check a plugin's output as strictly as any batch from outside.

    Raises:
        CallFailure: ``bad-output``: the bytes are not a valid batch.
    """
    if not output:
        return EMPTY
    try:
        return RecordBatch.from_buffer(output)
    except BatchFormatError as exc:
        raise CallFailure("bad-output", f"the output is not a valid record batch: {exc}") from None
