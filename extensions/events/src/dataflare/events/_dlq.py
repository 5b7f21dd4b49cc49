"""Dead letters: events a handler kept failing on, kept with why, so they can be retried.

A :class:`DeadLetter` holds the original event (and so its trace id), the handler
that failed, the error's type and message, and how many attempts were made.
:class:`StoreDeadLetterSink` keeps them in an event store of their own as
``dataflare.dead_letter`` events whose data carries all of that, the original
event included; retrying one appends a ``dataflare.dead_letter_resolved`` event,
so the log keeps the whole history and :meth:`~StoreDeadLetterSink.list` shows
what is still unresolved.

Example::

    sink = StoreDeadLetterSink(FileEventStore("/var/lib/dataflare/dead-letters"))
    for letter in await sink.list():
        print(letter.id, letter.handler, letter.error_type, letter.error_message)
        again = await sink.retry(letter.id, processor)   # None: handled this time
"""

from __future__ import annotations

import abc
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import anyio
import attrs
from cattrs.errors import BaseValidationError

from dataflare.events._attempts import Failure, call_with_retries
from dataflare.events._store_api import EventStore
from dataflare.events.errors import DeadLetterError, DeadLetterNotFoundError
from dataflare.kernel import Event, EventValidationError, make_converter

if TYPE_CHECKING:
    from dataflare.events._processor import EventProcessor

__all__ = (
    "DEAD_LETTER_TYPE",
    "RESOLVED_TYPE",
    "DeadLetter",
    "DeadLetterSink",
    "StoreDeadLetterSink",
)

DEAD_LETTER_TYPE: Final = "dataflare.dead_letter"
"""The event type a stored dead letter has."""
RESOLVED_TYPE: Final = "dataflare.dead_letter_resolved"
"""The event type that marks a dead letter as retried."""
_SOURCE: Final = "urn:dataflare:events"
_MESSAGE_LIMIT: Final = 2000


def _now() -> datetime:
    return datetime.now(UTC)


def _new_id() -> str:
    return str(uuid.uuid4())


@attrs.frozen(kw_only=True)
class DeadLetter:
    """An event a handler failed on in every attempt, and why."""

    event: Event
    """The original event, unchanged."""
    handler: str
    """The name of the handler that failed (what ``processor.on(..., name=)`` gave)."""
    error_type: str
    """The exception's class, such as ``ValueError`` or ``billing.errors.Declined``."""
    error_message: str
    """The exception's message (cut to 2,000 characters)."""
    attempts: int
    """How many times the handler was called for the event."""
    consumer: str = "default"
    """The name of the processor that gave up."""
    offset: int | None = None
    """The event's offset in the store it was read from, when it was read from one."""
    failed_at: datetime = attrs.field(factory=_now)
    """When the last attempt failed."""
    id: str = attrs.field(factory=_new_id)
    """The dead letter's own id (the id of its ``dataflare.dead_letter`` event)."""

    @classmethod
    def from_failure(
        cls, event: Event, handler: str, failure: Failure, consumer: str, offset: int | None
    ) -> DeadLetter:
        """Describe a handler's last failure on an event.

        Args:
            event: The event.
            handler: The handler's name.
            failure: What its last attempt raised, and how many attempts there were.
            consumer: The processor's name.
            offset: The event's offset in its store.
        """
        kind = type(failure.error)
        qualified = f"{kind.__module__}.{kind.__qualname__}"
        return cls(
            event=event,
            handler=handler,
            error_type=kind.__qualname__ if kind.__module__ == "builtins" else qualified,
            error_message=str(failure.error)[:_MESSAGE_LIMIT],
            attempts=failure.attempts,
            consumer=consumer,
            offset=offset,
        )

    @property
    def trace_id(self) -> str | None:
        """The original event's trace id."""
        return self.event.trace_id

    def to_event(self) -> Event:
        """Return the dead letter as a ``dataflare.dead_letter`` event."""
        data = _CONVERTER.unstructure(self)
        del data["id"]
        return Event(
            id=self.id,
            event_type=DEAD_LETTER_TYPE,
            data=data,
            metadata={"event_type": self.event.event_type, "handler": self.handler},
            timestamp=self.failed_at,
            source=_SOURCE,
            trace_id=self.event.trace_id,
        )

    @classmethod
    def from_event(cls, event: Event) -> DeadLetter:
        """Read a dead letter back from its ``dataflare.dead_letter`` event.

        Raises:
            DeadLetterError: The event is not a well-formed dead letter.
        """
        if event.event_type != DEAD_LETTER_TYPE or not isinstance(event.data, dict):
            raise DeadLetterError(f"event {event.id} is a {event.event_type}, not a dead letter")
        try:
            letter: DeadLetter = _CONVERTER.structure({**event.data, "id": event.id}, cls)
        except (BaseValidationError, EventValidationError, KeyError, TypeError, ValueError) as exc:
            raise DeadLetterError(
                f"event {event.id} is not a well-formed dead letter: {exc}"
            ) from exc
        return letter


