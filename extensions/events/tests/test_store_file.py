"""The file store survives crashes, torn tails and damage (dataflare.events._store_file)."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import anyio
import pytest
from anyio.streams.text import TextReceiveStream
from events_helpers import event

from dataflare.events import (
    FileEventStore,
    StoreClosedError,
    StoreCorruptedError,
    StoreLockedError,
    StoreReadOnlyError,
)
from dataflare.events._frames import MAGIC, encode_frame

pytestmark = pytest.mark.anyio

WRITER = textwrap.dedent(
    """
    import sys
    import anyio
    from dataflare.events import FileEventStore
    from dataflare.kernel import Event

    def tick(n):
        pad = "x" * (n * 37 % 300)  # frames of varied sizes, so segments roll at odd places
        return Event(id=f"tick-{n}", event_type="test.tick", data={"n": n, "pad": pad},
                     source="writer")

    async def main(directory):
        async with FileEventStore(directory, segment_bytes=4096) as store:
            n = 0
            while True:  # until killed
                if n % 3 == 0:
                    batch = [tick(n + 1), tick(n + 2), tick(n + 3)]
                    acked = zip(await store.append_many(batch), batch, strict=True)
                    n += 3
                else:
                    n += 1
                    single = tick(n)
                    acked = [(await store.append(single), single)]
                for offset, sent in acked:
                    print(offset, sent.id, flush=True)

    anyio.run(main, sys.argv[1])
    """
)


async def test_every_acknowledged_event_survives_sigkill(tmp_path):
    """A writer killed by SIGKILL mid-stream loses no acknowledged event; the store reopens."""
    directory = tmp_path / "log"
    acked: list[tuple[int, str]] = []
    killed = False
    with anyio.fail_after(60):
        async with await anyio.open_process(
            [sys.executable, "-c", WRITER, str(directory)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        ) as process:
            assert process.stdout is not None
            buffer = ""
            async for chunk in TextReceiveStream(process.stdout):
                buffer += chunk
                *lines, buffer = buffer.split("\n")
                acked += [(int(line.split()[0]), line.split()[1]) for line in lines]
                if len(acked) >= 300 and not killed:
                    process.send_signal(signal.SIGKILL)  # mid-stream: it is still writing
                    killed = True
            # Lines it printed before dying were acknowledged too; the loop read them all.
            status = await process.wait()
            assert process.stderr is not None
            errors = (await process.stderr.receive()).decode() if status != -signal.SIGKILL else ""
            assert status == -signal.SIGKILL, errors
    assert len(acked) >= 300
    assert [offset for offset, _ in acked] == list(range(1, len(acked) + 1))

    async with FileEventStore(directory, segment_bytes=4096) as store:
        last = await store.last_offset()
        assert last is not None
        assert last >= len(acked)  # it may have stored more before it could print them
        stored = [s async for s in store.read()]
        assert [s.offset for s in stored] == list(range(1, last + 1))
        for offset, event_id in acked:
            assert stored[offset - 1].event.id == event_id
        assert [s.event.data["n"] for s in stored] == list(range(1, last + 1))
        assert await store.append(event(1)) == last + 1  # and it takes writes again
    assert len(list(directory.glob("*.seg"))) > 1


async def _fill(directory: Path, count: int, **options: object) -> None:
    async with FileEventStore(directory, **options) as store:  # type: ignore[arg-type]
        await store.append_many([event(n) for n in range(1, count + 1)])


def _last_segment(directory: Path) -> Path:
    return sorted(directory.glob("*.seg"))[-1]


@pytest.mark.parametrize(
    "garbage",
    [
        pytest.param(b"\x07", id="one-byte"),
        pytest.param(b"\x00" * 5, id="short-header"),
        pytest.param(b"\xff\xff\x00\x00garbage-that-is-cut-short", id="frame-past-eof"),
        pytest.param(b"\x10\x00\x00\x00\x00\x00\x00\x00" + b"z" * 16, id="bad-crc"),
    ],
)
async def test_a_torn_tail_is_cut_off_with_a_warning(tmp_path, caplog, garbage):
    """Garbage after the last frame is cut off on open, logged, and the store goes on."""
    directory = tmp_path / "log"
    await _fill(directory, 10)
    segment = _last_segment(directory)
    intact = segment.stat().st_size
    with segment.open("ab") as file:
        file.write(garbage)
    with caplog.at_level(logging.WARNING, logger="dataflare.events"):
        async with FileEventStore(directory) as store:
            assert await store.last_offset() == 10
            assert await store.append(event(11)) == 11
    assert f"cut a torn tail of {len(garbage)} byte(s) at byte {intact}" in caplog.text
    async with FileEventStore(directory) as store:
        assert [s.event.id async for s in store.read()] == [f"e-{n}" for n in range(1, 12)]


async def test_a_half_written_last_frame_is_dropped_and_the_rest_kept(tmp_path, caplog):
    """A last frame cut short (a write the crash interrupted) is dropped; the frames before stay."""
    directory = tmp_path / "log"
    await _fill(directory, 5)
    segment = _last_segment(directory)
    partial = encode_frame(6, event(6), event(6).to_json())[:-7]
    with segment.open("ab") as file:
        file.write(partial)
    with caplog.at_level(logging.WARNING, logger="dataflare.events"):
        async with FileEventStore(directory) as store:
            assert await store.last_offset() == 5
            assert await store.get_by_id("e-6") is None
            assert await store.append(event(6)) == 6
    assert "torn tail" in caplog.text


async def test_a_segment_created_just_before_a_crash_is_recovered(tmp_path):
    """A new segment whose magic was only half written is taken as empty, and written to."""
    directory = tmp_path / "log"
    await _fill(directory, 3)
    (directory / f"{4:020d}.seg").write_bytes(MAGIC[:3])
    async with FileEventStore(directory) as store:
        assert await store.last_offset() == 3
        assert await store.append(event(4)) == 4
    async with FileEventStore(directory) as store:
        assert [s.offset async for s in store.read()] == [1, 2, 3, 4]


async def test_damage_before_the_tail_refuses_to_open(tmp_path):
    """A flipped byte in an older segment is damage, not a torn tail: opening says where."""
    directory = tmp_path / "log"
    await _fill(directory, 40, segment_bytes=1024)
    first = sorted(directory.glob("*.seg"))[0]
    data = bytearray(first.read_bytes())
    data[40] ^= 0xFF
    first.write_bytes(bytes(data))
    with pytest.raises(StoreCorruptedError) as caught:
        await FileEventStore(directory, segment_bytes=1024).open()
    assert caught.value.path == first
    assert "CRC32" in str(caught.value)
    assert "restore the file from a backup" in str(caught.value)


async def test_a_missing_segment_refuses_to_open(tmp_path):
    """A gap in the segment sequence means events are gone; opening says which file follows it."""
    directory = tmp_path / "log"
    await _fill(directory, 40, segment_bytes=1024)
    segments = sorted(directory.glob("*.seg"))
    assert len(segments) >= 3
    segments[1].unlink()
    with pytest.raises(StoreCorruptedError, match="a segment is missing before it"):
        await FileEventStore(directory).open()


async def test_a_file_that_is_not_a_segment_refuses_to_open(tmp_path):
    """A last segment with a foreign header is not mistaken for a torn tail."""
    directory = tmp_path / "log"
    directory.mkdir()
    (directory / f"{1:020d}.seg").write_bytes(b"PK\x03\x04 a zip file, not ours")
    with pytest.raises(StoreCorruptedError, match="does not start with"):
        await FileEventStore(directory).open()


async def test_a_directory_has_one_writer_at_a_time(tmp_path):
    """A second store on an open directory is refused; after the first closes it may open."""
    directory = tmp_path / "log"
    async with FileEventStore(directory) as first:
        await first.append(event(1))
        with pytest.raises(StoreLockedError) as caught:
            await FileEventStore(directory).open()
        assert caught.value.directory == directory
    async with FileEventStore(directory) as second:
        assert await second.last_offset() == 1


async def test_a_closed_file_store_cannot_be_reopened(tmp_path):
    """aclose is final for the object: open() afterwards raises StoreClosedError."""
    store = FileEventStore(tmp_path / "log")
    await store.open()
    await store.aclose()
    with pytest.raises(StoreClosedError):
        await store.open()


async def test_segments_roll_over_and_are_named_by_first_offset(tmp_path):
    """Past segment_bytes a new segment starts, named by the offset of its first event."""
    directory = tmp_path / "log"
    await _fill(directory, 40, segment_bytes=1024)
    segments = sorted(directory.glob("*.seg"))
    assert len(segments) > 2
    assert segments[0].name == f"{1:020d}.seg"
    assert all(s.stat().st_size <= 1024 for s in segments)
    async with FileEventStore(directory) as store:
        for segment in segments:
            first = int(segment.stem)
            stored = await store.get(first)
            assert stored is not None
            assert stored.event.id == f"e-{first}"


async def test_an_event_larger_than_a_segment_gets_one_to_itself(tmp_path):
    """A frame bigger than segment_bytes is still stored, alone in its segment."""
    directory = tmp_path / "log"
    big = event(2, data={"blob": "b" * 5000})
    async with FileEventStore(directory, segment_bytes=1024) as store:
        assert await store.append_many([event(1), big, event(3)]) == [1, 2, 3]
        assert await store.get(2) == (await store.get_by_id("e-2"))
    assert len(list(directory.glob("*.seg"))) == 3


@pytest.mark.parametrize("fsync", ["always", "batch", "never"])
async def test_every_fsync_policy_stores_and_reads_back(tmp_path, fsync):
    """Each fsync policy acknowledges appends that a reopened store reads back."""
    directory = tmp_path / "log"
    await _fill(directory, 12, fsync=fsync, segment_bytes=1024)
    async with FileEventStore(directory, fsync=fsync) as store:
        assert [s.offset async for s in store.read()] == list(range(1, 13))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"fsync": "sometimes"}, "fsync='sometimes' is not allowed"),
        ({"segment_bytes": 10}, "segment_bytes=10 is not allowed"),
    ],
)
def test_bad_options_are_refused(tmp_path, options, message):
    """An unknown fsync policy or a tiny segment size is refused when the store is made."""
    with pytest.raises(ValueError, match=message):
        FileEventStore(tmp_path, **options)


async def test_a_store_opens_on_first_use(tmp_path):
    """Without open() or async with, the first call opens the store."""
    store = FileEventStore(tmp_path / "log")
    try:
        assert await store.append(event(1)) == 1
        assert (tmp_path / "log" / "LOCK").exists()
    finally:
        await store.aclose()


async def test_a_read_only_store_reads_beside_its_writer_and_sees_new_events(tmp_path):
    """A reader takes no lock, follows what the writer appends, and refuses to append."""
    directory = tmp_path / "log"
    reader = FileEventStore(directory, read_only=True)
    assert await reader.last_offset() is None  # no store yet: empty, nothing created
    assert not directory.exists()
    async with FileEventStore(directory, segment_bytes=1024) as writer:
        await writer.append_many([event(n) for n in range(1, 4)])
        assert await reader.last_offset() == 3
        await writer.append_many([event(n) for n in range(4, 40)])  # across segments
        assert [s.offset async for s in reader.read(from_offset=38)] == [38, 39]
        assert (await reader.get_by_id("e-21")).offset == 21
        with pytest.raises(StoreReadOnlyError, match="read-only"):
            await reader.append(event(99))
    await reader.aclose()


async def test_a_read_only_store_stops_at_a_torn_tail_and_changes_nothing(tmp_path):
    """A frame still being written (or torn) ends the reader's log; the file is untouched."""
    directory = tmp_path / "log"
    await _fill(directory, 5)
    segment = _last_segment(directory)
    with segment.open("ab") as file:
        file.write(b"\xff\xff\x00\x00half-a-frame")
    size = segment.stat().st_size
    async with FileEventStore(directory, read_only=True) as reader:
        assert await reader.last_offset() == 5
        assert [s.event.id async for s in reader.read()] == [f"e-{n}" for n in range(1, 6)]
    assert segment.stat().st_size == size
