"""Alerting at run time: read rule values from the registry, evaluate, notify, repeat.

:class:`Alerting` ties an :class:`AlertManager` to channels and to the metric
registry. :meth:`Alerting.run_once` is one evaluation and its deliveries (tests
call it with a stepped clock); :meth:`Alerting.start` runs it every
``interval`` seconds on a thread of its own until :meth:`Alerting.stop`.

Example::

    alerting = Alerting(settings.alerting, registry, metrics, clock=clock)
    sent = alerting.run_once()
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

from prometheus_client import CollectorRegistry

from dataflare.observability._alert_settings import AlertingSettings, AlertRule
from dataflare.observability._alerts import AlertManager, Notification
from dataflare.observability._catalogue import MetricCatalogue
from dataflare.observability._channels import Channel, LogChannel, build_channel
from dataflare.observability.errors import NotificationError

__all__ = ("Alerting", "read_value")

log = logging.getLogger("dataflare.observability.alerts")


def read_value(registry: CollectorRegistry, metric: str, labels: Mapping[str, str]) -> float | None:
    """Sum the series of ``metric`` whose labels include ``labels``; ``None`` if none.

    ``metric`` is a sample name as exported (``..._total`` for counters).
    """
    total: float | None = None
    for family in registry.collect():
        for sample in family.samples:
            if sample.name != metric:
                continue
            if all(sample.labels.get(key) == value for key, value in labels.items()):
                total = (total or 0.0) + sample.value
    return total


class Alerting:
    """Evaluates the configured rules over the registry and delivers notifications.

    Args:
        settings: ``observability.alerting``.
        registry: Where rule metrics are read.
        metrics: Where alert state and notification counts are recorded.
        clock: Seconds for the rules' durations; ``time.time`` by default.
        channels: Channels by name, overriding the ones built from ``settings``.
    """

    def __init__(
        self,
        settings: AlertingSettings,
        registry: CollectorRegistry,
        metrics: MetricCatalogue,
        *,
        clock: Callable[[], float] = time.time,
        channels: Mapping[str, Channel] | None = None,
    ) -> None:
        self.settings = settings
        self.manager = AlertManager(settings.rules, clock=clock)
        self.channels: dict[str, Channel] = {"log": LogChannel("log")}
        self.channels.update(
            {name: build_channel(name, channel) for name, channel in settings.channels.items()}
        )
        self.channels.update(channels or {})
        self._registry = registry
        self._metrics = metrics
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def value_of(self, rule: AlertRule) -> float | None:
        """The current value of ``rule``'s metric."""
        return read_value(self._registry, rule.metric, rule.labels)

    def run_once(self) -> list[Notification]:
        """Evaluate every rule now and deliver what is due.

        A channel that fails is logged and counted
        (``dataflare_alert_notifications_total{outcome="failed"}``); the others still
        receive the notification.

        Returns:
            The notifications that were due.
        """
        due = self.manager.evaluate(self.value_of)
        for notification in due:
            self._deliver(notification)
        self._publish_state()
        return due

    def _deliver(self, notification: Notification) -> None:
        for name in notification.rule.channels:
            try:
                self.channels[name].send(notification)
            except NotificationError as exc:
                log.error("%s", exc, extra={"channel": name, "rule": notification.rule.name})
                outcome = "failed"
            else:
                outcome = "sent"
            self._metrics.notifications.labels(notification.rule.name, name, outcome).inc()

    def _publish_state(self) -> None:
        firing = self.manager.firing()
        for rule in self.manager.rules:
            for level in ("info", "warning", "error", "critical", "emergency"):
                on = rule.name in firing and firing[rule.name].value == level
                self._metrics.alerts_firing.labels(rule.name, level).set(1 if on else 0)

    def start(self) -> None:
        """Evaluate every ``interval`` seconds on a background thread."""
        if not self.manager.rules:
            return
        self._thread = threading.Thread(target=self._loop, name="dataflare-alerts", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background evaluation and wait for it. Idempotent."""
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stopping.wait(self.settings.interval):
            try:
                self.run_once()
            except Exception as exc:
                # One bad evaluation must not end alerting for the rest of the run.
                log.error("alert evaluation failed: %s", exc, exc_info=exc)
