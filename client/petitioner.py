"""The petitioner's side: pre-hash the ID, seal, submit, verify the receipt, read replies.

Protocol v2: the device computes only the salted Argon2id pre-hash of the ID number and seals it
inside the case section; the pseudonymous token is derived by the bureau alone, so submitting is
one request after the (verified, per-session cached) directory.

Everything secret (name, ID number, text, attachments, the receipt code) lives in memory only;
this module writes no file. The CLI and the local web UI both drive it, reporting progress
through :class:`Progress` callbacks rather than printing.
"""

from __future__ import annotations

import hmac
import mimetypes
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from client.api import LoggedEvent, PetitionStatusAnswer
from client.auditor import check_included
from client.errors import InvalidInput, PetitionNotFound, ServerMisbehaved, ServerRefused
from client.routing import names_destination
from client.session import (
    RECEIPT_ERRORS,
    Session,
    Witnessing,
    check_receipt,
    check_submission_receipt,
)
from crypto import case_event, merkle, statutory
from crypto.case_event import LogEntry, to_step, verify_entry_signature
from crypto.checkpoint import Checkpoint
from crypto.document import Attachment, CaseDocument, Consent, IdentityDocument
from crypto.errors import (
    DecryptionError,
    InvalidProof,
    InvalidSignature,
    MalformedInput,
    SchemaViolation,
)
from crypto.fields import signed_reply_hash
from crypto.idnumber import NormalizedId, normalize_id
from crypto.keys import EncryptionPublicKey, VerifyKey
from crypto.keystore import open_keystore, read_keystore_file, seal_keystore, write_keystore_file
from crypto.log_receipt import VerifiedReceipt, build_receipt
from crypto.objects import BureauBundle, Directory, Reply
from crypto.padding import MAX_CONTENT_LENGTH, bucket_for
from crypto.petition import seal_petition
from crypto.receipt import ReceiptSecret
from crypto.reply import open_reply
from crypto.signing import SignedObject
from crypto.statutory import ClockStatus, Event
from crypto.token import PREHASH_LENGTH, prehash

ID_SCHEME = "cn-resident"
RECEIPT_SECRET_NAME = "receipt-secret"  # noqa: S105  (a keystore entry name)
RECEIPT_NAME = "receipt"
DEFAULT_MEDIA_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class PetitionForm:
    """What the petitioner typed; validated on the device before anything is sent."""

    bureau_id: str
    real_name: str
    id_number: str
    contact: str
    subject: str
    body: str
    category: str
    region: str
    attachments: tuple[Attachment, ...] = ()
    respondent: str = ""  # the body complained about, if the petitioner names one
    consent_contact: bool = True  # the bureau may use the contact details
    consent_share_identity_on_transfer: bool = False  # the identity may go with a transfer


@dataclass
class Progress:
    """Callbacks for the slow steps; the defaults do nothing."""

    step: Callable[[str], None] = lambda _name: None
    upload: Callable[[int, int], None] = lambda _sent, _total: None
    retry: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SubmissionResult:
    """A verified submission: what the CLI and the web UI show and the receipt file keeps.

    ``witnessing.witnessed`` false means the log accepted the petition (its signature on the
    checkpoint proves that) but the policy's witnesses have not all cosigned that checkpoint
    yet; ``petition status`` later verifies a receipt against a newer, witnessed checkpoint.
    """

    petition_id: str
    bureau_id: str
    code: str
    receipt: VerifiedReceipt
    receipt_wire: bytes  # the tlog-proof text, exactly as the server sent it
    witnessing: Witnessing
    envelope_length: int
    first_time: bool

    @property
    def leaf_index(self) -> int:
        return self.receipt.index

    @property
    def checkpoint_size(self) -> int:
        return self.receipt.checkpoint.size


#: Stable codes for :attr:`ReadReply.problem_code`, so a translated interface can say it in its
#: own words (the English ``problem`` sentence is for the command line).
REPLY_BAD_SIGNATURE = "bad_signature"
REPLY_MISPLACED = "misplaced"
REPLY_UNDECRYPTABLE = "undecryptable"


@dataclass(frozen=True)
class ReadReply:
    sequence: int
    event: str  # the event the reply says it came with (an Event value, or "?" if unreadable)
    day: str
    message: str | None
    problem: str | None  # why the message is not shown (a signature that does not verify…)
    problem_code: str | None = None  # one of the REPLY_* codes when ``problem`` is set
    #: The log index of the event whose entry commits to this reply (its ``reply_hash``);
    #: ``None`` when no event of this petition names it.
    leaf_index: int | None = None
    #: The hash of the signed reply (crypto.fields.signed_reply_hash), once its signature
    #: verified: what an event's ``reply_hash`` names.
    reply_hash: bytes | None = field(default=None, repr=False)


