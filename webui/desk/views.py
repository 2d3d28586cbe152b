"""The desk's pages: the worklist, one case, its actions and their confirmation.

Each view calls client/bureau.py (through :class:`~webui.desk.state.DeskState`) for the logic
and only turns results and failures into pages. Every POST is answered by a redirect (303),
errors included; what the page after the redirect shows (a result, a form's error with the
text the reviewer typed, the identity asked for) is left in the session's memory under a
one-time id, never in a URL. An action is recorded only from its confirm page, which shows
exactly what will become public in the log.

Petitions are addressed by the desk's short number (``/case/2``); the 32-hex id is shown but
never needed. The identity is shown only to a keystore that holds the identity key, only after
an explicit request (a POST), and every showing is counted on the case page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from flask import Blueprint, redirect, render_template, request
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response

from cli_support.messages import EVENT_TEXT, OUTCOME_TEXT, REASON_TEXT, article_text
from client.bureau import MOVES_THE_CASE, Art30Refusal, OpenedCase
from client.desk_worklist import WorkItem, WorklistQuery
from client.errors import ServerBusy, ServerRefused, ServerUnreachable
from client.routing import names_destination
from crypto.case_event import (
    OUTCOMES,
    ROUTING,
    DecisionOutcome,
    Detail,
    ExtensionReason,
    ReviewOutcome,
)
from crypto.document import IdentityDocument, WithheldIdentity
from crypto.errors import MissingKey, SealedPetitionError
from crypto.objects import Directory
from crypto.statutory import MAX_EXTENSION_DAYS, ClockStatus, Event
from webui.desk.app import current_session, refusal_page, state, translator
from webui.desk.state import ActionInput, CaseNotice, Message, PendingAction, new_id, today
from webui.i18n import N_, Translator

desk_pages = Blueprint("desk", __name__, static_folder="static", static_url_path="/desk-static")

ONCE = "once"
PER_PAGE = 50
#: The longest written answer the form takes (a reply is sealed in at most 256 KiB).
MAX_MESSAGE_CHARS = 50_000
SUBJECT_CHARS = 40

#: What each statutory deadline asks of the bureau (crypto.statutory's codes).
DUTY_TEXT = {
    "acknowledge": N_("Acknowledge, forward or answer"),
    "object_not_competent": N_("Object if not competent"),
    "decide": N_("Decide: the written answer"),
    "decide_extended": N_("Decide: the written answer (extended)"),
    "answer_review": N_("Answer the review"),
    "answer_re_review": N_("Answer the re-review"),
    "request_review": N_("The petitioner may ask for a review"),
    "request_re_review": N_("The petitioner may ask for a re-review"),
}
#: Plurals: (singular, plural). Only the singular is marked: it is the catalog entry's id, and
#: tests/ui/test_catalogs.py checks marked messages one by one, not as plural pairs.
DAYS_LEFT = (N_("%(num)s day left"), "%(num)s days left")
DAYS_PAST = (N_("%(num)s day past"), "%(num)s days past")
MATCHING = (N_("%(num)s petition matches."), "%(num)s petitions match.")
REVEALS = (
    N_("The identity was shown on this desk %(num)s time."),
    "The identity was shown on this desk %(num)s times.",
)
NOTHING_DUE = N_("Nothing due")
IMPOSSIBLE = N_("Impossible history")


@dataclass(frozen=True)
class ActionSpec:
    """One action of the case page: the event it records and what its form asks."""

    name: str
    event: Event
    title: str
    explain: str
    message_required: bool = False


ACTIONS: dict[str, ActionSpec] = {
    spec.name: spec
    for spec in (
        ActionSpec(
            "acknowledge",
            Event.ACKNOWLEDGED,
            N_("Acknowledge"),
            N_(
                "The written notice that this bureau took the petition up (Art. 23, within 15 "
                "days of receipt); the 60 days to decide start."
            ),
        ),
        ActionSpec(
            "not_competent",
            Event.NOT_COMPETENT,
            N_("Not competent"),
            N_(
                "The matter is outside this bureau's powers: name the competent bureau. The "
                "case stays here until it is transferred."
            ),
        ),
        ActionSpec(
            "transfer",
            Event.TRANSFERRED,
            N_("Transfer"),
            N_(
                "The case is sealed again for the receiving bureau. A transfer to the body the "
                "petitioner complains about, or to one below it, is refused (Art. 30)."
            ),
        ),
        ActionSpec(
            "assign",
            Event.ASSIGNED,
            N_("Assign"),
            N_(
                "Assign the case to a body below, which handles it and reports back (Art. 22). "
                "As for a transfer, the case is sealed again for it, and the body the "
                "petitioner complains about, or one below it, is refused (Art. 30)."
            ),
        ),
        ActionSpec(
            "extend",
            Event.EXTENDED,
            N_("Extend"),
            N_(
                "Extend the 60 days once, by at most 30 days (Art. 34). The reason category is "
                "public; tell the petitioner the full reason in the message."
            ),
        ),
        ActionSpec(
            "decide",
            Event.DECIDED,
            N_("Decide"),
            N_(
                "The written answer (Arts. 32, 34). Its outcome category is public; the answer "
                "itself is sealed to the petitioner."
            ),
            message_required=True,
        ),
        ActionSpec(
            "reviewed",
            Event.REVIEWED,
            N_("Review opinion"),
            N_("This bureau's review opinion on the answer of the body below (Art. 35)."),
            message_required=True,
        ),
        ActionSpec(
            "re_reviewed",
            Event.RE_REVIEWED,
            N_("Re-review opinion"),
            N_("This bureau's re-review opinion (Art. 36); after it the matter is final."),
            message_required=True,
        ),
        ActionSpec(
            "close",
            Event.CLOSED,
            N_("Close"),
            N_("Close the case. Closing ends no time limit: a deadline missed stays missed."),
        ),
    )
}

# --- the messages of forms and results ------------------------------------------------------
CHOOSE_BUREAU = N_("Choose a bureau from the directory.")
OWN_BUREAU = N_("A case goes to another bureau, not to this one.")
DAYS_RANGE = N_("Enter a number of days from 1 to %(max)s.")
CHOOSE_REASON = N_("Choose the reason category.")
CHOOSE_OUTCOME = N_("Choose the outcome.")
WRITE_ANSWER = N_("Write the answer to the petitioner.")
TOO_LONG = N_("The message is longer than %(max)s characters.")
NO_CASE_KEY = N_(
    "This keystore holds no case key: a message or a transfer cannot be sealed with it."
)
ART30 = N_(
    "Refused (Regulations Art. 30): the petitioner complains about %(bureau)s; the case may "
    "not go to it or to a body below it."
)
RECORDED = N_("Recorded: %(event)s. Public log entry %(index)s.")
RECORDED_WITH_MESSAGE = N_(
    "Recorded: %(event)s, with the message sealed to the petitioner. Public log entry %(index)s."
)
IDENTITY_WENT = N_("The case and the identity went to %(bureau)s (the petitioner consented).")
IDENTITY_STAYED = N_(
    "The case went to %(bureau)s; the identity stayed here, so that bureau works by pseudonym."
)
SERVER_REFUSED = N_("The server refused this action (%(code)s). Nothing was recorded.")
UNREACHABLE = N_("The server cannot be reached now. Nothing was recorded; try again shortly.")
NOT_RECORDED = N_("This action could not be recorded (%(code)s). Nothing was recorded.")
MISSING_KEY = N_("This keystore lacks a key this action needs. Nothing was recorded.")
PROOF_VERIFIED = N_(
    "Verified in the public log: %(event)s on %(day)s by %(bureau)s (log entry %(index)s of "
    "%(size)s)."
)
PROOF_FAILED = N_(
    "This log proof does NOT verify: what the petitioner contests cannot be confirmed from it."
)
CONFIRM_GONE = N_("This confirmation is no longer open. Nothing was recorded; start again.")


def _ask(msgid: str, **values: object) -> Message:
    return Message(msgid, tuple((k, str(v)) for k, v in values.items()))


# --- the worklist ---------------------------------------------------------------------------


def _days_text(t: Translator, days_left: int | None) -> str:
    if days_left is None:
        return ""
    if days_left < 0:
        return t.ngettext(*DAYS_PAST, -days_left)
    if days_left == 0:
        return t.gettext("due today")
    return t.ngettext(*DAYS_LEFT, days_left)


def _duty_text(t: Translator, item: WorkItem) -> str:
    if item.clock is None:
        return t.gettext(IMPOSSIBLE)
    deadline = item.clock.deadline
    if deadline is None or item.clock.days_left is None:
        return t.gettext(NOTHING_DUE)
    return t.gettext(DUTY_TEXT.get(deadline.what, NOTHING_DUE))


def _event_text(t: Translator, value: str) -> str:
    return t.gettext(EVENT_TEXT[value]) if value in EVENT_TEXT else value


def _row(t: Translator, item: WorkItem) -> dict[str, Any]:
    facts = item.facts
    subject = facts.subject if facts is not None else ""
    if len(subject) > SUBJECT_CHARS:
        subject = subject[: SUBJECT_CHARS - 1] + "…"
    return {
        "number": item.number,
        "petition_id": item.petition_id,
        "duty": _duty_text(t, item),
        "duty_code": item.duty or "",
        "days": _days_text(t, item.days_left) if item.clock is not None else "",
        "overdue": item.overdue,
        "latest": _event_text(t, item.latest),
        "opened": facts is not None,
        "category": facts.category if facts is not None else "",
        "region": facts.region if facts is not None else "",
        "pseudonym": (facts.pseudonym or "") if facts is not None else "",
        "subject": subject,
    }


def _choice(name: str, allowed: tuple[str, ...] | None = None) -> str | None:
    value = request.args.get(name, "").strip()
    if not value or (allowed is not None and value not in allowed):
        return None
    return value


def _page_number() -> int:
    try:
        return max(1, int(request.args.get("page", "1")))
    except ValueError:
        return 1


@desk_pages.get("/")
def worklist() -> str:
    t = translator()
    desk = state()
    query = WorklistQuery(
        status=_choice("status", tuple(EVENT_TEXT)),
        category=_choice("category"),
        region=_choice("region"),
        pseudonym=_choice("pseudonym"),
        page=_page_number(),
        per_page=PER_PAGE,
    )
    found = desk.worklist.page(query)
    notice = current_session().take(request.args.get(ONCE, "")) if ONCE in request.args else None
    filters = {
        key: value
        for key, value in (
            ("status", query.status),
            ("category", query.category),
            ("region", query.region),
            ("pseudonym", query.pseudonym),
        )
        if value is not None
    }

    def page_url(number: int) -> str:
        return "/?" + urlencode({**filters, "page": str(number)})

    counts = found.counts
    return render_template(
        "worklist.html",
        rows=[_row(t, item) for item in found.items],
        counts=counts,
        by_duty=[
            (t.gettext(DUTY_TEXT.get(code, NOTHING_DUE)), n)
            for code, n in sorted(counts.by_duty.items())
        ],
        statuses=[(value, t.gettext(text)) for value, text in EVENT_TEXT.items()],
        categories=[c for c in found.categories if c],
        regions=[r for r in found.regions if r],
        query=query,
        matching=t.ngettext(*MATCHING, found.matching),
        page=found.page,
        pages=found.pages,
        previous_url=page_url(found.page - 1) if found.page > 1 else None,
        next_url=page_url(found.page + 1) if found.page < found.pages else None,
        filtered=bool(filters),
        sync_problem=desk.sync_problem,
        results=[message.text(t) for message in notice.results] if notice is not None else [],
        today=t.day(today().isoformat()),
    )


# --- one case -------------------------------------------------------------------------------


def _item(number: int) -> WorkItem:
    try:
        return state().worklist.by_number(number)
    except KeyError:
        raise NotFound from None


def _directory() -> Directory:
    desk = state()
    with desk.network:
        return desk.session.directory()


def _bureau_name(directory: Directory, bureau_id: str) -> str:
    for bundle in directory.bureaus:
        if bundle.bureau_id == bureau_id:
            return f"{bundle.name} ({bundle.bureau_id})"
    return bureau_id


def _detail_lines(t: Translator, directory: Directory, detail: Detail) -> list[str]:
    lines = []
    if detail.to is not None:
        lines.append(t.gettext(N_("To: %(bureau)s"), bureau=_bureau_name(directory, detail.to)))
    if detail.days is not None and detail.reason is not None:
        reason = t.gettext(REASON_TEXT[detail.reason.value])
        lines.append(
            t.gettext(N_("Extended by %(days)s days: %(reason)s"), days=detail.days, reason=reason)
        )
    if detail.outcome is not None:
        outcome = t.gettext(OUTCOME_TEXT[detail.outcome.value])
        lines.append(t.gettext(N_("Outcome: %(outcome)s"), outcome=outcome))
    return lines


def _clock_view(t: Translator, clock: ClockStatus | None, problem: str | None) -> dict[str, Any]:
    if clock is None:
        return {"impossible": problem or "", "deadline": None}
    deadline = clock.deadline
    if deadline is None:
        return {"impossible": "", "deadline": None}
    return {
        "impossible": "",
        "deadline": {
            "what": t.gettext(DUTY_TEXT.get(deadline.what, NOTHING_DUE)),
            "due": t.day(deadline.due.isoformat()),
            "days": _days_text(t, clock.days_left),
            "overdue": clock.overdue,
            "article": article_text(deadline.article, t),
        },
    }


def _identity_view(opened: OpenedCase) -> dict[str, Any] | None:
    """The identity's fields, for a page that the reviewer asked to show it on (only then)."""
    identity = opened.identity
    if not isinstance(identity, IdentityDocument):
        return None
    return {
        "name": identity.real_name,
        "id_number": identity.id_number,
        "contact": identity.contact,
        "may_contact": identity.consent.contact,
        "share_on_transfer": identity.consent.share_identity_on_transfer,
    }


