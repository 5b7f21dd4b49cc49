"""Implements a hook that does not exist (a typo of dataflare_startup)."""

from dataflare.kernel import hookimpl


@hookimpl
def dataflare_statup(kernel):
    raise AssertionError("never called: the hook does not exist")
