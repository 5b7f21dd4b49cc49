"""Every error the kernel raises, in one tree.

Catch :class:`DataFlareError` to handle anything DataFlare raised; catch a narrower
class to handle one kind of failure. Each error carries the context a user needs to
act on it (the file and line, the extension, the topic, the byte offset) as
attributes, and its message says what went wrong and how to fix it.

::

    DataFlareError
    ├── ConfigError                  a config or pipeline file is wrong (CLI exit code 78)
    │   └── InterpolationError       a ${VAR} has no value and no default
    ├── ExtensionError               an extension could not be used
    │   ├── ExtensionLoadError       import, validation or startup failed
    │   ├── ExtensionConflictError   two extensions claim the same name
    │   └── UnknownComponentError    no extension registered that source/sink/... (also a KeyError)
    ├── BusError                     the event bus refused an operation
    │   ├── BusClosedError           publish or subscribe after shutdown
    │   ├── NoRespondersError        a request found no subscriber
    │   ├── RequestTimeoutError      a request got no reply in time (also a TimeoutError)
    │   ├── InvalidSubjectError      a subject or pattern is malformed (also a ValueError)
    │   └── BusSettingError          a bus setting is out of range (also a ValueError)
    ├── DataError                    data does not fit the data model (also a ValueError)
    │   ├── BatchFormatError         bytes are not a valid record batch
    │   └── EventValidationError     an event's fields are invalid
    ├── PluginError                  a WASM plugin could not be used
    │   ├── PluginVerificationError  its package failed verification (.reason says which check)
    │   │   └── PluginIncompatibleError  built for another ABI or DataFlare version
    │   ├── PluginLoadError          the module is invalid, lacks exports, or imports too much
    │   ├── TrustError               a signing key file or the trust store is unusable
    │   └── PluginRuntimeError       a call trapped, ran out of fuel or time, or returned bad output
    ├── KernelStateError             the kernel was used outside its lifecycle
    └── MessagingError               the message log (JetStream or in-memory) failed
        ├── ConnectionLostError      NATS cannot be reached, or reconnecting gave up
        ├── LogClosedError           a log, consumer or store used before open or after close
        ├── PublishError             a message was refused or not acknowledged in time
        ├── StreamNotFoundError      no stream by that name (also a LookupError)
        ├── RevisionConflictError    a KV create/update lost a race with another writer
        ├── MessagingTimeoutError    the server did not answer in time (also a TimeoutError)
        ├── MessagingValueError      a name, key or setting is not allowed (also a ValueError)
        └── NatsServerError          a local nats-server could not be found or started

Example::

    try:
        config = load_config(Path("pipeline.yaml"), sections=KERNEL_SECTIONS)
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue.location, issue.message)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from dataflare.kernel._suggest import did_you_mean

if TYPE_CHECKING:
    from dataflare.kernel._config_issues import ConfigIssue

__all__ = (
    "BatchFormatError",
    "BusClosedError",
    "BusError",
    "BusSettingError",
    "ConfigError",
    "ConnectionLostError",
    "DataError",
    "DataFlareError",
    "EventValidationError",
    "ExtensionConflictError",
    "ExtensionError",
    "ExtensionLoadError",
    "InterpolationError",
    "InvalidSubjectError",
    "KernelStateError",
    "LogClosedError",
    "MessagingError",
    "MessagingTimeoutError",
    "MessagingValueError",
    "NatsServerError",
    "NoRespondersError",
    "PluginError",
    "PluginIncompatibleError",
    "PluginLoadError",
    "PluginRuntimeError",
    "PluginVerificationError",
    "PublishError",
    "RequestTimeoutError",
    "RevisionConflictError",
    "StreamNotFoundError",
    "TrustError",
    "UnknownComponentError",
)


class DataFlareError(Exception):
    """The base of every error DataFlare raises on purpose."""


class ConfigError(DataFlareError):
    """Raised when a config or pipeline file is invalid.

    Every problem found in the file is in :attr:`issues`, not only the first one.
    """

    exit_code = 78  # EX_CONFIG from sysexits(3): what `dataflare validate` exits with

    def __init__(self, issues: Sequence[ConfigIssue], source: str = "<config>") -> None:
        self.issues = tuple(issues)
        self.source = source
        count = len(self.issues)
        lines = [f"{source}: {count} problem{'s' if count != 1 else ''} found"]
        lines += [f"  {issue.render()}" for issue in self.issues]
        super().__init__("\n".join(lines))


class InterpolationError(ConfigError):
    """Raised when a ``${VAR}`` in a config value is unset and has no ``:-default``."""


class ExtensionError(DataFlareError):
    """Raised when an extension cannot be used.

    Attributes:
        extension: The entry-point name of the extension.
        distribution: The distribution that provides it, when known.
        version: That distribution's version, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        extension: str,
        distribution: str | None = None,
        version: str | None = None,
    ) -> None:
        self.extension = extension
        self.distribution = distribution
        self.version = version
        super().__init__(message)


