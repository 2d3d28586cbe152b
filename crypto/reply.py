"""Reply ciphertexts: a bureau's message, HPKE-sealed to the petitioner's reply key.

Byte layout, version 2 (protocol v2; a version 1 reply is refused like any other bad reply):

    "SPR" || version 0x02 || HPKE encapsulated key (1120 bytes) || ciphertext (B + 16 bytes)

The plaintext is the canonical JSON object ``{"message": <text>}`` padded to a bucket
(crypto.padding), so a reply's length says as little as a petition's. The HPKE ``info`` is
``labels.REPLY_INFO || petition id (ASCII) || 0x00 || bureau id (ASCII)``: a reply copied onto
another petition does not decrypt. The reply's signed body (crypto.objects.Reply) carries the
ciphertext; the bureau's signature over it proves who answered.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag

from crypto import cjson, labels, padding
from crypto.envelope import AEAD_TAG_LENGTH, ENC_LENGTH, SUITE
from crypto.errors import DecryptionError, MalformedInput, SchemaViolation
from crypto.fields import text_field, validate_bureau_id, validate_petition_id
from crypto.keys import EncryptionPrivateKey, EncryptionPublicKey

MAGIC = b"SPR"
VERSION = 2
MAX_MESSAGE_CHARACTERS = 50_000
# 50,000 characters of at most 4 UTF-8 bytes each fit the 256 KiB bucket.
MAX_REPLY_CIPHERTEXT_LENGTH = 4 + ENC_LENGTH + 256 * 1024 + AEAD_TAG_LENGTH


def _info(petition_id: str, bureau_id: str) -> bytes:
    return (
        labels.REPLY_INFO
        + validate_petition_id(petition_id).encode("ascii")
        + b"\x00"
        + validate_bureau_id(bureau_id).encode("ascii")
    )


def seal_reply(
    message: str, recipient: EncryptionPublicKey, petition_id: str, bureau_id: str
) -> bytes:
    text_field(message, "reply message", 1, MAX_MESSAGE_CHARACTERS, multi_line=True)
    plaintext = padding.pad(cjson.encode({"message": message}))
    sealed = SUITE.encrypt(plaintext, recipient.hpke_key(), info=_info(petition_id, bureau_id))
    return MAGIC + bytes([VERSION]) + sealed


def open_reply(
    ciphertext: bytes, private_key: EncryptionPrivateKey, petition_id: str, bureau_id: str
) -> str:
    """Decrypt a reply; every failure is the same opaque :class:`DecryptionError`."""
    info = _info(petition_id, bureau_id)
    if ciphertext[:3] != MAGIC or ciphertext[3:4] != bytes([VERSION]):
        raise DecryptionError
    if len(ciphertext) > MAX_REPLY_CIPHERTEXT_LENGTH:
        raise DecryptionError
    if len(ciphertext) - 4 - ENC_LENGTH - AEAD_TAG_LENGTH not in padding.BUCKETS:
        raise DecryptionError
    try:
        plaintext = padding.unpad(SUITE.decrypt(ciphertext[4:], private_key.hpke_key(), info=info))
        body = cjson.require_members("reply", cjson.decode_object(plaintext), {"message"})
    except (InvalidTag, ValueError, MalformedInput):
        raise DecryptionError from None
    try:
        return text_field(
            body["message"], "reply message", 1, MAX_MESSAGE_CHARACTERS, multi_line=True
        )
    except SchemaViolation:
        raise DecryptionError from None
