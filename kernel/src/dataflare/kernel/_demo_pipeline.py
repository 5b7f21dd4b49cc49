"""The work behind ``dataflare demo``: IoT readings through the bus as record batches.

A source publishes readings from every site as record batches, encoded in the
wire layout, on ``sensors.<site>.readings``. Two monitors share that subject
pattern as a queue group. Each decodes a batch without copying it, folds it into
per-device statistics with numpy (no Python object per record), and publishes an
``Event`` on ``alerts.<site>`` the first time a device runs hot. An alert log
collects those events, and ``demo.stats`` answers requests for the running
totals. Nothing here is simulated except the sensors.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
import attrs
import numpy as np
import numpy.typing as npt

from dataflare.kernel._batch import RecordBatch
from dataflare.kernel._event import Event
from dataflare.kernel._kernel import Kernel
from dataflare.kernel._markers import hookimpl
from dataflare.kernel._message import Message

__all__ = ("DemoOptions", "DemoResult", "run_demo")

_START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: readings carry event time from here


@attrs.frozen
class DemoOptions:
    """What ``dataflare demo`` was asked to do."""

    records: int = 1_000_000
    """Readings to produce in all."""
    batch_size: int = 8192
    """Readings per record batch."""
    sites: int = 4
    """Sites the readings come from; one subject per site."""
    devices: int = 1000
    """Devices per site."""
    threshold: float = 80.0
    """Temperature (°C) above which a device raises an alert."""
    seed: int = 7
    """Seed of the sensor noise, so a run can be repeated."""


@attrs.frozen
class DemoResult:
    """What the demo measured."""

    records: int
    batches: int
    seconds: float
    alerts: tuple[Event, ...]
    readings_per_site: tuple[int, ...]
    mean_temperature: float
    hottest: tuple[tuple[str, float], ...]
    published: int

    @property
    def records_per_second(self) -> float:
        """Throughput from the first publish until every batch was processed."""
        return self.records / self.seconds if self.seconds > 0 else float("inf")


@attrs.define(eq=False)
class _Monitor:
    """Per-device running statistics, shared by the monitors of the queue group."""

    options: DemoOptions
    kernel: Kernel | None = None
    processed: int = 0
    batches: int = 0
    count: npt.NDArray[np.int64] = attrs.field(init=False)
    total: npt.NDArray[np.float64] = attrs.field(init=False)
    peak: npt.NDArray[np.float64] = attrs.field(init=False)
    alerted: npt.NDArray[np.bool_] = attrs.field(init=False)
    alerts: list[Event] = attrs.field(factory=list)

    def __attrs_post_init__(self) -> None:
        size = self.options.sites * self.options.devices
        self.count = np.zeros(size, np.int64)
        self.total = np.zeros(size, np.float64)
        self.peak = np.full(size, -np.inf)
        self.alerted = np.zeros(size, np.bool_)

    @hookimpl
    def dataflare_event_handlers(self, register: Any) -> None:
        register("sensors.*.readings", self.on_readings, queue="monitors")
        register("sensors.*.readings", self.on_readings, queue="monitors")
        register("alerts.>", self.on_alert)
        register("demo.stats", self.on_stats)

    @hookimpl
    def dataflare_startup(self, kernel: Kernel) -> None:
        self.kernel = kernel

    async def on_readings(self, message: Message) -> None:
        batch = RecordBatch.from_buffer(message.payload)  # validates, copies nothing
        site = int(batch.metadata["site"])
        slot = batch.column("device").astype(np.int64, copy=False) + site * self.options.devices
        temperature = batch.column("temperature")
        size = self.count.size
        self.count += np.bincount(slot, minlength=size)
        self.total += np.bincount(slot, weights=temperature, minlength=size)
        np.maximum.at(self.peak, slot, temperature)
        hot = np.unique(slot[temperature > self.options.threshold])
        new = hot[~self.alerted[hot]]
        self.alerted[new] = True
        self.processed += len(batch)
        self.batches += 1
        for index in new.tolist():  # a handful per run: one event per device that ran hot
            await self._alert(site, index)

    async def _alert(self, site: int, index: int) -> None:
        assert self.kernel is not None
        device = index % self.options.devices
        event = Event.create(
            "sensor.overheated",
            {"site": site, "device": device, "peak_celsius": round(float(self.peak[index]), 1)},
            source="urn:dataflare:demo:monitor",
        )
        await self.kernel.bus.publish(f"alerts.site-{site}", event)

    async def on_alert(self, message: Message) -> None:
        self.alerts.append(message.payload)

    async def on_stats(self, message: Message) -> None:
        assert self.kernel is not None
        await self.kernel.bus.respond(
            message, {"processed": self.processed, "alerts": len(self.alerts)}
        )


def _readings(
    options: DemoOptions, rng: np.random.Generator, start: int, count: int, site: int
) -> RecordBatch:
    device = rng.integers(0, options.devices, count)
    # A few devices per site run hot; the rest hover around 21 °C.
    faulty = (device * 7 + site) % 211 == 0
    temperature = 21.0 + 2.5 * rng.standard_normal(count) + faulty * 62.0
    humidity = np.clip(45.0 + 10.0 * rng.standard_normal(count), 0.0, 100.0)
    return RecordBatch.from_arrays(
        timestamps=_START_MS + np.arange(start, start + count, dtype=np.int64),
        columns={"device": device, "temperature": temperature, "humidity": humidity},
        metadata={"site": str(site)},
    )


async def run_demo(options: DemoOptions) -> DemoResult:
    """Run the demo pipeline on an embedded kernel and measure it.

    Args:
        options: Sizes and thresholds.

    Returns:
        The figures the summary prints.
    """
    monitor = _Monitor(options)
    rng = np.random.default_rng(options.seed)
    per_site = [0] * options.sites
    async with Kernel(plugins=[("demo-pipeline", monitor)], discover=False) as kernel:
        started = time.perf_counter()
        published = 0
        for number, start in enumerate(range(0, options.records, options.batch_size)):
            site = number % options.sites
            batch = _readings(
                options, rng, start, min(options.batch_size, options.records - start), site
            )
            per_site[site] += len(batch)
            # The wire layout travels as is: what NATS or a WASM plugin would receive.
            await kernel.bus.publish(f"sensors.site-{site}.readings", batch.buffer)
            published += 1
        with anyio.fail_after(60):  # bounded: every batch is processed long before this
            while (await kernel.bus.request("demo.stats", None)).payload[
                "processed"
            ] < options.records:
                await anyio.sleep(0.001)
        seconds = time.perf_counter() - started
    mean = float(monitor.total.sum() / max(monitor.count.sum(), 1))
    top = np.argsort(monitor.peak)[::-1][:5]
    hottest = tuple(
        (
            f"site-{i // options.devices}/device-{i % options.devices}",
            round(float(monitor.peak[i]), 1),
        )
        for i in top.tolist()
    )
    return DemoResult(
        records=monitor.processed,
        batches=monitor.batches,
        seconds=seconds,
        alerts=tuple(monitor.alerts),
        readings_per_site=tuple(per_site),
        mean_temperature=mean,
        hottest=hottest,
        published=published,
    )
