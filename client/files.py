"""Files a person hands to the client (attachments, message files) and files it writes back.

Attachments are read whole, with a size limit checked before reading, so a mistaken path to a
disk image fails at once with one line instead of after minutes. Saved attachments never
overwrite anything and never leave the chosen folder: the name comes from the petition, which a
hostile petitioner controls, so it is reduced to a plain file name first.
"""

from __future__ import annotations

import mimetypes
import os
import unicodedata
from pathlib import Path

from client.errors import InvalidInput
from crypto.document import Attachment
from crypto.errors import SchemaViolation
from crypto.padding import MAX_CONTENT_LENGTH

MAX_TEXT_FILE_BYTES = 1024 * 1024
_DEFAULT_MEDIA_TYPE = "application/octet-stream"


def read_attachment_file(path: Path, media_type: str | None = None) -> Attachment:
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise InvalidInput(f"attachment {path} is not a regular file")
        if size > MAX_CONTENT_LENGTH:
            raise InvalidInput(
                f"attachment {path} is {size} bytes; a whole petition must stay under "
                f"{MAX_CONTENT_LENGTH // (1024 * 1024)} MiB"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read attachment {path}: {exc.strerror}") from exc
    guessed = media_type or mimetypes.guess_type(path.name)[0] or _DEFAULT_MEDIA_TYPE
    try:
        return Attachment(name=path.name, media_type=guessed.lower(), data=data)
    except SchemaViolation as exc:
        raise InvalidInput(f"attachment {path}: {exc.message}") from exc


def read_text_file(path: Path, what: str) -> str:
    """A UTF-8 text file (petition body, reply message); ``-`` would be ambiguous, so no stdin."""
    try:
        if path.stat().st_size > MAX_TEXT_FILE_BYTES:
            raise InvalidInput(f"{what} file {path} is larger than 1 MiB")
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{what} file {path} is not UTF-8 text") from exc
    except OSError as exc:
        raise InvalidInput(f"cannot read {what} file {path}: {exc.strerror}") from exc


def safe_file_name(name: str) -> str:
    """A name that is one path component on every platform, keeping the readable part."""
    cleaned = "".join(
        "_" if c in '<>:"/\\|?*' or unicodedata.category(c).startswith("C") else c
        for c in unicodedata.normalize("NFC", name)
    ).strip(" .")
    return _fit_in_bytes(cleaned, MAX_NAME_BYTES) or "attachment"


#: File systems limit a name to 255 *bytes*; this leaves room for " (999)" after the stem.
MAX_NAME_BYTES = 240
_MAX_SUFFIX_CHARS = 16


def _fit_in_bytes(name: str, limit: int) -> str:
    """Shorten ``name`` to ``limit`` UTF-8 bytes at a character boundary, keeping a short suffix.

    A Chinese name of 100 characters is 300 bytes: cutting by characters is not enough.
    """
    if len(name.encode("utf-8")) <= limit:
        return name
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem or len(suffix) > _MAX_SUFFIX_CHARS:
        stem, suffix = name, ""
    tail = "." + suffix if suffix else ""
    budget = limit - len(tail.encode("utf-8"))
    shortened = stem.encode("utf-8")[:budget].decode("utf-8", errors="ignore").rstrip(" .")
    return shortened + tail


def save_attachment(folder: Path, attachment: Attachment) -> Path:
    """Write into ``folder`` under a fresh name (``name``, ``name (2)``…), owner-only."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"cannot create {folder}: {exc.strerror}") from exc
    base = safe_file_name(attachment.name)
    stem, dot, suffix = base.rpartition(".")
    if not dot or not stem:
        stem, suffix = base, ""
    for counter in range(1, 1000):
        name = base if counter == 1 else f"{stem} ({counter}){'.' + suffix if suffix else ''}"
        target = folder / name
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        except OSError as exc:
            raise InvalidInput(f"cannot write {target}: {exc.strerror}") from exc
        with os.fdopen(fd, "wb") as handle:
            handle.write(attachment.data)
        return target
    raise InvalidInput(f"{folder} already holds too many files named like {base!r}")
