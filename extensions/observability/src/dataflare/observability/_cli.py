"""The commands this extension adds: ``dataflare observability export`` and ``dataflare top``.

Data on stdout, messages on stderr; a config error exits 78 like every command.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import attrs
import click
from rich.console import Console
from rich.live import Live

from dataflare.kernel import Kernel
from dataflare.observability._export import export_files
from dataflare.observability._settings import ObservabilitySettings
from dataflare.observability._top import component_rows, render, scrape

__all__ = ("observability", "top")


@click.group()
def observability() -> None:
    """Dashboards and alert rules for DataFlare's own metrics."""


@observability.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("observability"),
    show_default=True,
    help="Directory to write grafana/ and prometheus/ into.",
)
@click.option(
    "--config",
    "-c",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="DATAFLARE_CONFIG",
    help="Config file whose observability.alerting.rules are exported too.",
)
@click.option(
    "--target",
    default="127.0.0.1:9464",
    show_default=True,
    help="host:port Prometheus should scrape.",
)
def export(out: Path, config: Path | None, target: str) -> None:
    """Write the Grafana dashboard, Prometheus alert rules and a scrape config."""
    rules: tuple[object, ...] = ()
    if config is not None:
        settings = Kernel(config).config.sections.get("observability")
        if isinstance(settings, ObservabilitySettings):
            rules = settings.alerting.rules
    for name, text in export_files(rules=rules, target=target).items():  # type: ignore[arg-type]
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        click.echo(str(path))


@click.command()
@click.option(
    "--url",
    default="http://127.0.0.1:9464/metrics",
    show_default=True,
    envvar="DATAFLARE_METRICS_URL",
    help="The running pipeline's /metrics endpoint.",
)
@click.option(
    "--interval", type=click.FloatRange(min=0.05), default=1.0, show_default=True,
    help="Seconds between refreshes.",
)  # fmt: skip
@click.option(
    "--iterations", type=click.IntRange(min=0), default=0, show_default=True,
    help="Refreshes before exiting; 0 runs until Ctrl-C.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array per refresh.")
def top(url: str, interval: float, iterations: int, as_json: bool) -> None:
    """Live view of a running pipeline: records in/out, rates, errors, backpressure, latency."""
    console = Console()
    before, then = scrape(url), time.monotonic()
    count = 0
    live: Live | _Null = _Null() if as_json else Live(console=console, auto_refresh=False)
    with live:
        while iterations == 0 or count < iterations:
            time.sleep(interval)
            now, at = scrape(url), time.monotonic()
            rows = component_rows(now, before, at - then)
            if as_json:
                click.echo(json.dumps([attrs.asdict(row) for row in rows]))
            else:
                live.update(render(rows, title=f"dataflare top  {url}"), refresh=True)
            before, then = now, at
            count += 1


class _Null:
    def __enter__(self) -> _Null:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, *args: object, **kwargs: object) -> None:
        return None
