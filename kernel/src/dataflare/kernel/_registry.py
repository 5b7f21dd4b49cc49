"""Named components that extensions contribute: sources, sinks, operators, connectors.

Extensions hand the kernel factories through collection hooks; the registry
records which extension contributed each name, so a clash is reported with both
names instead of one silently replacing the other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

import attrs

from dataflare.kernel.errors import ExtensionConflictError, UnknownComponentError

__all__ = ("Component", "ComponentRegistry", "Registrar")


class Registrar(Protocol):
    """The ``register`` callback that collection hooks receive."""

    def __call__(
        self, name: str, factory: Callable[..., Any], *, description: str = ""
    ) -> None: ...


@attrs.frozen
class Component:
    """One contributed component."""

    kind: str
    """What it is: ``"source"``, ``"sink"``, ``"operator"`` or ``"connector"``."""
    name: str
    """The name a pipeline file uses to refer to it."""
    factory: Callable[..., Any]
    """Builds the component from its settings."""
    extension: str
    """The extension that contributed it."""
    description: str = ""
    """One line for ``dataflare extensions`` and error messages."""


@attrs.define
class ComponentRegistry:
    """The components of one kind, by name."""

    kind: str
    """What the registry holds, for messages: ``"source"``..."""
    _components: dict[str, Component] = attrs.field(factory=dict, init=False)

    def registrar(self, extension: str) -> Registrar:
        """Return the ``register`` callback handed to ``extension``'s hook.

        Args:
            extension: The name of the extension whose hook receives the callback.

        Returns:
            A callback that adds components attributed to ``extension``.
        """

        def register(name: str, factory: Callable[..., Any], *, description: str = "") -> None:
            self.add(Component(self.kind, name, factory, extension, description))

        return register

    def add(self, component: Component) -> None:
        """Add a component.

        Raises:
            ExtensionConflictError: Another extension already registered the name.
        """
        existing = self._components.get(component.name)
        if existing is not None:
            raise ExtensionConflictError(
                f"{self.kind} {component.name!r} is registered by both "
                f"{existing.extension!r} and {component.extension!r}: disable one of them "
                "with kernel.extensions.disable",
                extension=component.extension,
            )
        self._components[component.name] = component

    def get(self, name: str) -> Component:
        """Return the component called ``name``.

        Raises:
            UnknownComponentError: No extension registered it; the message lists
                the close matches and what is available.
        """
        try:
            return self._components[name]
        except KeyError:
            raise UnknownComponentError(self.kind, name, sorted(self._components)) from None

    def remove_extension(self, extension: str) -> None:
        """Forget every component that ``extension`` contributed (it was unloaded)."""
        for name in [n for n, c in self._components.items() if c.extension == extension]:
            del self._components[name]

    def __contains__(self, name: object) -> bool:
        return name in self._components

    def __iter__(self) -> Iterator[Component]:
        return iter(sorted(self._components.values(), key=lambda c: c.name))

    def __len__(self) -> int:
        return len(self._components)
