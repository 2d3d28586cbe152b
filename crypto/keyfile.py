"""Key files for services that must start unattended: the log's signing key.

A reviewer's keys sit behind a passphrase (:mod:`crypto.keystore`), but a server that restarts
at 3 a.m. cannot type one. Its secret is therefore kept in a plain owner-only file whose
protection is the file system (mode 0600, refused if looser) and, in production, the host it
lives on. Since protocol v2 no server holds a bureau's token key in any form (docs/threat-model.md,
T-ID-1), so "log-signing" is the only purpose this format has.

Format, version 1 (canonical JSON, docs/protocol.md §12.5)::

    {"bureau_id": "<id>" | null, "format": "sealed-petition-key", "key": b64(32 bytes),
     "purpose": "log-signing", "version": 1}

``bureau_id`` is null. The purpose is checked on reading, so a key file made for anything else
(v1's "token" key files included) is never loaded as a signing key.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

from crypto import cjson
from crypto.errors import KeyFileError, MalformedInput, MemberMismatch
from crypto.fields import validate_bureau_id
from crypto.keys import SigningKey
from crypto.privatefile import read_private_file, write_private_file

__all__ = [
    "FORMAT_NAME",
    "KeyPurpose",
    "decode_key_file",
    "encode_key_file",
    "read_log_key_file",
    "write_log_key_file",
]

FORMAT_NAME = "sealed-petition-key"
FORMAT_VERSION = 1
KEY_LENGTH = 32
MAX_KEY_FILE_BYTES = 4096
_MEMBERS = {"bureau_id", "format", "key", "purpose", "version"}


class KeyPurpose(Enum):
    LOG_SIGNING = "log-signing"


def encode_key_file(purpose: KeyPurpose, key: bytes, bureau_id: str | None) -> bytes:
    if len(key) != KEY_LENGTH:
        raise KeyFileError(f"a service key is {KEY_LENGTH} bytes")
    if bureau_id is not None:
        raise KeyFileError("a log key file names no bureau")
    return cjson.encode(
        {
            "bureau_id": bureau_id,
            "format": FORMAT_NAME,
            "key": cjson.b64encode(key),
            "purpose": purpose.value,
            "version": FORMAT_VERSION,
        }
    )


def decode_key_file(data: bytes, purpose: KeyPurpose) -> tuple[bytes, str | None]:
    """Return ``(key, bureau_id)``; every problem is one specific :class:`KeyFileError`."""
    try:
        body = cjson.decode_object(data)
    except MalformedInput as exc:
        raise KeyFileError(f"not a key file: {exc.message}") from None
    if body.get("format") != FORMAT_NAME:
        raise KeyFileError(f"not a key file (format is not {FORMAT_NAME!r})")
    version = body.get("version")
    if type(version) is not int or version != FORMAT_VERSION:
        raise KeyFileError(f"unsupported key file version; this program reads {FORMAT_VERSION}")
    try:
        cjson.exact_members("key file", body, _MEMBERS)
    except MemberMismatch as exc:
        raise KeyFileError(f"not a usable key file: {exc.message}") from None
    if body["purpose"] != purpose.value:
        raise KeyFileError(
            f"this is a {str(body['purpose'])[:20]!r} key file, not a {purpose.value!r} one"
        )
    try:
        key = cjson.b64decode(body["key"], field="key", length=KEY_LENGTH)
        bureau_id = None if body["bureau_id"] is None else validate_bureau_id(body["bureau_id"])
    except MalformedInput as exc:
        raise KeyFileError(f"malformed key file: {exc.message}") from None
    if bureau_id is not None:
        raise KeyFileError("a log key file must not name a bureau")
    return key, bureau_id


def write_log_key_file(path: Path, key: SigningKey) -> None:
    data = encode_key_file(KeyPurpose.LOG_SIGNING, key.to_bytes(), None)
    write_private_file(path, data, overwrite=False, error=KeyFileError, what="key")


def read_log_key_file(path: Path) -> SigningKey:
    data = read_private_file(path, limit=MAX_KEY_FILE_BYTES, error=KeyFileError, what="key")
    key, _ = decode_key_file(data, KeyPurpose.LOG_SIGNING)
    return SigningKey(key)
