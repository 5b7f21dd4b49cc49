"""Keeps every test run off the user's own DataFlare state.

Extensions keep state under ``$DATAFLARE_HOME`` (the events store, trust store,
compile cache). Tests, and the subprocesses they start, get a fresh one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def isolated_dataflare_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Point DATAFLARE_HOME at a temporary directory for the whole session."""
    previous = os.environ.get("DATAFLARE_HOME")
    os.environ["DATAFLARE_HOME"] = str(tmp_path_factory.mktemp("dataflare-home"))
    yield
    if previous is None:
        del os.environ["DATAFLARE_HOME"]
    else:
        os.environ["DATAFLARE_HOME"] = previous
