"""The petitioner's side: pre-hash the ID, seal, submit, verify the receipt, read replies.

Protocol v2: the device computes only the salted Argon2id pre-hash of the ID number and seals it
inside the case section; the pseudonymous token is derived by the bureau alone, so submitting is
one request after the (verified, per-session cached) directory.

Everything secret (name, ID number, text, attachments, the receipt code) lives in memory only;
this module writes no file. The CLI and the local web UI both drive it, reporting progress
through :class:`Progress` callbacks rather than printing.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from client.errors import InvalidInput, PetitionNotFound, ServerMisbehaved, ServerRefused
from client.session import RECEIPT_ERRORS, Session, Witnessing, check_receipt
from crypto.document import Attachment, CaseDocument, Consent, IdentityDocument
from crypto.errors import (
    DecryptionError,
    InvalidSignature,
    MalformedInput,
    SchemaViolation,
)
from crypto.fields import envelope_hash, petition_id_for
from crypto.idnumber import NormalizedId, normalize_id
from crypto.keys import EncryptionPublicKey, VerifyKey
from crypto.keystore import open_keystore, read_keystore_file, seal_keystore, write_keystore_file
from crypto.log_receipt import VerifiedReceipt, check_submission
from crypto.objects import Reply
from crypto.padding import MAX_CONTENT_LENGTH, bucket_for
from crypto.petition import seal_petition
from crypto.receipt import ReceiptSecret
from crypto.reply import open_reply
from crypto.signing import SignedObject
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
    status: str
    day: str
    message: str | None
    problem: str | None  # why the message is not shown (a signature that does not verify…)
    problem_code: str | None = None  # one of the REPLY_* codes when ``problem`` is set


@dataclass(frozen=True)
class StatusReport:
    petition_id: str
    bureau_id: str
    bureau_name: str
    status: str
    submitted_day: str
    replies: tuple[ReadReply, ...]
    receipt: CheckedReceipt | None = None  # the receipt the server sent now, verified


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


def _submit(session: Session, form: PetitionForm, progress: Progress) -> SubmissionResult:
    bundle = session.bureau(form.bureau_id)
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
    if envelope is not None:
        petition_id = petition_id_for(envelope)
    try:
        receipt, witnessing = check_receipt(data, session.policy(), origin=session.log.name)
        check_submission(
            receipt,
            petition_id=petition_id,
            envelope_hash=None if envelope is None else envelope_hash(envelope),
        )
    except RECEIPT_ERRORS as exc:
        raise ServerMisbehaved(f"the server's receipt does not verify: {exc.message}") from exc
    return CheckedReceipt(receipt, witnessing)


def petition_status(session: Session, secret: ReceiptSecret) -> StatusReport:
    """Status and every reply, each checked against the bureau's signing key, then decrypted."""
    try:
        answer = session.api.lookup(secret.lookup_key())
    except ServerRefused as exc:
        if exc.server_code == "not_found":
            raise PetitionNotFound(
                f"{session.config.server} has no petition for this receipt code; check the code"
            ) from exc
        raise
    bundle = session.bureau(answer.bureau_id)
    submitted_day = ""
    checked = None
    if answer.receipt is not None:
        checked = verify_receipt(session, answer.receipt, petition_id=answer.petition_id)
        if checked.receipt.entry.bureau_id != answer.bureau_id:
            raise ServerMisbehaved("the server's receipt names another bureau than its answer")
        submitted_day = checked.receipt.entry.day.isoformat()
    replies = []
    for expected_sequence, signed in enumerate(answer.replies):
        replies.append(
            _read_reply(signed, bundle.signing_key, secret, answer.petition_id, expected_sequence)
        )
    return StatusReport(
        petition_id=answer.petition_id,
        bureau_id=answer.bureau_id,
        bureau_name=bundle.name,
        status=answer.status,
        submitted_day=submitted_day,
        replies=tuple(replies),
        receipt=checked,
    )


def _read_reply(
    signed: SignedObject,
    signing_key: VerifyKey,
    secret: ReceiptSecret,
    petition_id: str,
    expected_sequence: int,
) -> ReadReply:
    try:
        reply = Reply.from_json(signed.verify(signing_key))
    except (InvalidSignature, MalformedInput):
        status = str(signed.body.get("status", "?"))[:20]
        return ReadReply(
            expected_sequence, status, "", None, "the bureau's signature does not verify",
            REPLY_BAD_SIGNATURE,
        )  # fmt: skip
    if reply.petition_id != petition_id or reply.sequence != expected_sequence:
        return ReadReply(
            reply.sequence, reply.status.value, reply.day.isoformat(), None,
            "this reply was signed for another petition or position", REPLY_MISPLACED,
        )  # fmt: skip
    try:
        message = open_reply(
            reply.ciphertext, secret.reply_private_key(), petition_id, reply.bureau_id
        )
    except (DecryptionError, MalformedInput):
        return ReadReply(
            reply.sequence, reply.status.value, reply.day.isoformat(), None,
            "the message cannot be decrypted with this receipt code", REPLY_UNDECRYPTABLE,
        )  # fmt: skip
    return ReadReply(reply.sequence, reply.status.value, reply.day.isoformat(), message, None)


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
