"""The bureau's side: keys by role, inbox, opening petitions, and answering them.

Protocol v2 seals each petition in two sections, and a bureau gives each of its people only the
keys their job needs (docs/protocol.md §5, docs/operations.md):

* **intake** holds the identity key and the token key: it reads who petitioned and derives the
  pseudonym from the ID number (Argon2id with the bureau's public salt, then the token key);
* a **case handler** holds the case key (and the token key, to see the pseudonym): it reads and
  answers the case without ever seeing the identity;
* both hold the signing key, with which every request to the server is signed (§9.3.7).

A keystore holds any subset of ``identity-key``, ``case-key``, ``signing-key`` and ``token-key``,
plus the public ``bundle``. Whatever an operation needs and the keystore lacks is one
:class:`~crypto.errors.MissingKey` naming the key. Petitions are decrypted here, never on the
server. Whoever holds both the identity and the case key also checks the binding: the case's
pre-hash must be the pre-hash of the identity's ID number, or a petitioner could file cases
under somebody else's pseudonym. A failed check is reported with the petition, never hidden and
never fatal, because the petition still has to be read.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

from client.api import BureauSigner, StoredPetition
from client.errors import InvalidInput, ServerMisbehaved
from client.routing import names_destination
from client.session import Session
from crypto import cjson
from crypto.case_event import (
    SERVER_RECORDED,
    Detail,
    LogEntry,
    sign_entry,
    to_step,
    verify_entry_signature,
)
from crypto.document import CaseDocument, IdentityDocument, WithheldIdentity
from crypto.errors import (
    DecryptionError,
    InvalidProof,
    MalformedInput,
    MissingKey,
    SealedPetitionError,
)
from crypto.fields import (
    envelope_hash,
    petition_id_for,
    signed_reply_hash,
    validate_bureau_id,
    validate_petition_id,
)
from crypto.keys import EncryptionPrivateKey, SigningKey, VerifyKey
from crypto.keystore import read_keystore_file, write_keystore_file
from crypto.labels import SignedKind
from crypto.log_receipt import VerifiedReceipt, verify_receipt
from crypto.objects import BureauBundle, Reply
from crypto.petition import (
    check_binding,
    open_case,
    token_from_case,
    token_from_identity,
)
from crypto.reply import seal_reply
from crypto.signing import sign
from crypto.statutory import ClockStatus, Event, status
from crypto.token import (
    DEFAULT_TOKEN_PARAMS,
    TokenKey,
    TokenParams,
    format_pseudonym,
    generate_token_salt,
)
from crypto.transfer import Resealed, open_identity_section, reseal

#: Events whose entry moves the case to another bureau, with a copy re-sealed for it.
MOVES_THE_CASE = frozenset({Event.TRANSFERRED, Event.ASSIGNED})

IDENTITY_SECRET = "identity-key"  # noqa: S105  (keystore entry names)
CASE_SECRET = "case-key"  # noqa: S105
SIGNING_SECRET = "signing-key"  # noqa: S105
TOKEN_SECRET = "token-key"  # noqa: S105
BUNDLE_ENTRY = "bundle"
_KEY_ENTRIES = (IDENTITY_SECRET, CASE_SECRET, SIGNING_SECRET, TOKEN_SECRET)

Role = Literal["intake", "handler"]
#: What each role's keystore holds (besides the public bundle).
ROLE_KEYS: dict[Role, tuple[str, ...]] = {
    "intake": (IDENTITY_SECRET, TOKEN_SECRET, SIGNING_SECRET),
    "handler": (CASE_SECRET, SIGNING_SECRET, TOKEN_SECRET),
}
_KEY_NAMES = {
    IDENTITY_SECRET: "identity",
    CASE_SECRET: "case",
    SIGNING_SECRET: "signing",
    TOKEN_SECRET: "token",
}


class Art30Refusal(InvalidInput):
    """A transfer or assignment to the body the petitioner complains about (Art. 30)."""

    code = "art30_refused"


def missing_key(entry: str) -> MissingKey:
    """The one line every command gives for a key the keystore lacks."""

    def names(role: Role) -> str:
        keys = [_KEY_NAMES[key] for key in ROLE_KEYS[role]]
        return ", ".join(keys[:-1]) + " and " + keys[-1]

    return MissingKey(
        f"this keystore has no {_KEY_NAMES[entry]} key (intake keystores hold the "
        f"{names('intake')} keys; handler keystores hold the {names('handler')} keys)"
    )


@dataclass(frozen=True)
class BureauKeys:
    """A bureau's keystore: the public bundle and whichever private keys this role was given."""

    bundle: BureauBundle
    identity: EncryptionPrivateKey | None = None
    case: EncryptionPrivateKey | None = None
    signing: SigningKey | None = None
    token: TokenKey | None = None

    @property
    def bureau_id(self) -> str:
        return self.bundle.bureau_id

    def held(self) -> tuple[str, ...]:
        """The entry names of the private keys present, in the canonical order."""
        present = {
            IDENTITY_SECRET: self.identity,
            CASE_SECRET: self.case,
            SIGNING_SECRET: self.signing,
            TOKEN_SECRET: self.token,
        }
        return tuple(name for name in _KEY_ENTRIES if present[name] is not None)

    def identity_key(self) -> EncryptionPrivateKey:
        if self.identity is None:
            raise missing_key(IDENTITY_SECRET)
        return self.identity

    def case_key(self) -> EncryptionPrivateKey:
        if self.case is None:
            raise missing_key(CASE_SECRET)
        return self.case

    def signing_key(self) -> SigningKey:
        if self.signing is None:
            raise missing_key(SIGNING_SECRET)
        return self.signing

    def token_key(self) -> TokenKey:
        if self.token is None:
            raise missing_key(TOKEN_SECRET)
        return self.token

    def secrets(self, entries: tuple[str, ...]) -> dict[str, bytes]:
        """The keystore entries ``entries`` (plus the bundle), each required."""
        encoders = {
            IDENTITY_SECRET: lambda: self.identity_key().to_bytes(),
            CASE_SECRET: lambda: self.case_key().to_bytes(),
            SIGNING_SECRET: lambda: self.signing_key().to_bytes(),
            TOKEN_SECRET: lambda: self.token_key().secret,
        }
        chosen = {name: encoders[name]() for name in entries}
        return {**chosen, BUNDLE_ENTRY: cjson.encode(self.bundle.to_json())}


