"""The README's example runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def test_the_readme_example_runs_and_serves_metrics(tmp_path):
    (code,) = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    script = tmp_path / "example.py"
    script.write_text(code)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"scrape http://127\.0\.0\.1:\d+/metrics\n", done.stdout)


def test_the_readme_documents_every_config_field():
    from dataflare.observability import (
        AlertingSettings,
        AlertRule,
        ChannelSettings,
        LoggingSettings,
        MetricsSettings,
        TracingSettings,
    )

    text = README.read_text()
    for settings in (
        MetricsSettings,
        TracingSettings,
        LoggingSettings,
        AlertingSettings,
        AlertRule,
        ChannelSettings,
    ):
        for field in settings.__attrs_attrs__:
            assert re.search(rf"\b{field.name}:", text), f"{settings.__name__}.{field.name}"
