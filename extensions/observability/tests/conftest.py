"""Fixtures shared by the observability extension's tests."""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Iterator
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


_register("obs_helpers")


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every async test on asyncio and on trio."""
    return str(request.param)


@pytest.fixture(autouse=True)
def no_thread_outlives_its_test() -> Iterator[None]:
    """Every thread the extension starts (metrics server, alerting, span export) is stopped."""
    before = set(threading.enumerate())
    yield
    ours = ("dataflare-", "OtelBatchSpan")
    left = [
        thread.name
        for thread in set(threading.enumerate()) - before
        if thread.name.startswith(ours) and thread.is_alive()
    ]
    assert not left, f"threads outlived the test: {left}"