def _consent_on_transfer(opened: OpenedCase) -> bool | None:
    """Whether the identity goes along on a transfer: None when this keystore cannot tell
    (no identity key: then it cannot send the identity either)."""
    identity = opened.identity
    if isinstance(identity, IdentityDocument) and state().desk.keys.identity is not None:
        return identity.consent.share_identity_on_transfer
    return None


def _open(number: int) -> tuple[WorkItem, OpenedCase]:
    item = _item(number)
    opened = state().open_case(item.petition_id)
    return state().worklist.by_number(number), opened


@desk_pages.get("/case/<int:number>")
def case(number: int) -> str:
    t = translator()
    desk = state()
    session = current_session()
    notice = session.take(request.args.get(ONCE, "")) if ONCE in request.args else None
    if notice is not None and notice.number != number:
        notice = None
    item, opened = _open(number)
    directory = _directory()
    typed = notice.typed if notice is not None else None
    editing = request.args.get("edit", "")
    if typed is None and editing in session.pending:
        typed = session.pending[editing].typed
    keys = desk.desk.keys
    pseudonym = opened.pseudonym
    others = []
    if pseudonym is not None:
        others = [other for other in desk.worklist.same_person(pseudonym) if other.number != number]
    events = [
        {
            "index": index + 1,  # read by people: the first entry is entry 1
            "day": t.day(entry.day.isoformat()),
            "event": _event_text(t, entry.event.value),
            "bureau": _bureau_name(directory, entry.bureau_id),
            "details": _detail_lines(t, directory, entry.detail),
            "message": entry.reply_hash is not None,
        }
        for index, entry in opened.stored.events
    ]
    with desk.network:
        checked = desk.desk.check_log_proofs(opened)
    proofs = []
    for proof in checked:
        if proof.receipt is None:
            proofs.append({"name": proof.name, "ok": False, "text": t.gettext(PROOF_FAILED)})
            continue
        entry = proof.receipt.entry
        proofs.append({
            "name": proof.name,
            "ok": True,
            "text": t.gettext(
                PROOF_VERIFIED,
                event=_event_text(t, entry.event.value),
                day=t.day(entry.day.isoformat()),
                bureau=_bureau_name(directory, entry.bureau_id),
                index=proof.receipt.index + 1,
                size=proof.receipt.checkpoint.size,
            ),
        })  # fmt: skip
    show_identity = (
        notice is not None and notice.show_identity and keys.identity is not None
    )  # the identity is put on the page only right after the reviewer asked for it
    return render_template(
        "case.html",
        number=number,
        item=item,
        opened=opened,
        case=opened.case,
        attachments=[
            {"index": i, "name": a.name, "media_type": a.media_type, "size": t.size(len(a.data))}
            for i, a in enumerate(opened.case.attachments if opened.case is not None else ())
        ],
        withheld=isinstance(opened.identity, WithheldIdentity),
        pseudonym=pseudonym,
        others=others,
        events=events,
        proofs=proofs,
        clock=_clock_view(t, item.clock, item.problem),
        has_identity_key=keys.identity is not None,
        has_case_key=keys.case is not None,
        identity=_identity_view(opened) if show_identity else None,
        reveals=t.ngettext(*REVEALS, desk.reveal_count(opened.stored.petition_id)),
        consent=_consent_on_transfer(opened),
        results=[message.text(t) for message in notice.results] if notice is not None else [],
        error=notice.error.text(t) if notice is not None and notice.error else "",
        typed=typed,
        actions=list(ACTIONS.values()),
        bureaus=[(b.bureau_id, b.name) for b in directory.bureaus if b.bureau_id != keys.bureau_id],
        reasons=[(r.value, t.gettext(REASON_TEXT[r.value])) for r in ExtensionReason],
        decision_outcomes=[(o.value, t.gettext(OUTCOME_TEXT[o.value])) for o in DecisionOutcome],
        review_outcomes=[(o.value, t.gettext(OUTCOME_TEXT[o.value])) for o in ReviewOutcome],
        max_days=MAX_EXTENSION_DAYS,
        max_message=MAX_MESSAGE_CHARS,
    )


