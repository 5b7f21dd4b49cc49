"""The ``dataflare`` command.

Data goes to stdout, messages to stderr. Exit codes: 0 success, 1 a DataFlare
error, 2 a usage error, 78 an invalid config (EX_CONFIG). Extensions add
subcommands through the ``dataflare_cli_commands`` hook; a broken extension is
reported on stderr and its commands are missing, nothing else.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from dataflare.kernel._dev_cli import dev
from dataflare.kernel._extensions import ExtensionStatus
from dataflare.kernel._kernel import Kernel
from dataflare.kernel._keys_cli import keys
from dataflare.kernel._logging import configure_logging
from dataflare.kernel._plugin_cli import plugin
from dataflare.kernel.errors import ConfigError, DataFlareError

__all__ = ("cli", "main")

stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)


class _Commands(click.Group):
    """Built-in commands plus those extensions contribute, loaded on first need."""

    _extension_commands: dict[str, click.Command] | None = None

    def _contributed(self) -> dict[str, click.Command]:
        if self._extension_commands is None:
            commands: dict[str, click.Command] = {}
            for extension, command in Kernel().contributions("dataflare_cli_commands"):
                name = command.name or ""
                if name in self.commands or name in commands:
                    stderr.print(
                        f"[yellow]warning:[/] extension {extension!r} adds a command {name!r} "
                        "that already exists; keeping the first one"
                    )
                    continue
                commands[name] = command
            self._extension_commands = commands
        return self._extension_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._contributed()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, cmd_name) or self._contributed().get(cmd_name)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    version("dataflare-kernel"),
    "--version",
    "-V",
    prog_name="dataflare",
    message=f"%(prog)s %(version)s (Python {sys.version.split()[0]})",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error", "critical"]),
    default="warning",
    show_default=True,
    envvar="DATAFLARE_LOG_LEVEL",
    help="Least severe log level shown on stderr.",
)
@click.option(
    "--log-format",
    type=click.Choice(["auto", "json", "console"]),
    default="auto",
    show_default=True,
    envvar="DATAFLARE_LOG_FORMAT",
    help="auto: readable on a terminal, JSON otherwise.",
)
def cli(log_level: str, log_format: str) -> None:
    """DataFlare: stream processing with signed WASM transforms."""
    configure_logging(log_level, log_format)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.option(
    "--config",
    "-c",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="DATAFLARE_CONFIG",
    help="Config file whose kernel.extensions section applies.",
)
def extensions(as_json: bool, config: Path | None) -> None:
    """List installed extensions: what loaded, what failed and why, with versions and hooks."""
    kernel = Kernel(config)
    kernel.load()
    if as_json:
        click.echo(json.dumps([info.to_dict() for info in kernel.extensions], indent=2))
        return
    table = Table("name", "status", "distribution", "version", "hooks / cause")
    colour = {ExtensionStatus.LOADED: "green", ExtensionStatus.DISABLED: "dim"}
    for info in kernel.extensions:
        detail = ", ".join(h.removeprefix("dataflare_") for h in info.hooks) or ""
        if info.error:
            detail = f"{info.stage}: {info.error}"
        style = colour.get(info.status, "red")
        table.add_row(
            info.name,
            f"[{style}]{info.status.value}[/]",
            info.distribution or info.origin,
            info.version or "",
            detail,
        )
    stdout.print(table)


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json prints every problem as an object, for CI.",
)
@click.pass_context
def validate(ctx: click.Context, files: Sequence[Path], fmt: str) -> None:
    """Check config or pipeline FILES; exit 78 listing every problem when one is invalid."""
    results: list[dict[str, Any]] = []
    for path in files:
        try:
            Kernel(path).load()
        except ConfigError as exc:
            results.append(
                {"file": str(path), "valid": False, "issues": [i.to_dict() for i in exc.issues]}
            )
            if fmt == "text":
                stderr.print(str(exc), markup=False, highlight=False)
        else:
            results.append({"file": str(path), "valid": True, "issues": []})
            if fmt == "text":
                stderr.print(f"{path}: valid", markup=False, highlight=False)
    if fmt == "json":
        click.echo(json.dumps(results, indent=2))
    if not all(result["valid"] for result in results):
        ctx.exit(ConfigError.exit_code)


cli.add_command(dev)
cli.add_command(keys)
cli.add_command(plugin)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code (``sys.exit`` in the script)."""
    try:
        result = cli.main(args=argv, prog_name="dataflare", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        stderr.print("aborted")
        return 130
    except ConfigError as exc:
        stderr.print(str(exc), markup=False, highlight=False)
        return ConfigError.exit_code
    except DataFlareError as exc:
        stderr.print(f"error: {exc}", markup=False, highlight=False)
        return 1
    return result if isinstance(result, int) else 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
