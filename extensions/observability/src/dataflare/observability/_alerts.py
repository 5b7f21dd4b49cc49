"""Alert rules evaluated over time: pending, firing, suppressed repeats, escalation, resolution.

The manager is a pure state machine over an injected clock: :meth:`AlertManager.evaluate`
takes each rule's current value and returns the notifications due now. Sending
them is the caller's business (:mod:`dataflare.observability._notify`), and so is
the schedule, so tests step time instead of sleeping.

A rule whose condition holds becomes *pending*; after ``for_duration`` it *fires*
(notify). While it keeps firing, a repeat is held back for ``suppress`` seconds
(recorded as *suppressed*), then sent again (*repeat*); every ``escalate_after``
seconds unresolved it goes one level up and notifies at once (*escalated*). When
the condition stops holding it is *resolved* (notify).

Example::

    manager = AlertManager(rules, clock=lambda: now)
    for notification in manager.evaluate(lambda rule: current_value(rule.metric)):
        send(notification)
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Literal

import attrs

from dataflare.observability._alert_settings import AlertLevel, AlertRule

__all__ = ("AlertManager", "AlertState", "HistoryEntry", "Notification")

Phase = Literal["inactive", "pending", "firing"]
NotificationKind = Literal["firing", "repeat", "escalated", "resolved"]
HistoryKind = Literal[
    "pending", "firing", "repeat", "suppressed", "escalated", "resolved", "cleared"
]


@attrs.frozen
class Notification:
    """One message due to a rule's channels."""

    rule: AlertRule
    """The rule it is about."""
    kind: NotificationKind
    """``firing``, ``repeat`` (after suppression), ``escalated`` or ``resolved``."""
    level: AlertLevel
    """The alert's level now (raised by escalation)."""
    value: float | None
    """The metric's value at evaluation."""
    at: float
    """The clock's time of evaluation."""

    def to_dict(self) -> dict[str, object]:
        """The JSON body webhooks and NATS subscribers receive."""
        return {
            "rule": self.rule.name,
            "status": self.kind,
            "level": self.level.value,
            "description": self.rule.description,
            "metric": self.rule.metric,
            "labels": dict(self.rule.labels),
            "condition": self.rule.condition,
            "value": self.value,
            "at": self.at,
        }


@attrs.frozen
class HistoryEntry:
    """Something that happened to a rule, notified or not."""

    rule: str
    """The rule's name."""
    kind: HistoryKind
    """What happened."""
    level: AlertLevel
    """The level at the time."""
    value: float | None
    """The metric's value."""
    at: float
    """The clock's time."""


@attrs.define
class AlertState:
    """Where one rule stands."""

    phase: Phase = "inactive"
    """``inactive``, ``pending`` (holding, not yet for long enough) or ``firing``."""
    since: float = 0.0
    """When the condition started holding."""
    fired_at: float = 0.0
    """When it last started firing."""
    notified_at: float = 0.0
    """When a notification was last sent."""
    level: AlertLevel = AlertLevel.INFO
    """The current level while firing."""
    escalations: int = 0
    """Escalations since it started firing."""


class AlertManager:
    """Evaluates rules against values and decides what to notify.

    Args:
        rules: The rules.
        clock: Seconds, any epoch; ``time.time`` by default.
        history_size: How many history entries are kept (oldest dropped first).
    """

    def __init__(
        self,
        rules: Iterable[AlertRule],
        *,
        clock: Callable[[], float] = time.time,
        history_size: int = 1000,
    ) -> None:
        self.rules = tuple(rules)
        self._clock = clock
        self._states = {rule.name: AlertState() for rule in self.rules}
        self.history: deque[HistoryEntry] = deque(maxlen=history_size)

    def state(self, rule: str) -> AlertState:
        """The state of the rule named ``rule``."""
        return self._states[rule]

    def firing(self) -> dict[str, AlertLevel]:
        """The rules firing now, with their levels."""
        return {name: s.level for name, s in self._states.items() if s.phase == "firing"}

    def evaluate(self, value_of: Callable[[AlertRule], float | None]) -> list[Notification]:
        """Evaluate every rule once, now.

        Args:
            value_of: The current value of a rule's metric; ``None`` when it has no
                series (the condition then does not hold).

        Returns:
            The notifications due, in rule order.
        """
        now = self._clock()
        due: list[Notification] = []
        for rule in self.rules:
            value = value_of(rule)
            holds = value is not None and rule.parsed_condition.holds(value)
            kind = self._step(rule, self._states[rule.name], holds, value, now)
            if kind is not None:
                due.append(Notification(rule, kind, self._states[rule.name].level, value, now))
        return due

    def _step(
        self, rule: AlertRule, state: AlertState, holds: bool, value: float | None, now: float
    ) -> NotificationKind | None:
        if not holds:
            if state.phase == "firing":
                self._record(rule, "resolved", state.level, value, now)
                state.phase = "inactive"
                return "resolved"
            if state.phase == "pending":
                self._record(rule, "cleared", rule.level, value, now)
                state.phase = "inactive"
            return None
        if state.phase == "inactive":
            state.phase, state.since = "pending", now
            self._record(rule, "pending", rule.level, value, now)
        if state.phase == "pending":
            if now - state.since < rule.for_duration:
                return None
            state.phase, state.fired_at, state.notified_at = "firing", now, now
            state.level, state.escalations = rule.level, 0
            self._record(rule, "firing", state.level, value, now)
            return "firing"
        return self._while_firing(rule, state, value, now)

    def _while_firing(
        self, rule: AlertRule, state: AlertState, value: float | None, now: float
    ) -> NotificationKind | None:
        due_escalation = (
            rule.escalate_after is not None
            and state.level < AlertLevel.EMERGENCY
            and now - state.fired_at >= rule.escalate_after * (state.escalations + 1)
        )
        if due_escalation:
            # An escalation is news, so it is never held back by suppression.
            state.escalations += 1
            state.level = state.level.escalated()
            state.notified_at = now
            self._record(rule, "escalated", state.level, value, now)
            return "escalated"
        if now - state.notified_at < rule.suppress:
            self._record(rule, "suppressed", state.level, value, now)
            return None
        state.notified_at = now
        self._record(rule, "repeat", state.level, value, now)
        return "repeat"

    def _record(
        self, rule: AlertRule, kind: HistoryKind, level: AlertLevel, value: float | None, at: float
    ) -> None:
        self.history.append(HistoryEntry(rule.name, kind, level, value, at))
