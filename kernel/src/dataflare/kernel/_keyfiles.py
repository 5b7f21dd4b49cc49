"""Publishers' key files: a private key only its owner may read, and a public key to share.

Both are small JSON documents. The private one holds the Ed25519 seed and is
written with mode 0600; loading refuses one that group or others can read, as
ssh does. Each file records its key id, which loading checks against the key.

Example::

    identity = generate_keypair("acme")
    save_private(identity, Path("acme.key"))      # {"type": "dataflare-ed25519-private", ...}
    save_public(identity.public, Path("acme.pub"))
    load_private(Path("acme.key")) == identity    # True
"""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path
from typing import Any, Final

import nacl.signing

from dataflare.kernel._manifest_rules import namespace_problem
from dataflare.kernel._signing import PublisherKey, SigningIdentity, decode_base64
from dataflare.kernel.errors import TrustError

__all__ = ("load_private", "load_public", "save_private", "save_public")

_PRIVATE_TYPE: Final = "dataflare-ed25519-private"
_PUBLIC_TYPE: Final = "dataflare-ed25519-public"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def save_private(identity: SigningIdentity, path: Path) -> Path:
    """Write a private key file that only its owner can read (mode 0600).

    Args:
        identity: The key to write.
        path: A file that must not exist yet.

    Returns:
        ``path``.

    Raises:
        TrustError: The file exists already; a key is never overwritten.
    """
    document = {
        "type": _PRIVATE_TYPE,
        "key_id": identity.key_id,
        "publisher": identity.publisher,
        "seed": _b64(bytes(identity.signing_key)),
    }
    return _write_new(path, document, mode=0o600)


def save_public(key: PublisherKey, path: Path) -> Path:
    """Write a public key file, to hand to those who will trust the publisher.

    Args:
        key: The public key.
        path: A file that must not exist yet.

    Returns:
        ``path``.

    Raises:
        TrustError: The file exists already.
    """
    document = {
        "type": _PUBLIC_TYPE,
        "key_id": key.key_id,
        "publisher": key.publisher,
        "public_key": _b64(bytes(key.verify_key)),
    }
    return _write_new(path, document, mode=0o644)


def load_private(path: Path) -> SigningIdentity:
    """Read a private key file, refusing one that other users can read.

    Args:
        path: The key file.

    Returns:
        The signing identity.

    Raises:
        TrustError: The file is missing, readable by group or others, or not a
            DataFlare private key.
    """
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise TrustError(f"cannot read private key {path}: {exc.strerror}") from None
    if os.name == "posix" and mode & 0o077:
        raise TrustError(
            f"private key {path} is readable by other users (mode {stat.filemode(mode)}): "
            f"anyone who can read it can sign as its publisher; run `chmod 600 {path}`, "
            "and if others may have copied it, revoke the key and make a new one"
        )
    document = _read_key_file(path, _PRIVATE_TYPE, "seed")
    seed = _decode_field(path, document, "seed")
    identity = SigningIdentity(document["publisher"], nacl.signing.SigningKey(seed))
    _check_id(path, document, identity.key_id)
    return identity


def load_public(path: Path) -> PublisherKey:
    """Read a public key file.

    Args:
        path: The key file.

    Returns:
        The publisher's key.

    Raises:
        TrustError: The file is missing or not a DataFlare public key.
    """
    document = _read_key_file(path, _PUBLIC_TYPE, "public_key")
    key = PublisherKey(
        document["publisher"], nacl.signing.VerifyKey(_decode_field(path, document, "public_key"))
    )
    _check_id(path, document, key.key_id)
    return key


def _read_key_file(path: Path, kind: str, secret: str) -> dict[str, Any]:
    try:
        document = json.loads(path.read_bytes())
    except OSError as exc:
        raise TrustError(f"cannot read key file {path}: {exc.strerror}") from None
    except ValueError:
        document = None
    expected = "a private key" if kind == _PRIVATE_TYPE else "a public key"
    made = "made by `dataflare keys generate`"
    if not isinstance(document, dict) or document.get("type") != kind:
        found = document.get("type") if isinstance(document, dict) else None
        what = f"a {found!r} file" if isinstance(found, str) else "not a DataFlare key file"
        raise TrustError(f"{path} is {what}; expected {expected} file {made}")
    fields = ("type", "key_id", "publisher", secret)
    if sorted(document) != sorted(fields) or not all(isinstance(document[f], str) for f in fields):
        raise TrustError(
            f"{path} is damaged: {expected} file holds exactly the string fields "
            f"{', '.join(fields)}; use the file {made} as it was written"
        )
    problem = namespace_problem(document["publisher"])
    if problem:
        raise TrustError(f"{path} is damaged: {problem}")
    return document


def _decode_field(path: Path, document: dict[str, Any], field: str) -> bytes:
    try:
        return decode_base64(document[field], 32, field)
    except ValueError as exc:
        raise TrustError(f"{path} is damaged: {exc}") from None


def _check_id(path: Path, document: dict[str, Any], actual: str) -> None:
    if document["key_id"] != actual:
        raise TrustError(
            f"{path} is damaged: it says key_id {document['key_id']!r} but its key's id "
            f"is {actual!r}; the file was edited: use the file as `dataflare keys generate` "
            "wrote it"
        )


def _write_new(path: Path, document: dict[str, str], *, mode: int) -> Path:
    data = (json.dumps(document, indent=2) + "\n").encode()
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise TrustError(
            f"{path} already exists: a key file is never overwritten; move it away "
            "or write the new key elsewhere"
        ) from None
    except OSError as exc:
        raise TrustError(f"cannot write key file {path}: {exc.strerror}") from None
    with os.fdopen(descriptor, "wb") as file:
        if hasattr(os, "fchmod"):  # os.open's mode is narrowed by the umask; set it exactly
            os.fchmod(descriptor, mode)
        file.write(data)
        file.flush()
        os.fsync(descriptor)
    return path
