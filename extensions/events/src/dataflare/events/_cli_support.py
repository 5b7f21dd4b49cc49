"""What the ``dataflare events`` commands share: the config option and a running store."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

import attrs
import click

from dataflare.events._dlq import StoreDeadLetterSink
from dataflare.events._extension import EventsExtension
from dataflare.events._settings import EventsSettings
from dataflare.events._store_api import EventStore, StoredEvent
from dataflare.events._store_file import FileEventStore
from dataflare.events.errors import EventsError
from dataflare.kernel import ExtensionStatus, Kernel

__all__ = ("Events", "config_option", "event_line", "parse_metadata", "with_events")

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def config_option(command: F) -> F:
    """Add ``--config/-c FILE`` (env ``DATAFLARE_CONFIG``), as the kernel's commands have."""
    return click.option(
        "--config",
        "-c",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        envvar="DATAFLARE_CONFIG",
        help="Config file whose events: section applies [default: the embedded store].",
    )(command)


class Events(Protocol):
    """What a command works with: the settings and the open stores."""

    @property
    def settings(self) -> EventsSettings: ...
    @property
    def store(self) -> EventStore: ...
    @property
    def dead_letters(self) -> StoreDeadLetterSink: ...


@attrs.frozen
class _Reader:
    settings: EventsSettings
    store: EventStore
    dead_letters: StoreDeadLetterSink


async def with_events(
    config: Path | None, body: Callable[[Events], Awaitable[T]], *, read_only: bool = False
) -> T:
    """Start a kernel with ``config`` and run ``body`` with its running events extension.

    With ``read_only`` and the embedded file store, the stores are opened for reading
    beside the process that writes them (no lock), so ``tail -f`` works next to a
    running application; the kernel is loaded but not started.

    Raises:
        EventsError: The events extension is not installed, or failed to start.
    """
    if read_only:
        kernel = Kernel(config)
        kernel.load()
        _check(kernel)
        settings = kernel.config.section("events", EventsSettings)
        if settings.store == "file":
            base = settings.directory()
            async with (
                FileEventStore(base / "log", read_only=True) as store,
                FileEventStore(base / "dead-letters", read_only=True) as letters,
            ):
                return await body(_Reader(settings, store, StoreDeadLetterSink(letters)))
    async with Kernel(config) as kernel:
        return await body(_check(kernel))


def _check(kernel: Kernel) -> EventsExtension:
    info = next((i for i in kernel.extensions if i.name == "events"), None)
    extension = kernel.pm.get_plugin("events")
    if info is None or info.status is not ExtensionStatus.LOADED:
        cause = "it is not installed" if info is None else f"{info.stage}: {info.error}"
        raise EventsError(
            f"the events extension did not start ({cause}); `dataflare extensions` "
            "shows why, `dataflare validate` checks the config"
        )
    if not isinstance(extension, EventsExtension):
        raise EventsError("the extension named 'events' is not dataflare-events")
    return extension


def event_line(stored: StoredEvent) -> str:
    """One JSON line for a stored event: its offset, then the event's fields."""
    return json.dumps({"offset": stored.offset, **stored.event.to_dict()}, ensure_ascii=False)


def parse_metadata(pairs: tuple[str, ...]) -> dict[str, str]:
    """``("tenant=acme",)`` as ``{"tenant": "acme"}``.

    Raises:
        click.BadParameter: A pair has no ``=``.
    """
    metadata: dict[str, str] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--metadata")
        metadata[key] = value
    return metadata
