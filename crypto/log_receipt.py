"""Receipts: a tlog-proof (c2sp.org/tlog-proof@v1) whose ``extra`` line is the logged entry.

A receipt proves that one entry (a petition's submission, or a bureau's status change) is in
the log: the entry's index, its inclusion proof and a checkpoint signed by the log and cosigned
by witnesses. The ``extra`` line carries the entry itself (canonical JSON, protocol §9.3.4), so
the receipt is checkable offline with nothing but the policy: the proof binds the entry's leaf
hash to the checkpoint's root, which is why the spec's warning that ``extra`` is unauthenticated
does not bite here. The log signs one checkpoint per batch; no receipt carries a signature of
its own.

This is the one receipt verifier: the petitioner's client, the web UI, the auditor and the
bureau tools all call :func:`verify_receipt`; whoever holds the receipt of a submission and
knows what was submitted (the petitioner's client, the benchmark's verifier, the tests) calls
:func:`verify_submission_receipt`, which adds the one check that it is that submission's.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from crypto import merkle
from crypto.case_event import LogEntry
from crypto.checkpoint import Checkpoint
from crypto.errors import InvalidProof, MalformedInput
from crypto.fields import envelope_hash as hash_of_envelope
from crypto.fields import petition_id_for
from crypto.statutory import Event
from crypto.tlog_policy import Policy
from crypto.tlog_proof import TlogProof, verify_proof

#: A receipt is a few kilobytes at most: 64 proof lines, an entry, a checkpoint and up to a
#: hundred signatures. Anything larger is refused before it is parsed.
MAX_RECEIPT_LENGTH = 32 * 1024


@dataclass(frozen=True)
class VerifiedReceipt:
    """What a receipt proves once :func:`verify_receipt` has checked it."""

    entry: LogEntry
    index: int
    checkpoint: Checkpoint
    #: The checkpoint as a signed note with every signature it carried (for auditors to keep).
    checkpoint_note: bytes
    #: The names of the policy's witnesses whose cosignatures verified.
    witnesses: tuple[str, ...]


def build_receipt(leaf: bytes, index: int, proof: Sequence[bytes], checkpoint_note: bytes) -> bytes:
    """The receipt for the entry ``leaf`` at ``index`` under the signed ``checkpoint_note``."""
    return TlogProof(
        index=index, proof=tuple(proof), checkpoint=checkpoint_note, extra=leaf
    ).to_text()


def verify_receipt(data: bytes, policy: Policy, *, origin: str) -> VerifiedReceipt:
    """Parse and verify a receipt: entry, inclusion proof, checkpoint, witnesses (policy).

    Raises :class:`~crypto.errors.MalformedInput` for a receipt that does not parse,
    :class:`~crypto.errors.InvalidSignature` or :class:`~crypto.errors.InvalidProof` for one
    that does not verify, and :class:`~crypto.errors.PolicyNotSatisfied` when the checkpoint is
    the log's but not witnessed as the policy requires.
    """
    if len(data) > MAX_RECEIPT_LENGTH:
        raise MalformedInput(f"a receipt is at most {MAX_RECEIPT_LENGTH} bytes")
    proof = TlogProof.parse(data)
    if proof.extra is None:
        raise MalformedInput("a receipt carries its log entry on the extra line")
    entry = LogEntry.from_leaf(proof.extra)
    verified = verify_proof(proof, merkle.leaf_hash(proof.extra), policy, origin=origin)
    return VerifiedReceipt(
        entry=entry,
        index=proof.index,
        checkpoint=verified.checkpoint,
        checkpoint_note=verified.message,
        witnesses=verified.witnesses,
    )


def verify_submission_receipt(
    data: bytes,
    policy: Policy,
    *,
    origin: str,
    envelope: bytes | None = None,
    petition_id: str | None = None,
    envelope_hash: bytes | None = None,
) -> VerifiedReceipt:
    """:func:`verify_receipt`, then :func:`check_submission`: the receipt of this submission.

    ``envelope``, when the caller holds it, gives both the petition id and the envelope hash
    (protocol §2.3), so that no caller derives them by hand; ``petition_id`` and
    ``envelope_hash`` serve a caller that kept only those. Raises what :func:`verify_receipt`
    raises, and :class:`~crypto.errors.InvalidProof` for a receipt of another entry.
    """
    if envelope is not None:
        petition_id = petition_id_for(envelope)
        envelope_hash = hash_of_envelope(envelope)
    receipt = verify_receipt(data, policy, origin=origin)
    check_submission(receipt, petition_id=petition_id, envelope_hash=envelope_hash)
    return receipt


def check_submission(
    receipt: VerifiedReceipt, *, petition_id: str | None = None, envelope_hash: bytes | None = None
) -> None:
    """The receipt is for a submission (not a later event), and for this petition/envelope."""
    entry = receipt.entry
    if entry.event is not Event.RECEIVED:
        raise InvalidProof(f"this receipt is for a {entry.event.value} event, not a submission")
    if petition_id is not None and entry.petition_id != petition_id:
        raise InvalidProof("this receipt is for another petition")
    if envelope_hash is not None and not hmac.compare_digest(entry.envelope_hash, envelope_hash):
        raise InvalidProof("this receipt is for another envelope")
