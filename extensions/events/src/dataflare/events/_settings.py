"""The ``events:`` section of a config file.

Every field has a default, so ``events:`` may be left out::

    events:
      store: file           # file (durable, the default), jetstream, or memory (tests)
      path: null            # the file store's directory; default $DATAFLARE_HOME/events
      fsync: batch          # always, batch or never: what survives losing power
      concurrency: 1        # events a processor handles at once (1 keeps order)
      retry:
        max_attempts: 5     # handler calls per event, the first included
        initial_backoff: 0.1
        multiplier: 2.0
        max_backoff: 30.0
      jetstream:            # used when store: jetstream
        servers: [nats://127.0.0.1:4222]
        stream: EVENTS      # dead letters go to EVENTS_DLQ, positions to KV EVENTS_POSITIONS
        replicas: 1         # 3 in a cluster: survives losing a server
        duplicate_window: 120
        max_age: null       # seconds events are kept; null keeps them

Under ``path`` the file store keeps ``log/`` (the events), ``dead-letters/``
(their own event log) and ``consumers/`` (processors' committed positions).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import attrs

from dataflare.events._retry import RetryPolicy
from dataflare.events._segments import FsyncPolicy
from dataflare.kernel import default_home

__all__ = ("EventsSettings", "JetStreamSettings", "StoreKind")

StoreKind = Literal["file", "memory", "jetstream"]
"""Which event store the extension opens."""


def _not_blank(instance: Any, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    if value is not None and not value.strip():
        raise ValueError("path must name a directory, or be left out for the default")


def _nats_urls(instance: Any, attribute: attrs.Attribute[list[str]], value: list[str]) -> None:
    if not value:
        raise ValueError("name one server at least, such as nats://127.0.0.1:4222")
    for url in value:
        if not url.startswith(("nats://", "tls://")):
            raise ValueError(f"{url!r} is not a NATS URL: use nats://HOST:PORT or tls://HOST:PORT")


def _stream_name(instance: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,31}", value):
        raise ValueError(
            f"{value!r} cannot name a stream: use a letter, then letters, digits, '-' or '_'"
        )


@attrs.frozen
class JetStreamSettings:
    """Where the ``jetstream`` store lives and how it keeps events."""

    servers: list[str] = attrs.field(
        factory=lambda: ["nats://127.0.0.1:4222"], validator=_nats_urls
    )
    """NATS URLs, tried in turn (``dataflare dev up`` starts one on 127.0.0.1:4222)."""

    stream: str = attrs.field(default="EVENTS", validator=_stream_name)
    """The events' stream; its subjects start with its name in lower case (``events.``),
    and dead letters go to ``<stream>_DLQ``."""

    replicas: int = attrs.field(
        default=1, validator=[attrs.validators.ge(1), attrs.validators.le(5)]
    )
    """Servers that keep each event: 1, or 3 in a cluster."""

    duplicate_window: float = attrs.field(default=120.0, validator=attrs.validators.ge(0.1))
    """Seconds the server remembers event ids on its fast path (ids stay unique after)."""

    max_age: float | None = None
    """Seconds events are kept; ``None`` keeps them."""


@attrs.frozen
class EventsSettings:
    """The ``events:`` section: the store, and how processors retry and run."""

    store: StoreKind = "file"
    """``file``: the durable segmented log in ``path``; ``jetstream``: a stream on the
    NATS servers of ``jetstream``; ``memory``: nothing is kept when the process ends."""

    path: str | None = attrs.field(default=None, validator=_not_blank)
    """The directory for the file store; ``$DATAFLARE_HOME/events`` when left out."""

    fsync: FsyncPolicy = "batch"
    """``batch``: sync once per append call, before acknowledging (the default);
    ``always``: after every event; ``never``: leave it to the operating system
    (a killed process loses nothing, a power loss may)."""

    concurrency: int = attrs.field(default=1, validator=attrs.validators.ge(1))
    """How many events a processor handles at once; 1 handles them in order."""

    retry: RetryPolicy = attrs.field(factory=RetryPolicy)
    """Attempts and backoff for a handler that raises."""

    jetstream: JetStreamSettings = attrs.field(factory=JetStreamSettings)
    """The ``jetstream`` store's servers and stream."""

    def directory(self) -> Path:
        """The file store's base directory: ``path``, or ``$DATAFLARE_HOME/events``."""
        return Path(self.path).expanduser() if self.path else default_home() / "events"
