"""Tests for isolating failing records by bisection (dataflare.kernel._wasm_isolate).

The algorithm drives plain callables, so these tests use Python stand-ins for a
plugin: no wasm, and every failure pattern is easy to arrange.
"""

from __future__ import annotations

import numpy as np
import wasm_modules as wm

from dataflare.kernel._batch import RecordBatch
from dataflare.kernel._wasm_isolate import Isolation
from dataflare.kernel._wasm_result import CallFailure, RecordError


class FakePlugin:
    """Fails any part holding a value in ``poison``, or any part larger than ``max_records``."""

    def __init__(
        self, poison: frozenset[bytes] = frozenset(), max_records: int | None = None
    ) -> None:
        self.poison = poison
        self.max_records = max_records
        self.attempts: list[list[bytes]] = []
        self.restarts = 0

    def attempt(self, part: RecordBatch) -> tuple[RecordBatch, tuple[RecordError, ...]]:
        values = wm.values(part)
        self.attempts.append(values)
        if self.max_records is not None and len(values) > self.max_records:
            raise CallFailure("deadline", "too slow")
        if self.poison & set(values):
            raise CallFailure("trap", "boom")
        return part, ()

    def restart(self) -> None:
        self.restarts += 1


def isolate(plugin: FakePlugin, batch: RecordBatch) -> Isolation:
    """Run the isolation the way WasmPlugin does: after the whole batch failed once."""
    try:
        plugin.attempt(batch)
    except CallFailure as failure:
        isolation = Isolation(
            batch, plugin="t/fake", attempt=plugin.attempt, restart=plugin.restart
        )
        isolation.run(failure)
        return isolation
    raise AssertionError("the whole batch was expected to fail")


def test_single_poison_record_costs_one_plus_two_per_level():
    """One bad record among 16 is found with 2 attempts per halving."""
    values = [b"v%d" % i for i in range(16)]
    values[5] = b"bad"
    plugin = FakePlugin(frozenset({b"bad"}))
    isolation = isolate(plugin, wm.batch(*values))
    assert [d.input_index for d in isolation.dead_letters()] == [5]
    assert wm.values(isolation.output()) == values[:5] + values[6:]
    assert isolation.calls == len(plugin.attempts) == 1 + 2 * 4


def test_every_record_failing_is_bounded_by_2n_minus_1():
    """When all records fail, the attempts form a full binary tree: 2n - 1 of them."""
    plugin = FakePlugin(frozenset({b"bad"}))
    isolation = isolate(plugin, wm.batch(*[b"bad"] * 13))
    assert isolation.calls == 2 * 13 - 1
    assert len(isolation.dead_letters()) == 13
    assert len(isolation.output()) == 0


def test_restart_follows_every_failure():
    """The instance is replaced after each failed attempt, before the next one."""
    plugin = FakePlugin(frozenset({b"bad"}))
    isolate(plugin, wm.batch(b"a", b"bad", b"c", b"d"))
    failed = [values for values in plugin.attempts if b"bad" in values]
    assert plugin.restarts == len(failed)


def test_failure_that_does_not_recur_on_halves_keeps_the_halves_output():
    """A whole-batch failure that the halves do not repeat loses no record."""
    batch = wm.batch(*[b"v%d" % i for i in range(8)])
    plugin = FakePlugin(max_records=4)
    isolation = isolate(plugin, batch)
    assert isolation.output() == batch
    assert isolation.dead_letters() == ()
    assert isolation.calls == 3


def test_dead_letters_carry_the_records_own_failure():
    """Each isolated record's dead letter names the failure of its own attempt."""
    plugin = FakePlugin(frozenset({b"bad"}))
    batch = wm.batch(b"a", b"bad")
    (letter,) = isolate(plugin, batch).dead_letters()
    assert (letter.input_index, letter.failure, letter.message, letter.plugin) == (
        1,
        "trap",
        "boom",
        "t/fake",
    )
    assert letter.record == batch.slice(1, 2)


def test_restart_failure_dead_letters_the_rest():
    """If the plugin cannot be restarted, the records not yet processed are dead-lettered."""
    batch = wm.batch(b"a", b"b", b"bad", b"d")

    def restart() -> None:
        raise CallFailure("out-of-fuel", "df_init ran out of fuel")

    plugin = FakePlugin(frozenset({b"bad"}))
    isolation = Isolation(batch, plugin="t/fake", attempt=plugin.attempt, restart=restart)
    isolation.run(CallFailure("trap", "boom"))
    letters = isolation.dead_letters()
    assert [(d.input_index, d.failure) for d in letters] == [(i, "out-of-fuel") for i in range(4)]
    assert "could not be restarted" in letters[0].message


def test_parts_whose_columns_differ_are_dead_lettered():
    """Outputs that cannot be joined into one batch fail as bad-output, not the host."""
    batch = wm.batch(b"a", b"b", b"bad", b"d")

    def attempt(part: RecordBatch) -> tuple[RecordBatch, tuple[RecordError, ...]]:
        if b"bad" in wm.values(part):
            raise CallFailure("trap", "boom")
        if wm.values(part) == [b"d"]:
            return part.with_columns({"extra": np.zeros(1)}), ()
        return part, ()

    isolation = Isolation(batch, plugin="t/fake", attempt=attempt, restart=lambda: None)
    isolation.run(CallFailure("trap", "boom"))
    assert wm.values(isolation.output()) == [b"a", b"b"]
    assert [(d.input_index, d.failure) for d in isolation.dead_letters()] == [
        (2, "trap"),
        (3, "bad-output"),
    ]


def test_record_errors_of_good_parts_are_offset_to_the_whole_batch():
    """A per-record error in the second half names its index in the original batch."""
    batch = wm.batch(b"a", b"bad", b"c", b"d")

    def attempt(part: RecordBatch) -> tuple[RecordBatch, tuple[RecordError, ...]]:
        values = wm.values(part)
        if b"bad" in values:
            raise CallFailure("trap", "boom")
        errors = tuple(RecordError(i, 5, "odd") for i, v in enumerate(values) if v == b"d")
        return part, errors

    isolation = Isolation(batch, plugin="t/fake", attempt=attempt, restart=lambda: None)
    isolation.run(CallFailure("trap", "boom"))
    assert [(d.input_index, d.failure, d.code) for d in isolation.dead_letters()] == [
        (1, "trap", None),
        (3, "record-error", 5),
    ]
