"""Every domain-separation label the protocol uses, in one place.

A label is mixed into every hash, key derivation, signature and HPKE context so that a value
made for one purpose can never be accepted for another (a reply signature replayed as a
directory signature, a reply ciphertext presented as a petition envelope). Keeping them here
lets a test prove that they are all distinct and that none is a prefix of another.

All labels are ASCII, start with ``sealed-petition/v2/`` (protocol v2) and, where they are
concatenated with other data, end with a NUL byte so that the boundary is unambiguous.
"""

from __future__ import annotations

from enum import Enum

_PREFIX = b"sealed-petition/v2/"


def _label(name: str) -> bytes:
    return _PREFIX + name.encode("ascii") + b"\x00"


class SignedKind(Enum):
    """The kinds of object that are signed with Ed25519; each has its own label."""

    DIRECTORY = "directory"
    BUREAU_BUNDLE = "bureau-bundle"
    REPLY = "reply"
    BUREAU_REQUEST = "bureau-request"
    CASE_EVENT = "case-event"

    @property
    def label(self) -> bytes:
        return _label("sig/" + self.value)


ENVELOPE_IDENTITY_INFO = _label("hpke/envelope/identity")
"""HPKE ``info`` prefix for an envelope's identity section; the envelope header follows it."""

ENVELOPE_CASE_INFO = _label("hpke/envelope/case")
"""HPKE ``info`` prefix for an envelope's case section; the header and the SHA-256 of the sealed
identity section follow it, so the two sections cannot be separated and recombined."""

REPLY_INFO = _label("hpke/reply")
"""HPKE ``info`` prefix for replies encrypted to a petitioner's reply key."""

TOKEN_PRF = _label("hmac/token")
"""HMAC-SHA256 message prefix of the token PRF; the bureau id, a NUL and the pre-hash follow it."""

TOKEN_PREHASH_INPUT = _label("argon2id/id-number")
"""Prefix of the Argon2id secret input; the ID scheme and normalised number follow it."""

RECEIPT_REPLY_KEY = _label("hkdf/receipt/reply-key")
"""HKDF ``info`` that derives the petitioner's reply key pair from the receipt secret."""

RECEIPT_LOOKUP_KEY = _label("hkdf/receipt/lookup-key")
"""HKDF ``info`` that derives the status lookup key from the receipt secret."""

LOOKUP_KEY_HASH = _label("sha256/lookup-key")
"""Prefix hashed with the lookup key; the server stores only this hash."""

KEY_FINGERPRINT = _label("sha256/key-fingerprint")
"""Prefix hashed with an algorithm name and a public key to form its fingerprint."""

PETITION_ID = _label("sha256/petition-id")
"""Prefix hashed with an envelope to form its petition id."""

KEYSTORE_AAD = _label("keystore")
"""AEAD associated data prefix for keystore files; the file header follows it."""


def all_labels() -> dict[str, bytes]:
    """Every label by name, for the tests that prove they are distinct and prefix-free."""
    labels = {f"sig/{kind.value}": kind.label for kind in SignedKind}
    labels.update(
        {
            name: value
            for name, value in globals().items()
            if not name.startswith("_") and name.isupper() and isinstance(value, bytes)
        }
    )
    return labels
