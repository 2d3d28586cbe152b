"""The pages: choose a bureau, write, review, submit, receipt, status; in kiosk mode also
start over and seal for later delivery (webui/kiosk.py, docs/ui.md "Kiosk mode").

Each view calls ``client.petitioner`` for the petition logic and only turns its results and
failures into pages. Every POST is answered by a redirect (303), errors included: a browser
keeps the body of a POST that was answered with a page in its session files, so that a reload
can send it again, and that body is the whole petition, the ID number or the receipt code
(docs/ui.md). What the page after the redirect shows is left in memory under a one-time id
(:meth:`webui.state.Store.leave`) and dropped once shown. A reload never submits twice.
"""

from __future__ import annotations

import base64
import shlex
from dataclasses import dataclass
from io import BytesIO
from typing import Any

import qrcode
from flask import Blueprint, current_app, redirect, render_template, request, url_for
from qrcode.image.pure import PyPNGImage
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response

from client.errors import (
    FingerprintMismatch,
    InvalidInput,
    NotInitialised,
    ServerBusy,
    ServerUnreachable,
    UnknownBureau,
)
from client.offline import offline_directory, seal_offline
from client.petitioner import (
    Progress,
    open_receipt,
    petition_status,
    seal_receipt,
    submit_petition,
)
from client.qr_transport import scan_image
from client.session import Session, pin_server
from client.transport import validate_server_url
from crypto.document import MAX_ATTACHMENTS
from crypto.errors import (
    InvalidIdNumber,
    MalformedInput,
    SchemaViolation,
    SealedPetitionError,
    TooLarge,
)
from crypto.keys import VerifyKey, format_fingerprint, parse_fingerprint
from crypto.keystore import MAX_KEYSTORE_BYTES, MIN_PASSPHRASE_CHARS
from crypto.objects import BureauBundle, Directory
from crypto.receipt import ReceiptSecret
from webui import forms, setup, timeline
from webui.app import CLEAR_SITE_DATA, current_session, fresh_session, runtime, translator
from webui.i18n import N_
from webui.kiosk import queue_sealed
from webui.messages import EVENT_TEXT, REPLY_PROBLEM_TEXT, describe
from webui.state import (
    CodeView,
    Draft,
    KeptReceipt,
    KeptSealed,
    ReceiptFile,
    ReceiptNotice,
    ReviewNotice,
    SetupNotice,
    StatusAnswer,
    WriteNotice,
    new_id,
)

pages = Blueprint("pages", __name__)

PASSPHRASE_TOO_SHORT = N_("The passphrase needs at least %(min)s characters.")
PASSPHRASES_DIFFER = N_("The two passphrases differ.")
CODE_OR_FILE = N_("Enter a receipt code, or choose a saved receipt file and its passphrase.")
ID_NOT_REFILLED = N_("For your safety the ID number is not filled in again: please type it again.")
CODE_NOT_REFILLED = N_("For your safety the code is not filled in again.")
FORM_ERRORS = N_(
    "Please correct what is marked below. Everything you wrote is kept, except the ID number."
)
REPLY_LOGGED = N_("Recorded in the public log with its event of %(day)s.")
REPLY_NOT_LOGGED = N_("No event of this petition in the public log names this reply.")
REPLY_EVENT_UNKNOWN = N_("unreadable")
QUEUE_NO_DIRECTORY = N_(
    "No list of bureaus is kept on this device, so nothing can be sealed without the "
    "Internet. Connect this device to the Internet once and open the start page."
)
RECEIPT_FILE_NAME = "petition-receipt.keystore"
#: The query parameter that names a one-time result (webui.state.Store.leave).
ONCE = "once"
#: Test-only (tests/ui/test_device_traces.py): answer a form with an ID error by a page, as
#: before protocol v2, to show that the on-disk profile test can fail. Nothing outside the tests
#: sets it; the command line cannot.
TEST_ANSWER_ID_ERROR_WITH_PAGE = "PETITION_UI_TEST_ANSWER_ID_ERROR_WITH_PAGE"
#: Test-only (tests/ui/test_kiosk.py): a kiosk's start over only goes back to the start page,
#: wiping nothing and keeping the petitioner's session, to show that the kiosk test can fail.
#: Like the flag above, no command line or environment variable reaches it.
TEST_START_OVER_KEEPS_THE_PETITIONER = "PETITION_UI_TEST_START_OVER_KEEPS_THE_PETITIONER"
#: Failures that mean "no network now": a kiosk with a queue works on with the kept directory.
OFFLINE = (ServerUnreachable, ServerBusy)
#: The id of the review page's submit button: where its error summary leads.
SUBMIT_BUTTON = "submit-button"
#: The largest poster picture the setup page reads (a phone photo is a few MiB).
MAX_QR_UPLOAD_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class SummaryItem:
    """One line of the error summary at the top of a page (the GOV.UK pattern): the error,
    as a link to the field (``target``, an element id) where it is put right."""

    text: str
    target: str = ""


