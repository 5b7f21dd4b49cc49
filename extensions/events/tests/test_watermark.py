"""Tests for the committed position of out-of-order work (dataflare.events._watermark)."""

from __future__ import annotations

import pytest

from dataflare.events import Position
from dataflare.events._watermark import Watermark

pytestmark = pytest.mark.anyio


async def test_the_watermark_moves_only_over_contiguous_finished_offsets():
    """Finishing 2 and 3 before 1 keeps it at 0; finishing 1 moves it to 3."""
    mark = Watermark(Position())
    mark.finish(2, "b")
    mark.finish(3, "c")
    assert mark.committed == 0
    assert mark.snapshot() == Position(0, {2: "b", 3: "c"})
    mark.finish(1, "a")
    assert mark.committed == 3
    assert mark.snapshot() == Position(3)


async def test_a_resumed_watermark_knows_what_is_done_by_offset_and_id():
    """Events at or below committed, or saved as done, count as done; others do not."""
    mark = Watermark(Position(4, {6: "f"}))
    assert mark.is_done(3, "x")
    assert mark.is_done(6, "f")
    assert mark.is_done(9, "f")  # the same id at another offset: a redelivered duplicate
    assert not mark.is_done(5, "e")


async def test_gaps_count_as_done_but_are_not_saved():
    """An offset with no event (event_id None) moves the watermark and is not saved as an id."""
    mark = Watermark(Position())
    mark.finish(2, None)
    assert mark.snapshot() == Position(0, {})
    mark.finish(1, "a")
    assert mark.committed == 2


async def test_room_is_measured_from_the_watermark():
    """has_room says whether an offset is within the limit above the committed position."""
    mark = Watermark(Position(10))
    assert mark.has_room(14, 4)
    assert not mark.has_room(15, 4)
