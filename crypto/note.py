"""C2SP signed notes (c2sp.org/signed-note@v1.0.0) with Ed25519 keys (signature type 0x01).

A signed note is UTF-8 text followed by a blank line and one or more signature lines::

    <text ending in a newline>
    <blank line>
    — <key name> base64(4-byte key ID || signature)

It is the envelope of transparency-log checkpoints (crypto/checkpoint.py) and of witness
cosignatures, so every verifier, witness and monitor in that ecosystem reads it. Keys of other
signature types (a witness's timestamped cosignature key, type 0x04, in crypto/cosignature.py)
take part through the :class:`NoteVerifier` protocol, so that one call checks a checkpoint's log
signature and its cosignatures under the same rules. Parsing here is
deliberately stricter than "whatever works": a note that two implementations could read
differently is a split view waiting to happen, so anything outside the specification is refused
with :class:`~crypto.errors.MalformedInput` rather than repaired.

Choices the specification leaves to implementations, and what this module does:

* **Signature limit**: at most :data:`MAX_SIGNATURES` (100, as Go's reference implementation)
  signature lines; the specification requires accepting at least 16.
* **A failing signature from a known key** rejects the whole note (the specification's SHOULD).
* **Repeated signatures from one known key** are each verified (the specification says a
  signature from a known key MUST be verified), and the key is reported once.
* **Base64** must be canonical (standard alphabet, padded, no stray bits), so one note has one
  spelling.
* **Key IDs** in verifier and signer key strings must be the recommended SHA-256-derived value;
  a key whose ID does not match its name and public key is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from crypto.errors import InvalidSignature, MalformedInput
from crypto.keys import ED25519_LENGTH, SIGNATURE_LENGTH, SigningKey, VerifyKey

ED25519_TYPE = 0x01
KEY_ID_LENGTH = 4
MAX_SIGNATURES = 100
SIGNATURE_PREFIX = "\u2014 "  # EM DASH, space
PRIVATE_KEY_PREFIX = "PRIVATE+KEY+"

# Unicode's White_Space property: the "Unicode spaces" a key name must not contain.
_UNICODE_SPACES = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)
_HEX_KEY_ID = re.compile(r"[0-9a-f]{8}")


def decode_base64(text: str, *, what: str) -> bytes:
    """Standard, padded base64 in its one canonical spelling (RFC 4648 §4)."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise MalformedInput(f"{what} is not valid base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise MalformedInput(f"{what} is not canonical base64")
    return raw


def encode_base64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


_SPACE = re.compile("[" + "".join(sorted(_UNICODE_SPACES)) + "]")
_NAME_CONTROL = re.compile("[\x00-\x1f]")


def check_key_name(name: str) -> None:
    """Names appear inside signature lines and key strings, delimited by spaces and plus signs."""
    if not name:
        raise MalformedInput("a key name must not be empty")
    if _SPACE.search(name) is not None:
        raise MalformedInput("a key name must not contain spaces")
    if "+" in name:
        raise MalformedInput("a key name must not contain '+'")
    if _NAME_CONTROL.search(name) is not None:
        raise MalformedInput("a key name must not contain control characters")


def check_text(text: str) -> None:
    """The rules every note text obeys, so that what is signed is exactly what is read back."""
    if not text.endswith("\n"):
        raise MalformedInput("a note text must end with a newline")
    _check_characters(text)


#: One pass of the regular-expression engine instead of a Python loop per character: the
#: server checks the checkpoint of every receipt it builds, so this runs thousands of times a
#: second under load.
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_characters(text: str) -> None:
    if _CONTROL.search(text) is not None:
        raise MalformedInput("a note must not contain control characters other than newline")
    if _SURROGATE.search(text) is not None:
        raise MalformedInput("a note must be valid UTF-8 (it contains a lone surrogate)")