@dataclass(frozen=True)
class OpenedCase:
    """One petition as this keystore can see it."""

    stored: StoredPetition
    case: CaseDocument | None  # None: the case section does not open
    #: None: no identity key, or it does not open; withheld: transferred without consent
    identity: IdentityDocument | WithheldIdentity | None
    token: bytes | None  # None: no token key (or nothing to derive it from)
    binding: bool | None  # None: not checked (a key is missing); else the check's result
    problems: tuple[str, ...]  # every check that failed, in words; empty when all is well

    @property
    def pseudonym(self) -> str | None:
        return None if self.token is None else format_pseudonym(self.token)

    @property
    def ok(self) -> bool:
        return not self.problems


def create_bureau(
    bureau_id: str,
    name: str,
    keystore: Path,
    passphrase: str,
    token_params: TokenParams = DEFAULT_TOKEN_PARAMS,
) -> BureauKeys:
    """Every key and the token salt, sealed into one new ``keystore`` (never overwritten)."""
    try:
        bureau_id = validate_bureau_id(bureau_id)
    except MalformedInput as exc:
        raise InvalidInput(f"--id: {exc.message}") from exc
    identity = EncryptionPrivateKey.generate()
    case = EncryptionPrivateKey.generate()
    signing = SigningKey.generate()
    token = TokenKey.generate(bureau_id)
    try:
        bundle = BureauBundle(
            bureau_id=bureau_id,
            name=name,
            identity_key=identity.public_key(),
            case_key=case.public_key(),
            signing_key=signing.public_key(),
            token_salt=generate_token_salt(),
            token_params=token_params,
        )
        BureauBundle.from_json(bundle.to_json())  # the same checks the directory authority runs
    except MalformedInput as exc:
        raise InvalidInput(f"bureau bundle: {exc.message}") from exc
    keys = BureauKeys(bundle, identity, case, signing, token)
    write_keystore_file(keystore, keys.secrets(_KEY_ENTRIES), passphrase)
    return keys