def _summary(errors: dict[str, str], order: list[str]) -> list[SummaryItem]:
    """The errors of a form in the order of its fields, each leading to its field."""
    ranked = sorted(errors, key=lambda name: order.index(name) if name in order else len(order))
    return [SummaryItem(errors[name], name) for name in ranked]


def _open_session() -> Session:
    ui = runtime()
    return Session.open(ui.home, ui.network)


def _can_queue() -> bool:
    """A kiosk with a queue folder: it seals petitions for later delivery."""
    kiosk = runtime().kiosk
    return kiosk is not None and kiosk.queue is not None


@dataclass(frozen=True)
class _Found:
    """A directory verified with the pinned authority key, and where it came from."""

    directory: Directory
    server: str
    authority: VerifyKey
    offline: bool  # the one kept on this device, the server being unreachable

    def bureau(self, bureau_id: str) -> BureauBundle:
        for bundle in self.directory.bureaus:
            if bundle.bureau_id == bureau_id:
                return bundle
        raise UnknownBureau(f"no bureau {bureau_id!r} in the directory")


def _find_directory() -> _Found:
    """The directory fetched and verified now; in a kiosk with a queue whose server cannot be
    reached, the one kept on this device instead (verified again, at most 30 days old), so
    that a petition can still be written and sealed for later delivery."""
    ui = runtime()
    try:
        with _open_session() as session:
            directory = session.directory()
            return _Found(directory, session.config.server, session.authority_key, False)
    except OFFLINE as unreachable:
        if not _can_queue():
            raise
        config = ui.home.load_config()
        try:
            kept = offline_directory(ui.home, config)
        except NotInitialised:
            raise unreachable from None  # no directory kept: the network is the problem
        return _Found(kept.directory, config.server, VerifyKey(config.authority_key), True)


def _directory_view(found: _Found) -> dict[str, Any]:
    directory = found.directory
    return {
        "server": found.server,
        "authority": format_fingerprint(found.authority.fingerprint),
        "offline": found.offline,
        "serial": directory.serial,
        "day": directory.day.isoformat(),
        "bureaus": [
            {
                "id": bundle.bureau_id,
                "name": bundle.name,
                "identity_fingerprint": format_fingerprint(bundle.identity_key.key_id),
                "case_fingerprint": format_fingerprint(bundle.case_key.key_id),
            }
            for bundle in directory.bureaus
        ],
    }


def _start_failed(exc: SealedPetitionError) -> tuple[str, int]:
    """The start page when the list of bureaus cannot be had: nothing was written yet."""
    error = describe(exc, translator(), "start")
    summary = [SummaryItem(error, "try-again")]
    return render_template("index.html", error=error, directory=None, summary=summary), 503


@pages.get("/")
def index() -> tuple[str, int] | str:
    try:
        view = _directory_view(_find_directory())
    except SealedPetitionError as exc:
        return _start_failed(exc)
    return render_template("index.html", error=None, directory=view)


@pages.get("/write")
def write() -> Response | tuple[str, int] | str:
    store, ui_session = runtime().store, current_session()
    draft_id = request.args.get("draft")
    if draft_id is not None:
        draft = store.draft(ui_session, draft_id)
        if draft is None:
            return _gone_draft(draft_id)
        notice = store.take(ui_session, request.args.get(ONCE), WriteNotice)
        if notice is None or notice.draft_id != draft_id:
            return _render_write(draft, {}, [])
        return _render_write(draft, notice.errors, list(notice.problems)), 400
    bureau_id = request.args.get("bureau", "")
    if not bureau_id:
        return redirect(url_for("pages.index"), code=303)
    try:
        bundle = _find_directory().bureau(bureau_id)
    except SealedPetitionError as exc:
        return _start_failed(exc)
    draft = store.new_draft(
        ui_session,
        bundle.bureau_id,
        bundle.name,
        format_fingerprint(bundle.identity_key.key_id),
        format_fingerprint(bundle.case_key.key_id),
    )
    return redirect(url_for("pages.write", draft=draft.draft_id), code=303)


