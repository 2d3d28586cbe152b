"""Signed objects: Ed25519 over a domain-separated canonical encoding.

    message   = kind label (crypto.labels.SignedKind) || canonical JSON of the body
    signature = Ed25519(signing key, message)

The wire form is the canonical JSON object

    {"body": {...}, "kind": "<kind>", "signature": "<base64url, 64 bytes>",
     "signer": "<base64url fingerprint of the Ed25519 public key, 32 bytes>"}

A verifier always states which kind it expects and which key (or pinned fingerprint) it trusts;
a signature made for one kind of object can never be accepted as another, because the label is
part of what is signed.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Any

from crypto import cjson
from crypto.errors import InvalidSignature, MalformedInput
from crypto.keys import FINGERPRINT_LENGTH, SIGNATURE_LENGTH, SigningKey, VerifyKey
from crypto.labels import SignedKind

_MEMBERS = {"body", "kind", "signature", "signer"}


def signing_message(kind: SignedKind, body: dict[str, Any]) -> bytes:
    return kind.label + cjson.encode(body)


@dataclass(frozen=True)
class SignedObject:
    kind: SignedKind
    body: dict[str, Any]
    signer: bytes
    signature: bytes
    #: The canonical encoding of ``body`` when this object was just signed: the wire form
    #: embeds it verbatim (canonical JSON nests), so the body is not encoded a second time.
    encoded_body: bytes | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "body": self.body,
            "kind": self.kind.value,
            "signature": cjson.b64encode(self.signature),
            "signer": cjson.b64encode(self.signer),
        }

    def encode(self) -> bytes:
        if self.encoded_body is None:
            return cjson.encode(self.to_json())
        # Keys in code-point order, no white space: exactly what cjson.encode(to_json()) gives
        # (tests/crypto check that the two agree).
        return b"".join(
            (
                b'{"body":',
                self.encoded_body,
                b',"kind":',
                cjson.encode(self.kind.value),
                b',"signature":"',
                cjson.b64encode(self.signature).encode("ascii"),
                b'","signer":"',
                cjson.b64encode(self.signer).encode("ascii"),
                b'"}',
            )
        )

    @classmethod
    def from_json(cls, value: Any, expected_kind: SignedKind) -> SignedObject:
        """Parse the wire form strictly; the kind must be the one the caller expects."""
        if not isinstance(value, dict) or set(value) != _MEMBERS:
            raise MalformedInput(f"a signed object has exactly: {', '.join(sorted(_MEMBERS))}")
        if value["kind"] != expected_kind.value:
            raise InvalidSignature(
                f"expected a signed {expected_kind.value}, got {str(value['kind'])[:40]!r}"
            )
        if not isinstance(value["body"], dict):
            raise MalformedInput("a signed object's body must be a JSON object")
        return cls(
            kind=expected_kind,
            body=value["body"],
            signer=cjson.b64decode(value["signer"], field="signer", length=FINGERPRINT_LENGTH),
            signature=cjson.b64decode(
                value["signature"], field="signature", length=SIGNATURE_LENGTH
            ),
        )

    @classmethod
    def decode(cls, data: bytes, expected_kind: SignedKind) -> SignedObject:
        return cls.from_json(cjson.decode_object(data), expected_kind)

    def verify(self, key: VerifyKey) -> dict[str, Any]:
        """Check the signature with ``key`` and return the body."""
        if not hmac.compare_digest(self.signer, key.fingerprint):
            raise InvalidSignature(f"this {self.kind.value} was signed by a different key")
        key.verify(self.signature, signing_message(self.kind, self.body))
        return self.body


def sign(kind: SignedKind, body: dict[str, Any], key: SigningKey) -> SignedObject:
    encoded = cjson.encode(body)
    return SignedObject(
        kind=kind,
        body=body,
        signer=key.public_key().fingerprint,
        signature=key.sign(kind.label + encoded),
        encoded_body=encoded,
    )
