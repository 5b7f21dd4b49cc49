"""``dataflare dev up / status / down``, run as a user would: the real command, a real server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from dataflare.kernel._nats_server import free_ports
from dataflare.kernel.messaging import StreamConfig, open_log

DATAFLARE = [sys.executable, "-m", "dataflare.kernel"]


def dataflare(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DATAFLARE, *args], capture_output=True, text=True, timeout=60, check=False
    )


def alive(pid: int) -> bool:
    try:
        return b"nats-server" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


@pytest.fixture
def store_dir(tmp_path):
    directory = tmp_path / "dev"
    yield directory
    state = directory / "dev.json"
    if state.exists():  # the test failed part-way: never leave a server behind
        dataflare("dev", "down", "--store-dir", str(directory))
        assert not alive(json.loads(state.read_text())["pid"])


def test_up_prints_the_url_the_server_outlives_the_command_and_down_stops_it(store_dir):
    (port,) = free_ports(1)
    started = dataflare("dev", "up", "--port", str(port), "--store-dir", str(store_dir))
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == f"nats://127.0.0.1:{port}"
    assert "store: jetstream" in started.stderr
    assert "dataflare dev down" in started.stderr
    pid = json.loads((store_dir / "dev.json").read_text())["pid"]
    assert alive(pid)

    async def use_it() -> int:
        async with open_log(started.stdout.strip()) as log:
            await log.ensure_stream(StreamConfig("DEV", ["dev.>"]))
            return (await log.publish("dev.hello", b"hi")).seq

    assert anyio.run(use_it, backend="asyncio") == 1

    again = dataflare("dev", "up", "--port", str(port), "--store-dir", str(store_dir))
    assert again.returncode == 0
    assert "already running" in again.stderr
    assert json.loads((store_dir / "dev.json").read_text())["pid"] == pid

    status = dataflare("dev", "status", "--store-dir", str(store_dir))
    assert (status.returncode, status.stdout.strip()) == (0, f"nats://127.0.0.1:{port}")

    stopped = dataflare("dev", "down", "--store-dir", str(store_dir))
    assert stopped.returncode == 0
    assert not alive(pid)
    assert not (store_dir / "dev.json").exists()
    assert (store_dir / "data").exists()  # kept unless --purge
    assert dataflare("dev", "status", "--store-dir", str(store_dir)).returncode == 1
    assert "no dev server" in dataflare("dev", "down", "--store-dir", str(store_dir)).stderr


def test_a_taken_port_is_refused_naming_another(store_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = dataflare("dev", "up", "--port", str(port), "--store-dir", str(store_dir))
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is taken" in result.stderr
    assert f"--port {port + 1}" in result.stderr
    assert not (store_dir / "dev.json").exists()


def test_down_purge_deletes_the_data(store_dir):
    (port,) = free_ports(1)
    assert (
        dataflare("dev", "up", "--port", str(port), "--store-dir", str(store_dir)).returncode == 0
    )
    result = dataflare("dev", "down", "--purge", "--store-dir", str(store_dir))
    assert result.returncode == 0
    assert not (store_dir / "data").exists()
    assert os.path.exists(store_dir)
