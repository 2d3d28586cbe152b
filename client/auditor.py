"""The auditor's checks: the log only grows, it is witnessed, and a receipt's entry is still in it.

An auditor keeps every checkpoint it accepted (signed notes, with the witnesses' cosignatures,
under PETITION_HOME). Each run checks the log's latest checkpoint against the trust policy
(c2sp.org/tlog-policy: the log's signature and the witness quorum; a checkpoint without the
quorum is a finding, "not witnessed as the policy requires"), proves it consistent with every
kept one, and recomputes its root from the entries themselves, so nothing is taken on trust. A
checkpoint of the same size as a kept one but with another root is a split view.

Witnesses catch a split view that one auditor cannot: a witness cosigns a checkpoint only if it
extends everything the witness cosigned before, so a log that shows two histories gets at most
one of them witnessed. Without witnesses (a ``quorum none`` policy), or to check the witnesses
too, auditors exchange the checkpoints they accepted (:func:`export_checkpoints`, a checkpoint
file, docs/protocol.md §12.7) and compare them (:func:`compare_checkpoints`): two checkpoints
of the same size with different roots, both signed by the log key, are the log's own signed
proof that it forked; checkpoints of different sizes must be proven consistent by the server.

A receipt (a tlog-proof) is checked offline against a policy alone (:func:`audit_receipt_offline`)
and, with the server, also against the log as it is now (:func:`audit_receipt`).
"""

from __future__ import annotations

import itertools
import time
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
from client.session import (
    RECEIPT_ERRORS,
    Session,
    Witnessing,
    check_checkpoint,
    check_receipt,
    log_only,
)
from crypto import cjson, merkle, note
from crypto.case_event import LogEntry
from crypto.checkpoint import Checkpoint
from crypto.errors import InvalidProof, InvalidSignature, MalformedInput
from crypto.log_receipt import VerifiedReceipt, check_submission
from crypto.receipt import ReceiptSecret
from crypto.statutory import Event
from crypto.tlog_policy import Policy, VerifiedCheckpoint
from crypto.tlog_proof import HEADER as TLOG_PROOF_HEADER
from crypto.witness_wire import parse_checkpoint_note

ENTRIES_PAGE = 1000
#: How long a cache may keep the log's checkpoint (its Cache-Control max-age), with a margin.
CHECKPOINT_MAX_AGE_SECONDS = 1.1
STALE_CHECKPOINT_RETRIES = 3

CHECKPOINTS_FILE_FORMAT = "sealed-petition-checkpoints"
CHECKPOINTS_FILE_VERSION = 1
MAX_CHECKPOINTS_FILE_BYTES = 16 * 1024 * 1024
MAX_RECEIPT_FILE_BYTES = 64 * 1024
_CHECKPOINTS_FILE_MEMBERS = {"checkpoints", "format", "log_vkey", "version"}
LOCAL_SOURCE = "this auditor"

SPLIT_VIEW = "SPLIT VIEW"
NOT_PROVEN = "FAIL"
UNTRUSTED = "UNTRUSTED"


@dataclass(frozen=True)
class LogAudit:
    tree_size: int
    previous_size: int | None  # the largest checkpoint kept before this run
    checkpoints_checked: int
    entries_checked: int
    submissions: int
    replies: int
    witnessing: Witnessing


def audit_log(
    session: Session, *, on_entries: Callable[[int, int], None] | None = None
) -> LogAudit:
    """Verify the latest checkpoint (policy, earlier checkpoints, entries); keep it."""
    log = session.log
    wires = session.home.load_checkpoints(log)
    kept = kept_checkpoints(session, wires)
    verified, witnessing = latest_checkpoint(session, max((old.size for old in kept), default=0))
    current = verified.checkpoint
    if not witnessing.witnessed:
        raise AuditFailure(
            f"the log's checkpoint of size {current.size} is not witnessed as the policy "
            f"requires ({witnessing.shortfall}); it was not kept"
        )
    for old in kept:
        _check_growth(session, old, current)
    leaves = _all_leaves(session, current.size, on_entries)
    root = merkle.root_from_leaf_hashes([merkle.leaf_hash(leaf) for leaf in leaves])
    if root != current.root_hash:
        raise AuditFailure(
            f"the entries do not hash to the signed root of size {current.size}: "
            "the log's content was altered"
        )
    submissions = replies = 0
    for index, leaf in enumerate(leaves):
        try:
            entry = LogEntry.from_leaf(leaf)
        except MalformedInput as exc:
            raise AuditFailure(f"log entry {index} is malformed: {exc.message}") from exc
        if entry.event is Event.RECEIVED:
            submissions += 1
        if entry.reply_hash is not None:
            replies += 1
    if all((old.size, old.root_hash) != (current.size, current.root_hash) for old in kept):
        session.home.save_checkpoints(log, [*wires, verified.message])
    return LogAudit(
        tree_size=current.size,
        previous_size=max((old.size for old in kept), default=None),
        checkpoints_checked=len(kept),
        entries_checked=len(leaves),
        submissions=submissions,
        replies=replies,
        witnessing=witnessing,
    )


