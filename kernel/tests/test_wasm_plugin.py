"""Tests for loading and running WASM plugins (dataflare.kernel._wasm_plugin)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import wasm_modules as wm
import wasm_transforms as wt

from dataflare.kernel._batch import RecordBatch
from dataflare.kernel._kv import encode_kv
from dataflare.kernel._wasm_engine import WasmEngine
from dataflare.kernel._wasm_limits import HostLimits
from dataflare.kernel._wasm_plugin import WasmPlugin
from dataflare.kernel.errors import (
    DataError,
    PluginError,
    PluginIncompatibleError,
    PluginLoadError,
    PluginRuntimeError,
)


def load(engine: WasmEngine, wasm: bytes, **kw: object) -> WasmPlugin:
    return WasmPlugin.load(wasm, name="acme/test", engine=engine, **kw)


def test_identity_plugin_returns_its_input_in_one_call(engine):
    """A good plugin makes one call per batch and reports what it cost."""
    batch = wm.batch(b"a", b"b", b"c", metadata={"trace": "t1"})
    with load(engine, wm.IDENTITY) as plugin:
        result = plugin.process(batch)
    assert (result.output, result.dead_letters, result.calls) == (batch, (), 1)
    assert 0 < result.fuel_used < HostLimits().fuel_for(3)
    assert result.memory_bytes >= 2 * 65536
    assert result.seconds > 0


def test_filter_keeps_even_first_bytes_with_every_field(engine):
    """The WAT filter's output is a valid batch carrying keys, times, columns and metadata."""
    batch = wm.batch(b"b1", b"a2", b"", b"d4", b"f6", b"c7", metadata={"tenant": "x"})
    with load(engine, wt.FILTER_EVEN) as plugin:
        output = plugin.process(batch).output
    assert wm.values(output) == [b"b1", b"d4", b"f6"]
    assert [output.key(i) for i in range(3)] == [b"k0", b"k3", b"k4"]
    assert list(output.column("n")) == [0, 3, 4]
    assert np.array_equal(output.timestamps, batch.timestamps[[0, 3, 4]])
    assert dict(output.metadata) == {"tenant": "x"}


def test_filter_output_is_the_bytes_python_would_write(engine):
    """The WAT filter writes exactly the batch RecordBatch.filter writes, headers included."""
    batch = RecordBatch.from_arrays(
        values=[b"b", b"a", b"d"],
        headers=[{"h": "1"}, {}, {"h": "3", "i": "x"}],
        columns={"price": np.array([1.5, 2.5, 3.5])},
        metadata={"trace": "t"},
    )
    with load(engine, wt.FILTER_EVEN) as plugin:
        output = plugin.process(batch).output
    assert output == batch.filter(np.array([True, False, True]))
    assert output.headers(1) == {"h": "3", "i": "x"}


def test_map_uppercases_values(engine):
    """The WAT map changes values only."""
    batch = wm.batch(b"hello", b"World 42", b"")
    with load(engine, wt.UPPERCASE) as plugin:
        output = plugin.process(batch).output
    assert wm.values(output) == [b"HELLO", b"WORLD 42", b""]
    assert list(output.column("n")) == [0, 1, 2]


def test_empty_batch_is_processed(engine):
    """A batch with no records still makes one call and returns no records."""
    with load(engine, wt.FILTER_EVEN) as plugin:
        result = plugin.process(wm.batch())
    assert (len(result.output), result.calls) == (0, 1)


def test_record_errors_become_dead_letters_without_failing_the_batch(engine):
    """Records listed in a status-0 error list are dead-lettered with the plugin's code."""
    batch = wm.batch(b"a", b"E1", b"c", b"E2")
    with load(engine, wm.IDENTITY) as plugin:
        result = plugin.process(batch)
    assert result.output == batch  # the plugin chose to emit them too
    assert [(d.input_index, d.failure, d.code, d.message) for d in result.dead_letters] == [
        (1, "record-error", 7, "bad record"),
        (3, "record-error", 7, "bad record"),
    ]
    assert result.dead_letters[1].record == batch.slice(3, 4)
    assert result.calls == 1


def test_params_reach_df_init_as_a_kv_block(engine):
    """df_init receives the parameters encoded as one KV block."""
    params = {"mask": "#", "fields": "ssn,card"}
    with load(engine, wm.ECHO_PARAMS, params=params) as plugin:
        assert plugin.snapshot() == encode_kv(params)


