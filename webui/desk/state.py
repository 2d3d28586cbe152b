"""What the desk holds while it runs: the unlocked keys, the server session, the worklist, the
browser sessions and their one-time results, all in memory and nothing else.

The keystore is unlocked once, when ``petition bureau ui`` starts; its keys stay in this
process until it stops. Decrypted case facts (category, region, pseudonym, subject) live only
in the worklist (client/desk_worklist.py); the case text and attachments are decrypted again
for each page that shows them and are never cached, let alone written: the only way plaintext
reaches the disk is an attachment the reviewer chooses to download.

One lock (:attr:`DeskState.network`) serialises every call of the :class:`BureauDesk`: the
background thread that reads the inbox and opens cases, and the requests of the reviewer's
browser, share one server session whose directory cache is not meant for concurrent use.
"""

from __future__ import annotations

import gettext
import secrets
import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from cli_support.i18n import _
from client.bureau import BureauDesk, OpenedCase
from client.desk_worklist import CaseFacts, Worklist, sync
from client.session import Session
from crypto.case_event import Detail
from crypto.errors import SealedPetitionError
from crypto.statutory import Event
from webui import i18n, security

MAX_SESSIONS = 8
MAX_ONCE = 16  # one-time results waiting for the page after a redirect
MAX_PENDING = 16  # actions waiting for their confirmation, per session
#: Cases opened per round of the background thread before it looks at the inbox again.
OPEN_BATCH = 20
#: Seconds between two readings of the inbox when nothing else wakes the background thread.
SYNC_INTERVAL = 60.0
ID_BYTES = 24


def new_id() -> str:
    """An unguessable identifier for a session, a one-time result or a pending action."""
    return secrets.token_urlsafe(ID_BYTES)


def today() -> date:
    """The statutory clock counts days in UTC, as the entries' days are written."""
    return datetime.now(UTC).date()


@dataclass(frozen=True)
class Message:
    """A sentence to show after a redirect: a catalog msgid and its values, translated when
    the page is rendered (the reviewer may switch the language in between)."""

    msgid: str
    values: tuple[tuple[str, str], ...] = ()

    def text(self, t: i18n.Translator) -> str:
        return t.gettext(self.msgid, **dict(self.values))


@dataclass(frozen=True)
class ActionInput:
    """What the reviewer typed into one action's form, kept in memory when the form must be
    shown again (an error), so that a written answer is never lost and never put in a URL."""

    action: str
    to: str = ""
    days: str = ""
    reason: str = ""
    outcome: str = ""
    message: str = field(default="", repr=False)


@dataclass(frozen=True)
class PendingAction:
    """A checked action waiting for the reviewer's confirmation on the confirm page."""

    pending_id: str
    number: int
    petition_id: str
    event: Event
    detail: Detail
    message: str | None = field(repr=False)
    typed: ActionInput = field(repr=False)


@dataclass(frozen=True)
class CaseNotice:
    """What the case page shows once after a redirect: a result, a form's error with the typed
    text, or the identity the reviewer asked to see."""

    number: int
    results: tuple[Message, ...] = ()
    error: Message | None = None
    typed: ActionInput | None = None
    show_identity: bool = False


@dataclass
class DeskSession:
    """One browser's session: its language, its one-time results, its pending actions."""

    session_id: str
    lang: str | None = None
    once: OrderedDict[str, CaseNotice] = field(default_factory=OrderedDict)
    pending: OrderedDict[str, PendingAction] = field(default_factory=OrderedDict)

    def leave(self, notice: CaseNotice) -> str:
        """Keep ``notice`` for the next page; returns the id the redirect names."""
        once_id = new_id()
        self.once[once_id] = notice
        while len(self.once) > MAX_ONCE:
            self.once.popitem(last=False)
        return once_id

    def take(self, once_id: str) -> CaseNotice | None:
        return self.once.pop(once_id, None)

    def hold(self, pending: PendingAction) -> None:
        self.pending[pending.pending_id] = pending
        while len(self.pending) > MAX_PENDING:
            self.pending.popitem(last=False)