@pages.post("/write")
def save_draft() -> Response | tuple[str, int]:
    """Keep what was typed and uploaded, then review it (or stay, to attach more)."""
    t = translator()
    store, ui_session = runtime().store, current_session()
    draft_id = request.form.get("draft", "")
    draft = store.draft(ui_session, draft_id)
    if draft is None:
        return _gone_draft(draft_id)
    draft.values = forms.read_post(request.form, draft)
    problems = forms.update_attachments(
        draft, request.form.getlist("remove"), request.files.getlist("attachments"), t
    )
    if request.form.get("action") == "save":  # attach more files, keep writing
        return _back_to_write(draft, {}, problems)
    errors = forms.field_errors(draft, t)
    if errors or problems:
        if "id_number" in errors and current_app.config.get(TEST_ANSWER_ID_ERROR_WITH_PAGE):
            return _render_write(draft, _forget_id(draft, errors), problems), 400
        return _back_to_write(draft, errors, problems)
    return redirect(url_for("pages.review", draft_id=draft.draft_id), code=303)


def _forget_id(draft: Draft, errors: dict[str, str]) -> dict[str, str]:
    """A rejected ID number is not kept and never put back into the form: say so."""
    if "id_number" not in errors:
        return errors
    draft.values["id_number"] = ""
    sentence = translator().gettext(ID_NOT_REFILLED)
    return {**errors, "id_number": f"{errors['id_number']} {sentence}"}


def _back_to_write(draft: Draft, errors: dict[str, str], problems: list[str]) -> Response:
    """Redirect to the write page, with its inline errors left for it once."""
    errors = _forget_id(draft, errors)
    arguments: dict[str, Any] = {"draft": draft.draft_id}
    if errors or problems:
        notice = WriteNotice(draft.draft_id, errors, tuple(problems))
        arguments[ONCE] = runtime().store.leave(current_session(), notice)
    return redirect(url_for("pages.write", **arguments), code=303)


def _render_write(draft: Draft, errors: dict[str, str], problems: list[str]) -> str:
    order = [field.name for field in forms.FIELDS] + ["attachments"]
    summary = _summary(errors, order)
    summary += [SummaryItem(problem, "attachments") for problem in problems]
    return render_template(
        "write.html",
        summary=summary,
        summary_note=translator().gettext(FORM_ERRORS) if summary else "",
        draft=draft,
        identity_fields=forms.IDENTITY_FIELDS,
        case_fields=forms.CASE_FIELDS,
        choices=forms.CHOICES,
        answer=forms.answer,
        id_kept=bool(draft.values.get("id_number")),
        errors=errors,
        problems=problems,
        max_attachments=MAX_ATTACHMENTS,
    )


def _gone_draft(draft_id: str, *, show_code: bool = False) -> Response:
    """Where a draft that cannot be used here went: its receipt once submitted (``show_code``:
    with its code, for a second click on submit), its review page after a submission that
    failed meanwhile, or nowhere (an earlier launch: 404)."""
    store, ui_session = runtime().store, current_session()
    receipt_id = store.submitted_as(ui_session, draft_id)
    if receipt_id is not None:
        return _to_receipt(receipt_id, show_code=show_code)
    sealed_id = store.queued_as(ui_session, draft_id)
    if sealed_id is not None:
        return _to_sealed(sealed_id, show_code=show_code)
    if store.draft(ui_session, draft_id) is not None:
        return redirect(url_for("pages.review", draft_id=draft_id), code=303)
    raise NotFound


@pages.get("/review/<draft_id>")
def review(draft_id: str) -> Response | tuple[str, int] | str:
    store, ui_session = runtime().store, current_session()
    draft = store.draft(ui_session, draft_id)
    if draft is None:
        return _gone_draft(draft_id)
    notice = store.take(ui_session, request.args.get(ONCE), ReviewNotice)
    if notice is None or notice.draft_id != draft_id:
        return _render_review(draft, None)
    return _render_review(draft, notice), 503


