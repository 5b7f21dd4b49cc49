"""A real streaming pipeline, as ``dataflare run`` runs it, watched by the observability extension.

``/metrics`` is scraped over real HTTP while the kernel still runs, and every
component's counts must equal what the pipeline did: the source's records, the
filter's intentional discards, the window folding records into results, the sink.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import anyio
import pytest

from dataflare.streaming import StreamProcessor, load_pipeline

pytestmark = pytest.mark.anyio

PIPELINE = """
observability:
  metrics: {{port: 0}}
  tracing: {{exporter: file, path: {spans}, sample_ratio: 1.0}}
streaming:
  batch_size: 500
  checkpoint_interval: 0
pipeline:
  name: orders
  source:
    type: generator
    options: {{profile: orders, records: 4000}}
  operators:
    - python: {{function: "transforms:big_only"}}
    - key_by: {{column: region}}
    - window:
        kind: tumbling
        size_ms: 60000
        aggregations: [{{output: orders, function: count}}]
  sinks:
    - type: jsonl
      options: {{path: {out}}}
"""

TRANSFORMS = """
def big_only(batch):
    return batch.filter(batch.column("amount") >= 100)
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def scrape(url: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    samples = {}
    for line in text.splitlines():
        found = re.match(r"^(dataflare_component_\w+)\{([^}]*)\} (\S+)$", line)
        if found:
            samples[f"{found[1]}{{{found[2]}}}"] = float(found[3])
    return samples


def value(samples: dict[str, float], family: str, component: str, **labels: str) -> float:
    for key, number in samples.items():
        if (
            key.startswith(family + "{")
            and f'component="{component}"' in key
            and all(f'{name}="{label}"' in key for name, label in labels.items())
        ):
            return number
    components = sorted({re.sub(r'.*component="([^"]*)".*', r"\1", key) for key in samples})
    raise AssertionError(f"no {family} for {component} {labels}; components: {components}")


async def test_metrics_of_a_running_pipeline_equal_what_it_did(tmp_path: Path):
    (tmp_path / "transforms.py").write_text(TRANSFORMS)
    out, spans = tmp_path / "out.jsonl", tmp_path / "spans.jsonl"
    path = tmp_path / "pipeline.yaml"
    path.write_text(PIPELINE.format(out=json.dumps(str(out)), spans=json.dumps(str(spans))))
    loaded = load_pipeline(path)
    async with loaded.kernel as kernel:
        telemetry = kernel.pm.get_plugin("streaming").telemetry
        assert telemetry is not None, "observability did not hand its telemetry over"
        statistics = await StreamProcessor(loaded.settings, telemetry=telemetry).run(
            loaded.pipeline
        )
        url = kernel.pm.get_plugin("observability").server_url
        samples = await anyio.to_thread.run_sync(scrape, url)

    kept = len(out.read_text().splitlines())
    assert statistics.records_in == 4000
    assert value(samples, "dataflare_component_sent_records_total", "orders.source") == 4000
    filtered = value(
        samples,
        "dataflare_component_discarded_records_total",
        "orders.0.python-0",
        reason="filtered",
        intentional="true",
    )
    passed = value(samples, "dataflare_component_sent_records_total", "orders.0.python-0")
    assert filtered + passed == 4000
    assert 0 < passed < 4000
    assert (
        value(samples, "dataflare_component_received_records_total", "orders.2.window-2") == passed
    )
    assert value(samples, "dataflare_component_received_records_total", "orders.sink.0") == kept
    assert kept == statistics.records_out > 0
    assert "dataflare_component_discarded_records_total" not in [
        k.split("{")[0] for k in samples if 'component="orders.2.window-2"' in k
    ], "a window folds records into results; it does not discard them"
    assert spans.read_text().count('"name": "process orders.0.python-0"') >= 1