def latest_checkpoint(session: Session, at_least: int) -> tuple[VerifiedCheckpoint, Witnessing]:
    """The log's latest checkpoint, verified; asked again while it is smaller than ``at_least``.

    The log lets caches keep its checkpoint for a second (``max-age=1``, protocol §15), so a
    checkpoint just older than one already seen is a cached copy, not yet a shrunken log. It is
    asked for again after that second, a few times; what is still smaller is judged as it is.
    """
    for attempt in range(STALE_CHECKPOINT_RETRIES + 1):
        verified, witnessing = session.check_checkpoint(session.api.checkpoint())
        if verified.checkpoint.size >= at_least or attempt == STALE_CHECKPOINT_RETRIES:
            break
        time.sleep(CHECKPOINT_MAX_AGE_SECONDS)
    return verified, witnessing


def kept_checkpoints(session: Session, wires: list[bytes]) -> list[Checkpoint]:
    """The kept checkpoints, each verified again with the log key.

    Only the log's signature is required here: the witnesses were checked when each was
    accepted, and a policy changed since (a local one, say) does not undo what was proven.
    """
    policy = log_only(session.policy())
    kept: list[Checkpoint] = []
    for position, wire in enumerate(wires, 1):
        try:
            kept.append(policy.verify_checkpoint(wire, origin=session.log.name).checkpoint)
        except (InvalidSignature, MalformedInput) as exc:
            raise AuditFailure(
                f"kept checkpoint {position} in {session.home.checkpoints_path(session.log)} "
                f"does not verify with the log key: {exc.message}"
            ) from exc
    return kept


