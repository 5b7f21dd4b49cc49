"""Trace ids on log lines: every record made inside a span carries ``trace_id`` and ``span_id``.

The kernel's formatters already write JSON when stderr is not a terminal and a
readable line when it is, with every ``extra`` field; this adds two fields to
each record at creation, through the standard library's record factory, so it
works for every logger and survives the kernel replacing its handlers.
:func:`uninstall` puts the previous factory back.

Example::

    install()
    with tracer.start_as_current_span("work"):
        logging.getLogger("dataflare.x").info("done")  # ... "trace_id": "4bf9...", ...
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry import trace

__all__ = ("install", "installed", "uninstall")

_previous: Any = None


def _with_trace_ids(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record: logging.LogRecord = _previous(*args, **kwargs)
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        record.trace_id = trace.format_trace_id(context.trace_id)
        record.span_id = trace.format_span_id(context.span_id)
    return record


def install() -> None:
    """Start adding trace ids to log records. Idempotent."""
    global _previous
    if _previous is None:
        _previous = logging.getLogRecordFactory()
        logging.setLogRecordFactory(_with_trace_ids)


def uninstall() -> None:
    """Stop adding trace ids; restores the factory that was there before."""
    global _previous
    if _previous is not None and logging.getLogRecordFactory() is _with_trace_ids:
        logging.setLogRecordFactory(_previous)
        _previous = None


def installed() -> bool:
    """Whether trace ids are being added."""
    return logging.getLogRecordFactory() is _with_trace_ids
