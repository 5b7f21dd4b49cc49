"""A host application that embeds the DataFlare kernel in its own asyncio loop.

The app owns the loop and its own tasks (here a ticking "web server" stand-in);
the kernel runs beside them, with an extension registered in process, no entry
point and no config file. Run it with::

    python examples/host_app.py
"""

from __future__ import annotations

import asyncio
from typing import Any

from dataflare.kernel import Event, Kernel, Message, hookimpl


class OrderAudit:
    """An in-process extension: counts orders and answers "how many?" requests."""

    name = "order-audit"

    def __init__(self) -> None:
        self.kernel: Kernel | None = None
        self.totals: dict[str, float] = {}

    @hookimpl
    def dataflare_event_handlers(self, register: Any) -> None:
        register("orders.*", self.on_order)
        register("audit.totals", self.on_totals_request)

    @hookimpl
    async def dataflare_startup(self, kernel: Kernel) -> None:
        self.kernel = kernel

    async def on_order(self, message: Message) -> None:
        event: Event = message.payload
        customer = event.data["customer"]
        self.totals[customer] = self.totals.get(customer, 0.0) + event.data["amount"]

    async def on_totals_request(self, message: Message) -> None:
        assert self.kernel is not None
        await self.kernel.bus.respond(message, dict(self.totals))


async def heartbeat(stop: asyncio.Event) -> int:
    """The host's own work, which keeps running while the kernel does."""
    beats = 0
    while not stop.is_set() and beats < 1000:
        beats += 1
        await asyncio.sleep(0.001)
    return beats


async def main() -> None:
    stop = asyncio.Event()
    beating = asyncio.create_task(heartbeat(stop))
    config = {"kernel": {"bus": {"buffer_size": 64}}}
    async with Kernel(config, plugins=[OrderAudit()], discover=False) as kernel:
        for number, (customer, amount) in enumerate(
            [("ada", 12.5), ("grace", 30.0), ("ada", 7.5), ("linus", 3.0)]
        ):
            event = Event.create(
                "order.created",
                {"customer": customer, "amount": amount, "number": number},
                source="urn:example:shop",
            )
            await kernel.bus.publish(f"orders.{customer}", event)
        # Handlers run concurrently; ask once every order has been counted.
        for _ in range(100):
            reply = await kernel.bus.request("audit.totals", None, timeout=1.0)
            if sum(reply.payload.values()) == 53.0:
                break
            await asyncio.sleep(0.01)
        print("totals per customer:", reply.payload)
    stop.set()
    print("host heartbeats while the kernel ran:", await beating)


if __name__ == "__main__":
    asyncio.run(main())