def _check_growth(session: Session, old: Checkpoint, new: Checkpoint) -> None:
    if old.size > new.size:
        raise AuditFailure(
            f"the log shrank: a checkpoint of size {old.size} was seen before, now {new.size}"
        )
    if old.size == new.size:
        if old.root_hash != new.root_hash:
            raise AuditFailure(
                f"split view: two signed checkpoints of size {new.size} with different roots"
            )
        return
    proof: list[bytes] = []
    if old.size > 0:  # from the empty tree the proof is empty by definition (§13.3)
        proof = session.api.consistency_proof(old.size, new.size)
    try:
        merkle.verify_consistency(old.size, new.size, old.root_hash, new.root_hash, proof)
    except InvalidProof as exc:
        raise AuditFailure(
            f"the log of size {new.size} is not an extension of the one of size "
            f"{old.size} seen before: history was rewritten ({exc.message})"
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


# -- receipts -------------------------------------------------------------------------------


def receipt_from_code(session: Session, secret: ReceiptSecret) -> bytes:
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


def is_tlog_proof(data: bytes) -> bool:
    """Whether ``data`` looks like a receipt file of its own (tlog-proof text), not a keystore."""
    return data.startswith(TLOG_PROOF_HEADER + b"\n")


def read_receipt_file(path: Path) -> bytes:
    """A ``.tlog-proof`` file; every problem is one :class:`InvalidInput` line."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_RECEIPT_FILE_BYTES + 1)
    except OSError as exc:
        raise InvalidInput(f"cannot read the receipt file {path}: {exc.strerror}") from exc
    if len(data) > MAX_RECEIPT_FILE_BYTES:
        raise InvalidInput(f"{path} is larger than {MAX_RECEIPT_FILE_BYTES} bytes")
    return data


@dataclass(frozen=True)
class ReceiptAudit:
    entry: LogEntry
    leaf_index: int
    receipt_tree_size: int
    receipt_witnessing: Witnessing
    current_tree_size: int | None = None  # None: checked offline, the log was not asked
    current_witnessing: Witnessing | None = None

    @property
    def petition_id(self) -> str:
        return self.entry.petition_id


def _read(
    data: bytes, policy: Policy, origin: str, where: str
) -> tuple[VerifiedReceipt, Witnessing]:
    try:
        return check_receipt(data, policy, origin=origin)
    except RECEIPT_ERRORS as exc:
        raise AuditFailure(f"{where} does not verify: {exc.message}") from exc


def audit_receipt_offline(data: bytes, policy: Policy, *, where: str) -> ReceiptAudit:
    """A receipt checked with nothing but a policy: the log signed a tree holding the entry and
    the policy's witnesses cosigned it. A receipt without the quorum proves only the log's word,
    which an offline check cannot strengthen: that is a finding (the server can prove more)."""
    origin = policy.logs[0].verifier.name
    receipt, witnessing = _read(data, policy, origin, where)
    if not witnessing.witnessed:
        raise AuditFailure(
            f"{where} is signed by the log but not witnessed as the policy requires "
            f"({witnessing.shortfall}); `petition status` fetches a witnessed receipt, or audit "
            "it with the server"
        )
    return ReceiptAudit(receipt.entry, receipt.index, receipt.checkpoint.size, witnessing)


def audit_receipt(
    session: Session, data: bytes, *, where: str = "the receipt", submission: bool = False
) -> ReceiptAudit:
    """The receipt verifies, the current checkpoint extends its checkpoint, and the entry is
    included in the current checkpoint.

    The receipt's own checkpoint may lack the witness quorum (it was issued before the
    witnesses cosigned): proven consistent with a current checkpoint that has it, the entry is
    witnessed all the same. The current checkpoint must satisfy the policy.
    """
    receipt, witnessing = _read(data, session.policy(), session.log.name, where)
    entry = receipt.entry
    if submission:
        try:
            check_submission(receipt)
        except InvalidProof as exc:
            raise AuditFailure(f"{where}: {exc.message}") from exc
    verified, current_witnessing = latest_checkpoint(session, receipt.checkpoint.size)
    current = verified.checkpoint
    if not current_witnessing.witnessed:
        raise AuditFailure(
            f"the log's current checkpoint of size {current.size} is not witnessed as the "
            f"policy requires ({current_witnessing.shortfall})"
        )
    old = receipt.checkpoint
    try:
        _check_growth(session, old, current)
    except AuditFailure as exc:
        # Name the entry: the receipt is the petitioner's proof, and this is what it proves.
        raise AuditFailure(
            f"the log no longer proves petition {entry.petition_id} (entry {receipt.index}, "
            f"accepted in the checkpoint of size {old.size}): {exc.message}"
        ) from exc
    try:
        check_included(session, entry.leaf(), receipt.index, current)
    except InvalidProof as exc:
        raise AuditFailure(
            f"petition {entry.petition_id} is no longer in the log of size {current.size}: "
            f"{exc.message}"
        ) from exc
    return ReceiptAudit(
        entry, receipt.index, old.size, witnessing, current.size, current_witnessing
    )


def check_included(session: Session, leaf: bytes, index: int, checkpoint: Checkpoint) -> None:
    """Prove with the server's inclusion proof that ``leaf`` is entry ``index`` of the verified
    ``checkpoint``; raises :class:`InvalidProof` otherwise.

    The one place a client checks that a log entry it was shown is in a signed tree: the
    auditor for a receipt's entry, the petitioner's status for each event of the petition.
    """
    merkle.verify_inclusion(
        merkle.leaf_hash(leaf),
        index,
        checkpoint.size,
        session.api.inclusion_proof(index, checkpoint.size),
        checkpoint.root_hash,
    )


# -- comparing checkpoints between auditors (split views) -----------------------------------


@dataclass(frozen=True)
class CheckpointFile:
    """A parsed checkpoint file: the log it claims to be about and its notes, not yet verified."""

    log: note.Verifier
    checkpoints: tuple[bytes, ...]


def encode_checkpoints_file(log: note.Verifier, checkpoints: Sequence[bytes]) -> bytes:
    """Canonical JSON and a line feed (protocol §12.7); the notes exactly as they were served."""
    body: dict[str, cjson.JsonValue] = {
        "checkpoints": [item.decode("utf-8") for item in checkpoints],
        "format": CHECKPOINTS_FILE_FORMAT,
        "log_vkey": log.to_vkey(),
        "version": CHECKPOINTS_FILE_VERSION,
    }
    return cjson.encode(body) + b"\n"


def decode_checkpoints_file(data: bytes) -> CheckpointFile:
    """Parse a checkpoint file strictly; raises :class:`MalformedInput` naming what is wrong.

    Only the structure is checked here (each item is a checkpoint note in form). Whether it is
    really signed by the log key is :func:`compare_checkpoints`' business: a checkpoint that
    does not verify is a finding, not a parse error.
    """
    text = data[:-1] if data.endswith(b"\n") else data
    value = cjson.decode_object(text)
    if value.get("format") != CHECKPOINTS_FILE_FORMAT:
        raise MalformedInput(f"its format is not {CHECKPOINTS_FILE_FORMAT!r}")
    body = cjson.require_members("checkpoint file", value, _CHECKPOINTS_FILE_MEMBERS)
    if type(body["version"]) is not int or body["version"] != CHECKPOINTS_FILE_VERSION:
        raise MalformedInput(f"version {str(body['version'])[:20]} is not supported (only 1)")
    if not isinstance(body["log_vkey"], str):
        raise MalformedInput("log_vkey must be a verifier key string")
    log = note.Verifier.from_vkey(body["log_vkey"])
    items = body["checkpoints"]
    if not isinstance(items, list) or not items:
        raise MalformedInput("checkpoints must be a non-empty list")
    checkpoints: list[bytes] = []
    for position, item in enumerate(items, 1):
        try:
            if not isinstance(item, str):
                raise MalformedInput("not a string")
            checkpoints.append(item.encode("utf-8"))
            parse_checkpoint_note(checkpoints[-1])
        except MalformedInput as exc:
            raise MalformedInput(
                f"checkpoint {position} is not a signed checkpoint note: {exc.message}"
            ) from exc
    return CheckpointFile(log, tuple(checkpoints))


def read_checkpoints_file(path: Path) -> CheckpointFile:
    """Read another auditor's file; every problem is one :class:`InvalidInput` line."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_CHECKPOINTS_FILE_BYTES + 1)
    except OSError as exc:
        raise InvalidInput(f"cannot read the checkpoint file {path}: {exc.strerror}") from exc
    if len(data) > MAX_CHECKPOINTS_FILE_BYTES:
        raise InvalidInput(f"{path} is larger than {MAX_CHECKPOINTS_FILE_BYTES // 2**20} MiB")
    try:
        return decode_checkpoints_file(data)
    except MalformedInput as exc:
        raise InvalidInput(
            f"{path} is not a checkpoint file of `petition audit export-checkpoints`: {exc.message}"
        ) from exc


