"""The hook specifications: the whole contract between the kernel and extensions.

An extension is any object (a module, a class instance) with functions named after
these hooks and marked with :data:`dataflare.kernel.hookimpl`. It may implement any
subset, and each implementation may accept any subset of a hook's arguments, so a
hook can gain arguments later without breaking anyone.

Lifecycle, in the order the kernel calls the hooks::

    dataflare_add_hookspecs      an extension publishes hooks of its own
    dataflare_config_sections    sections a config file may contain
    dataflare_configure          the validated config is known
    dataflare_sources / sinks / operators / connectors / event_handlers / metrics
    dataflare_startup            the bus runs; start background work
    ...running...
    dataflare_shutdown           reverse order; stop background work

``dataflare_cli_commands`` is called by the ``dataflare`` command only;
``dataflare_verify_plugin`` and ``dataflare_authorize`` whenever a decision is due.

Rules every hook follows:

* Collection hooks take a ``register`` callback instead of returning values, so the
  kernel can validate each contribution and record which extension made it.
* Hooks run at start-up and configuration time, never per record or per batch.
* An implementation that raises is reported with its extension's name and that
  extension is unloaded; the kernel and the other extensions carry on
  (unless ``kernel.extensions.strict`` is set).
* Hooks marked *may be async* may return an awaitable; the kernel awaits it in
  its own event loop.

Example::

    from dataflare.kernel import hookimpl

    @hookimpl
    def dataflare_event_handlers(register):
        register("orders.>", handle_order)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from dataflare.kernel._kernel import Kernel
    from dataflare.kernel._registry import Registrar

__all__ = (
    "PROJECT_NAME",
    "dataflare_add_hookspecs",
    "dataflare_authorize",
    "dataflare_cli_commands",
    "dataflare_config_sections",
    "dataflare_configure",
    "dataflare_connectors",
    "dataflare_event_handlers",
    "dataflare_metrics",
    "dataflare_operators",
    "dataflare_shutdown",
    "dataflare_sinks",
    "dataflare_sources",
    "dataflare_startup",
    "dataflare_verify_plugin",
    "hookspec",
)

#: The pluggy project name shared by the kernel and every extension.
PROJECT_NAME = "dataflare"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)


# --- extending the contract ---------------------------------------------------------


@hookspec(historic=True)
def dataflare_add_hookspecs(pluginmanager: pluggy.PluginManager) -> None:
    """Add hook specifications that other extensions may implement.

    Called once per extension as it registers (historic: an extension registered
    later still receives the call). Use ``pluginmanager.add_hookspecs(module)``.

    Args:
        pluginmanager: The kernel's plugin manager.
    """


# --- configuration ------------------------------------------------------------------


@hookspec
def dataflare_config_sections(register: Callable[[str, type], None]) -> None:
    """Declare the top-level config sections this extension reads.

    Called while a config file is loaded. ``register(name, settings_class)`` takes
    the section name (``"streaming"``) and an attrs class whose fields are the
    section's keys; the file is validated against it and every error reported
    with its line and column. A section nobody registers is a config error.

    Args:
        register: Callback taking ``(name, settings_class)``.
    """


@hookspec
def dataflare_configure(kernel: Kernel, config: Mapping[str, Any]) -> None:
    """Receive the validated configuration before start-up.

    Called once, after every extension registered and the config file was
    validated. ``config`` maps each section name to its structured settings.
    Do no I/O here; start work in :func:`dataflare_startup`.

    Args:
        kernel: The kernel being configured.
        config: Section name to settings instance.
    """


# --- contributions ------------------------------------------------------------------


@hookspec
def dataflare_sources(register: Registrar) -> None:
    """Contribute named source factories (where records come from).

    ``register(name, factory, description=...)``; the name is what a pipeline file
    uses. Two extensions registering one name is reported as a conflict.

    Args:
        register: Callback taking ``(name, factory, *, description="")``.
    """


@hookspec
def dataflare_sinks(register: Registrar) -> None:
    """Contribute named sink factories (where records go).

    Args:
        register: Callback taking ``(name, factory, *, description="")``.
    """


@hookspec
def dataflare_operators(register: Registrar) -> None:
    """Contribute named operator factories (what happens to batches in between).

    Args:
        register: Callback taking ``(name, factory, *, description="")``.
    """


@hookspec
def dataflare_connectors(register: Registrar) -> None:
    """Contribute named connector classes (a source and sink for one system).

    A connector has ``name``, ``connect``, ``send``, ``receive``, ``disconnect``
    and ``status``.

    Args:
        register: Callback taking ``(name, factory, *, description="")``.
    """


@hookspec
def dataflare_event_handlers(
    register: Callable[..., None],
) -> None:
    """Subscribe handlers to the kernel's event bus.

    ``register(pattern, handler, queue=None)``: ``pattern`` is a subject pattern
    with NATS wildcards (``orders.*``, ``orders.>``); ``handler`` is an async
    callable receiving each :class:`~dataflare.kernel.Message`. Handlers with the
    same ``queue`` share the messages instead of each receiving a copy. A handler
    that raises is logged with the subject; the subscription keeps running.

    Args:
        register: Callback taking ``(pattern, handler, *, queue=None)``.
    """


@hookspec
def dataflare_metrics(register: Callable[[Callable[[], Any]], None]) -> None:
    """Contribute metric collectors for whoever exports metrics.

    ``register(collect)``: ``collect()`` returns an iterable of
    :class:`~dataflare.kernel.MetricSample` and is called at scrape time, so
    extensions report figures without importing a metrics library.

    Args:
        register: Callback taking a zero-argument collect function.
    """


@hookspec
def dataflare_cli_commands(register: Callable[[Any], None]) -> None:
    """Add subcommands to the ``dataflare`` command.

    ``register(command)`` takes a :class:`click.Command` or :class:`click.Group`
    (a Typer app converts with ``typer.main.get_command(app)``). Called by the
    CLI only, when it lists or runs commands.

    Args:
        register: Callback taking a click command.
    """


# --- lifecycle ----------------------------------------------------------------------


@hookspec
def dataflare_startup(kernel: Kernel) -> Awaitable[None] | None:
    """Start background work; the bus is running. May be async.

    Called once per kernel start, in registration order. An implementation that
    raises unloads its extension (reported in ``dataflare extensions``).

    Args:
        kernel: The kernel that is starting.
    """


@hookspec
def dataflare_shutdown(kernel: Kernel) -> Awaitable[None] | None:
    """Stop background work before the bus drains. May be async.

    Called once per kernel stop, in reverse start-up order, for every extension
    whose startup succeeded, even when the host is stopping because of an error.

    Args:
        kernel: The kernel that is stopping.
    """


# --- decisions ----------------------------------------------------------------------


@hookspec
def dataflare_verify_plugin(manifest: Mapping[str, Any], key_id: str) -> str | None:
    """Add a check to WASM plugin verification; return a reason to refuse it.

    Called after the kernel itself verified the plugin's Ed25519 signature
    against the trust store, every time a plugin is loaded. Every
    implementation is asked; any returned string refuses the plugin and is
    shown to the user (for example ``"licence AGPL-3.0 is not allowed"``).

    Args:
        manifest: The plugin's signed manifest.
        key_id: The id of the key that signed it.

    Returns:
        ``None`` to accept, or the reason for refusing.
    """


@hookspec
def dataflare_authorize(
    principal: str, action: str, resource: str, context: Mapping[str, Any]
) -> bool | None:
    """Decide whether ``principal`` may do ``action`` on ``resource``.

    Every implementation is asked; any ``False`` denies (deny wins), any ``True``
    with no ``False`` allows, and when all return ``None`` the kernel's default
    applies (allow, when no security extension is installed).

    Args:
        principal: Who asks (a user or service id).
        action: What they want to do (``"pipeline.run"``).
        resource: What they want to do it to (``"pipeline:clicks"``).
        context: Attributes for conditions (source address, labels...).

    Returns:
        ``True`` to allow, ``False`` to deny, ``None`` to abstain.
    """