#: Stable codes for :attr:`EventProblem.code`.
EVENT_BAD_SIGNATURE = "bad_signature"
EVENT_OTHER_PETITION = "other_petition"
EVENT_NOT_IN_LOG = "not_in_log"


@dataclass(frozen=True)
class EventProblem:
    """Why an event is not believed: a stable code and an English sentence for the CLI."""

    code: str
    message: str


class Inclusion(Enum):
    """What the client could prove about an event's place in the public log."""

    PROVEN = "proven"  # included in the verified checkpoint of this status
    PENDING = "pending"  # logged after that checkpoint: a later status proves it
    UNCHECKED = "unchecked"  # the server sent no receipt, so no checkpoint to check against
    FAILED = "failed"  # the checkpoint covers its index, but the log holds something else there


@dataclass(frozen=True)
class ShownEvent:
    """One event of the petition as the petitioner's status shows it, with what was checked.

    An event with ``problems`` is shown, flagged, and left out of the clock: a forged or
    misplaced entry must neither hide a missed deadline nor start one.
    """

    leaf_index: int
    entry: LogEntry
    bureau_name: str  # the bureau it happened at, from the directory ("" if not listed)
    to_name: str | None  # for a routing event: the destination's name ("" if not listed)
    problems: tuple[EventProblem, ...]
    inclusion: Inclusion
    #: Art. 30: a transfer or assignment to the body the petitioner complains about
    #: (client.routing); the bureau id that the respondent text names, or ``None``.
    to_respondent: str | None = None
    #: For such a transfer: the bureau one level above the one that made it (id, name), the
    #: body that can be asked to put it right; ``None`` at the top of the directory.
    next_level: tuple[str, str] | None = None
    reply_sequence: int | None = None  # the reply that came with this event, if any

    @property
    def verified(self) -> bool:
        return not self.problems

    @property
    def event(self) -> Event:
        return self.entry.event


@dataclass(frozen=True)
class StatusReport:
    """A petition's public history, checked, with the statutory clock on ``today``.

    ``clock`` is computed from the verified events only; it is ``None`` (and ``clock_problem``
    says why) when they do not make a history the Regulations allow, which itself means the
    server or a bureau misbehaved.
    """

    petition_id: str
    bureau_id: str  # the bureau first addressed
    bureau_name: str
    submitted_day: str
    events: tuple[ShownEvent, ...]
    replies: tuple[ReadReply, ...]
    today: date
    clock: ClockStatus | None
    clock_problem: str | None = None
    receipt: CheckedReceipt | None = None  # the receipt the server sent now, verified
    respondent: str = ""  # the body complained about, as the petitioner gave it to the status

    @property
    def latest(self) -> ShownEvent | None:
        """The latest verified event: what a status used to say."""
        return next((event for event in reversed(self.events) if event.verified), None)

    @property
    def handling(self) -> tuple[str, str]:
        """The bureau (id, name) the case is with now, by the verified transfers."""
        current = (self.bureau_id, self.bureau_name)
        for shown in self.events:
            entry = shown.entry
            if shown.verified and entry.event in MOVES_CASE and entry.detail.to is not None:
                current = (entry.detail.to, shown.to_name or "")
            elif shown.verified and entry.event in REVIEW_REQUESTS:
                current = (entry.bureau_id, shown.bureau_name)
        return current

    @property
    def transfers_to_respondent(self) -> tuple[ShownEvent, ...]:
        return tuple(event for event in self.events if event.to_respondent is not None)

    @property
    def flagged(self) -> tuple[ShownEvent, ...]:
        return tuple(event for event in self.events if not event.verified)


#: The events that hand the case to another bureau (``detail.to``); ``not_competent`` only
#: names where it should go.
MOVES_CASE = frozenset({Event.TRANSFERRED, Event.ASSIGNED})
#: The petitioner's requests to the next level: the case moves to the entry's bureau.
REVIEW_REQUESTS = frozenset({Event.REVIEW_REQUESTED, Event.RE_REVIEW_REQUESTED})


def validate_identity(id_number: str) -> NormalizedId:
    """Check the ID on the device (length, characters, birth date, check digit)."""
    return normalize_id(ID_SCHEME, id_number)


