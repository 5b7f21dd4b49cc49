"""The examples under examples/ run and do what they say."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_host_app_embeds_the_kernel_in_its_own_asyncio_loop():
    """host_app.py counts every order through an in-process extension and exits cleanly."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "host_app.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "totals per customer: {'ada': 20.0, 'grace': 30.0, 'linus': 3.0}" in result.stdout
    beats = int(result.stdout.rsplit(":", 1)[1])
    assert beats >= 1, "the host's own task must keep running beside the kernel"
