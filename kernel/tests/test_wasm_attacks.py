"""Hostile plugins against the WASM host (dataflare.kernel._wasm_plugin and friends).

Each test fails if its attack works: the host must stop it, dead-letter exactly
the record that triggered it (or refuse the module at load), and then process the
next good batch normally, on the same plugin.
"""

from __future__ import annotations

import logging

import pytest
import wasm_modules as wm

from dataflare.kernel._wasm_engine import WasmEngine
from dataflare.kernel._wasm_limits import HostLimits
from dataflare.kernel._wasm_outcome import DeadLetter
from dataflare.kernel._wasm_plugin import WasmPlugin
from dataflare.kernel.errors import PluginIncompatibleError, PluginLoadError

FAST_FUEL = HostLimits(fuel_base=1_000_000, fuel_per_record=1_000)
"""Enough fuel for the test batches, little enough that a spinning plugin stops in ms."""

ENDLESS_FUEL = HostLimits(fuel_base=10**15, fuel_per_record=0, timeout_ms=30)
"""So much fuel that only the wall-clock deadline can stop a loop."""


def contained(plugin: WasmPlugin, failure: str) -> DeadLetter:
    """Run the attack on record 1 of 3, check it is isolated, then check a good batch."""
    attack = wm.batch(b"a", b"X marks the spot", b"c")
    result = plugin.process(attack)
    assert wm.values(result.output) == [b"a", b"c"]
    (letter,) = result.dead_letters
    assert (letter.input_index, letter.failure, letter.plugin) == (1, failure, plugin.name)
    assert letter.record == attack.slice(1, 2)
    assert result.calls <= 2 * len(attack) - 1
    good = wm.batch(b"d", b"e", b"f")
    after = plugin.process(good)
    assert (after.output, after.dead_letters, after.calls) == (good, (), 1)
    return letter


def load(
    engine: WasmEngine, wasm: bytes, limits: HostLimits = FAST_FUEL, **kw: object
) -> WasmPlugin:
    return WasmPlugin.load(wasm, name="evil/plugin", engine=engine, limits=limits, **kw)


def test_infinite_loop_is_stopped_by_fuel(engine):
    """A loop without end runs out of fuel, deterministically."""
    letter = contained(load(engine, wm.SPIN), "out-of-fuel")
    assert "df_process used all of its 1,001,000 fuel" in letter.message


def test_infinite_loop_with_endless_fuel_is_stopped_by_the_deadline(engine):
    """With fuel to spare, the epoch deadline (wall clock) stops the loop."""
    letter = contained(load(engine, wm.SPIN, ENDLESS_FUEL), "deadline")
    assert "df_process ran past its 30 ms deadline" in letter.message


def test_memory_grow_bomb_stops_at_the_limit(engine):
    """memory.grow fails at the store limit; the out-of-bounds store that follows traps."""
    plugin = load(engine, wm.GROW_BOMB, HostLimits(memory_mb=4, fuel_base=1_000_000))
    letter = contained(plugin, "trap")
    assert "out of bounds" in letter.message
    assert plugin.process(wm.batch(b"a")).memory_bytes <= 4 * 2**20


def test_memory_grow_returns_minus_one_at_the_limit(engine):
    """The plugin sees -1 from memory.grow (no trap) and can report status 3."""
    plugin = load(engine, wm.GROW_UNTIL_FULL, HostLimits(memory_mb=4, fuel_base=1_000_000))
    letter = contained(plugin, "memory")
    assert letter.code == 3
    assert "out of memory" in letter.message


def test_unbounded_recursion_is_a_stack_overflow(engine):
    """Recursion without end hits the 512 KiB wasm stack limit, not the host's stack."""
    contained(load(engine, wm.RECURSE), "stack-overflow")


def test_output_pointer_outside_memory_is_refused(engine):
    """An output region starting at 0xFFFFFF00 is never read."""
    letter = contained(load(engine, wm.BAD_OUTPUT_POINTER), "bad-output")
    assert "outside the plugin's memory" in letter.message


