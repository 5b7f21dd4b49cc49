"""The trust store: trusting, revoking, rotating and expiring keys, persisted and tamper-checked."""

from __future__ import annotations

import base64
import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nacl.signing
import pytest

from dataflare.kernel._signing import generate_keypair
from dataflare.kernel._trust import TrustStore
from dataflare.kernel._trust_file import (
    KeyStatus,
    default_home,
    default_trust_store_path,
    read_trust_file,
)
from dataflare.kernel.errors import TrustError

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """Where the test's trust store lives."""
    return tmp_path / "home" / "trust.json"


def test_a_missing_file_is_an_empty_store(path):
    """Loading a store that was never written gives no keys, and writes nothing."""
    store = TrustStore.load(path)
    assert store.list() == ()
    assert store.path == path
    assert not path.exists()


def test_trusted_keys_persist(path):
    """A trusted key is saved at once (mode 0644) and is there when the store is loaded again."""
    identity = generate_keypair("acme")
    entry = TrustStore.load(path).trust(identity.public, now=NOW)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    again = TrustStore.load(path)
    assert again.get(identity.key_id) == entry
    assert entry.publisher == "acme"
    assert entry.added == NOW
    assert entry.verify_key == identity.verify_key
    assert again.status(identity.key_id, NOW) is KeyStatus.TRUSTED
    assert json.loads(path.read_text())["schema"] == 1


def test_unknown_keys_have_unknown_status():
    """A key id not in the store is unknown."""
    assert TrustStore().status(generate_keypair("acme").key_id) is KeyStatus.UNKNOWN


def test_a_bare_key_needs_a_publisher():
    """A key without a key file must be given the publisher it signs for."""
    key = generate_keypair("acme").verify_key
    with pytest.raises(TrustError, match="name its publisher"):
        TrustStore().trust(key)
    assert TrustStore().trust(key, "acme").publisher == "acme"


def test_the_publisher_can_be_chosen_over_the_key_files():
    """Whoever trusts a key decides its namespace, whatever the key file says."""
    entry = TrustStore().trust(generate_keypair("acme").public, "acme-labs")
    assert entry.publisher == "acme-labs"


def test_a_key_expires_at_its_expiry():
    """A key is trusted until its expiry and expired from that moment on."""
    store = TrustStore()
    identity = generate_keypair("acme")
    store.trust(identity.public, expires=NOW + timedelta(days=1), now=NOW)
    assert store.status(identity.key_id, NOW + timedelta(hours=23)) is KeyStatus.TRUSTED
    assert store.status(identity.key_id, NOW + timedelta(days=1)) is KeyStatus.EXPIRED


def test_an_expiry_in_the_past_is_refused():
    """Trusting a key until a moment that has passed is a mistake, and is refused."""
    with pytest.raises(TrustError, match="that has passed"):
        TrustStore().trust(generate_keypair("acme").public, expires=NOW, now=NOW)


def test_trusting_again_changes_the_expiry():
    """Trusting a trusted key again sets its new expiry and keeps when it was added."""
    store = TrustStore()
    identity = generate_keypair("acme")
    store.trust(identity.public, expires=NOW + timedelta(days=1), now=NOW)
    later = NOW + timedelta(hours=1)
    entry = store.trust(identity.public, expires=NOW + timedelta(days=30), now=later)
    assert (entry.added, entry.expires) == (NOW, NOW + timedelta(days=30))


def test_a_key_signs_for_one_publisher_only():
    """A key trusted for acme cannot also be trusted for globex."""
    store = TrustStore()
    identity = generate_keypair("acme")
    store.trust(identity.public)
    with pytest.raises(TrustError, match="trusted for publisher 'acme'; a key signs for one"):
        store.trust(identity.public, "globex")


def test_revoking_is_persisted_and_permanent(path):
    """A revoked key is revoked after reloading, keeps its reason, and cannot be trusted again."""
    identity = generate_keypair("acme")
    store = TrustStore.load(path)
    store.trust(identity.public, now=NOW)
    store.revoke(identity.key_id, "laptop stolen", now=NOW + timedelta(days=1))
    again = TrustStore.load(path)
    entry = again.get(identity.key_id)
    assert entry is not None
    assert (entry.revoked, entry.revoked_reason) == (NOW + timedelta(days=1), "laptop stolen")
    assert again.status(identity.key_id, NOW) is KeyStatus.REVOKED
    with pytest.raises(TrustError, match=r"revoked on 2026-03-02 \(laptop stolen\); a revoked"):
        again.trust(identity.public)


def test_revoking_twice_keeps_the_first_revocation():
    """Revoking a revoked key changes nothing."""
    store = TrustStore()
    identity = generate_keypair("acme")
    store.trust(identity.public)
    first = store.revoke(identity.key_id, "leaked", now=NOW)
    assert store.revoke(identity.key_id, "again", now=NOW + timedelta(days=1)) == first


def test_revoking_needs_a_reason_and_a_known_key():
    """An empty reason, or a key id not in the store, is refused with a hint."""
    store = TrustStore()
    identity = generate_keypair("acme")
    store.trust(identity.public)
    with pytest.raises(TrustError, match="say why key"):
        store.revoke(identity.key_id, "  ")
    typo = identity.key_id[:-1] + ("0" if identity.key_id[-1] != "0" else "1")
    with pytest.raises(TrustError, match=f"has no key {typo} \\(did you mean '{identity.key_id}'"):
        store.revoke(typo, "leaked")


