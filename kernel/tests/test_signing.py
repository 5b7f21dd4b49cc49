"""Manifest signatures (Ed25519 over DSSE PAE), envelopes, and publishers' key files."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat

import nacl.signing
import pytest

from dataflare.kernel._keyfiles import load_private, load_public, save_private, save_public
from dataflare.kernel._signing import (
    PAYLOAD_TYPE,
    SignatureEnvelope,
    generate_keypair,
    key_id,
    pae,
    sign_manifest,
    verify_signature,
)
from dataflare.kernel.errors import PluginError

MANIFEST = b'{"name":"acme/redact"}'
ED25519_L = 2**252 + 27742317777372353535851937790883648493  # the group order


def test_pae_is_the_dsse_encoding():
    """PAE prefixes the type and body with their lengths in bytes, as DSSE v1 does."""
    assert pae("t", b"ab") == b"DSSEv1 1 t 2 ab"
    assert pae("é", b"") == "DSSEv1 2 é 0 ".encode()


def test_key_id_is_derived_from_the_public_key():
    """A key id is 'ed25519:' and the first 16 hex digits of SHA-256 of the key."""
    identity = generate_keypair("acme")
    expected = hashlib.sha256(bytes(identity.verify_key)).hexdigest()[:16]
    assert identity.key_id == key_id(identity.verify_key) == f"ed25519:{expected}"
    assert generate_keypair("acme").key_id != identity.key_id


def test_a_signature_verifies_only_with_its_key_and_its_bytes():
    """The signer's key verifies the signed bytes; another key, or other bytes, do not."""
    identity = generate_keypair("acme")
    envelope = sign_manifest(MANIFEST, identity)
    assert verify_signature(MANIFEST, envelope, identity.verify_key)
    assert not verify_signature(MANIFEST + b" ", envelope, identity.verify_key)
    assert not verify_signature(MANIFEST, envelope, generate_keypair("acme").verify_key)


def test_what_is_signed_is_the_pae_of_the_manifest():
    """The signature covers PAE(manifest type, bytes): it checks out against that message."""
    identity = generate_keypair("acme")
    signature = base64.b64decode(sign_manifest(MANIFEST, identity).signature)
    identity.verify_key.verify(pae(PAYLOAD_TYPE, MANIFEST), signature)  # raises if not


def test_an_envelope_naming_another_key_does_not_verify():
    """An envelope's key id must be the verifying key's, so it cannot borrow a trusted name."""
    identity = generate_keypair("acme")
    other = generate_keypair("acme")
    envelope = SignatureEnvelope(other.key_id, sign_manifest(MANIFEST, identity).signature)
    assert not verify_signature(MANIFEST, envelope, identity.verify_key)


def test_a_malleated_signature_does_not_verify():
    """Adding the group order to S gives an equivalent but non-canonical signature: refused."""
    identity = generate_keypair("acme")
    raw = base64.b64decode(sign_manifest(MANIFEST, identity).signature)
    s = int.from_bytes(raw[32:], "little") + ED25519_L
    malleated = base64.b64encode(raw[:32] + s.to_bytes(32, "little")).decode()
    envelope = SignatureEnvelope(identity.key_id, malleated)
    assert not verify_signature(MANIFEST, envelope, identity.verify_key)


def test_envelopes_round_trip_through_json():
    """An envelope is compact JSON with sorted keys and reads back equal."""
    envelope = sign_manifest(MANIFEST, generate_keypair("acme"))
    data = envelope.to_json()
    assert list(json.loads(data)) == ["algorithm", "key_id", "signature"]
    assert SignatureEnvelope.from_json(data) == envelope


def test_a_bad_envelope_lists_every_problem():
    """Unknown keys, a bad key id, a short signature and another algorithm are all reported."""
    data = json.dumps(
        {"key_id": "acme", "signature": "AAAA", "algorithm": "rsa", "comment": "x"}
    ).encode()
    with pytest.raises(ValueError, match="comment: unknown key") as caught:
        SignatureEnvelope.from_json(data)
    message = str(caught.value)
    assert "comment: unknown key" in message
    assert "key_id: expected 'ed25519:' and 16 hex digits, got 'acme'" in message
    assert "signature: the signature must be 64 bytes, got 3" in message
    assert "algorithm: expected 'ed25519', got 'rsa'" in message


