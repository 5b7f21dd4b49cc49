"""Loading a WASM plugin: the only public way, and it always verifies first.

Every load reads the package, checks its signature against the trust store,
checks every file's hash, checks compatibility, asks the installed extensions
(``dataflare_verify_plugin``), and only then compiles and starts the module.
There is no public call that runs unverified bytes.

Example::

    from pathlib import Path
    from dataflare.kernel import TrustStore, load_plugin

    with load_plugin(Path("acme-redact-1.0.0.dfp"), trust=TrustStore.load()) as plugin:
        result = plugin.process(batch)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import attrs

from dataflare.kernel._trust import TrustStore
from dataflare.kernel._verify import VerifiedPlugin, verify_package
from dataflare.kernel._wasm_engine import WasmEngine
from dataflare.kernel._wasm_limits import HostLimits
from dataflare.kernel._wasm_plugin import WasmPlugin
from dataflare.kernel.errors import PluginVerificationError

__all__ = ("host_version", "load_plugin")

Refusals = Callable[[Mapping[str, Any], str], list[str]]


def host_version() -> str:
    """This host's DataFlare version: what a manifest's ``dataflare`` range is checked against."""
    return version("dataflare-kernel")


def load_plugin(
    source: Path | bytes,
    *,
    trust: TrustStore,
    params: Mapping[str, str] | None = None,
    engine: WasmEngine | None = None,
    refusals: Refusals | None = None,
    now: datetime | None = None,
) -> WasmPlugin:
    """Verify a plugin package, then compile and start its module.

    Args:
        source: The ``.dfp`` package file, or its bytes.
        trust: The publisher keys this host accepts.
        params: Parameters overriding the manifest's defaults.
        engine: The engine to run on; the process-wide one when ``None``.
        refusals: Asked after the signature checks; any reason it returns refuses
            the plugin (the kernel passes its ``dataflare_verify_plugin`` hook).
        now: When to judge key expiry at; the clock when ``None``.

    Returns:
        The running plugin. Close it (or use ``with``) when done.

    Raises:
        PluginVerificationError: The package failed a check (``reason`` says which).
        PluginLoadError: The verified module cannot start.
    """
    verified = verify_package(source, trust, host_version=host_version(), now=now)
    _ask(verified, refusals)
    manifest = verified.manifest
    return WasmPlugin.load(
        verified.module_bytes,
        name=manifest.name,
        engine=engine,
        params={**manifest.params, **(params or {})},
        limits=HostLimits(**attrs.asdict(manifest.limits)),
        capabilities=manifest.capabilities,
        abi=manifest.abi,
    )


def _ask(verified: VerifiedPlugin, refusals: Refusals | None) -> None:
    if refusals is None:
        return
    manifest = attrs.asdict(verified.manifest, recurse=True)
    reasons = refusals(manifest, verified.key_id)
    if reasons:
        raise PluginVerificationError(
            "refused",
            "refused by policy: " + "; ".join(reasons) + " (the installed extensions decide this; "
            "`dataflare extensions` lists them)",
            plugin=verified.manifest.name,
        )
