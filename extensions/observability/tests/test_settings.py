"""The observability: section, validated with file, line and column like every other."""

from __future__ import annotations

import pytest

from dataflare.kernel import ConfigError, load_config
from dataflare.observability import AlertRule, ChannelSettings, ObservabilitySettings

SECTIONS = {"observability": ObservabilitySettings}


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(text, sections=SECTIONS, source="obs.yaml")
    return [f"{issue.location}: {issue.message}" for issue in caught.value.issues]


def test_an_empty_section_is_every_default():
    settings = load_config("", sections=SECTIONS).section("observability")
    assert settings == ObservabilitySettings()
    assert (settings.metrics.port, settings.tracing.exporter) == (9464, "console")


def test_every_problem_is_reported_at_once_with_its_location():
    found = problems(
        "observability:\n"
        "  metrics: {port: 70000}\n"
        "  tracing: {exporter: file}\n"
        "  alerting:\n"
        "    rules:\n"
        "      - {name: a, metric: 'bad name', condition: '> 1'}\n"
    )
    assert len(found) == 3
    assert found[0].startswith("obs.yaml:2:")
    assert "port" in found[0]
    assert "tracing.exporter: file needs tracing.path" in found[1]
    assert "is not a Prometheus metric name" in found[2]


def test_rule_names_must_be_unique():
    rule = "      - {name: a, metric: m, condition: '> 1'}\n"
    (found,) = problems("observability:\n  alerting:\n    rules:\n" + rule + rule)
    assert "two rules are named 'a'" in found


@pytest.mark.parametrize(
    ("channel", "message"),
    [
        ({"type": "webhook"}, "a webhook channel needs url"),
        ({"type": "nats", "url": "nats://127.0.0.1:4222"}, "needs subject"),
        ({"type": "nats", "url": "http://x", "subject": "a"}, "needs url: nats://"),
    ],
)
def test_channels_need_what_their_type_uses(channel, message):
    with pytest.raises(ValueError, match=message):
        ChannelSettings(**channel)


def test_an_unknown_level_is_refused():
    found = problems(
        "observability:\n  alerting:\n    rules:\n"
        "      - {name: a, metric: m, condition: '> 1', level: panic}\n"
    )
    assert found == [
        "obs.yaml:4:55: expected one of: info, warning, error, critical or emergency, got 'panic'"
    ]


def test_a_rule_parses_its_condition_and_level():
    rule = AlertRule(name="r", metric="m", condition=" <= 2.5 ", level="critical")
    assert str(rule.parsed_condition) == "<= 2.5"
    assert rule.level.rank == 3
