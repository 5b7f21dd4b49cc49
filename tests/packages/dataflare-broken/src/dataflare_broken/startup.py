"""Imports fine, then raises when the kernel starts."""

from dataflare.kernel import hookimpl


class ExplodesOnStartup:
    @hookimpl
    def dataflare_startup(self, kernel):
        raise RuntimeError("cannot reach the license server")