def check_form(form: PetitionForm) -> None:
    """Every check sealing would make, without the network or the slow steps.

    A form that passes can be sealed: each field's length and characters (the document's own
    checks, the ID number's rules) and the total size against the largest padding bucket. The
    web UI calls it before its review page, so a problem is shown while the text is on screen.
    Raises :class:`InvalidIdNumber`, :class:`SchemaViolation` (whose message starts with the
    document member's name) or :class:`TooLarge`.
    """
    identity = validate_identity(form.id_number)
    reply_key = ReceiptSecret.generate().reply_private_key().public_key()
    _identity(form, identity)
    case = _case(form, reply_key, bytes(PREHASH_LENGTH), datetime.now(UTC).date())
    bucket_for(len(case.encode()))


#: The form's text fields that sit in the identity section; the others are the case's.
IDENTITY_TEXT_FIELDS = frozenset({"real_name", "id_number", "contact"})
CASE_TEXT_FIELDS = frozenset({"subject", "body", "category", "region", "respondent"})
# Stand-ins for the fields not yet typed when one field is checked alone: each passes its rule.
_STAND_IN = PetitionForm(
    bureau_id="", real_name="-", id_number="", contact="", subject="-", body="-",
    category="-", region="-",
)  # fmt: skip


def check_field(name: str, value: str, attachments: tuple[Attachment, ...] = ()) -> None:
    """One text field of the form, checked alone with exactly the rules sealing applies.

    A person typing at a terminal must hear what is wrong with a field while still at it, not
    after every field is typed. This builds the one section that carries ``name`` (the others
    stand in with values that pass) through the same constructors :func:`check_form` uses, so
    the limits live in crypto/document.py only. ``attachments`` count towards the size limit
    that the body can exceed. Raises :class:`InvalidIdNumber`, :class:`SchemaViolation` or
    :class:`TooLarge`, like :func:`check_form`.
    """
    if name == "id_number":
        validate_identity(value)
        return
    changes: dict[str, Any] = {name: value, "attachments": attachments}  # checked by the dataclass
    form = replace(_STAND_IN, **changes)
    if name in IDENTITY_TEXT_FIELDS:
        _identity(form, NormalizedId(ID_SCHEME, "-"))
    elif name in CASE_TEXT_FIELDS:
        reply_key = ReceiptSecret.generate().reply_private_key().public_key()
        case = _case(form, reply_key, bytes(PREHASH_LENGTH), datetime.now(UTC).date())
        bucket_for(len(case.encode()))
    else:
        raise ValueError(f"{name!r} is not a text field of the petition form")


def attachment_from_bytes(name: str, data: bytes, media_type: str | None = None) -> Attachment:
    """An attachment handed over as bytes (a browser upload), with the CLI's limits.

    The media type is guessed from the name when none is given, as for ``--attach``.
    """
    if len(data) > MAX_CONTENT_LENGTH:
        raise InvalidInput(
            f"attachment {name} is {len(data)} bytes; a whole petition must stay under "
            f"{MAX_CONTENT_LENGTH // (1024 * 1024)} MiB"
        )
    guessed = (media_type or mimetypes.guess_type(name)[0] or DEFAULT_MEDIA_TYPE).lower()
    try:
        return Attachment(name=name, media_type=guessed, data=data)
    except SchemaViolation as exc:
        raise InvalidInput(f"attachment {name}: {exc.message}") from exc


def submit_petition(session: Session, form: PetitionForm, progress: Progress) -> SubmissionResult:
    """Seal ``form`` for its bureau and submit it in one request; verify the receipt.

    The directory (fetched once per session and verified against the pinned authority) supplies
    the bureau's keys, public token salt and Argon2id parameters. Afterwards the session's
    transport moves to a new circuit, so a second petition from the same session never shares
    SOCKS credentials (a Tor circuit) with this one.
    """
    try:
        return _submit(session, form, progress)
    finally:
        session.transport.new_circuit()


def seal_envelope(
    bundle: BureauBundle, form: PetitionForm, progress: Progress
) -> tuple[bytes, ReceiptSecret]:
    """Everything a submission does before the network: a new receipt secret, the ID's
    pre-hash with the bureau's salt, and the envelope sealed to the bureau's two keys.

    ``petition submit`` sends the result at once; ``petition seal`` writes it to a sealed
    petition file (client/offline.py) for someone to deliver later.
    """
    normalized = validate_identity(form.id_number)
    secret = ReceiptSecret.generate()
    reply_key = secret.reply_private_key().public_key()
    today = datetime.now(UTC).date()
    identity = _identity(form, normalized)
    _case(form, reply_key, bytes(PREHASH_LENGTH), today)  # every field before the slow step

    progress.step("argon2")
    pre = prehash(normalized, bundle.token_salt, bundle.token_params)
    progress.step("seal")
    envelope = seal_petition(identity, _case(form, reply_key, pre, today), bundle.sealing_keys())
    return envelope, secret


