"""The auditor's network checks: the log only grows, and a receipt's petition is still in it.

An auditor keeps every signed tree head it accepted (under PETITION_HOME). Each run proves the
new head consistent with every one of them, so a server that rewrote or dropped history, or
showed this auditor a different tree than before, is caught; a head of the same size with a
different root is a split view and is reported as such. The root is also recomputed from the
entries themselves, so the head is not taken on trust.

One auditor alone cannot see a split view that shows *it* a consistent log and shows someone
else another one. So auditors also exchange the heads they accepted (:func:`export_heads`, a
tree-head file, docs/protocol.md §12.7) and compare them (:func:`compare_heads`): two heads of
the same size with different roots, both signed by the log key, are the server's own signed
proof that it forked its log; heads of different sizes must be proven consistent by the server.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from client.errors import (
    AuditFailure,
    ClientStateError,
    InvalidInput,
    PetitionNotFound,
    ServerMisbehaved,
    ServerRefused,
)
from client.petitioner import verify_receipt
from client.session import Session
from crypto import cjson, merkle
from crypto.errors import InvalidProof, InvalidSignature, MalformedInput
from crypto.keys import FINGERPRINT_LENGTH, VerifyKey, format_fingerprint
from crypto.labels import SignedKind
from crypto.objects import LogEntry, Receipt, TreeHead
from crypto.receipt import ReceiptSecret
from crypto.signing import SignedObject

ENTRIES_PAGE = 1000

HEADS_FILE_FORMAT = "sealed-petition-tree-heads"
HEADS_FILE_VERSION = 1
MAX_HEADS_FILE_BYTES = 16 * 1024 * 1024
_HEADS_FILE_MEMBERS = {"format", "heads", "log_key", "version"}
LOCAL_SOURCE = "this auditor"

SPLIT_VIEW = "SPLIT VIEW"
NOT_PROVEN = "FAIL"
UNTRUSTED = "UNTRUSTED"


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
    previous = [old for _, old in _kept_heads(session, seen)]
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


def _kept_heads(session: Session, wires: list[bytes]) -> list[tuple[SignedObject, TreeHead]]:
    """The heads kept under PETITION_HOME, each verified again with the directory's log key."""
    heads: list[tuple[SignedObject, TreeHead]] = []
    for wire in wires:
        try:
            signed = SignedObject.decode(wire, SignedKind.TREE_HEAD)
        except (MalformedInput, InvalidSignature) as exc:
            raise AuditFailure(f"a stored head is damaged: {exc.message}") from exc
        heads.append((signed, session.verified_head(signed)))
    return heads


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
    try:
        _check_growth(session, receipt_head, current)
    except AuditFailure as exc:
        # Name the petition: the receipt is the petitioner's proof, and this is what it proves.
        raise AuditFailure(
            f"the log no longer proves petition {receipt.petition_id} (entry "
            f"{receipt.leaf_index}, accepted in the signed head of size "
            f"{receipt_head.tree_size}): {exc.message}"
        ) from exc
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


# -- comparing heads between auditors (split views) -----------------------------------------


@dataclass(frozen=True)
class HeadFile:
    """A parsed tree-head file: the log it claims to be about and its heads, not yet verified."""

    log_key_fingerprint: bytes
    heads: tuple[SignedObject, ...]


def encode_heads_file(log_key_fingerprint: bytes, heads: Sequence[SignedObject]) -> bytes:
    """Canonical JSON and a line feed (protocol §12.7); the heads exactly as the log signed them."""
    body: dict[str, cjson.JsonValue] = {
        "format": HEADS_FILE_FORMAT,
        "heads": [head.to_json() for head in heads],
        "log_key": cjson.b64encode(log_key_fingerprint),
        "version": HEADS_FILE_VERSION,
    }
    return cjson.encode(body) + b"\n"


