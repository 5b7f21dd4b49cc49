"""``dataflare events``: publish, tail, replay, inspect and process events; dead letters.

Every command opens the store the config file describes (``-c``, or
``$DATAFLARE_CONFIG``; the embedded file store under ``$DATAFLARE_HOME/events``
without one), through a kernel, so extensions' handlers and settings apply. Events
go to stdout as JSON lines (``{"offset": 7, "id": ..., "event_type": ...}``);
what is said to a person goes to stderr.

Example::

    dataflare events publish order.created '{"order": 42}' --source shop
    dataflare events tail -n 5 --types 'order.*'
    dataflare events replay --since 2026-11-23T00:00:00Z --to-subject audit.orders
    dataflare events dlq list
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio
import click
from rich.console import Console
from rich.table import Table

from dataflare.events._cli_support import (
    Events,
    config_option,
    event_line,
    parse_metadata,
    with_events,
)
from dataflare.events._extension import EventsExtension
from dataflare.events._replay import replay
from dataflare.events._replay_targets import into_log
from dataflare.events._store_api import StoredEvent
from dataflare.events.errors import EventsError
from dataflare.kernel import Event
from dataflare.kernel.messaging import open_log

__all__ = ("events",)

T = TypeVar("T")
stderr = Console(stderr=True, soft_wrap=True, highlight=False)


def _run(
    config: Path | None, body: Callable[[Events], Awaitable[T]], *, read_only: bool = False
) -> T:
    async def main() -> T:
        return await with_events(config, body, read_only=read_only)

    return anyio.run(main, backend="asyncio")


@click.group("events")
def events() -> None:
    """Publish, tail, replay, inspect and process stored events; manage dead letters."""


@events.command()
@click.argument("event_type", required=False)
@click.argument("data", required=False, default="{}")
@click.option("--source", default="urn:dataflare:cli", show_default=True, help="Who says so.")
@click.option("--id", "event_id", help="The event's id (a fresh UUIDv7 by default).")
@click.option("--metadata", "-m", multiple=True, help="KEY=VALUE, repeatable.")
@click.option("--trace-id", help="The W3C trace id (32 hex digits).")
@click.option(
    "--file", "source_file", type=click.File("r"), help="JSON lines of events ('-' for stdin)."
)
@config_option
def publish(
    event_type: str | None,
    data: str,
    source: str,
    event_id: str | None,
    metadata: tuple[str, ...],
    trace_id: str | None,
    source_file: Any,
    config: Path | None,
) -> None:
    """Store an event (EVENT_TYPE DATA-as-JSON) or a file of them; print each offset."""
    if source_file is not None:
        batch = [_event_from_line(n, line) for n, line in enumerate(source_file, 1) if line.strip()]
    elif event_type is None:
        raise click.UsageError("give EVENT_TYPE [DATA], or --file FILE with one event per line")
    else:
        try:
            payload = json.loads(data)
        except ValueError as exc:
            raise click.BadParameter(
                f"not JSON ({exc}): quote it, e.g. '{{\"order\": 42}}'"
            ) from None
        fields: dict[str, Any] = {
            "event_type": event_type,
            "data": payload,
            "source": source,
            "metadata": parse_metadata(metadata),
            "trace_id": trace_id,
        }
        if event_id is not None:
            fields["id"] = event_id
        batch = [Event(**fields)]

    async def append(extension: Events) -> list[int]:
        return await extension.store.append_many(batch)

    for offset in _run(config, append):
        click.echo(offset)


def _event_from_line(number: int, line: str) -> Event:
    try:
        return Event.from_dict(json.loads(line))
    except ValueError as exc:
        raise click.BadParameter(f"line {number}: {exc}", param_hint="--file") from None


@events.command()
@click.option("--last", "-n", default=10, show_default=True, help="Start this many from the end.")
@click.option("--types", "-t", multiple=True, help="Only these types (order.*), repeatable.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events.")
@click.option("--max-events", type=click.IntRange(1), help="Stop after printing this many.")
@click.option(
    "--idle-exit",
    type=click.FloatRange(0, min_open=True),
    help="With --follow: stop after this many seconds without a new event.",
)
@click.option("--poll", default=0.2, show_default=True, help="Seconds between looks, following.")
@config_option
def tail(
    last: int,
    types: tuple[str, ...],
    follow: bool,
    max_events: int | None,
    idle_exit: float | None,
    poll: float,
    config: Path | None,
) -> None:
    """Print the newest events as JSON lines, and with --follow, the ones that come."""

    async def body(extension: Events) -> None:
        store = extension.store
        end = await store.last_offset() or 0
        start, printed = max(1, end - last + 1), 0
        idle_since = anyio.current_time()
        while True:  # bounded by --max-events / --idle-exit, or the user's Ctrl-C
            async for stored in store.read(from_offset=start, event_types=types):
                click.echo(event_line(stored))
                printed += 1
                if max_events is not None and printed >= max_events:
                    return
            newest = await store.last_offset() or 0
            if newest >= start:
                start, idle_since = newest + 1, anyio.current_time()
            if not follow or (idle_exit and anyio.current_time() - idle_since >= idle_exit):
                return
            await anyio.sleep(poll)

    _run(config, body, read_only=True)


@events.command(name="replay")
@click.option("--from-offset", type=click.IntRange(1))
@click.option("--to-offset", type=click.IntRange(1))
@click.option("--since", type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%SZ"]))
@click.option("--until", type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%SZ"]))
@click.option("--types", "-t", multiple=True, help="Only these types (order.*), repeatable.")
@click.option("--pace", type=click.Choice(["full", "original"]), default="full", show_default=True)
@click.option("--speed", default=1.0, show_default=True, help="At original pace: times faster.")
@click.option("--to-subject", help="Publish each event to this JetStream subject instead.")
@click.option("--nats", "nats_url", help="NATS URL for --to-subject [default: the store's].")
@config_option
def replay_command(
    from_offset: int | None,
    to_offset: int | None,
    since: datetime | None,
    until: datetime | None,
    types: tuple[str, ...],
    pace: str,
    speed: float,
    to_subject: str | None,
    nats_url: str | None,
    config: Path | None,
) -> None:
    """Replay stored events to stdout (JSON lines) or to a subject; report how far it got."""

    async def body(extension: Events) -> None:
        options: dict[str, Any] = {
            "from_offset": from_offset,
            "to_offset": to_offset,
            "since": _aware(since),
            "until": _aware(until),
            "event_types": types,
            "pace": pace,
            "speed": speed,
        }
        if to_subject is None:
            report = await replay(extension.store, into=_echo, **options)
        else:
            servers = nats_url or extension.settings.jetstream.servers
            async with open_log(servers) as log:
                report = await replay(extension.store, into=into_log(log, to_subject), **options)
        state = "complete" if report.complete else "incomplete"
        stderr.print(
            f"replayed {report.replayed} events (offsets {report.first_offset}.."
            f"{report.last_offset_replayed}) of target last offset "
            f"{report.target_last_offset}: {state}"
        )

    _run(config, body, read_only=True)


async def _echo(stored: StoredEvent) -> None:
    click.echo(event_line(stored))


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    raise click.BadParameter(f"{moment} has no timezone: end it with Z or +00:00")


@events.command()
@click.argument("ref", required=False)
@click.option("--scan-limit", default=100_000, show_default=True, help="Events read for counts.")
@config_option
def inspect(ref: str | None, scan_limit: int, config: Path | None) -> None:
    """Show one event (by offset or id), or the store: its kind, extent and types."""

    async def body(extension: Events) -> dict[str, Any]:
        store = extension.store
        if ref is not None:
            found = await (store.get(int(ref)) if ref.isdigit() else store.get_by_id(ref))
            if found is None:
                raise EventsError(f"no stored event has offset or id {ref!r}")
            return {"offset": found.offset, **found.event.to_dict()}
        counts: dict[str, int] = {}
        async for stored in store.read(limit=scan_limit):
            counts[stored.event.event_type] = counts.get(stored.event.event_type, 0) + 1
        return {
            "store": repr(store),
            "last_offset": await store.last_offset(),
            "types": dict(sorted(counts.items())),
            "scanned": sum(counts.values()),
            "dead_letters": len(await extension.dead_letters.list()),
        }

    click.echo(json.dumps(_run(config, body, read_only=True), indent=2))


@events.command()
@click.option("--consumer", default="default", show_default=True, help="The processor's name.")
@config_option
def process(consumer: str, config: Path | None) -> None:
    """Run the consumer's hook-registered handlers over every new event, then exit."""

    async def body(extension: Events) -> dict[str, int]:
        assert isinstance(extension, EventsExtension)  # a writing command: the running one
        processor = extension.processor(name=consumer)
        if not processor.routes:
            raise EventsError(
                f"no handler is registered for consumer {consumer!r}: give one through "
                "the dataflare_events_handlers hook (see the events README)"
            )
        statistics = await processor.process_available()
        return {
            "handled": statistics.handled,
            "retries": statistics.retries,
            "dead_lettered": statistics.dead_lettered,
            "committed": statistics.committed,
        }

    click.echo(json.dumps(_run(config, body)))


