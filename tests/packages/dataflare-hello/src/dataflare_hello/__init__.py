"""A third-party extension: a config section, a CLI command, a responder and a source."""

from __future__ import annotations

import attrs
import click

from dataflare.kernel import Message, hookimpl


@attrs.frozen
class HelloSettings:
    """The ``hello`` config section."""

    greeting: str = "hello"
    """What the responder answers with."""


class HelloExtension:
    """Answers requests on ``hello.ping`` with the configured greeting."""

    def __init__(self) -> None:
        self.greeting = "hello"
        self.kernel = None

    @hookimpl
    def dataflare_config_sections(self, register):
        register("hello", HelloSettings)

    @hookimpl
    def dataflare_configure(self, config):
        self.greeting = config["hello"].greeting

    @hookimpl
    def dataflare_cli_commands(self, register):
        @click.command(name="hello")
        @click.argument("name", default="world")
        def hello(name: str) -> None:
            """Greet NAME from a third-party extension."""
            click.echo(f"hello, {name}, from dataflare-hello")

        register(hello)

    @hookimpl
    def dataflare_sources(self, register):
        register("hello-source", dict, description="a source contributed by dataflare-hello")

    @hookimpl
    def dataflare_event_handlers(self, register):
        register("hello.ping", self.pong)

    async def pong(self, message: Message) -> None:
        await self.kernel.bus.respond(message, f"{self.greeting}, {message.payload}")

    @hookimpl
    async def dataflare_startup(self, kernel):
        self.kernel = kernel
