"""NATS JetStream subjects: many records per message, as the record batch layout.

Each message is one :class:`~dataflare.kernel.RecordBatch` in its wire layout,
so a thousand records cost one publish and one decode, and the bytes a source
reads are the bytes a WASM plugin gets. Built on the kernel's message log
(:func:`dataflare.kernel.messaging.open_log`).

* Source: reads the stream from a sequence number with stateless reads; the
  position is the next sequence, saved in each checkpoint, so a restart reads
  each message once. ``stop_when_idle`` ends the input when the stream is read
  to its end (replays, tests); otherwise it waits for new messages.
* Sink: publishes each batch with a ``Nats-Msg-Id`` of the pipeline's sink id and
  the batch's sequence number, restored from the checkpoint, so a batch re-sent
  after a crash is dropped by the stream's duplicate window (idempotent keys).
"""

from __future__ import annotations

from typing import Any

import anyio
import attrs

from dataflare.kernel import BatchFormatError, RecordBatch
from dataflare.kernel.messaging import MessageLog, StreamConfig, open_log
from dataflare.streaming._connector import Connector, ConnectorStatus, Received
from dataflare.streaming._dead_letters import from_values

__all__ = ("NatsConnector", "NatsOptions")


@attrs.frozen
class NatsOptions:
    """Options of the ``nats`` connector."""

    servers: tuple[str, ...] = ("nats://127.0.0.1:4222",)
    """NATS URLs (``memory://`` for the in-process log)."""
    stream: str = "DATAFLARE"
    """The JetStream stream holding the subject."""
    subject: str = "dataflare.records"
    """Source: the subject (or pattern) read; sink: the subject published to."""
    create_stream: bool = True
    """Create the stream (capturing ``subject``) when it does not exist."""
    stop_when_idle: bool = False
    """Source: end the input once every stored message was read."""
    id_prefix: str = "dataflare"
    """Sink: the de-duplication id prefix; give each pipeline and sink its own."""


class NatsConnector(Connector):
    """Reads and publishes record batches on a JetStream subject."""

    name = "nats"

    def __init__(self, options: NatsOptions) -> None:
        super().__init__()
        self.options = options
        self._log: MessageLog | None = None
        self._next_seq = 1
        self._sent = 0

    async def connect(self) -> None:
        self._log = open_log(list(self.options.servers))
        await self._log.__aenter__()
        if self.options.create_stream:
            await self._log.ensure_stream(StreamConfig(self.options.stream, [self.options.subject]))
        self.connected = True

    async def receive(self, max_records: int, timeout: float) -> Received | None:
        log = self._require()
        batches: list[RecordBatch] = []
        failures: list[tuple[bytes, str]] = []
        count = 0
        reader = log.read(
            self.options.stream,
            start_seq=self._next_seq,
            filter_subject=self.options.subject,
            batch=64,
        )
        try:
            async for messages in reader:
                for message in messages:
                    self._next_seq = message.seq + 1
                    try:
                        batch = RecordBatch.from_buffer(message.data)
                    except BatchFormatError as exc:
                        failures.append(
                            (message.data, f"{message.subject} seq {message.seq}: {exc}")
                        )
                        continue
                    batches.append(batch)
                    count += len(batch)
                    if count >= max_records:
                        break
                break  # one read round per call: what was stored when it began
        finally:
            await reader.aclose()
        if not batches and not failures:
            if self.options.stop_when_idle:
                return None
            await anyio.sleep(timeout)
        batch = RecordBatch.concat(batches)
        self.records_in += len(batch)
        return Received(batch, from_values(failures, self.name) if failures else None)

    async def send(self, batch: RecordBatch) -> None:
        if not len(batch):
            return
        self._sent += 1
        msg_id = f"{self.options.id_prefix}-{self._sent}"
        await self._require().publish(self.options.subject, batch.to_bytes(), msg_id=msg_id)
        self.records_out += len(batch)

    def position(self) -> Any:
        return {"seq": self._next_seq}

    async def seek(self, position: Any) -> None:
        self._next_seq = int(position["seq"])

    async def commit(self) -> Any:
        return {"sent": self._sent}

    async def recover(self, position: Any) -> None:
        self._sent = 0 if position is None else int(position["sent"])

    async def disconnect(self) -> None:
        if self._log is not None:
            await self._log.aclose()
            self._log = None
        self.connected = False

    def status(self) -> ConnectorStatus:
        detail = f"{','.join(self.options.servers)} {self.options.stream}/{self.options.subject}"
        return ConnectorStatus(self.name, self.connected, self.records_in, self.records_out, detail)

    def _require(self) -> MessageLog:
        if self._log is None:
            raise RuntimeError("the nats connector is not connected; call connect() first")
        return self._log
