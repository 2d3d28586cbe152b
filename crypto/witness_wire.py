"""The bytes of the tlog-witness add-checkpoint call (c2sp.org/tlog-witness): one home for them.

The log (client) and the witness (server) both speak this format, so it lives here, below both,
and each side reads exactly what the other writes. The request body is::

    old <size of the previous checkpoint the log believes the witness holds>
    <base64 consistency proof hash>        (0 to 63 lines)
    <empty line>
    <the signed checkpoint note>

and the answers are either signature lines (200: the witness's cosignatures, to append to the
note) or the witness's current size (409 Conflict, ``text/x.tlog.size``): ``<size>\\n``.

Parsing is strict, as everywhere in crypto/: decimals without leading zeros, canonical base64,
32-byte hashes, and a body whose checkpoint is a well-formed signed note. Only what the
specification answers with 400 Bad Request is refused here (as :class:`MalformedInput`); the
checks it answers with 403, 404, 409 or 422 need the witness's keys and state and are the
witness's to make.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from crypto import note
from crypto.checkpoint import MAX_TREE_SIZE, Checkpoint
from crypto.errors import MalformedInput
from crypto.merkle import HASH_SIZE

TLOG_SIZE_CONTENT_TYPE = "text/x.tlog.size"
MAX_PROOF_LINES = 63
_DECIMAL = re.compile(rb"0|[1-9][0-9]*")


def _parse_decimal(raw: bytes, *, what: str) -> int:
    if _DECIMAL.fullmatch(raw) is None:
        raise MalformedInput(f"{what} is decimal ASCII digits without leading zeros")
    value = int(raw)
    if value > MAX_TREE_SIZE:
        raise MalformedInput(f"{what} is at most 2^63-1")
    return value


def _check_size(size: int, *, what: str) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_TREE_SIZE:
        raise MalformedInput(f"{what} is an integer between 0 and 2^63-1")


def parse_hash_line(line: bytes, *, what: str) -> bytes:
    """One proof line: a 32-byte hash in canonical base64 (shared with crypto/tlog_proof.py)."""
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        raise MalformedInput(f"{what} is not valid base64") from None
    raw = note.decode_base64(text, what=what)
    if len(raw) != HASH_SIZE:
        raise MalformedInput(f"{what} is not a {HASH_SIZE}-byte hash")
    return raw


def parse_checkpoint_note(message: bytes) -> Checkpoint:
    """The checkpoint a signed note claims, read but NOT verified: only for shape and routing."""
    text, _signatures = note.split(message)
    return Checkpoint.from_text(text)


@dataclass(frozen=True)
class AddCheckpoint:
    """An add-checkpoint request body: old size, consistency proof, and the signed checkpoint."""

    old_size: int
    proof: tuple[bytes, ...]
    checkpoint: bytes

    def __post_init__(self) -> None:
        _check_size(self.old_size, what="the old size")
        object.__setattr__(self, "proof", tuple(self.proof))
        if len(self.proof) > MAX_PROOF_LINES:
            raise MalformedInput(f"a consistency proof has at most {MAX_PROOF_LINES} hashes")
        if any(len(h) != HASH_SIZE for h in self.proof):
            raise MalformedInput(f"every consistency proof hash is {HASH_SIZE} bytes")
        size = self.claimed_checkpoint().size
        if self.old_size > size:
            raise MalformedInput(
                f"the old size {self.old_size} is larger than the checkpoint's size {size}"
            )

    def claimed_checkpoint(self) -> Checkpoint:
        """The checkpoint's text as claimed; the witness verifies the signatures before trusting
        it (this is for finding the origin's keys and answering 404)."""
        return parse_checkpoint_note(self.checkpoint)

    def encode(self) -> bytes:
        lines = [b"old %d\n" % self.old_size]
        lines += [note.encode_base64(h).encode("ascii") + b"\n" for h in self.proof]
        return b"".join(lines) + b"\n" + self.checkpoint

    @classmethod
    def parse(cls, body: bytes) -> AddCheckpoint:
        head, separator, checkpoint = body.partition(b"\n\n")
        if not separator:
            raise MalformedInput("an add-checkpoint body has an empty line before the checkpoint")
        old_line, *proof_lines = head.split(b"\n")
        if not old_line.startswith(b"old "):
            raise MalformedInput("an add-checkpoint body starts with 'old <size>'")
        old_size = _parse_decimal(old_line[len(b"old ") :], what="the old size")
        if len(proof_lines) > MAX_PROOF_LINES:
            raise MalformedInput(f"a consistency proof has at most {MAX_PROOF_LINES} lines")
        proof = tuple(
            parse_hash_line(line, what="a consistency proof line") for line in proof_lines
        )
        return cls(old_size, proof, checkpoint)


def encode_size(size: int) -> bytes:
    """The 409 Conflict body: the size of the latest checkpoint the witness cosigned."""
    _check_size(size, what="a tree size")
    return b"%d\n" % size


def parse_size(body: bytes) -> int:
    if not body.endswith(b"\n"):
        raise MalformedInput("a text/x.tlog.size body is a decimal size and a newline")
    return _parse_decimal(body[:-1], what="the witness's tree size")


def encode_cosignatures(lines: Sequence[str]) -> bytes:
    """The 200 body: the signature lines, each ending in a newline, concatenated."""
    body = "".join(lines).encode("utf-8")
    if parse_cosignatures(body) != list(lines):
        raise MalformedInput("each cosignature is exactly one signature line ending in a newline")
    return body


def parse_cosignatures(body: bytes) -> list[str]:
    """The 200 body as its signature lines, newline included, ready to append to the note.

    Lines are checked for form only (em dash, key name, canonical base64 with a key ID): which of
    them matter is decided by the keys the reader trusts, when the cosigned note is opened.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedInput("a cosignature response must be valid UTF-8") from None
    if not text:
        raise MalformedInput("a cosignature response has at least one signature line")
    if not text.endswith("\n"):
        raise MalformedInput("every cosignature line ends with a newline")
    if any(ord(char) < 0x20 and char != "\n" for char in text):
        raise MalformedInput("a cosignature response must not contain control characters")
    lines = text[:-1].split("\n")
    if len(lines) > note.MAX_SIGNATURES:
        raise MalformedInput(f"a cosignature response has at most {note.MAX_SIGNATURES} lines")
    for line in lines:
        note.parse_signature_line(line)
    return [line + "\n" for line in lines]
