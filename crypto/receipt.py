"""The receipt secret: the only thing a petitioner keeps, and all they need to come back.

A receipt secret is 16 random bytes (128 bits). People see it as a receipt code:

    "1" (code version) || 26 Crockford base32 characters (the secret, 130 bits with the last
    two bits zero) || 1 check character (Luhn mod 32 over the 27 characters before it)

printed in seven groups of four, e.g. ``1ABC-DEFG-HJKM-NPQR-STVW-XYZ0-123K``. Crockford's
alphabet has no I, L, O or U, and reading tolerates the usual confusions (O→0, I and L→1),
lower case, spaces and hyphens. The check character catches every single mistyped character and
nearly every swap of two neighbours before any request is made. The code uses only characters of
the QR alphanumeric mode, so its QR code stays small.

From the secret, HKDF-SHA256 (no salt) derives, each with its own ``info`` label:

* the reply key pair (96 bytes: ML-KEM-768 seed || X25519 private key), to which the bureau
  encrypts its replies;
* the lookup key (32 bytes), which authorises status requests; the server stores only
  SHA-256(LOOKUP_KEY_HASH label || lookup key).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import unicodedata

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto import labels
from crypto.errors import InvalidReceiptCode
from crypto.keys import ENCRYPTION_PRIVATE_KEY_LENGTH, EncryptionPrivateKey

SECRET_LENGTH = 16
LOOKUP_KEY_LENGTH = 32
CODE_VERSION = "1"
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RFC4648 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_TO_CROCKFORD = str.maketrans(_RFC4648, CROCKFORD)
_FROM_CROCKFORD = str.maketrans(CROCKFORD, _RFC4648)
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1", "-": None, " ": None})
_SECRET_CHARACTERS = 26
CODE_CHARACTERS = 1 + _SECRET_CHARACTERS + 1


def _luhn_mod32_check(text: str) -> str:
    """The Luhn mod N check character for ``text`` (N = 32, Crockford alphabet)."""
    total = 0
    factor = 2
    for character in reversed(text):
        addend = factor * CROCKFORD.index(character)
        total += addend // 32 + addend % 32
        factor = 1 if factor == 2 else 2
    return CROCKFORD[(32 - total % 32) % 32]


class ReceiptSecret:
    __slots__ = ("_secret",)

    def __init__(self, secret: bytes) -> None:
        if len(secret) != SECRET_LENGTH:
            raise InvalidReceiptCode(f"a receipt secret is {SECRET_LENGTH} bytes")
        self._secret = bytes(secret)

    @classmethod
    def generate(cls) -> ReceiptSecret:
        return cls(os.urandom(SECRET_LENGTH))

    def to_bytes(self) -> bytes:
        return self._secret

    @property
    def code(self) -> str:
        body = base64.b32encode(self._secret).decode("ascii").rstrip("=").translate(_TO_CROCKFORD)
        compact = CODE_VERSION + body
        compact += _luhn_mod32_check(compact)
        return "-".join(compact[i : i + 4] for i in range(0, len(compact), 4))

    @classmethod
    def from_code(cls, code: str) -> ReceiptSecret:
        compact = unicodedata.normalize("NFKC", code).strip()
        if not compact.isascii():
            raise InvalidReceiptCode("a receipt code uses only digits and the letters A-Z (no U)")
        compact = compact.upper().translate(_CONFUSABLE)
        if len(compact) != CODE_CHARACTERS:
            raise InvalidReceiptCode(
                f"a receipt code has {CODE_CHARACTERS} characters; this one has {len(compact)}"
            )
        if any(character not in CROCKFORD for character in compact):
            raise InvalidReceiptCode("a receipt code uses only digits and the letters A-Z (no U)")
        if compact[0] != CODE_VERSION:
            raise InvalidReceiptCode("this receipt code is from an unknown version")
        if _luhn_mod32_check(compact[:-1]) != compact[-1]:
            raise InvalidReceiptCode("the receipt code has a typo (its check character is wrong)")
        body = compact[1:-1].translate(_FROM_CROCKFORD)
        try:
            secret = base64.b32decode(body + "=" * 6)
        except binascii.Error:
            raise InvalidReceiptCode("the receipt code is not valid") from None
        instance = cls(secret)
        if instance.code.replace("-", "") != compact:
            raise InvalidReceiptCode("the receipt code is not valid")
        return instance

    def _derive(self, info: bytes, length: int) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(
            self._secret
        )

    def reply_private_key(self) -> EncryptionPrivateKey:
        return EncryptionPrivateKey(
            self._derive(labels.RECEIPT_REPLY_KEY, ENCRYPTION_PRIVATE_KEY_LENGTH)
        )

    def lookup_key(self) -> bytes:
        return self._derive(labels.RECEIPT_LOOKUP_KEY, LOOKUP_KEY_LENGTH)

    def lookup_key_hash(self) -> bytes:
        return lookup_key_hash(self.lookup_key())

    def __repr__(self) -> str:
        return "ReceiptSecret(<redacted>)"


def lookup_key_hash(lookup_key: bytes) -> bytes:
    """What the server stores and compares: it can check a lookup key but never recreate it."""
    return hashlib.sha256(labels.LOOKUP_KEY_HASH + lookup_key).digest()