def _render_review(draft: Draft, notice: ReviewNotice | None) -> str:
    return render_template(
        "review.html",
        draft=draft,
        fields=forms.FIELDS,
        choices=forms.CHOICES,
        answer=forms.answer,
        error=notice.error if notice is not None else None,
        summary=[SummaryItem(notice.error, SUBMIT_BUTTON)] if notice is not None else [],
        submit_button=SUBMIT_BUTTON,
        can_queue=_can_queue(),
        offer_queue=_can_queue() and notice is not None and notice.unreachable,
    )


@pages.post("/submit")
def submit() -> Response:
    t = translator()
    store, ui_session = runtime().store, current_session()
    draft_id = request.form.get("draft", "")
    draft = store.take_for_submission(ui_session, draft_id)
    if draft is None:
        running = store.in_flight(ui_session, draft_id)
        if running is not None:
            # A second click while the first submission runs: wait for it, never seal twice.
            # The browser shows the answer to this click, so it shows the code.
            running.wait(timeout=600)
        return _gone_draft(draft_id, show_code=True)
    result = None
    try:
        errors = forms.field_errors(draft, t)
        if errors:
            return _back_to_write(draft, errors, [])
        with _open_session() as session:
            result = submit_petition(session, forms.petition_form(draft), Progress())
    except (InvalidIdNumber, SchemaViolation, TooLarge) as exc:
        target = "id_number" if isinstance(exc, InvalidIdNumber) else "attachments"
        return _back_to_write(draft, {target: describe(exc, t)}, [])
    except SealedPetitionError as exc:
        notice = ReviewNotice(draft.draft_id, describe(exc, t, "review"), isinstance(exc, OFFLINE))
        once = store.leave(ui_session, notice)
        return redirect(url_for("pages.review", draft_id=draft.draft_id, once=once), 303)
    finally:
        if result is None:  # not submitted: the draft goes back, exactly as it was
            store.submission_failed(ui_session, draft)
    kept = store.submission_done(ui_session, draft, result)
    return _to_receipt(kept.receipt_id, show_code=True)


@pages.post("/seal")
def seal_for_later() -> Response:
    """Kiosk with a queue: seal the draft on this device, as ``petition seal`` does, and write
    one sealed petition file into the queue folder for the helper to deliver later. The code
    is shown once on the page this redirects to; the file holds nothing that leads to it."""
    ui = runtime()
    queue = ui.kiosk.queue if ui.kiosk is not None else None
    if queue is None:
        raise NotFound
    t = translator()
    store, ui_session = ui.store, current_session()
    draft_id = request.form.get("draft", "")
    draft = store.take_for_submission(ui_session, draft_id)
    if draft is None:
        running = store.in_flight(ui_session, draft_id)
        if running is not None:  # a second click: wait for the first, never seal twice
            running.wait(timeout=600)
        return _gone_draft(draft_id, show_code=True)
    kept = None
    try:
        errors = forms.field_errors(draft, t)
        if errors:
            return _back_to_write(draft, errors, [])
        directory = offline_directory(ui.home, ui.home.load_config())
        sealed = seal_offline(directory, forms.petition_form(draft), Progress())
        queue_sealed(queue, sealed.file)
        kept = KeptSealed(new_id(), sealed.code, sealed.petition.petition_id, sealed.bureau.name)
    except (InvalidIdNumber, SchemaViolation, TooLarge) as exc:
        target = "id_number" if isinstance(exc, InvalidIdNumber) else "attachments"
        return _back_to_write(draft, {target: describe(exc, t)}, [])
    except SealedPetitionError as exc:
        no_directory = isinstance(exc, NotInitialised)
        text = t.gettext(QUEUE_NO_DIRECTORY) if no_directory else describe(exc, t, "review")
        once = store.leave(ui_session, ReviewNotice(draft.draft_id, text))
        return redirect(url_for("pages.review", draft_id=draft.draft_id, once=once), 303)
    finally:
        if kept is None:  # nothing written: the draft goes back, exactly as it was
            store.submission_failed(ui_session, draft)
    store.sealing_done(ui_session, draft, kept)
    return _to_sealed(kept.sealed_id, show_code=True)


def _to_sealed(sealed_id: str, *, show_code: bool = False) -> Response:
    arguments: dict[str, Any] = {"sealed_id": sealed_id}
    if show_code:
        arguments["view"] = runtime().store.leave(current_session(), CodeView(sealed_id))
    return redirect(url_for("pages.sealed", **arguments), code=303)