def decode_heads_file(data: bytes) -> HeadFile:
    """Parse a tree-head file strictly; raises :class:`MalformedInput` naming what is wrong.

    Only the structure is checked here. Whether each head is really signed by the log key is
    :func:`compare_heads`' business: a head that does not verify is a finding, not a parse error.
    """
    text = data[:-1] if data.endswith(b"\n") else data
    value = cjson.decode_object(text)
    if value.get("format") != HEADS_FILE_FORMAT:
        raise MalformedInput(f"its format is not {HEADS_FILE_FORMAT!r}")
    body = cjson.require_members("tree-head file", value, _HEADS_FILE_MEMBERS)
    if type(body["version"]) is not int or body["version"] != HEADS_FILE_VERSION:
        raise MalformedInput(f"version {str(body['version'])[:20]} is not supported (only 1)")
    fingerprint = cjson.b64decode(body["log_key"], field="log_key", length=FINGERPRINT_LENGTH)
    items = body["heads"]
    if not isinstance(items, list) or not items:
        raise MalformedInput("heads must be a non-empty list")
    heads: list[SignedObject] = []
    for position, item in enumerate(items, 1):
        try:
            heads.append(SignedObject.from_json(item, SignedKind.TREE_HEAD))
        except (MalformedInput, InvalidSignature) as exc:
            raise MalformedInput(
                f"head {position} is not a signed tree head: {exc.message}"
            ) from exc
    return HeadFile(fingerprint, tuple(heads))


