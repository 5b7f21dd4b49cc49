"""The trust store's file: its entries, their status, and the checks that catch tampering.

One JSON document, ``{"schema": 1, "keys": [...]}``, kept at
``$DATAFLARE_HOME/trust.json`` unless a path is given. Reading refuses a file
that group or others can write (they could add their own keys), and one whose
entries' key ids do not match their keys (an edited file).

Example::

    entries = read_trust_file(default_trust_store_path())
    [entry.status(datetime.now(UTC)) for entry in entries]   # [KeyStatus.TRUSTED, ...]
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Final

import attrs
import cattrs
import nacl.signing
from cattrs.errors import BaseValidationError

from dataflare.kernel._convert import make_converter
from dataflare.kernel._manifest import problems_of
from dataflare.kernel._manifest_rules import namespace_problem
from dataflare.kernel._signing import key_id
from dataflare.kernel.errors import TrustError

__all__ = (
    "KeyStatus",
    "TrustedKey",
    "default_home",
    "default_trust_store_path",
    "read_trust_file",
    "write_trust_file",
)

_SCHEMA: Final = 1


def default_home() -> Path:
    """Where DataFlare keeps per-user state: ``$DATAFLARE_HOME``, else ``~/.dataflare``."""
    return Path(os.environ.get("DATAFLARE_HOME") or "~/.dataflare").expanduser()


def default_trust_store_path() -> Path:
    """The trust store used when none is named: ``trust.json`` in :func:`default_home`."""
    return default_home() / "trust.json"


class KeyStatus(enum.StrEnum):
    """Whether a key may verify signatures now."""

    TRUSTED = "trusted"
    """In the store, not revoked, not expired."""
    UNKNOWN = "unknown"
    """Not in the store."""
    REVOKED = "revoked"
    """Revoked: nothing it signed verifies, whenever it was signed."""
    EXPIRED = "expired"
    """Past its expiry (after a rotation's grace period, for instance)."""


@attrs.frozen
class TrustedKey:
    """One publisher key in the trust store."""

    key_id: str
    """The key's id, derived from the key (``ed25519:`` and 16 hex digits)."""

    publisher: str
    """The only namespace whose plugins the key may sign."""

    public_key: str
    """The 32-byte Ed25519 public key, in base64."""

    added: datetime
    """When it was trusted."""

    expires: datetime | None = None
    """When it stops verifying; ``None``: never."""

    revoked: datetime | None = None
    """When it was revoked; ``None``: it is not."""

    revoked_reason: str | None = None
    """Why it was revoked."""

    replaced_by: str | None = None
    """The key id that replaced it in a rotation."""

    @property
    def verify_key(self) -> nacl.signing.VerifyKey:
        """The public key."""
        return nacl.signing.VerifyKey(base64.b64decode(self.public_key))

    def status(self, now: datetime) -> KeyStatus:
        """Say whether the key verifies at ``now``.

        Args:
            now: The time to judge at (timezone-aware).

        Returns:
            ``revoked``, ``expired`` or ``trusted``.
        """
        if self.revoked is not None:
            return KeyStatus.REVOKED
        if self.expires is not None and now >= self.expires:
            return KeyStatus.EXPIRED
        return KeyStatus.TRUSTED


def _check_schema(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value != _SCHEMA:
        raise ValueError(f"this DataFlare reads trust store schema {_SCHEMA}, got {value}")


@attrs.frozen
class _StoreFile:
    schema: int = attrs.field(validator=_check_schema)
    keys: tuple[TrustedKey, ...]


_CONVERTER: Final[cattrs.Converter] = make_converter(forbid_extra_keys=True, strict=True)


def read_trust_file(path: Path) -> tuple[TrustedKey, ...]:
    """Read a trust store file, refusing one others could have changed or that was edited.

    Args:
        path: The file; a missing file holds no keys.

    Returns:
        Its entries.

    Raises:
        TrustError: The file is writable by other users, is not a trust store,
            or has an entry whose key id does not match its key.
    """
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except FileNotFoundError:
        return ()
    except OSError as exc:
        raise TrustError(f"cannot read trust store {path}: {exc.strerror}") from None
    if os.name == "posix" and mode & 0o022:
        raise TrustError(
            f"trust store {path} is writable by other users, who could make this machine "
            f"trust their keys: run `chmod go-w {path}` and check its keys with "
            "`dataflare keys list`"
        )
    try:
        stored = _CONVERTER.structure(json.loads(data), _StoreFile)
    except (BaseValidationError, TypeError, ValueError) as exc:
        problems = problems_of(exc)
    else:
        problems = list(_entry_problems(stored.keys))
    if problems:
        listed = "".join(f"\n  {problem}" for problem in problems)
        raise TrustError(
            f"trust store {path} is damaged or was edited by hand:{listed}\n"
            "restore it from a backup, or remove the bad entries and trust those keys "
            "again with `dataflare keys trust`"
        )
    return stored.keys


def write_trust_file(path: Path, entries: Iterable[TrustedKey]) -> None:
    """Write a trust store file atomically: a reader never sees half a file.

    Args:
        path: The file; its folder is made (mode 0700) if needed.
        entries: The keys to store.
    """
    document = _CONVERTER.unstructure(_StoreFile(_SCHEMA, tuple(entries)))
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".trust.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(document, file, indent=2)
            file.write("\n")
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _entry_problems(entries: Iterable[TrustedKey]) -> Iterator[str]:
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        where = f"keys[{index}] ({entry.key_id}, publisher {entry.publisher!r})"
        try:
            raw = base64.b64decode(entry.public_key, validate=True)
            actual = key_id(nacl.signing.VerifyKey(raw))
        except (binascii.Error, ValueError):
            yield f"{where}: public_key is not a base64 Ed25519 public key"
            continue
        if actual != entry.key_id:
            yield f"{where}: the key id does not match its public key, whose id is {actual}"
        if problem := namespace_problem(entry.publisher):
            yield f"{where}: {problem}"
        if entry.key_id in seen:
            yield f"{where}: the key is listed twice"
        seen.add(entry.key_id)