def _kept_sealed(sealed_id: str) -> KeptSealed:
    kept = runtime().store.sealed(current_session(), sealed_id)
    if kept is None:
        raise NotFound
    return kept


@pages.get("/sealed/<sealed_id>")
def sealed(sealed_id: str) -> str:
    """A petition sealed for later delivery: not sent yet; its code is shown once, as on the
    receipt page."""
    ui = runtime()
    kept = _kept_sealed(sealed_id)
    view = ui.store.take(current_session(), request.args.get("view"), CodeView)
    show_code = view is not None and view.receipt_id == sealed_id
    return render_template(
        "sealed.html",
        kept=kept,
        show_code=show_code,
        qr=_qr_data_uri(kept.code) if show_code else "",
        deliver_command=_deliver_command(),
    )


def _deliver_command() -> str:
    """What the helper types to deliver the queue, quoted for a POSIX shell."""
    kiosk = runtime().kiosk
    folder = kiosk.queue if kiosk is not None else None
    return f"petition deliver {shlex.quote(str(folder))}/*" if folder is not None else ""


@pages.post("/sealed/<sealed_id>/show")
def show_sealed_code(sealed_id: str) -> Response:
    return _to_sealed(_kept_sealed(sealed_id).sealed_id, show_code=True)


@pages.post("/start-over")
def start_over() -> Response:
    """Kiosk mode, between two people: forget everything of every session, open a fresh one
    for the next person and send them to the start page. The old session id is dead, so every
    address the last person visited answers "not found"; the browser is told to drop its
    cache and storage."""
    ui = runtime()
    if ui.kiosk is None:
        raise NotFound
    if current_app.config.get(TEST_START_OVER_KEEPS_THE_PETITIONER):
        return redirect(url_for("pages.index"), code=303)
    ui.store.wipe()
    response = fresh_session(ui)
    response.headers["Clear-Site-Data"] = CLEAR_SITE_DATA
    return response


def _to_receipt(receipt_id: str, *, show_code: bool = False, notice: object = None) -> Response:
    arguments: dict[str, Any] = {"receipt_id": receipt_id}
    store, ui_session = runtime().store, current_session()
    if show_code:
        arguments["view"] = store.leave(ui_session, CodeView(receipt_id))
    if notice is not None:
        arguments[ONCE] = store.leave(ui_session, notice)
    return redirect(url_for("pages.receipt", **arguments), code=303)


def _kept(receipt_id: str) -> KeptReceipt:
    kept = runtime().store.receipt(current_session(), receipt_id)
    if kept is None:
        raise NotFound
    return kept


def _qr_data_uri(code: str) -> str:
    """The receipt code as a QR code PNG, inline: no file, no request to anywhere."""
    image = qrcode.make(code, image_factory=PyPNGImage, border=4, box_size=8)
    buffer = BytesIO()
    image.save(buffer)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


@pages.get("/receipt/<receipt_id>")
def receipt(receipt_id: str) -> tuple[str, int] | str:
    """The receipt. The code and its QR code are shown once, on the view the submission (or
    "show the code again") redirected to; a reload, the back button or a language switch show
    the rest of the page without them."""
    store, ui_session = runtime().store, current_session()
    kept = _kept(receipt_id)
    view = store.take(ui_session, request.args.get("view"), CodeView)
    notice = store.take(ui_session, request.args.get(ONCE), ReceiptNotice)
    error = notice.error if notice is not None and notice.receipt_id == receipt_id else None
    show_code = view is not None and view.receipt_id == receipt_id
    page = render_template(
        "receipt.html",
        kept=kept,
        result=kept.result,
        show_code=show_code,
        qr=_qr_data_uri(kept.result.code) if show_code else "",
        error=error,
        summary=[SummaryItem(error, "passphrase")] if error else [],
        min_passphrase=MIN_PASSPHRASE_CHARS,
    )
    return (page, 400) if error else page


@pages.post("/receipt/<receipt_id>/show")
def show_code(receipt_id: str) -> Response:
    """The petitioner asks for the code again (a deliberate click, while the receipt is kept)."""
    return _to_receipt(_kept(receipt_id).receipt_id, show_code=True)


