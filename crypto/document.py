"""What is sealed inside an envelope (protocol v2): the identity section and the case section.

Identity section, version 2 (normative text in ``docs/protocol.md`` §8.1), sealed to the bureau's
identity key and padded to one fixed size:

    offset  size  field
    0       3     magic "SPI"
    3       1     version = 0x02
    4       ...   canonical JSON (crypto.cjson): real_name, id_scheme, id_number, contact, consent

Case section, version 2 (§8.2), sealed to the bureau's case key and padded to a bucket:

    offset  size  field
    0       3     magic "SPD"
    3       1     version = 0x02
    4       4     m = length of the metadata (big-endian)
    8       m     metadata: canonical JSON, see ``_CASE_FIELDS``
    8+m     ...   the attachments' bytes, concatenated in the order of metadata.attachments

The case carries ``id_prehash`` (Argon2id of the ID number under the bureau's public salt) where
v1 carried the ID: a case handler who holds only the case key works with the pseudonym derived
from it, never with the name. Attachments travel as raw bytes rather than base64 inside the JSON,
so a 1 MiB scan costs 1 MiB of envelope, not 1.33. Text fields are carried exactly as typed (no
Unicode normalisation), so Chinese text and the petitioner's own line breaks round-trip byte for
byte.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from datetime import date

from crypto import cjson
from crypto.errors import MalformedInput, SchemaViolation, UnsupportedVersion
from crypto.fields import NAME_FORBIDDEN, format_day, parse_day, text_field
from crypto.keys import ENCRYPTION_PUBLIC_KEY_LENGTH, EncryptionPublicKey
from crypto.token import PREHASH_LENGTH

VERSION = 2
IDENTITY_MAGIC = b"SPI"
CASE_MAGIC = b"SPD"
MAX_ATTACHMENTS = 20

# field name -> (minimum characters, maximum characters, multi-line allowed)
_IDENTITY_TEXT: dict[str, tuple[int, int, bool]] = {
    "real_name": (1, 100, False),
    "id_scheme": (1, 32, False),
    "id_number": (1, 64, False),
    "contact": (0, 200, False),
}
_IDENTITY_FIELDS = {*_IDENTITY_TEXT, "consent"}
_CONSENT_FIELDS = {"contact", "share_identity_on_transfer"}
_CASE_TEXT: dict[str, tuple[int, int, bool]] = {
    "subject": (1, 200, False),
    "body": (1, 50_000, True),
    "category": (1, 64, False),
    "region": (1, 64, False),
    "respondent": (0, 200, False),
}
_CASE_FIELDS = {*_CASE_TEXT, "attachments", "reply_key", "id_prehash", "created_day"}
_ATTACHMENT_FIELDS = {"name", "media_type", "size"}
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")
_SCHEME = re.compile(r"[a-z][a-z0-9-]{0,31}")


def _check_magic_and_version(data: bytes, magic: bytes, what: str) -> None:
    if data[:3] != magic:
        raise MalformedInput(f"not {what} (bad magic bytes)")
    if len(data) < 4:
        raise MalformedInput(f"{what} is truncated")
    if data[3] != VERSION:
        raise UnsupportedVersion(f"{what} version {data[3]} is not supported")


@dataclass(frozen=True)
class Consent:
    """What the petitioner allows the bureau to do with the identity section.

    ``contact``: the bureau may use the contact details to reach the petitioner.
    ``share_identity_on_transfer``: when the case is transferred to a competent bureau, the
    identity may go with it. Never to the body complained about (Regulations Art. 30, 46(5)),
    whatever is chosen here.
    """

    contact: bool = True
    share_identity_on_transfer: bool = False

    def to_json(self) -> dict[str, cjson.JsonValue]:
        return {
            "contact": self.contact,
            "share_identity_on_transfer": self.share_identity_on_transfer,
        }

    @classmethod
    def from_json(cls, value: object) -> Consent:
        members = cjson.require_members("consent", value, _CONSENT_FIELDS)
        if not all(type(members[name]) is bool for name in _CONSENT_FIELDS):
            raise SchemaViolation("consent: every choice is true or false")
        return cls(**members)


@dataclass(frozen=True)
class IdentityDocument:
    """Who petitions: sealed to the bureau's identity key, opened at intake only."""

    real_name: str
    id_scheme: str
    id_number: str
    contact: str
    consent: Consent = Consent()

    def __post_init__(self) -> None:
        for name, (minimum, maximum, multi_line) in _IDENTITY_TEXT.items():
            text_field(getattr(self, name), name, minimum, maximum, multi_line=multi_line)
        if _SCHEME.fullmatch(self.id_scheme) is None:
            raise SchemaViolation("id_scheme: expected a scheme identifier such as 'cn-resident'")
        if not isinstance(self.consent, Consent):
            raise SchemaViolation("consent: expected the consent choices")

    def __repr__(self) -> str:
        # Identities end up in tracebacks; never let a name or ID number ride along.
        return "IdentityDocument(<redacted>)"

    def encode(self) -> bytes:
        metadata: dict[str, cjson.JsonValue] = {
            name: getattr(self, name) for name in _IDENTITY_TEXT
        }
        metadata["consent"] = self.consent.to_json()
        return IDENTITY_MAGIC + bytes([VERSION]) + cjson.encode(metadata)

    @classmethod
    def decode(cls, data: bytes) -> IdentityDocument:
        _check_magic_and_version(data, IDENTITY_MAGIC, "an identity section")
        metadata = cjson.decode_object(data[4:])
        cjson.require_members("identity section", metadata, _IDENTITY_FIELDS)
        return cls(
            **{name: metadata[name] for name in _IDENTITY_TEXT},
            consent=Consent.from_json(metadata["consent"]),
        )