@events.group()
def dlq() -> None:
    """Dead letters: events a handler failed on in every attempt."""


@dlq.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="JSON lines for machines.")
@config_option
def list_letters(as_json: bool, config: Path | None) -> None:
    """List the unresolved dead letters, oldest first."""

    async def body(extension: Events) -> list[Any]:
        return await extension.dead_letters.list()

    letters = _run(config, body, read_only=True)
    if as_json:
        for letter in letters:
            click.echo(json.dumps({"id": letter.id, **letter.to_event().data}, default=str))
        return
    table = Table("id", "event", "offset", "handler", "attempts", "error")
    for letter in letters:
        table.add_row(
            letter.id,
            f"{letter.event.event_type} {letter.event.id}",
            str(letter.offset),
            letter.handler,
            str(letter.attempts),
            f"{letter.error_type}: {letter.error_message}",
        )
    Console(soft_wrap=True).print(table)
    stderr.print(f"{len(letters)} unresolved dead letter(s)")


@dlq.command()
@click.argument("dead_letter_id")
@config_option
def retry(dead_letter_id: str, config: Path | None) -> None:
    """Run the failed handler on the event again; a new failure becomes a new dead letter."""

    async def body(extension: Events) -> str | None:
        letter = await extension.dead_letters.get(dead_letter_id)
        assert isinstance(extension, EventsExtension)  # a writing command: the running one
        processor = extension.processor(name=letter.consumer)
        again = await extension.dead_letters.retry(dead_letter_id, processor)
        return None if again is None else f"{again.id} ({again.error_type}: {again.error_message})"

    outcome = _run(config, body)
    if outcome is None:
        stderr.print(f"{dead_letter_id}: handled, and resolved")
    else:
        stderr.print(f"{dead_letter_id}: failed again, resolved as the new dead letter {outcome}")
        raise click.exceptions.Exit(1)