@pages.post("/receipt/<receipt_id>/download")
def download_receipt(receipt_id: str) -> Response:
    """The receipt as a passphrase-protected file, the same as ``submit --save-receipt``: made
    now, left for one download by the GET this answer redirects to. Not in kiosk mode: the
    file would stay in the kiosk's downloads for the next person."""
    if runtime().kiosk is not None:
        raise NotFound
    t = translator()
    kept = _kept(receipt_id)
    passphrase = request.form.get("passphrase", "")
    error = None
    if len(passphrase) < MIN_PASSPHRASE_CHARS:
        error = t.gettext(PASSPHRASE_TOO_SHORT, min=MIN_PASSPHRASE_CHARS)
    elif passphrase != request.form.get("passphrase_again", ""):
        error = t.gettext(PASSPHRASES_DIFFER)
    else:
        try:
            data = seal_receipt(kept.result, passphrase)
        except SealedPetitionError as exc:
            error = describe(exc, t)
    if error is not None:
        return _to_receipt(receipt_id, notice=ReceiptNotice(receipt_id, error))
    file_id = runtime().store.leave(current_session(), ReceiptFile(receipt_id, data))
    return redirect(url_for("pages.receipt_file", receipt_id=receipt_id, file_id=file_id), 303)


@pages.get("/receipt/<receipt_id>/file/<file_id>")
def receipt_file(receipt_id: str, file_id: str) -> Response:
    if runtime().kiosk is not None:
        raise NotFound
    made = runtime().store.take(current_session(), file_id, ReceiptFile)
    if made is None or made.receipt_id != receipt_id:
        raise NotFound
    response = Response(made.data, mimetype="application/octet-stream")
    response.headers["Content-Disposition"] = f'attachment; filename="{RECEIPT_FILE_NAME}"'
    return response


@pages.post("/receipt/<receipt_id>/forget")
def forget_receipt(receipt_id: str) -> Response:
    runtime().store.forget_receipt(current_session(), receipt_id)
    return redirect(url_for("pages.index"), code=303)


@pages.get("/status")
def status_form() -> tuple[str, int] | str:
    """The lookup form, or the result of the lookup just posted (shown once)."""
    t = translator()
    answer = runtime().store.take(current_session(), request.args.get(ONCE), StatusAnswer)
    if answer is None:
        return render_template("status.html", error=None, report=None)
    if answer.report is None:
        summary = [SummaryItem(answer.error, "code")] if answer.error else []
        page = render_template("status.html", error=answer.error, report=None, summary=summary)
        return page, answer.status
    report = answer.report
    events = {shown.leaf_index: shown for shown in report.events}
    replies = []
    for reply in report.replies:
        came_with = events.get(reply.leaf_index) if reply.leaf_index is not None else None
        replies.append(
            {
                "number": reply.sequence + 1,
                "event": t.gettext(EVENT_TEXT.get(reply.event, REPLY_EVENT_UNKNOWN)),
                "day": t.day(reply.day),
                "message": reply.message,
                "problem": t.gettext(REPLY_PROBLEM_TEXT[reply.problem_code])
                if reply.problem_code in REPLY_PROBLEM_TEXT
                else reply.problem,
                "logged": t.gettext(REPLY_LOGGED, day=t.day(came_with.entry.day.isoformat()))
                if came_with is not None
                else t.gettext(REPLY_NOT_LOGGED),
            }
        )
    latest = report.latest
    handler_id, handler_name = report.handling
    return render_template(
        "status.html",
        error=None,
        report=report,
        latest_text=t.gettext(EVENT_TEXT[latest.event.value]) if latest is not None else "",
        handler=(handler_name or handler_id) if handler_id != report.bureau_id else None,
        submitted_day=t.day(report.submitted_day),
        events=[timeline.event_view(shown, t) for shown in report.events],
        clock=timeline.clock_view(report, t),
        replies=replies,
    )