def test_rotation_trusts_the_new_key_and_expires_the_old_after_the_grace(path):
    """After a rotation both keys verify during the grace period; then only the new one does."""
    old, new = generate_keypair("acme"), generate_keypair("acme")
    store = TrustStore.load(path)
    store.trust(old.public, now=NOW)
    entry = store.rotate(old.key_id, new.public, grace=timedelta(days=30), now=NOW)
    assert (entry.key_id, entry.publisher) == (new.key_id, "acme")
    again = TrustStore.load(path)
    retired = again.get(old.key_id)
    assert retired is not None
    assert (retired.expires, retired.replaced_by) == (NOW + timedelta(days=30), new.key_id)
    during, after = NOW + timedelta(days=29), NOW + timedelta(days=30)
    assert again.status(old.key_id, during) is KeyStatus.TRUSTED
    assert again.status(old.key_id, after) is KeyStatus.EXPIRED
    assert again.status(new.key_id, after) is KeyStatus.TRUSTED


def test_rotation_never_extends_an_earlier_expiry():
    """A key that expires before the grace period ends keeps its own expiry."""
    old, new = generate_keypair("acme"), generate_keypair("acme")
    store = TrustStore()
    store.trust(old.public, expires=NOW + timedelta(days=2), now=NOW)
    store.rotate(old.key_id, new.public, grace=timedelta(days=30), now=NOW)
    assert store.get(old.key_id).expires == NOW + timedelta(days=2)  # type: ignore[union-attr]


def test_rotation_to_a_bare_key_uses_the_old_publisher():
    """A new key given without a key file signs for the old key's publisher."""
    old = generate_keypair("acme")
    store = TrustStore()
    store.trust(old.public)
    entry = store.rotate(old.key_id, generate_keypair("x").verify_key, grace=timedelta(0))
    assert entry.publisher == "acme"


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("revoked", "it is revoked, and a revoked key gets no grace period"),
        ("same", "the new key is the same key"),
        ("publisher", "the new key is publisher 'globex''s, not 'acme''s"),
        ("negative", "the grace period is negative"),
    ],
)
def test_invalid_rotations_are_refused(case, expected):
    """A rotation from a revoked key, to itself, to another publisher or backwards is refused."""
    old = generate_keypair("acme")
    new = {"same": old, "publisher": generate_keypair("globex")}.get(case, generate_keypair("acme"))
    store = TrustStore()
    store.trust(old.public)
    if case == "revoked":
        store.revoke(old.key_id, "leaked")
    grace = timedelta(days=-1 if case == "negative" else 1)
    with pytest.raises(TrustError, match=f"cannot rotate key {old.key_id}: {expected}"):
        store.rotate(old.key_id, new.public, grace=grace)
    assert store.get(new.key_id) is None or case == "same"


def test_list_is_sorted_by_publisher():
    """Keys are listed by publisher, then by when they were added."""
    store = TrustStore()
    for publisher, day in (("globex", 1), ("acme", 3), ("acme", 2)):
        store.trust(generate_keypair(publisher).public, now=NOW + timedelta(days=day))
    assert [(e.publisher, e.added.day) for e in store.list()] == [
        ("acme", 3),
        ("acme", 4),
        ("globex", 2),
    ]


def _edit(path: Path, change) -> None:
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


def test_an_entry_whose_key_was_swapped_is_refused(path):
    """Replacing a trusted entry's public key by hand is detected when the store is loaded."""
    identity = generate_keypair("acme")
    TrustStore.load(path).trust(identity.public)
    attacker = nacl.signing.SigningKey.generate().verify_key
    swapped = base64.b64encode(bytes(attacker)).decode()
    _edit(path, lambda d: d["keys"][0].update(public_key=swapped))
    with pytest.raises(TrustError) as caught:
        TrustStore.load(path)
    message = str(caught.value)
    assert f"trust store {path} is damaged or was edited by hand" in message
    assert f"keys[0] ({identity.key_id}, publisher 'acme'): the key id does not match" in message
    assert "trust those keys again with `dataflare keys trust`" in message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["keys"][0].update(public_key="AAAA"), "is not a base64 Ed25519 public key"),
        (lambda d: d["keys"][0].update(publisher="Acme"), "'Acme' is not a publisher namespace"),
        (lambda d: d["keys"].append(dict(d["keys"][0])), "keys[1]"),
        (lambda d: d["keys"][0].pop("added"), "keys[0].added: required key is missing"),
        (lambda d: d.update(schema=2), "schema: this DataFlare reads trust store schema 1"),
    ],
)
def test_damaged_stores_are_refused(path, change, expected):
    """Every kind of damage to the file is reported with where it is."""
    TrustStore.load(path).trust(generate_keypair("acme").public)
    _edit(path, change)
    with pytest.raises(TrustError) as caught:
        TrustStore.load(path)
    assert expected in str(caught.value)


def test_a_store_others_can_write_is_refused(path):
    """A store writable by group or others could have been given their keys: refused."""
    TrustStore.load(path).trust(generate_keypair("acme").public)
    path.chmod(0o664)
    with pytest.raises(TrustError, match=f"run `chmod go-w {path}`"):
        read_trust_file(path)


def test_the_default_store_is_under_dataflare_home(tmp_path, monkeypatch):
    """$DATAFLARE_HOME decides where the store is; ~/.dataflare when it is unset."""
    monkeypatch.setenv("DATAFLARE_HOME", str(tmp_path))
    assert default_trust_store_path() == tmp_path / "trust.json"
    assert TrustStore.load().path == tmp_path / "trust.json"
    monkeypatch.delenv("DATAFLARE_HOME")
    assert default_home() == Path.home() / ".dataflare"
