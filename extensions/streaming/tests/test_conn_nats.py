"""The NATS connector against a real nats-server: batches as messages, positions, dedup."""

from __future__ import annotations

import numpy as np
import pytest

from dataflare.kernel import RecordBatch
from dataflare.kernel.messaging import open_log
from dataflare.streaming import (
    ERROR_HEADER,
    CollectingSink,
    MemorySource,
    NatsConnector,
    NatsOptions,
    Pipeline,
    PipelineRunner,
    StreamingSettings,
)

pytestmark = pytest.mark.anyio
pytest_plugins = ["dataflare.kernel.testing"]

NO_CHECKPOINTS = StreamingSettings(checkpoint_interval=0)


def numbered(start: int, count: int) -> RecordBatch:
    return RecordBatch.from_arrays(
        keys=[b"k%d" % (i % 3) for i in range(start, start + count)],
        timestamps=np.arange(start, start + count),
        columns={"n": np.arange(start, start + count)},
    )


def options(server, **extra) -> NatsOptions:
    return NatsOptions(servers=(server.url,), stream="RECORDS", subject="records.in", **extra)


async def test_a_pipeline_publishes_batches_and_another_reads_them_back(nats_server):
    """Each batch is one message; a reader gets every record, in order, from the real server."""
    batches = [numbered(0, 500), numbered(500, 300)]
    writer = Pipeline("w", MemorySource(batches)).sink(NatsConnector(options(nats_server)))
    written = await PipelineRunner(
        writer, StreamingSettings(batch_size=500, checkpoint_interval=0)
    ).run()
    assert written.records_out == 800
    async with open_log(nats_server.url) as log:
        state = await log.stream_state("RECORDS")
    assert state.messages == 2  # 800 records, two messages

    sink = CollectingSink()
    reader = NatsConnector(options(nats_server, stop_when_idle=True))
    await PipelineRunner(Pipeline("r", reader).sink(sink), NO_CHECKPOINTS).run()
    assert sink.batch().column("n").tolist() == list(range(800))
    assert reader.position() == {"seq": 3}


async def test_a_source_resumes_after_its_position_and_bad_messages_are_dead_letters(nats_server):
    async with open_log(nats_server.url) as log:
        from dataflare.kernel.messaging import StreamConfig

        await log.ensure_stream(StreamConfig("RECORDS", ["records.in"]))
        await log.publish("records.in", numbered(0, 10).to_bytes())
        await log.publish("records.in", b"not a batch")
        await log.publish("records.in", numbered(10, 5).to_bytes())
    source = NatsConnector(options(nats_server, stop_when_idle=True))
    await source.seek({"seq": 2})
    sink, letters = CollectingSink(), CollectingSink()
    await PipelineRunner(
        Pipeline("r", source).sink(sink).dead_letters(letters), NO_CHECKPOINTS
    ).run()
    assert sink.batch().column("n").tolist() == list(range(10, 15))
    (letter,) = letters.batch()
    assert letter.value == b"not a batch"
    assert letter.headers[ERROR_HEADER].startswith("records.in seq 2:")


async def test_a_resent_batch_after_recovery_is_dropped_by_its_message_id(nats_server):
    """After recover(), the sink reuses the ids of batches sent since the checkpoint."""
    sink = NatsConnector(options(nats_server))
    await sink.connect()
    try:
        await sink.recover(None)
        await sink.send(numbered(0, 4))
        committed = await sink.commit()
        await sink.send(numbered(4, 4))  # sent, then the process "crashes" before a checkpoint
        await sink.recover(committed)
        await sink.send(numbered(4, 4))  # the replay sends the same batch again
    finally:
        await sink.disconnect()
    async with open_log(nats_server.url) as log:
        assert (await log.stream_state("RECORDS")).messages == 2
