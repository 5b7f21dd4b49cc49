"""``dataflare plugin sign``, ``verify`` and ``inspect``, run through click's test runner."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest
import wasmtime
from click.testing import CliRunner, Result

from dataflare.kernel._keyfiles import save_private
from dataflare.kernel._manifest import PluginManifest
from dataflare.kernel._package import read_package, write_package
from dataflare.kernel._package_cli import inspect, sign, verify
from dataflare.kernel._signing import SigningIdentity, generate_keypair
from dataflare.kernel._trust import TrustStore
from dataflare.kernel.errors import PluginError, PluginVerificationError

WAT = """
(module
  (import "df" "log" (func (param i32 i32 i32)))
  (memory (export "memory") 1 2)
  (func $boom unreachable)
  (start $boom)
  (func (export "df_abi_v1"))
  (func (export "df_process") (param i32 i32) (result i32) i32.const 0))
"""
WASM = bytes(wasmtime.wat2wasm(WAT))  # its start function traps: running it would fail


@pytest.fixture
def acme() -> SigningIdentity:
    """Publisher acme's signing key."""
    return generate_keypair("acme")


@pytest.fixture
def key_file(tmp_path: Path, acme: SigningIdentity) -> Path:
    """acme's private key file, mode 0600."""
    return save_private(acme, tmp_path / "acme.key")


@pytest.fixture
def store_path(tmp_path: Path, acme: SigningIdentity) -> Path:
    """A trust store file that trusts acme's key."""
    path = tmp_path / "trust.json"
    TrustStore.load(path).trust(acme.public)
    return path


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """An unsigned acme/redact for DataFlare 0.1.x, with a README."""
    manifest = PluginManifest(
        name="acme/redact",
        version="1.2.0",
        kind="map",
        dataflare=">=0.1,<0.2",
        license="MIT",
        capabilities=("log",),
    )
    files = {"plugin.wasm": WASM, "README.md": b"# redact\n"}
    return write_package(tmp_path / "redact.dfp", manifest, files)


def run(command, *args: str | Path, store: Path) -> Result:
    """Invoke one command with the test's trust store."""
    argv = [str(arg) for arg in args] + ["--trust-store", str(store)]
    return CliRunner().invoke(command, argv)


def add_member(package: Path, name: str, data: bytes) -> None:
    """Slip a member into a package after the fact."""
    with zipfile.ZipFile(package, "a") as archive:
        archive.writestr(name, data)


def test_sign_then_verify(package, key_file, store_path, acme):
    """A package signed with a trusted key verifies: exit 0, a summary on stdout."""
    signed = run(sign, package, "--key", key_file, store=store_path)
    assert signed.exit_code == 0, signed.output
    assert signed.stdout == ""
    assert f"signed acme/redact 1.2.0 with key {acme.key_id} (publisher 'acme')" in signed.stderr
    result = run(verify, package, store=store_path)
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"verified acme/redact 1.2.0: signed by {acme.key_id}, trusted for publisher 'acme'\n"
    )


def test_verify_json_reports_what_was_verified(package, key_file, store_path, acme):
    """verify --json gives the plugin, signer and digests for machines."""
    run(sign, package, "--key", key_file, store=store_path)
    result = run(verify, package, "--json", store=store_path)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["verified"] is True
    assert (report["plugin"], report["version"], report["key_id"]) == (
        "acme/redact",
        "1.2.0",
        acme.key_id,
    )
    assert report["module_sha256"] == hashlib.sha256(WASM).hexdigest()
    assert report["package_sha256"] == hashlib.sha256(package.read_bytes()).hexdigest()


def test_verify_fails_with_the_reason(package, key_file, store_path):
    """A tampered package exits 1: JSON carries the reason, text mode raises the error."""
    run(sign, package, "--key", key_file, store=store_path)
    add_member(package, "hooks/postinstall.py", b"import os")
    as_json = run(verify, package, "--json", store=store_path)
    assert as_json.exit_code == 1
    report = json.loads(as_json.stdout)
    assert (report["verified"], report["reason"], report["plugin"]) == (
        False,
        "unexpected-file",
        "acme/redact",
    )
    assert "hooks/postinstall.py" in report["message"]
    as_text = run(verify, package, store=store_path)
    assert as_text.exit_code == 1
    assert isinstance(as_text.exception, PluginVerificationError)
    assert as_text.exception.reason == "unexpected-file"


def test_verify_refuses_an_unsigned_package(package, store_path):
    """An unsigned package does not verify."""
    result = run(verify, package, "--json", store=store_path)
    assert (result.exit_code, json.loads(result.stdout)["reason"]) == (1, "unsigned")


