"""Structured logs: JSON for machines, one readable line for people.

Everything DataFlare logs goes through loggers under ``dataflare``; the context of
a line (the extension, the subject, the cause) travels in ``extra=`` fields, not
pasted into the message, so a JSON consumer can filter on it.

Example::

    configure_logging(level="info", fmt="auto")
    logging.getLogger("dataflare.demo").info("batch done", extra={"records": 4096})
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

__all__ = ("ConsoleFormatter", "JsonFormatter", "configure_logging")

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD and v is not None}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp, level, logger, message, then the extras."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as one line of JSON."""
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_extras(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class ConsoleFormatter(logging.Formatter):
    """A readable line for a terminal: time, level, message, then ``key=value`` extras."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as one human-readable line."""
        time = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        extras = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        text = f"{time} {record.levelname:<7} {record.getMessage()}"
        text = f"{text}  {extras}" if extras else text
        if record.exc_info:
            text = f"{text}\n{self.formatException(record.exc_info)}"
        return text


def configure_logging(
    level: str = "info", fmt: str = "auto", stream: IO[str] | None = None
) -> None:
    """Send ``dataflare.*`` logs to ``stream`` (stderr by default), replacing earlier setup.

    Args:
        level: ``debug``, ``info``, ``warning``, ``error`` or ``critical``.
        fmt: ``json``, ``console``, or ``auto`` (JSON unless the stream is a terminal).
        stream: Where to write; stderr when ``None``, so stdout stays for data.
    """
    stream = stream if stream is not None else sys.stderr
    if fmt == "auto":
        fmt = "console" if stream.isatty() else "json"
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    logger = logging.getLogger("dataflare")
    for old in list(logger.handlers):
        logger.removeHandler(old)
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    # A host app may configure the root logger too; don't print every line twice.
    logger.propagate = False
