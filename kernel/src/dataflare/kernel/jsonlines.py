"""Records as JSON Lines: how ``dataflare plugin test`` reads input and prints output.

One JSON object per line::

    {"key": "user-1", "value": "hello", "timestamp": 1700000000000,
     "headers": {"source": "web"}, "fields": {"amount": 12.5}}

Every member is optional. A ``value`` that is not a string is stored as its
compact JSON text. On output, a value or key that is not valid UTF-8 is written
as ``value_base64`` / ``key_base64`` instead. This is a tool format, one Python
object per record; pipelines move record batches, never this.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from typing import IO, Any

from dataflare.kernel._batch import RecordBatch
from dataflare.kernel._record import Record
from dataflare.kernel.errors import DataError

__all__ = ("read_batches", "record_from_json", "record_to_json")

_MEMBERS = {"key", "value", "timestamp", "headers", "fields", "key_base64", "value_base64"}


def record_from_json(line: str, *, source: str = "<input>", number: int = 0) -> Record:
    """Parse one JSON line into a :class:`Record`.

    Args:
        line: The JSON text.
        source: The file name, for messages.
        number: The 1-based line number, for messages.

    Raises:
        DataError: The line is not a JSON object of the documented shape; the
            message names the file, the line and the member.
    """
    where = f"{source}:{number}"
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(f"{where}: not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - _MEMBERS)
    if unknown:
        raise DataError(f"{where}: unknown member(s) {unknown}; allowed: {sorted(_MEMBERS)}")
    try:
        return Record(
            value=_bytes(data, "value"),
            key=_bytes(data, "key"),
            timestamp=data.get("timestamp", 0),
            headers=data.get("headers") or {},
            fields=data.get("fields") or {},
        )
    except (TypeError, ValueError) as exc:
        raise DataError(f"{where}: {exc}") from None


def _bytes(data: dict[str, Any], name: str) -> bytes:
    if f"{name}_base64" in data:
        return base64.b64decode(data[f"{name}_base64"], validate=True)
    value = data.get(name)
    if value is None:
        return b""
    if isinstance(value, str):
        return value.encode()
    return json.dumps(value, separators=(",", ":")).encode()


def record_to_json(record: Record) -> str:
    """Render a record as one JSON line (the inverse of :func:`record_from_json`)."""
    out: dict[str, Any] = {}
    for name, raw in (("key", record.key), ("value", record.value)):
        try:
            out[name] = raw.decode()
        except UnicodeDecodeError:
            out[f"{name}_base64"] = base64.b64encode(raw).decode()
    out["timestamp"] = record.timestamp
    if record.headers:
        out["headers"] = dict(record.headers)
    if record.fields:
        out["fields"] = dict(record.fields)
    return json.dumps(out, ensure_ascii=False)


def read_batches(
    stream: IO[str], *, batch_size: int, source: str = "<stdin>"
) -> Iterator[RecordBatch]:
    """Read JSON lines from ``stream`` into batches of up to ``batch_size`` records.

    Blank lines are skipped. Every record of one batch must have the same
    ``fields`` names (a batch has one set of typed columns).

    Raises:
        DataError: A line is malformed; the message names the file and line.
    """
    pending: list[Record] = []
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        pending.append(record_from_json(line, source=source, number=number))
        if len(pending) == batch_size:
            yield _batch(pending, source)
            pending = []
    if pending:
        yield _batch(pending, source)


def _batch(records: Iterable[Record], source: str) -> RecordBatch:
    try:
        return RecordBatch.from_records(records)
    except DataError as exc:
        raise DataError(f"{source}: {exc}") from None
