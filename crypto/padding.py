"""Length hiding: every plaintext is padded to one of a few fixed sizes before encryption.

An envelope's length then reveals only its bucket. Buckets grow by a factor of four from 4 KiB,
so nearly every text-only petition lands in the smallest bucket and looks like every other one;
larger buckets exist for attachments, up to 16 MiB.

Layout of a padded plaintext of bucket size B (all integers big-endian):

    content_length (4 bytes) || content (content_length bytes) || zero bytes up to B

Unpadding is strict: the length must fit and every padding byte must be zero, so a padded value
has exactly one valid reading.
"""

from __future__ import annotations

from crypto.errors import MalformedInput, TooLarge

LENGTH_PREFIX = 4
BUCKETS: tuple[int, ...] = (
    4 * 1024,
    16 * 1024,
    64 * 1024,
    256 * 1024,
    1024 * 1024,
    4 * 1024 * 1024,
    16 * 1024 * 1024,
)
MAX_CONTENT_LENGTH = BUCKETS[-1] - LENGTH_PREFIX


def bucket_for(content_length: int) -> int:
    """The smallest bucket that holds ``content_length`` bytes plus the length prefix."""
    needed = content_length + LENGTH_PREFIX
    for bucket in BUCKETS:
        if needed <= bucket:
            return bucket
    raise TooLarge(
        f"the petition with its attachments is {content_length} bytes; "
        f"the limit is {MAX_CONTENT_LENGTH} bytes"
    )


IDENTITY_SECTION_SIZE = 2048
"""The one size of every padded identity section (protocol v2): a name, an ID number, contact
details and consent choices fit in it however they are written, so its length tells nothing."""


def pad(content: bytes) -> bytes:
    """Pad to the smallest bucket that holds ``content``."""
    return pad_to(content, bucket_for(len(content)))


def pad_to(content: bytes, size: int) -> bytes:
    """Pad to exactly ``size`` bytes, or raise :class:`TooLarge` if it does not fit."""
    if len(content) + LENGTH_PREFIX > size:
        raise TooLarge(f"{len(content)} bytes do not fit in a padded size of {size}")
    padded = bytearray(size)
    padded[:LENGTH_PREFIX] = len(content).to_bytes(LENGTH_PREFIX, "big")
    padded[LENGTH_PREFIX : LENGTH_PREFIX + len(content)] = content
    return bytes(padded)


def unpad(padded: bytes) -> bytes:
    """Strictly undo :func:`pad`: the size must be a bucket."""
    if len(padded) not in BUCKETS:
        raise MalformedInput("padded plaintext is not one of the bucket sizes")
    return unpad_from(padded, len(padded))


def unpad_from(padded: bytes, size: int) -> bytes:
    """Strictly undo :func:`pad_to`: exact size, a length that fits, zero padding."""
    if len(padded) != size:
        raise MalformedInput(f"padded plaintext is {len(padded)} bytes, expected {size}")
    length = int.from_bytes(padded[:LENGTH_PREFIX], "big")
    end = LENGTH_PREFIX + length
    if end > len(padded):
        raise MalformedInput("padded plaintext declares more content than it holds")
    if padded[end:].lstrip(b"\x00"):
        raise MalformedInput("padding bytes must be zero")
    return padded[LENGTH_PREFIX:end]
