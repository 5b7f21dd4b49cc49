"""The public messaging module: open_log picks the log from a URL; nats-py stays optional."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dataflare.kernel.errors import MessagingValueError
from dataflare.kernel.messaging import MemoryLog, NatsLog, open_log


@pytest.mark.parametrize("servers", [None, "memory://", ["memory://"], []])
def test_no_server_means_the_in_memory_log(servers):
    assert isinstance(open_log(servers), MemoryLog)


def test_nats_urls_give_a_nats_log():
    log = open_log(["nats://127.0.0.1:4222", "tls://127.0.0.1:4223"], request_timeout=1.0)
    assert isinstance(log, NatsLog)


def test_an_unknown_scheme_is_refused_with_the_accepted_forms():
    with pytest.raises(MessagingValueError, match=r"nats://HOST:PORT.*memory://"):
        open_log("http://127.0.0.1:4222")


def test_connection_options_for_memory_are_refused():
    with pytest.raises(MessagingValueError, match="no connection options"):
        open_log(None, request_timeout=1.0)


def test_the_kernel_imports_without_nats_py_and_names_the_extra_when_asked():
    script = (
        "import sys; sys.modules['nats'] = None\n"  # makes `import nats` fail like a missing dist
        "import dataflare.kernel, dataflare.kernel.messaging as m\n"
        "assert m.open_log(None) is not None\n"
        "try:\n    m.NatsLog\nexcept ModuleNotFoundError as exc:\n    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert "pip install 'dataflare-kernel[nats]'" in done.stdout
