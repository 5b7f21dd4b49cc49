"""``dataflare plugin sign``, ``verify`` and ``inspect``: the package commands.

``verify`` exits 0 when the package would load here and 1 with the failed check's
reason otherwise. ``inspect`` shows what a package holds and claims, whether or
not it verifies; it compiles the module to list its imports and exports, but
never instantiates or runs it.

Example::

    dataflare plugin sign redact.dfp --key ~/.dataflare/keys/acme.key
    dataflare plugin verify redact.dfp --json
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import click
import wasmtime

from dataflare.kernel._keyfiles import load_private
from dataflare.kernel._keys_cli import trust_store_option
from dataflare.kernel._package import PluginPackage, read_package, sign_package
from dataflare.kernel._signing import verify_signature
from dataflare.kernel._trust import TrustStore
from dataflare.kernel._trust_file import KeyStatus
from dataflare.kernel._verify import verify_package
from dataflare.kernel.errors import PluginVerificationError

__all__ = ("inspect", "sign", "verify")

_PACKAGE = click.argument("package", type=click.Path(exists=True, dir_okay=False, path_type=Path))
_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")


@click.command()
@_PACKAGE
@click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The publisher's private key file (from `dataflare keys generate`).",
)
@trust_store_option
def sign(package: Path, key_file: Path, trust_store: Path | None) -> None:
    """Sign PACKAGE in place with a publisher's key."""
    identity = load_private(key_file)
    sign_package(package, identity)
    manifest = read_package(package).manifest
    click.echo(
        f"signed {manifest.name} {manifest.version} with key {identity.key_id} "
        f"(publisher {identity.publisher!r})",
        err=True,
    )
    store = TrustStore.load(trust_store)
    if store.status(identity.key_id) is not KeyStatus.TRUSTED:
        click.echo(
            f"note: {identity.key_id} is not trusted in {store.path}, so the package will not "
            "verify here; `dataflare keys trust` its .pub file to test it locally",
            err=True,
        )


@click.command()
@_PACKAGE
@_JSON
@trust_store_option
@click.pass_context
def verify(ctx: click.Context, package: Path, as_json: bool, trust_store: Path | None) -> None:
    """Check PACKAGE as loading it would.

    Exits 0 when it verifies, and 1 with the reason (unsigned, unknown-key,
    hash-mismatch...) when it does not.
    """
    store = TrustStore.load(trust_store)
    try:
        plugin = verify_package(package, store, host_version=version("dataflare-kernel"))
    except PluginVerificationError as exc:
        if not as_json:
            raise
        failure = {"verified": False, "package": str(package), "plugin": exc.plugin}
        click.echo(json.dumps({**failure, "reason": exc.reason, "message": str(exc)}, indent=2))
        ctx.exit(1)
    if as_json:
        report = {
            "verified": True,
            "package": str(package),
            "plugin": plugin.manifest.name,
            "version": plugin.manifest.version,
            "publisher": plugin.publisher,
            "key_id": plugin.key_id,
            "package_sha256": plugin.package_sha256,
            "module_sha256": plugin.module_sha256,
        }
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(
            f"verified {plugin.manifest.name} {plugin.manifest.version}: signed by "
            f"{plugin.key_id}, trusted for publisher {plugin.publisher!r}"
        )