@desk_pages.get("/case/<int:number>/attachment/<int:index>")
def attachment(number: int, index: int) -> Response:
    """One attachment as a download: the only way a petition's plaintext reaches the disk,
    when the reviewer chooses to save it. Never shown inline (no sniffing, no rendering)."""
    _, opened = _open(number)
    attachments = opened.case.attachments if opened.case is not None else ()
    if not 0 <= index < len(attachments):
        raise NotFound
    chosen = attachments[index]
    fallback = "attachment-" + str(index + 1)
    disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(chosen.name)}"
    return Response(
        chosen.data,
        mimetype="application/octet-stream",
        headers={"Content-Disposition": disposition},
    )


@desk_pages.post("/case/<int:number>/identity")
def show_identity(number: int) -> Response:
    """Show the identity once, on the next page; every showing is counted on the case page."""
    item = _item(number)
    desk = state()
    if desk.desk.keys.identity is None:
        return redirect(f"/case/{number}", code=303)
    desk.note_reveal(item.petition_id)
    once = current_session().leave(CaseNotice(number, show_identity=True))
    return redirect(f"/case/{number}?{ONCE}={once}#identity", code=303)


# --- actions --------------------------------------------------------------------------------


def _typed(spec: ActionSpec) -> ActionInput:
    form = request.form
    return ActionInput(
        action=spec.name,
        to=form.get("to", "").strip().lower(),
        days=form.get("days", "").strip(),
        reason=form.get("reason", "").strip(),
        outcome=form.get("outcome", "").strip(),
        message=form.get("message", "").replace("\r\n", "\n"),
    )