def export_role(keys: BureauKeys, role: Role, keystore: Path, passphrase: str) -> tuple[str, ...]:
    """Write a new keystore holding only ``role``'s keys; returns the entries written."""
    entries = ROLE_KEYS[role]
    write_keystore_file(keystore, keys.secrets(entries), passphrase)
    return entries


def write_bundle(path: Path, keys: BureauKeys) -> None:
    try:
        with path.open("xb") as handle:
            handle.write(cjson.encode(keys.bundle.to_json()) + b"\n")
    except FileExistsError:
        raise InvalidInput(f"{path} already exists; choose another --bundle path") from None
    except FileNotFoundError:
        raise InvalidInput(
            f"the folder {path.parent} does not exist; create it first, or choose another "
            "--bundle path"
        ) from None
    except OSError as exc:
        raise InvalidInput(f"cannot write the bundle {path}: {exc.strerror}") from exc


def load_bureau(keystore: Path, passphrase: str) -> BureauKeys:
    secrets = read_keystore_file(keystore, passphrase)
    unknown = set(secrets) - {*_KEY_ENTRIES, BUNDLE_ENTRY}
    if BUNDLE_ENTRY not in secrets or unknown:
        raise InvalidInput(f"{keystore} is a keystore, but not a bureau's")
    try:
        bundle = BureauBundle.from_json(cjson.decode(secrets[BUNDLE_ENTRY]))

        def encryption(name: str) -> EncryptionPrivateKey | None:
            return EncryptionPrivateKey(secrets[name]) if name in secrets else None

        keys = BureauKeys(
            bundle,
            identity=encryption(IDENTITY_SECRET),
            case=encryption(CASE_SECRET),
            signing=SigningKey(secrets[SIGNING_SECRET]) if SIGNING_SECRET in secrets else None,
            token=(
                TokenKey(secrets[TOKEN_SECRET], bundle.bureau_id)
                if TOKEN_SECRET in secrets
                else None
            ),
        )
    except MalformedInput as exc:
        raise InvalidInput(f"the bureau keystore {keystore} is damaged: {exc.message}") from exc
    if (
        (keys.identity is not None and keys.identity.public_key() != bundle.identity_key)
        or (keys.case is not None and keys.case.public_key() != bundle.case_key)
        or (keys.signing is not None and keys.signing.public_key() != bundle.signing_key)
    ):
        raise InvalidInput(f"the bureau keystore {keystore} holds keys that do not match")
    return keys


