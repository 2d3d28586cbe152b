"""What the UI remembers while it runs: browser sessions, drafts and fresh receipts, in memory.

Nothing here is ever written to disk. A draft keeps what the petitioner typed and the files
they attached, so that an error (a mistyped ID, an unreachable server) never costs them their
text; a kept receipt lets the receipt page be reloaded without submitting twice. Everything
is gone when ``petition ui`` stops. The sizes are bounded so that a forgotten tab cannot grow
the process without limit.

Every POST is answered by a redirect (docs/ui.md, "POST, then redirect"): what the page after
the redirect must show (inline errors, a status report, a receipt file, the receipt code) is
left here under a fresh one-time id that the redirect target names, and is dropped the first
time it is taken. The data itself never travels in a URL or a cookie.

In kiosk mode (webui/kiosk.py) :meth:`Store.wipe` drops everything between two petitioners.
"""

from __future__ import annotations

import gc
import hmac
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TypeVar

from client.petitioner import StatusReport, SubmissionResult
from crypto.document import Attachment
from crypto.receipt import ReceiptSecret

T = TypeVar("T")

MAX_SESSIONS = 8
MAX_DRAFTS = 5
MAX_RECEIPTS = 10
MAX_ONCE = 16  # one-time results waiting for the page after a redirect
ID_BYTES = 24


def new_id() -> str:
    """An unguessable identifier for a session, draft or receipt (URL-safe)."""
    return secrets.token_urlsafe(ID_BYTES)


@dataclass
class Draft:
    """A petition being written: the typed values and the attachments, bytes in memory."""

    draft_id: str
    bureau_id: str
    bureau_name: str
    identity_fingerprint: str
    case_fingerprint: str
    values: dict[str, str] = field(default_factory=dict)
    attachments: list[Attachment] = field(default_factory=list)


@dataclass(frozen=True)
class KeptReceipt:
    """A submission's result, kept so the receipt page survives a reload (never on disk)."""

    receipt_id: str
    result: SubmissionResult
    bureau_name: str
    #: The body complained about as typed in the petition: the status of this petition flags
    #: a transfer to it (Art. 30) without asking again. Memory only, like the rest.
    respondent: str = ""


@dataclass(frozen=True)
class KeptSealed:
    """A petition sealed for later delivery (kiosk mode): written to the queue folder, not sent.

    Only what its page shows is kept, in memory: the code never goes into the file.
    """

    sealed_id: str
    code: str = field(repr=False)
    petition_id: str
    bureau_name: str


@dataclass(frozen=True)
class WriteNotice:
    """Inline errors for the write page after a redirect (field name -> sentence)."""

    draft_id: str
    errors: dict[str, str]
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReviewNotice:
    """Why a submission failed, for the review page after a redirect."""

    draft_id: str
    error: str
    #: The server could not be reached: a kiosk with a queue offers to seal for later.
    unreachable: bool = False


@dataclass(frozen=True)
class SetupNotice:
    """What the setup page shows after a check that failed: the errors by field, and the
    address and fingerprint as entered (public values, from the poster), filled in again."""

    errors: dict[str, str]
    server: str
    fingerprint: str


@dataclass(frozen=True)
class CodeView:
    """Leave to show a receipt's code once: on the first view after the submission, or after
    the petitioner asked for it again."""

    receipt_id: str  # a kept receipt's id, or a kept sealed petition's (kiosk queue)


@dataclass(frozen=True)
class ReceiptNotice:
    """Why the receipt file was not made (passphrase too short or different)."""

    receipt_id: str
    error: str


@dataclass(frozen=True)
class ReceiptFile:
    """A sealed receipt file waiting for its one download."""

    receipt_id: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class StatusAnswer:
    """A status lookup's report, or why it failed, for the status page after a redirect."""

    report: StatusReport | None
    error: str | None
    status: int = 200


@dataclass
class UiSession:
    """One browser's state, found by the id in its cookie."""

    session_id: str
    lang: str | None = None  # None: follow the browser's Accept-Language
    drafts: OrderedDict[str, Draft] = field(default_factory=OrderedDict)
    receipts: OrderedDict[str, KeptReceipt] = field(default_factory=OrderedDict)
    submitted: dict[str, str] = field(default_factory=dict)  # draft id -> receipt id
    sealed: OrderedDict[str, KeptSealed] = field(default_factory=OrderedDict)  # kiosk queue
    queued: dict[str, str] = field(default_factory=dict)  # draft id -> sealed id
    in_flight: dict[str, threading.Event] = field(default_factory=dict)  # draft id -> done
    once: OrderedDict[str, object] = field(default_factory=OrderedDict)  # one-time results


