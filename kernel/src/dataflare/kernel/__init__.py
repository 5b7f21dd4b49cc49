"""DataFlare's kernel: the hook contract, extensions, the event bus, records and config.

Example::

    import anyio
    from dataflare.kernel import Kernel

    async def main():
        async with Kernel("dataflare.yaml") as kernel:
            await kernel.bus.publish("orders.created", b"{}")

    anyio.run(main)
"""

from __future__ import annotations

from dataflare.kernel._batch import RecordBatch
from dataflare.kernel._builder import RecordBatchBuilder
from dataflare.kernel._bus import (
    BusStatistics,
    EventBus,
    Message,
    ShutdownReport,
    Subscription,
    SubscriptionStatistics,
)
from dataflare.kernel._config import Config, load_config, validate_file
from dataflare.kernel._config_issues import ConfigIssue
from dataflare.kernel._convert import make_converter
from dataflare.kernel._event import Event
from dataflare.kernel._extensions import (
    ENTRY_POINT_GROUP,
    ExtensionInfo,
    ExtensionSelection,
    ExtensionStatus,
)
from dataflare.kernel._kernel import Kernel
from dataflare.kernel._logging import configure_logging
from dataflare.kernel._markers import hookimpl
from dataflare.kernel._metrics import MetricSample
from dataflare.kernel._record import Record
from dataflare.kernel._registry import Component, ComponentRegistry, Registrar
from dataflare.kernel._settings import (
    KERNEL_SECTIONS,
    BusSettings,
    ExtensionSettings,
    KernelSettings,
    LogFormat,
    LogLevel,
    LogSettings,
)
from dataflare.kernel._subjects import subject_matches, validate_pattern, validate_subject
from dataflare.kernel.errors import (
    BatchFormatError,
    BusClosedError,
    BusError,
    BusSettingError,
    ConfigError,
    DataError,
    DataFlareError,
    EventValidationError,
    ExtensionConflictError,
    ExtensionError,
    ExtensionLoadError,
    InterpolationError,
    InvalidSubjectError,
    KernelStateError,
    NoRespondersError,
    RequestTimeoutError,
    UnknownComponentError,
)

__all__ = (
    "ENTRY_POINT_GROUP",
    "KERNEL_SECTIONS",
    "BatchFormatError",
    "BusClosedError",
    "BusError",
    "BusSettingError",
    "BusSettings",
    "BusStatistics",
    "Component",
    "ComponentRegistry",
    "Config",
    "ConfigError",
    "ConfigIssue",
    "DataError",
    "DataFlareError",
    "Event",
    "EventBus",
    "EventValidationError",
    "ExtensionConflictError",
    "ExtensionError",
    "ExtensionInfo",
    "ExtensionLoadError",
    "ExtensionSelection",
    "ExtensionSettings",
    "ExtensionStatus",
    "InterpolationError",
    "InvalidSubjectError",
    "Kernel",
    "KernelSettings",
    "KernelStateError",
    "LogFormat",
    "LogLevel",
    "LogSettings",
    "Message",
    "MetricSample",
    "NoRespondersError",
    "Record",
    "RecordBatch",
    "RecordBatchBuilder",
    "Registrar",
    "RequestTimeoutError",
    "ShutdownReport",
    "Subscription",
    "SubscriptionStatistics",
    "UnknownComponentError",
    "configure_logging",
    "hookimpl",
    "load_config",
    "make_converter",
    "subject_matches",
    "validate_file",
    "validate_pattern",
    "validate_subject",
)

__version__: str


def __getattr__(name: str) -> str:
    # Read lazily from the installed metadata so the version is written in one place.
    if name == "__version__":
        from importlib.metadata import version

        return version("dataflare-kernel")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
