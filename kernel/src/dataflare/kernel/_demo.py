"""The ``demo`` built-in extension: adds ``dataflare demo`` through the same hook as anyone.

It is registered by the kernel's own ``dataflare.extensions`` entry point, so
the demo also shows that built-ins load exactly as third-party extensions do.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import click
from rich.console import Console
from rich.table import Table

from dataflare.kernel._demo_pipeline import DemoOptions, DemoResult, run_demo
from dataflare.kernel._markers import hookimpl

__all__ = ("DemoExtension",)


class DemoExtension:
    """Contributes the ``dataflare demo`` command."""

    @hookimpl
    def dataflare_cli_commands(self, register: Any) -> None:
        register(demo)


@click.command()
@click.option(
    "--records", type=click.IntRange(1, 100_000_000), default=1_000_000, show_default=True
)
@click.option("--batch-size", type=click.IntRange(1, 1_000_000), default=8192, show_default=True)
@click.option("--sites", type=click.IntRange(1, 64), default=4, show_default=True)
@click.option(
    "--devices",
    type=click.IntRange(1, 100_000),
    default=1000,
    show_default=True,
    help="Devices per site.",
)
@click.option(
    "--threshold",
    type=float,
    default=80.0,
    show_default=True,
    help="Temperature in °C above which a device raises an alert.",
)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def demo(
    records: int,
    batch_size: int,
    sites: int,
    devices: int,
    threshold: float,
    seed: int,
    as_json: bool,
) -> None:
    """Stream synthetic IoT readings through the kernel and report what it saw.

    Readings travel the event bus as record batches in the wire layout; monitors
    aggregate them per device with numpy and raise an alert event for each
    device that runs hot. Runs embedded: no server needed.
    """
    options = DemoOptions(records, batch_size, sites, devices, threshold, seed)
    result = anyio.run(run_demo, options)
    if as_json:
        click.echo(json.dumps(_as_dict(result), indent=2))
    else:
        _print_summary(options, result)


def _as_dict(result: DemoResult) -> dict[str, Any]:
    return {
        "records": result.records,
        "batches": result.batches,
        "seconds": round(result.seconds, 4),
        "records_per_second": round(result.records_per_second),
        "readings_per_site": list(result.readings_per_site),
        "mean_temperature": round(result.mean_temperature, 2),
        "alerts": [event.to_dict() for event in result.alerts],
        "hottest": [{"device": name, "peak_celsius": peak} for name, peak in result.hottest],
    }


def _print_summary(options: DemoOptions, result: DemoResult) -> None:
    console = Console()
    console.print(
        f"[bold]DataFlare demo[/]: {result.records:,} readings from {options.sites} sites "
        f"x {options.devices:,} devices in {result.batches:,} batches of up to "
        f"{options.batch_size:,}"
    )
    console.print(
        f"processed in {result.seconds:.3f} s = [bold green]{result.records_per_second:,.0f}[/] "
        f"readings/s through the event bus (embedded, no server)"
    )
    console.print(
        f"mean temperature {result.mean_temperature:.2f} °C; "
        f"[bold]{len(result.alerts)}[/] devices ran above {options.threshold:g} °C"
    )
    table = Table("hottest device", "peak °C", title="top 5")
    for name, peak in result.hottest:
        table.add_row(name, f"{peak:.1f}")
    console.print(table)
    alerts = Table("event id", "type", "site", "device", "peak °C", title="first alerts")
    for event in result.alerts[:5]:
        data = event.data
        alerts.add_row(
            event.id,
            event.event_type,
            str(data["site"]),
            str(data["device"]),
            f"{data['peak_celsius']:.1f}",
        )
    console.print(alerts)
