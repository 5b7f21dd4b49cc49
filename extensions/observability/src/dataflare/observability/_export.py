"""What ``dataflare observability export`` writes: a Grafana dashboard and Prometheus rules.

Both are built from DataFlare's own metric names (:mod:`._catalogue`), in the
style of a monitoring mixin: one dashboard JSON to import, one rules file to
load into Prometheus (the built-in rules plus those in the config file), and a
scrape config. :func:`metric_names_used` lists every metric they name, which a
test checks against what ``/metrics`` really serves.

Example::

    files = export_files(rules=settings.alerting.rules, target="127.0.0.1:9464")
    for name, text in files.items():
        (out / name).write_text(text)
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ruamel.yaml import YAML

from dataflare.observability._alert_settings import AlertRule

__all__ = ("BUILTIN_ALERTS", "dashboard", "export_files", "metric_names_used", "prometheus_rules")

_RATE = "[$__rate_interval]"

#: (title, unit, PromQL expressions with their legends)
_PANELS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("Records in", "rps", (
        (f"sum by (component) (rate(dataflare_component_received_records_total{_RATE}))",
         "{{component}}"),
    )),
    ("Records out", "rps", (
        (f"sum by (component) (rate(dataflare_component_sent_records_total{_RATE}))",
         "{{component}}"),
    )),
    ("Bytes in / out", "Bps", (
        (f"sum by (component) (rate(dataflare_component_received_bytes_total{_RATE}))",
         "in {{component}}"),
        (f"sum by (component) (rate(dataflare_component_sent_bytes_total{_RATE}))",
         "out {{component}}"),
    )),
    ("Throughput (records/s, as reported)", "rps", (
        ("sum by (component) (dataflare_component_throughput_records_per_second)",
         "{{component}}"),
    )),
    ("Processing latency p50 / p99", "s", (
        ("histogram_quantile(0.5, sum by (le, component) "
         f"(rate(dataflare_component_processing_seconds_bucket{_RATE})))", "p50 {{component}}"),
        ("histogram_quantile(0.99, sum by (le, component) "
         f"(rate(dataflare_component_processing_seconds_bucket{_RATE})))", "p99 {{component}}"),
    )),
    ("Errors by type and stage", "ops", (
        ("sum by (component, error_type, stage) "
         f"(rate(dataflare_component_errors_total{_RATE}))",
         "{{component}} {{stage}} {{error_type}}"),
    )),
    ("Discarded records", "rps", (
        ("sum by (component, reason, intentional) "
         f"(rate(dataflare_component_discarded_records_total{_RATE}))",
         "{{component}} {{reason}} intentional={{intentional}}"),
    )),
    ("Backpressure", "percentunit", (
        ("max by (component) (dataflare_component_backpressure_ratio)", "{{component}}"),
        ("max by (pattern) (dataflare_bus_backpressure_ratio)", "bus {{pattern}}"),
    )),
    ("Bus", "short", (
        (f"rate(dataflare_bus_published_total{_RATE})", "published/s"),
        ("dataflare_bus_buffered_messages", "buffered"),
        ("dataflare_bus_publishers_waiting", "publishers waiting"),
    )),
    ("Plugin fuel per batch p99", "short", (
        ("histogram_quantile(0.99, sum by (le, plugin) "
         f"(rate(dataflare_plugin_batch_fuel_bucket{_RATE})))", "{{plugin}}"),
    )),
    ("Plugin time per batch p99", "s", (
        ("histogram_quantile(0.99, sum by (le, plugin) "
         f"(rate(dataflare_plugin_batch_seconds_bucket{_RATE})))", "{{plugin}}"),
    )),
    ("Events handled", "ops", (
        (f"sum by (handler, outcome) (rate(dataflare_events_handled_total{_RATE}))",
         "{{handler}} {{outcome}}"),
    )),
    ("Event store: newest offset", "short", (
        ("max by (extension, store) (dataflare_event_store_last_offset)",
         "{{extension}} {{store}}"),
    )),
    ("Alerts firing", "short", (
        ("sum by (rule, level) (dataflare_alerts_firing)", "{{rule}} {{level}}"),
    )),
)  # fmt: skip

#: Rules every DataFlare deployment wants, whatever its config says.
BUILTIN_ALERTS: tuple[dict[str, Any], ...] = (
    {
        "alert": "DataFlareComponentErrors",
        "expr": "sum by (component) (rate(dataflare_component_errors_total[5m])) > 0",
        "for": "5m",
        "labels": {"severity": "warning"},
        "annotations": {"summary": "{{ $labels.component }} keeps failing"},
    },
    {
        "alert": "DataFlareRecordsLost",
        "expr": "sum by (component) "
        '(rate(dataflare_component_discarded_records_total{intentional="false"}[5m])) > 0',
        "for": "1m",
        "labels": {"severity": "error"},
        "annotations": {"summary": "{{ $labels.component }} loses records it did not mean to"},
    },
    {
        "alert": "DataFlareBackpressure",
        "expr": "max by (component) (dataflare_component_backpressure_ratio) > 0.9",
        "for": "5m",
        "labels": {"severity": "warning"},
        "annotations": {"summary": "{{ $labels.component }}'s input is over 90% full"},
    },
    {
        "alert": "DataFlareStalled",
        "expr": "sum by (component) (rate(dataflare_component_received_records_total[5m])) > 0 "
        "unless sum by (component) (rate(dataflare_component_sent_records_total[5m])) > 0",
        "for": "5m",
        "labels": {"severity": "critical"},
        "annotations": {"summary": "{{ $labels.component }} takes records in but sends none"},
    },
    {
        "alert": "DataFlareSlowBatches",
        "expr": "histogram_quantile(0.99, sum by (le, component) "
        "(rate(dataflare_component_processing_seconds_bucket[5m]))) > 1",
        "for": "10m",
        "labels": {"severity": "warning"},
        "annotations": {"summary": "{{ $labels.component }}: p99 batch time over 1 s"},
    },
)

_SEVERITY = {"info": "info", "warning": "warning", "error": "error", "critical": "critical",
             "emergency": "critical"}  # fmt: skip


def dashboard(title: str = "DataFlare") -> dict[str, Any]:
    """The Grafana dashboard (schema 39), with a Prometheus datasource variable."""
    panels = []
    for index, (panel_title, unit, queries) in enumerate(_PANELS):
        panels.append(
            {
                "id": index + 1,
                "type": "timeseries",
                "title": panel_title,
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "targets": [
                    {"refId": chr(ord("A") + n), "expr": expr, "legendFormat": legend}
                    for n, (expr, legend) in enumerate(queries)
                ],
            }
        )
    return {
        "uid": "dataflare-overview",
        "title": title,
        "tags": ["dataflare"],
        "schemaVersion": 39,
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "10s",
        "templating": {
            "list": [{"name": "datasource", "type": "datasource", "query": "prometheus"}]
        },
        "panels": panels,
    }


def _config_rule(rule: AlertRule) -> dict[str, Any]:
    selector = ",".join(f'{key}="{value}"' for key, value in sorted(rule.labels.items()))
    condition = rule.parsed_condition
    return {
        "alert": rule.name,
        "expr": f"sum({rule.metric}{{{selector}}}) {condition.operator} {condition.threshold:g}",
        "for": f"{int(rule.for_duration)}s",
        "labels": {"severity": _SEVERITY[rule.level.value], "dataflare_level": rule.level.value},
        "annotations": {"summary": rule.description or rule.name},
    }


def prometheus_rules(rules: Iterable[AlertRule] = ()) -> dict[str, Any]:
    """Prometheus alerting rules: the built-in group, and one for the config's rules."""
    groups: list[dict[str, Any]] = [{"name": "dataflare", "rules": list(BUILTIN_ALERTS)}]
    configured = [_config_rule(rule) for rule in rules]
    if configured:
        groups.append({"name": "dataflare-config", "rules": configured})
    return {"groups": groups}