def export_checkpoints(session: Session) -> bytes:
    """This auditor's accepted checkpoints of the directory's log, verified again, as a file."""
    log = session.log
    wires = session.home.load_checkpoints(log)
    kept_checkpoints(session, wires)
    if not wires:
        raise ClientStateError(
            f"no checkpoint of this log is kept in {session.home.path}; run `petition audit "
            "log` first"
        )
    return encode_checkpoints_file(log, wires)


@dataclass(frozen=True)
class CheckpointFinding:
    """One line of a comparison: ``verdict`` is SPLIT VIEW, FAIL or UNTRUSTED."""

    verdict: str
    message: str


@dataclass(frozen=True)
class CheckpointComparison:
    findings: tuple[CheckpointFinding, ...]
    local_checkpoints: int  # distinct checkpoints this auditor kept
    other_checkpoints: int  # distinct verified ones from the files that this auditor lacked
    files: int
    proofs_checked: int
    smallest: int | None
    largest: int | None
    added: int  # checkpoints added to this auditor's history (only when nothing was found)


@dataclass
class _Seen:
    message: bytes
    checkpoint: Checkpoint
    witnessing: Witnessing
    local: bool
    sources: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return (
            f"root {self.checkpoint.root_hash.hex()}, {self.witnessing.describe()}, "
            f"from {' and '.join(self.sources)}"
        )


