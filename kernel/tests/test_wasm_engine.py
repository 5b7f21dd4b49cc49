"""Tests for the shared WASM engine and its epoch ticker (dataflare.kernel._wasm_engine)."""

from __future__ import annotations

import hashlib
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version

import pytest
import wasm_modules as wm
import wasmtime

from dataflare.kernel import _wasm_engine
from dataflare.kernel._wasm_engine import WasmEngine, default_engine
from dataflare.kernel.errors import PluginError


def tickers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "dataflare-wasm-epoch"]


def test_compile_returns_the_module_in_use(engine):
    """Compiling the same wasm again returns the same module object."""
    assert engine.compile(wm.IDENTITY) is engine.compile(wm.IDENTITY)


def test_compile_is_thread_safe(engine):
    """Threads compiling the same wasm at once all get the same module."""
    with ThreadPoolExecutor(4) as pool:
        modules = list(pool.map(lambda _: engine.compile(wm.COUNTER), range(8)))
    assert all(module is modules[0] for module in modules)


def test_compile_checks_a_given_sha256(engine):
    """A sha256 that does not match the wasm is refused, so it cannot poison the cache."""
    digest = hashlib.sha256(wm.IDENTITY).hexdigest()
    assert engine.compile(wm.IDENTITY, sha256=digest.upper()) is not None
    with pytest.raises(ValueError, match="was given for wasm whose sha256 is"):
        engine.compile(wm.POISON, sha256=digest)


def test_compile_refuses_invalid_wasm(engine):
    """Bytes that are not a module raise wasmtime's error."""
    with pytest.raises(wasmtime.WasmtimeError):
        engine.compile(b"\0asm\x01\0\0\0garbage")


def test_ticker_starts_lazily_and_close_stops_it():
    """No thread until a deadline is needed; close() joins it; close is idempotent."""
    engine = WasmEngine()
    before = set(tickers())
    assert not engine.ticking
    assert engine.deadline_ticks(1000) == 101
    assert engine.ticking
    (ticker,) = set(tickers()) - before
    engine.close()
    engine.close()
    assert not ticker.is_alive()
    assert not engine.ticking
    assert engine.closed


def test_one_ticker_per_engine(engine):
    """Every deadline on one engine shares its single ticker thread."""
    before = len(tickers())
    for timeout in (1, 10, 1000):
        engine.deadline_ticks(timeout)
    assert len(tickers()) == before + 1


def test_deadline_is_one_tick_longer_than_the_timeout(engine):
    """A deadline in 10 ms ticks never fires before its timeout."""
    assert [engine.deadline_ticks(ms) for ms in (1, 10, 11, 250)] == [2, 2, 3, 26]


def test_closed_engine_refuses_deadlines(engine):
    """After close(), nothing may ask for a deadline that would never fire."""
    engine.close()
    with pytest.raises(PluginError, match="engine is closed"):
        engine.deadline_ticks(100)


def test_context_manager_closes(tmp_path):
    """Leaving the with block stops the ticker."""
    with WasmEngine(cache_dir=tmp_path) as engine:
        engine.deadline_ticks(10)
        assert engine.ticking
    assert engine.closed
    assert not engine.ticking


def test_fingerprint_names_what_compiled_code_depends_on():
    """The fingerprint carries the wasmtime version and the settings."""
    with WasmEngine(max_stack=256 * 1024) as small, WasmEngine() as default:
        assert f"wasmtime={version('wasmtime')}" in default.fingerprint
        assert "stack=524288" in default.fingerprint
        assert small.fingerprint != default.fingerprint


def test_default_engine_is_shared_and_caches_under_dataflare_home(tmp_path, monkeypatch):
    """default_engine() is one engine per process, caching in $DATAFLARE_HOME/cache/wasm."""
    monkeypatch.setenv("DATAFLARE_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(_wasm_engine, "_default", None)
    engine = default_engine()
    try:
        assert default_engine() is engine
        engine.compile(wm.IDENTITY)
        cache = tmp_path / "home" / "cache" / "wasm"
        assert stat.S_IMODE(cache.stat().st_mode) == 0o700
        assert len(list(cache.glob("*.cwasm"))) == 1
    finally:
        engine.close()
    replacement = default_engine()
    try:
        assert replacement is not engine
    finally:
        replacement.close()
