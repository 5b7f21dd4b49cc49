"""Checkpoints: operator state, source position and sink positions, saved as one value.

Everything a pipeline needs to resume goes into one state-backend value under
``<pipeline>/checkpoint``, so it is saved together or not at all: there is no
moment where operator state and source offsets disagree. The value is a JSON
document; operator snapshots are base64 inside it.

The order at a checkpoint (see ``_runner``): the source's position is taken at a
barrier, every batch before the barrier has gone through the operators and
into the sinks, the sinks commit, then the checkpoint is saved, then the source
is told it may release what precedes the position.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

import attrs

from dataflare.streaming._state import StateBackend
from dataflare.streaming.errors import CheckpointError

__all__ = ("Checkpoint", "delete_checkpoint", "load_checkpoint", "save_checkpoint")

FORMAT = 1


@attrs.frozen
class Checkpoint:
    """A consistent cut of one pipeline."""

    pipeline: str
    """The pipeline it belongs to."""
    number: int
    """Counts up from 1 for each checkpoint the pipeline saves."""
    source: Any
    """The source's position just after the last record the operators saw."""
    sinks: tuple[Any, ...]
    """Each sink's committed position, in pipeline order."""
    dead_letter: Any
    """The dead-letter destination's committed position."""
    operators: Mapping[str, bytes | None]
    """Each operator's state, by ``<index>:<name>``."""
    records_in: int = 0
    """Records the source had produced at this cut (for reports)."""
    finished: bool = False
    """The input was exhausted and every operator flushed: nothing is left to do."""

    def encode(self) -> bytes:
        """Serialise as JSON bytes."""
        document = {
            "format": FORMAT,
            **attrs.asdict(self, recurse=False),
            "sinks": list(self.sinks),
            "operators": {
                name: None if state is None else base64.b64encode(state).decode()
                for name, state in self.operators.items()
            },
        }
        return json.dumps(document, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> Checkpoint:
        """Read :meth:`encode`'s output.

        Raises:
            CheckpointError: The bytes are not a checkpoint of a known format.
        """
        try:
            document = json.loads(data)
            if document.pop("format") != FORMAT:
                raise ValueError("unknown checkpoint format")
            operators = {
                name: None if state is None else base64.b64decode(state)
                for name, state in document.pop("operators").items()
            }
            return cls(operators=operators, sinks=tuple(document.pop("sinks")), **document)
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(
                f"the stored checkpoint is unreadable ({exc}); delete it with "
                "'dataflare run --reset' to start over",
                pipeline="?",
            ) from exc


def _key(pipeline: str) -> str:
    return f"{pipeline}/checkpoint"


async def save_checkpoint(backend: StateBackend, checkpoint: Checkpoint) -> None:
    """Save ``checkpoint`` as the pipeline's latest, atomically."""
    await backend.save(_key(checkpoint.pipeline), checkpoint.encode())


async def load_checkpoint(backend: StateBackend, pipeline: str) -> Checkpoint | None:
    """Return the pipeline's latest checkpoint, or ``None`` if it never saved one."""
    data = await backend.load(_key(pipeline))
    if data is None:
        return None
    checkpoint = Checkpoint.decode(data)
    if checkpoint.pipeline != pipeline:
        raise CheckpointError(
            f"the checkpoint under its key belongs to {checkpoint.pipeline!r}", pipeline=pipeline
        )
    return checkpoint


async def delete_checkpoint(backend: StateBackend, pipeline: str) -> None:
    """Forget the pipeline's checkpoint, so its next run starts from the beginning."""
    await backend.delete(_key(pipeline))