@pytest.mark.parametrize(
    ("max_output_bytes", "expected"),
    [(64 * 2**20, "over the limit"), (2**32 - 1, "outside the plugin's memory")],
)
def test_output_length_out_of_bounds_is_refused(engine, max_output_bytes, expected):
    """A 2 GiB output length fails the output limit, or the memory bounds when the limit is off."""
    limits = HostLimits(fuel_base=1_000_000, max_output_bytes=max_output_bytes)
    letter = contained(load(engine, wm.BAD_OUTPUT_LENGTH, limits), "bad-output")
    assert expected in letter.message


def test_result_block_pointer_outside_memory_is_refused(engine):
    """A result block pointer of 0xFFFFFFF8 is checked before anything is read."""
    letter = contained(load(engine, wm.BAD_RESULT_POINTER), "bad-output")
    assert "result block" in letter.message


def test_output_that_is_not_a_batch_is_refused(engine):
    """Output bytes are validated like any batch from the network."""
    letter = contained(load(engine, wm.GARBAGE_OUTPUT), "bad-output")
    assert "not a valid record batch" in letter.message


def test_malformed_error_list_is_refused(engine):
    """An error list that claims more entries than it holds is bad output."""
    letter = contained(load(engine, wm.BAD_ERROR_LIST), "bad-output")
    assert "claims 1000 entries" in letter.message


def test_error_for_a_record_that_does_not_exist_is_refused(engine):
    """A per-record error naming an index past the batch is bad output, not a dead letter."""
    letter = contained(load(engine, wm.ERROR_INDEX_OUT_OF_RANGE), "bad-output")
    assert "input record 99" in letter.message


def test_failing_status_is_isolated_with_its_message(engine):
    """Status 16 fails the call; the dead letter carries the status and the plugin's message."""
    letter = contained(load(engine, wm.BAD_STATUS), "bad-status")
    assert letter.code == 16
    assert "bad record" in letter.message


@pytest.mark.parametrize(
    ("wasm", "named", "capability"),
    [
        (wm.WASI_HELLO, "wasi_snapshot_preview1.fd_write", "needs the capability 'wasi-stdio'"),
        (wm.LOGGER, "df.log", "needs the capability 'log'"),
        (wm.SYSTEM_IMPORT, "env.system", "which no capability grants"),
    ],
)
def test_imports_not_granted_are_refused_at_load(engine, wasm, named, capability):
    """An import the capabilities do not grant is refused before instantiation, by name."""
    with pytest.raises(PluginLoadError) as caught:
        load(engine, wasm)
    assert named in str(caught.value)
    assert capability in str(caught.value)
    contained(load(engine, wm.POISON), "trap")


def test_plugin_for_a_newer_abi_is_refused_naming_both_versions(engine):
    """A module exporting only df_abi_v2 never runs; the error names both versions."""
    with pytest.raises(PluginIncompatibleError) as caught:
        load(engine, wm.ABI_V2_ONLY)
    assert caught.value.reason == "incompatible-abi"
    assert "built for dataflare-batch/2; this host supports dataflare-batch/1" in str(caught.value)
    contained(load(engine, wm.POISON), "trap")


@pytest.mark.parametrize(
    ("limits", "failure"), [(FAST_FUEL, "out-of-fuel"), (ENDLESS_FUEL, "deadline")]
)
def test_loop_in_the_start_function_is_stopped(engine, limits, failure):
    """Fuel and the deadline are armed before instantiation, so a looping start function stops."""
    expected = f"failed to start: {failure}: instantiating: the start function"
    with pytest.raises(PluginLoadError, match=expected):
        load(engine, wm.START_LOOP, limits)
    contained(load(engine, wm.POISON), "trap")