@dataclass
class DeskState:
    """Everything one launch of the desk holds (docs/bureau-ui.md, "What is kept where")."""

    desk: BureauDesk
    worklist: Worklist
    secrets: security.LaunchSecrets = field(default_factory=security.LaunchSecrets)
    translations: dict[str, gettext.GNUTranslations] = field(default_factory=i18n.load_translations)
    port: int = 0  # set once the listening socket is bound
    #: Held around every call of :attr:`desk` (see the module's docstring).
    network: threading.RLock = field(default_factory=threading.RLock)
    #: Every time the identity of a petition was shown on this desk (petition id -> times).
    reveals: dict[str, list[datetime]] = field(default_factory=dict)
    #: The last failure of the background thread, for the worklist page (None: all well).
    sync_problem: str | None = None
    _sessions: OrderedDict[str, DeskSession] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _wake: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def session(self) -> Session:
        return self.desk.session

    def launch_url(self) -> str:
        return (
            f"http://127.0.0.1:{self.port}/?{security.LAUNCH_PARAMETER}={self.secrets.launch_key}"
        )

    # --- browser sessions ---------------------------------------------------------------------

    def open_session(self) -> DeskSession:
        with self._lock:
            opened = DeskSession(new_id())
            self._sessions[opened.session_id] = opened
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
            return opened

    def find_session(self, session_id: str) -> DeskSession | None:
        with self._lock:
            for known, session in self._sessions.items():
                if secrets.compare_digest(known.encode(), session_id.encode()):
                    return session
            return None

    # --- identity reveals ---------------------------------------------------------------------

    def note_reveal(self, petition_id: str) -> int:
        """Count one showing of ``petition_id``'s identity; returns how many so far."""
        with self._lock:
            times = self.reveals.setdefault(petition_id, [])
            times.append(datetime.now(UTC))
            return len(times)

    def reveal_count(self, petition_id: str) -> int:
        with self._lock:
            return len(self.reveals.get(petition_id, ()))

    # --- the server, under the one lock -------------------------------------------------------

    def sync_now(self) -> int:
        """Read the whole inbox into the worklist (new petitions, new events)."""
        with self.network:
            self.worklist.set_today(today())
            return sync(self.desk, self.worklist)

    def open_case(self, petition_id: str) -> OpenedCase:
        """The petition as this keystore can see it, decrypted now (never cached)."""
        with self.network:
            if self.desk.keys.case is None:
                opened = self.desk.open_intake(petition_id)
            else:
                opened = self.desk.open_case(petition_id)
        self.worklist.set_events(petition_id, opened.stored.events)
        self._note_facts(opened)
        return opened

    def refresh(self, petition_id: str) -> None:
        """After an action: this petition's events as the server now has them."""
        with self.network:
            stored = self.desk.fetch(petition_id)
        self.worklist.set_events(petition_id, stored.events)
        self._wake.set()

    def moved_away(self, petition_id: str) -> None:
        """After a transfer or an assignment: the petition is no longer this bureau's to work,
        so it leaves the worklist now (the next inbox read would drop it too)."""
        self.worklist.remove(petition_id)
        self._wake.set()

    def _note_facts(self, opened: OpenedCase) -> None:
        case = opened.case
        if case is None:  # does not open: known as opened, with nothing to filter by
            facts = CaseFacts("", "", opened.pseudonym, "")
        else:
            facts = CaseFacts(case.category, case.region, opened.pseudonym, case.subject)
        self.worklist.set_facts(opened.stored.petition_id, facts)

    # --- the background thread ----------------------------------------------------------------

    def start(self) -> None:
        """Start the thread that keeps the worklist current and fills in its case facts."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="desk-sync", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread, close the server session and forget every session and reveal."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._lock:
            self._sessions.clear()
            self.reveals.clear()
        self.session.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._open_some()
                if self.desk.keys.case is None or not self.worklist.unopened(1):
                    self._wake.wait(SYNC_INTERVAL)
                    self._wake.clear()
                    if not self._stop.is_set():
                        self.sync_now()
                self.sync_problem = None
            except Exception as exc:  # the thread must outlive any failure
                # One line for the terminal (never a value of a petition); the page says it too.
                code = exc.code if isinstance(exc, SealedPetitionError) else type(exc).__name__
                self.sync_problem = code
                print(_("petition bureau ui: the inbox could not be read (%(code)s)", code=code),
                      file=sys.stderr, flush=True)  # fmt: skip
                self._wake.wait(SYNC_INTERVAL)
                self._wake.clear()

    def _open_some(self) -> None:
        """Open a batch of cases not yet opened, so that filters by category, region and
        pseudonym find them (the case key is needed; an intake keystore has none)."""
        if self.desk.keys.case is None:
            return
        for petition_id in self.worklist.unopened(OPEN_BATCH):
            if self._stop.is_set():
                return
            try:
                self.open_case(petition_id)
            except SealedPetitionError as exc:
                # An altered or unopenable record stays in the list, without facts.
                self.worklist.set_facts(petition_id, CaseFacts("", "", None, ""))
                failed = _("petition bureau ui: a petition could not be opened (%(code)s)",
                           code=exc.code)  # fmt: skip
                print(failed, file=sys.stderr, flush=True)