def _back_to_form(number: int, typed: ActionInput, error: Message) -> Response:
    once = current_session().leave(CaseNotice(number, error=error, typed=typed))
    return redirect(f"/case/{number}?{ONCE}={once}#action-{typed.action}", code=303)


def _detail(spec: ActionSpec, typed: ActionInput) -> Detail | Message:
    """The public detail of the entry, or why the form cannot make one."""
    event = spec.event
    desk = state()
    if event in ROUTING:
        if typed.to == desk.desk.keys.bureau_id:
            return _ask(OWN_BUREAU)
        if typed.to not in {b.bureau_id for b in _directory().bureaus}:
            return _ask(CHOOSE_BUREAU)
        return Detail(to=typed.to)
    if event is Event.EXTENDED:
        try:
            days = int(typed.days)
        except ValueError:
            days = 0
        if not 1 <= days <= MAX_EXTENSION_DAYS:
            return _ask(DAYS_RANGE, max=MAX_EXTENSION_DAYS)
        reasons = {r.value: r for r in ExtensionReason}
        if typed.reason not in reasons:
            return _ask(CHOOSE_REASON)
        return Detail(days=days, reason=reasons[typed.reason])
    if event in OUTCOMES:
        outcomes = {o.value: o for o in OUTCOMES[event]}
        if typed.outcome not in outcomes:
            return _ask(CHOOSE_OUTCOME)
        return Detail(outcome=outcomes[typed.outcome])
    return Detail()


