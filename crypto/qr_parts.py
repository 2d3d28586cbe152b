"""Any byte string as a numbered set of QR-code payloads, and back (docs/protocol.md §18).

A sealed petition file is a few KiB; one QR code that a phone or a cheap scanner reads reliably
from paper holds well under one. :func:`split` cuts the file into parts of ``part_size`` bytes
and writes each as one self-describing text; :func:`join` takes those texts back in any order,
with repeats, and returns the file or says exactly what is wrong. Nothing here draws or reads
an image: ``client/qr_transport.py`` does that.

One part's text is ``SPQ1:`` followed by the base45 encoding (RFC 9285) of::

    index (uint16) || total (uint16) || file digest (16 bytes) || chunk || check (8 bytes)

* ``index`` counts from 1 to ``total``; ``total`` is at least 1.
* The file digest is the first 16 bytes of SHA-256 of the whole file: parts of two files never
  mix, and a courier can compare it with ``sha256sum``. It identifies; it does not authenticate
  (whoever carries the parts can replace all of them; the sealed envelope inside is what
  resists tampering).
* ``check`` is the first 8 bytes of SHA-256 of ``ASCII("SPQ1:")`` and everything before it. A
  QR decoder's Reed–Solomon code already rejects most damage, but a part may also travel as
  text (a phone app's copy, a hand-typed line) and a badly damaged symbol can be mis-corrected;
  the whole-file digest would catch that only after every part is in, without saying which
  one to scan again. The per-part check names the part at once.

Base45 is the encoding EU Digital COVID Certificates use for the same reason: its 45 characters
are exactly QR's alphanumeric set, which stores 5.5 bits per character, so the payload costs
about 3 % more than raw bytes in QR byte mode and stays plain text that every scanner app
returns unchanged (byte mode leaves the text interpretation of arbitrary bytes to each reader).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from crypto.errors import MalformedInput, TooLarge, UnsupportedVersion

# --- base45 (RFC 9285) -------------------------------------------------------------------------

BASE45_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
"""RFC 9285 Table 1, which is also the QR alphanumeric character set (ISO/IEC 18004 §7.4.4)."""

_BASE45_VALUES = {character: value for value, character in enumerate(BASE45_ALPHABET)}


def b45encode(data: bytes) -> str:
    """RFC 9285 §4: every two bytes ``[a, b]`` as three characters, a last odd byte as two.

    ``a*256 + b = c + d*45 + e*45*45`` gives the characters ``c d e`` (least significant first).
    """
    out: list[str] = []
    for start in range(0, len(data) - 1, 2):
        value = data[start] << 8 | data[start + 1]
        high, c = divmod(value, 45)
        e, d = divmod(high, 45)
        out += (BASE45_ALPHABET[c], BASE45_ALPHABET[d], BASE45_ALPHABET[e])
    if len(data) % 2:
        d, c = divmod(data[-1], 45)
        out += (BASE45_ALPHABET[c], BASE45_ALPHABET[d])
    return "".join(out)


def b45decode(text: str) -> bytes:
    """The bytes of a base45 string, refusing every string :func:`b45encode` cannot produce.

    RFC 9285 §6 requires refusing characters outside the alphabet, a length of 1 modulo 3, a
    three-character group above 65535 and a two-character group above 255; with those checks a
    byte string has exactly one encoding.
    """
    if len(text) % 3 == 1:
        raise MalformedInput(f"base45 text of {len(text)} characters is truncated (length 1 mod 3)")
    values: list[int] = []
    for position, character in enumerate(text):
        value = _BASE45_VALUES.get(character)
        if value is None:
            raise MalformedInput(
                f"base45 text has {character!r} at position {position}, outside its alphabet"
            )
        values.append(value)
    out = bytearray()
    for start in range(0, len(values) - 2, 3):
        c, d, e = values[start : start + 3]
        value = c + d * 45 + e * 45 * 45
        if value > 0xFFFF:
            raise MalformedInput(f"base45 group at position {start} is {value}, above 65535")
        out += value.to_bytes(2, "big")
    if len(values) % 3 == 2:
        c, d = values[-2:]
        value = c + d * 45
        if value > 0xFF:
            raise MalformedInput(f"base45 last group is {value}, above 255")
        out.append(value)
    return bytes(out)


# --- parts -------------------------------------------------------------------------------------

VERSION = 1
PREFIX = f"SPQ{VERSION}:"
"""Starts every part's text: ``SPQ`` (sealed petition QR), the format version, a colon."""

