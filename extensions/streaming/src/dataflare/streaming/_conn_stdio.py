"""stdin as a source and stdout as a sink, for shell pipelines.

stdin is read with ``select`` and non-blocking chunks, so a partial batch still
flushes after ``linger_ms`` while the producer is quiet, and no thread is left
blocked on a read. stdin cannot be rewound: after a crash, lines read since the
last checkpoint are not read again (at-most-once), which is what a pipe allows.
stdout receives one record JSON line per record and is flushed on every
checkpoint; it cannot retract output (at-least-once after a crash).
"""

from __future__ import annotations

import json
import os
import select
import sys
from typing import IO, Any, Literal

import anyio
import attrs

from dataflare.kernel import RecordBatch
from dataflare.streaming._conn_files import render_records
from dataflare.streaming._connector import Connector, Received
from dataflare.streaming._dead_letters import from_values
from dataflare.streaming._rows import RowDecoder, RowSchema

__all__ = ("StdinConnector", "StdioOptions", "StdoutConnector")

_CHUNK = 1 << 16


@attrs.frozen
class StdioOptions:
    """Options of the ``stdin`` and ``stdout`` connectors."""

    format: Literal["objects", "records"] = "objects"
    """stdin: plain JSON objects (``records`` is not read from stdin yet)."""
    columns: tuple[str, ...] = ()
    """stdin: numeric fields that become typed columns."""
    key_field: str | None = None
    """stdin: the field whose value becomes the key."""
    timestamp_field: str | None = None
    """stdin: the field holding the event time."""


class StdinConnector(Connector):
    """Reads JSON objects, one per line, from standard input."""

    name = "stdin"

    def __init__(self, options: StdioOptions, stream: IO[bytes] | None = None) -> None:
        super().__init__()
        self.options = options
        self._stream = stream
        self._pending = b""
        self._eof = False
        self._line = 0

    async def receive(self, max_records: int, timeout: float) -> Received | None:
        if self._eof and not self._pending:
            return None
        if self._pending.count(b"\n") < max_records and not self._eof:
            await anyio.to_thread.run_sync(self._fill, timeout)
        lines, self._pending = _split(self._pending, max_records, final=self._eof)
        decoder = RowDecoder(
            RowSchema(self.options.columns, self.options.key_field, self.options.timestamp_field)
        )
        for raw in lines:
            self._line += 1
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                decoder.fail(raw, f"<stdin>:{self._line}: not JSON ({exc})")
                continue
            decoder.add(raw, row, f"<stdin>:{self._line}")
        batch = decoder.build()
        self.records_in += len(batch)
        letters = from_values(decoder.failures, self.name) if decoder.failures else None
        return Received(batch, letters)

    def _fill(self, timeout: float) -> None:
        stream = self._stream or sys.stdin.buffer
        fd = stream.fileno()
        ready, _, _ = select.select([fd], [], [], timeout)
        if ready:
            chunk = os.read(fd, _CHUNK)
            self._pending += chunk
            self._eof = not chunk

    def position(self) -> Any:
        return {"line": self._line}


def _split(pending: bytes, limit: int, *, final: bool) -> tuple[list[bytes], bytes]:
    lines = pending.split(b"\n")
    rest = lines.pop()  # the partial line after the last newline (b"" if none)
    if final and rest:
        lines.append(rest)
        rest = b""
    taken, left = lines[:limit], lines[limit:]
    remainder = b"\n".join([*left, rest]) if left else rest
    return [line.rstrip(b"\r") for line in taken], remainder


class StdoutConnector(Connector):
    """Writes record JSON lines to standard output."""

    name = "stdout"

    def __init__(self, options: StdioOptions, stream: IO[str] | None = None) -> None:
        super().__init__()
        self.options = options
        self._stream = stream

    async def send(self, batch: RecordBatch) -> None:
        stream = self._stream or sys.stdout
        stream.write(render_records(batch))
        self.records_out += len(batch)

    async def commit(self) -> Any:
        (self._stream or sys.stdout).flush()
        return {"records": self.records_out}
