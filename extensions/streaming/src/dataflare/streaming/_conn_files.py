"""JSON Lines and CSV files: sources that resume at a byte offset, transactional sinks.

As a source, a file is read line by line from a byte offset; the offset after the
last line returned is the checkpoint position, so a restart reads each line once.
JSON Lines come in two formats: ``objects`` (any JSON object per line, with the
fields named in the options picked out) and ``records`` (DataFlare's record JSON,
as ``dataflare plugin test`` and dead-letter files write it).

As a sink, a file owns its path: :meth:`commit` flushes and fsyncs and returns
the file's size, and :meth:`recover` truncates the file to the size in the last
checkpoint (or empties it when there was none). Output written after the last
checkpoint is therefore rewritten, not duplicated, when a pipeline restarts.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any, Literal

import anyio
import attrs

from dataflare.kernel import DataError, Record, RecordBatch
from dataflare.kernel.jsonlines import record_from_json, record_to_json
from dataflare.streaming._connector import Connector, Received
from dataflare.streaming._dead_letters import from_values
from dataflare.streaming._rows import RowDecoder, RowSchema
from dataflare.streaming.errors import ConnectorError

__all__ = ("CsvConnector", "FileOptions", "JsonLinesConnector", "render_records")


@attrs.frozen
class FileOptions:
    """Options of the ``jsonl`` and ``csv`` connectors."""

    path: str
    """The file to read (source) or write (sink)."""
    format: Literal["objects", "records"] = "objects"
    """jsonl source: plain JSON objects, or DataFlare record JSON (key, value, fields...)."""
    columns: tuple[str, ...] = ()
    """Numeric fields that become typed columns (what windows and filters compute on)."""
    key_field: str | None = None
    """The field whose value becomes the record key."""
    timestamp_field: str | None = None
    """The field holding the event time: epoch milliseconds or ISO 8601."""
    fsync: bool = True
    """sink: fsync on every checkpoint, so a committed result survives a power loss."""


def render_records(batch: RecordBatch) -> str:
    """Render a batch as record JSON lines (one Python object per record: edge only)."""
    return "".join(record_to_json(record) + "\n" for record in batch)


class _FileConnector(Connector):
    stage = "source"

    def __init__(self, options: FileOptions) -> None:
        super().__init__()
        self.options = options
        self.path = Path(options.path)
        self._offset = 0
        self._line = 0
        self._reader: IO[bytes] | None = None
        self._writer: IO[bytes] | None = None

    async def connect(self) -> None:
        self.connected = True

    def _open_reader(self) -> IO[bytes]:
        if self._reader is None:
            try:
                self._reader = self.path.open("rb")
            except OSError as exc:
                raise ConnectorError(
                    f"cannot read {self.path}: {exc.strerror}; check the source's 'path' "
                    "option (relative paths start at the pipeline file's directory)",
                    connector=self.name,
                ) from exc
            self._reader.seek(self._offset)
        return self._reader

    async def receive(self, max_records: int, timeout: float) -> Received | None:
        return await anyio.to_thread.run_sync(self._read, max_records)

    def _read(self, max_records: int) -> Received | None:
        reader = self._open_reader()
        lines: list[tuple[int, bytes]] = []
        while len(lines) < max_records:
            line = reader.readline()
            if not line:
                break
            self._line += 1
            if line.strip():
                lines.append((self._line, line.rstrip(b"\r\n")))
        if not lines and not self._offset_moved(reader):
            return None
        self._offset = reader.tell()
        received = self._decode(lines)
        self.records_in += len(received.batch)
        return received

    def _offset_moved(self, reader: IO[bytes]) -> bool:
        moved = reader.tell() != self._offset
        self._offset = reader.tell()
        return moved

    def _decode(self, lines: list[tuple[int, bytes]]) -> Received:
        raise NotImplementedError

    def position(self) -> Any:
        return {"offset": self._offset, "line": self._line}

    async def seek(self, position: Any) -> None:
        self._offset, self._line = int(position["offset"]), int(position["line"])
        if self._reader is not None:
            self._reader.seek(self._offset)

    async def send(self, batch: RecordBatch) -> None:
        if self._writer is None:
            await self.recover(None)
        assert self._writer is not None
        self._writer.write(self._render(batch).encode())
        self.records_out += len(batch)

    def _render(self, batch: RecordBatch) -> str:
        return render_records(batch)

    async def commit(self) -> Any:
        if self._writer is None:
            return None
        writer = self._writer
        await anyio.to_thread.run_sync(self._sync, writer)
        return {"size": writer.tell()}

    def _sync(self, writer: IO[bytes]) -> None:
        writer.flush()
        if self.options.fsync:
            os.fsync(writer.fileno())

    async def recover(self, position: Any) -> None:
        if self._writer is not None:
            self._writer.close()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        size = 0 if position is None else int(position["size"])
        # Anything past the committed size was written after the last checkpoint;
        # the pipeline replays it from the source, so it is cut here, not duplicated.
        self._writer = self.path.open("ab")
        self._writer.truncate(size)
        self._writer.seek(size)

    async def disconnect(self) -> None:
        for handle in (self._reader, self._writer):
            if handle is not None:
                if handle is self._writer:
                    handle.flush()
                handle.close()
        self._reader = self._writer = None
        self.connected = False


class JsonLinesConnector(_FileConnector):
    """Reads and writes JSON Lines files."""

    name = "jsonl"

    def _decode(self, lines: list[tuple[int, bytes]]) -> Received:
        if self.options.format == "records":
            return self._decode_records(lines)
        decoder = RowDecoder(_schema(self.options))
        for number, raw in lines:
            try:
                row = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                decoder.fail(raw, f"{self.path}:{number}: not JSON ({exc})")
                continue
            decoder.add(raw, row, f"{self.path}:{number}")
        return _received(decoder.build(), decoder.failures, self.name)

    def _decode_records(self, lines: list[tuple[int, bytes]]) -> Received:
        records: list[Record] = []
        failures: list[tuple[bytes, str]] = []
        for number, raw in lines:
            try:
                records.append(record_from_json(raw.decode(), source=str(self.path), number=number))
            except (DataError, UnicodeDecodeError) as exc:
                failures.append((raw, str(exc)))
        try:
            batch = RecordBatch.from_records(records)
        except DataError as exc:
            failures += [(record_to_json(r).encode(), str(exc)) for r in records]
            batch = RecordBatch.empty()
        return _received(batch, failures, self.name)


class CsvConnector(_FileConnector):
    """Reads and writes CSV files with a header row."""

    name = "csv"

    def __init__(self, options: FileOptions) -> None:
        super().__init__(options)
        self._header: list[str] | None = None

    def position(self) -> Any:
        return {**super().position(), "header": self._header}

    async def seek(self, position: Any) -> None:
        await super().seek(position)
        self._header = position.get("header")

    def _decode(self, lines: list[tuple[int, bytes]]) -> Received:
        decoder = RowDecoder(_schema(self.options))
        for number, raw in lines:
            try:
                cells = next(csv.reader([raw.decode()]))
            except (csv.Error, UnicodeDecodeError) as exc:
                decoder.fail(raw, f"{self.path}:{number}: not CSV ({exc})")
                continue
            if self._header is None:
                self._header = cells
                continue
            if len(cells) != len(self._header):
                decoder.fail(
                    raw,
                    f"{self.path}:{number}: {len(cells)} cells, the header has {len(self._header)}",
                )
                continue
            row = dict(zip(self._header, cells, strict=True))
            decoder.add(
                json.dumps(row, separators=(",", ":")).encode(), row, f"{self.path}:{number}"
            )
        return _received(decoder.build(), decoder.failures, self.name)

    def _render(self, batch: RecordBatch) -> str:
        # Columns: key, timestamp, every typed column, value; a header on an empty file.
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        names = list(batch.column_names)
        assert self._writer is not None
        if self._writer.tell() == 0:
            writer.writerow(["key", "timestamp", *names, "value"])
        writer.writerows(_csv_rows(batch, names))
        return buffer.getvalue()


def _csv_rows(batch: RecordBatch, names: list[str]) -> Iterable[list[Any]]:
    for record in batch:
        fields = [record.fields[name] for name in names]
        yield [
            record.key.decode(errors="replace"),
            record.timestamp,
            *fields,
            record.value.decode(errors="replace"),
        ]


def _schema(options: FileOptions) -> RowSchema:
    return RowSchema(options.columns, options.key_field, options.timestamp_field)


def _received(batch: RecordBatch, failures: list[tuple[bytes, str]], stage: str) -> Received:
    return Received(batch, from_values(failures, stage) if failures else None)
