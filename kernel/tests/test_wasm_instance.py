"""Tests for one plugin instance and the calls into it (dataflare.kernel._wasm_instance)."""

from __future__ import annotations

import struct

import pytest
import wasm_modules as wm
import wasmtime

from dataflare.kernel._wasm_engine import WasmEngine
from dataflare.kernel._wasm_imports import HostImports
from dataflare.kernel._wasm_instance import WasmInstance
from dataflare.kernel._wasm_limits import HostLimits
from dataflare.kernel._wasm_result import CallFailure, describe_trap


def instance(engine: WasmEngine, wasm: bytes, limits: HostLimits | None = None) -> WasmInstance:
    module = engine.compile(wasm)
    host = HostImports(engine.engine, frozenset(), plugin="t/instance")
    made = WasmInstance(host.linker.instantiate_pre(module), engine, host, limits or HostLimits())
    made.init(b"")
    return made


def reserves(made: WasmInstance) -> int:
    """How many times the RESERVE_COUNT plugin's df_reserve has been called."""
    (count,) = struct.unpack("<I", made.snapshot())
    return count


def test_process_returns_output_bytes_and_errors(engine):
    """process() copies out the output bytes and the per-record error list."""
    batch = wm.batch(b"a", b"E")
    made = instance(engine, wm.IDENTITY)
    result = made.process(batch.buffer, records=2)
    assert bytes(result.output) == batch.to_bytes()
    assert [(e.index, e.code, e.message) for e in result.errors] == [(1, 7, "bad record")]


def test_reserve_is_called_only_when_more_room_is_needed(engine):
    """The input buffer is remembered; df_reserve is called again only for a bigger batch."""
    made = instance(engine, wm.RESERVE_COUNT)
    small = wm.batch(b"a" * 100)
    for _ in range(3):
        made.process(small.buffer, records=1)
    assert reserves(made) == 1  # rounded up to 64 KiB, so the next batch fits too
    made.process(wm.batch(b"b" * 60_000).buffer, records=1)
    assert reserves(made) == 1
    made.process(wm.batch(b"c" * 70_000).buffer, records=1)
    assert reserves(made) == 2


def test_reserve_failure_is_a_memory_failure(engine):
    """A batch the plugin cannot make room for fails with 'memory'."""
    made = instance(engine, wm.IDENTITY, HostLimits(memory_mb=1))
    big = wm.batch(b"x" * 2_000_000)
    with pytest.raises(CallFailure) as caught:
        made.process(big.buffer, records=1)
    assert caught.value.failure == "memory"
    assert "df_reserve could not provide" in caught.value.message


def test_fuel_is_counted_per_call_and_reset_before_each(engine):
    """Each call gets a fresh budget; fuel_used adds up what the calls consumed."""
    made = instance(engine, wm.IDENTITY, HostLimits(fuel_base=100_000, fuel_per_record=0))
    batch = wm.batch(*[b"v"] * 100)
    before = made.fuel_used
    for _ in range(50):  # 50 calls together need more than one budget
        made.process(batch.buffer, records=100)
    spent = made.fuel_used - before
    assert spent > 50 * 100
    assert spent // 50 < 100_000


def test_out_of_fuel_is_reported_with_its_kind(engine):
    """A call that exhausts its fuel raises CallFailure('out-of-fuel')."""
    made = instance(engine, wm.SPIN, HostLimits(fuel_base=100_000))
    with pytest.raises(CallFailure, match="out-of-fuel: df_process used all of its 200,000 fuel"):
        made.process(wm.batch(b"X").buffer, records=1)


def test_memory_limit_applies_at_instantiation(engine):
    """A module whose initial memory exceeds the limit cannot be instantiated."""
    big_memory = wm.wasm(
        '(module (memory (export "memory") 100) (func (export "df_abi_v1"))'
        ' (func (export "df_reserve") (param i32) (result i32) (i32.const 0)))'
    )
    with pytest.raises(CallFailure, match="instantiating: memory minimum size of 100 pages"):
        instance(engine, big_memory, HostLimits(memory_mb=1))


def test_table_limit_applies_at_instantiation(engine):
    """A table over 10,000 elements cannot be instantiated."""
    big_table = wm.wasm('(module (table 20000 funcref) (memory (export "memory") 1))')
    with pytest.raises(CallFailure, match="table minimum size of 20000 elements"):
        instance(engine, big_table)


def test_trap_description_is_the_cause_not_the_backtrace(engine):
    """The message is wasmtime's last line, without the backtrace or the prefix."""
    made = instance(engine, wm.POISON)
    with pytest.raises(CallFailure) as caught:
        made.process(wm.batch(b"X").buffer, records=1)
    assert caught.value.failure == "trap"
    assert caught.value.message == "wasm `unreachable` instruction executed"


def test_failing_status_carries_code_and_errors(engine):
    """A non-zero status raises bad-status with the code and the plugin's error list."""
    made = instance(engine, wm.BAD_STATUS)
    with pytest.raises(CallFailure) as caught:
        made.process(wm.batch(b"a", b"X").buffer, records=2)
    failure = caught.value
    assert (failure.failure, failure.code) == ("bad-status", 16)
    assert failure.message == "status 16 (plugin-defined): record 1: bad record"
    assert [(e.index, e.code) for e in failure.errors] == [(1, 9)]


def test_describe_trap_maps_wasmtime_errors_to_trap():
    """A wasmtime error that is not a Trap is reported as a 'trap' with its text."""
    failure = describe_trap(wasmtime.WasmtimeError("something broke"))
    assert (failure.failure, failure.message) == ("trap", "something broke")


def test_memory_bytes_is_the_linear_memory_size(engine):
    """memory_bytes follows the plugin's memory as it grows."""
    made = instance(engine, wm.IDENTITY)
    assert made.memory_bytes == 2 * 65536
    made.process(wm.batch(b"x" * 200_000).buffer, records=1)
    assert made.memory_bytes > 200_000
    made.close()
