"""Takes the name of another installed extension."""

from dataflare.kernel import hookimpl


@hookimpl
def dataflare_startup(kernel):
    return None
