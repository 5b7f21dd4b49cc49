"""Plugin packages: reproducible writing, strict archive rules on reading, file checks."""

from __future__ import annotations

import hashlib
import io
import stat
import warnings
import zipfile
from pathlib import Path

import pytest
import wasmtime

from dataflare.kernel._manifest import PluginManifest
from dataflare.kernel._package import read_package, sign_package, write_package
from dataflare.kernel._signing import generate_keypair
from dataflare.kernel.errors import PluginError, PluginVerificationError

WASM = bytes(wasmtime.wat2wasm('(module (memory (export "memory") 1) (func (export "df_abi_v1")))'))
MANIFEST = PluginManifest(
    name="acme/redact", version="1.2.0", kind="map", dataflare=">=0.1,<0.2", license="MIT"
)
FILES = {"plugin.wasm": WASM, "README.md": b"# redact\n"}


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """An unsigned package of the module and a README."""
    return write_package(tmp_path / "redact.dfp", MANIFEST, FILES)


def members(path: Path) -> dict[str, bytes]:
    """Every member of an archive, by name."""
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def archive(
    *entries: tuple[str | zipfile.ZipInfo, bytes],
    manifest: bytes = MANIFEST.to_json(),
    method: int = zipfile.ZIP_STORED,
) -> bytes:
    """A ZIP of a manifest and entries, built without the package writer's checks."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as zf:
        zf.writestr("dataflare-plugin.json", manifest)
        for name, data in entries:
            zf.writestr(name, data)
    return buffer.getvalue()


def malformed(source: Path | bytes) -> str:
    """Read a package that must be refused as malformed; return the message."""
    with pytest.raises(PluginVerificationError) as caught:
        read_package(source)
    assert caught.value.reason == "malformed"
    return str(caught.value)


def test_write_then_read_round_trips(package):
    """What is written reads back: the files, and the manifest with their sizes and hashes."""
    read = read_package(package)
    assert dict(read.files) == FILES
    assert read.signature is None
    assert read.module_bytes == WASM
    assert read.manifest.files["plugin.wasm"].sha256 == hashlib.sha256(WASM).hexdigest()
    assert read.manifest.files["README.md"].size == len(FILES["README.md"])
    assert read.manifest_bytes == read.manifest.to_json()
    assert read.sha256 == hashlib.sha256(package.read_bytes()).hexdigest()
    assert read.origin == str(package)
    assert read.check_files() == {n: hashlib.sha256(d).hexdigest() for n, d in FILES.items()}


def test_packages_are_reproducible_stored_zips(tmp_path):
    """The same input gives the same bytes; entries are stored, manifest first, mode 0644."""
    first = write_package(tmp_path / "a.dfp", MANIFEST, FILES).read_bytes()
    second = write_package(tmp_path / "b.dfp", MANIFEST, dict(reversed(FILES.items())))
    assert second.read_bytes() == first
    with zipfile.ZipFile(io.BytesIO(first)) as zf:
        infos = zf.infolist()
    assert [i.filename for i in infos] == ["dataflare-plugin.json", "README.md", "plugin.wasm"]
    assert {i.compress_type for i in infos} == {zipfile.ZIP_STORED}
    assert {stat.S_IMODE(i.external_attr >> 16) for i in infos} == {0o644}


def test_reading_bytes_is_the_same_as_reading_the_file(package):
    """A package can be read from memory, with the same result as from disk."""
    from_bytes = read_package(package.read_bytes())
    assert from_bytes.manifest == read_package(package).manifest
    assert from_bytes.origin == "<bytes>"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({**FILES, "../escape.sh": b""}, "contains '..'"),
        ({**FILES, "/etc/cron.d/x": b""}, "is an absolute path"),
        ({**FILES, "dataflare-plugin.sig": b"{}"}, "'dataflare-plugin.sig' is reserved"),
        ({**FILES, "readme.md": b""}, "two file names differ only in case"),
    ],
)
def test_write_refuses_unsafe_names(tmp_path, files, expected):
    """Names that could escape, collide or impersonate the package's own files are refused."""
    with pytest.raises(PluginVerificationError) as caught:
        write_package(tmp_path / "x.dfp", MANIFEST, files)
    assert caught.value.reason == "malformed"
    assert expected in str(caught.value)
    assert not (tmp_path / "x.dfp").exists()


def test_write_refuses_a_package_without_its_module(tmp_path):
    """The module the manifest names must be among the files."""
    with pytest.raises(PluginVerificationError) as caught:
        write_package(tmp_path / "x.dfp", MANIFEST, {"README.md": b""})
    assert caught.value.reason == "missing-file"
    assert "its module plugin.wasm is not among the files (README.md)" in str(caught.value)


def test_sign_keeps_the_manifest_bytes_and_adds_a_signature(package):
    """Signing adds dataflare-plugin.sig and leaves every other member byte for byte."""
    before = members(package)
    identity = generate_keypair("acme")
    sign_package(package, identity)
    after = members(package)
    assert set(after) - set(before) == {"dataflare-plugin.sig"}
    assert all(after[name] == data for name, data in before.items())
    assert read_package(package).signature.key_id == identity.key_id  # type: ignore[union-attr]


def test_sign_refuses_another_publishers_key(package):
    """A key of publisher globex cannot sign acme/redact: it would never verify."""
    with pytest.raises(PluginError, match=r"belongs to publisher 'globex'.*namespace 'acme'"):
        sign_package(package, generate_keypair("globex"))


def test_sign_refuses_a_package_whose_files_do_not_match(package):
    """A package changed after building is not signed."""
    contents = members(package)
    manifest = contents.pop("dataflare-plugin.json")
    contents["plugin.wasm"] = WASM + b"\0"
    package.write_bytes(archive(*contents.items(), manifest=manifest))
    with pytest.raises(PluginVerificationError) as caught:
        sign_package(package, generate_keypair("acme"))
    assert caught.value.reason == "hash-mismatch"


