"""Fixtures shared by the streaming extension's tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest


def _register(name: str) -> None:
    # --import-mode=importlib puts no test directory on sys.path, so the helper
    # module beside the tests is registered here, before the tests import it.
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


_register("streaming_helpers")


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio; tests that matter on trio too ask for it explicitly."""
    return "asyncio"


@pytest.fixture(scope="session")
def built_plugins(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The redact (map) and high-value (filter) example plugins, built once (unsigned)."""
    from streaming_helpers import build_examples

    return build_examples(tmp_path_factory.mktemp("plugins"), ("redact", "high-value"))