@desk_pages.post("/case/<int:number>/prepare")
def prepare(number: int) -> Response:
    """Check an action's form; on success, hold it and show what will become public."""
    item = _item(number)
    spec = ACTIONS.get(request.form.get("action", ""))
    if spec is None:
        raise NotFound
    typed = _typed(spec)
    desk = state()
    detail = _detail(spec, typed)
    if isinstance(detail, Message):
        return _back_to_form(number, typed, detail)
    message = typed.message.strip() or None
    if spec.message_required and message is None:
        return _back_to_form(number, typed, _ask(WRITE_ANSWER))
    if message is not None and len(message) > MAX_MESSAGE_CHARS:
        return _back_to_form(number, typed, _ask(TOO_LONG, max=MAX_MESSAGE_CHARS))
    if (message is not None or spec.event in MOVES_THE_CASE) and (desk.desk.keys.case is None):
        return _back_to_form(number, typed, _ask(NO_CASE_KEY))
    if spec.event in MOVES_THE_CASE and detail.to is not None:
        refusal = _art30(item.petition_id, detail.to)
        if refusal is not None:
            return _back_to_form(number, typed, refusal)
    pending = PendingAction(new_id(), number, item.petition_id, spec.event, detail, message, typed)
    current_session().hold(pending)
    return redirect(f"/case/{number}/confirm/{pending.pending_id}", code=303)


