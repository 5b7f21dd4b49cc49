"""key_by: typed column values become decimal keys, vectorised, for ints and floats alike."""

from __future__ import annotations

import numpy as np
import pytest

from dataflare.kernel import RecordBatch
from dataflare.streaming import ERROR_HEADER, KeyByOperator
from dataflare.streaming._ragged_batch import IntKeyTable


def keys(batch: RecordBatch) -> list[bytes]:
    return [batch.key(i) for i in range(len(batch))]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (np.array([3, 10, 3, -7]), [b"3", b"10", b"3", b"-7"]),
        (np.array([1.0, 2.5, 1.0]), [b"1", b"2.5", b"1"]),  # 1.0 keys as "1", like the int
        (np.array([0, 2**40, 5]), [b"0", b"1099511627776", b"5"]),  # too wide for a table
    ],
)
def test_key_by_sets_each_key_from_the_column_and_keeps_everything_else(values, expected):
    batch = RecordBatch.from_arrays(
        values=[b"v%d" % i for i in range(len(values))],
        timestamps=np.arange(len(values)),
        columns={"user": values},
    )
    out = KeyByOperator("user").process(batch).batch
    assert keys(out) == expected
    assert [out.value(i) for i in range(len(out))] == [batch.value(i) for i in range(len(batch))]
    assert out.timestamps.tolist() == batch.timestamps.tolist()
    assert out.column("user").tolist() == batch.column("user").tolist()


def test_the_key_table_widens_to_new_values_and_stays_correct():
    table = IntKeyTable()
    first = table.keys(np.array([5, 6, 7]))
    widened = table.keys(np.array([-2, 9, 6]))
    assert first is not None
    assert widened is not None
    assert bytes(first[1]) == b"567"
    assert bytes(widened[1]) == b"-296"
    assert widened[0].tolist() == [0, 2, 3, 4]


def test_a_batch_without_the_column_is_dead_lettered_with_the_fix():
    batch = RecordBatch.from_arrays(values=[b"x"])
    output = KeyByOperator("user").process(batch)
    assert len(output.batch) == 0
    (letter,) = output.dead_letters
    assert "no typed column 'user' to key by" in letter.headers[ERROR_HEADER]
    assert "'columns' option" in letter.headers[ERROR_HEADER]
