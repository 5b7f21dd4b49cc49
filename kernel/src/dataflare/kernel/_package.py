"""Plugin packages (``.dfp``): read, write and sign them.

A package is a ZIP archive (see :mod:`dataflare.kernel._archive` for its rules)
holding the manifest ``dataflare-plugin.json``, the signature
``dataflare-plugin.sig`` once signed, and exactly the files the manifest lists.
Signing adds the signature and never rewrites the manifest's bytes.

Example::

    path = write_package(Path("redact.dfp"), manifest, {"plugin.wasm": wasm})
    sign_package(path, load_private(Path("acme.key")))
    package = read_package(path)     # PluginVerificationError("malformed", ...) if not
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import attrs

from dataflare.kernel._archive import (
    MAX_MEMBERS,
    MAX_PACKAGE_BYTES,
    REBUILD,
    archive_members,
    load_archive,
    write_archive,
)
from dataflare.kernel._manifest import FileDigest, PluginManifest
from dataflare.kernel._manifest_rules import MANIFEST_FILE, SIGNATURE_FILE, member_name_problem
from dataflare.kernel._signing import SignatureEnvelope, SigningIdentity, sign_manifest
from dataflare.kernel.errors import PluginError, PluginVerificationError

__all__ = ("PluginPackage", "read_package", "sign_package", "write_package")


@attrs.frozen
class PluginPackage:
    """A package whose archive is well-formed; nothing in it is verified yet."""

    manifest_bytes: bytes = attrs.field(repr=False)
    """The manifest exactly as stored: what the signature covers."""

    manifest: PluginManifest
    """The manifest, parsed."""

    signature: SignatureEnvelope | None
    """The signature, or ``None`` for an unsigned package."""

    files: Mapping[str, bytes] = attrs.field(repr=False)
    """Every other member, by name."""

    sha256: str
    """SHA-256 of the whole archive, in hex."""

    origin: str = "<bytes>"
    """Where the package was read from, for messages."""

    @property
    def module_bytes(self) -> bytes:
        """The WebAssembly module the manifest names.

        Raises:
            PluginVerificationError: ``missing-file`` when the package lacks it.
        """
        module = self.files.get(self.manifest.module)
        if module is None:
            raise self._missing([self.manifest.module])
        return module

    def check_files(self) -> dict[str, str]:
        """Check the members are exactly the files the manifest lists, with their sizes and hashes.

        Returns:
            The SHA-256 (hex) of each file, by name, so no caller hashes twice.

        Raises:
            PluginVerificationError: ``missing-file``, ``unexpected-file`` or
                ``hash-mismatch``.
        """
        listed = self.manifest.files
        if self.manifest.module not in listed:
            raise PluginVerificationError(
                "missing-file",
                f"its manifest names the module {self.manifest.module} but does not list it "
                f"under files: {REBUILD}",
                plugin=self.manifest.name,
            )
        if missing := sorted(set(listed) - set(self.files)):
            raise self._missing(missing)
        if unexpected := sorted(set(self.files) - set(listed)):
            raise PluginVerificationError(
                "unexpected-file",
                f"{self.origin} holds {_names(unexpected)}, which its signed manifest does not "
                "list: files were added after signing. Do not use this package; get it again "
                "from its publisher",
                plugin=self.manifest.name,
            )
        digests = {}
        for name, data in self.files.items():
            digest = hashlib.sha256(data).hexdigest() if len(data) == listed[name].size else ""
            if digest != listed[name].sha256:
                found = f"sha256 {digest}" if digest else f"{len(data)} bytes"
                wanted = f"sha256 {listed[name].sha256}" if digest else f"{listed[name].size} bytes"
                raise PluginVerificationError(
                    "hash-mismatch",
                    f"{name} in {self.origin} does not match its signed manifest ({found}, "
                    f"expected {wanted}): the file was changed after signing. Do not use this "
                    "package; get it again from its publisher",
                    plugin=self.manifest.name,
                )
            digests[name] = digest
        return digests

    def _missing(self, names: list[str]) -> PluginVerificationError:
        return PluginVerificationError(
            "missing-file",
            f"its manifest lists {_names(names)}, but {self.origin} does not contain "
            f"{'it' if len(names) == 1 else 'them'}: the package is incomplete; get it again "
            f"from its publisher, or {REBUILD}",
            plugin=self.manifest.name,
        )


def read_package(source: Path | bytes) -> PluginPackage:
    """Read a package, checking its archive and parsing its manifest and signature.

    This does not verify anything: :func:`~dataflare.kernel._verify.verify_package` does.

    Args:
        source: A ``.dfp`` file, or its bytes.

    Returns:
        The package.

    Raises:
        PluginVerificationError: ``malformed``, saying which rule the archive, the
            manifest or the signature breaks.
        PluginError: The file cannot be read.
    """
    origin, data = load_archive(source)
    members = archive_members(data, origin)
    manifest_bytes = members.pop(MANIFEST_FILE, None)
    if manifest_bytes is None:
        raise PluginVerificationError(
            "malformed",
            f"the package has no {MANIFEST_FILE}, so it is not a DataFlare plugin package: "
            f"{REBUILD}",
            plugin=origin,
        )
    manifest = PluginManifest.from_json(manifest_bytes, origin=origin)
    signature_bytes = members.pop(SIGNATURE_FILE, None)
    signature = None
    if signature_bytes is not None:
        try:
            signature = SignatureEnvelope.from_json(signature_bytes)
        except ValueError as exc:
            raise PluginVerificationError(
                "malformed",
                f"{SIGNATURE_FILE} in {origin} is not a signature ({exc}): sign the package "
                "again with `dataflare plugin sign`",
                plugin=manifest.name,
            ) from None
    return PluginPackage(
        manifest_bytes=manifest_bytes,
        manifest=manifest,
        signature=signature,
        files=MappingProxyType(members),
        sha256=hashlib.sha256(data).hexdigest(),
        origin=origin,
    )


def write_package(destination: Path, manifest: PluginManifest, files: Mapping[str, bytes]) -> Path:
    """Write an unsigned package, recording each file's size and SHA-256 in its manifest.

    The archive is reproducible: the same manifest and files give the same bytes.

    Args:
        destination: The ``.dfp`` file to write (replaced atomically if it exists).
        manifest: The manifest; its ``files`` are replaced by those of ``files``.
        files: Every file to package, module included, by name.

    Returns:
        ``destination``.

    Raises:
        PluginVerificationError: ``malformed`` for an unsafe or reserved name or
            a package over the limits; ``missing-file`` when the module is not among
            ``files``.
    """
    problems = [problem for name in files if (problem := member_name_problem(name))]
    problems += [
        f"{name!r} is reserved" for name in (MANIFEST_FILE, SIGNATURE_FILE) if name in files
    ]
    if len({name.lower() for name in files}) != len(files):
        problems.append("two file names differ only in case")
    if len(files) > MAX_MEMBERS - 2 or sum(map(len, files.values())) > MAX_PACKAGE_BYTES:
        problems.append(f"a package holds at most {MAX_MEMBERS - 2} files and 64 MiB")
    if problems:
        raise PluginVerificationError(
            "malformed", f"cannot package it: {'; '.join(problems)}", plugin=manifest.name
        )
    if manifest.module not in files:
        raise PluginVerificationError(
            "missing-file",
            f"cannot package it: its module {manifest.module} is not among the files "
            f"({_names(sorted(files)) or 'none'})",
            plugin=manifest.name,
        )
    digests = {
        name: FileDigest(hashlib.sha256(data).hexdigest(), len(data))
        for name, data in files.items()
    }
    manifest = attrs.evolve(manifest, files=digests)
    write_archive(destination, [(MANIFEST_FILE, manifest.to_json()), *sorted(files.items())])
    return destination


def sign_package(package_path: Path, identity: SigningIdentity) -> Path:
    """Sign a package in place, keeping its manifest bytes as they are.

    A package whose files do not match its manifest, or whose namespace is not
    the key's publisher, is refused rather than signed.

    Args:
        package_path: The ``.dfp`` file (signed or not).
        identity: The publisher's signing key.

    Returns:
        ``package_path``.

    Raises:
        PluginVerificationError: The package is malformed or its files do not
            match its manifest.
        PluginError: The key belongs to another publisher.
    """
    package = read_package(package_path)
    namespace = package.manifest.name.partition("/")[0]
    if identity.publisher != namespace:
        raise PluginError(
            f"key {identity.key_id} belongs to publisher {identity.publisher!r}, but the plugin "
            f"is in namespace {namespace!r}: sign it with a key of publisher {namespace!r}",
            plugin=package.manifest.name,
        )
    package.check_files()
    envelope = sign_manifest(package.manifest_bytes, identity)
    signed = [(MANIFEST_FILE, package.manifest_bytes), (SIGNATURE_FILE, envelope.to_json())]
    write_archive(package_path, [*signed, *sorted(package.files.items())])
    return package_path


def _names(names: list[str]) -> str:
    return ", ".join(names)
