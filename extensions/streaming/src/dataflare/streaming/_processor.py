"""The stream processor: runs pipelines, at most ``max_concurrent_streams`` at once.

Example::

    processor = StreamProcessor(StreamingSettings(batch_size=4096))
    statistics = await processor.run(pipeline)
    print(statistics.records_in, statistics.checkpoints)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio

from dataflare.streaming._pipeline import Pipeline
from dataflare.streaming._runner import PipelineRunner
from dataflare.streaming._settings import StreamingSettings
from dataflare.streaming._state import StateBackend
from dataflare.streaming._state_file import FileStateBackend
from dataflare.streaming._state_nats import JetStreamStateBackend
from dataflare.streaming._statistics import PipelineStatistics

__all__ = ("StreamProcessor",)


class StreamProcessor:
    """Runs pipelines with one set of settings and one state backend.

    Args:
        settings: The ``streaming:`` settings; defaults when ``None``.
        backend: Where checkpoints go; by default what ``settings.state_backend``
            says: a :class:`FileStateBackend` in ``settings.state_dir`` (the embedded
            default, which survives a crash) or a :class:`JetStreamStateBackend`.
        telemetry: What the observability extension handed over (``None`` without it);
            pipelines report per component through it.
    """

    def __init__(
        self,
        settings: StreamingSettings | None = None,
        *,
        backend: StateBackend | None = None,
        telemetry: Any = None,
    ) -> None:
        self.settings = settings or StreamingSettings()
        self.telemetry = telemetry
        self.backend = backend or _backend(self.settings)
        self._slots = anyio.CapacityLimiter(self.settings.max_concurrent_streams)
        self.running: dict[str, PipelineStatistics] = {}
        """Live statistics of the pipelines running now, by name."""

    async def run(self, pipeline: Pipeline) -> PipelineStatistics:
        """Run one pipeline to the end of its input, waiting for a free slot first."""
        async with self._slots:
            runner = PipelineRunner(
                pipeline, self.settings, backend=self.backend, telemetry=self.telemetry
            )
            self.running[pipeline.name] = runner.statistics
            try:
                return await runner.run()
            finally:
                del self.running[pipeline.name]

    async def aclose(self) -> None:
        """Close the state backend (a JetStream connection, for one)."""
        await self.backend.aclose()

    async def run_all(self, pipelines: Sequence[Pipeline]) -> list[PipelineStatistics]:
        """Run several pipelines concurrently (up to the limit); statistics in order."""
        names = [pipeline.name for pipeline in pipelines]
        if len(set(names)) != len(names):
            raise ValueError(f"pipeline names must be unique (they key checkpoints): {names}")
        results: list[PipelineStatistics | None] = [None] * len(pipelines)

        async def one(index: int) -> None:
            results[index] = await self.run(pipelines[index])

        async with anyio.create_task_group() as group:
            for index in range(len(pipelines)):
                group.start_soon(one, index)
        return [result for result in results if result is not None]


def _backend(settings: StreamingSettings) -> StateBackend:
    if settings.state_backend == "jetstream":
        return JetStreamStateBackend(settings.state_servers, bucket=settings.state_bucket)
    return FileStateBackend(Path(settings.state_dir))
