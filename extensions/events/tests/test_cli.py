"""``dataflare events``, through the command's own ``main`` (what the console script calls).

A tiny extension with a real ``dataflare.extensions`` entry point (a dist-info on
``sys.path``) gives the ``billing`` consumer a handler through the
``dataflare_events_handlers`` hook; the handler refuses order 2 until a flag file
exists, so a dead letter can be made and then retried. One test runs the installed
``dataflare`` script in a process of its own, to prove the wiring.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import anyio
import attrs
import pytest

from dataflare.events import FileEventStore
from dataflare.kernel import Event
from dataflare.kernel._cli import main
from dataflare.kernel.messaging import StreamConfig, open_log

pytest_plugins = ["dataflare.kernel.testing"]

BILLING = """
import os
from pathlib import Path
from dataflare.events import EventHandler
from dataflare.kernel import hookimpl

class Billing:
    @hookimpl
    def dataflare_events_handlers(self, register):
        register(EventHandler("order.*", charge, name="charge", consumer="billing"))

async def charge(event):
    if event.data["n"] == 2 and not Path(os.environ["BILLING_FIXED"]).exists():
        raise ValueError("card declined for order 2")
    with open(os.environ["BILLING_LEDGER"], "a") as ledger:
        ledger.write(f"{event.data['n']}\\n")
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    site = tmp_path / "site"
    (site / "billing_ext-0.1.dist-info").mkdir(parents=True)
    (site / "billing_ext.py").write_text(BILLING)
    info = site / "billing_ext-0.1.dist-info"
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: billing-ext\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[dataflare.extensions]\nbilling = billing_ext:Billing\n"
    )
    variables = {
        "DATAFLARE_HOME": str(tmp_path / "home"),
        "BILLING_FIXED": str(tmp_path / "fixed"),
        "BILLING_LEDGER": str(tmp_path / "ledger"),
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    monkeypatch.syspath_prepend(site)  # entry points are found on sys.path when asked for
    return {**os.environ, "PYTHONPATH": str(site)}


@attrs.frozen
class Done:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture(params=["embedded", "jetstream"])
def config(request: pytest.FixtureRequest, tmp_path: Path) -> list[str]:
    path = tmp_path / "dataflare.yaml"
    text = "events:\n  retry: {initial_backoff: 0, max_backoff: 0}\n"
    if request.param == "jetstream":
        url = request.getfixturevalue("nats_server").url
        text += f"  store: jetstream\n  jetstream:\n    servers: [{url}]\n"
    path.write_text(text)
    return ["-c", str(path)]


@pytest.fixture
def events(env, capsys) -> Callable[..., Done]:
    """Run ``dataflare events ARGS`` through ``main`` and return its exit code and output."""

    def run(*args: str, check: bool = True) -> Done:
        capsys.readouterr()
        code = main(["events", *args])
        out, err = capsys.readouterr()
        done = Done(code, out, err)
        if check:
            assert code == 0, err
        return done

    return run


def test_publish_process_dead_letter_retry_tail_replay_and_inspect(events, config, tmp_path):
    offsets = [
        events("publish", "order.created", f'{{"n": {n}}}', "--id", f"o-{n}", *config)
        for n in (1, 2, 3)
    ]
    assert [o.stdout.strip() for o in offsets] == ["1", "2", "3"]
    again = events("publish", "order.created", '{"n": 1}', "--id", "o-1", *config)
    assert again.stdout.strip() == "1"  # the id is stored: a retry stores nothing

    processed = json.loads(events("process", "--consumer", "billing", *config).stdout)
    assert processed == {"handled": 3, "retries": 4, "dead_lettered": 1, "committed": 3}
    assert (tmp_path / "ledger").read_text().split() == ["1", "3"]

    (letter,) = map(json.loads, events("dlq", "list", "--json", *config).stdout.splitlines())
    assert (letter["handler"], letter["offset"], letter["attempts"]) == ("charge", 2, 5)
    assert letter["error_message"] == "card declined for order 2"
    assert letter["event"]["id"] == "o-2"

    failed = events("dlq", "retry", letter["id"], *config, check=False)
    assert failed.returncode == 1
    assert "failed again" in failed.stderr
    (replacement,) = map(
        json.loads, events("dlq", "list", "--json", *config).stdout.split("\n")[:1]
    )
    (tmp_path / "fixed").touch()
    fixed = events("dlq", "retry", replacement["id"], *config)
    assert "handled, and resolved" in fixed.stderr
    assert events("dlq", "list", "--json", *config).stdout == ""
    assert (tmp_path / "ledger").read_text().split() == ["1", "3", "2"]

    tail = [
        json.loads(line) for line in events("tail", "-n", "2", *config).stdout.split("\n") if line
    ]
    assert [(e["offset"], e["id"]) for e in tail] == [(2, "o-2"), (3, "o-3")]

    replayed = events("replay", "--from-offset", "2", "--types", "order.*", *config)
    assert [json.loads(line)["offset"] for line in replayed.stdout.splitlines()] == [2, 3]
    assert "replayed 2 events (offsets 2..3) of target last offset 3: complete" in replayed.stderr

    one = json.loads(events("inspect", "o-3", *config).stdout)
    assert (one["offset"], one["data"]) == (3, {"n": 3})
    summary = json.loads(events("inspect", *config).stdout)
    assert (summary["last_offset"], summary["types"]) == (3, {"order.created": 3})


def test_replay_to_a_subject_publishes_each_event_once(events, nats_server, tmp_path):
    path = tmp_path / "dataflare.yaml"
    path.write_text(
        f"events:\n  store: jetstream\n  jetstream:\n    servers: [{nats_server.url}]\n"
    )
    for n in (1, 2):
        events("publish", "order.created", f'{{"n": {n}}}', "-c", str(path))

    async def audit_stream(make: bool) -> list[bytes]:
        async with open_log(nats_server.url) as log:
            if make:
                await log.ensure_stream(StreamConfig("AUDIT", ["audit.>"]))
                return []
            return [m.data async for chunk in log.read("AUDIT") for m in chunk]

    anyio.run(audit_stream, True, backend="asyncio")
    for _ in range(2):  # a repeated replay is dropped by the msg id
        events("replay", "--to-subject", "audit.orders", "-c", str(path))
    stored = anyio.run(audit_stream, False, backend="asyncio")
    assert [json.loads(data)["data"] for data in stored] == [{"n": 1}, {"n": 2}]


def test_bad_input_is_refused_naming_the_fix(events):
    bad_type = events("publish", "Order", "{}", check=False)
    assert bad_type.returncode == 1
    assert "event_type" in bad_type.stderr
    bad_json = events("publish", "order.created", "{nope", check=False)
    assert bad_json.returncode == 2
    assert "not JSON" in bad_json.stderr
    no_handler = events("process", "--consumer", "nobody", check=False)
    assert no_handler.returncode == 1
    assert "dataflare_events_handlers" in no_handler.stderr
    unknown = events("dlq", "retry", "no-such-letter", check=False)
    assert unknown.returncode == 1
    assert "no-such-letter" in unknown.stderr


def test_the_installed_script_runs_the_commands(env):
    def script(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dataflare.kernel", "events", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )

    published = script("publish", "order.created", '{"n": 1}')
    assert (published.returncode, published.stdout) == (0, "1\n"), published.stderr
    refused = script("publish", "Order", "{}")
    assert refused.returncode == 1
    assert "event_type" in refused.stderr


def test_tail_inspect_and_dlq_list_read_beside_a_running_writer(events, tmp_path):
    """The embedded store's writer holds its lock; the read commands still work.

    The commands run in a worker thread: each starts an event loop of its own, as the
    installed script does, while this test's loop holds the writer open.
    """
    directory = tmp_path / "home" / "events"

    async def writer_appends_while_commands_read() -> list[Done]:
        async with FileEventStore(directory / "log") as writer:  # holds the lock
            await writer.append_many([event_for(n) for n in (1, 2)])
            first = await anyio.to_thread.run_sync(events, "tail", "-n", "5")
            await writer.append(event_for(3))  # the reader sees what came since
            second = await anyio.to_thread.run_sync(events, "tail", "-n", "5")
            return [first, second, await anyio.to_thread.run_sync(events, "inspect", "o-3")]

    first, second, one = anyio.run(writer_appends_while_commands_read, backend="asyncio")
    assert [json.loads(line)["id"] for line in first.stdout.splitlines()] == ["o-1", "o-2"]
    assert [json.loads(line)["id"] for line in second.stdout.splitlines()] == [
        "o-1",
        "o-2",
        "o-3",
    ]
    assert json.loads(one.stdout)["offset"] == 3
    assert events("dlq", "list", "--json").stdout == ""


def event_for(n: int) -> Event:
    return Event(id=f"o-{n}", event_type="order.created", data={"n": n}, source="shop")