def test_rejected_params_fail_the_load_with_the_plugins_message(engine):
    """Status 4 from df_init becomes a PluginLoadError showing the plugin's message."""
    with pytest.raises(PluginLoadError, match="rejected its parameters: unknown parameter"):
        load(engine, wm.REJECT_PARAMS, params={"colour": "blue"})
    load(engine, wm.REJECT_PARAMS).close()


def test_params_must_be_strings(engine):
    """Non-string parameters are refused before the plugin runs."""
    with pytest.raises(DataError, match="parameters of plugin acme/test"):
        load(engine, wm.IDENTITY, params={"size": 3})


def test_trap_in_df_init_fails_the_load(engine):
    """A df_init that traps is a load failure naming the trap."""
    with pytest.raises(PluginLoadError, match=r"failed to start: trap: .*unreachable"):
        load(engine, wm.INIT_TRAP)


@pytest.mark.parametrize(
    ("wasm", "message"),
    [
        (b"\0asm\x01\0\0\0garbage", "not a valid WebAssembly module"),
        (wm.NO_MARKER, "not a DataFlare plugin"),
        (wm.LACKS_EXPORTS, "lacks the required export.s. df_reserve, df_init, df_process"),
        (wm.WRONG_TYPES, r"df_process has type \(i32\) -> \(i32\), expected \(i32, i32\)"),
        (wm.WRONG_TYPES, r"df_flush has type \(i32\) -> \(\), expected \(\) -> \(i32\)"),
    ],
)
def test_modules_that_break_the_abi_are_refused_at_load(engine, wasm, message):
    """Every static ABI problem is a PluginLoadError that says what is wrong."""
    with pytest.raises(PluginLoadError, match=message):
        load(engine, wasm)


def test_manifest_abi_must_match_the_module(engine):
    """A v1 module whose manifest declares v2 is refused as incompatible."""
    with pytest.raises(PluginIncompatibleError, match="declares ABI 'dataflare-batch/2'"):
        load(engine, wm.IDENTITY, abi="dataflare-batch/2")


def test_unknown_capability_is_refused(engine):
    """Capabilities are checked against the ones the ABI defines."""
    with pytest.raises(PluginLoadError, match="unknown capabilities 'network'"):
        load(engine, wm.IDENTITY, capabilities=["network"])


def test_log_import_with_the_wrong_type_is_refused(engine):
    """df.log must have the ABI's type even when the capability is granted."""
    wasm = wm.trigger("", imports='(import "df" "log" (func $log (param i32)))')
    with pytest.raises(PluginLoadError, match=r"df.log has type \(i32\) -> \(\), not"):
        load(engine, wasm, capabilities=["log"])


def test_log_capability_sends_lines_to_the_plugins_logger(engine, caplog):
    """df.log writes to dataflare.plugins with the plugin's name attached."""
    with (
        caplog.at_level(logging.INFO, logger="dataflare.plugins"),
        load(engine, wm.LOGGER, capabilities=["log"]) as plugin,
    ):
        plugin.process(wm.batch(b"a"))
    (line,) = [r for r in caplog.records if r.getMessage() == "bad record"]
    assert (line.levelno, line.plugin, line.source) == (logging.INFO, "acme/test", "df.log")


def test_wasi_stdio_capability_captures_stdout_to_the_log(engine, caplog, capfd):
    """With wasi-stdio, what the plugin prints goes to the log, not to the process's stdout."""
    with (
        caplog.at_level(logging.INFO, logger="dataflare.plugins"),
        load(engine, wm.WASI_HELLO, capabilities=["wasi-stdio"]) as plugin,
    ):
        result = plugin.process(wm.batch(b"a"))
    assert len(result.output) == 1
    assert [r.getMessage() for r in caplog.records if getattr(r, "source", "") == "stdout"] == [
        "hello from wasm"
    ]
    assert "hello" not in capfd.readouterr().out


def test_aggregate_state_survives_a_failure(engine):
    """After a trap, the aggregate restarts from its state after the last good part."""
    with load(engine, wm.COUNTER) as plugin:
        plugin.process(wm.batch(b"a", b"b", b"c"))
        result = plugin.process(wm.batch(b"d", b"X", b"e"))
        assert [d.input_index for d in result.dead_letters] == [1]
        assert plugin.snapshot() == wm.counter_state(5)


