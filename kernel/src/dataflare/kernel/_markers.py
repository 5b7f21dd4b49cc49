"""The marker extensions use to implement hooks."""

from __future__ import annotations

import pluggy

from dataflare.kernel.hookspecs import PROJECT_NAME

__all__ = ("hookimpl",)

#: Marks a function as the implementation of the hook of the same name.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
