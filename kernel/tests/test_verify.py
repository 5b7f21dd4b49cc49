"""Verifying a package: what a verified plugin carries, the order of checks, and the speed."""

from __future__ import annotations

import hashlib
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import wasmtime

from dataflare.kernel._manifest import PluginManifest
from dataflare.kernel._package import sign_package, write_package
from dataflare.kernel._signing import SigningIdentity, generate_keypair
from dataflare.kernel._trust import TrustStore
from dataflare.kernel._verify import verify_package
from dataflare.kernel.errors import PluginVerificationError

WASM = bytes(wasmtime.wat2wasm('(module (memory (export "memory") 1) (func (export "df_abi_v1")))'))
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def build(
    path: Path,
    identity: SigningIdentity | None,
    files: dict[str, bytes] | None = None,
    **manifest: str,
) -> Path:
    """Write acme/redact 1.2.0 (for DataFlare 0.1.x) and sign it with ``identity``, if any."""
    fields = {"name": "acme/redact", "version": "1.2.0", "kind": "map", "license": "MIT"}
    fields |= {"dataflare": ">=0.1,<0.2"} | manifest
    write_package(path, PluginManifest(**fields), files or {"plugin.wasm": WASM})
    return sign_package(path, identity) if identity else path


@pytest.fixture
def acme() -> SigningIdentity:
    """Publisher acme's signing key."""
    return generate_keypair("acme")


@pytest.fixture
def store(acme: SigningIdentity) -> TrustStore:
    """An in-memory trust store that trusts acme's key."""
    trust = TrustStore()
    trust.trust(acme.public, now=NOW)
    return trust


def test_a_signed_package_verifies(tmp_path, acme, store):
    """A package signed by a trusted key of its publisher gives what the host needs to run it."""
    path = build(tmp_path / "redact.dfp", acme)
    plugin = verify_package(path, store, host_version="0.1.0", now=NOW)
    assert plugin.manifest.name == "acme/redact"
    assert plugin.module_bytes == WASM
    assert (plugin.key_id, plugin.publisher) == (acme.key_id, "acme")
    assert plugin.package_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert plugin.module_sha256 == hashlib.sha256(WASM).hexdigest()
    assert verify_package(path.read_bytes(), store, host_version="0.1.0", now=NOW) == plugin


def test_a_prerelease_host_inside_the_range_is_accepted(tmp_path, acme, store):
    """A development build of a supported DataFlare version runs the plugin."""
    path = build(tmp_path / "redact.dfp", acme)
    assert verify_package(path, store, host_version="0.1.3rc1", now=NOW)


def test_a_host_can_support_other_abis(tmp_path, acme, store):
    """A plugin for dataflare-batch/2 verifies on a host that lists that ABI as supported."""
    path = build(tmp_path / "redact.dfp", acme, abi="dataflare-batch/2")
    abis = ("dataflare-batch/1", "dataflare-batch/2")
    plugin = verify_package(path, store, host_version="0.1.0", supported_abis=abis, now=NOW)
    assert plugin.manifest.abi == "dataflare-batch/2"


def test_expiry_is_judged_at_now(tmp_path, acme):
    """A key expiring tomorrow verifies today and not the day after."""
    store = TrustStore()
    store.trust(acme.public, expires=NOW + timedelta(days=1), now=NOW)
    path = build(tmp_path / "redact.dfp", acme)
    assert verify_package(path, store, host_version="0.1.0", now=NOW)
    with pytest.raises(PluginVerificationError) as caught:
        verify_package(path, store, host_version="0.1.0", now=NOW + timedelta(days=2))
    assert caught.value.reason == "expired-key"


def test_rotation_end_to_end(tmp_path, acme, store):
    """After a rotation, old-key packages verify until the grace ends; new-key packages keep on."""
    successor = generate_keypair("acme")
    store.rotate(acme.key_id, successor.public, grace=timedelta(days=7), now=NOW)
    old = build(tmp_path / "old.dfp", acme)
    new = build(tmp_path / "new.dfp", successor)
    later = NOW + timedelta(days=8)
    assert verify_package(old, store, host_version="0.1.0", now=NOW + timedelta(days=6))
    assert verify_package(new, store, host_version="0.1.0", now=later).key_id == successor.key_id
    with pytest.raises(PluginVerificationError) as caught:
        verify_package(old, store, host_version="0.1.0", now=later)
    assert caught.value.reason == "expired-key"
    assert f"(replaced by {successor.key_id})" in str(caught.value)


def test_the_signer_is_checked_before_the_files(tmp_path, store):
    """An unsigned package with an extra file is refused as unsigned: trust comes first."""
    path = build(tmp_path / "redact.dfp", None, {"plugin.wasm": WASM})
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("extra.txt", b"not listed")
    with pytest.raises(PluginVerificationError) as caught:
        verify_package(path, store, host_version="0.1.0", now=NOW)
    assert caught.value.reason == "unsigned"
    assert "dataflare plugin sign" in str(caught.value)


def test_trust_is_checked_before_compatibility(tmp_path):
    """A package for another DataFlare, signed by an unknown key, is refused for its key."""
    path = build(tmp_path / "redact.dfp", generate_keypair("acme"), dataflare=">=9")
    with pytest.raises(PluginVerificationError) as caught:
        verify_package(path, TrustStore(), host_version="0.1.0", now=NOW)
    assert caught.value.reason == "unknown-key"


def test_an_invalid_host_version_is_a_programming_error(tmp_path, acme, store):
    """The host must pass its own version as a version number."""
    path = build(tmp_path / "redact.dfp", acme)
    with pytest.raises(ValueError, match="host_version 'dev' is not a version number"):
        verify_package(path, store, host_version="dev", now=NOW)