WITHHELD_REASON = "not_consented"


@dataclass(frozen=True)
class WithheldIdentity:
    """The identity section of a case transferred without the petitioner's consent.

    Regulations Art. 30 and the petitioner's own choice (:attr:`Consent.share_identity_on_transfer`,
    off by default) keep the identity at the bureau first addressed: the transferring bureau
    re-seals the case for the receiving bureau with this in place of the identity. Its JSON is
    exactly ``{"withheld":"not_consented"}``, padded to the same fixed identity size, so the
    envelope's length does not tell whether the identity went along; only the receiving bureau's
    intake, opening the section, learns that it did not.
    """

    reason: str = WITHHELD_REASON

    def __post_init__(self) -> None:
        if self.reason != WITHHELD_REASON:
            raise SchemaViolation(f"withheld identity: the only reason is {WITHHELD_REASON!r}")

    def encode(self) -> bytes:
        return IDENTITY_MAGIC + bytes([VERSION]) + cjson.encode({"withheld": self.reason})

    @classmethod
    def decode(cls, data: bytes) -> WithheldIdentity:
        _check_magic_and_version(data, IDENTITY_MAGIC, "an identity section")
        metadata = cjson.decode_object(data[4:])
        reason = cjson.require_members("withheld identity", metadata, {"withheld"})["withheld"]
        if not isinstance(reason, str):
            raise SchemaViolation("withheld identity: the reason is a string")
        return cls(reason)


def decode_identity(data: bytes) -> IdentityDocument | WithheldIdentity:
    """An identity section as a bureau may find it: the petitioner's identity, or (in a case
    transferred without consent) the withheld marker. Anything else is refused, strictly."""
    _check_magic_and_version(data, IDENTITY_MAGIC, "an identity section")
    metadata = cjson.decode_object(data[4:])
    if "withheld" in metadata:
        return WithheldIdentity.decode(data)
    return IdentityDocument.decode(data)


@dataclass(frozen=True)
class Attachment:
    name: str
    media_type: str
    data: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not 1 <= len(self.name) <= 255 or NAME_FORBIDDEN.search(self.name):
            raise SchemaViolation(
                "attachment name: 1-255 characters, no slashes, control characters or surrogates"
            )
        if self.name in {".", ".."}:
            raise SchemaViolation("attachment name: '.' and '..' are not file names")
        if _MEDIA_TYPE.fullmatch(self.media_type) is None:
            raise SchemaViolation(
                f"attachment {self.name!r}: media type must look like 'type/subtype' in lower case"
            )


