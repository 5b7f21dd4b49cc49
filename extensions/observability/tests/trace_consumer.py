"""The second process of the cross-process trace test.

Run as ``python trace_consumer.py NATS_URL SPANS_FILE``: reads the ORDERS stream,
continues the trace each message carries (in its NATS headers, and in the
event it holds), and writes its spans to SPANS_FILE as JSON lines.
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

from dataflare.kernel import Event
from dataflare.kernel.messaging import open_log
from dataflare.observability import JsonLinesSpanExporter, context_from_event, extract


async def main(url: str, spans: Path) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(spans)))
    tracer = provider.get_tracer("consumer")
    async with open_log(url) as log:
        async for messages in log.read("ORDERS"):
            for message in messages:
                with tracer.start_as_current_span(
                    f"process {message.subject}",
                    context=extract(message.headers),
                    kind=SpanKind.CONSUMER,
                    attributes={"messaging.system": "nats", "messaging.operation.type": "process"},
                ):
                    pass
                event = Event.from_json(message.data)
                with tracer.start_as_current_span(
                    f"handle {event.event_type}", context=context_from_event(event)
                ):
                    pass
    provider.shutdown()


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], Path(sys.argv[2]))
