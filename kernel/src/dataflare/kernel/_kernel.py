"""The kernel: loads extensions, validates config, runs the bus, drives the lifecycle.

It runs inside whatever event loop the host already has (asyncio or trio, through
anyio) and can be given extensions in process, so embedding needs no entry points::

    async with Kernel("dataflare.yaml", plugins=[MyExtension()]) as kernel:
        await kernel.bus.publish("orders.created", event)
"""

from __future__ import annotations

import inspect
import io
import logging
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
import attrs
import pluggy
from anyio.abc import TaskGroup
from ruamel.yaml import YAML

from dataflare.kernel import hookspecs
from dataflare.kernel._bus import EventBus, Message, ShutdownReport, Subscription
from dataflare.kernel._config import Config, load_config
from dataflare.kernel._extensions import (
    ExtensionInfo,
    ExtensionSelection,
    ExtensionStatus,
    check_unknown_hooks,
    load_entry_points,
    register_extension,
    report_failure,
)
from dataflare.kernel._metrics import MetricSample
from dataflare.kernel._plugins import load_plugin
from dataflare.kernel._registry import ComponentRegistry
from dataflare.kernel._settings import KernelSettings
from dataflare.kernel._trust import TrustStore
from dataflare.kernel._wasm_engine import WasmEngine
from dataflare.kernel._wasm_plugin import WasmPlugin
from dataflare.kernel.errors import (
    ConfigError,
    ExtensionConflictError,
    ExtensionLoadError,
    KernelStateError,
)

__all__ = ("ConfigSource", "Kernel")

log = logging.getLogger("dataflare.kernel")

#: What :class:`Kernel` accepts as config: a file path, a plain mapping, or a loaded config.
ConfigSource = Config | str | os.PathLike[str] | Mapping[str, Any] | None

Handler = Callable[[Message], Awaitable[None]]


@attrs.frozen
class _HandlerSpec:
    extension: str
    pattern: str
    handler: Handler
    queue: str | None


