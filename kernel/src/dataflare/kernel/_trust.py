"""The trust store: the publisher keys this machine accepts plugin signatures from.

Each trusted key is bound to one publisher, and signs only plugins in that
publisher's namespace (a key trusted for ``acme`` verifies ``acme/redact``,
never ``globex/redact``). Keys can expire, be revoked, or be rotated: the new
key is trusted and the old one expires after a grace period. The store is one
JSON file, ``$DATAFLARE_HOME/trust.json`` by default (see
:mod:`dataflare.kernel._trust_file`), saved after every change.

Example::

    store = TrustStore.load()                       # the default file; empty if absent
    store.trust(load_public(Path("acme.pub")))      # saved at once
    store.status("ed25519:3f9c0a7d5e21b864")        # KeyStatus.TRUSTED
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import nacl.signing

from dataflare.kernel._manifest_rules import namespace_problem
from dataflare.kernel._signing import PublisherKey, key_id
from dataflare.kernel._suggest import did_you_mean
from dataflare.kernel._trust_file import (
    KeyStatus,
    TrustedKey,
    default_trust_store_path,
    read_trust_file,
    write_trust_file,
)
from dataflare.kernel.errors import TrustError

__all__ = ("TrustStore",)


@attrs.define
class TrustStore:
    """The trusted publisher keys, saved to :attr:`path` after every change (if it has one)."""

    path: Path | None = None
    """The JSON file behind the store; ``None`` keeps it in memory only."""

    _keys: dict[str, TrustedKey] = attrs.field(factory=dict, alias="keys")

    @classmethod
    def load(cls, path: Path | None = None) -> TrustStore:
        """Open a trust store file; a missing file is an empty store.

        Args:
            path: The file; :func:`default_trust_store_path` when ``None``.

        Returns:
            The store, bound to ``path``.

        Raises:
            TrustError: The file is writable by other users, is not a trust
                store, or has an entry whose key id does not match its key.
        """
        path = default_trust_store_path() if path is None else path
        return cls(path, keys={entry.key_id: entry for entry in read_trust_file(path)})

    def save(self) -> None:
        """Write the store to :attr:`path` atomically (a reader never sees half a file)."""
        if self.path is None:
            return
        write_trust_file(self.path, self._keys.values())

    def trust(
        self,
        key: PublisherKey | nacl.signing.VerifyKey,
        publisher: str | None = None,
        *,
        expires: datetime | None = None,
        now: datetime | None = None,
    ) -> TrustedKey:
        """Trust a key to sign one publisher's plugins (again: to change its expiry).

        Args:
            key: The public key, from a public key file or bare.
            publisher: The namespace it signs for; defaults to the key file's.
            expires: When to stop trusting it; ``None``: never.
            now: The current time (for tests); defaults to the clock.

        Returns:
            The store's entry for the key.

        Raises:
            TrustError: No or an invalid publisher, an expiry in the past, a key
                revoked before, or a key trusted for another publisher.
        """
        entry = self._add(key, publisher, expires=expires, now=_now(now))
        self.save()
        return entry

    def revoke(self, key_id: str, reason: str, *, now: datetime | None = None) -> TrustedKey:
        """Revoke a key: nothing it signed verifies any more, and it cannot be trusted again.

        Args:
            key_id: The key's id.
            reason: Why, shown whenever a package signed with it is refused.
            now: The current time (for tests); defaults to the clock.

        Returns:
            The revoked entry (unchanged if it was revoked already).

        Raises:
            TrustError: The store has no such key, or the reason is empty.
        """
        entry = self._entry(key_id)
        if not reason.strip():
            raise TrustError(f"say why key {key_id} is revoked: the reason is shown to users")
        if entry.revoked is None:
            entry = attrs.evolve(entry, revoked=_now(now), revoked_reason=reason.strip())
            self._keys[key_id] = entry
            self.save()
        return entry

    def rotate(
        self,
        old_key_id: str,
        new_key: PublisherKey | nacl.signing.VerifyKey,
        *,
        grace: timedelta,
        now: datetime | None = None,
    ) -> TrustedKey:
        """Replace a publisher's key: trust the new one, expire the old one after ``grace``.

        Args:
            old_key_id: The key being replaced.
            new_key: Its replacement, for the same publisher.
            grace: How long packages signed with the old key keep verifying.
            now: The current time (for tests); defaults to the clock.

        Returns:
            The new key's entry.

        Raises:
            TrustError: The old key is unknown or revoked, the new key is the old
                one or belongs to another publisher, or ``grace`` is negative.
        """
        now = _now(now)
        old = self._entry(old_key_id)
        new_id = key_id(new_key.verify_key if isinstance(new_key, PublisherKey) else new_key)
        problem = None
        if old.revoked is not None:
            problem = "it is revoked, and a revoked key gets no grace period; trust the new key"
        elif new_id == old_key_id:
            problem = "the new key is the same key"
        elif isinstance(new_key, PublisherKey) and new_key.publisher != old.publisher:
            problem = f"the new key is publisher {new_key.publisher!r}'s, not {old.publisher!r}'s"
        elif grace < timedelta(0):
            problem = "the grace period is negative"
        if problem:
            raise TrustError(f"cannot rotate key {old_key_id}: {problem}")
        entry = self._add(new_key, old.publisher, expires=None, now=now)
        ends = now + grace if old.expires is None else min(old.expires, now + grace)
        self._keys[old_key_id] = attrs.evolve(old, expires=ends, replaced_by=new_id)
        self.save()
        return entry

    def status(self, key_id: str, now: datetime | None = None) -> KeyStatus:
        """Say whether a key verifies now.

        Args:
            key_id: The key's id.
            now: The time to judge at; defaults to the clock.

        Returns:
            ``unknown`` for a key not in the store, else the entry's status.
        """
        entry = self._keys.get(key_id)
        return KeyStatus.UNKNOWN if entry is None else entry.status(_now(now))

    def get(self, key_id: str) -> TrustedKey | None:
        """Return the entry for a key id, or ``None``."""
        return self._keys.get(key_id)

    def _add(
        self,
        key: PublisherKey | nacl.signing.VerifyKey,
        publisher: str | None,
        *,
        expires: datetime | None,
        now: datetime,
    ) -> TrustedKey:
        if isinstance(key, PublisherKey):
            publisher = publisher or key.publisher
            key = key.verify_key
        problem = "name its publisher" if publisher is None else namespace_problem(publisher)
        if publisher is None or problem:
            raise TrustError(f"cannot trust key {key_id(key)}: {problem}")
        if expires is not None and _aware(expires) <= now:
            raise TrustError(f"cannot trust key {key_id(key)} until {expires}: that has passed")
        entry = TrustedKey(
            key_id(key), publisher, base64.b64encode(bytes(key)).decode(), now, _maybe(expires)
        )
        if existing := self._keys.get(entry.key_id):
            self._check_retrust(existing, publisher)
            entry = attrs.evolve(existing, expires=entry.expires)
        self._keys[entry.key_id] = entry
        return entry

    def _entry(self, key_id: str) -> TrustedKey:
        entry = self._keys.get(key_id)
        if entry is None:
            where = f"trust store {self.path}" if self.path else "the trust store"
            hint = did_you_mean(key_id, self._keys) or "`dataflare keys list` shows its keys"
            raise TrustError(f"{where} has no key {key_id} ({hint})")
        return entry

    def _check_retrust(self, existing: TrustedKey, publisher: str) -> None:
        if existing.revoked is not None:
            raise TrustError(
                f"key {existing.key_id} was revoked on {existing.revoked:%Y-%m-%d} "
                f"({existing.revoked_reason}); a revoked key is never trusted again: ask "
                f"{existing.publisher!r} for a new key"
            )
        if existing.publisher != publisher:
            raise TrustError(
                f"key {existing.key_id} is trusted for publisher {existing.publisher!r}; a key "
                f"signs for one publisher only, so it cannot also sign for {publisher!r}"
            )

    def list(self) -> tuple[TrustedKey, ...]:
        """Return every entry, revoked and expired ones included, by publisher then date."""
        return tuple(sorted(self._keys.values(), key=lambda e: (e.publisher, e.added, e.key_id)))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _maybe(moment: datetime | None) -> datetime | None:
    return None if moment is None else _aware(moment)


def _now(now: datetime | None) -> datetime:
    return datetime.now(UTC) if now is None else _aware(now)
