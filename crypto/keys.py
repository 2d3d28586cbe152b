"""Key types: hybrid post-quantum encryption keys, Ed25519 signing keys, and fingerprints.

``cryptography``'s hybrid HPKE key classes can be built from their components but not
serialised, so the project serialises them itself, through the components' own canonical
encodings:

* private encryption key (96 bytes) = ML-KEM-768 seed (64 bytes, FIPS 203 ``d || z``)
  || X25519 private key (32 bytes);
* public encryption key (1216 bytes) = ML-KEM-768 encapsulation key (1184 bytes)
  || X25519 public key (32 bytes).

A fingerprint is SHA-256 over a label, the algorithm name and the raw public key, so that keys of
different algorithms can never share one. Fingerprints identify keys everywhere (the HPKE
context's key id, the signer of a signed object) and, shown to people in hex, are the trust
anchors they pin.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from cryptography.exceptions import InvalidSignature as _CryptographyInvalidSignature
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import ed25519, mlkem, x25519

from crypto import labels
from crypto.errors import InvalidSignature, MalformedInput, UntrustedKey

ENCRYPTION_ALGORITHM = "mlkem768-x25519"
SIGNING_ALGORITHM = "ed25519"

MLKEM_SEED_LENGTH = 64
MLKEM_PUBLIC_LENGTH = 1184
X25519_LENGTH = 32
ENCRYPTION_PRIVATE_KEY_LENGTH = MLKEM_SEED_LENGTH + X25519_LENGTH
ENCRYPTION_PUBLIC_KEY_LENGTH = MLKEM_PUBLIC_LENGTH + X25519_LENGTH
ED25519_LENGTH = 32
SIGNATURE_LENGTH = 64
FINGERPRINT_LENGTH = 32


def fingerprint(algorithm: str, public_key: bytes) -> bytes:
    return hashlib.sha256(
        labels.KEY_FINGERPRINT + algorithm.encode("ascii") + b"\x00" + public_key
    ).digest()


def format_fingerprint(value: bytes) -> str:
    """Lower-case hex in groups of four, easy to read aloud and compare on a screen."""
    text = value.hex()
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


_FINGERPRINT_SEPARATORS = re.compile(r"[\s:-]")


def parse_fingerprint(text: str) -> bytes:
    """Accept a fingerprint as printed, with or without separators, in either case."""
    compact = _FINGERPRINT_SEPARATORS.sub("", text).lower()
    if re.fullmatch(r"[0-9a-f]{64}", compact) is None:
        raise MalformedInput("a fingerprint is 64 hexadecimal characters (spaces allowed)")
    return bytes.fromhex(compact)


def require_fingerprint(actual: bytes, pinned: bytes, *, what: str) -> None:
    if not hmac.compare_digest(actual, pinned):
        raise UntrustedKey(f"{what} does not match the pinned fingerprint")


class EncryptionPublicKey:
    """A bureau's (or a petitioner's reply) hybrid ML-KEM-768 + X25519 public key."""

    __slots__ = ("_hpke_key", "_raw")

    def __init__(self, raw: bytes) -> None:
        if len(raw) != ENCRYPTION_PUBLIC_KEY_LENGTH:
            raise MalformedInput(
                f"an encryption public key is {ENCRYPTION_PUBLIC_KEY_LENGTH} bytes"
            )
        try:
            mlkem_key = mlkem.MLKEM768PublicKey.from_public_bytes(raw[:MLKEM_PUBLIC_LENGTH])
            x25519_key = x25519.X25519PublicKey.from_public_bytes(raw[MLKEM_PUBLIC_LENGTH:])
        except ValueError:
            raise MalformedInput("not a valid ML-KEM-768 + X25519 public key") from None
        try:
            # A low-order X25519 point gives an all-zero shared secret, which the library
            # refuses; find out now rather than when someone tries to encrypt to it.
            x25519.X25519PrivateKey.generate().exchange(x25519_key)
        except ValueError:
            raise MalformedInput("the X25519 part of the public key is a low-order point") from None
        self._raw = bytes(raw)
        self._hpke_key = hpke.MLKEM768X25519PublicKey(mlkem_key, x25519_key)

    def to_bytes(self) -> bytes:
        return self._raw

    @property
    def key_id(self) -> bytes:
        return fingerprint(ENCRYPTION_ALGORITHM, self._raw)

    def hpke_key(self) -> hpke.MLKEM768X25519PublicKey:
        return self._hpke_key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EncryptionPublicKey) and other._raw == self._raw

    def __hash__(self) -> int:
        return hash(self._raw)

    def __repr__(self) -> str:
        return f"EncryptionPublicKey({format_fingerprint(self.key_id)[:19]}…)"


class EncryptionPrivateKey:
    """The private half; its repr never shows key material."""

    __slots__ = ("_hpke_key", "_public", "_raw")

    def __init__(self, raw: bytes) -> None:
        if len(raw) != ENCRYPTION_PRIVATE_KEY_LENGTH:
            raise MalformedInput(
                f"an encryption private key is {ENCRYPTION_PRIVATE_KEY_LENGTH} bytes"
            )
        mlkem_key = mlkem.MLKEM768PrivateKey.from_seed_bytes(raw[:MLKEM_SEED_LENGTH])
        x25519_key = x25519.X25519PrivateKey.from_private_bytes(raw[MLKEM_SEED_LENGTH:])
        self._raw = bytes(raw)
        self._hpke_key = hpke.MLKEM768X25519PrivateKey(mlkem_key, x25519_key)
        self._public = EncryptionPublicKey(
            mlkem_key.public_key().public_bytes_raw() + x25519_key.public_key().public_bytes_raw()
        )

    @classmethod
    def generate(cls) -> EncryptionPrivateKey:
        mlkem_seed = mlkem.MLKEM768PrivateKey.generate().private_bytes_raw()
        x25519_raw = x25519.X25519PrivateKey.generate().private_bytes_raw()
        return cls(mlkem_seed + x25519_raw)

    def to_bytes(self) -> bytes:
        return self._raw

    def public_key(self) -> EncryptionPublicKey:
        return self._public

    def hpke_key(self) -> hpke.MLKEM768X25519PrivateKey:
        return self._hpke_key

    def __repr__(self) -> str:
        return f"EncryptionPrivateKey(public={self._public!r})"


class VerifyKey:
    """An Ed25519 public key."""

    __slots__ = ("_fingerprint", "_key", "_raw")

    def __init__(self, raw: bytes) -> None:
        if len(raw) != ED25519_LENGTH:
            raise MalformedInput(f"an Ed25519 public key is {ED25519_LENGTH} bytes")
        try:
            self._key = ed25519.Ed25519PublicKey.from_public_bytes(raw)
        except ValueError:
            raise MalformedInput("not a valid Ed25519 public key") from None
        self._raw = bytes(raw)
        # Every signature names its signer by fingerprint: hash it once, not per signature.
        self._fingerprint = fingerprint(SIGNING_ALGORITHM, self._raw)

    def to_bytes(self) -> bytes:
        return self._raw

    @property
    def fingerprint(self) -> bytes:
        return self._fingerprint

    def verify(self, signature: bytes, message: bytes) -> None:
        try:
            self._key.verify(signature, message)
        except _CryptographyInvalidSignature:
            raise InvalidSignature("the signature does not verify") from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VerifyKey) and other._raw == self._raw

    def __hash__(self) -> int:
        return hash(self._raw)

    def __repr__(self) -> str:
        return f"VerifyKey({format_fingerprint(self.fingerprint)[:19]}…)"


class SigningKey:
    """An Ed25519 private key (stored as its 32-byte seed)."""

    __slots__ = ("_key", "_public")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != ED25519_LENGTH:
            raise MalformedInput(f"an Ed25519 private key is {ED25519_LENGTH} bytes")
        self._key = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
        self._public = VerifyKey(self._key.public_key().public_bytes_raw())

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(ed25519.Ed25519PrivateKey.generate().private_bytes_raw())

    def to_bytes(self) -> bytes:
        return self._key.private_bytes_raw()

    def public_key(self) -> VerifyKey:
        return self._public

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def __repr__(self) -> str:
        return f"SigningKey(public={self._public!r})"