FAMILY = "SPQ"
"""What every version's prefix starts with: a reader can tell "ours, but another version"."""
DIGEST_SIZE = 16
CHECK_SIZE = 8
INDEX_SIZE = 2
HEADER_SIZE = 2 * INDEX_SIZE + DIGEST_SIZE
OVERHEAD = HEADER_SIZE + CHECK_SIZE
"""Bytes a part adds to its chunk before base45 (28)."""

MAX_PARTS = 0xFFFF

MAX_TEXT_LENGTH = 4296
"""The most characters one QR code holds in alphanumeric mode (version 40, level L)."""

MAX_PART_SIZE = (MAX_TEXT_LENGTH - len(PREFIX)) // 3 * 2 - OVERHEAD
"""The largest chunk whose part still fits one QR code (2,832 bytes)."""

DEFAULT_PART_SIZE = 800
"""Bytes of the file per part. The part's text is then 1,247 alphanumeric characters: a QR code
of version 23 at error-correction level M (capacity 1,248), 109 modules wide, 58.5 mm with its
quiet zone at 0.5 mm per module; twelve fit one A4 page, so a 4 KiB-bucket petition
(about 8.6 KiB) is one page of 11 codes. The measurements are in docs/protocol.md §18."""


def file_digest(data: bytes) -> bytes:
    """The 16 bytes every part of ``data`` carries: the start of SHA-256 of the whole file."""
    return hashlib.sha256(data).digest()[:DIGEST_SIZE]


def file_id(digest: bytes) -> str:
    """The short hex form of a file digest that people compare on pages and in messages."""
    return digest[:4].hex()