def test_sign_warns_when_the_key_is_not_trusted_here(package, key_file, tmp_path):
    """Signing with a key the local store does not trust works, with a note saying so."""
    result = run(sign, package, "--key", key_file, store=tmp_path / "empty.json")
    assert result.exit_code == 0, result.output
    assert "so the package will not verify here" in result.stderr
    assert read_package(package).signature is not None


def test_sign_refuses_a_key_others_can_read(package, key_file, store_path):
    """A private key readable by others is refused before anything is signed."""
    key_file.chmod(0o644)
    result = run(sign, package, "--key", key_file, store=store_path)
    assert isinstance(result.exception, PluginError)
    assert f"run `chmod 600 {key_file}`" in str(result.exception)
    assert read_package(package).signature is None


def test_sign_refuses_another_publishers_key(package, tmp_path, store_path):
    """A key of publisher globex cannot sign acme/redact."""
    globex = save_private(generate_keypair("globex"), tmp_path / "globex.key")
    result = run(sign, package, "--key", globex, store=store_path)
    assert isinstance(result.exception, PluginError)
    assert "belongs to publisher 'globex'" in str(result.exception)


def test_inspect_json_shows_manifest_files_signer_and_module(package, key_file, store_path, acme):
    """inspect lists the manifest, each file's status, the signer's trust, imports and exports."""
    run(sign, package, "--key", key_file, store=store_path)
    add_member(package, "extra.txt", b"surprise")
    result = run(inspect, package, "--json", store=store_path)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["manifest"]["name"] == "acme/redact"
    assert report["manifest"]["capabilities"] == ["log"]
    files = {row["name"]: row for row in report["files"]}
    assert {name: row["status"] for name, row in files.items()} == {
        "README.md": "ok",
        "extra.txt": "unlisted",
        "plugin.wasm": "ok",
    }
    assert files["plugin.wasm"]["sha256"] == hashlib.sha256(WASM).hexdigest()
    assert report["signature"] == {
        "key_id": acme.key_id,
        "key_status": "trusted",
        "publisher": "acme",
        "valid": True,
    }
    module = report["module"]
    assert module["error"] is None
    assert module["imports"] == [
        {"module": "df", "name": "log", "type": "func (i32, i32, i32) -> ()"}
    ]
    assert module["exports"] == [
        {"name": "memory", "type": "memory 1..2 pages"},
        {"name": "df_abi_v1", "type": "func () -> ()"},
        {"name": "df_process", "type": "func (i32, i32) -> (i32)"},
    ]


def test_inspect_reports_a_modified_file_and_an_unknown_signer(package, key_file, tmp_path):
    """With an empty store the signer is unknown and unchecked; a changed file is 'modified'."""
    run(sign, package, "--key", key_file, store=tmp_path / "empty.json")
    contents = {}
    with zipfile.ZipFile(package) as archive:
        contents = {name: archive.read(name) for name in archive.namelist()}
    contents["README.md"] = b"# REDACT\n"
    with zipfile.ZipFile(package, "w") as archive:
        for name, data in contents.items():
            archive.writestr(name, data)
    report = json.loads(run(inspect, package, "--json", store=tmp_path / "empty.json").stdout)
    assert {row["name"]: row["status"] for row in report["files"]}["README.md"] == "modified"
    assert (report["signature"]["key_status"], report["signature"]["valid"]) == ("unknown", None)


def test_inspect_text(package, store_path):
    """The text view names the plugin, the missing signature, the files and the module."""
    result = run(inspect, package, store=store_path)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "acme/redact 1.2.0 (map, dataflare-batch/1, DataFlare >=0.1,<0.2, MIT)"
    assert "signature  none (unsigned)" in lines
    assert "imports  df.log (func (i32, i32, i32) -> ())" in lines
    assert "  df_abi_v1: func () -> ()" in lines
    assert any(line.startswith("  ok") and line.endswith("plugin.wasm") for line in lines)


def test_inspect_an_invalid_module(tmp_path, store_path):
    """A module that is not WebAssembly is reported, not raised."""
    manifest = PluginManifest(
        name="acme/redact", version="1.0.0", kind="map", dataflare=">=0.1", license="MIT"
    )
    path = write_package(tmp_path / "bad.dfp", manifest, {"plugin.wasm": b"\0asm\1\0\0\0\5"})
    report = json.loads(run(inspect, path, "--json", store=store_path).stdout)
    assert report["module"]["error"].startswith("not a valid WebAssembly module")
