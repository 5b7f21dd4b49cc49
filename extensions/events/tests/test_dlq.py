"""Tests for dead letters, their sink, listing and retrying (dataflare.events._dlq)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from events_helpers import TRACE, event

from dataflare.events import (
    DEAD_LETTER_TYPE,
    RESOLVED_TYPE,
    DeadLetter,
    DeadLetterError,
    DeadLetterNotFoundError,
    EventProcessor,
    FileEventStore,
    MemoryEventStore,
    RetryPolicy,
    StoreDeadLetterSink,
    UnknownHandlerError,
)
from dataflare.kernel import Event

pytestmark = pytest.mark.anyio


def _letter(n: int = 1, **changes: object) -> DeadLetter:
    fields: dict[str, object] = {
        "event": event(n, trace_id=TRACE),
        "handler": "bill",
        "error_type": "ValueError",
        "error_message": "card declined",
        "attempts": 3,
        "consumer": "billing",
        "offset": n,
    }
    return DeadLetter(**{**fields, **changes})  # type: ignore[arg-type]


@pytest.fixture
async def sink() -> AsyncIterator[StoreDeadLetterSink]:
    """A sink over an open in-memory store."""
    async with MemoryEventStore() as letters:
        yield StoreDeadLetterSink(letters)


def test_a_dead_letter_becomes_an_event_carrying_the_original():
    """to_event makes a dataflare.dead_letter event whose data holds the whole original event."""
    letter = _letter()
    as_event = letter.to_event()
    assert (as_event.id, as_event.event_type, as_event.trace_id) == (
        letter.id,
        DEAD_LETTER_TYPE,
        TRACE,
    )
    assert as_event.data["event"] == event(1, trace_id=TRACE).to_dict()
    assert as_event.data["handler"] == "bill"
    assert (as_event.data["error_type"], as_event.data["error_message"]) == (
        "ValueError",
        "card declined",
    )
    assert as_event.data["attempts"] == 3
    assert dict(as_event.metadata) == {"event_type": "order.created", "handler": "bill"}


def test_a_dead_letter_reads_back_from_its_event():
    """from_event(to_event()) gives back an equal dead letter, id and time included."""
    letter = _letter()
    assert DeadLetter.from_event(letter.to_event()) == letter
    assert DeadLetter.from_event(Event.from_json(letter.to_event().to_json())) == letter


def test_an_event_that_is_not_a_dead_letter_is_refused():
    """A different type, or a dead letter with fields missing, is refused with DeadLetterError."""
    with pytest.raises(DeadLetterError, match="not a dead letter"):
        DeadLetter.from_event(event(1))
    broken = Event(event_type=DEAD_LETTER_TYPE, data={"handler": "x"}, source="test")
    with pytest.raises(DeadLetterError, match="not a well-formed dead letter"):
        DeadLetter.from_event(broken)


async def test_list_shows_unresolved_letters_oldest_first(sink):
    """Letters put in the sink are listed in order; putting one twice stores it once."""
    first, second = _letter(1), _letter(2)
    await sink.put(first)
    await sink.put(second)
    await sink.put(first)
    assert await sink.list() == [first, second]
    assert await sink.store.last_offset() == 2


async def _processor(sink: StoreDeadLetterSink, handler) -> EventProcessor:
    processor = EventProcessor(
        MemoryEventStore(),
        dead_letters=sink,
        retry=RetryPolicy(max_attempts=2, initial_backoff=0, max_backoff=0),
    )
    processor.on(">", handler, name="bill")
    return processor


async def test_retry_that_succeeds_resolves_the_letter(sink):
    """A retried letter whose handler now succeeds leaves the list, and the log records why."""
    letter = _letter()
    await sink.put(letter)
    handled: list[Event] = []

    async def bill(event: Event) -> None:
        handled.append(event)

    assert await sink.retry(letter.id, await _processor(sink, bill)) is None
    assert handled == [letter.event]
    assert await sink.list() == []
    resolution = [s.event async for s in sink.store.read(event_types=[RESOLVED_TYPE])]
    assert [e.data for e in resolution] == [
        {"dead_letter_id": letter.id, "outcome": "handled", "replaced_by": None}
    ]
    with pytest.raises(DeadLetterNotFoundError):
        await sink.retry(letter.id, await _processor(sink, bill))


async def test_retry_that_fails_again_replaces_the_letter(sink):
    """A retry that fails again resolves the old letter and lists a new one with the new error."""
    letter = _letter()
    await sink.put(letter)

    async def bill(event: Event) -> None:
        raise TimeoutError("still down")

    again = await sink.retry(letter.id, await _processor(sink, bill))
    assert again is not None
    assert (again.error_type, again.error_message, again.attempts) == (
        "TimeoutError",
        "still down",
        2,
    )
    assert again.event == letter.event
    assert again.id != letter.id
    assert await sink.list() == [again]


async def test_retry_needs_a_known_letter_and_handler(sink):
    """An unknown id, or a processor without the recorded handler, is refused; nothing changes."""
    letter = _letter(handler="gone")
    await sink.put(letter)

    async def bill(event: Event) -> None:
        pass

    with pytest.raises(DeadLetterNotFoundError, match="no unresolved dead letter has id 'nope'"):
        await sink.retry("nope", await _processor(sink, bill))
    with pytest.raises(UnknownHandlerError, match="no handler named 'gone'") as caught:
        await sink.retry(letter.id, await _processor(sink, bill))
    assert caught.value.known == ("bill",)
    assert await sink.list() == [letter]


async def test_dead_letters_in_a_file_store_survive_a_restart(tmp_path):
    """Letters kept in a FileEventStore are listed again after it is reopened."""
    letter = _letter()
    async with FileEventStore(tmp_path / "dead-letters") as letters:
        await StoreDeadLetterSink(letters).put(letter)
    async with FileEventStore(tmp_path / "dead-letters") as letters:
        assert await StoreDeadLetterSink(letters).list() == [letter]