def part_count(length: int, part_size: int = DEFAULT_PART_SIZE) -> int:
    """How many parts a file of ``length`` bytes becomes (an empty file is one empty part)."""
    return max(1, -(-length // part_size))


def _check(body: bytes) -> bytes:
    return hashlib.sha256(PREFIX.encode("ascii") + body).digest()[:CHECK_SIZE]


@dataclass(frozen=True)
class Part:
    """One parsed part: its place in the file, the file's digest and its slice of the file."""

    index: int
    total: int
    digest: bytes
    chunk: bytes

    def describe(self) -> str:
        return f"part {self.index} of {self.total} of file {file_id(self.digest)}"

    def text(self) -> str:
        """The part's QR payload (``SPQ1:`` and base45), as :func:`split` writes it."""
        body = (
            self.index.to_bytes(INDEX_SIZE, "big")
            + self.total.to_bytes(INDEX_SIZE, "big")
            + self.digest
            + self.chunk
        )
        return PREFIX + b45encode(body + _check(body))


def split(data: bytes, part_size: int = DEFAULT_PART_SIZE) -> list[str]:
    """The QR payloads of ``data``, part 1 first: every part but the last holds ``part_size``
    bytes, the last one the rest (at least one byte, unless the file is empty)."""
    if isinstance(part_size, bool) or not 1 <= part_size <= MAX_PART_SIZE:
        raise MalformedInput(f"part size {part_size!r} is not between 1 and {MAX_PART_SIZE}")
    total = part_count(len(data), part_size)
    if total > MAX_PARTS:
        raise TooLarge(f"{len(data)} bytes need {total} parts of {part_size}; at most {MAX_PARTS}")
    digest = file_digest(data)
    return [
        Part(i + 1, total, digest, data[i * part_size : (i + 1) * part_size]).text()
        for i in range(total)
    ]


def parse_part(text: str) -> Part:
    """One part from its payload, checked on its own (version, encoding, checksum, numbering).

    A text of another family (not ``SPQ``) is ``malformed``; ``SPQ`` with another version is
    ``unsupported_version``, decided before anything else is read.
    """
    if not isinstance(text, str):
        raise MalformedInput("a QR part must be text")
    if len(text) > MAX_TEXT_LENGTH:
        raise MalformedInput(f"a QR part has {len(text)} characters; no QR code holds that many")
    if not text.startswith(PREFIX):
        head, colon, _ = text[:12].partition(":")
        version = head[len(FAMILY) :]
        if head.startswith(FAMILY) and colon and version.isdigit() and version.isascii():
            raise UnsupportedVersion(
                f"QR part version {version} is not supported (this software reads {VERSION})"
            )
        raise MalformedInput("this QR code is not a part of a sealed petition file")
    try:
        raw = b45decode(text[len(PREFIX) :])
    except MalformedInput as exc:
        raise MalformedInput(f"a QR part is damaged: {exc.message}") from None
    if len(raw) < OVERHEAD:
        raise MalformedInput(f"a QR part of {len(raw)} bytes is shorter than its {OVERHEAD}")
    body, check = raw[:-CHECK_SIZE], raw[-CHECK_SIZE:]
    index = int.from_bytes(body[:INDEX_SIZE], "big")
    total = int.from_bytes(body[INDEX_SIZE : 2 * INDEX_SIZE], "big")
    if _check(body) != check:
        raise MalformedInput(
            f"a QR part is damaged: its checksum does not match (it says it is part {index} of "
            f"{total}); scan that code again"
        )
    if total == 0 or not 1 <= index <= total:
        raise MalformedInput(f"a QR part is numbered {index} of {total}")
    chunk = body[HEADER_SIZE:]
    if not chunk and total > 1:
        raise MalformedInput(f"part {index} of {total} is empty")
    return Part(index, total, body[2 * INDEX_SIZE : HEADER_SIZE], chunk)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _ranges(numbers: list[int]) -> str:
    """``[2, 3, 4, 7]`` as ``2-4, 7``."""
    spans: list[list[int]] = []
    for number in numbers:
        if spans and number == spans[-1][1] + 1:
            spans[-1][1] = number
        else:
            spans.append([number, number])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


def join_parts(parts: Iterable[Part]) -> bytes:
    """The file that ``parts`` (in any order, repeats allowed) were split from.

    Refused, each with its own message: no part; parts of more than one file; parts of one file
    that disagree on the number of parts; two different parts under one number; missing parts
    (named); parts whose sizes do not follow :func:`split`'s; a result that does not hash to
    its digest.
    """
    seen: dict[tuple[bytes, int, int], set[Part]] = {}
    digests: dict[bytes, set[int]] = {}
    for part in parts:
        seen.setdefault((part.digest, part.total, part.index), set()).add(part)
        digests.setdefault(part.digest, set()).add(part.index)
    if not digests:
        raise MalformedInput("no QR parts were given")
    if len(digests) > 1:
        files = ", ".join(
            f"{_count(len(indexes), 'part')} of file {file_id(digest)}"
            for digest, indexes in sorted(digests.items(), key=lambda item: -len(item[1]))
        )
        raise MalformedInput(
            f"the QR parts come from {len(digests)} different files ({files}); "
            "give the parts of one file at a time"
        )
    (digest,) = digests
    totals = sorted({total for _, total, _ in seen})
    if len(totals) > 1:
        raise MalformedInput(
            f"the parts of file {file_id(digest)} disagree on how many parts there are "
            f"({', '.join(str(t) for t in totals)})"
        )
    (total,) = totals
    by_index: dict[int, Part] = {}
    for (_, _, index), variants in sorted(seen.items()):
        if len(variants) > 1:
            raise MalformedInput(
                f"{len(variants)} different codes all claim to be part {index} of {total} of "
                f"file {file_id(digest)}; they cannot all be right"
            )
        (by_index[index],) = variants
    missing = [i for i in range(1, total + 1) if i not in by_index]
    if missing:
        noun = "part" if len(missing) == 1 else "parts"
        verb = "is" if len(missing) == 1 else "are"
        raise MalformedInput(
            f"{noun} {_ranges(missing)} of {total} of file {file_id(digest)} {verb} missing"
        )
    chunks = [by_index[i].chunk for i in range(1, total + 1)]
    size = len(chunks[0])
    if any(len(chunk) != size for chunk in chunks[:-1]) or len(chunks[-1]) > size:
        raise MalformedInput(
            f"the parts of file {file_id(digest)} have sizes that no single split produces"
        )
    data = b"".join(chunks)
    if file_digest(data) != digest:
        raise MalformedInput(f"the parts of file {file_id(digest)} do not reassemble to it")
    return data


def join(texts: Iterable[str]) -> bytes:
    """:func:`join_parts` of the parsed payloads (see :func:`parse_part`)."""
    return join_parts(parse_part(text) for text in texts)
