"""``dataflare keys``: make signing keys, and choose which publisher keys this machine trusts.

Key ids and JSON go to stdout, everything said to a person to stderr. Failures
raise :class:`~dataflare.kernel.errors.DataFlareError` subclasses, which the
``dataflare`` command prints before exiting 1.

Example::

    dataflare keys generate --publisher acme --trust   # prints ed25519:3f9c0a7d5e21b864
    dataflare keys rotate ed25519:3f9c0a7d5e21b864 acme-2026.pub --grace-days 30
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import click
from rich import box
from rich.console import Console
from rich.table import Table

from dataflare.kernel._keyfiles import load_public, save_private, save_public
from dataflare.kernel._signing import generate_keypair
from dataflare.kernel._trust import TrustStore
from dataflare.kernel._trust_file import KeyStatus, TrustedKey, default_home
from dataflare.kernel.errors import PluginError

__all__ = ("keys", "trust_store_option")

F = TypeVar("F", bound=Callable[..., Any])

_STATUS_STYLE = {KeyStatus.TRUSTED: "green", KeyStatus.EXPIRED: "yellow", KeyStatus.REVOKED: "red"}


def trust_store_option(command: F) -> F:
    """Add ``--trust-store PATH`` (env ``DATAFLARE_TRUST_STORE``) to a command."""
    option = click.option(
        "--trust-store",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="DATAFLARE_TRUST_STORE",
        help="The trust store file.  [default: $DATAFLARE_HOME/trust.json]",
    )
    return option(command)


def _stderr(message: str) -> None:
    click.echo(message, err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def keys() -> None:
    """Make signing keys, and manage the publisher keys whose plugins this machine runs."""


@keys.command()
@click.option("--publisher", required=True, help="The plugin namespace the key signs for.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for PUBLISHER.key and PUBLISHER.pub.  [default: $DATAFLARE_HOME/keys]",
)
@click.option("--trust", "also_trust", is_flag=True, help="Also trust the new key on this machine.")
@trust_store_option
def generate(publisher: str, out: Path | None, also_trust: bool, trust_store: Path | None) -> None:
    """Make a key pair for PUBLISHER; print its key id.

    Writes PUBLISHER.key (the private key, mode 0600) and PUBLISHER.pub (the
    public key, to give to those who run your plugins); never overwrites.
    """
    identity = generate_keypair(publisher)
    folder = default_home() / "keys" if out is None else out
    private, public = folder / f"{publisher}.key", folder / f"{publisher}.pub"
    if existing := [str(path) for path in (private, public) if path.exists()]:
        raise PluginError(
            f"{' and '.join(existing)} already exist: a key file is never overwritten; "
            "pass --out with another folder, or move the old files away"
        )
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    save_private(identity, private)
    save_public(identity.public, public)
    click.echo(identity.key_id)
    _stderr(f"wrote {private}: the private key, readable only by you; never share or commit it")
    _stderr(f"wrote {public}: the public key; give it to those who run your plugins")
    if also_trust:
        store = TrustStore.load(trust_store)
        store.trust(identity.public)
        _stderr(f"trusted {identity.key_id} for {publisher}/... plugins in {store.path}")


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@trust_store_option
def list_keys(as_json: bool, trust_store: Path | None) -> None:
    """List the trust store's keys and their status.

    A key is trusted, expired (after its expiry or a rotation's grace period)
    or revoked.
    """
    store = TrustStore.load(trust_store)
    now = datetime.now(UTC)
    rows = [_row(entry, now) for entry in store.list()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        _stderr(f"no keys in {store.path}; trust one with `dataflare keys trust PUBLIC_KEY_FILE`")
        return
    table = Table(box=box.SIMPLE)
    table.add_column("key id", no_wrap=True)
    for heading in ("publisher", "status", "expires", "note"):
        table.add_column(heading)
    for entry, row in zip(store.list(), rows, strict=True):
        note = f"replaced by {entry.replaced_by}" if entry.replaced_by else ""
        note = f"revoked: {entry.revoked_reason}" if entry.revoked_reason else note
        style = _STATUS_STYLE.get(entry.status(now), "")
        expires = f"{entry.expires:%Y-%m-%d}" if entry.expires else "never"
        table.add_row(entry.key_id, entry.publisher, f"[{style}]{row['status']}[/]", expires, note)
    Console(soft_wrap=True).print(table)


@keys.command("trust")
@click.argument("public_key_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--publisher", help="The namespace it signs for.  [default: the key file's]")
@click.option(
    "--expires",
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    help="Stop trusting it at this date (UTC).  [default: never]",
)
@trust_store_option
def trust_key(
    public_key_file: Path, publisher: str | None, expires: datetime | None, trust_store: Path | None
) -> None:
    """Trust a publisher's public key; print its id.

    The key in PUBLIC_KEY_FILE then verifies plugins in its publisher's
    namespace (PUBLISHER/...), and no others.
    """
    key = load_public(public_key_file)
    store = TrustStore.load(trust_store)
    entry = store.trust(key, publisher, expires=expires.replace(tzinfo=UTC) if expires else None)
    click.echo(entry.key_id)
    if entry.publisher != key.publisher:
        _stderr(f"note: the key file says publisher {key.publisher!r}; trusted as {publisher!r}")
    until = f"until {entry.expires:%Y-%m-%d %H:%M} UTC" if entry.expires else "with no expiry"
    _stderr(f"trusted {entry.key_id} for {entry.publisher}/... plugins {until}, in {store.path}")


@keys.command()
@click.argument("key_id")
@click.option("--reason", required=True, help="Why; shown whenever a package it signed is refused.")
@trust_store_option
def revoke(key_id: str, reason: str, trust_store: Path | None) -> None:
    """Revoke KEY_ID: nothing it signed verifies.

    Revocation is permanent and applies whenever a package was signed.
    """
    store = TrustStore.load(trust_store)
    entry = store.revoke(key_id, reason)
    _stderr(f"revoked {entry.key_id} of publisher {entry.publisher!r} ({entry.revoked_reason})")


@keys.command()
@click.argument("old_key_id")
@click.argument("new_public_key_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--grace-days",
    type=click.IntRange(min=0),
    default=30,
    show_default=True,
    help="Days packages signed with the old key keep verifying.",
)
@trust_store_option
def rotate(
    old_key_id: str, new_public_key_file: Path, grace_days: int, trust_store: Path | None
) -> None:
    """Replace a key, with a grace period; print the new id.

    Trusts the key in NEW_PUBLIC_KEY_FILE for OLD_KEY_ID's publisher, and lets
    OLD_KEY_ID expire after --grace-days.
    """
    store = TrustStore.load(trust_store)
    entry = store.rotate(
        old_key_id, load_public(new_public_key_file), grace=timedelta(days=grace_days)
    )
    old = store.get(old_key_id)
    click.echo(entry.key_id)
    ends = f"{old.expires:%Y-%m-%d %H:%M} UTC" if old and old.expires else "now"
    _stderr(f"trusted {entry.key_id} for {entry.publisher}/...; {old_key_id} expires {ends}")


def _row(entry: TrustedKey, now: datetime) -> dict[str, Any]:
    def moment(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "key_id": entry.key_id,
        "publisher": entry.publisher,
        "status": entry.status(now).value,
        "added": entry.added.isoformat(),
        "expires": moment(entry.expires),
        "revoked": moment(entry.revoked),
        "revoked_reason": entry.revoked_reason,
        "replaced_by": entry.replaced_by,
        "public_key": entry.public_key,
    }