class Kernel:
    """The DataFlare kernel.

    Use it as an async context manager; it starts on enter and drains on exit.

    Args:
        config: A config file path, a mapping shaped like one, a loaded
            :class:`Config`, or ``None`` for every default.
        plugins: Extensions to register in process, before any from entry
            points. Each is a module or object with hook implementations, or a
            ``(name, object)`` pair to choose its name.
        discover: Load extensions from the ``dataflare.extensions`` entry points.
        environ: Environment for ``DATAFLARE_*`` switches and ``${VAR}``
            interpolation; the process environment when ``None``.
        on_undelivered: Called at shutdown for every bus message no subscriber
            took in time, so a host can persist it.
    """

    def __init__(
        self,
        config: ConfigSource = None,
        *,
        plugins: Sequence[object | tuple[str, object]] = (),
        discover: bool = True,
        environ: Mapping[str, str] | None = None,
        on_undelivered: Callable[[Message], Awaitable[None] | None] | None = None,
    ) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.sources = ComponentRegistry("source")
        self.sinks = ComponentRegistry("sink")
        self.operators = ComponentRegistry("operator")
        self.connectors = ComponentRegistry("connector")
        self.metric_collectors: list[Callable[[], Any]] = []
        self.extensions: list[ExtensionInfo] = []
        self.shutdown_report: ShutdownReport | None = None
        self._config_source = config
        self._plugins = list(plugins)
        self._discover = discover
        self._environ = os.environ if environ is None else environ
        self._on_undelivered = on_undelivered
        self._config: Config | None = None
        self._handlers: list[_HandlerSpec] = []
        self._bus: EventBus | None = None
        self._started: list[str] = []
        self._stack: AsyncExitStack | None = None
        self._loaded = False
        self._engine: WasmEngine | None = None
        self._selection = ExtensionSelection()
        self._reported: set[tuple[str, str | None]] = set()

    # --- loading ----------------------------------------------------------------------

    @property
    def config(self) -> Config:
        """The validated config (loads extensions on first use)."""
        self.load()
        assert self._config is not None
        return self._config

    @property
    def settings(self) -> KernelSettings:
        """The kernel's own section of the config."""
        settings: KernelSettings = self.config.section("kernel")
        return settings

    @property
    def bus(self) -> EventBus:
        """The event bus; exists while the kernel runs."""
        if self._bus is None:
            raise KernelStateError(
                "the event bus exists only while the kernel runs: use "
                "'async with Kernel(...) as kernel:' before touching kernel.bus"
            )
        return self._bus

    def load(self) -> None:
        """Load extensions, validate the config and collect contributions. Idempotent.

        ``dataflare validate`` and ``dataflare extensions`` stop here; starting
        the kernel calls it for you.

        Raises:
            ConfigError: The config is invalid (every problem listed).
            ExtensionLoadError: An extension failed and strict mode is on.
        """
        if self._loaded:
            return
        # Which extensions load is itself config, read before their sections are known.
        try:
            early = self._load_config({"kernel": KernelSettings}, ignore_unknown_sections=True)
        except ConfigError:
            # The full load below reports this together with every other problem.
            selection = ExtensionSelection.resolve(environ=self._environ)
        else:
            ext = early.section("kernel").extensions
            selection = ExtensionSelection.resolve(
                allow=ext.allow, disable=ext.disable, strict=ext.strict, environ=self._environ
            )
        self._selection = selection
        self._register_in_process(selection)
        if self._discover:
            self.extensions += load_entry_points(self.pm, selection)
        # Extensions may add hooks for each other, so unknown hooks are judged after that.
        self.pm.hook.dataflare_add_hookspecs.call_historic(kwargs={"pluginmanager": self.pm})
        self.extensions = check_unknown_hooks(self.pm, self.extensions)
        self._settle()
        self._config = self._load_config(self._collect_sections())
        self._call_each("dataflare_configure", kernel=self, config=self._config.sections)
        self._collect_contributions()
        self._loaded = True

    def _load_config(self, sections: Mapping[str, type], **options: Any) -> Config:
        source = self._config_source
        if isinstance(source, Config):
            return source
        if source is None:
            return load_config(
                "", sections=sections, source="<defaults>", env=self._environ, **options
            )
        if isinstance(source, Mapping):
            return load_config(
                _to_yaml(source),
                sections=sections,
                source="<mapping>",
                env=self._environ,
                **options,
            )
        path = Path(source)
        return load_config(path, sections=sections, env=self._environ, **options)

    def _register_in_process(self, selection: ExtensionSelection) -> None:
        for entry in self._plugins:
            name, obj = entry if isinstance(entry, tuple) else (_plugin_name(entry), entry)
            info = ExtensionInfo(
                name, ExtensionStatus.LOADED, origin="in process", target=repr(obj)
            )
            if not selection.permits(name):
                self.extensions.append(attrs.evolve(info, status=ExtensionStatus.DISABLED))
                continue
            self.extensions.append(register_extension(self.pm, name, obj, info))

    def _settle(self) -> None:
        """Report each extension that did not load, once; in strict mode, raise instead."""
        for info in self.extensions:
            if info.status not in (ExtensionStatus.FAILED, ExtensionStatus.CONFLICT):
                continue
            if self._selection.strict:
                error = (
                    ExtensionConflictError
                    if info.status is ExtensionStatus.CONFLICT
                    else ExtensionLoadError
                )
                raise error(
                    f"extension {info.name!r} {info.status.value} at {info.stage or 'load'}: "
                    f"{info.error} (strict mode is on: unset DATAFLARE_STRICT_EXTENSIONS and "
                    "kernel.extensions.strict to skip it instead)",
                    extension=info.name,
                    distribution=info.distribution,
                    version=info.version,
                )
            if (info.name, info.stage) not in self._reported:
                self._reported.add((info.name, info.stage))
                report_failure(info)

    def _collect_sections(self) -> dict[str, type]:
        sections: dict[str, type] = {"kernel": KernelSettings}

        def register(name: str, settings_class: type) -> None:
            if name in sections:
                raise ExtensionConflictError(
                    f"config section {name!r} is registered twice", extension=name
                )
            sections[name] = settings_class

        self._call_each("dataflare_config_sections", register=register)
        return sections

    def _collect_contributions(self) -> None:
        for hook, registry in (
            ("dataflare_sources", self.sources),
            ("dataflare_sinks", self.sinks),
            ("dataflare_operators", self.operators),
            ("dataflare_connectors", self.connectors),
        ):
            self._call_each(hook, per_extension={"register": registry.registrar})

        def handlers_for(extension: str) -> Callable[..., None]:
            def register(pattern: str, handler: Handler, *, queue: str | None = None) -> None:
                self._handlers.append(_HandlerSpec(extension, pattern, handler, queue))

            return register

        def collectors_for(extension: str) -> Callable[[Callable[[], Any]], None]:
            return self.metric_collectors.append

        self._call_each("dataflare_event_handlers", per_extension={"register": handlers_for})
        self._call_each("dataflare_metrics", per_extension={"register": collectors_for})

    # --- calling hooks one extension at a time ----------------------------------------

    def _impls(self, hook: str, *, reverse: bool = False) -> list[pluggy.HookImpl]:
        # Registration order, so the first extension registered wins a name clash and
        # starts first; pluggy itself calls newest first. tryfirst/trylast still apply.
        impls = getattr(self.pm.hook, hook).get_hookimpls()
        first = [impl for impl in impls if impl.tryfirst]
        last = [impl for impl in impls if impl.trylast]
        middle = [impl for impl in impls if not (impl.tryfirst or impl.trylast)]
        ordered = first + middle + last
        return ordered[::-1] if reverse else ordered

    def _call_each(
        self,
        hook: str,
        per_extension: Mapping[str, Callable[[str], Any]] | None = None,
        **kwargs: Any,
    ) -> list[tuple[str, Any]]:
        """Call ``hook`` on each extension separately; a failure unloads only that one.

        Args:
            hook: The hook's name.
            per_extension: Arguments built for each extension from its name, so
                what it registers is attributed to it.
            **kwargs: Arguments shared by every call.
        """
        results: list[tuple[str, Any]] = []
        for impl in self._impls(hook):
            built = {key: make(impl.plugin_name) for key, make in (per_extension or {}).items()}
            args = _arguments(impl, {**kwargs, **built})
            try:
                results.append((impl.plugin_name, impl.function(**args)))
            except Exception as exc:  # noqa: BLE001 -- an extension's hook may raise anything
                self._unload(impl.plugin_name, hook, exc)
        return results

    async def _acall_each(
        self, hook: str, names: Sequence[str] | None = None, **kwargs: Any
    ) -> list[str]:
        succeeded = []
        for impl in self._impls(hook, reverse=hook == "dataflare_shutdown"):
            if names is not None and impl.plugin_name not in names:
                continue
            try:
                result = impl.function(**_arguments(impl, kwargs))
                if inspect.isawaitable(result):
                    await result
                succeeded.append(impl.plugin_name)
            except Exception as exc:
                if hook == "dataflare_shutdown":
                    log.error(
                        "extension %s failed to shut down: %s",
                        impl.plugin_name,
                        exc,
                        extra={"extension": impl.plugin_name, "hook": hook},
                        exc_info=exc,
                    )
                else:
                    self._unload(impl.plugin_name, hook, exc)
        return succeeded

    def _unload(self, name: str, hook: str, exc: BaseException) -> None:
        stage = hook.removeprefix("dataflare_")
        self.extensions = [
            info.failed(stage, f"{type(exc).__name__}: {exc}") if info.name == name else info
            for info in self.extensions
        ]
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin)
        for registry in (self.sources, self.sinks, self.operators, self.connectors):
            registry.remove_extension(name)
        self._handlers = [h for h in self._handlers if h.extension != name]
        self._settle()

    # --- running ----------------------------------------------------------------------

    async def start(self) -> None:
        """Load, start the bus and event handlers, then call ``dataflare_startup``.

        Raises:
            KernelStateError: The kernel is already running.
        """
        if self._stack is not None:
            raise KernelStateError(
                "the kernel is already running; stop it before starting it again"
            )
        self.load()
        bus_settings = self.settings.bus
        stack = AsyncExitStack()
        self._bus = await stack.enter_async_context(
            EventBus(
                buffer_size=bus_settings.buffer_size, shutdown_timeout=bus_settings.shutdown_timeout
            )
        )
        task_group = await stack.enter_async_context(anyio.create_task_group())
        self._stack = stack
        self._start_handlers(task_group)
        self._started = await self._acall_each("dataflare_startup", kernel=self)
        log.info(
            "kernel started",
            extra={
                "extensions": [
                    i.name for i in self.extensions if i.status is ExtensionStatus.LOADED
                ]
            },
        )

    def _start_handlers(self, task_group: TaskGroup) -> None:
        for spec in self._handlers:
            subscription = self.bus.subscribe(spec.pattern, queue=spec.queue)
            task_group.start_soon(self._run_handler, spec, subscription)

    async def _run_handler(self, spec: _HandlerSpec, subscription: Subscription) -> None:
        # The loop ends when the bus closes and this subscription's buffer is drained.
        async with subscription:
            async for message in subscription:
                try:
                    await spec.handler(message)
                except Exception as exc:
                    log.error(
                        "event handler of %s failed on %s: %s",
                        spec.extension,
                        message.subject,
                        exc,
                        extra={"extension": spec.extension, "subject": message.subject},
                        exc_info=exc,
                    )

    async def stop(self) -> None:
        """Call ``dataflare_shutdown``, then drain the bus within its deadline. Idempotent."""
        stack, self._stack = self._stack, None
        if stack is None:
            return
        try:
            with anyio.CancelScope(shield=True):
                await self._acall_each("dataflare_shutdown", names=self._started, kernel=self)
                self.shutdown_report = await self.bus.aclose(on_undelivered=self._on_undelivered)
        finally:
            await stack.aclose()
            self._bus = None
            if self._engine is not None:
                self._engine.close()
                self._engine = None
        log.info(
            "kernel stopped",
            extra={"report": attrs.asdict(self.shutdown_report) if self.shutdown_report else None},
        )

    async def __aenter__(self) -> Kernel:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def contributions(self, hook: str) -> list[tuple[str, Any]]:
        """Call a ``register(item)``-style hook, one extension at a time.

        For hooks the kernel does not consume itself (``dataflare_cli_commands``,
        or hooks an extension added), so their users need not reimplement the
        isolation: an extension whose hook raises is unloaded and reported.

        Args:
            hook: The hook's name.

        Returns:
            ``(extension name, item)`` for every item registered, in call order.
        """
        self.load()
        items: list[tuple[str, Any]] = []

        def registrar(extension: str) -> Callable[[Any], None]:
            return lambda item: items.append((extension, item))

        self._call_each(hook, per_extension={"register": registrar})
        return items

    # --- decisions and figures --------------------------------------------------------

    def authorize(
        self, principal: str, action: str, resource: str, context: Mapping[str, Any] | None = None
    ) -> bool:
        """Ask every extension; any ``False`` denies, and with no opinion at all, allow.

        Args:
            principal: Who asks.
            action: What they want to do.
            resource: What they want to do it to.
            context: Attributes for conditions.
        """
        votes = self.pm.hook.dataflare_authorize(
            principal=principal, action=action, resource=resource, context=dict(context or {})
        )
        return False not in votes

    def load_plugin(
        self, source: Path | bytes, *, params: Mapping[str, str] | None = None
    ) -> WasmPlugin:
        """Verify and start a WASM plugin with this kernel's trust store and policy.

        The trust store is ``kernel.plugins.trust_store`` (default
        ``$DATAFLARE_HOME/trust.json``); every ``dataflare_verify_plugin``
        implementation may refuse the plugin after its signature checks.

        Args:
            source: The ``.dfp`` package, or its bytes.
            params: Parameters overriding the manifest's defaults.

        Raises:
            PluginVerificationError: A check failed, or an extension refused it.
            PluginLoadError: The verified module cannot start.
        """
        settings = self.settings.plugins
        trust_path = Path(settings.trust_store) if settings.trust_store else None
        return load_plugin(
            source,
            trust=TrustStore.load(trust_path),
            params=params,
            engine=self._wasm_engine(),
            refusals=self.plugin_refusals,
        )

    def _wasm_engine(self) -> WasmEngine | None:
        cache_dir = self.settings.plugins.cache_dir
        if cache_dir is None:
            return None  # the process-wide engine and cache
        if self._engine is None:
            self._engine = WasmEngine(cache_dir=Path(cache_dir))
        return self._engine

    def plugin_refusals(self, manifest: Mapping[str, Any], key_id: str) -> list[str]:
        """Ask every extension whether a signature-verified WASM plugin may load.

        Args:
            manifest: The plugin's signed manifest.
            key_id: The id of the key that signed it.

        Returns:
            The reasons given for refusing it; empty when every extension accepts.
        """
        reasons = self.pm.hook.dataflare_verify_plugin(manifest=dict(manifest), key_id=key_id)
        return [str(reason) for reason in reasons]

    def collect_metrics(self) -> list[MetricSample]:
        """Call every registered metric collector; a failing one is logged and skipped."""
        samples: list[MetricSample] = []
        for collect in list(self.metric_collectors):
            try:
                samples.extend(collect())
            except Exception as exc:
                log.error("metric collector failed: %s", exc, exc_info=exc)
        return samples


def _arguments(impl: pluggy.HookImpl, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    # pluggy lets an implementation take any subset of the spec's arguments.
    return {name: kwargs[name] for name in impl.argnames}


def _plugin_name(obj: object) -> str:
    name = getattr(obj, "name", None) or getattr(obj, "__name__", None) or type(obj).__name__
    return str(name)


def _to_yaml(data: Mapping[str, Any]) -> str:
    # A mapping config goes through the same YAML loader as a file, so it is validated
    # (and its errors are reported) exactly the same way.
    buffer = io.StringIO()
    YAML(typ="safe", pure=True).dump(dict(data), buffer)
    return buffer.getvalue()
