"""The ``events:`` section of a config file.

Every field has a default, so ``events:`` may be left out::

    events:
      store: file           # file (durable, the default) or memory (tests, demos)
      path: null            # the store's directory; default $DATAFLARE_HOME/events
      fsync: batch          # always, batch or never: what survives losing power
      concurrency: 1        # events a processor handles at once (1 keeps order)
      retry:
        max_attempts: 5     # handler calls per event, the first included
        initial_backoff: 0.1
        multiplier: 2.0
        max_backoff: 30.0

Under ``path`` the file store keeps ``log/`` (the events), ``dead-letters/``
(their own event log) and ``consumers/`` (processors' committed positions).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import attrs

from dataflare.events._retry import RetryPolicy
from dataflare.events._segments import FsyncPolicy
from dataflare.kernel import default_home

__all__ = ("EventsSettings", "StoreKind")

StoreKind = Literal["file", "memory"]
"""Which event store the extension opens."""


def _not_blank(instance: Any, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    if value is not None and not value.strip():
        raise ValueError("path must name a directory, or be left out for the default")


@attrs.frozen
class EventsSettings:
    """The ``events:`` section: the store, and how processors retry and run."""

    store: StoreKind = "file"
    """``file``: the durable segmented log in ``path``; ``memory``: nothing is kept
    when the process ends (``path`` and ``fsync`` are then unused)."""

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

    def directory(self) -> Path:
        """The file store's base directory: ``path``, or ``$DATAFLARE_HOME/events``."""
        return Path(self.path).expanduser() if self.path else default_home() / "events"