def read_heads_file(path: Path) -> HeadFile:
    """Read another auditor's file; every problem is one :class:`InvalidInput` line."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_HEADS_FILE_BYTES + 1)
    except OSError as exc:
        raise InvalidInput(f"cannot read the tree-head file {path}: {exc.strerror}") from exc
    if len(data) > MAX_HEADS_FILE_BYTES:
        raise InvalidInput(f"{path} is larger than {MAX_HEADS_FILE_BYTES // 2**20} MiB")
    try:
        return decode_heads_file(data)
    except MalformedInput as exc:
        raise InvalidInput(
            f"{path} is not a tree-head file of `petition audit export-heads`: {exc.message}"
        ) from exc


def export_heads(session: Session) -> bytes:
    """This auditor's accepted heads of the directory's log, verified again, as a tree-head file."""
    log_key = session.directory().log_key
    kept = _kept_heads(session, session.home.load_heads(log_key.fingerprint))
    if not kept:
        raise ClientStateError(
            f"no tree head of this log is kept in {session.home.path}; run `petition audit log` "
            "first"
        )
    return encode_heads_file(log_key.fingerprint, [signed for signed, _ in kept])


@dataclass(frozen=True)
class HeadFinding:
    """One line of a comparison: ``verdict`` is SPLIT VIEW, FAIL or UNTRUSTED."""

    verdict: str
    message: str


@dataclass(frozen=True)
class HeadComparison:
    findings: tuple[HeadFinding, ...]
    local_heads: int  # distinct heads this auditor kept
    other_heads: int  # distinct verified heads from the files that this auditor did not have
    files: int
    proofs_checked: int
    smallest: int | None
    largest: int | None
    added: int  # heads added to this auditor's history (only when nothing was found)


@dataclass
class _Seen:
    signed: SignedObject
    head: TreeHead
    local: bool
    sources: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return f"root {self.head.root_hash.hex()}, from {' and '.join(self.sources)}"


def compare_heads(
    session: Session, files: Sequence[tuple[str, HeadFile]], *, save: bool = True
) -> HeadComparison:
    """Compare this auditor's heads with other auditors' files (T-TAMP-3, split views).

    Every head is verified with the log key that the pinned directory names; one that does not
    verify proves nothing and is reported (UNTRUSTED), never used. Two verified heads of the same
    size with different roots are a split view: the log key signed both, so the pair is proof
    that the log showed different histories. Between sizes, the server must prove each head
    consistent with the next larger one (consistency is transitive, so neighbours suffice; two
    heads this auditor kept were already proven when ``audit log`` accepted them).

    Decision: when nothing is found and ``save`` is true, the other auditors' heads join this
    auditor's history, so every later ``audit log`` proves the server's head consistent with
    them too. After any finding nothing is added: the history stays one proven log, and the
    evidence stays in the files.
    """
    log_key = session.directory().log_key
    for name, heads_file in files:
        if heads_file.log_key_fingerprint != log_key.fingerprint:
            raise AuditFailure(
                f"{name} holds heads of the log with key {_short(heads_file.log_key_fingerprint)}"
                f", not of the log the pinned directory names (key {_short(log_key.fingerprint)})"
            )
    wires = session.home.load_heads(log_key.fingerprint)
    seen: dict[tuple[int, bytes], _Seen] = {}
    for signed, head in _kept_heads(session, wires):
        _note(seen, signed, head, LOCAL_SOURCE, local=True)
    local_count = len(seen)
    findings: list[HeadFinding] = []
    for name, heads_file in files:
        for position, signed in enumerate(heads_file.heads, 1):
            try:
                head = _verify_head(signed, log_key)
            except (InvalidSignature, MalformedInput) as exc:
                findings.append(
                    HeadFinding(
                        UNTRUSTED,
                        f"{name}, head {position}: {exc.message}; it is not a head signed by "
                        "the log key the pinned directory names, so it was ignored",
                    )
                )
                continue
            _note(seen, signed, head, name, local=False)
    by_size: dict[int, list[_Seen]] = {}
    for item in seen.values():
        by_size.setdefault(item.head.tree_size, []).append(item)
    sizes = sorted(by_size)
    for size in sizes:
        for first, second in itertools.combinations(by_size[size], 2):
            findings.append(
                HeadFinding(
                    SPLIT_VIEW,
                    f"two heads of size {size}: {first.describe()}; {second.describe()}. Both "
                    f"are signed by the log key {_short(log_key.fingerprint)}, so together they "
                    "prove that the log showed different histories",
                )
            )
    proofs = 0
    for smaller, larger in itertools.pairwise(sizes):
        for old, new in itertools.product(by_size[smaller], by_size[larger]):
            if old.local and new.local:
                continue
            proofs += 1
            problem = _unproven(session, old.head, new.head)
            if problem is not None:
                findings.append(
                    HeadFinding(
                        NOT_PROVEN,
                        f"the head of size {new.head.tree_size} ({new.describe()}) is not proven "
                        f"to extend the head of size {old.head.tree_size} ({old.describe()}): "
                        f"{problem}",
                    )
                )
    others = sorted(
        (item for item in seen.values() if not item.local), key=lambda item: item.head.tree_size
    )
    added = 0
    if save and not findings and others:
        session.home.save_heads(
            log_key.fingerprint, [*wires, *(item.signed.encode() for item in others)]
        )
        added = len(others)
    return HeadComparison(
        findings=tuple(findings),
        local_heads=local_count,
        other_heads=len(others),
        files=len(files),
        proofs_checked=proofs,
        smallest=sizes[0] if sizes else None,
        largest=sizes[-1] if sizes else None,
        added=added,
    )


def _verify_head(signed: SignedObject, log_key: VerifyKey) -> TreeHead:
    return TreeHead.from_json(signed.verify(log_key))


def _note(
    seen: dict[tuple[int, bytes], _Seen],
    signed: SignedObject,
    head: TreeHead,
    source: str,
    *,
    local: bool,
) -> None:
    """Record a verified head once per (size, root): a re-signed copy of one tree is no news."""
    item = seen.setdefault((head.tree_size, head.root_hash), _Seen(signed, head, local))
    if source not in item.sources:
        item.sources.append(source)


def _unproven(session: Session, old: TreeHead, new: TreeHead) -> str | None:
    """Why the server could not prove ``new`` extends ``old``, or None if it did."""
    proof: list[bytes] = []
    if old.tree_size > 0:  # from the empty tree the proof is empty by definition (§13.3)
        try:
            proof = session.api.consistency_proof(old.tree_size, new.tree_size)
        except ServerRefused as exc:
            return f"the server refused to prove it ({exc.message})"
        except ServerMisbehaved as exc:
            return exc.message
    try:
        merkle.verify_consistency(old.tree_size, new.tree_size, old.root_hash, new.root_hash, proof)
    except InvalidProof as exc:
        return f"the consistency proof does not verify ({exc.message})"
    return None


def _short(fingerprint: bytes) -> str:
    return format_fingerprint(fingerprint)[:19] + "…"
