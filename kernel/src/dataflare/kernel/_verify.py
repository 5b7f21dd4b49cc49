"""Verify a plugin package before any of it runs: every time it is loaded.

The checks run in a fixed order, and the first that fails stops verification
with a :class:`~dataflare.kernel.errors.PluginVerificationError` whose
``reason`` names it:

1. the archive's rules and the manifest's shape (``malformed``);
2. a signature is present (``unsigned``);
3. its key is in the trust store for the plugin's namespace (``unknown-key``),
   not revoked (``revoked-key``) and not expired (``expired-key``);
4. the signature matches the manifest's raw bytes (``bad-signature``);
5. the files are exactly those the manifest lists, with their sizes and hashes
   (``missing-file``, ``unexpected-file``, ``hash-mismatch``);
6. this DataFlare is one the plugin supports (``incompatible-host``) and so is
   its ABI (``incompatible-abi``); both raise
   :class:`~dataflare.kernel.errors.PluginIncompatibleError`.

Nothing the manifest says is relied on before step 4 except to name the plugin.

Example::

    plugin = verify_package(Path("redact.dfp"), TrustStore.load(), host_version="0.1.0")
    plugin.module_bytes      # safe to compile now
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import attrs
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from dataflare.kernel._manifest import PluginManifest
from dataflare.kernel._manifest_rules import ABI_V1
from dataflare.kernel._package import PluginPackage, read_package
from dataflare.kernel._signing import verify_signature
from dataflare.kernel._trust import TrustStore
from dataflare.kernel._trust_file import KeyStatus, TrustedKey
from dataflare.kernel.errors import PluginIncompatibleError, PluginVerificationError

__all__ = ("VerifiedPlugin", "verify_package")

_GET_AGAIN = "Do not use this package; get it again from its publisher"


@attrs.frozen
class VerifiedPlugin:
    """A package that passed every check: its module may be compiled and run."""

    manifest: PluginManifest
    """The signed manifest."""

    module_bytes: bytes = attrs.field(repr=False)
    """The WebAssembly module, as signed."""

    key_id: str
    """The key that signed it."""

    publisher: str
    """The publisher the trust store binds that key to."""

    package_sha256: str
    """SHA-256 of the whole package file, in hex."""

    module_sha256: str
    """SHA-256 of the module, in hex (a key for a compiled-module cache)."""


def verify_package(
    source: Path | bytes,
    trust: TrustStore,
    *,
    host_version: str,
    supported_abis: Sequence[str] = (ABI_V1,),
    now: datetime | None = None,
) -> VerifiedPlugin:
    """Check a plugin package and return what may run.

    Args:
        source: The ``.dfp`` file, or its bytes.
        trust: The publisher keys to accept.
        host_version: This DataFlare's version (``dataflare-kernel``'s).
        supported_abis: The ABIs this host can run.
        now: When to judge key expiry at (naive means UTC); defaults to the clock.

    Returns:
        The verified plugin.

    Raises:
        PluginVerificationError: A check failed; ``reason`` says which.
        PluginIncompatibleError: The plugin is for another DataFlare or ABI.
        PluginError: The file cannot be read.
    """
    package = read_package(source)
    manifest, envelope = package.manifest, package.signature
    if envelope is None:
        raise PluginVerificationError(
            "unsigned",
            f"{package.origin} is not signed, and only signed plugins run: get a signed release "
            "from its publisher (a publisher signs with "
            f"`dataflare plugin sign {package.origin} --key <their .key file>`)",
            plugin=manifest.name,
        )
    now = datetime.now(UTC) if now is None else now
    now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    entry = _trusted_key(package, envelope.key_id, trust, now)
    if not verify_signature(package.manifest_bytes, envelope, entry.verify_key):
        raise PluginVerificationError(
            "bad-signature",
            f"the signature by key {envelope.key_id} in {package.origin} does not match its "
            f"manifest: the manifest or the signature was changed after signing. {_GET_AGAIN}",
            plugin=manifest.name,
        )
    digests = package.check_files()
    _check_compatible(manifest, host_version, supported_abis)
    return VerifiedPlugin(
        manifest=manifest,
        module_bytes=package.module_bytes,
        key_id=entry.key_id,
        publisher=entry.publisher,
        package_sha256=package.sha256,
        module_sha256=digests[manifest.module],
    )


def _trusted_key(
    package: PluginPackage, key_id: str, trust: TrustStore, now: datetime
) -> TrustedKey:
    name = package.manifest.name
    namespace = name.partition("/")[0]
    store = f"trust store {trust.path}" if trust.path else "the trust store"
    entry = trust.get(key_id)
    if entry is None:
        raise PluginVerificationError(
            "unknown-key",
            f"{package.origin} is signed by key {key_id}, which is not in {store}: if you "
            f"trust publisher {namespace!r}, get their public key file from them and run "
            f"`dataflare keys trust <file>`",
            plugin=name,
        )
    if entry.publisher != namespace:
        raise PluginVerificationError(
            "unknown-key",
            f"{package.origin} is signed by key {key_id}, which {store} trusts for publisher "
            f"{entry.publisher!r}, not {namespace!r}: a key signs only its own publisher's "
            f"plugins ({entry.publisher}/...). Get {name} from publisher {namespace!r}, signed "
            "with their key",
            plugin=name,
        )
    status = entry.status(now)
    if status is KeyStatus.REVOKED:
        raise PluginVerificationError(
            "revoked-key",
            f"{package.origin} is signed by key {key_id} of publisher {namespace!r}, revoked on "
            f"{entry.revoked:%Y-%m-%d} ({entry.revoked_reason}). Do not use this package; get a "
            f"release signed with the current key of publisher {namespace!r}",
            plugin=name,
        )
    if status is KeyStatus.EXPIRED:
        successor = f" (replaced by {entry.replaced_by})" if entry.replaced_by else ""
        raise PluginVerificationError(
            "expired-key",
            f"{package.origin} is signed by key {key_id} of publisher {namespace!r}, which "
            f"expired on {entry.expires:%Y-%m-%d}{successor}: get a release signed with the "
            f"current key of publisher {namespace!r}, or if you still trust this one, extend "
            "it with `dataflare keys trust <their .pub file> --expires <date>`",
            plugin=name,
        )
    return entry


def _check_compatible(manifest: PluginManifest, host_version: str, abis: Sequence[str]) -> None:
    try:
        supported = SpecifierSet(manifest.dataflare).contains(
            Version(host_version), prereleases=True
        )
    except InvalidVersion:
        raise ValueError(f"host_version {host_version!r} is not a version number") from None
    if not supported:
        raise PluginIncompatibleError(
            "incompatible-host",
            f"version {manifest.version} works with DataFlare {manifest.dataflare}, and this is "
            f"DataFlare {host_version}: install a release of {manifest.name} built for "
            f"DataFlare {host_version}, or run a DataFlare version matching {manifest.dataflare}",
            plugin=manifest.name,
        )
    if manifest.abi not in abis:
        raise PluginIncompatibleError(
            "incompatible-abi",
            f"it is built for {manifest.abi}; this host supports {', '.join(abis)}: upgrade "
            "dataflare-kernel, or build the plugin against an older SDK",
            plugin=manifest.name,
        )
