"""Finding, loading and reporting extensions, one at a time.

Extensions are found through the ``dataflare.extensions`` entry-point group
(stevedore lists and imports them) or handed to the kernel in process. Each is
imported, instantiated and registered on its own, so an extension that fails to
import, has a malformed hook, implements a hook that does not exist, or clashes
by name is reported with its name, distribution, version and cause, and the
kernel carries on without it. pluggy's own ``load_setuptools_entrypoints`` stops
at the first broken distribution, so it is not used.

Which extensions load is decided by :class:`ExtensionSelection`: the config's
``kernel.extensions`` section, overridden by the environment::

    DATAFLARE_EXTENSIONS=demo,events       only these (an empty value: none)
    DATAFLARE_DISABLE_EXTENSIONS=broken    never these
    DATAFLARE_STRICT_EXTENSIONS=1          a failing extension is fatal
"""

from __future__ import annotations

import enum
import importlib.metadata
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import pluggy
from stevedore import ExtensionManager, NamedExtensionManager

from dataflare.kernel._suggest import did_you_mean

__all__ = (
    "ENTRY_POINT_GROUP",
    "ExtensionInfo",
    "ExtensionSelection",
    "ExtensionStatus",
    "check_unknown_hooks",
    "load_entry_points",
    "register_extension",
)

log = logging.getLogger("dataflare.kernel.extensions")

#: The entry-point group every extension, first- or third-party, registers under.
ENTRY_POINT_GROUP = "dataflare.extensions"

_TRUE = {"1", "true", "yes", "on"}


class ExtensionStatus(enum.StrEnum):
    """What happened to one extension."""

    LOADED = "loaded"
    FAILED = "failed"
    DISABLED = "disabled"
    CONFLICT = "conflict"


