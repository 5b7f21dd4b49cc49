"""Tests for numbering equal byte strings (dataflare.kernel._grouping)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dataflare.kernel import _grouping
from dataflare.kernel._grouping import group_codes
from dataflare.kernel._ragged import Ragged

# Short alphabets make equal strings, and strings equal but for trailing zero bytes,
# common; longer ones cross several 8-byte words.
strings = st.lists(
    st.binary(max_size=20)
    | st.sampled_from([b"", b"a", b"a\x00", b"\x00", b"abcdefgh", b"abcdefgh\x00", b"x" * 17])
)


def _codes(values: list[bytes]) -> tuple[list[int], list[int]]:
    packed = Ragged.from_sequence(values)
    codes, first = group_codes(packed.offsets, packed.data)
    assert codes.dtype == first.dtype == np.int64
    return codes.tolist(), first.tolist()


def _reference(values: list[bytes]) -> tuple[list[int], list[int]]:
    numbers: dict[bytes, int] = {}
    first: list[int] = []
    for position, value in enumerate(values):
        if value not in numbers:
            numbers[value] = len(numbers)
            first.append(position)
    return [numbers[value] for value in values], first


@given(strings)
def test_codes_match_a_dict_reference(values):
    """Equal strings get equal codes, numbered by first appearance."""
    assert _codes(values) == _reference(values)


def test_trailing_zero_bytes_make_different_strings():
    """b"a", b"a\\x00" and b"a\\x00\\x00" are three strings, also across word boundaries."""
    values = [b"a", b"a\x00", b"a\x00\x00", b"a", b"abcdefgh", b"abcdefgh\x00", b"a\x00"]
    assert _codes(values) == ([0, 1, 2, 0, 3, 4, 1], [0, 1, 2, 4, 5])


def test_long_strings_that_differ_only_at_the_end():
    """Strings many words long are told apart by their last byte."""
    values = [b"k" * 1000 + b"1", b"k" * 1000 + b"2", b"k" * 1000 + b"1"]
    assert _codes(values) == ([0, 1, 0], [0, 1])


def test_last_string_short_and_at_the_very_end():
    """Reading later words of a short final string stays inside the buffer."""
    values = [b"x" * 30, b"ab", b"x" * 30, b"ab"]
    assert _codes(values) == ([0, 1, 0, 1], [0, 1])


@given(strings)
def test_codes_survive_hash_collisions(values):
    """When every hash collides, the exact path still groups correctly."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            _grouping, "_hash_words", lambda words: np.zeros(words.lengths.size, np.uint64)
        )
        assert _codes(values) == _reference(values)


def test_nothing_to_group():
    """No strings, no codes."""
    assert _codes([]) == ([], [])
