"""Alert rules in a running kernel: fire, suppress, escalate, resolve; webhook and NATS channels."""

from __future__ import annotations

import json

import anyio
import pytest
from obs_helpers import WebhookReceiver, http_get

from dataflare.kernel import Kernel
from dataflare.observability import (
    AlertLevel,
    AlertManager,
    AlertRule,
    Condition,
    NotificationError,
    ObservabilityExtension,
    WebhookChannel,
)
from dataflare.observability._alerts import Notification

pytest_plugins = ["dataflare.kernel.testing"]


class SteppedClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def rule_config(channels: list[str]) -> dict:
    return {
        "name": "operator-backed-up",
        "description": "keep-odd cannot keep up",
        "metric": "dataflare_component_backpressure_ratio",
        "labels": {"component": "keep-odd"},
        "condition": "> 0.8",
        "level": "warning",
        "channels": channels,
        "for_duration": 60,
        "suppress": 300,
        "escalate_after": 200,
    }


@pytest.mark.anyio
async def test_a_rule_fires_once_is_suppressed_escalates_and_resolves(tmp_path):
    """Each step checked against a real webhook receiver and the alert history."""
    clock = SteppedClock()
    observability = ObservabilityExtension(clock=clock)
    with WebhookReceiver() as receiver:
        config = {
            "observability": {
                "metrics": {"port": 0},
                "tracing": {"exporter": "none"},
                "alerting": {
                    "interval": 3600,  # evaluations below are stepped by hand
                    "channels": {"oncall": {"type": "webhook", "url": receiver.url}},
                    "rules": [rule_config(["log", "oncall"])],
                },
            }
        }
        async with Kernel(config, plugins=[observability], discover=False):
            probe = observability.telemetry.component("keep-odd", "operator")
            alerting = observability.alerting

            async def at(seconds: float) -> list[str]:
                clock.now = seconds
                due = await anyio.to_thread.run_sync(alerting.run_once)
                return [notification.kind for notification in due]

            probe.backpressure(0.95)
            assert await at(0) == []  # pending: not for long enough yet
            assert await at(30) == []
            assert receiver.received == []
            assert await at(60) == ["firing"]
            assert [(b["status"], b["level"]) for b in receiver.received] == [("firing", "warning")]
            assert await at(120) == []  # suppressed repeat
            assert len(receiver.received) == 1
            assert await at(260) == ["escalated"]  # 200 s unresolved: one level up
            assert receiver.received[-1]["level"] == "error"
            _, text = await anyio.to_thread.run_sync(
                http_get, observability.server_url + "/metrics"
            )
            assert 'dataflare_alerts_firing{level="error",rule="operator-backed-up"} 1.0' in text
            assert await at(300) == []  # suppressed again
            probe.backpressure(0.1)
            assert await at(320) == ["resolved"]
            assert await at(400) == []  # resolved stays quiet
    assert [(b["status"], b["level"]) for b in receiver.received] == [
        ("firing", "warning"),
        ("escalated", "error"),
        ("resolved", "error"),
    ]
    assert receiver.received[0]["rule"] == "operator-backed-up"
    assert receiver.received[0]["value"] == pytest.approx(0.95)
    history = [(entry.kind, entry.at) for entry in alerting.manager.history]
    assert history == [
        ("pending", 0),
        ("firing", 60),
        ("suppressed", 120),
        ("escalated", 260),
        ("suppressed", 300),
        ("resolved", 320),
    ]


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # nats-py runs on asyncio only
async def test_a_nats_channel_publishes_the_notification_on_its_subject(nats_server, anyio_backend):
    """A real nats-server subscriber receives the firing notification as JSON."""
    import nats

    clock = SteppedClock()
    observability = ObservabilityExtension(clock=clock)
    channel = {"type": "nats", "url": nats_server.url, "subject": "alerts.dataflare"}
    rule = {**rule_config(["bus"]), "for_duration": 0}
    config = {
        "observability": {
            "metrics": {"enabled": False},
            "tracing": {"exporter": "none"},
            "alerting": {"interval": 3600, "channels": {"bus": channel}, "rules": [rule]},
        }
    }
    client = await nats.connect(nats_server.url)
    try:
        subscription = await client.subscribe("alerts.dataflare")
        async with Kernel(config, plugins=[observability], discover=False):
            observability.telemetry.component("keep-odd", "operator").backpressure(1.0)
            due = await anyio.to_thread.run_sync(observability.alerting.run_once)
        assert [n.kind for n in due] == ["firing"]
        with anyio.fail_after(10):
            message = await subscription.next_msg(timeout=10)
        body = json.loads(message.data)
        assert (body["rule"], body["status"], body["level"]) == (
            "operator-backed-up",
            "firing",
            "warning",
        )
    finally:
        await client.close()


def test_a_webhook_that_cannot_be_reached_raises_a_notification_error():
    """The error names the channel and the rule, and says what to check."""
    with WebhookReceiver() as receiver:
        url = receiver.url
    rule = AlertRule(name="r", metric="m", condition="> 1")
    with pytest.raises(NotificationError, match="alert channel 'hook' could not deliver") as exc:
        WebhookChannel("hook", url, timeout=2).send(
            Notification(rule, "firing", AlertLevel.WARNING, 2.0, 0.0)
        )
    assert (exc.value.channel, exc.value.rule) == ("hook", "r")


def test_levels_order_by_severity_and_escalate_up_to_emergency():
    """info < warning < error < critical < emergency, whatever their spelling sorts as."""
    levels = list(AlertLevel)
    assert levels == sorted(levels)
    assert AlertLevel.INFO < AlertLevel.WARNING < AlertLevel.ERROR
    assert AlertLevel.CRITICAL < AlertLevel.EMERGENCY
    assert AlertLevel.CRITICAL.escalated() is AlertLevel.EMERGENCY
    assert AlertLevel.EMERGENCY.escalated() is AlertLevel.EMERGENCY


@pytest.mark.parametrize(
    ("text", "value", "holds"),
    [("> 10", 11, True), ("> 10", 10, False), (">= 10", 10, True), ("!= 0", 0, False),
     ("< -1.5", -2, True), ("== 1e3", 1000, True)],
)  # fmt: skip
def test_conditions_compare_the_value_with_the_threshold(text, value, holds):
    assert Condition.parse(text).holds(value) is holds


def test_a_missing_series_never_fires():
    """With no value at all the condition does not hold (as in Prometheus)."""
    manager = AlertManager([AlertRule(name="r", metric="m", condition="< 1")], clock=lambda: 0)
    assert manager.evaluate(lambda rule: None) == []
    assert manager.state("r").phase == "inactive"


@pytest.mark.anyio
async def test_the_background_evaluation_notifies_without_being_asked():
    """With a short interval the alerting thread itself fires the rule (bounded wait)."""
    observability = ObservabilityExtension()
    with WebhookReceiver() as receiver:
        rule = {**rule_config(["hook"]), "for_duration": 0}
        config = {
            "observability": {
                "metrics": {"enabled": False},
                "tracing": {"exporter": "none"},
                "alerting": {
                    "interval": 0.05,
                    "channels": {"hook": {"type": "webhook", "url": receiver.url}},
                    "rules": [rule],
                },
            }
        }
        async with Kernel(config, plugins=[observability], discover=False):
            observability.telemetry.component("keep-odd", "operator").backpressure(0.99)
            with anyio.fail_after(10):
                while not receiver.received:
                    await anyio.sleep(0.01)
    assert receiver.received[0]["status"] == "firing"
    assert sum(body["status"] == "firing" for body in receiver.received) == 1
