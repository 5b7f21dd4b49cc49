"""The ``streaming`` extension: config sections, built-in connectors and CLI commands.

Registered through the ``dataflare.extensions`` entry point as ``streaming``. It
registers the ``streaming:`` (processor settings) and ``pipeline:`` (a pipeline)
config sections, the built-in connectors (``dataflare_connectors``), metrics of
running pipelines (``dataflare_metrics``), and the ``run``, ``test`` and
``streaming`` commands.
"""

from __future__ import annotations

from typing import Any

from dataflare.kernel import Registrar, hookimpl
from dataflare.streaming._connectors import register_builtin
from dataflare.streaming._metrics import collect
from dataflare.streaming._settings import StreamingSettings
from dataflare.streaming._spec import PipelineSpec

__all__ = ("StreamingExtension",)


class StreamingExtension:
    """Adds pipelines to DataFlare."""

    name = "streaming"
    """The extension's name when registered in process (the entry point's name too)."""

    telemetry: Any = None
    """What the observability extension handed over, when it is installed."""

    @hookimpl(optionalhook=True)
    def dataflare_telemetry(self, telemetry: Any) -> None:
        """Keep observability's telemetry, so pipelines report per component through it."""
        self.telemetry = telemetry

    @hookimpl
    def dataflare_config_sections(self, register: Any) -> None:
        """Register ``streaming:`` and ``pipeline:``."""
        register("streaming", StreamingSettings)
        register("pipeline", PipelineSpec)

    @hookimpl
    def dataflare_connectors(self, register: Registrar) -> None:
        """Register jsonl, csv, stdin, stdout, generator, nats and discard."""
        register_builtin(register)

    @hookimpl
    def dataflare_metrics(self, register: Any) -> None:
        """Report every running pipeline's counters, backpressure level and throttled time."""
        register(collect)

    @hookimpl
    def dataflare_cli_commands(self, register: Any) -> None:
        """Add ``dataflare run``, ``dataflare test`` and ``dataflare streaming``."""
        from dataflare.streaming._cli import run, streaming, test  # click only for the CLI

        register(run)
        register(test)
        register(streaming)
