"""Notification channels: the log, an HTTP webhook, a NATS subject.

A channel is a small class with one method, :meth:`Channel.send`, which blocks
until the notification is delivered or raises :class:`NotificationError`. They
run on the alerting thread, never on the event loop, so a slow receiver cannot
stall a pipeline.

Example::

    WebhookChannel("oncall", "http://127.0.0.1:8080/hook").send(notification)
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request

import anyio

from dataflare.observability._alert_settings import AlertLevel, ChannelSettings
from dataflare.observability._alerts import Notification
from dataflare.observability.errors import NotificationError

__all__ = ("Channel", "LogChannel", "NatsChannel", "WebhookChannel", "build_channel")

log = logging.getLogger("dataflare.observability.alerts")

_LOG_LEVELS = {
    AlertLevel.INFO: logging.INFO,
    AlertLevel.WARNING: logging.WARNING,
    AlertLevel.ERROR: logging.ERROR,
    AlertLevel.CRITICAL: logging.CRITICAL,
    AlertLevel.EMERGENCY: logging.CRITICAL,
}


class Channel:
    """Where notifications go. The base delivers nowhere."""

    def __init__(self, name: str) -> None:
        self.name = name

    def send(self, notification: Notification) -> None:
        """Deliver ``notification``.

        Raises:
            NotificationError: It could not be delivered.
        """


class LogChannel(Channel):
    """Logs each notification at a level matching the alert's, with its fields as extras."""

    def send(self, notification: Notification) -> None:
        """Write one structured log line."""
        body = notification.to_dict()
        level = logging.INFO if notification.kind == "resolved" else _LOG_LEVELS[notification.level]
        log.log(
            level,
            "alert %s %s: %s",
            notification.rule.name,
            notification.kind,
            notification.rule.description or notification.rule.condition,
            extra={"alert": body},
        )


class WebhookChannel(Channel):
    """POSTs the notification as JSON to a URL; any 2xx answer is delivery."""

    def __init__(self, name: str, url: str, *, timeout: float = 5.0) -> None:
        super().__init__(name)
        self.url = url
        self.timeout = timeout

    def send(self, notification: Notification) -> None:
        """POST and wait for the answer."""
        request = urllib.request.Request(
            self.url,
            data=json.dumps(notification.to_dict()).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except (urllib.error.URLError, OSError) as exc:
            raise NotificationError(self.name, notification.rule.name, str(exc)) from exc


class NatsChannel(Channel):
    """Publishes the notification as JSON on a NATS subject (core NATS, no stream needed)."""

    def __init__(self, name: str, url: str, subject: str, *, timeout: float = 5.0) -> None:
        super().__init__(name)
        self.url = url
        self.subject = subject
        self.timeout = timeout

    def send(self, notification: Notification) -> None:
        """Connect, publish, flush and disconnect (alerts are rare; no idle connection)."""
        try:
            # nats-py runs on asyncio; this thread gets a loop of its own for the call.
            anyio.run(self._publish, json.dumps(notification.to_dict()).encode())
        except ImportError as exc:
            raise NotificationError(
                self.name,
                notification.rule.name,
                "nats-py is not installed: pip install 'dataflare-observability[nats]'",
            ) from exc
        except Exception as exc:
            raise NotificationError(self.name, notification.rule.name, str(exc)) from exc

    async def _publish(self, data: bytes) -> None:
        import nats

        client = await nats.connect(
            self.url, connect_timeout=self.timeout, allow_reconnect=False, max_reconnect_attempts=0
        )
        try:
            await client.publish(self.subject, data, headers={"Dataflare-Alert": "1"})
            await client.flush(timeout=max(1, round(self.timeout)))
        finally:
            await client.close()


def build_channel(name: str, settings: ChannelSettings) -> Channel:
    """The channel ``settings`` describe, named ``name``."""
    if settings.type == "webhook":
        assert settings.url is not None  # validated with the config
        return WebhookChannel(name, settings.url, timeout=settings.timeout)
    if settings.type == "nats":
        assert settings.url is not None
        assert settings.subject is not None
        return NatsChannel(name, settings.url, settings.subject, timeout=settings.timeout)
    return LogChannel(name)
