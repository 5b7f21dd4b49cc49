"""How much a plugin may use per call: CPU (fuel), wall clock, memory and output.

The defaults are the ABI's (``docs/plugin-abi.md``, "Limits"). A plugin's
manifest declares its limits and host policy may lower them, never raise them;
whoever loads the plugin works that out and passes the result here.

Example::

    limits = HostLimits(memory_mb=16, timeout_ms=250)
    limits.fuel_for(8192)       # 10_000_000 + 100_000 * 8192
"""

from __future__ import annotations

import attrs
from attrs.validators import ge, le

__all__ = ("HostLimits",)

# wasmtime takes fuel as a u64 and ctypes would wrap a larger number silently.
_MAX_FUEL = 2**63 - 1


@attrs.frozen
class HostLimits:
    """The budget of one plugin instance and of each call into it."""

    memory_mb: int = attrs.field(default=64, validator=[ge(1), le(4096)])
    """Linear memory, in MiB (wasm32 addresses at most 4096). ``memory.grow``
    past it returns -1."""

    fuel_base: int = attrs.field(default=10_000_000, validator=[ge(1), le(_MAX_FUEL)])
    """Fuel for every call, whatever the batch size (roughly one unit per wasm
    instruction)."""

    fuel_per_record: int = attrs.field(default=100_000, validator=ge(0))
    """Fuel added per input record."""

    timeout_ms: int = attrs.field(default=1000, validator=ge(1))
    """Wall-clock time per call, enforced in 10 ms epoch ticks."""

    max_output_bytes: int = attrs.field(default=64 * 2**20, validator=[ge(0), le(2**32 - 1)])
    """The largest output batch (or state, or error list) a call may return."""

    @property
    def memory_bytes(self) -> int:
        """:attr:`memory_mb` in bytes."""
        return self.memory_mb * 2**20

    def fuel_for(self, records: int) -> int:
        """Return the fuel for one call on ``records`` input records (at most 2**63 - 1)."""
        return min(self.fuel_base + self.fuel_per_record * records, _MAX_FUEL)
