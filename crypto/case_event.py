"""Case events: the public, countable steps of a petition's handling (protocol §9.3.4).

Every log leaf is one event of one petition: the server records ``received`` when the envelope
arrives and ``review_requested`` / ``re_review_requested`` when the petitioner asks the next
level; every other event is recorded by a bureau, which signs the leaf itself with its
directory signing key. The signature is part of the leaf, so the log alone, with the signed
directory, shows who said what happened on which day, and a bureau cannot later deny an
acknowledgement, a transfer or a decision, nor can the server invent one.

What an entry may say is fixed per event (:data:`DETAIL_MEMBERS`): the bureau a case went to,
the days and public reason category of an extension, the outcome category of a decision or a
review. Nothing per person and nothing from the case text: every member is shared by every
petition with the same step on the same day, or is a hash of the envelope or of the signed reply.

:func:`verify_entry_signature` is the one verifier of a leaf's signature; the auditor, the
statistics, the petitioner's status and the server all call it. :func:`to_step` turns an entry
into the statutory clock's :class:`~crypto.statutory.Step`.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from enum import Enum
from typing import Any, TypeVar

from crypto import cjson
from crypto.errors import InvalidSignature, MalformedInput, SchemaViolation, UnsupportedVersion
from crypto.fields import format_day, parse_day, validate_bureau_id, validate_petition_id
from crypto.keys import SIGNATURE_LENGTH, SigningKey, VerifyKey
from crypto.labels import SignedKind
from crypto.merkle import HASH_SIZE
from crypto.statutory import MAX_EXTENSION_DAYS, Event, Step

ENTRY_VERSION = 2

_E = TypeVar("_E", bound=Enum)


class DecisionOutcome(Enum):
    """Art. 32: the written answer supports the request, explains, or does not support it."""

    SUPPORTED = "supported"
    EXPLAINED = "explained"
    NOT_SUPPORTED = "not_supported"


class ReviewOutcome(Enum):
    """Arts. 35-36: the reviewing body upholds the answer, or changes or overturns it."""

    UPHELD = "upheld"
    CHANGED = "changed"


class ExtensionReason(Enum):
    """Art. 34: the public category of the reason for an extension (the full reason is told to
    the petitioner in the encrypted reply)."""

    COMPLEX_FACTS = "complex_facts"
    FURTHER_INVESTIGATION = "further_investigation"
    SEVERAL_BODIES = "several_bodies"
    EXPERT_OPINION = "expert_opinion"
    OTHER = "other"


#: Events the server records on the petitioner's behalf: their leaves carry no signature.
SERVER_RECORDED = frozenset({Event.RECEIVED, Event.REVIEW_REQUESTED, Event.RE_REVIEW_REQUESTED})

#: Events that name the bureau a case goes (or should go) to, in ``detail.to``.
ROUTING = frozenset({Event.NOT_COMPETENT, Event.TRANSFERRED, Event.ASSIGNED})

#: Events with an outcome category, and the categories each allows.
OUTCOMES: dict[Event, type[DecisionOutcome] | type[ReviewOutcome]] = {
    Event.DECIDED: DecisionOutcome,
    Event.REVIEWED: ReviewOutcome,
    Event.RE_REVIEWED: ReviewOutcome,
}

#: The exact members of ``detail`` for each event.
DETAIL_MEMBERS: dict[Event, frozenset[str]] = {
    event: frozenset(
        {"to"}
        if event in ROUTING
        else {"days", "reason"}
        if event is Event.EXTENDED
        else {"outcome"}
        if event in OUTCOMES
        else set()
    )
    for event in Event
}

_MEMBERS = frozenset(
    {
        "version",
        "petition_id",
        "bureau_id",
        "envelope_hash",
        "event",
        "detail",
        "day",
        "reply_hash",
        "signature",
    }
)


def parse_event(text: object) -> Event:
    for event in Event:
        if event.value == text:
            return event
    names = ", ".join(event.value for event in Event)
    raise MalformedInput(f"unknown event {str(text)[:40]!r}; expected one of: {names}")


def _parse_enum(kind: type[_E], text: object, what: str) -> _E:
    for member in kind:
        if member.value == text:
            return member
    names = ", ".join(str(member.value) for member in kind)
    raise SchemaViolation(f"{what}: {str(text)[:40]!r} is not one of: {names}")


@dataclass(frozen=True)
class Detail:
    """What an event says beyond its name; which members are set depends on the event."""

    to: str | None = None
    days: int | None = None
    reason: ExtensionReason | None = None
    outcome: DecisionOutcome | ReviewOutcome | None = None

    def to_json(self) -> dict[str, Any]:
        members: dict[str, Any] = {}
        if self.to is not None:
            members["to"] = self.to
        if self.days is not None:
            members["days"] = self.days
        if self.reason is not None:
            members["reason"] = self.reason.value
        if self.outcome is not None:
            members["outcome"] = self.outcome.value
        return members

    @classmethod
    def from_json(cls, event: Event, value: Any) -> Detail:
        members = cjson.require_members(f"{event.value} detail", value, set(DETAIL_MEMBERS[event]))
        detail = cls()
        if "to" in members:
            detail = replace(detail, to=validate_bureau_id(members["to"]))
        if "days" in members:
            days = members["days"]
            if type(days) is not int or not 1 <= days <= MAX_EXTENSION_DAYS:
                raise SchemaViolation(
                    f"extended detail: days must be an integer from 1 to {MAX_EXTENSION_DAYS}"
                )
            detail = replace(detail, days=days)
        if "reason" in members:
            reason = _parse_enum(ExtensionReason, members["reason"], "extended detail reason")
            detail = replace(detail, reason=reason)
        if "outcome" in members:
            outcomes = OUTCOMES[event]
            outcome = _parse_enum(outcomes, members["outcome"], f"{event.value} outcome")
            detail = replace(detail, outcome=outcome)
        return detail


def _check_detail(event: Event, bureau_id: str, detail: Detail) -> None:
    """The typed detail must be exactly what the event carries (constructors and parsers)."""
    expected = DETAIL_MEMBERS[event]
    if set(detail.to_json()) != expected:
        wanted = ", ".join(sorted(expected)) or "nothing"
        raise MalformedInput(f"a {event.value} event carries {wanted}")
    if detail.to is not None and detail.to == bureau_id:
        raise SchemaViolation(f"a {event.value} event cannot name its own bureau as 'to'")
    if detail.outcome is not None and not isinstance(detail.outcome, OUTCOMES[event]):
        raise MalformedInput(f"{detail.outcome.value!r} is not an outcome of {event.value}")


@dataclass(frozen=True)
class LogEntry:
    """One leaf of the transparency log: one event of one petition. Never a token.

    ``bureau_id`` is the bureau the event happened at: the bureau addressed for ``received``,
    the bureau asked for a review request, otherwise the bureau that recorded (and signed) it.
    ``envelope_hash`` is the hash of the envelope as first submitted, and stays the petition's
    public handle through transfers. ``reply_hash`` commits to the signed reply that carried the
    written notice or answer to the petitioner, when there was one.
    """

    petition_id: str
    bureau_id: str
    envelope_hash: bytes
    event: Event
    day: date
    detail: Detail = Detail()
    reply_hash: bytes | None = None
    signature: bytes | None = None

    def __post_init__(self) -> None:
        _check_detail(self.event, self.bureau_id, self.detail)
        if self.event in SERVER_RECORDED and self.reply_hash is not None:
            raise SchemaViolation(f"a {self.event.value} entry carries no reply")

    @property
    def signed(self) -> bool:
        """Whether this event is recorded by a bureau, and so must carry its signature."""
        return self.event not in SERVER_RECORDED

    def unsigned_json(self) -> dict[str, Any]:
        """The members the bureau signs: every member but ``signature``."""
        return {
            "version": ENTRY_VERSION,
            "petition_id": self.petition_id,
            "bureau_id": self.bureau_id,
            "envelope_hash": cjson.b64encode(self.envelope_hash),
            "event": self.event.value,
            "detail": self.detail.to_json(),
            "day": format_day(self.day),
            "reply_hash": None if self.reply_hash is None else cjson.b64encode(self.reply_hash),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            **self.unsigned_json(),
            "signature": None if self.signature is None else cjson.b64encode(self.signature),
        }

    def signing_message(self) -> bytes:
        return SignedKind.CASE_EVENT.label + cjson.encode(self.unsigned_json())

    def leaf(self) -> bytes:
        """The bytes that are hashed into the Merkle tree (RFC 6962 leaf input)."""
        return cjson.encode(self.to_json())

    @classmethod
    def from_json(cls, value: Any) -> LogEntry:
        if isinstance(value, dict) and "version" in value:
            _version(value["version"])
        body = cjson.require_members("log entry", value, set(_MEMBERS))
        _version(body["version"])
        event = parse_event(body["event"])
        bureau_id = validate_bureau_id(body["bureau_id"])
        reply_hash, signature = body["reply_hash"], body["signature"]
        if (signature is None) != (event in SERVER_RECORDED):
            who = "the server records it unsigned" if event in SERVER_RECORDED else "signed"
            raise SchemaViolation(f"log entry: a {event.value} event is {who}")
        return cls(
            petition_id=validate_petition_id(body["petition_id"]),
            bureau_id=bureau_id,
            envelope_hash=cjson.b64decode(
                body["envelope_hash"], field="envelope_hash", length=HASH_SIZE
            ),
            event=event,
            day=parse_day(body["day"]),
            detail=Detail.from_json(event, body["detail"]),
            reply_hash=None
            if reply_hash is None
            else cjson.b64decode(reply_hash, field="reply_hash", length=HASH_SIZE),
            signature=None
            if signature is None
            else cjson.b64decode(signature, field="signature", length=SIGNATURE_LENGTH),
        )

    @classmethod
    def from_leaf(cls, leaf: bytes) -> LogEntry:
        return cls.from_json(cjson.decode_object(leaf))


def _version(value: Any) -> None:
    if type(value) is not int:
        raise MalformedInput("log entry: the version must be an integer")
    if value != ENTRY_VERSION:
        raise UnsupportedVersion(
            f"log entry: version {str(value)[:20]} is not supported (entry version {ENTRY_VERSION})"
        )


def sign_entry(entry: LogEntry, key: SigningKey) -> LogEntry:
    """The entry with the recording bureau's signature (never for server-recorded events)."""
    if not entry.signed:
        raise MalformedInput(f"a {entry.event.value} entry is recorded by the server, unsigned")
    return replace(entry, signature=key.sign(entry.signing_message()))


