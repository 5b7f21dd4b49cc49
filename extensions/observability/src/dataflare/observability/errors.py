"""Every error the observability extension raises, in one tree under the kernel's base.

Catch :class:`ObservabilityError` for anything this extension refused, or the
kernel's :class:`~dataflare.kernel.errors.DataFlareError` for anything DataFlare
refused. Config mistakes (an unknown channel, a bad condition) are not here: they
are reported by the kernel as :class:`~dataflare.kernel.errors.ConfigError`, with
file, line and column, like every other config problem.

::

    DataFlareError                      (dataflare.kernel.errors)
    └── ObservabilityError              the observability extension refused an operation
        ├── AdminServerError            the /metrics endpoint cannot listen on its address
        ├── NotificationError           an alert channel could not deliver a notification
        └── ScrapeError                 `dataflare top` cannot read a /metrics endpoint

Example::

    try:
        await channel.send(notification)
    except NotificationError as exc:
        print(exc.channel, exc)
"""

from __future__ import annotations

from dataflare.kernel.errors import DataFlareError

__all__ = ("AdminServerError", "NotificationError", "ObservabilityError", "ScrapeError")


class ObservabilityError(DataFlareError):
    """The base of every error the observability extension raises on purpose."""


class AdminServerError(ObservabilityError):
    """Raised when the HTTP endpoint cannot listen on its host and port.

    Attributes:
        host: The address it tried to bind.
        port: The port it tried to bind.
    """

    def __init__(self, host: str, port: int, problem: str) -> None:
        self.host = host
        self.port = port
        super().__init__(
            f"cannot serve /metrics on {host}:{port}: {problem}; set "
            "observability.metrics.port to a free port (0 picks one) or stop what uses it"
        )


class NotificationError(ObservabilityError):
    """Raised when an alert channel fails to deliver a notification.

    Attributes:
        channel: The channel's name in ``observability.alerting.channels``.
        rule: The alert rule the notification was about.
    """

    def __init__(self, channel: str, rule: str, problem: str) -> None:
        self.channel = channel
        self.rule = rule
        super().__init__(
            f"alert channel {channel!r} could not deliver the notification for rule "
            f"{rule!r}: {problem}; check the channel's url or subject and that its "
            "receiver is up"
        )


class ScrapeError(ObservabilityError):
    """Raised when a ``/metrics`` endpoint cannot be read.

    Attributes:
        url: The URL that was scraped.
    """

    def __init__(self, url: str, problem: str) -> None:
        self.url = url
        super().__init__(
            f"cannot read metrics from {url}: {problem}; is the pipeline running with "
            "the observability extension, and is --url its observability.metrics address?"
        )