def key_id(name: str, algorithm: int, public_key: bytes) -> int:
    """The recommended key ID: the first four bytes of SHA-256(name || 0x0A || type || key)."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([algorithm]) + public_key)
    return int.from_bytes(digest.digest()[:KEY_ID_LENGTH], "big")


class NoteVerifier(Protocol):
    """Anything that can check one signature line: an Ed25519 log key (:class:`Verifier`), a
    witness's timestamped cosignature key (crypto/cosignature.py), or a future signature type.

    :func:`open_note` only needs to know which (name, key ID) pair a key answers to and whether a
    signature by it verifies, so new signature types plug in without this module knowing them.
    ``verify`` raises :class:`~crypto.errors.InvalidSignature`; it never returns a verdict that
    a careless caller could ignore.
    """

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    def verify(self, text: bytes, signature: bytes) -> None: ...


@dataclass(frozen=True)
class Verifier:
    """A named Ed25519 public key, as written in a vkey string ``name+keyid+base64(0x01||key)``."""

    name: str
    key: VerifyKey

    def __post_init__(self) -> None:
        check_key_name(self.name)

    @property
    def key_id(self) -> int:
        return key_id(self.name, ED25519_TYPE, self.key.to_bytes())

    def to_vkey(self) -> str:
        material = encode_base64(bytes([ED25519_TYPE]) + self.key.to_bytes())
        return f"{self.name}+{self.key_id:08x}+{material}"

    @classmethod
    def from_vkey(cls, text: str) -> Verifier:
        name, material = split_key_string(text, what="verifier key")
        verifier = cls(name, VerifyKey(_ed25519_material(material, what="verifier key")))
        require_key_id(text, verifier.key_id)
        return verifier

    def verify(self, text: bytes, signature: bytes) -> None:
        if len(signature) != SIGNATURE_LENGTH:
            raise InvalidSignature(f"the signature by {self.name} is not 64 bytes")
        try:
            self.key.verify(signature, text)
        except InvalidSignature:
            raise InvalidSignature(f"the signature by {self.name} does not verify") from None


@dataclass(frozen=True)
class Signer:
    """A named Ed25519 private key; its string form ``PRIVATE+KEY+name+keyid+base64(0x01||seed)``
    is the one Go's ``note.NewSigner`` reads, so keys move between implementations unchanged."""

    name: str
    key: SigningKey

    def __post_init__(self) -> None:
        check_key_name(self.name)

    def verifier(self) -> Verifier:
        return Verifier(self.name, self.key.public_key())

    @property
    def key_id(self) -> int:
        return self.verifier().key_id

    def to_skey(self) -> str:
        material = encode_base64(bytes([ED25519_TYPE]) + self.key.to_bytes())
        return f"{PRIVATE_KEY_PREFIX}{self.name}+{self.key_id:08x}+{material}"

    @classmethod
    def from_skey(cls, text: str) -> Signer:
        if not text.startswith(PRIVATE_KEY_PREFIX):
            raise MalformedInput("a signer key starts with PRIVATE+KEY+")
        body = text[len(PRIVATE_KEY_PREFIX) :]
        name, material = split_key_string(body, what="signer key")
        signer = cls(name, SigningKey(_ed25519_material(material, what="signer key")))
        require_key_id(body, signer.key_id)
        return signer

    @classmethod
    def generate(cls, name: str) -> Signer:
        return cls(name, SigningKey.generate())

    def signature_line(self, text: str) -> str:
        signature = self.key.sign(text.encode("utf-8"))
        blob = self.key_id.to_bytes(KEY_ID_LENGTH, "big") + signature
        return f"{SIGNATURE_PREFIX}{self.name} {encode_base64(blob)}\n"


def split_key_string(text: str, *, what: str) -> tuple[str, str]:
    """``name+keyid+material`` into the name and the still-encoded material (any key type)."""
    parts = text.split("+", 2)  # base64 key material may itself contain '+'
    if len(parts) != 3:
        raise MalformedInput(f"a {what} is name+keyid+key")
    name, hex_id, material = parts
    if _HEX_KEY_ID.fullmatch(hex_id) is None:
        raise MalformedInput(f"a {what}'s key ID is 8 lower-case hexadecimal digits")
    return name, material


def decode_key_material(material: str, *, what: str) -> bytes:
    """The key material of a key string: a signature type byte followed by the public key."""
    raw = decode_base64(material, what=f"the {what}'s key material")
    if not raw:
        raise MalformedInput(f"the {what}'s key material is a type byte and a key")
    return raw


def _ed25519_material(material: str, *, what: str) -> bytes:
    raw = decode_key_material(material, what=what)
    if len(raw) != 1 + ED25519_LENGTH:
        raise MalformedInput(f"the {what}'s key material is a type byte and 32 bytes")
    if raw[0] != ED25519_TYPE:
        raise MalformedInput(f"the {what} is not an Ed25519 key (type 0x{raw[0]:02x})")
    return raw[1:]


def require_key_id(text: str, expected: int) -> None:
    """The key ID written in ``name+keyid+...`` must be the one derived from name, type and key."""
    if text.split("+")[1] != f"{expected:08x}":
        raise MalformedInput("the key ID does not match the key name and public key")