def _art30(petition_id: str, to: str) -> Message | None:
    """Art. 30 checked before the confirm page: the body complained about, or one above it."""
    opened = state().open_case(petition_id)
    if opened.case is None:
        return None
    directory = _directory()
    named = names_destination(directory, opened.case.respondent, state().desk.keys.bureau_id, to)
    if named is None:
        return None
    return _ask(ART30, bureau=_bureau_name(directory, named))


def _pending(number: int, pending_id: str) -> PendingAction | None:
    pending = current_session().pending.get(pending_id)
    return pending if pending is not None and pending.number == number else None


@desk_pages.get("/case/<int:number>/confirm/<pending_id>")
def confirm_page(number: int, pending_id: str) -> Response | str:
    t = translator()
    pending = _pending(number, pending_id)
    if pending is None:
        return refusal_page("404")
    directory = _directory()
    spec = ACTIONS[pending.typed.action]
    consent: bool | None = None
    moves = pending.event in MOVES_THE_CASE  # a transfer or an assignment
    if moves:
        consent = _consent_on_transfer(state().open_case(pending.petition_id))
    return render_template(
        "confirm.html",
        number=number,
        pending=pending,
        spec=spec,
        event_text=_event_text(t, pending.event.value),
        details=_detail_lines(t, directory, pending.detail),
        day=t.day(today().isoformat()),
        bureau=_bureau_name(directory, state().desk.keys.bureau_id),
        transfer=moves,
        consent=consent,
    )


@desk_pages.post("/case/<int:number>/confirm/<pending_id>")
def confirm(number: int, pending_id: str) -> Response:
    """Record the held action, signed, and go back to the case with the result."""
    session = current_session()
    pending = _pending(number, pending_id)
    if pending is None:
        once = session.leave(CaseNotice(number, error=_ask(CONFIRM_GONE)))
        return redirect(f"/case/{number}?{ONCE}={once}", code=303)
    desk = state()
    try:
        with desk.network:
            recorded = desk.desk.record(
                pending.petition_id, pending.event, detail=pending.detail, message=pending.message
            )
    except SealedPetitionError as exc:
        session.pending.pop(pending_id, None)
        return _back_to_form(number, pending.typed, _failure(exc, pending))
    session.pending.pop(pending_id, None)
    if pending.event in MOVES_THE_CASE:
        desk.moved_away(pending.petition_id)
    else:
        desk.refresh(pending.petition_id)
    event = _event_text(translator(), pending.event.value)
    said = RECORDED if recorded.entry.reply_hash is None else RECORDED_WITH_MESSAGE
    results = [_ask(said, event=event, index=recorded.leaf_index + 1)]  # entry 1 is the first
    if recorded.identity_shared is not None and pending.detail.to is not None:
        went = IDENTITY_WENT if recorded.identity_shared else IDENTITY_STAYED
        results.append(_ask(went, bureau=_bureau_name(_directory(), pending.detail.to)))
    once = session.leave(CaseNotice(number, results=tuple(results)))
    if pending.event in MOVES_THE_CASE:  # the case left this bureau's inbox: back to the list
        return redirect(f"/?{ONCE}={once}", code=303)
    return redirect(f"/case/{number}?{ONCE}={once}", code=303)


def _failure(exc: SealedPetitionError, pending: PendingAction) -> Message:
    if isinstance(exc, Art30Refusal):
        return _ask(ART30, bureau=str(pending.detail.to))
    if isinstance(exc, ServerRefused):
        return _ask(SERVER_REFUSED, code=exc.server_code)
    if isinstance(exc, (ServerUnreachable, ServerBusy)):
        return _ask(UNREACHABLE)
    if isinstance(exc, MissingKey):
        return _ask(MISSING_KEY)
    return _ask(NOT_RECORDED, code=exc.code)


@desk_pages.get("/refused/<kind>")
def refused(kind: str) -> Response:
    return refusal_page(kind)
