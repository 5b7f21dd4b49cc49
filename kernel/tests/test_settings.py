"""Tests for the kernel's own config section, ``kernel:``."""

from __future__ import annotations

import attrs
import pytest

from dataflare.kernel._config import load_config
from dataflare.kernel._settings import (
    KERNEL_SECTIONS,
    BusSettings,
    ExtensionSettings,
    KernelSettings,
    LogFormat,
    LogLevel,
    LogSettings,
)
from dataflare.kernel.errors import ConfigError


def kernel_issues(text: str) -> list[tuple[str, str]]:
    """Load a `kernel:` section that must fail; return (path, message) per issue."""
    with pytest.raises(ConfigError) as caught:
        load_config(text, sections=KERNEL_SECTIONS)
    return [(issue.path, issue.message) for issue in caught.value.issues]


def test_the_defaults_are_the_documented_ones():
    """With nothing configured: all extensions, lenient, a 1024-event buffer, info logs."""
    settings = KernelSettings()
    assert settings.extensions == ExtensionSettings(allow=None, disable=(), strict=False)
    assert settings.bus == BusSettings(buffer_size=1024, shutdown_timeout=5.0)
    assert settings.log == LogSettings(level=LogLevel.INFO, format=LogFormat.AUTO)


def test_the_kernel_section_is_registered_under_kernel():
    """KERNEL_SECTIONS maps `kernel` to KernelSettings and cannot be changed."""
    assert dict(KERNEL_SECTIONS) == {"kernel": KernelSettings}
    with pytest.raises(TypeError):
        KERNEL_SECTIONS["other"] = KernelSettings  # type: ignore[index]


@pytest.mark.parametrize(
    ("bus", "path", "message"),
    [
        ("{buffer_size: 0}", "kernel.bus.buffer_size", "'buffer_size' must be >= 1: 0"),
        (
            "{shutdown_timeout: 0}",
            "kernel.bus.shutdown_timeout",
            "'shutdown_timeout' must be > 0: 0.0",
        ),
    ],
)
def test_bus_limits_are_validated(bus, path, message):
    """A buffer below 1 or a timeout that is not positive is refused with the validator's words."""
    assert kernel_issues(f"kernel:\n  bus: {bus}\n") == [(path, message)]


def test_both_bus_limits_are_reported_together():
    """Two failing validators in one section are both reported, not only the first."""
    assert [
        path
        for path, _ in kernel_issues("kernel:\n  bus: {buffer_size: 0, shutdown_timeout: -2}\n")
    ] == [
        "kernel.bus.buffer_size",
        "kernel.bus.shutdown_timeout",
    ]


def test_the_smallest_valid_bus_limits_are_accepted():
    """A one-event buffer and a tiny positive timeout are valid."""
    config = load_config(
        "kernel:\n  bus: {buffer_size: 1, shutdown_timeout: 0.001}\n", sections=KERNEL_SECTIONS
    )
    assert config.section("kernel", KernelSettings).bus == BusSettings(1, 0.001)


def test_validators_also_guard_direct_construction():
    """Building a BusSettings in code with a zero buffer fails the same way."""
    with pytest.raises(ValueError, match="'buffer_size' must be >= 1"):
        BusSettings(buffer_size=0)


@pytest.mark.parametrize("level", list(LogLevel))
def test_every_log_level_is_accepted_by_its_name(level):
    """Each level is written in lower case in the file and compares equal to that string."""
    config = load_config(f"kernel:\n  log: {{level: {level.value}}}\n", sections=KERNEL_SECTIONS)
    loaded = config.section("kernel", KernelSettings).log.level
    assert loaded is level
    assert loaded == level.value


def test_a_log_level_in_capitals_is_refused_with_a_suggestion():
    """`INFO` is not a level; the hint points to `info`."""
    with pytest.raises(ConfigError) as caught:
        load_config("kernel:\n  log: {level: INFO}\n", sections=KERNEL_SECTIONS)
    [issue] = caught.value.issues
    assert issue.message == "expected one of: debug, info, warning, error or critical, got 'INFO'"
    assert issue.hint == "did you mean 'info'?"


def test_an_allow_list_restricts_and_an_empty_one_allows_nothing():
    """`allow: [a]` becomes a tuple; `allow: []` is an empty tuple, not 'everything'."""
    allow_one = load_config("kernel:\n  extensions: {allow: [demo]}\n", sections=KERNEL_SECTIONS)
    allow_none = load_config("kernel:\n  extensions: {allow: []}\n", sections=KERNEL_SECTIONS)
    assert allow_one.section("kernel", KernelSettings).extensions.allow == ("demo",)
    assert allow_none.section("kernel", KernelSettings).extensions.allow == ()


def test_a_single_name_is_not_taken_as_a_list_of_letters():
    """`disable: demo` is refused rather than read as ('d', 'e', 'm', 'o')."""
    assert kernel_issues("kernel:\n  extensions: {disable: demo}\n") == [
        ("kernel.extensions.disable", "expected a list of strings, got 'demo'")
    ]


def test_every_settings_field_is_documented():
    """Each field of each settings class has a docstring under it in the source."""
    import inspect

    from dataflare.kernel import _settings

    source = inspect.getsource(_settings)
    for cls in (KernelSettings, ExtensionSettings, BusSettings, LogSettings):
        for field in attrs.fields(cls):
            declaration = source.index(f"    {field.name}: ", source.index(f"class {cls.__name__}"))
            following = source[declaration:].splitlines()[1].strip()
            assert following.startswith('"""'), f"{cls.__name__}.{field.name} has no docstring"
