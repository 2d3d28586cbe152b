"""Sealed petition files: a submission sealed offline, to be carried and delivered later.

``petition seal`` does everything ``petition submit`` does up to the request, with no network,
and writes the request into one of these files; anyone online later (a courier) sends it with
``petition deliver``. The file holds exactly what ``POST /v1/petitions`` carries (protocol
§15.3) and nothing else: the envelope (§7) and the lookup-key hash (§11.4), with a length and a
checksum to frame them. No receipt code, no lookup key, no name, no time: nothing in it leads
back to the code, and nothing in it is readable but the envelope's clear header (the bureau and
its key ids, §7.4).

Layout, version 2 (``docs/protocol.md`` §17 is the normative text)::

    offset  size  field
    0       24    intro line: ASCII "sealed-petition-file/v2" and a line feed (0x0a)
    24      32    lookup_key_hash
    56      4     n: the envelope's length in bytes, unsigned big-endian
    60      n     the envelope, exactly as it is sent; n is the length of an envelope of one
                  padding bucket (§6, §7.1)
    60 + n  32    checksum: SHA-256 of bytes 0 to 60 + n (everything before it)

Binary rather than JSON: a 4 KiB-bucket petition is 8,640 bytes here and would be a third
larger in base64url, which matters when the file travels as printed QR codes. The intro line
names the format and its version so that a person (``head -1``) and a program can tell what the
file is; the version is the protocol version the format was born in (there is no version 1).
The checksum catches a file damaged on the way (a flipped bit on a memory card, a cut-off
copy): nothing else could, since neither a courier nor the server can open the envelope, and a
damaged one would be delivered, logged as received, and never opened by the bureau. It is no
protection against someone who changes the file on purpose: they recompute it.

Reading is strict: another intro line is ``malformed``, another version of this one
``unsupported_version``, and a length field that names no envelope length, a file that ends
early, bytes after the checksum, a checksum that does not match or an envelope whose header does
not parse are ``malformed`` (a version 1 envelope inside is ``unsupported_version``, as
everywhere).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from crypto import padding
from crypto.envelope import MAX_ENVELOPE_LENGTH, EnvelopeHeader, envelope_length, parse_header
from crypto.errors import MalformedInput, UnsupportedVersion
from crypto.fields import petition_id_for
from crypto.receipt import LOOKUP_KEY_LENGTH

__all__ = [
    "CHECKSUM_LENGTH",
    "ENVELOPE_LENGTHS",
    "FORMAT_NAME",
    "HEADER_LENGTH",
    "INTRO_LINE",
    "MAX_FILE_LENGTH",
    "VERSION",
    "SealedPetition",
    "decode_sealed_file",
    "encode_sealed_file",
]

FORMAT_NAME = "sealed-petition-file"
VERSION = 2
INTRO_LINE = f"{FORMAT_NAME}/v{VERSION}\n".encode("ascii")
_INTRO_PREFIX = f"{FORMAT_NAME}/".encode("ascii")
_LENGTH_FIELD = 4
HEADER_LENGTH = len(INTRO_LINE) + LOOKUP_KEY_LENGTH + _LENGTH_FIELD
CHECKSUM_LENGTH = hashlib.sha256().digest_size
#: The length of an envelope of each bucket: the only values the length field may hold.
ENVELOPE_LENGTHS = frozenset(envelope_length(bucket) for bucket in padding.BUCKETS)
MAX_FILE_LENGTH = HEADER_LENGTH + MAX_ENVELOPE_LENGTH + CHECKSUM_LENGTH
#: How far an intro line of another version may run before it is not one at all.
_MAX_INTRO_LENGTH = 64


@dataclass(frozen=True)
class SealedPetition:
    """The request ``POST /v1/petitions`` carries: an envelope and its lookup-key hash."""

    envelope: bytes
    lookup_key_hash: bytes

    def __post_init__(self) -> None:
        if len(self.lookup_key_hash) != LOOKUP_KEY_LENGTH:
            raise MalformedInput(f"a lookup-key hash is {LOOKUP_KEY_LENGTH} bytes")
        if len(self.envelope) not in ENVELOPE_LENGTHS:
            raise MalformedInput(
                f"an envelope of {len(self.envelope)} bytes matches no padding bucket"
            )
        parse_header(self.envelope)

    @property
    def header(self) -> EnvelopeHeader:
        """The envelope's clear header (§7.4): the bureau and its two key ids, nothing else."""
        return parse_header(self.envelope)

    @property
    def bureau_id(self) -> str:
        """The bureau the petition is sealed to: all a carrier can read of it."""
        return self.header.bureau_id

    @property
    def petition_id(self) -> str:
        """The id the server will give it (§2.3): derived from the envelope alone."""
        return petition_id_for(self.envelope)

    def encode(self) -> bytes:
        length = len(self.envelope).to_bytes(_LENGTH_FIELD, "big")
        content = INTRO_LINE + self.lookup_key_hash + length + self.envelope
        return content + hashlib.sha256(content).digest()


