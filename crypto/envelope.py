"""The petition envelope, version 2: two HPKE-sealed sections for one bureau, nothing per-person
in the clear (``docs/protocol.md`` §7 is the normative text).

Byte layout (all lengths fixed except the case ciphertext, whose size is a padding bucket):

    offset  size      field
    0       3         magic "SPE"
    3       1         version = 0x02
    4       64        bureau id, ASCII, NUL-padded to 64 bytes
    68      32        identity key id (fingerprint of the bureau's identity public key)
    100     32        case key id (fingerprint of the bureau's case public key)
    132     1120      identity section: HPKE encapsulated key (ML-KEM-768+X25519)
    1252    2064      identity section: ciphertext of the 2,048-byte padded identity, and its tag
    3316    1120      case section: HPKE encapsulated key
    4436    B+16      case section: ciphertext of the bucket-padded case document, and its tag

The first 132 bytes are the *header*. The bureau id is padded to a fixed width because a network
observer behind TLS read its length from the request size in v1. There is no token and no other
per-person value in the header: the pseudonymous token is derived by the bureau after opening.

Binding. The identity section's HPKE ``info`` is ``ENVELOPE_IDENTITY_INFO || header``; the case
section's is ``ENVELOPE_CASE_INFO || header || SHA-256(sealed identity section)``. Moving either
section to another bureau or key fails to open; pairing a case with another envelope's identity
section fails to open the case, even for a case handler who cannot open the identity.
``cryptography``'s single-shot HPKE has no public AAD parameter; ``info`` binds as strongly.

Suite for both sections: mode base, KEM ML-KEM-768+X25519, KDF HKDF-SHA256, AEAD
ChaCha20-Poly1305.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke

from crypto import labels, padding
from crypto.errors import DecryptionError, MalformedInput, UnsupportedVersion
from crypto.fields import BUREAU_ID_MAX_LENGTH, validate_bureau_id
from crypto.keys import FINGERPRINT_LENGTH, EncryptionPrivateKey, EncryptionPublicKey

MAGIC = b"SPE"
VERSION = 2
AEAD_TAG_LENGTH = 16
SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
ENC_LENGTH = hpke.KEM.MLKEM768_X25519.enc_length()
BUREAU_FIELD_LENGTH = BUREAU_ID_MAX_LENGTH
HEADER_LENGTH = len(MAGIC) + 1 + BUREAU_FIELD_LENGTH + 2 * FINGERPRINT_LENGTH
IDENTITY_SECTION_LENGTH = ENC_LENGTH + padding.IDENTITY_SECTION_SIZE + AEAD_TAG_LENGTH
CASE_OFFSET = HEADER_LENGTH + IDENTITY_SECTION_LENGTH
MAX_ENVELOPE_LENGTH = CASE_OFFSET + ENC_LENGTH + padding.BUCKETS[-1] + AEAD_TAG_LENGTH


@dataclass(frozen=True)
class EnvelopeHeader:
    """The clear part of an envelope: which bureau, and which of its keys. Nothing about anyone."""

    bureau_id: str
    identity_key_id: bytes
    case_key_id: bytes

    def __post_init__(self) -> None:
        validate_bureau_id(self.bureau_id)
        if len(self.identity_key_id) != FINGERPRINT_LENGTH:
            raise MalformedInput(f"a key id is {FINGERPRINT_LENGTH} bytes")
        if len(self.case_key_id) != FINGERPRINT_LENGTH:
            raise MalformedInput(f"a key id is {FINGERPRINT_LENGTH} bytes")

    def encode(self) -> bytes:
        bureau = self.bureau_id.encode("ascii").ljust(BUREAU_FIELD_LENGTH, b"\x00")
        return MAGIC + bytes([VERSION]) + bureau + self.identity_key_id + self.case_key_id


def envelope_length(bucket: int) -> int:
    """The exact length of an envelope whose case fills ``bucket``: it reveals the bucket only."""
    return CASE_OFFSET + ENC_LENGTH + bucket + AEAD_TAG_LENGTH


def _case_info(header: bytes, sealed_identity: bytes) -> bytes:
    return labels.ENVELOPE_CASE_INFO + header + hashlib.sha256(sealed_identity).digest()


def seal(
    identity: bytes,
    case: bytes,
    identity_key: EncryptionPublicKey,
    case_key: EncryptionPublicKey,
    bureau_id: str,
) -> bytes:
    """Seal an identity section and a case section for ``bureau_id``.

    ``identity`` is padded to the one identity size and ``case`` to its bucket before
    encryption, so the envelope's length depends on the case bucket alone.
    """
    header = EnvelopeHeader(
        bureau_id=bureau_id, identity_key_id=identity_key.key_id, case_key_id=case_key.key_id
    ).encode()
    sealed_identity = SUITE.encrypt(
        padding.pad_to(identity, padding.IDENTITY_SECTION_SIZE),
        identity_key.hpke_key(),
        info=labels.ENVELOPE_IDENTITY_INFO + header,
    )
    sealed_case = SUITE.encrypt(
        padding.pad(case), case_key.hpke_key(), info=_case_info(header, sealed_identity)
    )
    return header + sealed_identity + sealed_case


def parse_header(envelope: bytes) -> EnvelopeHeader:
    """Strictly parse an envelope's header and check its total length.

    This is all the server runs on a submission: it learns the bureau and the bureau's key ids,
    never anything about the petitioner. A version 1 envelope raises
    :class:`~crypto.errors.UnsupportedVersion`.
    """
    if len(envelope) > MAX_ENVELOPE_LENGTH:
        raise MalformedInput("envelope is larger than the largest bucket allows")
    if envelope[: len(MAGIC)] != MAGIC:
        raise MalformedInput("not a petition envelope (bad magic bytes)")
    if len(envelope) < len(MAGIC) + 1:
        raise MalformedInput("envelope is truncated")
    version = envelope[3]
    if version != VERSION:
        raise UnsupportedVersion(
            f"envelope version {version} is not supported; this server accepts version {VERSION}"
        )
    if len(envelope) < CASE_OFFSET:
        raise MalformedInput("envelope is truncated")
    offset = 4
    bureau_field = envelope[offset : offset + BUREAU_FIELD_LENGTH]
    offset += BUREAU_FIELD_LENGTH
    bureau_bytes = bureau_field.rstrip(b"\x00")
    if b"\x00" in bureau_bytes:
        raise MalformedInput("envelope bureau id field has bytes after its NUL padding")
    try:
        bureau_id = validate_bureau_id(bureau_bytes.decode("ascii"))
    except UnicodeDecodeError:
        raise MalformedInput("envelope bureau id is not ASCII") from None
    identity_key_id = envelope[offset : offset + FINGERPRINT_LENGTH]
    offset += FINGERPRINT_LENGTH
    case_key_id = envelope[offset : offset + FINGERPRINT_LENGTH]
    header = EnvelopeHeader(
        bureau_id=bureau_id, identity_key_id=bytes(identity_key_id), case_key_id=bytes(case_key_id)
    )
    case_sealed = len(envelope) - CASE_OFFSET - ENC_LENGTH - AEAD_TAG_LENGTH
    if case_sealed not in padding.BUCKETS:
        raise MalformedInput("envelope length does not match any padding bucket")
    return header


def _open(
    envelope: bytes, private_key: EncryptionPrivateKey, bureau_id: str, key_id_of: str
) -> EnvelopeHeader:
    try:
        header = parse_header(envelope)
    except MalformedInput:
        raise DecryptionError from None
    if header.bureau_id != bureau_id or getattr(header, key_id_of) != (
        private_key.public_key().key_id
    ):
        raise DecryptionError
    return header


def open_identity(envelope: bytes, private_key: EncryptionPrivateKey, bureau_id: str) -> bytes:
    """Decrypt the identity section (the bureau's identity key). Every failure is the same
    :class:`DecryptionError`."""
    _open(envelope, private_key, bureau_id, "identity_key_id")
    try:
        padded = SUITE.decrypt(
            envelope[HEADER_LENGTH:CASE_OFFSET],
            private_key.hpke_key(),
            info=labels.ENVELOPE_IDENTITY_INFO + envelope[:HEADER_LENGTH],
        )
        return padding.unpad_from(padded, padding.IDENTITY_SECTION_SIZE)
    except (InvalidTag, ValueError, MalformedInput):
        raise DecryptionError from None


def open_case(envelope: bytes, private_key: EncryptionPrivateKey, bureau_id: str) -> bytes:
    """Decrypt the case section (the bureau's case key). It opens only next to the identity
    section it was sealed with. Every failure is the same :class:`DecryptionError`."""
    _open(envelope, private_key, bureau_id, "case_key_id")
    try:
        padded = SUITE.decrypt(
            envelope[CASE_OFFSET:],
            private_key.hpke_key(),
            info=_case_info(envelope[:HEADER_LENGTH], envelope[HEADER_LENGTH:CASE_OFFSET]),
        )
        return padding.unpad(padded)
    except (InvalidTag, ValueError, MalformedInput):
        raise DecryptionError from None
