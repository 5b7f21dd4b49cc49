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
from dataflare.kernel._keyfiles import load_private, load_public, save_private, save_public
from dataflare.kernel._logging import configure_logging
from dataflare.kernel._manifest import FileDigest, PluginLimits, PluginManifest
from dataflare.kernel._markers import hookimpl
from dataflare.kernel._metrics import MetricSample
from dataflare.kernel._package import PluginPackage, read_package, sign_package, write_package
from dataflare.kernel._plugins import host_version, load_plugin
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
    PluginSettings,
)
from dataflare.kernel._signing import PublisherKey, SigningIdentity, generate_keypair
from dataflare.kernel._subjects import subject_matches, validate_pattern, validate_subject
from dataflare.kernel._trust import TrustStore
from dataflare.kernel._trust_file import KeyStatus, TrustedKey, default_home
from dataflare.kernel._verify import VerifiedPlugin, verify_package
from dataflare.kernel._wasm_engine import WasmEngine
from dataflare.kernel._wasm_limits import HostLimits
from dataflare.kernel._wasm_outcome import BatchResult, DeadLetter
from dataflare.kernel._wasm_plugin import WasmPlugin
from dataflare.kernel.errors import (
    BatchFormatError,
    BusClosedError,
    BusError,
    BusSettingError,
    ConfigError,
    ConnectionLostError,
    DataError,
    DataFlareError,
    EventValidationError,
    ExtensionConflictError,
    ExtensionError,
    ExtensionLoadError,
    InterpolationError,
    InvalidSubjectError,
    KernelStateError,
    LogClosedError,
    MessagingError,
    MessagingTimeoutError,
    MessagingValueError,
    NatsServerError,
    NoRespondersError,
    PluginError,
    PluginIncompatibleError,
    PluginLoadError,
    PluginRuntimeError,
    PluginVerificationError,
    PublishError,
    RequestTimeoutError,
    RevisionConflictError,
    StreamNotFoundError,
    TrustError,
    UnknownComponentError,
)

__all__ = (
    "ENTRY_POINT_GROUP",
    "KERNEL_SECTIONS",
    "BatchFormatError",
    "BatchResult",
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
    "ConnectionLostError",
    "DataError",
    "DataFlareError",
    "DeadLetter",
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
    "FileDigest",
    "HostLimits",
    "InterpolationError",
    "InvalidSubjectError",
    "Kernel",
    "KernelSettings",
    "KernelStateError",
    "KeyStatus",
    "LogClosedError",
    "LogFormat",
    "LogLevel",
    "LogSettings",
    "Message",
    "MessagingError",
    "MessagingTimeoutError",
    "MessagingValueError",
    "MetricSample",
    "NatsServerError",
    "NoRespondersError",
    "PluginError",
    "PluginIncompatibleError",
    "PluginLimits",
    "PluginLoadError",
    "PluginManifest",
    "PluginPackage",
    "PluginRuntimeError",
    "PluginSettings",
    "PluginVerificationError",
    "PublishError",
    "PublisherKey",
    "Record",
    "RecordBatch",
    "RecordBatchBuilder",
    "Registrar",
    "RequestTimeoutError",
    "RevisionConflictError",
    "ShutdownReport",
    "SigningIdentity",
    "StreamNotFoundError",
    "Subscription",
    "SubscriptionStatistics",
    "TrustError",
    "TrustStore",
    "TrustedKey",
    "UnknownComponentError",
    "VerifiedPlugin",
    "WasmEngine",
    "WasmPlugin",
    "configure_logging",
    "default_home",
    "generate_keypair",
    "hookimpl",
    "host_version",
    "load_config",
    "load_plugin",
    "load_private",
    "load_public",
    "make_converter",
    "read_package",
    "save_private",
    "save_public",
    "sign_package",
    "subject_matches",
    "validate_file",
    "validate_pattern",
    "validate_subject",
    "verify_package",
    "write_package",
)

__version__: str


def __getattr__(name: str) -> str:
    # Read lazily from the installed metadata so the version is written in one place.
    if name == "__version__":
        from importlib.metadata import version

        return version("dataflare-kernel")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