def scrape_config(target: str) -> dict[str, Any]:
    """A Prometheus scrape config for one DataFlare process."""
    return {
        "scrape_configs": [
            {"job_name": "dataflare", "metrics_path": "/metrics",
             "static_configs": [{"targets": [target]}]}
        ]
    }  # fmt: skip


def _yaml(data: Mapping[str, Any]) -> str:
    buffer = io.StringIO()
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.dump(dict(data), buffer)
    return buffer.getvalue()


def export_files(
    *, rules: Iterable[AlertRule] = (), target: str = "127.0.0.1:9464"
) -> dict[str, str]:
    """Every exported file by its relative path: dashboard, rules and scrape config."""
    return {
        "grafana/dataflare-overview.json": json.dumps(dashboard(), indent=2) + "\n",
        "prometheus/dataflare-alerts.yml": _yaml(prometheus_rules(rules)),
        "prometheus/dataflare-scrape.yml": _yaml(scrape_config(target)),
    }


def metric_names_used(rules: Iterable[AlertRule] = ()) -> set[str]:
    """Every ``dataflare_*`` series name the dashboard and the rules query."""
    texts = [target["expr"] for panel in dashboard()["panels"] for target in panel["targets"]]
    texts += [
        rule["expr"] for group in prometheus_rules(rules)["groups"] for rule in group["rules"]
    ]
    return {name for text in texts for name in re.findall(r"\bdataflare_[a-z0-9_]+", text)}
