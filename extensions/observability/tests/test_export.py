"""``dataflare observability export``: dashboards and rules name only metrics really exported."""

from __future__ import annotations

import json
import subprocess
import sys

import anyio
import pytest
from click.testing import CliRunner
from obs_helpers import EventsStandIn, PipelineExtension, batch, http_get, plugin_result
from prometheus_client.parser import text_string_to_metric_families
from ruamel.yaml import YAML

from dataflare.kernel import Kernel
from dataflare.observability import (
    AlertRule,
    ObservabilityExtension,
    dashboard,
    metric_names_used,
    prometheus_rules,
)
from dataflare.observability._cli import observability

SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "gauge": ("",),
}


def exported_names(text: str) -> set[str]:
    """Every series name an exposition declares, by its families' types."""
    return {
        family.name + suffix
        for family in text_string_to_metric_families(text)
        for suffix in SUFFIXES.get(family.type, ("",))
    }


@pytest.mark.anyio
async def test_every_metric_the_dashboard_and_rules_name_is_exported(tmp_path):
    """Scrape a running pipeline; each name in a panel or a rule is served by /metrics."""
    observability_ext, pipeline = ObservabilityExtension(), PipelineExtension()
    rule = {"name": "lossy", "metric": "dataflare_component_errors_total", "condition": "> 0"}
    config = {
        "observability": {
            "metrics": {"port": 0},
            "tracing": {"exporter": "none"},
            "alerting": {"interval": 3600, "rules": [rule]},
        }
    }
    plugins = [observability_ext, pipeline, EventsStandIn(7, None)]
    async with Kernel(config, plugins=plugins, discover=False):
        await pipeline.produce(batch(0, 8))
        await pipeline.wait_for_batches(1)
        pipeline.operator.plugin_result("geo", plugin_result())
        _, text = await anyio.to_thread.run_sync(
            http_get, observability_ext.server_url + "/metrics"
        )
    used = metric_names_used([AlertRule(**rule)])
    assert len(used) > 15
    assert used <= exported_names(text), used - exported_names(text)
    assert 'dataflare_plugin_dead_letters_total{failure="record-error",plugin="geo"} 1.0' in text
    assert 'dataflare_plugin_batch_fuel_sum{plugin="geo"} 12345.0' in text


def test_the_check_would_catch_a_misspelt_metric():
    """A name nobody exports is not in the exported set (the check above can fail)."""
    assert "dataflare_component_records_total" not in exported_names(
        "# TYPE dataflare_component_sent_records counter\n"
    )


def test_config_rules_become_prometheus_rules():
    rule = AlertRule(
        name="backed-up",
        metric="dataflare_component_backpressure_ratio",
        labels={"component": "enrich"},
        condition=">= 0.9",
        level="critical",
        for_duration=120,
    )
    groups = prometheus_rules([rule])["groups"]
    (converted,) = groups[1]["rules"]
    assert converted == {
        "alert": "backed-up",
        "expr": 'sum(dataflare_component_backpressure_ratio{component="enrich"}) >= 0.9',
        "for": "120s",
        "labels": {"severity": "critical", "dataflare_level": "critical"},
        "annotations": {"summary": "backed-up"},
    }


def test_the_export_command_writes_dashboard_rules_and_scrape_config(tmp_path):
    """Files land under --out; the config's rules are in the rules file; JSON/YAML parse."""
    config = tmp_path / "dataflare.yaml"
    config.write_text(
        "observability:\n"
        "  alerting:\n"
        "    rules:\n"
        "      - {name: slow, metric: dataflare_component_processing_seconds_count,"
        " condition: '> 5'}\n"
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(
        observability, ["export", "--out", str(out), "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    board = json.loads((out / "grafana/dataflare-overview.json").read_text())
    assert board == dashboard()
    yaml = YAML(typ="safe", pure=True)
    rules = yaml.load((out / "prometheus/dataflare-alerts.yml").read_text())
    assert [r["alert"] for r in rules["groups"][1]["rules"]] == ["slow"]
    scrape = yaml.load((out / "prometheus/dataflare-scrape.yml").read_text())
    assert scrape["scrape_configs"][0]["static_configs"][0]["targets"] == ["127.0.0.1:9464"]
    assert sorted(result.output.split()) == sorted(
        str(out / name)
        for name in (
            "grafana/dataflare-overview.json",
            "prometheus/dataflare-alerts.yml",
            "prometheus/dataflare-scrape.yml",
        )
    )


def test_the_dataflare_command_finds_the_commands_through_the_entry_point(tmp_path):
    """Installed, the extension adds `observability` and `top` to `dataflare --help`."""
    done = subprocess.run(
        [sys.executable, "-m", "dataflare.kernel", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "observability" in done.stdout
    assert "top" in done.stdout