class BureauDesk:
    """A bureau session: this keystore's keys plus the pinned server."""

    def __init__(self, session: Session, keys: BureauKeys) -> None:
        self.session = session
        self.keys = keys
        self.signer = BureauSigner(keys.bureau_id, keys.signing_key())

    def published_bundle_differs(self) -> bool:
        """True when the directory lists other keys for this bureau (rotation not published)."""
        published = self.session.bureau(self.keys.bureau_id)
        return published.to_json() != self.keys.bundle.to_json()

    def inbox(self, after: int = 0, limit: int = 100) -> tuple[list[dict[str, object]], int]:
        page = self.session.api.bureau_inbox(self.signer, after, limit)
        return list(page.items), page.next_cursor

    def fetch(self, petition_id: str) -> StoredPetition:
        petition_id = _petition_id(petition_id)
        stored = self.session.api.bureau_petition(self.signer, petition_id)
        if stored.petition_id != petition_id or stored.bureau_id != self.keys.bureau_id:
            raise ServerMisbehaved("the server sent another petition than the one asked for")
        self._copy_is_ours(stored)
        return stored

    def _origin(self, stored: StoredPetition) -> BureauBundle:
        """The bureau first addressed: its public salt is the one the case's pre-hash was made
        with, so a transferred case's pseudonym and binding are computed with it."""
        first = stored.events[0][1].bureau_id
        if first == self.keys.bureau_id:
            return self.keys.bundle
        # The copy this bureau holds came by the last event that moved the case here: a
        # request for review is sealed by the petitioner's device for this bureau itself.
        for _, entry in reversed(stored.events):
            if _review_copy(entry, self.keys.bureau_id):
                return self.keys.bundle
            if entry.event in MOVES_THE_CASE and entry.detail.to == self.keys.bureau_id:
                break
        return self.session.bureau(first)

    def open_case(self, petition_id: str) -> OpenedCase:
        """The case section (needs the case key), its pseudonym if the token key is here, and
        the identity with the binding check if the identity key is here too."""
        case_key = self.keys.case_key()
        stored = self.fetch(petition_id)
        try:
            _, case = open_case(stored.envelope, case_key, self.keys.bureau_id)
        except (DecryptionError, MalformedInput) as exc:
            return OpenedCase(stored, None, None, None, False, (f"cannot open: {exc.message}",))
        token = token_from_case(case, self.keys.token) if self.keys.token is not None else None
        identity: IdentityDocument | WithheldIdentity | None = None
        binding: bool | None = None
        problems: list[str] = []
        if self.keys.identity is not None:
            identity, binding, problems = self._identity_and_binding(stored, case)
        return OpenedCase(stored, case, identity, token, binding, tuple(problems))

    def open_intake(self, petition_id: str) -> OpenedCase:
        """The identity section and the pseudonym derived from its ID number (needs the
        identity and token keys); with the case key too, the binding check.

        A case transferred here without the petitioner's consent has a withheld identity: the
        pseudonym then comes from the case (when this keystore holds the case key), and there
        is nothing to bind.
        """
        identity_key, token_key = self.keys.identity_key(), self.keys.token_key()
        stored = self.fetch(petition_id)
        try:
            identity = open_identity_section(stored.envelope, identity_key, self.keys.bureau_id)
        except (DecryptionError, MalformedInput) as exc:
            return OpenedCase(stored, None, None, None, False, (f"cannot open: {exc.message}",))
        case: CaseDocument | None = None
        if self.keys.case is not None:
            try:
                _, case = open_case(stored.envelope, self.keys.case, self.keys.bureau_id)
            except (DecryptionError, MalformedInput) as exc:
                problem = f"the case section cannot be opened: {exc.message}"
                return OpenedCase(stored, None, identity, None, False, (problem,))
        token: bytes | None
        if isinstance(identity, WithheldIdentity):
            token = None if case is None else token_from_case(case, token_key)
            return OpenedCase(stored, case, identity, token, None, ())
        origin = self._origin(stored)
        try:
            token = token_from_identity(identity, token_key, origin.token_salt, origin.token_params)
        except SealedPetitionError as exc:  # an ID number the scheme's rules refuse
            return OpenedCase(stored, None, identity, None, False, (f"identity: {exc.message}",))
        if case is None:
            return OpenedCase(stored, None, identity, token, None, ())
        _, binding, problems = self._identity_and_binding(stored, case, identity)
        return OpenedCase(stored, case, identity, token, binding, tuple(problems))

    def _identity_and_binding(
        self,
        stored: StoredPetition,
        case: CaseDocument,
        identity: IdentityDocument | WithheldIdentity | None = None,
    ) -> tuple[IdentityDocument | WithheldIdentity | None, bool | None, list[str]]:
        if identity is None:
            try:
                identity = open_identity_section(
                    stored.envelope, self.keys.identity_key(), self.keys.bureau_id
                )
            except (DecryptionError, MalformedInput) as exc:
                return None, False, [f"the identity section cannot be opened: {exc.message}"]
        if isinstance(identity, WithheldIdentity):
            return identity, None, []
        origin = self._origin(stored)
        try:
            check_binding(identity, case, origin.token_salt, origin.token_params)
        except SealedPetitionError as exc:
            return identity, False, [f"token binding: {exc.message}"]
        return identity, True, []

    def _copy_is_ours(self, stored: StoredPetition) -> None:
        """This bureau's copy is the envelope as submitted, or one a signed transfer or
        assignment in the petition's events moved here; anything else the server made up."""
        received = stored.events[0][1] if stored.events else None
        if received is None or received.event is not Event.RECEIVED:
            raise ServerMisbehaved("the server sent a petition without its received event")
        if any(entry.petition_id != stored.petition_id for _, entry in stored.events):
            raise ServerMisbehaved("the server sent events of another petition")
        if petition_id_for(stored.envelope) == stored.petition_id:
            if envelope_hash(stored.envelope) != received.envelope_hash:
                raise ServerMisbehaved("the petition's received event is for another envelope")
            return
        directory = self.session.directory()

        def key_of(bureau_id: str) -> VerifyKey | None:
            bundle = next((b for b in directory.bureaus if b.bureau_id == bureau_id), None)
            return None if bundle is None else bundle.signing_key

        for _, entry in stored.events:
            if _review_copy(entry, self.keys.bureau_id):
                return  # the petitioner's request, logged by the server at this bureau
            if entry.event in MOVES_THE_CASE and entry.detail.to == self.keys.bureau_id:
                try:
                    verify_entry_signature(entry, key_of)
                except SealedPetitionError:
                    continue
                return
        raise ServerMisbehaved(
            "the server sent a copy that no signed transfer and no review request moved to "
            "this bureau"
        )

    def record(
        self,
        petition_id: str,
        event: Event,
        *,
        detail: Detail | None = None,
        message: str | None = None,
    ) -> Recorded:
        """Sign a case event and post it; returns the new log leaf and, for a transfer or an
        assignment, whether the identity went along.

        Every event is signed with the signing key. A ``message`` is the written notice or
        answer: it is sealed to the petitioner's reply key (inside the case, so the case key is
        needed) and travels as a signed reply whose hash the entry carries. A transfer or an
        assignment re-seals the case for the receiving bureau (case key; with the identity key
        and the petitioner's consent, the identity too) and is refused here when the
        petitioner complains about that bureau or one above it (Regulations Art. 30).
        """
        if event in SERVER_RECORDED:
            raise InvalidInput(f"{event.value!r} is recorded by the server, not by a bureau")
        signing = self.keys.signing_key()
        detail = detail or Detail()
        if detail.to is not None and detail.to == self.keys.bureau_id:
            raise InvalidInput("--to: a case goes to another bureau, not to this one")
        needs_case = message is not None or event in MOVES_THE_CASE
        case_key = self.keys.case_key() if needs_case else None
        stored = self.fetch(petition_id)
        directory = self.session.directory()
        if detail.to is not None and detail.to not in {b.bureau_id for b in directory.bureaus}:
            raise InvalidInput(f"--to: the directory has no bureau {detail.to!r}")
        case: CaseDocument | None = None
        if case_key is not None:
            try:
                _, case = open_case(stored.envelope, case_key, self.keys.bureau_id)
            except (DecryptionError, MalformedInput) as exc:
                raise InvalidInput(
                    f"petition {stored.petition_id} cannot be opened, so nothing can be sent "
                    f"with it: {exc.message}"
                ) from exc
        today = datetime.now(UTC).date()
        copy: Resealed | None = None
        if event in MOVES_THE_CASE and case is not None and case_key is not None:
            destination = directory.bureau(str(detail.to))
            named = names_destination(
                directory, case.respondent, self.keys.bureau_id, destination.bureau_id
            )
            if named is not None:
                accused = directory.bureau(named)
                raise Art30Refusal(
                    f"refused (Regulations Art. 30): the petitioner complains about "
                    f"{accused.name} ({accused.bureau_id}); the case may not go to it or below it"
                )
            copy = reseal(
                stored.envelope,
                bureau_id=self.keys.bureau_id,
                case_key=case_key,
                to=destination.sealing_keys(),
                identity_key=self.keys.identity,
            )
        wire: bytes | None = None
        if message is not None and case is not None:
            reply = Reply(
                petition_id=stored.petition_id,
                bureau_id=self.keys.bureau_id,
                event=event,
                sequence=len(stored.replies),
                ciphertext=seal_reply(
                    message, case.reply_key, stored.petition_id, self.keys.bureau_id
                ),
                day=today,
            )
            wire = sign(SignedKind.REPLY, reply.to_json(), signing).encode()
        try:
            entry = LogEntry(
                petition_id=stored.petition_id,
                bureau_id=self.keys.bureau_id,
                envelope_hash=stored.events[0][1].envelope_hash,
                event=event,
                day=today,
                detail=detail,
                reply_hash=None if wire is None else signed_reply_hash(wire),
            )
        except MalformedInput as exc:
            raise InvalidInput(exc.message) from exc
        signed = sign_entry(entry, signing)
        answer = self.session.api.bureau_event(
            self.signer, signed, wire, None if copy is None else copy.envelope
        )
        try:
            leaf_index = int(answer["leaf_index"])
        except (KeyError, TypeError, ValueError, OverflowError) as exc:  # OverflowError: 1e400
            raise ServerMisbehaved("the server's answer to an event has no leaf index") from exc
        return Recorded(leaf_index, signed, None if copy is None else copy.identity_shared)

    def check_log_proofs(self, opened: OpenedCase) -> list[LogProof]:
        """Every ``*.tlog-proof`` attached to the case (a request for review carries the log
        proof of the answer it contests, or of the deadline that passed), each verified with
        the one receipt verifier under the directory's policy and checked to be an entry of
        this petition, signed by its bureau when a bureau recorded it."""
        if opened.case is None:
            return []
        directory = self.session.directory()
        events = opened.stored.events
        handle = events[0][1].envelope_hash if events else b""

        def key_of(bureau_id: str) -> VerifyKey | None:
            found = next((b for b in directory.bureaus if b.bureau_id == bureau_id), None)
            return None if found is None else found.signing_key

        checks = []
        for attachment in opened.case.attachments:
            if not attachment.name.endswith(PROOF_SUFFIX):
                continue
            try:
                receipt = verify_receipt(
                    attachment.data, directory.policy(), origin=directory.log_origin
                )
                entry = receipt.entry
                if entry.petition_id != opened.stored.petition_id or not hmac.compare_digest(
                    entry.envelope_hash, handle
                ):
                    raise InvalidProof("it proves an entry of another petition")
                verify_entry_signature(entry, key_of)
            except SealedPetitionError as exc:
                checks.append(LogProof(attachment.name, None, exc.message))
                continue
            checks.append(LogProof(attachment.name, receipt, None))
        return checks


