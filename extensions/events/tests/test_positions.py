"""Tests for keeping consumer positions (dataflare.events._positions)."""

from __future__ import annotations

import json

import pytest

from dataflare.events import (
    FilePositionStore,
    MemoryPositionStore,
    Position,
    PositionStore,
    PositionStoreError,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["memory", "file"])
def positions(request: pytest.FixtureRequest, tmp_path) -> PositionStore:
    """A position store of each kind."""
    return MemoryPositionStore() if request.param == "memory" else FilePositionStore(tmp_path)


async def test_an_unknown_consumer_starts_at_zero(positions):
    """A consumer with nothing saved gets Position(): committed 0, nothing done."""
    assert await positions.load("billing") == Position()


async def test_a_saved_position_loads_back_per_consumer(positions):
    """save then load returns the same position, kept apart per consumer."""
    await positions.save("billing", Position(7, {9: "e-9", 12: "e-12"}))
    await positions.save("audit", Position(3))
    await positions.save("audit", Position(4))
    assert await positions.load("billing") == Position(7, {9: "e-9", 12: "e-12"})
    assert await positions.load("audit") == Position(4)


async def test_consumer_names_must_be_file_safe(positions):
    """A name that could escape the directory is refused."""
    with pytest.raises(ValueError, match="consumer name"):
        await positions.save("../escape", Position())


async def test_the_file_is_replaced_whole_and_leaves_no_temporary(tmp_path):
    """A save writes <consumer>.json as documented JSON and leaves no temporary file behind."""
    store = FilePositionStore(tmp_path / "consumers")
    await store.save("billing", Position(5, {7: "e-7"}))
    assert sorted(p.name for p in (tmp_path / "consumers").iterdir()) == ["billing.json"]
    document = json.loads(store.path("billing").read_text())
    assert document == {"format": 1, "consumer": "billing", "committed": 5, "done": [[7, "e-7"]]}


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b'{"format": 2, "committed": 1, "done": []}',
        b'{"format": 1, "committed": 3, "done": [[2, "x"]]}',
    ],
    ids=["not-json", "future-format", "done-below-committed"],
)
async def test_a_damaged_position_file_is_reported(tmp_path, content):
    """An untrustworthy position file raises PositionStoreError naming the consumer and file."""
    store = FilePositionStore(tmp_path)
    store.path("billing").write_bytes(content)
    with pytest.raises(PositionStoreError) as caught:
        await store.load("billing")
    assert caught.value.consumer == "billing"
    assert "billing.json" in str(caught.value)
