"""The petition envelope: a padded petition document sealed with HPKE to one bureau's key.

Byte layout, version 1 (``docs/protocol.md`` §Envelope is the normative text):

    offset  size  field
    0       3     magic "SPE"
    3       1     version = 0x01
    4       1     n = length of the bureau id (1..64)
    5       n     bureau id (ASCII, see crypto.fields.validate_bureau_id)
    5+n     32    bureau key id (fingerprint of the bureau's encryption public key)
    37+n    64    pseudonymous token (RFC 9497 VOPRF output)
    101+n   1120  HPKE encapsulated key (ML-KEM-768+X25519)
    1221+n  B+16  HPKE ciphertext of the padded document (B is a bucket size) and its tag

Everything before the encapsulated key is the *header*. The HPKE ``info`` is
``labels.ENVELOPE_INFO || header``, so moving the ciphertext to another bureau, another key or
another token changes ``info`` and makes decryption fail. ``cryptography``'s single-shot HPKE has
no public AAD parameter; ``info`` is the binding it offers, and it binds as strongly.

Suite: mode base, KEM ML-KEM-768+X25519, KDF HKDF-SHA256, AEAD ChaCha20-Poly1305.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke

from crypto import labels, padding
from crypto.errors import DecryptionError, MalformedInput
from crypto.fields import BUREAU_ID_MAX_LENGTH, validate_bureau_id
from crypto.keys import FINGERPRINT_LENGTH, EncryptionPrivateKey, EncryptionPublicKey

MAGIC = b"SPE"
VERSION = 1
TOKEN_LENGTH = 64
AEAD_TAG_LENGTH = 16
SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
ENC_LENGTH = hpke.KEM.MLKEM768_X25519.enc_length()
MAX_HEADER_LENGTH = len(MAGIC) + 2 + BUREAU_ID_MAX_LENGTH + FINGERPRINT_LENGTH + TOKEN_LENGTH
MAX_ENVELOPE_LENGTH = MAX_HEADER_LENGTH + ENC_LENGTH + padding.BUCKETS[-1] + AEAD_TAG_LENGTH


@dataclass(frozen=True)
class EnvelopeHeader:
    """The clear-text part of an envelope: who it is for and the petitioner's token."""

    bureau_id: str
    key_id: bytes
    token: bytes

    def __post_init__(self) -> None:
        validate_bureau_id(self.bureau_id)
        if len(self.key_id) != FINGERPRINT_LENGTH:
            raise MalformedInput(f"a key id is {FINGERPRINT_LENGTH} bytes")
        if len(self.token) != TOKEN_LENGTH:
            raise MalformedInput(f"a token is {TOKEN_LENGTH} bytes")

    def encode(self) -> bytes:
        bureau = self.bureau_id.encode("ascii")
        return MAGIC + bytes([VERSION, len(bureau)]) + bureau + self.key_id + self.token


def envelope_length(bucket: int, bureau_id: str) -> int:
    """The exact length of an envelope for this bucket: the length reveals the bucket only."""
    header = len(MAGIC) + 2 + len(bureau_id) + FINGERPRINT_LENGTH + TOKEN_LENGTH
    return header + ENC_LENGTH + bucket + AEAD_TAG_LENGTH


def seal(document: bytes, recipient: EncryptionPublicKey, bureau_id: str, token: bytes) -> bytes:
    """Pad ``document`` to its bucket and encrypt it to ``recipient`` for ``bureau_id``."""
    header = EnvelopeHeader(bureau_id=bureau_id, key_id=recipient.key_id, token=token).encode()
    sealed = SUITE.encrypt(
        padding.pad(document), recipient.hpke_key(), info=labels.ENVELOPE_INFO + header
    )
    return header + sealed


def parse_header(envelope: bytes) -> tuple[EnvelopeHeader, int]:
    """Strictly parse an envelope's header and check its total length.

    Returns the header and the offset where the HPKE part starts. This is what the server runs
    on every submission: it learns the bureau and the token, never the content.
    """
    if len(envelope) > MAX_ENVELOPE_LENGTH:
        raise MalformedInput("envelope is larger than the largest bucket allows")
    if envelope[: len(MAGIC)] != MAGIC:
        raise MalformedInput("not a petition envelope (bad magic bytes)")
    if len(envelope) < len(MAGIC) + 2:
        raise MalformedInput("envelope is truncated")
    version, bureau_length = envelope[3], envelope[4]
    if version != VERSION:
        raise MalformedInput(f"unsupported envelope version {version}")
    if not 1 <= bureau_length <= BUREAU_ID_MAX_LENGTH:
        raise MalformedInput("envelope bureau id length is out of range")
    offset = 5
    bureau_bytes = envelope[offset : offset + bureau_length]
    offset += bureau_length
    key_id = envelope[offset : offset + FINGERPRINT_LENGTH]
    offset += FINGERPRINT_LENGTH
    token = envelope[offset : offset + TOKEN_LENGTH]
    offset += TOKEN_LENGTH
    if len(token) != TOKEN_LENGTH:
        raise MalformedInput("envelope is truncated")
    try:
        bureau_id = bureau_bytes.decode("ascii")
    except UnicodeDecodeError:
        raise MalformedInput("envelope bureau id is not ASCII") from None
    header = EnvelopeHeader(bureau_id=bureau_id, key_id=bytes(key_id), token=bytes(token))
    sealed_length = len(envelope) - offset - ENC_LENGTH - AEAD_TAG_LENGTH
    if sealed_length not in padding.BUCKETS:
        raise MalformedInput("envelope length does not match any padding bucket")
    return header, offset


def open_envelope(
    envelope: bytes, private_key: EncryptionPrivateKey, bureau_id: str
) -> tuple[EnvelopeHeader, bytes]:
    """Decrypt an envelope addressed to ``bureau_id`` and return its header and document bytes.

    Every failure (malformed bytes, another bureau, another key, an altered byte anywhere)
    raises the same :class:`DecryptionError`.
    """
    try:
        header, offset = parse_header(envelope)
    except MalformedInput:
        raise DecryptionError from None
    if header.bureau_id != bureau_id or header.key_id != private_key.public_key().key_id:
        raise DecryptionError
    try:
        padded = SUITE.decrypt(
            envelope[offset:], private_key.hpke_key(), info=labels.ENVELOPE_INFO + envelope[:offset]
        )
        return header, padding.unpad(padded)
    except (InvalidTag, ValueError, MalformedInput):
        raise DecryptionError from None