def _submit(session: Session, form: PetitionForm, progress: Progress) -> SubmissionResult:
    bundle = session.bureau(form.bureau_id)
    envelope, secret = seal_envelope(bundle, form, progress)
    progress.step("upload")
    submitted = session.api.submit(envelope, secret.lookup_key_hash(), progress.upload)
    progress.step("verify")
    checked = verify_receipt(session, submitted.receipt, envelope)
    if checked.receipt.entry.bureau_id != bundle.bureau_id:
        raise ServerMisbehaved("the server's receipt names another bureau than the envelope")
    return SubmissionResult(
        petition_id=checked.receipt.entry.petition_id,
        bureau_id=bundle.bureau_id,
        code=secret.code,
        receipt=checked.receipt,
        receipt_wire=submitted.receipt,
        witnessing=checked.witnessing,
        envelope_length=len(envelope),
        first_time=submitted.first_time,
    )


def _identity(form: PetitionForm, normalized: NormalizedId) -> IdentityDocument:
    return IdentityDocument(
        real_name=form.real_name,
        id_scheme=normalized.scheme,
        id_number=normalized.value,
        contact=form.contact,
        consent=Consent(
            contact=form.consent_contact,
            share_identity_on_transfer=form.consent_share_identity_on_transfer,
        ),
    )


def _case(
    form: PetitionForm, reply_key: EncryptionPublicKey, pre: bytes, day: date
) -> CaseDocument:
    return CaseDocument(
        subject=form.subject,
        body=form.body,
        category=form.category,
        region=form.region,
        respondent=form.respondent,
        reply_key=reply_key,
        id_prehash=pre,
        created_day=day,
        attachments=form.attachments,
    )


@dataclass(frozen=True)
class CheckedReceipt:
    """A receipt that verified: the log accepted the entry; ``witnessing`` says who vouches."""

    receipt: VerifiedReceipt
    witnessing: Witnessing


def verify_receipt(
    session: Session,
    data: bytes,
    envelope: bytes | None = None,
    *,
    petition_id: str | None = None,
) -> CheckedReceipt:
    """The server's receipt for a submission, under the session's policy.

    The checkpoint must be signed by the directory's log key and the entry included in it; the
    entry must be the submission of this envelope (or this petition). A receipt whose
    checkpoint lacks only the witness quorum is still the log's word that it accepted the
    petition: it is returned with ``witnessing.witnessed`` false, never refused.
    """
    try:
        receipt, witnessing = check_submission_receipt(
            data,
            session.policy(),
            origin=session.log.name,
            envelope=envelope,
            petition_id=petition_id,
        )
    except RECEIPT_ERRORS as exc:
        raise ServerMisbehaved(f"the server's receipt does not verify: {exc.message}") from exc
    return CheckedReceipt(receipt, witnessing)


def petition_status(
    session: Session, secret: ReceiptSecret, *, respondent: str = "", today: date | None = None
) -> StatusReport:
    """The petition's events, each checked, the statutory clock, and every reply, decrypted.

    Each event must be signed by its bureau's key in the verified directory (server-recorded
    ones carry no signature), must be this petition's (id and envelope hash), and is proven to
    be in the log's verified checkpoint where that checkpoint covers it. ``respondent`` is the
    body the petitioner complains about (their own copy of the case): a transfer to it is
    flagged (Art. 30). ``today`` defaults to the UTC day (decision: days are UTC dates).
    """
    try:
        answer = session.api.lookup(secret.lookup_key())
    except ServerRefused as exc:
        if exc.server_code == "not_found":
            raise PetitionNotFound(
                f"{session.config.server} has no petition for this receipt code; check the code"
            ) from exc
        raise
    session.bureau(answer.bureau_id)  # a bureau the directory does not list: UnknownBureau
    checked = None
    if answer.receipt is not None:
        checked = verify_receipt(session, answer.receipt, petition_id=answer.petition_id)
        if checked.receipt.entry.bureau_id != answer.bureau_id:
            raise ServerMisbehaved("the server's receipt names another bureau than its answer")
    return status_report(
        session.directory(),
        answer,
        secret,
        receipt=checked,
        respondent=respondent,
        today=today,
        prove=lambda leaf, index, checkpoint: check_included(session, leaf, index, checkpoint),
    )


