"""The pages: choose a bureau, write, review, submit, receipt, status.

Each view calls ``client.petitioner`` for the petition logic and only turns its results and
failures into pages. Views that answer a POST with a new state redirect (303) to a page that
can be reloaded safely; a reload never submits a petition twice.
"""

from __future__ import annotations

import base64
from io import BytesIO
from typing import Any

import qrcode
from flask import Blueprint, redirect, render_template, request, url_for
from qrcode.image.pure import PyPNGImage
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response

from client.petitioner import (
    Progress,
    open_receipt,
    petition_status,
    seal_receipt,
    submit_petition,
)
from client.session import Session
from crypto.document import MAX_ATTACHMENTS
from crypto.errors import InvalidIdNumber, SchemaViolation, SealedPetitionError, TooLarge
from crypto.keys import format_fingerprint
from crypto.keystore import MAX_KEYSTORE_BYTES, MIN_PASSPHRASE_CHARS
from crypto.receipt import ReceiptSecret
from webui import forms
from webui.app import current_session, runtime, translator
from webui.i18n import N_
from webui.messages import REPLY_PROBLEM_TEXT, STATUS_TEXT, describe
from webui.state import Draft, KeptReceipt

pages = Blueprint("pages", __name__)

PASSPHRASE_TOO_SHORT = N_("The passphrase needs at least %(min)s characters.")
PASSPHRASES_DIFFER = N_("The two passphrases differ.")
CODE_OR_FILE = N_("Enter a receipt code, or choose a saved receipt file and its passphrase.")
RECEIPT_FILE_NAME = "petition-receipt.keystore"


def _open_session() -> Session:
    ui = runtime()
    return Session.open(ui.home, ui.network)


def _directory_view(session: Session) -> dict[str, Any]:
    directory = session.directory()
    return {
        "server": session.config.server,
        "authority": format_fingerprint(session.authority_key.fingerprint),
        "serial": directory.serial,
        "day": directory.day.isoformat(),
        "bureaus": [
            {
                "id": bundle.bureau_id,
                "name": bundle.name,
                "fingerprint": format_fingerprint(bundle.encryption_key.key_id),
            }
            for bundle in directory.bureaus
        ],
    }


@pages.get("/")
def index() -> tuple[str, int] | str:
    t = translator()
    try:
        with _open_session() as session:
            view = _directory_view(session)
    except SealedPetitionError as exc:
        return render_template("index.html", error=describe(exc, t), directory=None), 503
    return render_template("index.html", error=None, directory=view)


