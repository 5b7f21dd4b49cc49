"""Alert rules and notification channels, as written under ``observability.alerting``.

::

    observability:
      alerting:
        interval: 15.0                 # seconds between evaluations
        channels:
          oncall: {type: webhook, url: "https://hooks.example/alerts"}
          bus: {type: nats, url: "nats://127.0.0.1:4222", subject: alerts.dataflare}
        rules:
          - name: errors-climbing
            description: A component keeps failing
            metric: dataflare_component_errors_total
            labels: {component: enrich}   # only these series (summed); absent: all
            condition: "> 10"             # >, >=, <, <=, == or != and a number
            level: warning                # info < warning < error < critical < emergency
            channels: [log, oncall]       # "log" always exists
            for_duration: 60              # true this long before it fires
            suppress: 300                 # no repeat of the same notification sooner
            escalate_after: 900           # unresolved this long: one level up, notify again

Every field is checked when the config loads, so a typo in a channel name or a
condition is a config error with its line and column, not a silent rule.
"""

from __future__ import annotations

import enum
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

import attrs

__all__ = ("AlertLevel", "AlertRule", "AlertingSettings", "ChannelSettings", "Condition")

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_CONDITION = re.compile(
    r"^\s*(>=|<=|==|!=|>|<)\s*(-?[0-9][0-9_]*(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)\s*$"
)
_OPERATORS: Mapping[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


class AlertLevel(enum.StrEnum):
    """How bad a firing alert is; levels compare in this order."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"
    EMERGENCY = "emergency"

    @property
    def rank(self) -> int:
        """0 for info up to 4 for emergency."""
        return list(AlertLevel).index(self)

    def __lt__(self, other: object) -> bool:
        # StrEnum would compare alphabetically; severity order is what callers mean.
        if not isinstance(other, AlertLevel):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, AlertLevel):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, AlertLevel):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, AlertLevel):
            return NotImplemented
        return self.rank >= other.rank

    def escalated(self) -> AlertLevel:
        """The next level up; emergency stays emergency."""
        levels = list(AlertLevel)
        return levels[min(self.rank + 1, len(levels) - 1)]


@attrs.frozen
class Condition:
    """A parsed ``condition`` such as ``"> 10"``."""

    operator: str
    """One of ``>``, ``>=``, ``<``, ``<=``, ``==``, ``!=``."""
    threshold: float
    """The number the metric's value is compared with."""

    @classmethod
    def parse(cls, text: str) -> Condition:
        """Parse ``"<op> <number>"``.

        Raises:
            ValueError: The text is not an operator followed by a number.
        """
        match = _CONDITION.match(text)
        if match is None:
            raise ValueError(
                f"condition {text!r} is not '<operator> <number>'; write e.g. '> 10' "
                "or '<= 0.5' (operators: > >= < <= == !=)"
            )
        return cls(match.group(1), float(match.group(2)))

    def holds(self, value: float) -> bool:
        """Whether ``value`` meets the condition."""
        return _OPERATORS[self.operator](value, self.threshold)

    def __str__(self) -> str:
        return f"{self.operator} {self.threshold:g}"


def _check_condition(instance: Any, attribute: attrs.Attribute[str], value: str) -> None:
    Condition.parse(value)


def _check_metric(instance: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if not _METRIC_NAME.match(value):
        raise ValueError(
            f"metric {value!r} is not a Prometheus metric name; use letters, digits and "
            "underscores, e.g. dataflare_component_errors_total"
        )


def _check_seconds(instance: Any, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not value >= 0:
        raise ValueError(f"{attribute.name} is a number of seconds >= 0, got {value!r}")


def _check_name(instance: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if not value.strip():
        raise ValueError(f"{attribute.name} must not be empty; give the rule a short name")


@attrs.frozen
class AlertRule:
    """One alert rule: when a metric meets a condition for long enough, notify."""

    name: str = attrs.field(validator=_check_name)
    """Unique among the rules; it names the alert in every notification."""
    metric: str = attrs.field(validator=_check_metric)
    """The metric whose value is tested (series matching ``labels`` are summed)."""
    condition: str = attrs.field(validator=_check_condition)
    """``"<operator> <number>"``, e.g. ``"> 10"``."""
    description: str = ""
    """What the alert means and what to do; sent with every notification."""
    labels: Mapping[str, str] = attrs.field(factory=dict)
    """Only series with these label values count; empty: every series."""
    level: AlertLevel = attrs.field(default=AlertLevel.WARNING, converter=AlertLevel)
    """The level the alert fires at (escalation raises it)."""
    channels: tuple[str, ...] = ("log",)
    """Names of channels to notify; ``log`` always exists."""
    for_duration: float = attrs.field(default=0.0, validator=_check_seconds)
    """Seconds the condition must hold before the alert fires (0: at once)."""
    suppress: float = attrs.field(default=300.0, validator=_check_seconds)
    """Seconds during which a repeat notification of a firing alert is held back."""
    escalate_after: float | None = attrs.field(default=None, validator=_check_seconds)
    """Seconds unresolved before the level goes up one step and channels hear again;
    ``None``: never escalate."""

    @property
    def parsed_condition(self) -> Condition:
        """The condition, parsed."""
        return Condition.parse(self.condition)


ChannelType = Literal["log", "webhook", "nats"]


@attrs.frozen
class ChannelSettings:
    """Where notifications go: the log, an HTTP webhook, or a NATS subject."""

    type: ChannelType
    """``log``, ``webhook`` (POST JSON to ``url``) or ``nats`` (publish to ``subject``)."""
    url: str | None = None
    """``http(s)://`` for a webhook, ``nats://`` for nats."""
    subject: str | None = None
    """The NATS subject (nats only)."""
    timeout: float = attrs.field(default=5.0, validator=attrs.validators.gt(0))
    """Seconds a delivery may take before it counts as failed."""

    def __attrs_post_init__(self) -> None:
        if self.type == "webhook" and not (self.url or "").startswith(("http://", "https://")):
            raise ValueError("a webhook channel needs url: http://HOST:PORT/PATH")
        if self.type == "nats":
            if not (self.url or "").startswith(("nats://", "tls://")):
                raise ValueError("a nats channel needs url: nats://HOST:PORT")
            if not self.subject:
                raise ValueError("a nats channel needs subject: e.g. alerts.dataflare")


def _check_rules(
    instance: AlertingSettings, attribute: attrs.Attribute[Any], rules: tuple[AlertRule, ...]
) -> None:
    known = {"log", *instance.channels}
    names: set[str] = set()
    for rule in rules:
        if rule.name in names:
            raise ValueError(f"two rules are named {rule.name!r}; rule names must be unique")
        names.add(rule.name)
        unknown = [channel for channel in rule.channels if channel not in known]
        if unknown:
            raise ValueError(
                f"rule {rule.name!r} names channel(s) {unknown} that are not defined; "
                f"define them under observability.alerting.channels (known: {sorted(known)})"
            )


@attrs.frozen
class AlertingSettings:
    """``observability.alerting``: rules, channels and how often rules are evaluated."""

    interval: float = attrs.field(default=15.0, validator=attrs.validators.gt(0))
    """Seconds between evaluations of every rule."""
    channels: Mapping[str, ChannelSettings] = attrs.field(factory=dict)
    """Named channels rules may notify, besides the built-in ``log``."""
    rules: tuple[AlertRule, ...] = attrs.field(default=(), validator=_check_rules)
    """The alert rules."""