@click.command()
@_PACKAGE
@_JSON
@trust_store_option
def inspect(package: Path, as_json: bool, trust_store: Path | None) -> None:
    """Show what PACKAGE holds, verified or not.

    The manifest, each file with its size, SHA-256 and whether it matches, the
    signer's key and its trust, and the module's imports and exports. The
    module is compiled to list them, never run.
    """
    report = _report(read_package(package), TrustStore.load(trust_store))
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    manifest = report["manifest"]
    lines = [
        f"{manifest['name']} {manifest['version']} ({manifest['kind']}, {manifest['abi']}, "
        f"DataFlare {manifest['dataflare']}, {manifest['license']})",
        f"package  {report['package']}  sha256 {report['sha256']}",
        f"capabilities  {', '.join(manifest['capabilities']) or 'none'}",
        "limits  " + ", ".join(f"{k} {v}" for k, v in manifest["limits"].items()),
    ]
    signature = report["signature"]
    if signature is None:
        lines.append("signature  none (unsigned)")
    else:
        valid = {True: "valid", False: "INVALID", None: "not checked"}[signature["valid"]]
        lines.append(f"signature  {signature['key_id']}: key {signature['key_status']}, {valid}")
    lines.append("files")
    lines += [
        f"  {f['status']:<9} {f['size']:>9}  {f['sha256']}  {f['name']}" for f in report["files"]
    ]
    module = report["module"]
    if module["error"]:
        lines.append(f"module  {module['error']}")
    else:
        lines.append("imports  " + (", ".join(_names(module["imports"])) or "none"))
        lines += ["exports"] + [f"  {e['name']}: {e['type']}" for e in module["exports"]]
    click.echo("\n".join(lines))


def _names(imports: list[dict[str, str]]) -> list[str]:
    return [f"{i['module']}.{i['name']} ({i['type']})" for i in imports]


def _report(package: PluginPackage, store: TrustStore) -> dict[str, Any]:
    return {
        "package": package.origin,
        "sha256": package.sha256,
        "manifest": json.loads(package.manifest.to_json()),
        "files": _files(package),
        "signature": _signature(package, store),
        "module": _module(package),
    }


def _files(package: PluginPackage) -> list[dict[str, Any]]:
    listed = package.manifest.files
    rows = []
    for name in sorted({*listed, *package.files}):
        data = package.files.get(name)
        digest = hashlib.sha256(data).hexdigest() if data is not None else listed[name].sha256
        status = "ok"
        if data is None:
            status = "missing"
        elif name not in listed:
            status = "unlisted"
        elif digest != listed[name].sha256 or len(data) != listed[name].size:
            status = "modified"
        size = len(data) if data is not None else listed[name].size
        rows.append({"name": name, "size": size, "sha256": digest, "status": status})
    return rows


def _signature(package: PluginPackage, store: TrustStore) -> dict[str, Any] | None:
    envelope = package.signature
    if envelope is None:
        return None
    entry = store.get(envelope.key_id)
    valid = None
    if entry is not None:
        valid = verify_signature(package.manifest_bytes, envelope, entry.verify_key)
    return {
        "key_id": envelope.key_id,
        "key_status": store.status(envelope.key_id, datetime.now(UTC)).value,
        "publisher": entry.publisher if entry else None,
        "valid": valid,
    }


def _module(package: PluginPackage) -> dict[str, Any]:
    data = package.files.get(package.manifest.module)
    if data is None:
        return {
            "error": f"the package has no {package.manifest.module}",
            "imports": [],
            "exports": [],
        }
    try:
        # Compiling reads the module; only instantiating would run any of it.
        module = wasmtime.Module(wasmtime.Engine(), data)
    except wasmtime.WasmtimeError as exc:
        first = str(exc).splitlines()[0]
        return {"error": f"not a valid WebAssembly module: {first}", "imports": [], "exports": []}
    return {
        "error": None,
        "imports": [
            {"module": i.module, "name": i.name or "", "type": _describe(i.type)}
            for i in module.imports
        ],
        "exports": [{"name": e.name, "type": _describe(e.type)} for e in module.exports],
    }


def _describe(kind: Any) -> str:
    if isinstance(kind, wasmtime.FuncType):
        params = ", ".join(map(str, kind.params))
        results = ", ".join(map(str, kind.results))
        return f"func ({params}) -> ({results})"
    if isinstance(kind, (wasmtime.MemoryType, wasmtime.TableType)):
        limits = kind.limits
        size = f"{limits.min}..{limits.max}" if limits.max is not None else f"{limits.min}+"
        if isinstance(kind, wasmtime.MemoryType):
            return f"memory {size} pages"
        return f"table {kind.element} {size}"
    if isinstance(kind, wasmtime.GlobalType):
        return f"global {'mut ' if kind.mutable else ''}{kind.content}"
    return type(kind).__name__