@pages.get("/write")
def write() -> Response | tuple[str, int] | str:
    store, ui_session = runtime().store, current_session()
    draft_id = request.args.get("draft")
    if draft_id is not None:
        draft = store.draft(ui_session, draft_id)
        if draft is None:
            return _gone_draft(draft_id)
        return _render_write(draft, {}, [])
    bureau_id = request.args.get("bureau", "")
    if not bureau_id:
        return redirect(url_for("pages.index"), code=303)
    t = translator()
    try:
        with _open_session() as session:
            bundle = session.bureau(bureau_id)
    except SealedPetitionError as exc:
        return render_template("index.html", error=describe(exc, t), directory=None), 503
    draft = store.new_draft(
        ui_session, bundle.bureau_id, bundle.name, format_fingerprint(bundle.encryption_key.key_id)
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
    draft.values = forms.read_post(request.form)
    problems = forms.update_attachments(
        draft, request.form.getlist("remove"), request.files.getlist("attachments"), t
    )
    if request.form.get("action") == "save":  # attach more files, keep writing
        return _render_write(draft, {}, problems), 400 if problems else 200
    errors = forms.field_errors(draft, t)
    if errors or problems:
        return _render_write(draft, errors, problems), 400
    return redirect(url_for("pages.review", draft_id=draft.draft_id), code=303)


def _render_write(draft: Draft, errors: dict[str, str], problems: list[str]) -> str:
    return render_template(
        "write.html",
        draft=draft,
        fields=forms.FIELDS,
        errors=errors,
        problems=problems,
        max_attachments=MAX_ATTACHMENTS,
        here=url_for("pages.write", draft=draft.draft_id),
    )


def _gone_draft(draft_id: str) -> Response:
    """Where a draft that cannot be used here went: its receipt once submitted, its review page
    after a submission that failed meanwhile, or nowhere (an earlier launch: 404)."""
    store, ui_session = runtime().store, current_session()
    receipt_id = store.submitted_as(ui_session, draft_id)
    if receipt_id is not None:
        return redirect(url_for("pages.receipt", receipt_id=receipt_id), code=303)
    if store.draft(ui_session, draft_id) is not None:
        return redirect(url_for("pages.review", draft_id=draft_id), code=303)
    raise NotFound


@pages.get("/review/<draft_id>")
def review(draft_id: str) -> Response | tuple[str, int] | str:
    draft = runtime().store.draft(current_session(), draft_id)
    if draft is None:
        return _gone_draft(draft_id)
    return _render_review(draft, None)


def _render_review(draft: Draft, error: str | None) -> str:
    return render_template(
        "review.html",
        draft=draft,
        fields=forms.FIELDS,
        error=error,
        here=url_for("pages.review", draft_id=draft.draft_id),
    )


@pages.post("/submit")
def submit() -> Response | tuple[str, int]:
    t = translator()
    store, ui_session = runtime().store, current_session()
    draft_id = request.form.get("draft", "")
    draft = store.take_for_submission(ui_session, draft_id)
    if draft is None:
        running = store.in_flight(ui_session, draft_id)
        if running is not None:
            # A second click while the first submission runs: wait for it, never seal twice.
            running.wait(timeout=600)
        return _gone_draft(draft_id)
    result = None
    try:
        errors = forms.field_errors(draft, t)
        if errors:
            return _render_write(draft, errors, []), 400
        with _open_session() as session:
            result = submit_petition(session, forms.petition_form(draft), Progress())
    except (InvalidIdNumber, SchemaViolation, TooLarge) as exc:
        target = "id_number" if isinstance(exc, InvalidIdNumber) else "attachments"
        return _render_write(draft, {target: describe(exc, t)}, []), 400
    except SealedPetitionError as exc:
        return _render_review(draft, describe(exc, t)), 503
    finally:
        if result is None:  # not submitted: the draft goes back, exactly as it was
            store.submission_failed(ui_session, draft)
    kept = store.submission_done(ui_session, draft, result)
    return redirect(url_for("pages.receipt", receipt_id=kept.receipt_id), code=303)


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
def receipt(receipt_id: str) -> str:
    return _render_receipt(_kept(receipt_id), None)


def _render_receipt(kept: KeptReceipt, error: str | None) -> str:
    return render_template(
        "receipt.html",
        kept=kept,
        result=kept.result,
        qr=_qr_data_uri(kept.result.code),
        error=error,
        min_passphrase=MIN_PASSPHRASE_CHARS,
        here=url_for("pages.receipt", receipt_id=kept.receipt_id),
    )


@pages.post("/receipt/<receipt_id>/download")
def download_receipt(receipt_id: str) -> Response | tuple[str, int]:
    """The receipt as a passphrase-protected file, the same as ``submit --save-receipt``."""
    t = translator()
    kept = _kept(receipt_id)
    passphrase = request.form.get("passphrase", "")
    if len(passphrase) < MIN_PASSPHRASE_CHARS:
        error = t.gettext(PASSPHRASE_TOO_SHORT, min=MIN_PASSPHRASE_CHARS)
        return _render_receipt(kept, error), 400
    if passphrase != request.form.get("passphrase_again", ""):
        return _render_receipt(kept, t.gettext(PASSPHRASES_DIFFER)), 400
    try:
        data = seal_receipt(kept.result, passphrase)
    except SealedPetitionError as exc:
        return _render_receipt(kept, describe(exc, t)), 400
    response = Response(data, mimetype="application/octet-stream")
    response.headers["Content-Disposition"] = f'attachment; filename="{RECEIPT_FILE_NAME}"'
    return response


@pages.post("/receipt/<receipt_id>/forget")
def forget_receipt(receipt_id: str) -> Response:
    runtime().store.forget_receipt(current_session(), receipt_id)
    return redirect(url_for("pages.index"), code=303)


@pages.get("/status")
def status_form() -> str:
    return render_template("status.html", error=None, code="", report=None)


@pages.post("/status")
def status() -> tuple[str, int] | str:
    """Status and replies. A POST, so that the code never appears in a URL or the history."""
    t = translator()
    code = request.form.get("code", "").strip()
    upload = request.files.get("receipt_file")
    try:
        if code:
            secret = ReceiptSecret.from_code(code)
        elif upload is not None and upload.filename:
            data = upload.stream.read(MAX_KEYSTORE_BYTES + 1)
            secret, _ = open_receipt(data, request.form.get("passphrase", ""))
        else:
            return render_template(
                "status.html", error=t.gettext(CODE_OR_FILE), code="", report=None
            ), 400
        with _open_session() as session:
            report = petition_status(session, secret)
    except SealedPetitionError as exc:
        return render_template("status.html", error=describe(exc, t), code=code, report=None), 400
    replies = [
        {
            "number": reply.sequence + 1,
            "status": t.gettext(STATUS_TEXT.get(reply.status, reply.status)),
            "day": t.day(reply.day),
            "message": reply.message,
            "problem": t.gettext(REPLY_PROBLEM_TEXT[reply.problem_code])
            if reply.problem_code in REPLY_PROBLEM_TEXT
            else reply.problem,
        }
        for reply in report.replies
    ]
    return render_template(
        "status.html",
        error=None,
        code="",
        report=report,
        status_text=t.gettext(STATUS_TEXT.get(report.status, report.status)),
        submitted_day=t.day(report.submitted_day),
        replies=replies,
    )
