"""``dataflare plugin new`` and ``dataflare plugin build``: the author's commands.

Both print the path they produced on stdout (the project folder, the package),
so scripts can chain them, and their messages on stderr. Errors propagate to
the ``dataflare`` command, which prints them and exits 1 (78 for a bad
``dataflare-plugin.toml``).

Example::

    dataflare plugin new acme/shout --lang c --kind map
    cd shout && dataflare plugin build
"""

from __future__ import annotations

from pathlib import Path

import click

from dataflare.kernel._authoring import build_project, new_project
from dataflare.kernel._manifest_rules import KINDS
from dataflare.kernel._plugin_project import LANGUAGES

__all__ = ("build", "new")


@click.command()
@click.argument("name")
@click.option(
    "--lang",
    "language",
    type=click.Choice(LANGUAGES),
    default="c",
    show_default=True,
    help="The SDK language.",
)
@click.option(
    "--kind",
    type=click.Choice(KINDS),
    default="map",
    show_default=True,
    help="What the plugin does to each record; picks the template.",
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The folder to create (default: NAME without its namespace).",
)
def new(name: str, language: str, kind: str, directory: Path | None) -> None:
    """Create a plugin project NAME (namespace/name) from a template."""
    target = directory if directory is not None else Path(name.rpartition("/")[2])
    path = new_project(target, name=name, language=language, kind=kind)
    click.echo(str(path))
    click.echo(
        f"created {name} ({language}, {kind}) in {path}; next: cd {path} && dataflare plugin build",
        err=True,
    )


@click.command()
@click.argument(
    "directory",
    default=".",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write the package (default: DIRECTORY/dist).",
)
def build(directory: Path, out_dir: Path | None) -> None:
    """Compile the plugin project in DIRECTORY to wasm32 and package it, unsigned."""
    package = build_project(directory, out_dir=out_dir)
    click.echo(str(package))
    click.echo(
        f"built {package.name} (unsigned); sign it with: "
        f"dataflare plugin sign {package} --key <publisher>.key",
        err=True,
    )