@pages.post("/status")
def status() -> Response:
    """Look the events and replies up now; the page after the redirect shows them once. The
    code travels only in this POST's body, never in a URL, and is not filled in again.

    The body complained about, typed on the form or kept from a submission of this launch,
    is used on this device only, to flag a transfer to it (Art. 30); it is never sent."""
    t = translator()
    code = request.form.get("code", "").strip()
    respondent = request.form.get("respondent", "").strip()
    upload = request.files.get("receipt_file")
    answer: StatusAnswer
    try:
        if code:
            secret = ReceiptSecret.from_code(code)
        elif upload is not None and upload.filename:
            data = upload.stream.read(MAX_KEYSTORE_BYTES + 1)
            secret, _ = open_receipt(data, request.form.get("passphrase", ""))
        else:
            secret = None
            answer = StatusAnswer(None, t.gettext(CODE_OR_FILE), 400)
        if secret is not None:
            if not respondent:
                respondent = runtime().store.respondent_for(current_session(), secret)
            with _open_session() as session:
                report = petition_status(session, secret, respondent=respondent)
                answer = StatusAnswer(report, None)
    except SealedPetitionError as exc:
        error = describe(exc, t, "status")
        if code:
            error = f"{error} {t.gettext(CODE_NOT_REFILLED)}"
        answer = StatusAnswer(None, error, 400)
    once = runtime().store.leave(current_session(), answer)
    return redirect(url_for("pages.status_form", once=once), code=303)


@pages.get("/setup")
def setup_page() -> Response | tuple[str, int] | str:
    """First run: the server address and the authority fingerprint (docs/ui.md "First run").
    Once a server is pinned this page only leads to the start page: changing whom to trust is
    for ``petition init``, deliberately, not for a form a mistaken click can send."""
    if not runtime().needs_setup():
        return redirect(url_for("pages.index"), code=303)
    notice = runtime().store.take(current_session(), request.args.get(ONCE), SetupNotice)
    if notice is None:
        return render_template("setup.html", errors={}, server="", fingerprint="")
    page = render_template(
        "setup.html",
        errors=notice.errors,
        server=notice.server,
        fingerprint=notice.fingerprint,
        summary=_summary(notice.errors, list(setup.SETUP_FIELDS)),
    )
    return page, 400


@pages.post("/setup")
def setup_check() -> Response:
    """Check the address and the fingerprint with the server, then save them, as ``petition
    init`` does (the same function); every failure goes back to the form with nothing saved."""
    ui = runtime()
    if not ui.needs_setup():
        return redirect(url_for("pages.index"), code=303)
    t = translator()
    server = request.form.get("server", "").strip()
    typed = request.form.get("fingerprint", "").strip()
    errors: dict[str, str] = {}
    url = ""
    if not server:
        errors["server"] = t.gettext(setup.SERVER_MISSING)
    else:
        try:
            url = validate_server_url(server)
        except InvalidInput:
            errors["server"] = t.gettext(setup.SERVER_INVALID)
    from_qr = None
    upload = request.files.get("qr")
    if upload is not None and upload.filename:
        try:
            texts = scan_image(upload.stream.read(MAX_QR_UPLOAD_BYTES + 1))
        except InvalidInput:
            errors["qr"] = t.gettext(setup.QR_UNREADABLE)
        else:
            from_qr = setup.fingerprint_in(texts)
            if from_qr is None:
                errors["qr"] = t.gettext(setup.QR_NO_FINGERPRINT)
    from_typing = None
    if typed:
        try:
            from_typing = parse_fingerprint(typed)
        except MalformedInput:
            errors["fingerprint"] = t.gettext(setup.FINGERPRINT_MALFORMED)
    if from_typing and from_qr and not setup.same_fingerprint(from_typing, from_qr):
        errors["fingerprint"] = t.gettext(setup.FINGERPRINTS_DIFFER)
    fingerprint = from_typing or from_qr
    if fingerprint is None and not errors.get("fingerprint") and not errors.get("qr"):
        errors["fingerprint"] = t.gettext(setup.FINGERPRINT_MISSING)
    shown = typed if typed or from_qr is None else format_fingerprint(from_qr)
    if not errors and fingerprint is not None:
        try:
            pin_server(ui.home, url, fingerprint.hex(), ui.network)
        except FingerprintMismatch as exc:
            errors["fingerprint" if from_typing else "qr"] = describe(exc, t, "setup")
        except SealedPetitionError as exc:
            errors["server"] = describe(exc, t, "setup")
    if errors:
        notice = SetupNotice(errors, server, shown)
        once = ui.store.leave(current_session(), notice)
        return redirect(url_for("pages.setup_page", once=once), code=303)
    return redirect(url_for("pages.index"), code=303)


@pages.get("/refused/<kind>")
def refused(kind: str) -> Response:
    """Where a refused POST is redirected (webui.app.refusal): the explanation, as a GET."""
    from webui.app import refusal_page

    return refusal_page(kind)
