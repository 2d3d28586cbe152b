"""The auditor's network checks: the log only grows, and a receipt's petition is still in it.

An auditor keeps every signed tree head it accepted (under PETITION_HOME). Each run proves the
new head consistent with every one of them, so a server that rewrote or dropped history, or
showed this auditor a different tree than before, is caught; a head of the same size with a
different root is a split view and is reported as such. The root is also recomputed from the
entries themselves, so the head is not taken on trust.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from client.errors import AuditFailure, PetitionNotFound, ServerRefused
from client.petitioner import verify_receipt
from client.session import Session
from crypto import merkle
from crypto.errors import InvalidProof, MalformedInput
from crypto.labels import SignedKind
from crypto.objects import LogEntry, Receipt, TreeHead
from crypto.receipt import ReceiptSecret
from crypto.signing import SignedObject

ENTRIES_PAGE = 1000


@dataclass(frozen=True)
class LogAudit:
    tree_size: int
    previous_size: int | None  # the largest head seen before this run
    heads_checked: int
    entries_checked: int
    submissions: int
    replies: int


@dataclass(frozen=True)
class ReceiptAudit:
    petition_id: str
    leaf_index: int
    receipt_tree_size: int
    current_tree_size: int


def audit_log(
    session: Session, *, on_entries: Callable[[int, int], None] | None = None
) -> LogAudit:
    """Verify the current head against all earlier ones and against the entries; remember it."""
    log_key = session.directory().log_key
    signed = session.api.log_head()
    head = session.verified_head(signed)
    seen = session.home.load_heads(log_key.fingerprint)
    previous: list[TreeHead] = []
    for wire in seen:
        try:
            previous.append(session.verified_head(SignedObject.decode(wire, SignedKind.TREE_HEAD)))
        except MalformedInput as exc:
            raise AuditFailure(f"a stored head is damaged: {exc.message}") from exc
    for old in previous:
        _check_growth(session, old, head)
    leaves = _all_leaves(session, head.tree_size, on_entries)
    root = merkle.root_from_leaf_hashes([merkle.leaf_hash(leaf) for leaf in leaves])
    if root != head.root_hash:
        raise AuditFailure(
            f"the entries do not hash to the signed root of size {head.tree_size}: "
            "the log's content was altered"
        )
    submissions = replies = 0
    for index, leaf in enumerate(leaves):
        try:
            entry = LogEntry.from_leaf(leaf)
        except MalformedInput as exc:
            raise AuditFailure(f"log entry {index} is malformed: {exc.message}") from exc
        if entry.reply_hash is None:
            submissions += 1
        else:
            replies += 1
    wire = signed.encode()
    if wire not in seen:
        session.home.save_heads(log_key.fingerprint, [*seen, wire])
    return LogAudit(
        tree_size=head.tree_size,
        previous_size=max((old.tree_size for old in previous), default=None),
        heads_checked=len(previous),
        entries_checked=len(leaves),
        submissions=submissions,
        replies=replies,
    )


def _check_growth(session: Session, old: TreeHead, new: TreeHead) -> None:
    if old.tree_size > new.tree_size:
        raise AuditFailure(
            f"the log shrank: a head of size {old.tree_size} was seen before, now {new.tree_size}"
        )
    if old.tree_size == new.tree_size:
        if old.root_hash != new.root_hash:
            raise AuditFailure(
                f"split view: two signed heads of size {new.tree_size} with different roots"
            )
        return
    proof = session.api.consistency_proof(old.tree_size, new.tree_size)
    try:
        merkle.verify_consistency(old.tree_size, new.tree_size, old.root_hash, new.root_hash, proof)
    except InvalidProof as exc:
        raise AuditFailure(
            f"the log of size {new.tree_size} is not an extension of the one of size "
            f"{old.tree_size} seen before: history was rewritten ({exc.message})"
        ) from exc


def _all_leaves(
    session: Session, size: int, on_entries: Callable[[int, int], None] | None
) -> list[bytes]:
    leaves: list[bytes] = []
    for start in range(0, size, ENTRIES_PAGE):
        leaves += session.api.entries(start, min(size, start + ENTRIES_PAGE))
        if on_entries is not None:
            on_entries(len(leaves), size)
    return leaves


def receipt_from_code(session: Session, secret: ReceiptSecret) -> SignedObject:
    try:
        answer = session.api.lookup(secret.lookup_key())
    except ServerRefused as exc:
        if exc.server_code == "not_found":
            raise AuditFailure(
                "the server has no petition for this receipt code: either the code is "
                "mistyped or the petition was removed"
            ) from exc
        raise
    if answer.receipt is None:
        raise PetitionNotFound("the server returned no receipt for this code")
    return answer.receipt


def audit_receipt(session: Session, signed_receipt: SignedObject) -> ReceiptAudit:
    """The receipt's leaf is in the current head, and that head extends the receipt's head."""
    receipt: Receipt
    receipt, receipt_head = verify_receipt(session, signed_receipt)
    current = session.verified_head(session.api.log_head())
    _check_growth(session, receipt_head, current)
    leaf_hash = merkle.leaf_hash(receipt.submission_entry().leaf())
    try:
        merkle.verify_inclusion(
            leaf_hash,
            receipt.leaf_index,
            current.tree_size,
            session.api.inclusion_proof(receipt.leaf_index, current.tree_size),
            current.root_hash,
        )
    except InvalidProof as exc:
        raise AuditFailure(
            f"petition {receipt.petition_id} is no longer in the log of size "
            f"{current.tree_size}: {exc.message}"
        ) from exc
    return ReceiptAudit(
        petition_id=receipt.petition_id,
        leaf_index=receipt.leaf_index,
        receipt_tree_size=receipt_head.tree_size,
        current_tree_size=current.tree_size,
    )
