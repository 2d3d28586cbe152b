"""Offline-verifiable proofs of logging (c2sp.org/tlog-proof@v1)::

    c2sp.org/tlog-proof@v1
    extra <base64 opaque data>              (optional)
    index <leaf index>
    <base64 inclusion proof hash>           (0 to 63 lines, leaf's sibling first)
    <empty line>
    <the checkpoint, verbatim, as a signed note with its cosignatures>

A proof stands on its own: with a trust policy (crypto/tlog_policy.py) and the leaf hash it
shows that the leaf is in a tree the log signed and enough witnesses cosigned, without asking
the log anything. The ``extra`` line is not authenticated by the proof; an application that
puts the leaf itself there (as the project's receipts do) authenticates it by hashing it into
the leaf hash it verifies.

Parsing is strict: the header exactly, an extra line only with at least one byte of canonical
base64, an index without leading zeros, 32-byte hashes in canonical base64, and a checkpoint
that is a well-formed signed note. :meth:`TlogProof.to_text` writes exactly what
:meth:`TlogProof.parse` accepts.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from crypto import merkle, note
from crypto.checkpoint import MAX_TREE_SIZE, Checkpoint
from crypto.errors import MalformedInput
from crypto.merkle import HASH_SIZE
from crypto.tlog_policy import Policy, VerifiedCheckpoint
from crypto.witness_wire import parse_checkpoint_note, parse_hash_line

HEADER = b"c2sp.org/tlog-proof@v1"
FILE_SUFFIX = ".tlog-proof"
MAX_PROOF_LINES = 63
_INDEX = re.compile(rb"0|[1-9][0-9]*")


@functools.lru_cache(maxsize=8)
def _checked_checkpoint(message: bytes) -> Checkpoint:
    """The checkpoint's shape, checked once per checkpoint: a log builds the receipts of a whole
    batch against one checkpoint, and a parse per receipt was a fifth of its cost. A refusal
    raises, and exceptions are not cached."""
    return parse_checkpoint_note(message)


@dataclass(frozen=True)
class TlogProof:
    """A leaf index, its inclusion proof and the (cosigned) checkpoint the proof leads to."""

    index: int
    proof: tuple[bytes, ...]
    checkpoint: bytes
    extra: bytes | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "proof", tuple(self.proof))
        if isinstance(self.index, bool) or not 0 <= self.index < MAX_TREE_SIZE:
            raise MalformedInput("a tlog-proof index is between 0 and 2^63-2")
        if len(self.proof) > MAX_PROOF_LINES:
            raise MalformedInput(f"an inclusion proof has at most {MAX_PROOF_LINES} hashes")
        if any(len(h) != HASH_SIZE for h in self.proof):
            raise MalformedInput(f"every inclusion proof hash is {HASH_SIZE} bytes")
        if self.extra is not None and not self.extra:
            raise MalformedInput("an extra line carries at least one byte (omit it instead)")
        _checked_checkpoint(self.checkpoint)

    def to_text(self) -> bytes:
        lines = [HEADER]
        if self.extra is not None:
            lines.append(b"extra " + note.encode_base64(self.extra).encode("ascii"))
        lines.append(b"index %d" % self.index)
        lines += [note.encode_base64(h).encode("ascii") for h in self.proof]
        return b"".join(line + b"\n" for line in lines) + b"\n" + self.checkpoint

    @classmethod
    def parse(cls, data: bytes) -> TlogProof:
        head, separator, checkpoint = data.partition(b"\n\n")
        if not separator:
            raise MalformedInput("a tlog-proof has an empty line before its checkpoint")
        lines = head.split(b"\n")
        if lines[0] != HEADER:
            raise MalformedInput("a tlog-proof starts with the line c2sp.org/tlog-proof@v1")
        position = 1
        extra = None
        if position < len(lines) and lines[position].startswith(b"extra "):
            encoded = lines[position][len(b"extra ") :]
            try:
                extra = note.decode_base64(encoded.decode("ascii"), what="the extra data")
            except UnicodeDecodeError:
                raise MalformedInput("the extra data is not valid base64") from None
            position += 1
        if position >= len(lines) or not lines[position].startswith(b"index "):
            raise MalformedInput("a tlog-proof has an 'index <n>' line after its header")
        digits = lines[position][len(b"index ") :]
        if _INDEX.fullmatch(digits) is None or len(digits) > len(str(MAX_TREE_SIZE)):
            raise MalformedInput("a tlog-proof index is decimal digits without leading zeros")
        proof_lines = lines[position + 1 :]
        if len(proof_lines) > MAX_PROOF_LINES:
            raise MalformedInput(f"an inclusion proof has at most {MAX_PROOF_LINES} lines")
        proof = tuple(parse_hash_line(line, what="an inclusion proof line") for line in proof_lines)
        return cls(int(digits), proof, checkpoint, extra)


def verify_proof(
    proof: TlogProof,
    leaf_hash: bytes,
    policy: Policy,
    *,
    origin: str | None = None,
    now: int | None = None,
) -> VerifiedCheckpoint:
    """The steps of tlog-proof verification: the checkpoint against the policy (log signature,
    origin, cosignatures, quorum), then the leaf's inclusion in the checkpoint's tree.

    ``leaf_hash`` is the application's to compute (step 1 of the specification). Raises
    InvalidSignature or PolicyNotSatisfied for the checkpoint, InvalidProof for the inclusion.
    """
    verified = policy.verify_checkpoint(proof.checkpoint, origin=origin, now=now)
    checkpoint = verified.checkpoint
    merkle.verify_inclusion(
        leaf_hash, proof.index, checkpoint.size, proof.proof, checkpoint.root_hash
    )
    return verified
