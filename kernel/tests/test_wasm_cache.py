"""Tests for the compile cache (dataflare.kernel._wasm_cache)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import stat
from pathlib import Path

import pytest
import wasm_modules as wm

from dataflare.kernel._wasm_engine import WasmEngine
from dataflare.kernel._wasm_plugin import WasmPlugin


def artifacts(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.cwasm"))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def runs(engine: WasmEngine) -> bool:
    """Whether a plugin compiled (or fetched) by ``engine`` processes a batch correctly."""
    batch = wm.batch(b"a", b"X", b"c")
    with WasmPlugin.load(wm.POISON, name="t/cache", engine=engine) as plugin:
        result = plugin.process(batch)
    return wm.values(result.output) == [b"a", b"c"]


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    """A cache directory already holding the POISON plugin, compiled by another engine."""
    directory = tmp_path / "cache"
    with WasmEngine(cache_dir=directory) as first:
        first.compile(wm.POISON)
        assert (first.cache_stats.misses, first.cache_stats.stored) == (1, 1)
    return directory


def test_cache_directory_secret_and_artifacts_are_private(cache_dir):
    """The directory is 0700; the secret and every artifact are 0600."""
    assert mode(cache_dir) == 0o700
    assert mode(cache_dir / "secret") == 0o600
    (artifact,) = artifacts(cache_dir)
    assert mode(artifact) == 0o600


def test_second_compile_is_served_from_the_cache(cache_dir):
    """A new engine (as in a new process) deserialises the artifact instead of compiling."""
    with WasmEngine(cache_dir=cache_dir) as engine:
        assert runs(engine)
        stats = engine.cache_stats
        assert (stats.hits, stats.misses, stats.rejected, stats.stored) == (1, 0, 0, 0)


def test_tampered_artifact_is_refused_and_recompiled(cache_dir, caplog):
    """Flipping one byte of an artifact breaks its HMAC: it is deleted and compiled again."""
    (artifact,) = artifacts(cache_dir)
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 0x01
    artifact.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING), WasmEngine(cache_dir=cache_dir) as engine:
        assert runs(engine)
        stats = engine.cache_stats
        assert (stats.hits, stats.rejected, stats.stored) == (0, 1, 1)
    assert "HMAC does not match" in caplog.text
    with WasmEngine(cache_dir=cache_dir) as again:
        again.compile(wm.POISON)
        assert again.cache_stats.hits == 1


def test_artifact_from_another_host_is_refused(cache_dir, tmp_path):
    """An artifact signed with another host's secret is never deserialised."""
    other = tmp_path / "other"
    with WasmEngine(cache_dir=other) as engine:
        engine.compile(wm.IDENTITY)
    (foreign,) = artifacts(other)
    (ours,) = artifacts(cache_dir)
    foreign.replace(ours)  # theirs, under our key: the HMAC covers key and bytes
    with WasmEngine(cache_dir=cache_dir) as engine:
        assert runs(engine)
        assert (engine.cache_stats.hits, engine.cache_stats.rejected) == (0, 1)


def test_artifact_with_valid_hmac_but_refused_by_wasmtime_is_recompiled(cache_dir):
    """Defence in depth: bytes wasmtime cannot load are discarded, not fatal."""
    (artifact,) = artifacts(cache_dir)
    secret = (cache_dir / "secret").read_bytes()
    body = b"not an ELF file"
    mac = hmac.new(secret, artifact.stem.encode() + b"\0" + body, hashlib.sha256).digest()
    artifact.write_bytes(artifact.read_bytes()[:8] + mac + body)
    with WasmEngine(cache_dir=cache_dir) as engine:
        assert runs(engine)
        assert (engine.cache_stats.hits, engine.cache_stats.rejected) == (0, 1)


@pytest.mark.parametrize("bad_mode", [0o620, 0o602, 0o640])
def test_artifact_others_can_access_is_ignored(cache_dir, bad_mode):
    """An artifact with group or other permissions is refused and rewritten 0600."""
    (artifact,) = artifacts(cache_dir)
    artifact.chmod(bad_mode)
    with WasmEngine(cache_dir=cache_dir) as engine:
        assert runs(engine)
        assert (engine.cache_stats.hits, engine.cache_stats.rejected) == (0, 1)
    (rewritten,) = artifacts(cache_dir)
    assert mode(rewritten) == 0o600


def test_symlinked_artifact_is_not_followed(cache_dir, tmp_path):
    """A symlink in place of an artifact is refused, whatever it points to."""
    (artifact,) = artifacts(cache_dir)
    target = tmp_path / "elsewhere.cwasm"
    artifact.replace(target)
    artifact.symlink_to(target)
    with WasmEngine(cache_dir=cache_dir) as engine:
        assert runs(engine)
        assert (engine.cache_stats.hits, engine.cache_stats.rejected) == (0, 1)
    assert not artifact.is_symlink()


def test_truncated_artifact_is_refused(cache_dir):
    """An artifact cut short of its header is refused, not misread."""
    (artifact,) = artifacts(cache_dir)
    artifact.write_bytes(artifact.read_bytes()[:20])
    with WasmEngine(cache_dir=cache_dir) as engine:
        assert runs(engine)
        assert engine.cache_stats.rejected == 1


def test_exposed_secret_is_replaced(cache_dir):
    """A secret others could read is replaced, which invalidates every artifact."""
    secret = cache_dir / "secret"
    old = secret.read_bytes()
    secret.chmod(0o644)
    with WasmEngine(cache_dir=cache_dir) as engine:
        assert runs(engine)
        assert (engine.cache_stats.hits, engine.cache_stats.rejected) == (0, 1)
    assert mode(secret) == 0o600
    assert secret.read_bytes() != old


def test_cache_directory_others_can_access_turns_the_cache_off(tmp_path, caplog):
    """A group- or world-accessible directory is not used; plugins still load."""
    directory = tmp_path / "shared"
    directory.mkdir(mode=0o755)
    directory.chmod(0o777)
    with caplog.at_level(logging.WARNING), WasmEngine(cache_dir=directory) as engine:
        assert runs(engine)
        assert (engine.cache_stats.misses, engine.cache_stats.stored) == (1, 0)
    assert "compile cache disabled" in caplog.text
    assert "mode 0777" in caplog.text
    assert os.listdir(directory) == []


def test_engines_with_different_settings_do_not_share_artifacts(cache_dir):
    """The key includes the engine's settings: another stack size is a miss, not a reject."""
    with WasmEngine(cache_dir=cache_dir, max_stack=256 * 1024) as engine:
        engine.compile(wm.POISON)
        stats = engine.cache_stats
        assert (stats.hits, stats.misses, stats.rejected) == (0, 1, 0)
    assert len(artifacts(cache_dir)) == 2


def test_no_cache_directory_means_no_disk_cache(tmp_path):
    """Without a cache_dir, compiling keeps modules in memory only."""
    with WasmEngine() as engine:
        assert engine.compile(wm.POISON) is engine.compile(wm.POISON)
        assert engine.cache_stats.stored == 0
