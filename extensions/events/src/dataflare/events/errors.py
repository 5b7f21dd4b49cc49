"""Every error the events extension raises, in one tree under the kernel's base.

Catch :class:`EventsError` for anything this extension refused, or the kernel's
:class:`~dataflare.kernel.errors.DataFlareError` for anything DataFlare refused.
Each error carries what a caller needs to act on it (the batch index and event id,
the file and byte position, the consumer, the handler) as attributes.

::

    DataFlareError                       (dataflare.kernel.errors)
    └── EventsError                      the events extension refused an operation
        ├── EventStoreError              an event store cannot do what was asked
        │   ├── EventRejectedError       an event failed validation; nothing was stored (ValueError)
        │   ├── InvalidQueryError        a read or lookup was asked with bad arguments (ValueError)
        │   ├── StoreClosedError         the store was used after aclose()
        │   ├── StoreLockedError         another writer holds the store's directory
        │   ├── StoreReadOnlyError       an append to a store opened read-only
        │   └── StoreCorruptedError      a segment is damaged before its last frame
        ├── PositionStoreError           a consumer position cannot be read or written
        ├── ProcessorError               its dead-letter sink or position store failed
        ├── DeadLetterError              a dead letter cannot be stored, found or retried
        │   ├── DeadLetterNotFoundError  no unresolved dead letter has that id (also a KeyError)
        │   └── UnknownHandlerError      the processor has no handler of that name (also a KeyError)
        └── ReplayError                  the replay target raised; ``report`` says how far it got

Example::

    try:
        await store.append(event)
    except EventRejectedError as exc:
        for path, message in exc.problems:
            print(path, message)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dataflare.kernel.errors import DataFlareError

if TYPE_CHECKING:
    from dataflare.events._replay import ReplayReport

__all__ = (
    "DeadLetterError",
    "DeadLetterNotFoundError",
    "EventRejectedError",
    "EventStoreError",
    "EventsError",
    "InvalidQueryError",
    "PositionStoreError",
    "ProcessorError",
    "ReplayError",
    "StoreClosedError",
    "StoreCorruptedError",
    "StoreLockedError",
    "StoreReadOnlyError",
    "UnknownHandlerError",
)


class EventsError(DataFlareError):
    """The base of every error the events extension raises on purpose."""


class EventStoreError(EventsError):
    """Raised when an event store cannot do what was asked."""


class EventRejectedError(EventStoreError, ValueError):
    """Raised when an event given to ``append`` or ``append_many`` is invalid.

    Nothing of the call is stored: a batch is checked whole before any of it is
    written.

    Attributes:
        index: The event's position in the batch (0 for ``append``).
        event_id: The event's id, when it has a readable one.
        problems: ``(field path, message)`` pairs, one per bad field.
    """

    def __init__(
        self, index: int, event_id: str | None, problems: Sequence[tuple[str, str]]
    ) -> None:
        self.index = index
        self.event_id = event_id
        self.problems = tuple(problems)
        detail = "; ".join(f"{path}: {message}" for path, message in self.problems)
        which = f"event {index}" + (f" (id {event_id!r})" if event_id else "")
        super().__init__(f"{which} refused, nothing was stored: {detail}")


class InvalidQueryError(EventStoreError, ValueError):
    """Raised when a read, lookup or replay is asked with bad arguments.

    Attributes:
        argument: The name of the argument that was refused.
        value: The value that was given.
    """

    def __init__(self, argument: str, value: object, problem: str) -> None:
        self.argument = argument
        self.value = value
        super().__init__(f"{argument}={value!r} is not allowed: {problem}")


class StoreClosedError(EventStoreError):
    """Raised when a store is used after :meth:`~dataflare.events.EventStore.aclose`."""


class StoreLockedError(EventStoreError):
    """Raised when a file store's directory is already open for writing elsewhere.

    Attributes:
        directory: The store's directory.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        super().__init__(
            f"event store {directory} is open in another process or store object: "
            "a log has one writer; close the other one, use another directory, or share "
            "events between processes with store: jetstream (`dataflare dev up` starts a "
            "local server)"
        )


class StoreReadOnlyError(EventStoreError):
    """Raised when an event is appended to a file store opened read-only.

    Attributes:
        directory: The store's directory.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        super().__init__(
            f"event store {directory} is open read-only here (a reader beside its writer): "
            "append through the process that writes it, or open it without read_only"
        )


class StoreCorruptedError(EventStoreError):
    """Raised when a segment is damaged somewhere other than its unacknowledged tail.

    A torn last frame of the last segment is expected after a crash and is cut off
    with a warning; damage anywhere else means acknowledged events are unreadable,
    so the store refuses to open rather than drop them silently.

    Attributes:
        path: The damaged segment file.
        position: The byte position of the first bad frame.
    """

    def __init__(self, path: Path, position: int, problem: str) -> None:
        self.path = path
        self.position = position
        super().__init__(
            f"{path} is damaged at byte {position}: {problem}. Acknowledged events "
            "follow it, so the store will not open; restore the file from a backup, "
            "or move it aside to accept the loss"
        )


class PositionStoreError(EventsError):
    """Raised when a consumer's committed position cannot be read or written.

    Attributes:
        consumer: The consumer's name.
    """

    def __init__(self, consumer: str, problem: str) -> None:
        self.consumer = consumer
        super().__init__(f"position of consumer {consumer!r}: {problem}")


class ProcessorError(EventsError):
    """Raised when a processor cannot go on, or is started twice.

    When its dead-letter sink or its position store fails, the processor stops
    without committing the event at hand; the failure is the cause.
    """


class DeadLetterError(EventsError):
    """Raised when a dead letter cannot be stored, found or retried."""


class DeadLetterNotFoundError(DeadLetterError, KeyError):
    """Raised when no unresolved dead letter has the given id.

    Attributes:
        dead_letter_id: The id that was asked for.
    """

    def __init__(self, dead_letter_id: str) -> None:
        self.dead_letter_id = dead_letter_id
        super().__init__(
            f"no unresolved dead letter has id {dead_letter_id!r}: it may have been "
            "retried already; list() shows the ones that remain"
        )

    def __str__(self) -> str:
        # KeyError would wrap the message in quotes.
        return str(self.args[0])


class UnknownHandlerError(DeadLetterError, KeyError):
    """Raised when a dead letter names a handler the processor does not have.

    Attributes:
        handler: The handler name the dead letter records.
        known: The names of the processor's handlers.
    """

    def __init__(self, handler: str, known: Sequence[str]) -> None:
        self.handler = handler
        self.known = tuple(known)
        names = ", ".join(self.known) or "none"
        super().__init__(
            f"the processor has no handler named {handler!r} (it has: {names}); register "
            "it with processor.on(..., name=...) under the same name before retrying"
        )

    def __str__(self) -> str:
        return str(self.args[0])


class ReplayError(EventsError):
    """Raised when the replay target raises; the cause is the target's exception.

    Attributes:
        report: How far the replay got; ``complete`` is ``False``.
        offset: The offset of the event the target failed on.
    """

    def __init__(self, report: ReplayReport, offset: int) -> None:
        self.report = report
        self.offset = offset
        super().__init__(
            f"replay stopped at offset {offset}: the target raised; {report.replayed} "
            f"event(s) were replayed before it (resume with from_offset={offset})"
        )
