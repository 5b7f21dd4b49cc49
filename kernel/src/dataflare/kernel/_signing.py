"""Ed25519 signatures over plugin manifests, and the keys that make them.

What is signed is the DSSE pre-authentication encoding (PAE) of the manifest's
raw bytes under the payload type :data:`PAYLOAD_TYPE`, so a signature made for
any other kind of document (or over the bare bytes) never verifies as a manifest
signature. Keys are named by :func:`key_id`, derived from the public key, so a
key id cannot be claimed by another key. Key files are :mod:`dataflare.kernel._keyfiles`'s.

Example::

    identity = generate_keypair("acme")
    envelope = sign_manifest(manifest_bytes, identity)
    verify_signature(manifest_bytes, envelope, identity.verify_key)   # True
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from typing import Final

import attrs
import cattrs
import nacl.exceptions
import nacl.signing
from cattrs.errors import BaseValidationError

from dataflare.kernel._convert import make_converter
from dataflare.kernel._manifest import problems_of
from dataflare.kernel._manifest_rules import namespace_problem
from dataflare.kernel.errors import PluginError

__all__ = (
    "PAYLOAD_TYPE",
    "PublisherKey",
    "SignatureEnvelope",
    "SigningIdentity",
    "decode_base64",
    "generate_keypair",
    "key_id",
    "pae",
    "sign_manifest",
    "verify_signature",
)

PAYLOAD_TYPE: Final = "application/vnd.dataflare.plugin-manifest+json"
"""The DSSE payload type every manifest signature is made under."""

_KEY_ID = re.compile(r"ed25519:[0-9a-f]{16}")


def pae(payload_type: str, body: bytes) -> bytes:
    """Encode a payload for signing, bound to its type (DSSE v1 PAE).

    Args:
        payload_type: What kind of document ``body`` is.
        body: The document's bytes.

    Returns:
        ``DSSEv1 <len(type)> <type> <len(body)> <body>``, lengths in bytes.
    """
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(body), body)


def key_id(verify_key: nacl.signing.VerifyKey) -> str:
    """Name a public key by its hash.

    Args:
        verify_key: The public key.

    Returns:
        ``ed25519:`` and the first 16 hex digits of SHA-256 of the key's 32 bytes.
    """
    return "ed25519:" + hashlib.sha256(bytes(verify_key)).hexdigest()[:16]


def decode_base64(text: str, size: int, what: str) -> bytes:
    """Decode strict base64 that must hold exactly ``size`` bytes.

    Args:
        text: The base64 text.
        size: How many bytes it must decode to.
        what: What it is, for the error message.

    Returns:
        The bytes.

    Raises:
        ValueError: It is not base64, or not ``size`` bytes long.
    """
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is not base64") from None
    if len(raw) != size:
        raise ValueError(f"{what} must be {size} bytes, got {len(raw)}")
    return raw


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _check_key_id(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not _KEY_ID.fullmatch(value):
        raise ValueError(f"expected 'ed25519:' and 16 hex digits, got {value!r}")


def _check_signature(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    decode_base64(value, 64, "the signature")


def _check_algorithm(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value != "ed25519":
        raise ValueError(f"expected 'ed25519', got {value!r}: this DataFlare verifies only Ed25519")


@attrs.frozen
class SignatureEnvelope:
    """The signature stored in a package as ``dataflare-plugin.sig``."""

    key_id: str = attrs.field(validator=_check_key_id)
    """The id of the key that signed (:func:`key_id`)."""

    signature: str = attrs.field(validator=_check_signature)
    """The 64-byte Ed25519 signature of the PAE-encoded manifest, in base64."""

    algorithm: str = attrs.field(default="ed25519", validator=_check_algorithm)
    """The signature algorithm; only ``ed25519``."""

    def to_json(self) -> bytes:
        """Write the envelope as compact JSON with sorted keys.

        Returns:
            The envelope's bytes.
        """
        document = _CONVERTER.unstructure(self)
        return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> SignatureEnvelope:
        """Read an envelope.

        Args:
            data: The envelope's bytes.

        Returns:
            The envelope.

        Raises:
            ValueError: It is not an envelope; the message lists every problem.
        """
        try:
            return _CONVERTER.structure(json.loads(data), cls)
        except (BaseValidationError, TypeError, ValueError) as exc:
            raise ValueError("; ".join(problems_of(exc))) from None


_CONVERTER: Final[cattrs.Converter] = make_converter(forbid_extra_keys=True, strict=True)


@attrs.frozen
class PublisherKey:
    """A publisher's public key, as a public key file holds it."""

    publisher: str
    """The publisher (plugin namespace) the key belongs to."""

    verify_key: nacl.signing.VerifyKey
    """The Ed25519 public key."""

    @property
    def key_id(self) -> str:
        """The key's id (:func:`key_id`)."""
        return key_id(self.verify_key)


@attrs.frozen
class SigningIdentity:
    """A publisher's private signing key."""

    publisher: str
    """The publisher (plugin namespace) that signs with it."""

    signing_key: nacl.signing.SigningKey = attrs.field(repr=False)
    """The Ed25519 private key; never shown in a repr."""

    @property
    def public(self) -> PublisherKey:
        """The matching public key."""
        return PublisherKey(self.publisher, self.signing_key.verify_key)

    @property
    def verify_key(self) -> nacl.signing.VerifyKey:
        """The matching Ed25519 public key."""
        return self.signing_key.verify_key

    @property
    def key_id(self) -> str:
        """The key's id (:func:`key_id`)."""
        return key_id(self.signing_key.verify_key)


def generate_keypair(publisher: str) -> SigningIdentity:
    """Make a new random signing key for a publisher.

    Args:
        publisher: The plugin namespace the key will sign for (``acme``).

    Returns:
        The new identity.

    Raises:
        PluginError: The publisher is not a valid namespace.
    """
    problem = namespace_problem(publisher)
    if problem:
        raise PluginError(f"cannot make a key: {problem}")
    return SigningIdentity(publisher, nacl.signing.SigningKey.generate())


def sign_manifest(manifest_bytes: bytes, identity: SigningIdentity) -> SignatureEnvelope:
    """Sign a manifest's raw bytes.

    Args:
        manifest_bytes: The manifest exactly as stored in the package.
        identity: The publisher's signing key.

    Returns:
        The envelope to store beside the manifest.
    """
    signed = identity.signing_key.sign(pae(PAYLOAD_TYPE, manifest_bytes))
    return SignatureEnvelope(key_id=identity.key_id, signature=_b64(signed.signature))


def verify_signature(
    manifest_bytes: bytes, envelope: SignatureEnvelope, verify_key: nacl.signing.VerifyKey
) -> bool:
    """Check a manifest signature.

    Args:
        manifest_bytes: The manifest exactly as stored in the package.
        envelope: Its signature.
        verify_key: The public key the envelope's key id names.

    Returns:
        Whether ``verify_key`` (and only it) signed these bytes as a manifest.
    """
    if envelope.algorithm != "ed25519" or envelope.key_id != key_id(verify_key):
        return False
    try:
        signature = base64.b64decode(envelope.signature, validate=True)
        verify_key.verify(pae(PAYLOAD_TYPE, manifest_bytes), signature)
    except (nacl.exceptions.BadSignatureError, ValueError):  # binascii.Error is a ValueError
        return False
    return True
