"""``dataflare plugin``: write, build, sign, verify, inspect and test WASM plugins."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import IO

import click

from dataflare.kernel._authoring_cli import build, new
from dataflare.kernel._keys_cli import trust_store_option
from dataflare.kernel._package_cli import inspect, sign, verify
from dataflare.kernel._plugins import load_plugin
from dataflare.kernel._trust import TrustStore
from dataflare.kernel._wasm_outcome import BatchResult
from dataflare.kernel.jsonlines import read_batches, record_to_json

__all__ = ("plugin",)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def plugin() -> None:
    """Write, build, sign, verify, inspect and test WASM plugins."""


for command in (new, build, sign, verify, inspect):
    plugin.add_command(command)


def _params(values: Sequence[str]) -> dict[str, str]:
    params = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--param")
        params[name] = value
    return params


@plugin.command()
@click.argument("package", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--input",
    "-i",
    "source",
    type=click.File("r"),
    default="-",
    show_default=True,
    help="JSON lines to feed the plugin (- for stdin).",
)
@click.option("--param", "-p", "params", multiple=True, help="A parameter, NAME=VALUE.")
@click.option("--batch-size", type=click.IntRange(1, 1_000_000), default=1024, show_default=True)
@click.option(
    "--flush/--no-flush",
    default=True,
    show_default=True,
    help="Call df_flush after the input (how aggregates emit).",
)
@trust_store_option
def test(
    package: Path,
    source: IO[str],
    params: Sequence[str],
    batch_size: int,
    flush: bool,
    trust_store: Path | None,
) -> None:
    """Run a signed PACKAGE over JSON-lines records and print what it outputs.

    Output records go to stdout as JSON lines; per-batch figures (records in and
    out, dead letters, fuel, memory, time) and every dead-lettered record go to
    stderr. The package is verified exactly as for a pipeline.
    """
    trust = TrustStore.load(trust_store)
    name = getattr(source, "name", "<stdin>")
    with load_plugin(package, trust=trust, params=_params(params)) as running:
        totals = [0, 0, 0]
        for number, batch in enumerate(read_batches(source, batch_size=batch_size, source=name)):
            _report(f"batch {number}", len(batch), running.process(batch), totals)
        if flush and running.has_flush:
            _report("flush", 0, running.flush(), totals)
    click.echo(
        f"{running.name}: {totals[0]} records in, {totals[1]} out, {totals[2]} dead-lettered",
        err=True,
    )


def _report(label: str, count: int, result: BatchResult, totals: list[int]) -> None:
    for record in result.output:
        click.echo(record_to_json(record))
    for letter in result.dead_letters:
        click.echo(
            f"dead letter: record {letter.input_index} ({letter.failure}"
            f"{'' if letter.code is None else f', code {letter.code}'}): {letter.message}",
            err=True,
        )
    per_record = f" ({result.fuel_used / count:,.0f}/record)" if count else ""
    click.echo(
        f"{label}: {count} in, {len(result.output)} out, {len(result.dead_letters)} dead-lettered, "
        f"fuel {result.fuel_used:,}{per_record}, memory {result.memory_bytes // 1024:,} KiB, "
        f"{result.seconds * 1000:.2f} ms, {result.calls} call(s)",
        err=True,
    )
    totals[0] += count
    totals[1] += len(result.output)
    totals[2] += len(result.dead_letters)
