"""Fixtures shared by the kernel's tests."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dataflare.kernel._wasm_engine import WasmEngine


def _register(name: str) -> None:
    # --import-mode=importlib puts no test directory on sys.path, so the helper
    # modules beside the tests are registered here, before the tests import them.
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


_register("wasm_modules")
_register("wasm_transforms")  # imports wasm_modules


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[WasmEngine]:
    """A WASM engine with its own compile cache, closed (ticker stopped) afterwards."""
    with WasmEngine(cache_dir=tmp_path / "wasm-cache") as engine:
        yield engine
    assert not engine.ticking