def status_report(
    directory: Directory,
    answer: PetitionStatusAnswer,
    secret: ReceiptSecret,
    *,
    receipt: CheckedReceipt | None = None,
    respondent: str = "",
    today: date | None = None,
    prove: Prover | None = None,
) -> StatusReport:
    """The report for a lookup answer whose receipt (if any) is already verified: the checks
    of :func:`petition_status` that need no network but ``prove``."""
    replies = [
        _read_reply(directory, signed, secret, answer.petition_id, expected_sequence)
        for expected_sequence, signed in enumerate(answer.replies)
    ]
    events = check_events(
        directory,
        answer.events,
        petition_id=answer.petition_id,
        receipt=None if receipt is None else receipt.receipt,
        respondent=respondent,
        prove=prove,
    )
    events, replies = _pair_replies(events, replies)
    clock, problem, day = clock_of(events, today)
    return StatusReport(
        petition_id=answer.petition_id,
        bureau_id=answer.bureau_id,
        bureau_name=_name_of(directory, answer.bureau_id),
        submitted_day="" if receipt is None else receipt.receipt.entry.day.isoformat(),
        events=events,
        replies=tuple(replies),
        today=day,
        clock=clock,
        clock_problem=problem,
        receipt=receipt,
        respondent=respondent.strip(),
    )


def _name_of(directory: Directory, bureau_id: str) -> str:
    return next((b.name for b in directory.bureaus if b.bureau_id == bureau_id), "")


#: Proves that a leaf is entry ``index`` of a verified checkpoint (raises InvalidProof).
Prover = Callable[[bytes, int, Checkpoint], None]


def check_events(
    directory: Directory,
    events: Sequence[LoggedEvent],
    *,
    petition_id: str,
    receipt: VerifiedReceipt | None,
    respondent: str = "",
    prove: Prover | None = None,
) -> tuple[ShownEvent, ...]:
    """Check each event the server listed; none is dropped, a failing one is flagged.

    The petition's envelope hash is the one its (verified) receipt names, else the one of its
    first ``received`` event. ``prove`` is asked for every event the receipt's checkpoint covers
    (the submission itself is proven by the receipt); without a receipt nothing is proven.
    """

    def key_of(bureau_id: str) -> VerifyKey | None:
        return next((b.signing_key for b in directory.bureaus if b.bureau_id == bureau_id), None)

    if receipt is not None:
        handle: bytes | None = receipt.entry.envelope_hash
    else:
        handle = next(
            (e.entry.envelope_hash for e in events if e.entry.event is Event.RECEIVED), None
        )
    shown = []
    for logged in events:
        entry, index = logged.entry, logged.leaf_index
        problems = []
        try:
            verify_entry_signature(entry, key_of)
        except InvalidSignature as exc:
            problems.append(
                EventProblem(EVENT_BAD_SIGNATURE, f"its signature does not verify: {exc.message}")
            )
        if (
            entry.petition_id != petition_id
            or handle is None
            or not hmac.compare_digest(entry.envelope_hash, handle)
        ):
            problems.append(
                EventProblem(EVENT_OTHER_PETITION, "this entry is for another petition")
            )
        inclusion = Inclusion.UNCHECKED
        if receipt is not None:
            inclusion, problem = _inclusion(entry, index, receipt, prove)
            if problem is not None:
                problems.append(problem)
        to = entry.detail.to
        named = next_level = None
        if to is not None and entry.event in MOVES_CASE:
            named = names_destination(directory, respondent, entry.bureau_id, to)
            if named is not None:
                next_level = _next_level(directory, entry.bureau_id)
        shown.append(
            ShownEvent(
                leaf_index=index,
                entry=entry,
                bureau_name=_name_of(directory, entry.bureau_id),
                to_name=None if to is None else _name_of(directory, to),
                problems=tuple(problems),
                inclusion=inclusion,
                to_respondent=named,
                next_level=next_level,
            )
        )
    return tuple(shown)


def _inclusion(
    entry: LogEntry, index: int, receipt: VerifiedReceipt, prove: Prover | None
) -> tuple[Inclusion, EventProblem | None]:
    checkpoint = receipt.checkpoint
    if index >= checkpoint.size:
        return Inclusion.PENDING, None
    if index == receipt.index:
        if hmac.compare_digest(entry.leaf(), receipt.entry.leaf()):
            return Inclusion.PROVEN, None
        return Inclusion.FAILED, EventProblem(
            EVENT_NOT_IN_LOG, f"the log holds another entry at index {index}"
        )
    if prove is None:
        return Inclusion.UNCHECKED, None
    try:
        prove(entry.leaf(), index, checkpoint)
    except (InvalidProof, ServerMisbehaved, ServerRefused) as exc:
        return Inclusion.FAILED, EventProblem(
            EVENT_NOT_IN_LOG,
            f"it is not entry {index} of the log's signed tree of {checkpoint.size}: {exc.message}",
        )
    return Inclusion.PROVEN, None