def _structure_event(value: Any, _: type) -> Event:
    return Event.from_dict(value)


_CONVERTER: Final = make_converter(forbid_extra_keys=True)
_CONVERTER.register_unstructure_hook(Event, Event.to_dict)
_CONVERTER.register_structure_hook(Event, _structure_event)


class DeadLetterSink(abc.ABC):
    """Where a processor puts the events it gave up on."""

    @abc.abstractmethod
    async def put(self, letter: DeadLetter) -> None:
        """Keep a dead letter.

        Raises:
            Exception: Whatever keeping it failed with; the processor then stops
                without committing the event, so it is handled again after a restart.
        """


class StoreDeadLetterSink(DeadLetterSink):
    """Dead letters as events in an event store (a file store, or a memory one in tests).

    The sink does not own the store: close the store yourself.

    Args:
        store: The store; keep it apart from the events being processed.
    """

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self._retrying = anyio.Lock()

    async def put(self, letter: DeadLetter) -> None:
        """Append the dead letter to the store (again with the same id stores nothing)."""
        await self.store.append(letter.to_event())

    async def list(self) -> list[DeadLetter]:
        """Return the unresolved dead letters, oldest first (reads the whole store)."""
        letters: dict[str, DeadLetter] = {}
        async for stored in self.store.read(event_types=[DEAD_LETTER_TYPE, RESOLVED_TYPE]):
            if stored.event.event_type == DEAD_LETTER_TYPE:
                letters[stored.event.id] = DeadLetter.from_event(stored.event)
            else:
                letters.pop(str(stored.event.data.get("dead_letter_id")), None)
        return list(letters.values())

    async def get(self, dead_letter_id: str) -> DeadLetter:
        """Return one unresolved dead letter.

        Raises:
            DeadLetterNotFoundError: None has that id, or it was resolved.
        """
        stored = await self.store.get_by_id(dead_letter_id)
        resolved = await self.store.get_by_id(_resolution_id(dead_letter_id))
        if stored is None or resolved is not None or stored.event.event_type != DEAD_LETTER_TYPE:
            raise DeadLetterNotFoundError(dead_letter_id)
        return DeadLetter.from_event(stored.event)

    async def retry(self, dead_letter_id: str, processor: EventProcessor) -> DeadLetter | None:
        """Run the failed handler on the event again, with the processor's retry policy.

        Either way the dead letter is resolved: when the handler fails again, the
        new failure is stored as a new dead letter (with a new id) and returned.

        Args:
            dead_letter_id: The dead letter's id.
            processor: A processor with a handler of the recorded name.

        Returns:
            ``None`` when the handler succeeded, else the new dead letter.

        Raises:
            DeadLetterNotFoundError: No unresolved dead letter has that id.
            UnknownHandlerError: The processor has no handler of the recorded name.
        """
        async with self._retrying:  # two retries of one letter must not both run it
            letter = await self.get(dead_letter_id)
            route = processor.handler(letter.handler)
            outcome = await call_with_retries(
                route.handler,
                letter.event,
                processor.retry,
                name=route.name,
                offset=letter.offset,
                wait=_sleep,
            )
            again = None
            if isinstance(outcome, Failure):
                again = DeadLetter.from_failure(
                    letter.event, route.name, outcome, letter.consumer, letter.offset
                )
            if again is not None:
                await self.put(again)
            await self.store.append(_resolution(letter, again))
        return again


async def _sleep(delay: float) -> bool:
    await anyio.sleep(delay)
    return True


def _resolution_id(dead_letter_id: str) -> str:
    return f"{dead_letter_id}.resolved"


def _resolution(letter: DeadLetter, again: DeadLetter | None) -> Event:
    return Event(
        id=_resolution_id(letter.id),
        event_type=RESOLVED_TYPE,
        data={
            "dead_letter_id": letter.id,
            "outcome": "handled" if again is None else "failed-again",
            "replaced_by": None if again is None else again.id,
        },
        source=_SOURCE,
        trace_id=letter.trace_id,
    )