@dataclass(frozen=True)
class Signature:
    """One signature line: who claims to have signed (name, key ID) and the signature bytes."""

    name: str
    key_id: int
    signature: bytes


@dataclass(frozen=True)
class Note:
    """An opened note: its text, the known keys that signed it and the signatures not checked."""

    text: str
    verified_by: tuple[NoteVerifier, ...]
    unverified: tuple[Signature, ...]


class Verifiers:
    """The keys a reader trusts, looked up by the (name, key ID) pair a signature line names."""

    def __init__(self, verifiers: Iterable[NoteVerifier]) -> None:
        self._by_id: dict[tuple[str, int], NoteVerifier] = {}
        for verifier in verifiers:
            self._by_id[(verifier.name, verifier.key_id)] = verifier

    def find(self, name: str, key_id: int) -> NoteVerifier | None:
        return self._by_id.get((name, key_id))


def sign(text: str, signers: Iterable[Signer]) -> bytes:
    """A signed note over ``text`` by every signer, in the order given."""
    check_text(text)
    lines = [signer.signature_line(text) for signer in signers]
    if not lines:
        raise MalformedInput("a signed note needs at least one signature")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedInput(f"a note carries at most {MAX_SIGNATURES} signatures")
    return (text + "\n" + "".join(lines)).encode("utf-8")


def add_signatures(message: bytes, signers: Iterable[Signer]) -> bytes:
    """Append signatures to an already signed note (a witness cosigning a checkpoint).

    The existing signature lines are kept byte for byte, whether or not this reader knows them.
    """
    text, signatures = split(message)
    new = "".join(signer.signature_line(text) for signer in signers)
    if len(signatures) + new.count("\n") > MAX_SIGNATURES:
        raise MalformedInput(f"a note carries at most {MAX_SIGNATURES} signatures")
    return message + new.encode("utf-8")


def split(message: bytes) -> tuple[str, list[Signature]]:
    """Separate a signed note into its text and its parsed (not yet verified) signature lines."""
    note = _decode(message)
    boundary = note.rfind("\n\n")
    if boundary < 0:
        raise MalformedInput("a signed note has a blank line before its signatures")
    text, block = note[: boundary + 1], note[boundary + 2 :]
    if not block:
        raise MalformedInput("a signed note has at least one signature line")
    if not block.endswith("\n"):
        raise MalformedInput("a signed note ends with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedInput(f"a note carries at most {MAX_SIGNATURES} signatures")
    return text, [parse_signature_line(line) for line in lines]


def _decode(message: bytes) -> str:
    try:
        note = message.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedInput("a signed note must be valid UTF-8") from None
    _check_characters(note)
    return note


def parse_signature_line(line: str) -> Signature:
    """One signature line, without its newline: ``— <key name> base64(key ID || signature)``."""
    if not line.startswith(SIGNATURE_PREFIX):
        raise MalformedInput("a signature line starts with an em dash (U+2014) and a space")
    fields = line[len(SIGNATURE_PREFIX) :].split(" ")
    if len(fields) != 2:
        raise MalformedInput("a signature line is '— <key name> <base64 signature>'")
    name, encoded = fields
    check_key_name(name)
    blob = decode_base64(encoded, what="a signature")
    if len(blob) <= KEY_ID_LENGTH:
        raise MalformedInput("a signature is a 4-byte key ID followed by at least one byte")
    return Signature(name, int.from_bytes(blob[:KEY_ID_LENGTH], "big"), blob[KEY_ID_LENGTH:])


def open_note(message: bytes, verifiers: Iterable[NoteVerifier]) -> Note:
    """Parse a signed note and verify it; the text may be trusted only after this returns.

    Signatures by keys the reader does not know (name and ID both matching) are ignored, as the
    specification requires, so that witnesses can add cosignatures and logs rotate keys. Every
    signature by a known key must verify, and at least one must be present.
    """
    text, signatures = split(message)
    known = Verifiers(verifiers)
    verified: dict[tuple[str, int], NoteVerifier] = {}
    unverified: list[Signature] = []
    for signature in signatures:
        verifier = known.find(signature.name, signature.key_id)
        if verifier is None:
            unverified.append(signature)
            continue
        verifier.verify(text.encode("utf-8"), signature.signature)
        verified.setdefault((verifier.name, verifier.key_id), verifier)
    if not verified:
        raise InvalidSignature("the note carries no signature by a known key")
    return Note(text, tuple(verified.values()), tuple(unverified))