class ExtensionLoadError(ExtensionError):
    """Raised (or recorded) when an extension fails to import, validate or start."""


class ExtensionConflictError(ExtensionError):
    """Raised (or recorded) when two extensions are registered under one name."""


class UnknownComponentError(ExtensionError, KeyError):
    """Raised when a pipeline names a source, sink, operator or connector nobody registered.

    Attributes:
        kind: ``"source"``, ``"sink"``, ``"operator"`` or ``"connector"``.
        name: The name that was asked for.
        known: The names that are registered.
    """

    def __init__(self, kind: str, name: str, known: Sequence[str]) -> None:
        self.kind = kind
        self.name = name
        self.known = tuple(known)
        hint = did_you_mean(name, known)
        available = ", ".join(known) or "none"
        message = f"no {kind} called {name!r}"
        message += f" ({hint})" if hint else f"; available: {available}"
        message += ". An extension may need installing: `dataflare extensions` lists what loaded"
        super().__init__(message, extension=name)

    def __str__(self) -> str:
        # KeyError would wrap the message in quotes.
        return str(self.args[0])


class BusError(DataFlareError):
    """Raised when the event bus refuses an operation."""


class BusClosedError(BusError):
    """Raised when publishing or subscribing on a bus that is shutting down or closed."""


class NoRespondersError(BusError):
    """Raised when a request is published on a subject nobody subscribes to.

    Attributes:
        subject: The subject the request was sent to.
    """

    def __init__(self, subject: str) -> None:
        self.subject = subject
        super().__init__(
            f"no subscriber for request subject {subject!r}: start a responder "
            "with bus.subscribe() before sending requests to it"
        )


class RequestTimeoutError(BusError, TimeoutError):
    """Raised when a request gets no reply within its timeout.

    Attributes:
        subject: The subject the request was sent to.
        timeout: The timeout in seconds that expired.
    """

    def __init__(self, subject: str, timeout: float) -> None:
        self.subject = subject
        self.timeout = timeout
        super().__init__(
            f"no reply to request on {subject!r} within {timeout:g}s: the responder is "
            "slow or not replying; raise the timeout or check the responder"
        )


class InvalidSubjectError(BusError, ValueError):
    """Raised when a subject or a subscription pattern is malformed.

    Attributes:
        subject: The subject or pattern that was refused.
    """

    def __init__(self, subject: object, problem: str) -> None:
        self.subject = subject
        super().__init__(f"invalid subject {subject!r}: {problem}")


class BusSettingError(BusError, ValueError):
    """Raised when a bus setting (a buffer size, a timeout, a queue name) is out of range.

    Attributes:
        setting: The name of the argument that was refused.
        value: The value that was given.
    """

    def __init__(self, setting: str, value: object, problem: str) -> None:
        self.setting = setting
        self.value = value
        super().__init__(f"{setting}={value!r} is not allowed: {problem}")


class DataError(DataFlareError, ValueError):
    """Raised when data does not fit the data model."""


class BatchFormatError(DataError):
    """Raised when bytes are not a valid record batch.

    Attributes:
        offset: The byte offset where the problem was found, when known.
    """

    def __init__(self, message: str, *, offset: int | None = None) -> None:
        self.offset = offset
        where = f" at byte {offset}" if offset is not None else ""
        super().__init__(f"invalid record batch{where}: {message}")


class EventValidationError(DataError):
    """Raised when an event's fields are invalid; lists every bad field at once.

    Attributes:
        problems: ``(field path, message)`` pairs, one per bad field.
    """

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        self.problems = tuple(problems)
        detail = "; ".join(f"{path}: {message}" for path, message in self.problems)
        super().__init__(f"invalid event ({len(self.problems)} problem(s)): {detail}")


class PluginError(DataFlareError):
    """Raised when a WASM plugin cannot be used.

    Attributes:
        plugin: The plugin's name (``namespace/name``) or file, when known.
    """

    def __init__(self, message: str, *, plugin: str | None = None) -> None:
        self.plugin = plugin
        prefix = f"plugin {plugin}: " if plugin else ""
        super().__init__(f"{prefix}{message}")


class PluginVerificationError(PluginError):
    """Raised when a plugin package fails verification; it never runs.

    Attributes:
        reason: Which check failed: ``unsigned``, ``bad-signature``,
            ``hash-mismatch``, ``unknown-key``, ``revoked-key``, ``expired-key``,
            ``incompatible-host``, ``incompatible-abi``, ``unexpected-file``,
            ``missing-file``, ``malformed``, or ``refused`` (by an extension).
    """

    def __init__(self, reason: str, message: str, *, plugin: str | None = None) -> None:
        self.reason = reason
        super().__init__(message, plugin=plugin)