PROOF_SUFFIX = ".tlog-proof"


@dataclass(frozen=True)
class LogProof:
    """One attached log proof: what it proves, or why it does not verify."""

    name: str
    receipt: VerifiedReceipt | None
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _review_copy(entry: LogEntry, bureau_id: str) -> bool:
    return entry.bureau_id == bureau_id and entry.event in (
        Event.REVIEW_REQUESTED,
        Event.RE_REVIEW_REQUESTED,
    )


@dataclass(frozen=True)
class Recorded:
    """A case event the server logged."""

    leaf_index: int
    entry: LogEntry
    identity_shared: bool | None  # transfers and assignments: whether the identity went along


@dataclass(frozen=True)
class Due:
    """One line of the worklist: what the statutory clock asks of this bureau, and by when."""

    petition_id: str
    latest: str
    clock: ClockStatus | None  # None: the history is impossible (shown, never hidden)
    problem: str | None

    @property
    def sort_key(self) -> tuple[int, int, str]:
        if self.clock is None or self.clock.days_left is None:
            return (1, 0, self.petition_id)
        return (0, self.clock.days_left, self.petition_id)


def worklist(items: list[dict[str, object]], today: date) -> list[Due]:
    """The inbox as a worklist, nearest deadline first (overdue ones at the top), computed
    with the statutory clock from each petition's events."""
    rows = []
    for item in items:
        events = item.get("events")
        entries = [entry for _, entry in events] if isinstance(events, tuple) else []
        latest = entries[-1].event.value if entries else "?"
        try:
            clock: ClockStatus | None = status([to_step(entry) for entry in entries], today)
            problem = None
        except MalformedInput as exc:
            clock, problem = None, exc.message
        rows.append(Due(str(item["petition_id"]), latest, clock, problem))
    return sorted(rows, key=lambda due: due.sort_key)


def _petition_id(text: str) -> str:
    try:
        return validate_petition_id(text.strip().lower())
    except MalformedInput as exc:
        raise InvalidInput(f"{text!r} is not a petition id (32 hexadecimal characters)") from exc
