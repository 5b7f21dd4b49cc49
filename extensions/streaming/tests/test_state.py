"""State backends (memory, file, JetStream KV) and checkpoints: save/load/delete/list_keys."""

from __future__ import annotations

import pytest

from dataflare.streaming import (
    Checkpoint,
    FileStateBackend,
    JetStreamStateBackend,
    MemoryStateBackend,
    StateBackendError,
    load_checkpoint,
    save_checkpoint,
)

pytestmark = pytest.mark.anyio
pytest_plugins = ["dataflare.kernel.testing"]


@pytest.fixture(params=["memory", "file", "jetstream"])
async def backend(request, tmp_path):
    if request.param == "memory":
        yield MemoryStateBackend()
    elif request.param == "file":
        yield FileStateBackend(tmp_path / "s")
    else:
        server = request.getfixturevalue("nats_server")
        jetstream = JetStreamStateBackend([server.url], bucket="checkpoints")
        yield jetstream
        await jetstream.aclose()


async def test_a_backend_saves_loads_lists_and_deletes(backend):
    await backend.save("orders/checkpoint", b"one")
    await backend.save("orders/checkpoint", b"two")
    await backend.save("clicks/checkpoint", b"three")
    assert await backend.load("orders/checkpoint") == b"two"
    assert await backend.load("missing") is None
    assert await backend.list_keys() == ["clicks/checkpoint", "orders/checkpoint"]
    assert await backend.list_keys("orders/") == ["orders/checkpoint"]
    await backend.delete("orders/checkpoint")
    await backend.delete("orders/checkpoint")  # deleting a missing key is fine
    assert await backend.list_keys() == ["clicks/checkpoint"]


@pytest.mark.parametrize("key", ["", "../escape", "a//b", "/abs", "a/./b"])
async def test_keys_that_could_escape_the_directory_are_refused(backend, key):
    with pytest.raises(StateBackendError, match="'/'-separated names"):
        await backend.save(key, b"x")


async def test_a_file_backend_survives_a_new_instance_and_ignores_torn_temporaries(tmp_path):
    """What was saved is there for the next process; a temp file from a killed save is not a key."""
    root = tmp_path / "state"
    await FileStateBackend(root).save("p/checkpoint", b"committed")
    (root / "p" / ".tmp-999-checkpoint.state").write_bytes(b"half a wri")
    again = FileStateBackend(root)
    assert await again.load("p/checkpoint") == b"committed"
    assert await again.list_keys() == ["p/checkpoint"]
    assert not (root / "p" / ".tmp-999-checkpoint.state").exists()


async def test_a_checkpoint_round_trips_with_binary_operator_state(backend):
    checkpoint = Checkpoint(
        pipeline="orders",
        number=3,
        source={"next": 4096},
        sinks=({"size": 120},),
        dead_letter=None,
        operators={"0:key_by": None, "1:window": bytes(range(256))},
        records_in=4096,
    )
    await save_checkpoint(backend, checkpoint)
    assert await load_checkpoint(backend, "orders") == checkpoint
    assert await load_checkpoint(backend, "clicks") is None