@attrs.frozen
class ExtensionInfo:
    """One line of ``dataflare extensions``: an extension and what became of it."""

    name: str
    """The entry-point (or in-process) name."""
    status: ExtensionStatus
    """Loaded, failed, disabled or in conflict."""
    origin: str = "entry point"
    """``"entry point"`` or ``"in process"``."""
    target: str = ""
    """The entry point's ``module:attribute``, or the object's repr."""
    distribution: str | None = None
    """The distribution that provides it, when known."""
    version: str | None = None
    """That distribution's version, when known."""
    hooks: tuple[str, ...] = ()
    """The hooks it implements."""
    stage: str | None = None
    """Where it failed: ``import``, ``instantiate``, ``register``, ``hooks``, ``startup``..."""
    error: str | None = None
    """Why it failed, what to do about it."""

    def failed(self, stage: str, error: str) -> ExtensionInfo:
        """Return a copy marked as failed at ``stage`` with ``error``."""
        return attrs.evolve(self, status=ExtensionStatus.FAILED, stage=stage, error=error)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (for ``dataflare extensions --json``)."""
        return {
            **attrs.asdict(self, recurse=False),
            "status": self.status.value,
            "hooks": list(self.hooks),
        }


@attrs.frozen
class ExtensionSelection:
    """Which extensions may load, and whether a failure is fatal."""

    allow: frozenset[str] | None = None
    """Only these names load; ``None`` means every installed one."""
    disable: frozenset[str] = frozenset()
    """These names never load."""
    strict: bool = False
    """Raise on the first failing extension instead of reporting and skipping it."""

    @classmethod
    def resolve(
        cls,
        *,
        allow: Iterable[str] | None = None,
        disable: Iterable[str] = (),
        strict: bool = False,
        environ: Mapping[str, str],
    ) -> ExtensionSelection:
        """Combine config values with the environment, which wins for allow and strict.

        Args:
            allow: The config's allow-list, or ``None``.
            disable: The config's deny-list.
            strict: The config's strict flag.
            environ: The environment to read ``DATAFLARE_*`` variables from.
        """
        if "DATAFLARE_EXTENSIONS" in environ:
            allow = _split(environ["DATAFLARE_EXTENSIONS"])
        disabled = {*disable, *_split(environ.get("DATAFLARE_DISABLE_EXTENSIONS", ""))}
        if "DATAFLARE_STRICT_EXTENSIONS" in environ:
            strict = environ["DATAFLARE_STRICT_EXTENSIONS"].strip().lower() in _TRUE
        return cls(
            allow=None if allow is None else frozenset(allow),
            disable=frozenset(disabled),
            strict=strict,
        )

    def permits(self, name: str) -> bool:
        """Return whether ``name`` may load."""
        return name not in self.disable and (self.allow is None or name in self.allow)


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def load_entry_points(
    pm: pluggy.PluginManager, selection: ExtensionSelection, group: str = ENTRY_POINT_GROUP
) -> list[ExtensionInfo]:
    """Import and register every permitted extension of ``group``, one at a time.

    Args:
        pm: The plugin manager to register into.
        selection: Which names may load.
        group: The entry-point group to scan.

    Returns:
        One :class:`ExtensionInfo` per entry point found, whatever became of it.
    """
    dists = _distributions(group)
    failures: dict[tuple[str, str], BaseException] = {}

    def on_failure(_: object, entry_point: Any, exc: BaseException) -> None:
        failures[(entry_point.name, entry_point.value)] = exc

    # stevedore caches the listing per process; drop it so extensions installed
    # since the last scan (a long-lived host, the test suite) are seen.
    ExtensionManager.ENTRY_POINT_CACHE.pop(group, None)
    # NamedExtensionManager skips names before importing them, so a disabled
    # extension (often disabled because it is broken) is never imported.
    manager: NamedExtensionManager[Any] = NamedExtensionManager(
        group,
        names=sorted({name for name, _ in dists if selection.permits(name)}),
        on_load_failure_callback=on_failure,
        on_missing_entrypoints_callback=lambda _names: None,
        propagate_map_exceptions=True,
    )
    loaded = {(ext.name, ext.entry_point.value): ext.plugin for ext in manager.extensions}
    infos: list[ExtensionInfo] = []
    for entry_point in manager.list_entry_points():
        key = (entry_point.name, entry_point.value)
        dist, version = dists.get(key, (None, None))
        info = ExtensionInfo(
            entry_point.name,
            ExtensionStatus.LOADED,
            target=entry_point.value,
            distribution=dist,
            version=version,
        )
        if not selection.permits(entry_point.name):
            infos.append(attrs.evolve(info, status=ExtensionStatus.DISABLED))
        elif key in failures:
            exc = failures[key]
            infos.append(info.failed("import", f"{type(exc).__name__}: {exc}"))
        elif key in loaded:
            infos.append(register_extension(pm, entry_point.name, loaded[key], info))
    return infos


def _distributions(group: str) -> dict[tuple[str, str], tuple[str, str]]:
    found: dict[tuple[str, str], tuple[str, str]] = {}
    for entry_point in importlib.metadata.entry_points(group=group):
        dist = entry_point.dist
        if dist is not None:
            found[(entry_point.name, entry_point.value)] = (dist.name, dist.version)
    return found


def register_extension(
    pm: pluggy.PluginManager, name: str, obj: object, info: ExtensionInfo
) -> ExtensionInfo:
    """Instantiate (when ``obj`` is a class) and register one extension.

    Args:
        pm: The plugin manager to register into.
        name: The extension's name.
        obj: A module, an instance, or a class to instantiate with no arguments.
        info: What is known so far (origin, distribution, version).

    Returns:
        ``info`` updated with the outcome: loaded with its hooks, failed, or in conflict.
    """
    if pm.has_plugin(name):
        other = pm.get_plugin(name)
        return attrs.evolve(
            info,
            status=ExtensionStatus.CONFLICT,
            error=f"the name {name!r} is already taken by {_describe(other)}; "
            f"uninstall one of them or disable this one with DATAFLARE_DISABLE_EXTENSIONS",
        )
    if isinstance(obj, type):
        try:
            obj = obj()
        except Exception as exc:  # noqa: BLE001 -- an extension's constructor may raise anything
            return info.failed("instantiate", f"{type(exc).__name__}: {exc}")
    try:
        pm.register(obj, name=name)
    except (pluggy.PluginValidationError, ValueError) as exc:
        return info.failed("register", str(exc))
    hooks = tuple(sorted(caller.name for caller in pm.get_hookcallers(obj) or ()))
    return attrs.evolve(info, status=ExtensionStatus.LOADED, hooks=hooks)


def check_unknown_hooks(
    pm: pluggy.PluginManager, infos: list[ExtensionInfo]
) -> list[ExtensionInfo]:
    """Unload extensions that implement hooks nobody specified (usually a typo).

    Run after every extension registered, because one extension may implement a
    hook that another adds through ``dataflare_add_hookspecs``.

    Args:
        pm: The plugin manager holding the extensions.
        infos: The load report so far.

    Returns:
        The report with offenders marked as failed at stage ``hooks``.
    """
    known = [caller.name for caller in pm.hook.__dict__.values() if _spec(caller) is not None]
    result = []
    for info in infos:
        plugin = pm.get_plugin(info.name) if info.status is ExtensionStatus.LOADED else None
        unknown = [
            caller.name
            for caller in (pm.get_hookcallers(plugin) or () if plugin is not None else ())
            if _spec(caller) is None and not _optional(caller, plugin)
        ]
        if plugin is not None and unknown:
            pm.unregister(plugin)
            problems = "; ".join(f"{hook}{_hint(hook, known)}" for hook in unknown)
            info = info.failed("hooks", f"implements hooks that do not exist: {problems}")
        result.append(info)
    return result


def _spec(caller: Any) -> object | None:
    return getattr(caller, "spec", None)


def _optional(caller: Any, plugin: object) -> bool:
    # @hookimpl(optionalhook=True) implements a hook another extension may publish
    # (dataflare_telemetry, when observability is installed): not a typo when absent.
    return all(impl.optionalhook for impl in caller.get_hookimpls() if impl.plugin is plugin)


def _hint(hook: str, known: list[str]) -> str:
    suggestion = did_you_mean(hook, known)
    return f" ({suggestion})" if suggestion else ""


def _describe(plugin: object) -> str:
    module = getattr(plugin, "__module__", None) or getattr(plugin, "__name__", "?")
    return f"{type(plugin).__name__} from {module}"


def report_failure(info: ExtensionInfo) -> None:
    """Log one extension that did not load, with everything needed to act on it."""
    log.warning(
        "extension %s %s at %s: %s",
        info.name,
        info.status.value,
        info.stage or "load",
        info.error,
        extra={
            "extension": info.name,
            "distribution": info.distribution,
            "version": info.version,
            "stage": info.stage,
            "cause": info.error,
        },
    )
