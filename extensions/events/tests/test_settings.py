"""Tests for the events: config section (dataflare.events._settings)."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from dataflare.events import EventsExtension, EventsSettings, RetryPolicy
from dataflare.kernel import KERNEL_SECTIONS, ConfigError, Kernel, load_config

SECTIONS = {**KERNEL_SECTIONS, "events": EventsSettings}


def _load(text: str) -> EventsSettings:
    settings: EventsSettings = load_config(text, sections=SECTIONS, source="app.yaml")["events"]
    return settings


def test_every_field_has_a_documented_default():
    """Without events: you get a file store, batch fsync, one worker and five attempts."""
    settings = _load("")
    assert settings == EventsSettings("file", None, "batch", 1, RetryPolicy())
    assert RetryPolicy().max_attempts == 5
    for field in attrs.fields(EventsSettings):
        assert field.default is not attrs.NOTHING


def test_a_full_section_is_structured():
    """Every key of the section lands in its field, retry included."""
    settings = _load(
        "events:\n"
        "  store: memory\n"
        "  path: /tmp/events\n"
        "  fsync: always\n"
        "  concurrency: 4\n"
        "  retry: {max_attempts: 2, initial_backoff: 1, multiplier: 3, max_backoff: 9}\n"
    )
    assert (settings.store, settings.path, settings.fsync, settings.concurrency) == (
        "memory",
        "/tmp/events",
        "always",
        4,
    )
    assert settings.retry == RetryPolicy(2, 1, 3, 9)


def test_the_directory_defaults_under_dataflare_home(monkeypatch, tmp_path):
    """Without path the store lives in $DATAFLARE_HOME/events; a path is used as given."""
    monkeypatch.setenv("DATAFLARE_HOME", str(tmp_path))
    assert EventsSettings().directory() == tmp_path / "events"
    assert EventsSettings(path="/srv/events").directory() == Path("/srv/events")


def test_every_mistake_in_the_section_is_reported_with_its_position():
    """A bad events: section lists each problem at its line and column, all at once."""
    text = (
        "events:\n"
        "  store: sqlite\n"
        "  fsync: sometimes\n"
        "  concurrency: 0\n"
        "  retry:\n"
        "    max_attempts: 1.5\n"
        "    initial_backof: 2\n"
        "    max_backoff: -1\n"
    )
    with pytest.raises(ConfigError) as caught:
        _load(text)
    found = {issue.path: issue for issue in caught.value.issues}
    assert set(found) == {
        "events.store",
        "events.fsync",
        "events.concurrency",
        "events.retry.max_attempts",
        "events.retry.initial_backof",
        "events.retry.max_backoff",
    }
    assert (found["events.store"].line, found["events.store"].column) == (2, 10)
    assert found["events.store"].expected == "one of: file, memory or jetstream"
    assert (found["events.concurrency"].line, found["events.concurrency"].column) == (4, 16)
    assert ">= 1" in found["events.concurrency"].message
    assert found["events.retry.initial_backof"].hint == "did you mean 'initial_backoff'?"
    assert found["events.retry.max_backoff"].line == 8
    assert all(issue.source == "app.yaml" for issue in caught.value.issues)


def test_a_blank_path_is_refused():
    """path: '' would put the store in the working directory by accident, so it is refused."""
    with pytest.raises(ConfigError, match="path must name a directory"):
        _load("events:\n  path: '  '\n")


@pytest.mark.parametrize(
    ("jetstream", "message"),
    [
        ({"servers": []}, "name one server at least"),
        ({"servers": ["http://127.0.0.1:4222"]}, "is not a NATS URL"),
        ({"stream": "my.events"}, "cannot name a stream"),
        ({"replicas": 7}, "replicas"),
    ],
)
def test_bad_jetstream_settings_are_refused_with_the_fix(tmp_path, jetstream, message):
    """The jetstream: subsection is checked like the rest, naming what to write instead."""
    path = tmp_path / "dataflare.yaml"
    body = ", ".join(f"{key}: {value}" for key, value in jetstream.items())
    path.write_text(f"events:\n  store: jetstream\n  jetstream: {{{body}}}\n")
    with pytest.raises(ConfigError, match=message):
        Kernel(path, plugins=[EventsExtension()], discover=False).load()
