"""Tests for vectorised variable-length byte strings (dataflare.kernel._ragged)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dataflare.kernel import _ragged
from dataflare.kernel._ragged import Ragged, offsets_from_lengths

# Short alphabets make equal items (and items equal but for trailing zeros) common.
items = st.lists(st.binary(max_size=12) | st.sampled_from([b"", b"a", b"a\x00", b"\x00"]))


def _as_list(ragged: Ragged) -> list[bytes]:
    return [ragged.item(index) for index in range(len(ragged))]


def _check_shape(ragged: Ragged) -> None:
    assert ragged.offsets[0] == 0
    assert ragged.offsets[-1] == ragged.data.size
    assert np.all(np.diff(ragged.offsets) >= 0)


@given(items)
def test_from_sequence_keeps_every_item(values):
    """Packing and reading back gives the same items."""
    ragged = Ragged.from_sequence(values)
    _check_shape(ragged)
    assert _as_list(ragged) == values


def test_from_sequence_refuses_text():
    """Items must be bytes; the message names what they are."""
    with pytest.raises(TypeError, match="keys must be bytes"):
        Ragged.from_sequence(["text"], what="keys")  # type: ignore[list-item]


def test_from_sequence_refuses_wide_buffers():
    """A buffer of 4-byte items is not one byte string of its length."""
    wide = memoryview(np.arange(3, dtype=np.int32))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="byte-format"):
        Ragged.from_sequence([wide])  # type: ignore[list-item]


def test_empty_makes_empty_items():
    """Ragged.empty(n) holds n empty byte strings."""
    assert _as_list(Ragged.empty(3)) == [b"", b"", b""]


def test_offsets_from_lengths():
    """Lengths become offsets that start at 0."""
    assert offsets_from_lengths(np.array([2, 0, 3])).tolist() == [0, 2, 2, 5]


@given(st.data())
def test_select_matches_a_list_comprehension(data):
    """select(mask) keeps exactly the masked items, in order."""
    values = data.draw(items)
    mask = data.draw(st.lists(st.booleans(), min_size=len(values), max_size=len(values)))
    result = Ragged.from_sequence(values).select(np.array(mask, np.bool_))
    _check_shape(result)
    assert _as_list(result) == [value for value, keep in zip(values, mask, strict=True) if keep]


@given(st.data())
def test_take_matches_indexing(data):
    """take(indices) gathers any positions, repeated and out of order."""
    values = data.draw(items.filter(bool))
    positions = data.draw(st.lists(st.integers(0, len(values) - 1), max_size=40))
    result = Ragged.from_sequence(values).take(np.array(positions, np.int64))
    _check_shape(result)
    assert _as_list(result) == [values[position] for position in positions]


def test_take_with_one_long_item_uses_the_byte_index_path(monkeypatch):
    """Very uneven lengths gather correctly, without padded rows."""
    monkeypatch.setattr(_ragged, "_CHUNK_BYTES", 64)

    def no_rows(*args: object) -> None:
        raise AssertionError("rows padded to the longest item were built")

    monkeypatch.setattr(_ragged._RowReader, "window", no_rows)
    values = [b"x" * 5000] + [bytes([n]) * (n % 5) for n in range(200)]
    positions = np.array([*range(200, 0, -1), 0, 0], np.int64)
    result = Ragged.from_sequence(values).take(positions)
    assert _as_list(result) == [values[position] for position in positions]


def test_take_in_many_chunks(monkeypatch):
    """Gathering in several bounded chunks gives the same result as in one."""
    monkeypatch.setattr(_ragged, "_CHUNK_BYTES", 32)
    values = [bytes([n % 256]) * (n % 11) for n in range(500)]
    positions = np.arange(499, -1, -3)
    result = Ragged.from_sequence(values).take(positions)
    assert _as_list(result) == [values[position] for position in positions]


@given(st.data())
def test_slice_matches_list_slicing(data):
    """slice(start, stop) copies out a run of items."""
    values = data.draw(items)
    start = data.draw(st.integers(0, len(values)))
    stop = data.draw(st.integers(start, len(values)))
    result = Ragged.from_sequence(values).slice(start, stop)
    _check_shape(result)
    assert _as_list(result) == values[start:stop]


@given(st.lists(items, max_size=4))
def test_concat_matches_list_concatenation(groups):
    """concat joins sequences end to end."""
    result = Ragged.concat([Ragged.from_sequence(group) for group in groups])
    _check_shape(result)
    assert _as_list(result) == [value for group in groups for value in group]


def test_codes_number_items_by_first_appearance():
    """codes() groups equal items, numbered in order of first appearance."""
    codes, first = Ragged.from_sequence([b"b", b"a", b"b", b""]).codes()
    assert (codes.tolist(), first.tolist()) == ([0, 1, 0, 2], [0, 1, 3])


def test_items_returns_bytes_at_positions():
    """items() gives the chosen items as bytes, in the order asked."""
    ragged = Ragged.from_sequence([b"zero", b"", b"two"])
    assert ragged.items(np.array([2, 0, 1, 2])) == [b"two", b"zero", b"", b"two"]


def test_codes_of_nothing():
    """An empty sequence has no codes."""
    codes, first = Ragged.empty(0).codes()
    assert codes.size == first.size == 0
