"""The kernel's own section of a config file, ``kernel:``.

Every field has a default, so an empty file (or no ``kernel:`` section) is valid::

    kernel:
      extensions:
        allow: [demo, events]   # only these extensions load; absent: all installed
        disable: []             # these never load
        strict: false           # a failing extension stops the kernel instead of being skipped
      bus:
        buffer_size: 1024       # events a subscriber may fall behind by
        shutdown_timeout: 5.0   # seconds to drain in-flight events on shutdown
      log:
        level: info             # debug, info, warning, error or critical
        format: auto            # auto, json or console
      plugins:
        trust_store: null       # publisher keys; default $DATAFLARE_HOME/trust.json
        cache_dir: null         # compiled modules; default $DATAFLARE_HOME/cache/wasm
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

import attrs

__all__ = (
    "KERNEL_SECTIONS",
    "BusSettings",
    "ExtensionSettings",
    "KernelSettings",
    "LogFormat",
    "LogLevel",
    "LogSettings",
    "PluginSettings",
)


class LogLevel(enum.StrEnum):
    """The least severe log record that is written."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


class LogFormat(enum.StrEnum):
    """How log records are written to stderr."""

    AUTO = "auto"
    """JSON when stderr is not a terminal, console lines when it is."""
    JSON = "json"
    """One JSON object per line, for log collectors."""
    CONSOLE = "console"
    """A readable line per record, for people."""


@attrs.frozen
class ExtensionSettings:
    """Which installed extensions load, and what a failing one does (``kernel.extensions``)."""

    allow: tuple[str, ...] | None = None
    """Names of the only extensions to load; ``None`` (absent) loads every installed one."""

    disable: tuple[str, ...] = ()
    """Names of extensions never to load, even when allowed."""

    strict: bool = False
    """Make a failing extension fatal instead of reporting and skipping it."""


@attrs.frozen
class BusSettings:
    """The in-process event bus (``kernel.bus``)."""

    buffer_size: int = attrs.field(default=1024, validator=attrs.validators.ge(1))
    """How many events each subscriber may fall behind by before publishers wait."""

    shutdown_timeout: float = attrs.field(default=5.0, validator=attrs.validators.gt(0))
    """Seconds to let in-flight events drain on shutdown before cancelling handlers."""


@attrs.frozen
class LogSettings:
    """The kernel's logging (``kernel.log``)."""

    level: LogLevel = LogLevel.INFO
    """The least severe record written."""

    format: LogFormat = LogFormat.AUTO
    """How records are written to stderr."""


@attrs.frozen
class PluginSettings:
    """Where WASM plugin trust and compiled code live (``kernel.plugins``)."""

    trust_store: str | None = None
    """The trust store of publisher keys; ``$DATAFLARE_HOME/trust.json`` when unset."""

    cache_dir: str | None = None
    """Where compiled modules are cached; ``$DATAFLARE_HOME/cache/wasm`` when unset."""


@attrs.frozen
class KernelSettings:
    """The ``kernel:`` section of a config file."""

    extensions: ExtensionSettings = attrs.field(factory=ExtensionSettings)
    """Which extensions load."""

    bus: BusSettings = attrs.field(factory=BusSettings)
    """The event bus."""

    log: LogSettings = attrs.field(factory=LogSettings)
    """Logging."""

    plugins: PluginSettings = attrs.field(factory=PluginSettings)
    """WASM plugins: the trust store and the compile cache."""


#: The sections the kernel itself registers; extensions add theirs through a hook.
KERNEL_SECTIONS: Mapping[str, type] = MappingProxyType({"kernel": KernelSettings})