def verify_entry_signature(entry: LogEntry, key_of: Callable[[str], VerifyKey | None]) -> None:
    """Check that a bureau-recorded entry is signed by its bureau's directory signing key.

    ``key_of`` maps a bureau id to its signing key in the trusted directory (``None`` for a
    bureau the directory does not list). Server-recorded entries pass unchanged: what vouches
    for them is the checkpoint that commits to them.
    """
    if not entry.signed:
        if entry.signature is not None:
            raise InvalidSignature(f"a {entry.event.value} entry carries no bureau signature")
        return
    if entry.signature is None:
        raise InvalidSignature(f"this {entry.event.value} entry is not signed by its bureau")
    key = key_of(entry.bureau_id)
    if key is None:
        raise InvalidSignature(f"bureau {entry.bureau_id!r} is not in the directory")
    key.verify(entry.signature, entry.signing_message())


def same_event(a: LogEntry, b: LogEntry) -> bool:
    """Whether two entries record the same thing (the server's idempotent retry check)."""
    return hmac.compare_digest(a.leaf(), b.leaf())


def review_request(entries: Sequence[LogEntry], handler: str) -> tuple[Event, str]:
    """Which request the petitioner's next one to the next level is, and the bureau whose
    answer it contests (protocol §15.5; the server and the petitioner's device both ask this).

    A first request is a review (Art. 35) of the written answer: the bureau that recorded the
    last ``decided``, or, with no answer and a duty overdue, the bureau handling the case. Once
    a review was asked, a further request can only be a re-review (Art. 36): of the last review
    opinion (``reviewed``), or, if the reviewer let its 30 days pass, of the reviewer that is
    handling the case. The next level is the contested bureau's parent in the directory.
    """
    asked = any(e.event in (Event.REVIEW_REQUESTED, Event.REVIEWED) for e in entries)
    event = Event.RE_REVIEW_REQUESTED if asked else Event.REVIEW_REQUESTED
    answered = Event.REVIEWED if asked else Event.DECIDED
    by = [e.bureau_id for e in entries if e.event is answered]
    return event, by[-1] if by else handler


def to_step(entry: LogEntry) -> Step:
    """The statutory clock's view of an entry: the event and day (and an extension's terms)."""
    if entry.event is Event.EXTENDED:
        days, reason = entry.detail.days, entry.detail.reason
        if days is None or reason is None:  # excluded by the constructor's detail check
            raise MalformedInput("an extension needs its days and reason")
        return Step(entry.event, entry.day, days, reason.value)
    return Step(entry.event, entry.day)
