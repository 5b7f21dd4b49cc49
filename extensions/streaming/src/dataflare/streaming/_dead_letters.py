"""Dead letters: rejected records, kept whole, with why and where they were rejected.

A dead letter is the original record with two headers added, ``dataflare.error``
and ``dataflare.stage``, so a dead-letter file can be read, fixed and replayed
with the same connectors. Building one costs a Python step per rejected record,
which is fine: rejects are the exception, not the hot path.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

from dataflare.kernel import DeadLetter, Record, RecordBatch

__all__ = ("ERROR_HEADER", "STAGE_HEADER", "dead_letter_batch", "from_plugin", "from_values")

ERROR_HEADER = "dataflare.error"
STAGE_HEADER = "dataflare.stage"


def dead_letter_batch(records: Iterable[tuple[Record, str]], stage: str) -> RecordBatch:
    """Build a batch of rejected records, each tagged with its error and ``stage``.

    Typed columns are dropped: a rejected record may be missing them, which is often
    why it was rejected, and a dead-letter batch must hold records of any shape.
    """
    tagged = [
        attrs.evolve(
            record,
            fields={},
            headers={**record.headers, ERROR_HEADER: error, STAGE_HEADER: stage},
        )
        for record, error in records
    ]
    return RecordBatch.from_records(tagged)


def from_values(values: Sequence[tuple[bytes, str]], stage: str) -> RecordBatch:
    """Dead letters for raw inputs a source could not decode (the raw bytes are the value)."""
    return dead_letter_batch(((Record(value=raw), error) for raw, error in values), stage)


def from_plugin(letters: Sequence[DeadLetter], stage: str) -> RecordBatch:
    """Dead letters for the records a WASM plugin rejected or failed on."""
    return dead_letter_batch(
        (
            (letter.record.record(0), f"{letter.failure}: {letter.message}".rstrip(": "))
            for letter in letters
        ),
        stage,
    )