@dataclass(frozen=True)
class CaseDocument:
    """What the petition is about, and the keys that tie it to its petitioner and replies.

    ``reply_key`` is the public half of the key pair derived from the receipt secret: the bureau
    encrypts replies to it. ``id_prehash`` is the Argon2id pre-hash of the ID number under the
    bureau's salt: with the bureau's token key it gives the pseudonymous token, and intake checks
    it against the identity section. ``respondent`` names the body complained about (empty if
    none): a transfer must never send the case to it.
    """

    subject: str
    body: str
    category: str
    region: str
    respondent: str
    reply_key: EncryptionPublicKey
    id_prehash: bytes = field(repr=False)
    created_day: date
    attachments: tuple[Attachment, ...] = ()

    def __post_init__(self) -> None:
        for name, (minimum, maximum, multi_line) in _CASE_TEXT.items():
            text_field(getattr(self, name), name, minimum, maximum, multi_line=multi_line)
        if len(self.id_prehash) != PREHASH_LENGTH:
            raise SchemaViolation(f"id_prehash: expected {PREHASH_LENGTH} bytes")
        if len(self.attachments) > MAX_ATTACHMENTS:
            raise SchemaViolation(f"at most {MAX_ATTACHMENTS} attachments")

    def __repr__(self) -> str:
        return f"CaseDocument(<redacted>, attachments={len(self.attachments)})"

    def encode(self) -> bytes:
        metadata: dict[str, cjson.JsonValue] = {name: getattr(self, name) for name in _CASE_TEXT}
        metadata.update(
            attachments=[
                {"name": a.name, "media_type": a.media_type, "size": len(a.data)}
                for a in self.attachments
            ],
            reply_key=cjson.b64encode(self.reply_key.to_bytes()),
            id_prehash=cjson.b64encode(self.id_prehash),
            created_day=format_day(self.created_day),
        )
        encoded = cjson.encode(metadata)
        return b"".join(
            [CASE_MAGIC, bytes([VERSION]), struct.pack(">I", len(encoded)), encoded]
            + [a.data for a in self.attachments]
        )

    @classmethod
    def decode(cls, data: bytes) -> CaseDocument:
        _check_magic_and_version(data, CASE_MAGIC, "a case section")
        if len(data) < 8:
            raise MalformedInput("case section is truncated")
        (length,) = struct.unpack(">I", data[4:8])
        if 8 + length > len(data):
            raise MalformedInput("case section metadata is truncated")
        metadata = cjson.decode_object(data[8 : 8 + length])
        cjson.require_members("case section", metadata, _CASE_FIELDS)
        descriptors = metadata["attachments"]
        if not isinstance(descriptors, list):
            raise SchemaViolation("attachments: expected a list")
        attachments = []
        offset = 8 + length
        for descriptor in descriptors:
            cjson.require_members("attachment", descriptor, _ATTACHMENT_FIELDS)
            size = descriptor["size"]
            if type(size) is not int or size < 0 or offset + size > len(data):
                raise MalformedInput("attachment size does not match the case section")
            name, media_type = descriptor["name"], descriptor["media_type"]
            if not isinstance(name, str) or not isinstance(media_type, str):
                raise SchemaViolation("attachment name and media type must be strings")
            attachments.append(Attachment(name, media_type, data[offset : offset + size]))
            offset += size
        if offset != len(data):
            raise MalformedInput("case section has trailing bytes")
        reply_key = EncryptionPublicKey(
            cjson.b64decode(
                metadata["reply_key"], field="reply_key", length=ENCRYPTION_PUBLIC_KEY_LENGTH
            )
        )
        return cls(
            **{name: metadata[name] for name in _CASE_TEXT},
            reply_key=reply_key,
            id_prehash=cjson.b64decode(
                metadata["id_prehash"], field="id_prehash", length=PREHASH_LENGTH
            ),
            created_day=parse_day(metadata["created_day"], field="created_day"),
            attachments=tuple(attachments),
        )
