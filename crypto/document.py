"""The petition document: the plaintext that is padded and sealed inside an envelope.

Byte layout, version 1 (normative text in ``docs/protocol.md`` §Petition document):

    offset  size  field
    0       3     magic "SPD"
    3       1     version = 0x01
    4       4     m = length of the metadata (big-endian)
    8       m     metadata: canonical JSON (crypto.cjson), see ``_FIELDS``
    8+m     ...   the attachments' bytes, concatenated in the order of metadata.attachments

Attachments travel as raw bytes rather than base64 inside the JSON, so a 1 MiB scan costs
1 MiB of envelope, not 1.33. Text fields are carried exactly as typed (no Unicode
normalisation), so Chinese text and the petitioner's own line breaks round-trip byte for byte.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from datetime import date

from crypto import cjson
from crypto.errors import MalformedInput, SchemaViolation
from crypto.fields import NAME_FORBIDDEN, format_day, parse_day, text_field
from crypto.keys import ENCRYPTION_PUBLIC_KEY_LENGTH, EncryptionPublicKey
from crypto.token import TOKEN_LENGTH

MAGIC = b"SPD"
VERSION = 1
MAX_ATTACHMENTS = 20

# field name -> (minimum characters, maximum characters, multi-line allowed)
_TEXT_FIELDS: dict[str, tuple[int, int, bool]] = {
    "real_name": (1, 100, False),
    "id_scheme": (1, 32, False),
    "id_number": (1, 64, False),
    "contact": (0, 200, False),
    "subject": (1, 200, False),
    "body": (1, 50_000, True),
    "category": (1, 64, False),
    "region": (1, 64, False),
}
_FIELDS = {*_TEXT_FIELDS, "attachments", "reply_key", "token", "created_day"}
_ATTACHMENT_FIELDS = {"name", "media_type", "size"}
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")
_SCHEME = re.compile(r"[a-z][a-z0-9-]{0,31}")


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
class PetitionDocument:
    """Everything the petitioner writes, plus the keys that tie it to its envelope and replies.

    ``reply_key`` is the public half of the key pair derived from the receipt secret: the bureau
    encrypts replies to it. ``token`` repeats the envelope's token so the bureau can check that it
    belongs to the ID number written here.
    """

    real_name: str
    id_scheme: str
    id_number: str
    contact: str
    subject: str
    body: str
    category: str
    region: str
    reply_key: EncryptionPublicKey
    token: bytes = field(repr=False)
    created_day: date
    attachments: tuple[Attachment, ...] = ()

    def __post_init__(self) -> None:
        for name, (minimum, maximum, multi_line) in _TEXT_FIELDS.items():
            text_field(getattr(self, name), name, minimum, maximum, multi_line=multi_line)
        if _SCHEME.fullmatch(self.id_scheme) is None:
            raise SchemaViolation("id_scheme: expected a scheme identifier such as 'cn-resident'")
        if len(self.token) != TOKEN_LENGTH:
            raise SchemaViolation(f"token: expected {TOKEN_LENGTH} bytes")
        if len(self.attachments) > MAX_ATTACHMENTS:
            raise SchemaViolation(f"at most {MAX_ATTACHMENTS} attachments")

    def __repr__(self) -> str:
        # Documents end up in tracebacks; never let a name or ID number ride along.
        return f"PetitionDocument(<redacted>, attachments={len(self.attachments)})"

    def encode(self) -> bytes:
        metadata = {name: getattr(self, name) for name in _TEXT_FIELDS}
        metadata.update(
            attachments=[
                {"name": a.name, "media_type": a.media_type, "size": len(a.data)}
                for a in self.attachments
            ],
            reply_key=cjson.b64encode(self.reply_key.to_bytes()),
            token=cjson.b64encode(self.token),
            created_day=format_day(self.created_day),
        )
        encoded = cjson.encode(metadata)
        return b"".join(
            [MAGIC, bytes([VERSION]), struct.pack(">I", len(encoded)), encoded]
            + [a.data for a in self.attachments]
        )

    @classmethod
    def decode(cls, data: bytes) -> PetitionDocument:
        if data[:3] != MAGIC:
            raise MalformedInput("not a petition document (bad magic bytes)")
        if len(data) < 8:
            raise MalformedInput("petition document is truncated")
        if data[3] != VERSION:
            raise MalformedInput(f"unsupported petition document version {data[3]}")
        (length,) = struct.unpack(">I", data[4:8])
        if 8 + length > len(data):
            raise MalformedInput("petition document metadata is truncated")
        metadata = cjson.decode_object(data[8 : 8 + length])
        cjson.require_members("petition document", metadata, _FIELDS)
        descriptors = metadata["attachments"]
        if not isinstance(descriptors, list):
            raise SchemaViolation("attachments: expected a list")
        attachments = []
        offset = 8 + length
        for descriptor in descriptors:
            cjson.require_members("attachment", descriptor, _ATTACHMENT_FIELDS)
            size = descriptor["size"]
            if type(size) is not int or size < 0 or offset + size > len(data):
                raise MalformedInput("attachment size does not match the document")
            name, media_type = descriptor["name"], descriptor["media_type"]
            if not isinstance(name, str) or not isinstance(media_type, str):
                raise SchemaViolation("attachment name and media type must be strings")
            attachments.append(Attachment(name, media_type, data[offset : offset + size]))
            offset += size
        if offset != len(data):
            raise MalformedInput("petition document has trailing bytes")
        reply_key = EncryptionPublicKey(
            cjson.b64decode(
                metadata["reply_key"], field="reply_key", length=ENCRYPTION_PUBLIC_KEY_LENGTH
            )
        )
        return cls(
            **{name: metadata[name] for name in _TEXT_FIELDS},
            reply_key=reply_key,
            token=cjson.b64decode(metadata["token"], field="token", length=TOKEN_LENGTH),
            created_day=parse_day(metadata["created_day"], field="created_day"),
            attachments=tuple(attachments),
        )