def _next_level(directory: Directory, bureau_id: str) -> tuple[str, str] | None:
    try:
        above = directory.next_level(bureau_id)
    except SchemaViolation:
        return None
    return None if above is None else (above.bureau_id, above.name)


def clock_of(
    events: Sequence[ShownEvent], today: date | None = None
) -> tuple[ClockStatus | None, str | None, date]:
    """The statutory clock of the verified events on ``today`` (the UTC day by default, never
    before the last event: a device clock running late must not make the clock fail)."""
    steps = [to_step(shown.entry) for shown in events if shown.verified]
    day = today or datetime.now(UTC).date()
    if steps:
        day = max(day, steps[-1].day)
    try:
        return statutory.status(steps, day), None, day
    except MalformedInput as exc:
        return None, f"the verified events are not a possible history: {exc.message}", day


def _pair_replies(
    events: tuple[ShownEvent, ...], replies: list[ReadReply]
) -> tuple[tuple[ShownEvent, ...], list[ReadReply]]:
    """Each reply with the event whose entry commits to it (``reply_hash``), both ways."""
    by_hash = {
        shown.entry.reply_hash: shown for shown in events if shown.entry.reply_hash is not None
    }
    paired: dict[int, int] = {}
    out = []
    for reply in replies:
        shown = by_hash.get(reply.reply_hash) if reply.reply_hash is not None else None
        if shown is not None:
            paired[shown.leaf_index] = reply.sequence
            reply = replace(reply, leaf_index=shown.leaf_index)
        out.append(reply)
    return (
        tuple(replace(e, reply_sequence=paired.get(e.leaf_index)) for e in events),
        out,
    )


def _read_reply(
    directory: Directory,
    signed: SignedObject,
    secret: ReceiptSecret,
    petition_id: str,
    expected_sequence: int,
) -> ReadReply:
    """One reply, verified with the key of the bureau it names (after a transfer the
    receiving bureau answers), then decrypted."""
    claimed = str(signed.body.get("bureau_id", ""))
    bundle = next((b for b in directory.bureaus if b.bureau_id == claimed), None)
    try:
        if bundle is None:
            raise InvalidSignature(f"bureau {claimed[:64]!r} is not in the directory")
        reply = Reply.from_json(signed.verify(bundle.signing_key))
    except (InvalidSignature, MalformedInput):
        event = str(signed.body.get("event", "?"))[:20]
        return ReadReply(
            expected_sequence, event, "", None, "the bureau's signature does not verify",
            REPLY_BAD_SIGNATURE,
        )  # fmt: skip
    wire_hash = signed_reply_hash(signed.encode())
    if reply.petition_id != petition_id or reply.sequence != expected_sequence:
        return ReadReply(
            reply.sequence, reply.event.value, reply.day.isoformat(), None,
            "this reply was signed for another petition or position", REPLY_MISPLACED,
        )  # fmt: skip
    try:
        message = open_reply(
            reply.ciphertext, secret.reply_private_key(), petition_id, reply.bureau_id
        )
    except (DecryptionError, MalformedInput):
        return ReadReply(
            reply.sequence, reply.event.value, reply.day.isoformat(), None,
            "the message cannot be decrypted with this receipt code", REPLY_UNDECRYPTABLE,
            reply_hash=wire_hash,
        )  # fmt: skip
    return ReadReply(
        reply.sequence, reply.event.value, reply.day.isoformat(), message, None,
        reply_hash=wire_hash,
    )  # fmt: skip


def save_receipt(path: Path, result: SubmissionResult, passphrase: str) -> None:
    """Keep the receipt code and the receipt (tlog-proof text) in a passphrase-protected file."""
    write_keystore_file(path, _receipt_secrets(result), passphrase)


def seal_receipt(result: SubmissionResult, passphrase: str) -> bytes:
    """The bytes of the file :func:`save_receipt` writes, for a browser to download."""
    return seal_keystore(_receipt_secrets(result), passphrase)


def load_receipt(path: Path, passphrase: str) -> tuple[ReceiptSecret, bytes]:
    return _receipt_from(read_keystore_file(path, passphrase), str(path))


def open_receipt(data: bytes, passphrase: str) -> tuple[ReceiptSecret, bytes]:
    """A saved receipt file handed over as bytes (a browser upload)."""
    return _receipt_from(open_keystore(data, passphrase), "this file")


def _receipt_secrets(result: SubmissionResult) -> dict[str, bytes]:
    secret = ReceiptSecret.from_code(result.code)
    return {RECEIPT_SECRET_NAME: secret.to_bytes(), RECEIPT_NAME: result.receipt_wire}


