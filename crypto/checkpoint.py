"""C2SP transparency-log checkpoints (c2sp.org/tlog-checkpoint@v1.0.0): the note text only.

A checkpoint is the body of a signed note (crypto/note.py)::

    <origin>
    <tree size in decimal>
    <base64 RFC 6962 root hash>
    [<extension line>...]

Because witnesses, monitors and auditors compare checkpoints byte for byte, a checkpoint has one
spelling: :meth:`Checkpoint.from_text` accepts exactly what :meth:`Checkpoint.to_text` produces
and refuses everything else (leading zeros, non-ASCII digits, a hash that is not 32 bytes,
non-canonical base64, empty lines, a missing final newline). The origin is only required to be
non-empty: the specification tells clients not to assume more about it.

Signing and verifying are the note's business; :func:`sign` and :func:`open_checkpoint` join the
two for convenience.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from crypto import note
from crypto.errors import MalformedInput

ROOT_HASH_LENGTH = 32
MAX_TREE_SIZE = (
    2**63 - 1
)  # Go's tlog counts leaves in an int64; anything larger cannot interoperate
_TREE_SIZE = re.compile(r"0|[1-9][0-9]*")


@dataclass(frozen=True)
class Checkpoint:
    """A log's signed statement of its tree: who (origin), how big (size) and what (root)."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, what="the origin")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise MalformedInput(f"a tree size is between 0 and {MAX_TREE_SIZE}")
        if len(self.root_hash) != ROOT_HASH_LENGTH:
            raise MalformedInput(f"a root hash is {ROOT_HASH_LENGTH} bytes")
        object.__setattr__(self, "extensions", tuple(self.extensions))
        for extension in self.extensions:
            _check_line(extension, what="an extension line")

    def to_text(self) -> str:
        lines = [self.origin, str(self.size), note.encode_base64(self.root_hash), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def from_text(cls, text: str) -> Checkpoint:
        note.check_text(text)
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise MalformedInput("a checkpoint has at least three lines")
        origin, size, root, *extensions = lines
        return cls(origin, _parse_size(size), _parse_root(root), tuple(extensions))


def _check_line(line: str, *, what: str) -> None:
    if not line:
        raise MalformedInput(f"{what} must not be empty")
    if "\n" in line:
        raise MalformedInput(f"{what} must be a single line")
    note.check_text(line + "\n")


def _parse_size(line: str) -> int:
    if _TREE_SIZE.fullmatch(line) is None:
        raise MalformedInput("a tree size is decimal ASCII digits without leading zeros")
    return int(line)


def _parse_root(line: str) -> bytes:
    root = note.decode_base64(line, what="the root hash")
    if len(root) != ROOT_HASH_LENGTH:
        raise MalformedInput(f"a root hash is {ROOT_HASH_LENGTH} bytes")
    return root


def sign(checkpoint: Checkpoint, signers: Iterable[note.Signer]) -> bytes:
    """The checkpoint as a signed note (the log's key name SHOULD equal the origin)."""
    return note.sign(checkpoint.to_text(), signers)


def open_checkpoint(
    message: bytes, verifiers: Iterable[note.Verifier]
) -> tuple[Checkpoint, note.Note]:
    """Verify a signed checkpoint, then parse its text: nothing is read before it is verified."""
    opened = note.open_note(message, verifiers)
    return Checkpoint.from_text(opened.text), opened