def test_generate_refuses_an_invalid_publisher():
    """A publisher is a plugin namespace; anything else cannot own a key."""
    with pytest.raises(PluginError, match="'Acme Corp' is not a publisher namespace"):
        generate_keypair("Acme Corp")


def test_the_private_key_never_appears_in_a_repr():
    """Printing an identity shows its publisher, not its seed."""
    identity = generate_keypair("acme")
    seed = base64.b64encode(bytes(identity.signing_key)).decode()
    assert repr(identity) == "SigningIdentity(publisher='acme')"
    assert seed not in repr(identity)


def test_key_files_round_trip(tmp_path):
    """A saved private and public key load back as the same keys, publisher and id."""
    identity = generate_keypair("acme")
    save_private(identity, tmp_path / "acme.key")
    save_public(identity.public, tmp_path / "acme.pub")
    assert load_private(tmp_path / "acme.key") == identity
    assert load_public(tmp_path / "acme.pub") == identity.public
    document = json.loads((tmp_path / "acme.pub").read_text())
    assert document == {
        "type": "dataflare-ed25519-public",
        "key_id": identity.key_id,
        "publisher": "acme",
        "public_key": base64.b64encode(bytes(identity.verify_key)).decode(),
    }


def test_a_private_key_file_is_owner_only_whatever_the_umask(tmp_path):
    """The private key is written 0600 even when the umask would allow more."""
    previous = os.umask(0)
    try:
        save_private(generate_keypair("acme"), tmp_path / "acme.key")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "acme.key").stat().st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_a_private_key_readable_by_others_is_refused(tmp_path, mode):
    """A key others can read is refused, with the chmod that fixes it."""
    path = save_private(generate_keypair("acme"), tmp_path / "acme.key")
    path.chmod(mode)
    with pytest.raises(PluginError) as caught:
        load_private(path)
    assert f"private key {path} is readable by other users" in str(caught.value)
    assert f"run `chmod 600 {path}`" in str(caught.value)


def test_key_files_are_never_overwritten(tmp_path):
    """Saving over an existing file is refused and leaves the old key intact."""
    first = generate_keypair("acme")
    path = save_private(first, tmp_path / "acme.key")
    with pytest.raises(PluginError, match="already exists: a key file is never overwritten"):
        save_private(generate_keypair("acme"), path)
    assert load_private(path) == first


def test_a_public_key_file_is_not_a_private_key(tmp_path):
    """Loading the wrong kind of key file says which kind it is."""
    path = save_public(generate_keypair("acme").public, tmp_path / "acme.pub")
    path.chmod(0o600)
    with pytest.raises(PluginError, match="is a 'dataflare-ed25519-public' file; expected a priv"):
        load_private(path)


def test_an_edited_key_file_is_refused(tmp_path):
    """A key file whose key id does not match its key was edited, and is refused."""
    path = save_public(generate_keypair("acme").public, tmp_path / "acme.pub")
    document = json.loads(path.read_text())
    other = nacl.signing.SigningKey.generate().verify_key
    document["public_key"] = base64.b64encode(bytes(other)).decode()
    path.write_text(json.dumps(document))
    with pytest.raises(PluginError, match=r"is damaged: it says key_id .* but its key's id is"):
        load_public(path)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("not json", "not a DataFlare key file"),
        ('{"type": "dataflare-ed25519-public"}', "holds exactly the string fields"),
        (
            '{"type": "dataflare-ed25519-public", "key_id": "k", "publisher": "acme", '
            '"public_key": "AAAA"}',
            "public_key must be 32 bytes, got 3",
        ),
    ],
)
def test_damaged_key_files_are_refused(tmp_path, content, expected):
    """Files that are not whole key files are refused, saying what is wrong."""
    path = tmp_path / "acme.pub"
    path.write_text(content)
    with pytest.raises(PluginError, match=expected):
        load_public(path)


def test_a_missing_key_file_is_reported(tmp_path):
    """A key file that does not exist is named in the error."""
    with pytest.raises(PluginError, match=r"cannot read private key .*acme\.key"):
        load_private(tmp_path / "acme.key")