def _receipt_from(secrets: dict[str, bytes], where: str) -> tuple[ReceiptSecret, bytes]:
    if RECEIPT_SECRET_NAME not in secrets or RECEIPT_NAME not in secrets:
        raise InvalidInput(f"{where} is a keystore, but it holds no petition receipt")
    return ReceiptSecret(secrets[RECEIPT_SECRET_NAME]), secrets[RECEIPT_NAME]


# -- review by the next level (Regulations Arts. 35, 36; issue 17) -----------------------------

REVIEW_CATEGORY = "review"
#: The subject of the request each event makes, as the reviewing bureau reads it.
REVIEW_SUBJECTS = {Event.REVIEW_REQUESTED: "复查申请", Event.RE_REVIEW_REQUESTED: "复核申请"}
DECISION_PROOF = "decision.tlog-proof"
OVERDUE_PROOF = "overdue.tlog-proof"
PROOF_MEDIA_TYPE = "text/plain"


class ReviewRefused(InvalidInput):
    """The clock does not allow a review now; nothing was sent. The message says why."""

    code = "review_refused"


@dataclass(frozen=True)
class ReviewPlan:
    """What a request for review would be, computed from the verified status alone.

    ``contested`` is the bureau whose answer is contested (or whose deadline passed), ``to``
    the bureau one level above it, where the request goes. ``proof`` is the event whose log
    proof travels with the request: the written answer (``decided`` or ``reviewed``) or, for an
    overdue case, the latest event, which shows when the clock ran out.
    """

    report: StatusReport
    event: Event
    contested: str
    contested_name: str
    to: BureauBundle
    proof: ShownEvent
    proof_name: str

    @property
    def subject(self) -> str:
        return REVIEW_SUBJECTS[self.event]


@dataclass(frozen=True)
class ReviewResult:
    """A request the log recorded: its entry (verified by its receipt) and the new deadline."""

    plan: ReviewPlan
    leaf_index: int
    receipt: CheckedReceipt
    first_time: bool
    deadline: statutory.Deadline  # answer_review or answer_re_review (Arts. 35, 36)


def review_request(events: Sequence[ShownEvent], handler: str) -> tuple[Event, str]:
    """The server's rule (:func:`crypto.case_event.review_request`) over the verified events."""
    return case_event.review_request([shown.entry for shown in events if shown.verified], handler)


def review_refusal(clock: ClockStatus, event: Event, detail: str) -> str:
    """Why the clock does not allow the request today, in one line."""
    what = "a re-review" if event is Event.RE_REVIEW_REQUESTED else "a review"
    deadline = clock.deadline
    if clock.parallel_petition_barred and deadline is not None:
        return (
            f"not now (Regulations Art. 19): the case is still within its time limit, due "
            f"{deadline.due.isoformat()} ({deadline.article}); the next level does not take it "
            "up until the body handling it answers or that day has passed. Nothing was sent."
        )
    if clock.action is not None and clock.action.code == "final":
        return (
            "not possible (Regulations Art. 36): the case was re-reviewed; a request on the same "
            "facts and reasons is not taken up again. Nothing was sent."
        )
    if deadline is not None and deadline.kind is statutory.Kind.PETITIONER_RIGHT:
        return (
            f"too late ({deadline.article}): the 30 days to ask for {what} ended on "
            f"{deadline.due.isoformat()}; the answer stands. Nothing was sent."
        )
    return f"{what} cannot be asked now: {detail}. Nothing was sent."


def plan_review(
    session: Session, secret: ReceiptSecret, *, today: date | None = None
) -> tuple[ReviewPlan | None, StatusReport, str | None]:
    """The verified status and, if the clock allows a request today, what it would be.

    Returns ``(None, report, reason)`` when it does not (Art. 19: the case is within its time;
    the window lapsed; the case is final; the directory lists no level above): nothing is sent.
    """
    report = petition_status(session, secret, today=today)
    if report.clock is None:
        return None, report, f"the case's events cannot be checked: {report.clock_problem}"
    handler, _ = report.handling
    event, contested = review_request(report.events, handler)
    steps = [to_step(shown.entry) for shown in report.events if shown.verified]
    try:
        statutory.deadlines([*steps, statutory.Step(event, report.today)])
    except MalformedInput as exc:
        return None, report, review_refusal(report.clock, event, exc.message)
    directory = session.directory()
    contested_name = _name_of(directory, contested) or contested
    try:
        above = directory.next_level(contested)
    except SchemaViolation:
        above = None
    if above is None:
        return None, report, f"the directory lists no level above {contested_name}: nobody to ask"
    answered = Event.REVIEWED if event is Event.RE_REVIEW_REQUESTED else Event.DECIDED
    decision = next(
        (s for s in reversed(report.events) if s.verified and s.entry.event is answered), None
    )
    proof = decision or next(s for s in reversed(report.events) if s.verified)
    name = DECISION_PROOF if decision is not None else OVERDUE_PROOF
    return ReviewPlan(report, event, contested, contested_name, above, proof, name), report, None