class Store:
    """Every session of this launch; one lock, held only for short bookkeeping.

    The slow submission runs outside the lock; a draft being submitted is marked in flight so
    that a second click waits for the first submission instead of sealing the petition again.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._sessions: OrderedDict[str, UiSession] = OrderedDict()

    def open_session(self) -> UiSession:
        with self.lock:
            session = UiSession(new_id())
            self._sessions[session.session_id] = session
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
            return session

    def session(self, session_id: str) -> UiSession | None:
        with self.lock:
            return self._sessions.get(session_id)

    def count(self) -> int:
        """How many sessions are open (a kiosk's idle wipe leaves none)."""
        with self.lock:
            return len(self._sessions)

    def wipe(self) -> None:
        """Forget every session and everything in it: kiosk mode, between two petitioners.

        Every container is emptied as well as dropped, so that a request still running with
        a reference to an old session holds an empty shell, not the petition. Python cannot
        overwrite memory (strings are immutable and freed memory is not cleared): this makes
        everything unreachable and collects it now, which is as far as a Python process goes
        (docs/ui.md, "Kiosk mode").
        """
        with self.lock:
            for session in self._sessions.values():
                session.lang = None
                session.drafts.clear()
                session.receipts.clear()
                session.submitted.clear()
                session.sealed.clear()
                session.queued.clear()
                session.once.clear()
                # Wake a second click waiting on a submission; the submission itself then
                # finds its event gone and ends quietly (Store._landed).
                for event in session.in_flight.values():
                    event.set()
                session.in_flight.clear()
            self._sessions = OrderedDict()
        gc.collect()

    # -- drafts ---------------------------------------------------------------------------

    def new_draft(
        self,
        session: UiSession,
        bureau_id: str,
        name: str,
        identity_fingerprint: str,
        case_fingerprint: str,
    ) -> Draft:
        with self.lock:
            draft = Draft(new_id(), bureau_id, name, identity_fingerprint, case_fingerprint)
            session.drafts[draft.draft_id] = draft
            while len(session.drafts) > MAX_DRAFTS:
                session.drafts.popitem(last=False)
            return draft

    def draft(self, session: UiSession, draft_id: str) -> Draft | None:
        with self.lock:
            return session.drafts.get(draft_id)

    def take_for_submission(self, session: UiSession, draft_id: str) -> Draft | None:
        """Remove the draft while it is being submitted (a second click finds it in flight)."""
        with self.lock:
            draft = session.drafts.pop(draft_id, None)
            if draft is not None:
                session.in_flight[draft_id] = threading.Event()
            return draft

    def in_flight(self, session: UiSession, draft_id: str) -> threading.Event | None:
        with self.lock:
            return session.in_flight.get(draft_id)

    def submission_failed(self, session: UiSession, draft: Draft) -> None:
        """Put the draft back, untouched: the petitioner may try again."""
        with self.lock:
            session.drafts[draft.draft_id] = draft
            self._landed(session, draft.draft_id)

    def submission_done(
        self, session: UiSession, draft: Draft, result: SubmissionResult
    ) -> KeptReceipt:
        with self.lock:
            respondent = draft.values.get("respondent", "").strip()
            kept = KeptReceipt(new_id(), result, draft.bureau_name, respondent)
            session.receipts[kept.receipt_id] = kept
            while len(session.receipts) > MAX_RECEIPTS:
                session.receipts.popitem(last=False)
            session.submitted[draft.draft_id] = kept.receipt_id
            self._landed(session, draft.draft_id)
            return kept

    def sealing_done(self, session: UiSession, draft: Draft, kept: KeptSealed) -> None:
        """The draft was sealed into the queue: it is gone, its sealed petition is kept."""
        with self.lock:
            session.sealed[kept.sealed_id] = kept
            while len(session.sealed) > MAX_RECEIPTS:
                session.sealed.popitem(last=False)
            session.queued[draft.draft_id] = kept.sealed_id
            self._landed(session, draft.draft_id)

    @staticmethod
    def _landed(session: UiSession, draft_id: str) -> None:
        """The submission of ``draft_id`` ended: wake a second click waiting for it. (A kiosk's
        wipe may have dropped the event meanwhile and woken everyone already.)"""
        event = session.in_flight.pop(draft_id, None)
        if event is not None:
            event.set()

    def submitted_as(self, session: UiSession, draft_id: str) -> str | None:
        with self.lock:
            return session.submitted.get(draft_id)

    def queued_as(self, session: UiSession, draft_id: str) -> str | None:
        with self.lock:
            return session.queued.get(draft_id)

    def sealed(self, session: UiSession, sealed_id: str) -> KeptSealed | None:
        with self.lock:
            return session.sealed.get(sealed_id)

    # -- receipts -------------------------------------------------------------------------

    def receipt(self, session: UiSession, receipt_id: str) -> KeptReceipt | None:
        with self.lock:
            return session.receipts.get(receipt_id)

    def respondent_for(self, session: UiSession, secret: ReceiptSecret) -> str:
        """The body complained about in a petition submitted in this launch with this code."""
        with self.lock:
            for kept in session.receipts.values():
                code = ReceiptSecret.from_code(kept.result.code)
                if hmac.compare_digest(code.to_bytes(), secret.to_bytes()):
                    return kept.respondent
        return ""

    def forget_receipt(self, session: UiSession, receipt_id: str) -> None:
        with self.lock:
            session.receipts.pop(receipt_id, None)
            for draft_id, kept in list(session.submitted.items()):
                if kept == receipt_id:
                    del session.submitted[draft_id]

    # -- one-time results, for the page after a redirect -----------------------------------

    def leave(self, session: UiSession, value: object) -> str:
        """Keep ``value`` for the next page; return the one-time id its URL names."""
        with self.lock:
            once_id = new_id()
            session.once[once_id] = value
            while len(session.once) > MAX_ONCE:
                session.once.popitem(last=False)
            return once_id

    def take(self, session: UiSession, once_id: str | None, kind: type[T]) -> T | None:
        """The value left under ``once_id`` if it is a ``kind``, removed: shown once only."""
        if not once_id:
            return None
        with self.lock:
            value = session.once.get(once_id)
            if not isinstance(value, kind):
                return None
            del session.once[once_id]
            return value
