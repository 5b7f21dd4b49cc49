"""The WASM operator: a signed plugin package, verified by the kernel, run per batch.

The package is never run without its signature being checked against the
kernel's trust store (``kernel.plugins.trust_store``) and every installed
extension's ``dataflare_verify_plugin`` policy: loading goes through
:meth:`dataflare.kernel.Kernel.load_plugin`. Records the plugin rejects or fails
on become dead letters with the plugin's reason; the rest of the batch goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from dataflare.kernel import Kernel, PluginRuntimeError, RecordBatch, WasmPlugin
from dataflare.streaming._dead_letters import from_plugin
from dataflare.streaming._operator import Operator, OperatorOutput
from dataflare.streaming.errors import OperatorError

__all__ = ("WasmOperator",)

PluginLoader = Callable[[Path, Mapping[str, str]], WasmPlugin]


class WasmOperator(Operator):
    """Runs a signed WASM plugin over each batch."""

    def __init__(
        self,
        package: Path,
        *,
        params: Mapping[str, str] | None = None,
        kernel: Kernel | None = None,
        name: str | None = None,
    ) -> None:
        self.package = package
        self.params = dict(params or {})
        self.name = name or package.stem
        self._kernel = kernel or Kernel(discover=False)
        self._plugin: WasmPlugin | None = None

    def open(self) -> None:
        # Verification happens here, every time: the kernel refuses unsigned,
        # untrusted, tampered or policy-refused packages before any code runs.
        self._plugin = self._kernel.load_plugin(self.package, params=self.params)
        self.name = self.name if self.name != self.package.stem else self._plugin.name
        self.aggregates = self._plugin.has_flush  # an aggregate plugin holds records until flushed

    def process(self, batch: RecordBatch) -> OperatorOutput:
        if self._plugin is None:
            raise OperatorError("process() before open()", operator=self.name)
        if len(batch) == 0:
            return OperatorOutput(batch)
        try:
            result = self._plugin.process(batch)
        except PluginRuntimeError as exc:
            raise OperatorError(str(exc), operator=self.name) from exc
        letters = from_plugin(result.dead_letters, self.name) if result.dead_letters else None
        return OperatorOutput(result.output, letters, plugin_result=result)

    def finish(self) -> OperatorOutput | None:
        # An aggregate plugin holds its output until flushed (end of a bounded input).
        if self._plugin is None or not self._plugin.has_flush:
            return None
        return OperatorOutput(self._plugin.flush().output)

    def snapshot(self) -> bytes | None:
        return None if self._plugin is None else self._plugin.snapshot()

    def restore(self, state: bytes) -> None:
        if self._plugin is None:
            raise OperatorError("restore() before open()", operator=self.name)
        self._plugin.restore(state)

    def close(self) -> None:
        if self._plugin is not None:
            self._plugin.close()
            self._plugin = None
