"""Witness cosignatures (c2sp.org/tlog-cosignature), Ed25519 with timestamps: signature type 0x04.

A cosignature is one more signature line on a checkpoint note::

    — <witness name> base64(4-byte key ID || 8-byte big-endian timestamp || Ed25519 signature)

The Ed25519 signature covers a message that is not the note text itself but::

    cosignature/v1
    time <timestamp in decimal>
    <the checkpoint text, final newline included>

The header line separates cosignatures from every other use of the key, and the timestamp makes
the statement "as of this second, this is the largest consistent tree I have seen for the log".
Because the type byte 0x04 enters the key ID, a cosignature line never matches a log's type 0x01
key of the same name and key, and the note machinery (crypto/note.py) ignores it for readers who
do not know the witness: a cosigned checkpoint still opens with the log's key alone.

Choices this module makes where the specification leaves room:

* **Timestamps above 2^63 - 1 are refused** (the specification's MUST) when verifying and when
  reading a timestamp; cosigning refuses zero as well, since tlog-witness forbids a witness to
  omit the timestamp. Whether a timestamp lies in the future is the caller's question: this
  module has no clock.
* **Key strings are strict**: a type 0x01 key offered as a witness key is refused with a message
  saying it is a log key, because confusing the two is the likely mistake, and ML-DSA-44
  (type 0x06) is not implemented.
"""

from __future__ import annotations

from dataclasses import dataclass

from crypto import note
from crypto.checkpoint import Checkpoint
from crypto.errors import InvalidSignature, MalformedInput
from crypto.keys import ED25519_LENGTH, SIGNATURE_LENGTH, SigningKey, VerifyKey

COSIGNATURE_TYPE = 0x04
MAX_TIMESTAMP = 2**63 - 1
TIMESTAMP_LENGTH = 8
COSIGNATURE_LENGTH = TIMESTAMP_LENGTH + SIGNATURE_LENGTH
ML_DSA_44_TYPE = 0x06


def signed_message(text: bytes, timestamp: int) -> bytes:
    """What the Ed25519 signature covers: header line, time line, then the checkpoint text."""
    return b"cosignature/v1\ntime %d\n" % timestamp + text


def _check_timestamp(timestamp: int, *, what: str) -> None:
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise InvalidSignature(f"{what} has a timestamp outside 0..2^63-1")


def _split(signature: bytes, *, name: str) -> tuple[int, bytes]:
    if len(signature) != COSIGNATURE_LENGTH:
        raise InvalidSignature(
            f"the cosignature by {name} is not {COSIGNATURE_LENGTH} bytes "
            "(8-byte timestamp and 64-byte Ed25519 signature)"
        )
    timestamp = int.from_bytes(signature[:TIMESTAMP_LENGTH], "big")
    _check_timestamp(timestamp, what=f"the cosignature by {name}")
    return timestamp, signature[TIMESTAMP_LENGTH:]


@dataclass(frozen=True)
class CosignatureVerifier:
    """A witness's public key, as a vkey ``name+keyid+base64(0x04||key)``; a :class:`NoteVerifier`
    so that :func:`crypto.note.open_note` checks cosignatures alongside the log's signature."""

    name: str
    key: VerifyKey

    def __post_init__(self) -> None:
        note.check_key_name(self.name)

    @property
    def key_id(self) -> int:
        return note.key_id(self.name, COSIGNATURE_TYPE, self.key.to_bytes())

    def to_vkey(self) -> str:
        material = note.encode_base64(bytes([COSIGNATURE_TYPE]) + self.key.to_bytes())
        return f"{self.name}+{self.key_id:08x}+{material}"

    @classmethod
    def from_vkey(cls, text: str) -> CosignatureVerifier:
        name, material = note.split_key_string(text, what="witness key")
        verifier = cls(name, VerifyKey(_cosigner_material(material, what="witness key")))
        note.require_key_id(text, verifier.key_id)
        return verifier

    def verify(self, text: bytes, signature: bytes) -> None:
        timestamp, ed25519 = _split(signature, name=self.name)
        try:
            self.key.verify(ed25519, signed_message(text, timestamp))
        except InvalidSignature:
            raise InvalidSignature(f"the cosignature by {self.name} does not verify") from None

    def timestamp(self, signature: bytes) -> int:
        """The time a cosignature claims (not verified here: call :meth:`verify` first)."""
        return _split(signature, name=self.name)[0]


@dataclass(frozen=True)
class Cosigner:
    """A witness's private key; its string ``PRIVATE+KEY+name+keyid+base64(0x04||seed)`` has the
    shape of signed-note signer keys, with the cosignature type byte."""

    name: str
    key: SigningKey

    def __post_init__(self) -> None:
        note.check_key_name(self.name)

    def verifier(self) -> CosignatureVerifier:
        return CosignatureVerifier(self.name, self.key.public_key())

    @property
    def key_id(self) -> int:
        return self.verifier().key_id

    @classmethod
    def generate(cls, name: str) -> Cosigner:
        return cls(name, SigningKey.generate())

    def to_skey(self) -> str:
        material = note.encode_base64(bytes([COSIGNATURE_TYPE]) + self.key.to_bytes())
        return f"{note.PRIVATE_KEY_PREFIX}{self.name}+{self.key_id:08x}+{material}"

    @classmethod
    def from_skey(cls, text: str) -> Cosigner:
        if not text.startswith(note.PRIVATE_KEY_PREFIX):
            raise MalformedInput("a witness signer key starts with PRIVATE+KEY+")
        body = text[len(note.PRIVATE_KEY_PREFIX) :]
        name, material = note.split_key_string(body, what="witness signer key")
        cosigner = cls(name, SigningKey(_cosigner_material(material, what="witness signer key")))
        note.require_key_id(body, cosigner.key_id)
        return cosigner

    def cosign(self, checkpoint_text: str, timestamp: int) -> str:
        """One signature line, newline included, over a checkpoint text (not a whole note).

        The text must parse as a checkpoint: a witness vouches for tree heads, and signing
        anything else under the cosignature header would be a statement nobody can interpret.
        """
        Checkpoint.from_text(checkpoint_text)
        if not 0 < timestamp <= MAX_TIMESTAMP:
            raise MalformedInput("a cosignature timestamp is between 1 and 2^63-1 seconds")
        text = checkpoint_text.encode("utf-8")
        signature = self.key.sign(signed_message(text, timestamp))
        blob = (
            self.key_id.to_bytes(note.KEY_ID_LENGTH, "big")
            + timestamp.to_bytes(TIMESTAMP_LENGTH, "big")
            + signature
        )
        return f"{note.SIGNATURE_PREFIX}{self.name} {note.encode_base64(blob)}\n"


def _cosigner_material(material: str, *, what: str) -> bytes:
    raw = note.decode_key_material(material, what=what)
    if raw[0] == note.ED25519_TYPE:
        raise MalformedInput(
            f"the {what} has type 0x01: it is a log (checkpoint) key, not a witness key (type 0x04)"
        )
    if raw[0] == ML_DSA_44_TYPE:
        raise MalformedInput(f"the {what} is an ML-DSA-44 key (type 0x06), which is not supported")
    if raw[0] != COSIGNATURE_TYPE:
        raise MalformedInput(f"the {what} is not an Ed25519 cosignature key (type 0x{raw[0]:02x})")
    if len(raw) != 1 + ED25519_LENGTH:
        raise MalformedInput(f"the {what}'s key material is the type byte 0x04 and 32 bytes")
    return raw[1:]