def log_proof(session: Session, plan: ReviewPlan) -> bytes:
    """A tlog-proof of the plan's entry under the checkpoint the status verified.

    The inclusion proof comes from the server and is checked here before the proof is built,
    so what the reviewing bureau is handed is a proof this device has verified.
    """
    receipt = plan.report.receipt
    if receipt is None:
        raise ServerMisbehaved("the server sent no receipt with the status: nothing to prove")
    checkpoint = receipt.receipt.checkpoint
    index, leaf = plan.proof.leaf_index, plan.proof.entry.leaf()
    if index >= checkpoint.size:
        raise ServerMisbehaved(
            f"entry {index} is not yet in the log's checkpoint of {checkpoint.size}; try again"
        )
    proof = session.api.inclusion_proof(index, checkpoint.size)
    try:
        merkle.verify_inclusion(merkle.leaf_hash(leaf), index, checkpoint.size, proof,
                                checkpoint.root_hash)  # fmt: skip
    except InvalidProof as exc:
        raise ServerMisbehaved(
            f"the server's inclusion proof does not verify: {exc.message}"
        ) from exc
    return build_receipt(leaf, index, proof, receipt.receipt.checkpoint_note)


def request_review(
    session: Session, secret: ReceiptSecret, plan: ReviewPlan, form: PetitionForm,
    progress: Progress,
) -> ReviewResult:  # fmt: skip
    """Seal the request on this device to the next level, with the log proof, and post it.

    The case section carries the SAME receipt code's reply key, so the review opinion reaches
    this code; the identity is the one typed again (the device keeps none). The answer's
    receipt must be the log's entry for exactly this request.
    """
    try:
        return _request_review(session, secret, plan, form, progress)
    finally:
        session.transport.new_circuit()


def _request_review(
    session: Session, secret: ReceiptSecret, plan: ReviewPlan, form: PetitionForm,
    progress: Progress,
) -> ReviewResult:  # fmt: skip
    bundle = plan.to
    normalized = validate_identity(form.id_number)
    progress.step("Proving from the log what you contest (inclusion proof, checked here)")
    proof = Attachment(name=plan.proof_name, media_type=PROOF_MEDIA_TYPE,
                       data=log_proof(session, plan))  # fmt: skip
    form = replace(
        form, bureau_id=bundle.bureau_id, attachments=(*form.attachments, proof),
        respondent=form.respondent or plan.contested_name,
    )  # fmt: skip
    reply_key = secret.reply_private_key().public_key()
    today = datetime.now(UTC).date()
    identity = _identity(form, normalized)
    _case(form, reply_key, bytes(PREHASH_LENGTH), today)  # every field before the slow step
    progress.step("argon2")
    pre = prehash(normalized, bundle.token_salt, bundle.token_params)
    progress.step("seal")
    envelope = seal_petition(identity, _case(form, reply_key, pre, today), bundle.sealing_keys())
    progress.step("upload")
    report = plan.report
    try:
        logged = session.api.review(report.petition_id, secret.lookup_key(), envelope)
    except ServerRefused as exc:
        if exc.server_code in ("impossible_event", "wrong_level", "no_next_level"):
            raise ReviewRefused(f"the server refused the request: {exc}") from exc
        raise
    progress.step("verify")
    try:
        checked, witnessing = check_receipt(
            logged.receipt, session.policy(), origin=session.log.name
        )
    except RECEIPT_ERRORS as exc:
        raise ServerMisbehaved(f"the server's receipt does not verify: {exc.message}") from exc
    entry = checked.entry
    original = report.events[0].entry.envelope_hash if report.events else b""
    if (
        entry.petition_id != report.petition_id
        or entry.event is not plan.event
        or entry.bureau_id != bundle.bureau_id
        or not hmac.compare_digest(entry.envelope_hash, original)
        or checked.index != logged.leaf_index
    ):
        raise ServerMisbehaved("the server's receipt is not for this request")
    steps = [to_step(shown.entry) for shown in report.events if shown.verified]
    found = statutory.deadlines([*steps, to_step(entry)])
    return ReviewResult(plan, logged.leaf_index, CheckedReceipt(checked, witnessing),
                        logged.first_time, found[-1])  # fmt: skip