def test_poison_records_are_isolated_by_bisection(engine, caplog):
    """Two poison records in 100 are dead-lettered by index; the other 98 are processed."""
    plugin = load(engine, wm.POISON)
    inputs = [b"ok %d" % index for index in range(100)]
    inputs[17] = inputs[73] = b"X"
    with caplog.at_level(logging.WARNING, logger="dataflare.plugins"):
        result = plugin.process(wm.batch(*inputs))
    assert [letter.input_index for letter in result.dead_letters] == [17, 73]
    assert {letter.failure for letter in result.dead_letters} == {"trap"}
    assert wm.values(result.output) == [v for i, v in enumerate(inputs) if i not in (17, 73)]
    assert list(result.output.column("n")) == [i for i in range(100) if i not in (17, 73)]
    assert result.calls <= 2 * 100 - 1
    isolated = [r for r in caplog.records if getattr(r, "record_index", None) is not None]
    assert {(r.plugin, r.failure, r.record_index) for r in isolated} == {
        ("evil/plugin", "trap", 17),
        ("evil/plugin", "trap", 73),
    }
    contained(plugin, "trap")


def test_plugin_that_fails_every_record_costs_at_most_2n_minus_1_calls(engine):
    """When every record is poison, bisection still stops at 2n - 1 calls."""
    plugin = load(engine, wm.POISON)
    result = plugin.process(wm.batch(*[b"X"] * 8))
    assert len(result.output) == 0
    assert [letter.input_index for letter in result.dead_letters] == list(range(8))
    assert result.calls == 2 * 8 - 1
    contained(plugin, "trap")


def test_log_flood_is_rate_limited(engine, caplog):
    """A plugin logging once per record gets its burst, not 500 lines."""
    plugin = load(engine, wm.LOGGER, capabilities=["log"])
    with caplog.at_level(logging.DEBUG, logger="dataflare.plugins"):
        result = plugin.process(wm.batch(*[b"v"] * 500))
    assert len(result.output) == 500
    lines = [r for r in caplog.records if r.getMessage() == "bad record"]
    assert 0 < len(lines) <= 101


def test_isolation_is_bounded_in_time_when_every_record_hangs(engine):
    """A batch where every record runs into the deadline is given up after its budget."""
    hanging = HostLimits(fuel_base=10**15, fuel_per_record=0, timeout_ms=20)
    plugin = load(engine, wm.SPIN, hanging)
    result = plugin.process(wm.batch(*[b"X"] * 64))
    # Without a budget this would take 2 * 64 - 1 = 127 deadlines; the budget is 10.
    assert result.calls < 20
    assert len(result.output) == 0
    assert [letter.input_index for letter in result.dead_letters] == list(range(64))
    failures = {letter.failure for letter in result.dead_letters}
    assert failures == {"deadline", "abandoned"}
    abandoned = next(x for x in result.dead_letters if x.failure == "abandoned")
    assert "budget" in abandoned.message
    contained(plugin, "deadline")


def test_a_plugin_failing_every_record_of_three_batches_is_stopped(engine):
    """After three batches lost entirely, the plugin is stopped and says why; others run on."""
    from dataflare.kernel.errors import PluginRuntimeError

    plugin = load(engine, wm.POISON)
    for _ in range(3):
        result = plugin.process(wm.batch(b"X1", b"X2"))
        assert len(result.dead_letters) == 2
    with pytest.raises(PluginRuntimeError, match="stopped") as stopped:
        plugin.process(wm.batch(b"good"))
    assert stopped.value.failure == "stopped"
    assert "3 batches in a row" in str(stopped.value)
    other = load(engine, wm.IDENTITY)
    good = wm.batch(b"still", b"fine")
    assert other.process(good).output == good


def test_a_partly_failing_batch_resets_the_count(engine):
    """Batches where some records succeed never stop the plugin."""
    plugin = load(engine, wm.POISON)
    for _ in range(5):
        plugin.process(wm.batch(b"X1", b"X2"))
        plugin.process(wm.batch(b"X", b"ok"))
    assert plugin.process(wm.batch(b"ok")).output == wm.batch(b"ok")