def test_check_files_reports_missing_unexpected_and_changed_files(package):
    """Each way the files can differ from the manifest has its own reason."""
    contents = members(package)
    manifest = contents.pop("dataflare-plugin.json")

    def check(files: dict[str, bytes]) -> PluginVerificationError:
        with pytest.raises(PluginVerificationError) as caught:
            read_package(archive(*files.items(), manifest=manifest)).check_files()
        return caught.value

    missing = check({"plugin.wasm": WASM})
    assert (missing.reason, missing.plugin) == ("missing-file", "acme/redact")
    assert "its manifest lists README.md, but <bytes> does not contain it" in str(missing)
    extra = check({**contents, "hooks/postinstall.py": b"import os"})
    assert extra.reason == "unexpected-file"
    assert "holds hooks/postinstall.py, which its signed manifest does not list" in str(extra)
    longer = check({**contents, "README.md": b"# redact!\n"})
    assert longer.reason == "hash-mismatch"
    assert "(10 bytes, expected 9 bytes)" in str(longer)
    same_size = check({**contents, "README.md": b"# REDACT\n"})
    assert same_size.reason == "hash-mismatch"
    assert f"expected sha256 {hashlib.sha256(FILES['README.md']).hexdigest()}" in str(same_size)


def test_module_bytes_of_a_package_without_its_module_is_a_missing_file():
    """Asking for the module of a package that lacks it says which file is missing."""
    with pytest.raises(PluginVerificationError) as caught:
        _ = read_package(archive(("README.md", b""))).module_bytes
    assert caught.value.reason == "missing-file"


def test_reading_refuses_what_is_not_a_package(tmp_path):
    """Random bytes, and a ZIP without a manifest, are not packages."""
    assert "the package is not a ZIP archive, so not a plugin package" in malformed(
        b"\0asm not a zip"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("plugin.wasm", WASM)
    assert "the package has no dataflare-plugin.json" in malformed(buffer.getvalue())


def test_reading_a_missing_file_is_a_plugin_error(tmp_path):
    """A path that does not exist is reported as unreadable, naming it."""
    with pytest.raises(PluginError, match=r"cannot read plugin package .*nothing\.dfp"):
        read_package(tmp_path / "nothing.dfp")


def _info(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = mode << 16
    return info


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (("../../.bashrc", b"x"), "contains '..', which would reach outside the package"),
        (("/etc/passwd", b"x"), "is an absolute path"),
        (("..\\evil.dll", b"x"), "contains a backslash"),
        (("docs/", b""), "holds the directory entry 'docs/'"),
        ((_info("link", stat.S_IFLNK | 0o777), b"/etc/passwd"), "holds the symbolic link 'link'"),
        (("plugin.wasm\u202e", b"x"), "may only use letters, digits"),
    ],
)
def test_archive_rules(entry, expected):
    """Members that could escape the package or are not plain files are refused."""
    message = malformed(archive(("plugin.wasm", WASM), entry))
    assert expected in message
    assert "Do not use it; get it again from its publisher" in message


def test_duplicate_and_case_colliding_names_are_refused():
    """Two members with one name, or names that differ only in case, are refused."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns when writing a duplicate
        duplicate = archive(("plugin.wasm", WASM), ("plugin.wasm", b"evil"))
    assert "holds 'plugin.wasm' twice" in malformed(duplicate)
    colliding = archive(("plugin.wasm", WASM), ("PLUGIN.WASM", b"evil"))
    assert "'plugin.wasm' and 'PLUGIN.WASM', which differ only in case" in malformed(colliding)


def test_compressed_and_encrypted_members_are_refused():
    """Only stored, unencrypted members are read: no zip bombs, nothing hidden."""
    compressed = archive(("plugin.wasm", WASM), method=zipfile.ZIP_DEFLATED)
    assert "compressed member" in malformed(compressed)
    flagged = bytearray(archive(("plugin.wasm", WASM)))
    entry = flagged.index(b"PK\x01\x02", flagged.index(b"PK\x01\x02") + 1)  # its directory entry
    flagged[entry + 8] |= 0x1  # general purpose flag bit 0: encrypted
    assert "holds the encrypted member 'plugin.wasm'" in malformed(bytes(flagged))


def test_too_many_members_are_refused():
    """A package holds at most 64 members."""
    many = archive(*[(f"f{index}.txt", b"") for index in range(64)])
    assert "holds 65 files; a package holds at most 64" in malformed(many)


def test_too_many_bytes_are_refused(tmp_path):
    """Members adding up to more than 64 MiB are refused before they are read."""
    big = archive(("a.bin", bytes(33 * 2**20)), ("b.bin", bytes(32 * 2**20)))
    assert "unpacks to more than 64 MiB" in malformed(big)
    path = tmp_path / "huge.dfp"
    with path.open("wb") as file:
        file.truncate(66 * 2**20)
    assert "is 69206016 bytes; a package holds at most 64 MiB" in malformed(path)


def test_a_malformed_signature_file_is_refused(package):
    """A signature file that is not an envelope is malformed, with the fix."""
    contents = members(package)
    manifest = contents.pop("dataflare-plugin.json")
    signature = b'{"key_id": "k", "signature": "!"}'
    data = archive(*contents.items(), ("dataflare-plugin.sig", signature), manifest=manifest)
    message = malformed(data)
    assert "dataflare-plugin.sig in <bytes> is not a signature" in message
    assert "key_id: expected 'ed25519:' and 16 hex digits" in message
    assert "sign the package again with `dataflare plugin sign`" in message