def test_restore_replaces_the_state_and_survives_a_failure(engine):
    """Restored state is the base the plugin returns to after a trap."""
    with load(engine, wm.COUNTER) as plugin:
        plugin.restore(wm.counter_state(100))
        plugin.process(wm.batch(b"X"))
        plugin.process(wm.batch(b"a", b"b"))
        assert plugin.snapshot() == wm.counter_state(102)


def test_flush_calls_df_flush_and_checkpoints(engine):
    """flush() runs df_flush; the state it leaves is what later restarts restore."""
    with load(engine, wm.COUNTER) as plugin:
        assert (plugin.has_flush, plugin.has_snapshot, plugin.has_restore) == (True, True, True)
        plugin.process(wm.batch(b"a", b"b"))
        flushed = plugin.flush()
        assert (len(flushed.output), flushed.dead_letters, flushed.calls) == (0, (), 0)
        plugin.process(wm.batch(b"X"))
        assert plugin.snapshot() == wm.counter_state(0)


def test_plugin_without_optional_exports(engine):
    """No df_flush: an empty flush; no df_snapshot: None; no df_restore: an error."""
    with load(engine, wm.IDENTITY) as plugin:
        assert (plugin.has_flush, plugin.has_snapshot, plugin.has_restore) == (False, False, False)
        assert len(plugin.flush().output) == 0
        assert plugin.snapshot() is None
        with pytest.raises(PluginError, match="does not export df_restore"):
            plugin.restore(b"")


def test_failing_snapshot_raises_and_restarts(engine):
    """A snapshot that fails raises PluginRuntimeError, and the plugin keeps working."""
    with load(engine, wm.COUNTER, limits=HostLimits(max_output_bytes=4)) as plugin:
        with pytest.raises(PluginRuntimeError, match="bad-output: df_snapshot failed"):
            plugin.snapshot()
        result = plugin.process(wm.batch(b"a"))
    assert [d.failure for d in result.dead_letters] == ["bad-output"]


def test_output_over_the_limit_dead_letters_every_record(engine):
    """Output larger than max_output_bytes is refused at every split, within 2n - 1 calls."""
    with load(engine, wm.IDENTITY, limits=HostLimits(max_output_bytes=100)) as plugin:
        result = plugin.process(wm.batch(b"a", b"b", b"c", b"d"))
    assert len(result.output) == 0
    assert [(d.input_index, d.failure) for d in result.dead_letters] == [
        (i, "bad-output") for i in range(4)
    ]
    assert "over the limit of 100" in result.dead_letters[0].message
    assert result.calls == 7


def test_batch_larger_than_plugin_memory_is_processed_in_parts(engine):
    """When df_reserve cannot fit the batch, bisection processes it in parts that fit."""
    batch = wm.batch(*[bytes([97 + i]) * 400_000 for i in range(4)])
    with load(engine, wm.IDENTITY, limits=HostLimits(memory_mb=1)) as plugin:
        result = plugin.process(batch)
    assert (result.output, result.dead_letters) == (batch, ())
    assert result.calls > 1


def test_a_closed_plugin_refuses_calls(engine):
    """After close(), every call raises PluginError."""
    plugin = load(engine, wm.IDENTITY)
    plugin.close()
    plugin.close()
    with pytest.raises(PluginError, match="plugin acme/test: is closed"):
        plugin.process(wm.batch(b"a"))


def test_a_closed_engine_refuses_calls(engine):
    """A plugin whose engine is closed cannot run (no deadline would fire)."""
    plugin = load(engine, wm.IDENTITY)
    engine.close()
    with pytest.raises(PluginError, match="engine is closed"):
        plugin.process(wm.batch(b"a"))
    with pytest.raises(PluginError, match="engine is closed"):
        load(engine, wm.IDENTITY)


def test_plugins_from_the_same_wasm_share_one_compiled_module(engine):
    """While a plugin is loaded, loading its wasm again reuses the module; instances differ."""
    first, second = load(engine, wm.COUNTER), load(engine, wm.COUNTER)
    first.process(wm.batch(b"a", b"b"))
    assert second.snapshot() == wm.counter_state(0)
    assert first.snapshot() == wm.counter_state(2)
    stats = engine.cache_stats
    assert (stats.misses, stats.hits) == (1, 0)  # neither compiled nor read from disk again
