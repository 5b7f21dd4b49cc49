"""Numbering equal byte strings with numpy: the grouping behind ``RecordBatch.key_codes``.

Keyed windows need, for every record, a small integer that is the same for equal
keys, so that ``np.bincount`` and friends can aggregate per key. Here that takes a
few whole-array passes, with no Python step per record:

1. read every key as little-endian 64-bit words, zero past its end, and hash the
   words together with the key's length (so ``b"a"`` and ``b"a\\x00"`` differ);
2. sort the hashes once and number each run of equal hashes;
3. check, word by word, that every key equals the first key of its number; only if
   two different keys share a hash (about one chance in 2**64 per pair) are the
   keys numbered again by their exact bytes.

Example::

    codes, first = group_codes(np.array([0, 1, 2, 3]), np.frombuffer(b"aba", np.uint8))
    # codes == [0, 1, 0]; first == [0, 1]
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = ("group_codes",)

# _MASKS[k] keeps the low k bytes of a little-endian word.
_MASKS: Final = np.array([(1 << (8 * k)) - 1 for k in range(9)], dtype=np.uint64)
_CACHE_WORDS: Final = 1 << 23  # 64 MiB of words


def group_codes(
    offsets: npt.NDArray[np.int64], data: npt.NDArray[np.uint8]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Number the distinct byte strings ``data[offsets[i]:offsets[i + 1]]``.

    Args:
        offsets: ``count + 1`` non-decreasing offsets starting at 0.
        data: The strings' bytes, back to back.

    Returns:
        ``codes`` (one int64 per string; equal strings, equal codes, numbered in
        order of first appearance) and ``first`` (for each code, the position of
        the first string with it).
    """
    count = offsets.size - 1
    if count == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    words = _Words(offsets, data)
    hashes = _hash_words(words)
    order = np.argsort(hashes)
    ranked = hashes[order]
    starts_group = np.empty(count, np.bool_)
    starts_group[0] = True
    np.not_equal(ranked[1:], ranked[:-1], out=starts_group[1:])
    inverse = np.empty(count, np.int64)
    inverse[order] = np.cumsum(starts_group) - 1
    first = np.minimum.reduceat(order, np.flatnonzero(starts_group))
    if not _all_equal(words, first[inverse]):
        inverse, first = _exact_groups(words)
    # Renumber by first appearance: stable across runs and meaningful to a reader.
    by_appearance = np.argsort(first)
    rank = np.empty_like(by_appearance)
    rank[by_appearance] = np.arange(by_appearance.size)
    return rank[inverse].astype(np.int64), first[by_appearance].astype(np.int64)


class _Words:
    """Word ``j`` (bytes ``8j`` to ``8j + 7``) of every string at once, zero past its end."""

    def __init__(self, offsets: npt.NDArray[np.int64], data: npt.NDArray[np.uint8]) -> None:
        self.lengths = np.diff(offsets)
        self.count = max(1, -(-int(self.lengths.max()) // 8))
        padded = np.zeros(data.size + 8, np.uint8)
        padded[: data.size] = data
        # Every byte position seen as the start of an unaligned 8-byte word, so one
        # gather reads word j of every string.
        self._at = np.ndarray((data.size + 1,), dtype="<u8", buffer=padded, strides=(1,))
        self._starts = offsets[:-1]
        self._end = data.size
        # Hashing and checking both read every word; keep them when that is cheap.
        self._cache: dict[int, npt.NDArray[np.uint64]] | None = (
            {} if self.count * self.lengths.size <= _CACHE_WORDS else None
        )

    def __getitem__(self, index: int) -> npt.NDArray[np.uint64]:
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        # Strings shorter than 8 * index may start too near the end to read a word
        # there; their word is masked to zero anyway, so read the padding instead.
        positions = np.minimum(self._starts + 8 * index, self._end)
        word: npt.NDArray[np.uint64] = self._at[positions]
        word &= _MASKS[np.clip(self.lengths - 8 * index, 0, 8)]
        if self._cache is not None:
            self._cache[index] = word
        return word


def _hash_words(words: _Words) -> npt.NDArray[np.uint64]:
    hashes = (words.lengths.astype(np.uint64) + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
    for index in range(words.count):
        hashes ^= words[index]
        hashes *= np.uint64(0xBF58476D1CE4E5B9)
        hashes ^= hashes >> np.uint64(31)
    return hashes


def _all_equal(words: _Words, representative: npt.NDArray[np.int64]) -> bool:
    if not np.array_equal(words.lengths, words.lengths[representative]):
        return False
    for index in range(words.count):
        word = words[index]
        if not np.array_equal(word, word[representative]):
            return False
    return True


def _exact_groups(words: _Words) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    # Every word plus the length, as one comparable row per string.
    columns = [words[index] for index in range(words.count)]
    matrix = np.column_stack([*columns, words.lengths.astype(np.uint64)])
    rows = matrix.view(np.dtype((np.void, matrix.shape[1] * 8))).reshape(-1)
    _, first, inverse = np.unique(rows, return_index=True, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64), first.astype(np.int64)