def encode_sealed_file(sealed_envelope: bytes, lookup_key_hash: bytes) -> bytes:
    """The file for one submission request; the envelope's header is checked first."""
    return SealedPetition(sealed_envelope, lookup_key_hash).encode()


def decode_sealed_file(data: bytes) -> SealedPetition:
    """Parse a sealed petition file strictly; every problem is one :class:`MalformedInput`."""
    _check_intro(data)
    if len(data) < HEADER_LENGTH:
        raise MalformedInput(
            f"the file is truncated: {len(data)} bytes, shorter than the {HEADER_LENGTH}-byte "
            "header"
        )
    offset = len(INTRO_LINE)
    lookup_key_hash = data[offset : offset + LOOKUP_KEY_LENGTH]
    offset += LOOKUP_KEY_LENGTH
    length = int.from_bytes(data[offset : offset + _LENGTH_FIELD], "big")
    offset += _LENGTH_FIELD
    if length not in ENVELOPE_LENGTHS:
        raise MalformedInput(
            f"the envelope length field says {length} bytes, which is the length of no "
            f"envelope ({', '.join(str(n) for n in sorted(ENVELOPE_LENGTHS))})"
        )
    expected = HEADER_LENGTH + length + CHECKSUM_LENGTH
    if len(data) < expected:
        raise MalformedInput(
            f"the file is truncated: {len(data)} bytes, and a file with an envelope of "
            f"{length} bytes is {expected}"
        )
    if len(data) > expected:
        raise MalformedInput(f"the file has {len(data) - expected} bytes after its checksum")
    content, checksum = data[:-CHECKSUM_LENGTH], data[-CHECKSUM_LENGTH:]
    if not hmac.compare_digest(hashlib.sha256(content).digest(), checksum):
        raise MalformedInput(
            "the file is damaged: its checksum does not match its content (changed on the way)"
        )
    return SealedPetition(data[offset : offset + length], lookup_key_hash)


def _check_intro(data: bytes) -> None:
    if data.startswith(INTRO_LINE):
        return
    if INTRO_LINE.startswith(data):
        raise MalformedInput(f"the file is truncated: {len(data)} bytes, inside its first line")
    if not data.startswith(_INTRO_PREFIX):
        raise MalformedInput(f"not a sealed petition file (it does not start with {FORMAT_NAME})")
    line, newline, _ = data[: _MAX_INTRO_LENGTH + 1].partition(b"\n")
    version = line[len(_INTRO_PREFIX) :]
    if not newline or not version.isascii() or not version.isalnum():
        raise MalformedInput(f"not a sealed petition file (its first line is not {FORMAT_NAME}/vN)")
    raise UnsupportedVersion(
        f"sealed petition file version {version.decode('ascii')} is not supported; "
        f"this program reads v{VERSION}"
    )