class PluginIncompatibleError(PluginVerificationError):
    """Raised when a plugin was built for another ABI version or DataFlare version."""


class PluginLoadError(PluginError):
    """Raised when a verified module cannot be instantiated: invalid, missing exports,
    imports the manifest does not grant, or a failing ``df_init``."""


class TrustError(PluginError):
    """Raised when a signing key file or the trust store is unusable: missing,
    damaged, hand-edited, or readable or writable by other users."""


class PluginRuntimeError(PluginError):
    """Raised (or recorded in a dead letter) when a plugin call fails.

    Attributes:
        failure: ``out-of-fuel``, ``deadline``, ``stack-overflow``, ``trap``,
            ``memory``, ``bad-status`` or ``bad-output``.
        record_index: The input record that failed, when isolated.
    """

    def __init__(
        self,
        failure: str,
        message: str,
        *,
        plugin: str | None = None,
        record_index: int | None = None,
    ) -> None:
        self.failure = failure
        self.record_index = record_index
        where = f" on record {record_index}" if record_index is not None else ""
        super().__init__(f"{failure}{where}: {message}", plugin=plugin)


class KernelStateError(DataFlareError):
    """Raised when the kernel is used outside its lifecycle (for example before start)."""


class MessagingError(DataFlareError):
    """Raised when the message log (JetStream, or its in-memory stand-in) fails an operation."""


class ConnectionLostError(MessagingError):
    """Raised when NATS cannot be reached: at connect, or once reconnecting gave up.

    Attributes:
        servers: The server URLs that were tried.
    """

    def __init__(self, servers: Sequence[str], reason: str) -> None:
        self.servers = tuple(servers)
        super().__init__(
            f"cannot reach NATS at {', '.join(self.servers)}: is the server running? "
            f"`dataflare dev up` starts one ({reason})"
        )


class LogClosedError(MessagingError):
    """Raised when a message log, consumer or store is used before it is open or after close."""


class PublishError(MessagingError):
    """Raised when a message was refused, or not acknowledged within the publish time budget.

    Attributes:
        subject: The subject it was published to.
        msg_id: Its ``Nats-Msg-Id``; publishing again with it is safe in the duplicate window.
        outcome_unknown: ``True`` when no answer came in time, so it may be stored;
            ``False`` when it was refused and is not stored.
    """

    def __init__(
        self, subject: str, msg_id: str | None, reason: str, *, outcome_unknown: bool
    ) -> None:
        self.subject = subject
        self.msg_id = msg_id
        self.outcome_unknown = outcome_unknown
        super().__init__(f"message to {subject!r} (msg id {msg_id}): {reason}")


class StreamNotFoundError(MessagingError, LookupError):
    """Raised when no stream has the given name.

    Attributes:
        stream: The name that was asked for.
    """

    def __init__(self, stream: str) -> None:
        self.stream = stream
        super().__init__(
            f"no stream called {stream!r}: create it first with "
            f"ensure_stream(StreamConfig(name={stream!r}, subjects=[...]))"
        )


class RevisionConflictError(MessagingError):
    """Raised when a KV ``create`` finds the key present, or ``update`` finds a newer revision.

    Attributes:
        key: The key written.
        expected: The revision the writer expected (0: the key must not exist).
    """

    def __init__(self, key: str, expected: int) -> None:
        self.key = key
        self.expected = expected
        problem = "exists" if expected == 0 else f"is no longer at revision {expected}"
        super().__init__(
            f"key {key!r} {problem}: another writer got there first; read it again and retry"
        )


class MessagingTimeoutError(MessagingError, TimeoutError):
    """Raised when the server does not answer a request in time.

    Attributes:
        operation: What was asked (``"stream info for 'ORDERS'"``).
        timeout: The seconds waited.
    """

    def __init__(self, operation: str, timeout: float, hint: str) -> None:
        self.operation = operation
        self.timeout = timeout
        super().__init__(f"no answer to {operation} within {timeout:g}s: {hint}")


class MessagingValueError(MessagingError, ValueError):
    """Raised when a stream, consumer or bucket name, a key, or a setting is not allowed.

    Attributes:
        setting: What was refused (``"ConsumerConfig.max_deliver"``).
        value: The value that was given.
    """

    def __init__(self, setting: str, value: object, problem: str) -> None:
        self.setting = setting
        self.value = value
        super().__init__(f"{setting}={value!r} is not allowed: {problem}")


class NatsServerError(MessagingError):
    """Raised when a local ``nats-server`` cannot be found, started, or become ready.

    Attributes:
        log: The end of the server's log, when it wrote one.
    """

    def __init__(self, message: str, *, log: str = "") -> None:
        self.log = log
        super().__init__(f"{message}\n{log}" if log else message)
