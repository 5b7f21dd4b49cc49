"""The streaming commands: ``dataflare run``, ``dataflare test`` and ``dataflare streaming``.

``dataflare validate PIPELINE`` is the kernel's own command: a pipeline file is a
config file whose ``pipeline:`` section this extension registers, so validation
(every problem, with line and column, exit 78) needs nothing here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio
import attrs
import click
from rich.console import Console

from dataflare.streaming._build import load_pipeline
from dataflare.streaming._checkpoint import delete_checkpoint
from dataflare.streaming._connectors import BUILTIN
from dataflare.streaming._pipeline_tests import run_pipeline_tests
from dataflare.streaming._processor import StreamProcessor
from dataflare.streaming._statistics import PipelineStatistics

__all__ = ("run", "streaming", "test")

stderr = Console(stderr=True, soft_wrap=True, highlight=False)


@click.command()
@click.argument("pipeline_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where checkpoints are kept (default: streaming.state_dir).",
)
@click.option("--reset", is_flag=True, help="Forget the last checkpoint and start over.")
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON on stdout.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Print figures every 2 s while running (default: when stderr is a terminal).",
)
def run(
    pipeline_file: Path, state_dir: Path | None, reset: bool, as_json: bool, progress: bool | None
) -> None:
    """Run PIPELINE_FILE until its input ends, resuming from its last checkpoint."""
    loaded = load_pipeline(pipeline_file)
    settings = loaded.settings
    if state_dir is not None:
        settings = attrs.evolve(settings, state_dir=str(state_dir))
    show = sys.stderr.isatty() if progress is None else progress

    async def main() -> PipelineStatistics:
        # The kernel runs around the pipeline, so other extensions work beside it:
        # observability serves /metrics and traces batches, alerting evaluates.
        async with loaded.kernel as kernel:
            streaming = kernel.pm.get_plugin("streaming")
            telemetry = getattr(streaming, "telemetry", None)
            processor = StreamProcessor(settings, telemetry=telemetry)
            try:
                if reset:
                    await delete_checkpoint(processor.backend, loaded.pipeline.name)
                async with anyio.create_task_group() as group:
                    if show:
                        group.start_soon(_report, processor, loaded.pipeline.name)
                    statistics = await processor.run(loaded.pipeline)
                    group.cancel_scope.cancel()
                return statistics
            finally:
                await processor.aclose()

    statistics = anyio.run(main)
    if as_json:
        click.echo(json.dumps(statistics.to_dict(), indent=2))
    else:
        _summary(statistics)


async def _report(processor: StreamProcessor, name: str) -> None:
    """Print the running figures every two seconds until cancelled."""
    while True:
        await anyio.sleep(2.0)
        figures = processor.running.get(name)
        if figures is not None:
            stderr.print(
                f"{name}: {figures.records_in:,} in, {figures.records_out:,} out, "
                f"{figures.dead_letters:,} dead, {figures.checkpoints} checkpoints, "
                f"backpressure {figures.backpressure_level:.0%}, "
                f"throttled {figures.throttled_seconds:.2f} s"
            )


def _summary(statistics: PipelineStatistics) -> None:
    resumed = (
        f", resumed from checkpoint {statistics.restored_from}"
        if statistics.restored_from is not None
        else ""
    )
    stderr.print(
        f"{statistics.pipeline}: {statistics.records_in:,} records in, "
        f"{statistics.records_out:,} out, {statistics.dead_letters:,} dead-lettered, "
        f"{statistics.checkpoints} checkpoint(s){resumed}, {statistics.seconds:.2f} s "
        f"({statistics.records_per_second:,.0f} records/s), "
        f"throttled {statistics.throttled_seconds:.3f} s"
    )


@click.command()
@click.argument("pipeline_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def test(ctx: click.Context, pipeline_file: Path) -> None:
    """Run the unit tests declared in PIPELINE_FILE (pipeline.tests); exit 1 if one fails."""
    outcomes = anyio.run(run_pipeline_tests, pipeline_file)
    if not outcomes:
        stderr.print(f"{pipeline_file}: no tests (add them under pipeline.tests)")
    for outcome in outcomes:
        if outcome.passed:
            stderr.print(f"[green]PASS[/] {outcome.name}")
            continue
        stderr.print(f"[red]FAIL[/] {outcome.name}: {outcome.message}")
        if outcome.diff:
            click.echo(outcome.diff, file=sys.stderr)
    failed = sum(not outcome.passed for outcome in outcomes)
    stderr.print(f"{len(outcomes) - failed} passed, {failed} failed")
    if failed:
        ctx.exit(1)


@click.group()
def streaming() -> None:
    """The streaming extension: connectors and the demo."""


@streaming.command()
def connectors() -> None:
    """List the built-in connectors and their options."""
    for name, builtin in BUILTIN.items():
        options = ", ".join(field.name for field in attrs.fields(builtin.options))
        click.echo(f"{name:10} {builtin.description}  (options: {options or 'none'})")


@streaming.command()
@click.option("--records", default=200_000, show_default=True, help="Orders to generate.")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".dataflare/demo"),
    show_default=True,
    help="Where the demo writes its plugins, state and output.",
)
def demo(records: int, workdir: Path) -> None:
    """Orders → signed WASM filter and map → keyed tumbling window → file, with a summary."""
    from dataflare.streaming._demo import run_demo  # builds plugins: imported only when asked

    run_demo(records=records, workdir=workdir, console=stderr)