def compare_checkpoints(
    session: Session, files: Sequence[tuple[str, CheckpointFile]], *, save: bool = True
) -> CheckpointComparison:
    """Compare this auditor's checkpoints with other auditors' files (T-TAMP-3, split views).

    Every checkpoint is verified with the log key that the pinned directory names; one that
    does not verify proves nothing and is reported (UNTRUSTED), never used. Two verified
    checkpoints of the same size with different roots are a split view: the log key signed
    both, so the pair is proof that the log showed different histories (whether witnesses
    cosigned them is shown, not required: the log's signature is the evidence). Between sizes,
    the server must prove each checkpoint consistent with the next larger one (consistency is
    transitive, so neighbours suffice; two this auditor kept were proven when `audit log`
    accepted them).

    Decision: when nothing is found and ``save`` is true, the other auditors' checkpoints join
    this auditor's history, so every later ``audit log`` proves the server's checkpoint
    consistent with them too. After any finding nothing is added: the history stays one proven
    log, and the evidence stays in the files.
    """
    log = session.log
    for name, checkpoint_file in files:
        if checkpoint_file.log != log:
            raise AuditFailure(
                f"{name} holds checkpoints of the log {checkpoint_file.log.to_vkey()}, not of "
                f"the log the pinned directory names ({log.to_vkey()})"
            )
    policy = session.policy()
    wires = session.home.load_checkpoints(log)
    kept_checkpoints(session, wires)
    seen: dict[tuple[int, bytes], _Seen] = {}
    for wire in wires:
        _note(seen, check_checkpoint(wire, policy, origin=log.name), LOCAL_SOURCE, local=True)
    local_count = len(seen)
    findings: list[CheckpointFinding] = []
    for name, checkpoint_file in files:
        for position, message in enumerate(checkpoint_file.checkpoints, 1):
            try:
                verified = check_checkpoint(message, policy, origin=log.name)
            except (InvalidSignature, MalformedInput) as exc:
                findings.append(
                    CheckpointFinding(
                        UNTRUSTED,
                        f"{name}, checkpoint {position}: {exc.message}; it is not a checkpoint "
                        "signed by the log key the pinned directory names, so it was ignored",
                    )
                )
                continue
            _note(seen, verified, name, local=False)
    by_size: dict[int, list[_Seen]] = {}
    for item in seen.values():
        by_size.setdefault(item.checkpoint.size, []).append(item)
    sizes = sorted(by_size)
    for size in sizes:
        for first, second in itertools.combinations(by_size[size], 2):
            findings.append(
                CheckpointFinding(
                    SPLIT_VIEW,
                    f"two checkpoints of size {size}: {first.describe()}; {second.describe()}. "
                    f"Both are signed by the log key {log.to_vkey()}, so together they prove "
                    "that the log showed different histories",
                )
            )
    proofs = 0
    for smaller, larger in itertools.pairwise(sizes):
        for old, new in itertools.product(by_size[smaller], by_size[larger]):
            if old.local and new.local:
                continue
            proofs += 1
            problem = _unproven(session, old.checkpoint, new.checkpoint)
            if problem is not None:
                findings.append(
                    CheckpointFinding(
                        NOT_PROVEN,
                        f"the checkpoint of size {new.checkpoint.size} ({new.describe()}) is not "
                        f"proven to extend the checkpoint of size {old.checkpoint.size} "
                        f"({old.describe()}): {problem}",
                    )
                )
    others = sorted(
        (item for item in seen.values() if not item.local), key=lambda item: item.checkpoint.size
    )
    added = 0
    if save and not findings and others:
        session.home.save_checkpoints(log, [*wires, *(item.message for item in others)])
        added = len(others)
    return CheckpointComparison(
        findings=tuple(findings),
        local_checkpoints=local_count,
        other_checkpoints=len(others),
        files=len(files),
        proofs_checked=proofs,
        smallest=sizes[0] if sizes else None,
        largest=sizes[-1] if sizes else None,
        added=added,
    )


def _note(
    seen: dict[tuple[int, bytes], _Seen],
    checked: tuple[VerifiedCheckpoint, Witnessing],
    source: str,
    *,
    local: bool,
) -> None:
    """Record a verified checkpoint once per (size, root): a re-signed copy is no news."""
    verified, witnessing = checked
    checkpoint = verified.checkpoint
    item = seen.setdefault(
        (checkpoint.size, checkpoint.root_hash),
        _Seen(verified.message, checkpoint, witnessing, local),
    )
    if source not in item.sources:
        item.sources.append(source)


def _unproven(session: Session, old: Checkpoint, new: Checkpoint) -> str | None:
    """Why the server could not prove ``new`` extends ``old``, or None if it did."""
    proof: list[bytes] = []
    if old.size > 0:  # from the empty tree the proof is empty by definition (§13.3)
        try:
            proof = session.api.consistency_proof(old.size, new.size)
        except ServerRefused as exc:
            return f"the server refused to prove it ({exc.message})"
        except ServerMisbehaved as exc:
            return exc.message
    try:
        merkle.verify_consistency(old.size, new.size, old.root_hash, new.root_hash, proof)
    except InvalidProof as exc:
        return f"the consistency proof does not verify ({exc.message})"
    return None
