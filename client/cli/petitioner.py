"""``petition init``, ``bureaus``, ``submit`` and ``status``: the petitioner's commands."""

from __future__ import annotations

import argparse
import io
import os
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import qrcode
from qrcode.image.pure import PyPNGImage

from cli_support.i18n import N_, _, translator
from cli_support.messages import (
    ACTION_TEXT,
    DEADLINE_RULE_TEXT,
    EVENT_TEXT,
    OUTCOME_TEXT,
    REASON_TEXT,
    article_text,
)
from cli_support.terminal import print_qr, read_passphrase
from client.cli.options import (
    add_network,
    add_passphrase_file,
    flag,
    home_from,
    network_from,
    path_is_taken,
    readable_file,
)
from client.cli.progress import StepReporter
from client.cli.prompts import (
    REVIEW_FIELDS,
    Purpose,
    ask_receipt_code,
    collect_form,
    remind_to_clear,
)
from client.errors import InvalidInput
from client.petitioner import (
    REVIEW_CATEGORY,
    Inclusion,
    PetitionForm,
    Progress,
    ReviewPlan,
    ReviewRefused,
    ShownEvent,
    StatusReport,
    SubmissionResult,
    load_receipt,
    petition_status,
    plan_review,
    request_review,
    save_receipt,
    submit_petition,
    validate_identity,
)
from client.session import Session, Witnessing, pin_server
from crypto.errors import InvalidReceiptCode, MalformedInput
from crypto.fields import parse_day
from crypto.keys import VerifyKey, format_fingerprint, parse_fingerprint
from crypto.privatefile import write_private_file
from crypto.receipt import ReceiptSecret
from crypto.statutory import Event, Kind

if TYPE_CHECKING:
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]

#: Sentences of the questions and cancellations (the prompts themselves: client/cli/prompts.py).
SEND_QUESTION = N_("Send it to %(bureau)s (%(bureau_id)s) now?")
NOTHING_SENT = N_("cancelled; nothing was sent")
REVIEW_QUESTION = N_("Send this request to %(bureau)s (%(bureau_id)s) now?")
STATUS_CANCELLED = N_("cancelled")


#: One flag on `petition submit`, `seal` and `review`, so one text (and one variable).
SHARE_IDENTITY_HELP = N_(
    "if a bureau sends your case on to the body that can handle it, may your name, ID number "
    "and contact go with it? Default: no: that body gets the case without them and answers you "
    "through the receipt code. Either way your identity never goes to the body you complain "
    "about (--respondent)"
)


def add_policy(parser: argparse.ArgumentParser) -> None:
    """``--policy FILE``: a trust policy replacing PETITION_HOME/policy and the directory's."""
    flag(
        parser,
        "--policy",
        type=Path,
        metavar="FILE",
        help=_(
            "check the log's checkpoints against this tlog-policy (which witnesses must "
            "cosign) instead of PETITION_HOME/policy or the directory's; it must name the "
            "directory's log"
        ),
    )


def register_init(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "init",
        help=_("petitioner: pin the server and its directory authority"),
        description=_(
            "Pin a server and the fingerprint of its directory authority. Every later "
            "command verifies the directory against this authority and stops if it does not match."
        ),
    )
    flag(parser, "--server", required=True, metavar="URL", help=_("the submission server"))
    flag(
        parser,
        "--trust",
        required=True,
        metavar="FINGERPRINT",
        help=_("the authority fingerprint, from a source you trust (64 hex digits)"),
    )
    add_network(parser)
    parser.set_defaults(handler=_init)


def _init(args: argparse.Namespace) -> int:
    home = home_from(args)
    try:
        parse_fingerprint(args.trust)  # a typo is told as such, before any connection
    except MalformedInput as exc:
        raise InvalidInput(
            _("--trust: a fingerprint is 64 hexadecimal characters (spaces allowed)")
        ) from exc
    config, directory = pin_server(home, args.server, args.trust, network_from(args))
    fingerprint = format_fingerprint(VerifyKey(config.authority_key).fingerprint)
    print(_("Pinned %(server)s", server=config.server))
    print("  " + _("directory authority %(fingerprint)s", fingerprint=fingerprint))
    count = len(directory.bureaus)
    print(
        "  "
        + _(
            "directory serial %(serial)s, %(count)s bureau(s)", serial=directory.serial, count=count
        )
    )
    if config.proxy:
        print("  " + _("every connection goes through %(proxy)s", proxy=config.proxy))
    print(_("Settings saved in %(path)s (no petition data is ever kept there).", path=home.path))
    return 0


def register_bureaus(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "bureaus",
        help=_("petitioner: list the bureaus of the verified directory"),
        description=_(
            "List the bureaus a petition can go to: the id to give `petition submit "
            "--bureau`, the name, the bureau one level up and what it covers, from the directory "
            "signed by the authority pinned with `petition init`."
        ),
    )
    add_network(parser)
    parser.set_defaults(handler=_bureaus)


def _bureaus(args: argparse.Namespace) -> int:
    with Session.open(home_from(args), network_from(args)) as session:
        directory = session.directory()
        print(
            _(
                "Directory serial %(serial)s of %(day)s, signature verified.",
                serial=directory.serial,
                day=directory.day,
            )
        )
        for bundle in directory.bureaus:
            identity = format_fingerprint(bundle.identity_key.key_id)[:9]
            case = format_fingerprint(bundle.case_key.key_id)[:9]
            keys = _(
                "(identity key %(identity)s…, case key %(case)s…)", identity=identity, case=case
            )
            print(f"  {bundle.bureau_id:<20} {bundle.name}  {keys}")
            place = directory.place(bundle.bureau_id)
            covers = _("covers %(area)s", area=place.covers) if place.covers else _(NO_COVERAGE)
            above = _("next level up: %(id)s", id=place.parent) if place.parent else _(TOP_LEVEL)
            print(f"  {'':<20} {covers}{_(CLAUSE_END)}{above}")
        if not directory.bureaus:
            print("  " + _("(no bureau is published yet)"))
    return 0


NO_COVERAGE = N_("coverage not stated")
TOP_LEVEL = N_("top level")
#: Between two clauses of one line: "; " in English, a full-width semicolon in Chinese.
CLAUSE_END = N_("; ")


def add_form_flags(parser: argparse.ArgumentParser) -> None:
    """The petition's fields (``submit`` and ``seal``); those not given are asked for."""
    flag(parser, "--bureau", required=True, metavar="ID", help=_("the bureau (see `bureaus`)"))
    flag(parser, "--name", help=_("your real name"))
    flag(parser, "--id-number", help=_("your resident ID number (asked without echo if missing)"))
    flag(parser, "--contact", help=_("how the bureau can reach you"))
    flag(parser, "--subject", help=_("one-line subject"))
    flag(parser, "--body-file", type=Path, help=_("UTF-8 file with the petition's text"))
    flag(parser, "--category", help=_("category of the matter"))
    flag(parser, "--region", help=_("region the matter concerns"))
    flag(parser, "--respondent", help=_("the body complained about (optional)"))
    flag(parser, "--allow-contact", action=argparse.BooleanOptionalAction, default=None,
         help=_("whether the bureau may use your contact details (default: allow)"))  # fmt: skip
    flag(parser, "--share-identity-on-transfer", action=argparse.BooleanOptionalAction,
         default=None, help=_(SHARE_IDENTITY_HELP))  # fmt: skip
    flag(parser, "--attach", action="append", type=Path, default=[], metavar="FILE",
         help=_("attach a file (repeatable)"))  # fmt: skip


def register_submit(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "submit",
        help=_("petitioner: write, encrypt and submit a petition"),
        description=_(
            "Encrypt a petition on this device for one bureau and submit it. Fields "
            "not given as flags are asked for (the ID number without echo). Nothing about the "
            "petition is kept on this device unless you ask (--save-receipt, --qr-png)."
        ),
    )
    add_form_flags(parser)
    flag(parser, "--qr-png", type=Path, metavar="FILE", help=_("also write the receipt QR as PNG"))
    flag(parser, "--no-qr", action="store_true", help=_("do not draw the QR code on the terminal"))
    flag(
        parser,
        "--save-receipt",
        type=Path,
        metavar="FILE",
        help=_("keep the receipt in a passphrase-protected file"),
    )
    add_passphrase_file(parser, "receipt file")
    add_policy(parser)
    add_network(parser)
    parser.set_defaults(handler=_submit)


def _submit(args: argparse.Namespace) -> int:
    home = home_from(args)
    for path in (args.qr_png, args.save_receipt):
        if path is not None and path_is_taken(Path(path)):
            raise InvalidInput(_("%(path)s already exists; nothing was submitted", path=path))
    if args.id_number is not None:
        validate_identity(args.id_number)  # a typo is reported before anything goes out
    with Session.open(home, network_from(args), policy_file=args.policy) as session:
        bundle = session.bureau(args.bureau)  # fail before asking anything
        if sys.stdin.isatty():
            print(
                _(
                    "Petition to %(bureau)s (%(bureau_id)s)",
                    bureau=bundle.name,
                    bureau_id=bundle.bureau_id,
                ),
                file=sys.stderr,
            )
        question = _(SEND_QUESTION, bureau=bundle.name, bureau_id=bundle.bureau_id)
        form = collect_form(args, bundle.bureau_id, Purpose(question, _(NOTHING_SENT)))
        passphrase = None
        if args.save_receipt is not None:
            passphrase = read_passphrase(
                args.passphrase_file, prompt=_("New passphrase for the receipt file"), confirm=True
            )
        with StepReporter() as reporter:
            result = submit_petition(
                session, form, Progress(step=reporter.step, upload=reporter.upload)
            )
        requests = [f"{method} {path}" for method, path in session.transport.requests]
    _show_receipt(result, bundle.name, requests, qr=not args.no_qr)
    if args.qr_png is not None:
        write_qr_png(Path(args.qr_png), result.code)
        print(
            _(
                "QR code written to %(file)s (it holds the receipt code: keep it private)",
                file=args.qr_png,
            )
        )
    if args.save_receipt is not None and passphrase is not None:
        save_receipt(Path(args.save_receipt), result, passphrase)
        print(
            _("Receipt saved, encrypted with your passphrase, in %(file)s", file=args.save_receipt)
        )
    if args.qr_png is None and args.save_receipt is None:
        print(_(NOTHING_SAVED))
    remind_to_clear()
    return 0


#: What ends a label before its value: ": " in English, a full-width colon in Chinese.
LABEL_END = N_(": ")
NOTHING_SAVED = N_("Nothing about this petition was saved on this device.")


def witnessing_text(witnessing: Witnessing) -> str:
    """:meth:`Witnessing.describe` in the command line's language."""
    if not witnessing.witnessed:
        return _(
            "not yet witnessed: %(missing)s of %(known)s witness cosignatures missing",
            missing=witnessing.missing,
            known=witnessing.known,
        )
    if witnessing.cosigned_by:
        return _("witnessed by %(witnesses)s", witnesses=", ".join(witnessing.cosigned_by))
    return _("no witness cosignature required by the policy")


def _show_receipt(
    result: SubmissionResult, bureau_name: str, requests: list[str], *, qr: bool
) -> None:
    if result.first_time:
        print(
            _(
                "Submitted to %(bureau)s (%(bureau_id)s).",
                bureau=bureau_name,
                bureau_id=result.bureau_id,
            )
        )
    else:
        print(
            _(
                "Submitted to %(bureau)s (%(bureau_id)s) (the server already had it: not stored "
                "twice).",
                bureau=bureau_name,
                bureau_id=result.bureau_id,
            )
        )
    print(
        "  "
        + _(
            "petition id %(id)s, %(length)s bytes sealed",
            id=result.petition_id,
            length=result.envelope_length,
        )
    )
    print("  " + _("requests sent: %(requests)s", requests=", ".join(requests)))
    print(
        "  "
        + _(
            "receipt verified: signed by the log, entry %(index)s of a log of %(size)s; "
            "%(witnessing)s",
            index=result.leaf_index + 1,  # numbered from 1 for people, as the web UI shows it
            size=result.checkpoint_size,
            witnessing=witnessing_text(result.witnessing),
        )
    )
    if not result.witnessing.witnessed:
        print(
            "  "
            + _(
                "The petition was accepted: the log's signature proves it. `petition "
                "status` later fetches a witnessed receipt."
            )
        )
    print()
    show_code(result.code, qr=qr)


def show_code(code: str, *, qr: bool) -> None:
    """The receipt code, the one thing the petitioner keeps, and its QR code."""
    print(_("Your receipt code. It is the only way to read the bureau's reply; write it down"))
    print(_("and keep it where nobody else can see it:"))
    print()
    print(f"    {code}")
    print()
    if qr:
        print_qr(code)


def write_qr_png(path: Path, code: str) -> None:
    """The receipt code's QR code as a PNG: mode 0600 like every file holding the code, written
    whole or not at all, and never over an existing file."""
    image = qrcode.make(code, image_factory=PyPNGImage, border=4)
    png = io.BytesIO()
    image.save(png)
    write_private_file(
        path, png.getvalue(), overwrite=False, error=InvalidInput, what="receipt QR code"
    )


def register_status(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "status",
        help=_("petitioner: events, deadlines and replies for a receipt code"),
        description=_(
            "Show every public event of a petition (each checked against its bureau's "
            "signature and the log), the deadline the Regulations now set and what you can do "
            "when it has passed, and every reply, decrypted with the receipt code. Without CODE "
            "it is asked for without echo (a code typed on the command line stays in the shell's "
            "history)."
        ),
    )
    parser.add_argument(
        "code", nargs="?", metavar="CODE_OR_FILE", help=_("receipt code, or a saved receipt file")
    )
    flag(
        parser,
        "--respondent",
        metavar="TEXT",
        variable="PETITION_STATUS_RESPONDENT",
        help=_(
            "the body you complain about, as written in your petition: a transfer of your "
            "case to it is flagged (Regulations Arts. 30 and 46(5)); it is not sent anywhere"
        ),
    )
    parser.add_argument(
        "--on",
        metavar="YYYY-MM-DD",
        help=_(
            "show the deadlines as they will stand on this day if nothing else happens "
            "(default: today, UTC), e.g. to see what you may do if no answer has come by then"
        ),
    )
    add_passphrase_file(parser, "receipt file")
    add_policy(parser)
    add_network(parser)
    parser.set_defaults(handler=_status)


def register_review(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "review",
        help=_("petitioner: ask the next level to review a decided or overdue case"),
        description=_(
            "With the receipt code alone: check the case's public events, and if the "
            "Regulations allow it today (Art. 35: within 30 days of the written answer; Art. 36: "
            "of the review opinion; or once a body's deadline has passed, but never while it is "
            "within its time, Art. 19), seal a request on this device to the bureau one level "
            "above the one whose answer you contest, with the log proof of that answer (or of the "
            "missed deadline), and send it. Nothing about the case is kept on this device, so "
            "your name, ID number and contact are asked for again (the ID number without echo). "
            "The answer reaches the same receipt code."
        ),
    )
    parser.add_argument(
        "code", nargs="?", metavar="CODE_OR_FILE", help=_("receipt code, or a saved receipt file")
    )
    flag(parser, "--name", help=_("your real name"))
    flag(parser, "--id-number", help=_("your resident ID number (asked without echo if missing)"))
    flag(parser, "--contact", help=_("how the bureau can reach you"))
    flag(parser, "--region", help=_("region the matter concerns"))
    flag(parser, "--body-file", type=Path, variable="PETITION_REVIEW_BODY_FILE",
         help=_("UTF-8 file with why you ask for a review"))  # fmt: skip
    flag(parser, "--allow-contact", action=argparse.BooleanOptionalAction, default=None,
         help=_("whether the bureau may use your contact details (default: allow)"))  # fmt: skip
    flag(parser, "--share-identity-on-transfer", action=argparse.BooleanOptionalAction,
         default=None, help=_(SHARE_IDENTITY_HELP))  # fmt: skip
    flag(parser, "--attach", action="append", type=Path, default=[], metavar="FILE",
         help=_("attach a file (repeatable)"))  # fmt: skip
    add_passphrase_file(parser, "receipt file")
    add_policy(parser)
    add_network(parser)
    parser.set_defaults(handler=_review)


_REQUEST_WORDS = {Event.REVIEW_REQUESTED: N_("review"), Event.RE_REVIEW_REQUESTED: N_("re-review")}


def _review(args: argparse.Namespace) -> int:
    if args.id_number is not None:
        validate_identity(args.id_number)  # a typo is reported before anything goes out
    secret = read_code_or_file(args)[0]
    with Session.open(home_from(args), network_from(args), policy_file=args.policy) as session:
        plan, _case, reason = plan_review(session, secret)
        if plan is None:
            raise ReviewRefused(_("no review can be asked now: %(reason)s", reason=reason))
        what = _(_REQUEST_WORDS[plan.event])
        to = plan.to
        if sys.stdin.isatty():
            print(
                _(
                    "A %(what)s of the answer of %(contested)s goes to %(bureau)s (%(bureau_id)s), "
                    "one level up, with %(proof)s.",
                    what=what,
                    contested=plan.contested_name,
                    bureau=to.name,
                    bureau_id=to.bureau_id,
                    proof=plan.proof_name,
                ),
                file=sys.stderr,
            )
        form = _review_form(args, plan)
        with StepReporter() as reporter:
            result = request_review(
                session, secret, plan, form, Progress(step=reporter.step, upload=reporter.upload)
            )
    proof = plan.proof.entry
    asked = {"bureau": to.name, "bureau_id": to.bureau_id, "what": what}
    asked["contested"] = plan.contested_name
    if result.first_time:
        print(
            _(
                "Asked %(bureau)s (%(bureau_id)s) for a %(what)s of the answer of %(contested)s.",
                **asked,
            )
        )
    else:
        print(
            _(
                "Asked %(bureau)s (%(bureau_id)s) for a %(what)s of the answer of %(contested)s "
                "(the server already had it: not logged twice).",
                **asked,
            )
        )
    print(
        "  "
        + _(
            "with %(proof)s: the log proof of %(event)s on %(day)s (entry %(index)s)",
            proof=plan.proof_name,
            event=event_name(proof.event.value),
            day=proof.day.isoformat(),
            index=plan.proof.leaf_index + 1,
        )
    )
    receipt = result.receipt.receipt
    print(
        "  "
        + _(
            "receipt verified: %(event)s at %(bureau_id)s, entry %(index)s of a log of "
            "%(size)s; %(witnessing)s",
            event=event_name(receipt.entry.event.value),
            bureau_id=receipt.entry.bureau_id,
            index=result.leaf_index + 1,
            size=receipt.checkpoint.size,
            witnessing=witnessing_text(result.receipt.witnessing),
        )
    )
    deadline = result.deadline
    print(
        "  "
        + _(
            "%(bureau)s must answer by %(day)s (%(article)s, %(days)s days). The answer "
            "reaches the same receipt code: `petition status`.",
            bureau=to.name,
            day=deadline.due.isoformat(),
            article=_article(deadline.article),
            days=deadline.days,
        )
    )
    print(_(NOTHING_SAVED))
    return 0


def _review_form(args: argparse.Namespace, plan: ReviewPlan) -> PetitionForm:
    """The request's form: the person's fields, asked like ``submit``'s; the rest from ``plan``."""
    question = _(REVIEW_QUESTION, bureau=plan.to.name, bureau_id=plan.to.bureau_id)
    fixed = {"subject": plan.subject, "category": REVIEW_CATEGORY,
             "respondent": plan.contested_name}  # fmt: skip
    return collect_form(args, plan.to.bureau_id, Purpose(question, _(NOTHING_SENT)),
                        fields=REVIEW_FIELDS, fixed=fixed, text_what="request text")  # fmt: skip


def read_code_or_file(args: argparse.Namespace) -> tuple[ReceiptSecret, bytes | None]:
    """The receipt secret from CODE, a saved receipt file, PETITION_CODE, or a prompt.

    The text is tried as a file first. A text the system cannot even look up as a file name (a
    long mistyped code: "File name too long") is tried as a code, and if it is not one either,
    the one line says both.
    """
    text = args.code or os.environ.get("PETITION_CODE")
    if text is None:
        text = ask_receipt_code(_(STATUS_CANCELLED))
    candidate, unusable = readable_file(text)
    if candidate is not None:
        passphrase = read_passphrase(
            args.passphrase_file, prompt=_("Passphrase of the receipt file"), confirm=False
        )
        return load_receipt(candidate, passphrase)
    try:
        return ReceiptSecret.from_code(text), None
    except InvalidReceiptCode as exc:
        shown = text if len(text) <= 60 else f"{text[:40]}…({len(text)} characters)"
        if unusable is None and looks_like_a_path(text):
            # A code has no "/" and no ".": this was meant as a file, and is not there.
            raise InvalidInput(
                _("there is no receipt file %(path)s (and it is not a receipt code)", path=shown)
            ) from exc
        if unusable is None:
            raise
        raise InvalidInput(
            _(
                "%(text)s is neither a receipt code (%(code_problem)s) nor a receipt file "
                "(%(file_problem)s)",
                text=shown,
                code_problem=exc.message,
                file_problem=unusable,
            )
        ) from exc


def looks_like_a_path(text: str) -> bool:
    """Whether ``text`` can only be a file name: receipt codes are letters, digits and dashes."""
    return any(separator in text for separator in ("/", os.sep, "."))


def _status(args: argparse.Namespace) -> int:
    on: date | None = None
    if args.on is not None:
        try:
            on = parse_day(args.on, field="--on")
        except MalformedInput as exc:
            raise InvalidInput(exc.message) from exc
        if on < datetime.now(UTC).date():
            raise InvalidInput("--on: a day from today on; the clock does not look back")
    secret = read_code_or_file(args)[0]
    with Session.open(home_from(args), network_from(args), policy_file=args.policy) as session:
        report = petition_status(session, secret, respondent=args.respondent or "", today=on)
    _show_status(report)
    return 0


#: What each deadline of crypto.statutory waits for, in words.
DEADLINE_WORDS = {
    "acknowledge": N_("the written notice (taken up, forwarded, or where to take it)"),
    "object_not_competent": N_("the receiving body's objection that the case is not for it"),
    "decide": N_("the written answer"),
    "decide_extended": N_("the written answer (extended)"),
    "request_review": N_("your request for a review"),
    "answer_review": N_("the review opinion"),
    "request_re_review": N_("your request for a re-review"),
    "answer_re_review": N_("the re-review opinion"),
}

_INCLUSION = {
    Inclusion.PROVEN: N_("in the log"),
    Inclusion.PENDING: N_("logged after the checkpoint checked now"),
    Inclusion.UNCHECKED: N_("not checked against the log"),
    Inclusion.FAILED: N_("NOT in the log"),
}
NOT_IN_DIRECTORY = N_("(not in the directory)")


def _named(value: str, table: dict[str, str]) -> str:
    """A public event, outcome or reason by its value: in English the protocol's word (what
    scripts and the log show), in another language the web UI's name for it."""
    if _english() or value not in table:
        return value.replace("_", " ")
    return _(table[value])


def event_name(value: str) -> str:
    return _named(value, EVENT_TEXT)


def describe_event(shown: ShownEvent) -> str:
    """One line for an event: what happened, where, and its public detail."""
    entry = shown.entry
    at = f"{shown.bureau_name or _(NOT_IN_DIRECTORY)} ({entry.bureau_id})"
    detail = entry.detail
    text = _("%(event)s at %(bureau)s", event=event_name(entry.event.value), bureau=at)
    if detail.to is not None:
        to = f"{shown.to_name or _(NOT_IN_DIRECTORY)} ({detail.to})"
        if entry.event is Event.NOT_COMPETENT:
            text += _(", should go to %(bureau)s", bureau=to)
        else:
            text += _(", to %(bureau)s", bureau=to)
    if detail.days is not None and detail.reason is not None:
        reason = _named(detail.reason.value, REASON_TEXT)
        text += _(", by %(days)s days (%(reason)s)", days=detail.days, reason=reason)
    if detail.outcome is not None:
        text += _(LABEL_END) + _named(detail.outcome.value, OUTCOME_TEXT)
    return text


def _show_status(report: StatusReport) -> None:
    petition = _(
        "Petition %(id)s to %(bureau)s (%(bureau_id)s)",
        id=report.petition_id,
        bureau=report.bureau_name,
        bureau_id=report.bureau_id,
    )
    if report.submitted_day:
        petition += _(", submitted %(day)s", day=report.submitted_day)
    print(petition)
    handler_id, handler_name = report.handling
    if handler_id != report.bureau_id:
        print(
            _(
                "Now with: %(bureau)s (%(bureau_id)s)",
                bureau=handler_name or _(NOT_IN_DIRECTORY),
                bureau_id=handler_id,
            )
        )
    if report.receipt is not None:
        receipt = report.receipt.receipt
        print(
            _(
                "Receipt verified: entry %(index)s of a log of %(size)s, %(witnessing)s",
                index=receipt.index + 1,
                size=receipt.checkpoint.size,
                witnessing=witnessing_text(report.receipt.witnessing),
            )
        )
    print()
    print(_("Events (each checked against its bureau's signature in the verified directory):"))
    for shown in report.events:
        inclusion = _(_INCLUSION[shown.inclusion])
        if shown.reply_sequence is not None:
            inclusion += _(CLAUSE_END) + _("reply %(number)s", number=shown.reply_sequence + 1)
        mark = "  " if shown.verified else "!!"
        number = shown.leaf_index + 1
        where = _("[entry %(index)s, %(inclusion)s]", index=number, inclusion=inclusion)
        print(f"{mark} {shown.entry.day.isoformat()}  {describe_event(shown)}  {where}")
        for problem in shown.problems:
            print(
                "     "
                + _(
                    "NOT VERIFIED: %(problem)s; this event is left out of the clock",
                    problem=problem.message,
                )
            )
        if shown.to_respondent is not None:
            for line in transfer_warning(shown):
                print(f"     {line}")
    if not report.events:
        print("   " + _("(none listed)"))
    print()
    for line in clock_lines(report):
        print(line)
    print()
    if not report.replies:
        print(_("No reply yet."))
    for reply in report.replies:
        came = (
            _(
                ", with the %(event)s event (entry %(index)s)",
                event=event_name(reply.event),
                index=reply.leaf_index + 1,
            )
            if reply.leaf_index is not None
            else _(", %(event)s; no event of this petition names it", event=event_name(reply.event))
        )
        if reply.problem is not None:
            print(
                _(
                    "Reply %(number)s%(came)s: NOT SHOWN: %(problem)s",
                    number=reply.sequence + 1,
                    came=came,
                    problem=reply.problem,
                )
            )
            continue
        print(
            _(
                "Reply %(number)s (%(day)s)%(came)s, signed by the bureau (signature verified):",
                number=reply.sequence + 1,
                day=reply.day,
                came=came,
            )
        )
        for line in (reply.message or "").splitlines() or [""]:
            print(f"  {line}")
        print()


_NOUN = {Event.TRANSFERRED: "transfer", Event.ASSIGNED: "assignment"}


def transfer_warning(shown: ShownEvent) -> list[str]:
    """Art. 30: the case went to the body the petitioner complains about."""
    entry = shown.entry
    lines = [
        f"WARNING: this {_NOUN.get(entry.event, entry.event.value)} sends your case to "
        f"{shown.to_name or entry.detail.to}"
        f", which your petition names as the body complained about ({shown.to_respondent}).",
        "Regulations Art. 30 and Art. 46(5) forbid passing a complaint to the body it is about.",
    ]
    if shown.next_level is not None:
        above_id, above_name = shown.next_level
        lines.append(
            f"You can ask the next level, {above_name} ({above_id}), one level above "
            f"{shown.bureau_name or entry.bureau_id}, to put this right."
        )
    else:
        lines.append(f"The directory lists no level above {shown.bureau_name or entry.bureau_id}.")
    return lines


def _english() -> bool:
    return translator().language == "en"


def _article(article: str) -> str:
    """ "Art. 43; Art. 44(3)" as the protocol writes it in English, else as the web UI says it."""
    return article if _english() else article_text(article, translator())


def _action_rule(code: str, rule: str, what: str) -> str:
    """What the law lets the petitioner do: the web UI's sentence for it outside English."""
    text = ACTION_TEXT.get((code, what)) or ACTION_TEXT.get((code, ""))
    return rule if _english() or text is None else _(text)


def clock_lines(report: StatusReport) -> list[str]:
    """The statutory clock in words: the deadline, the action the law gives, Art. 19."""
    clock = report.clock
    if clock is None:
        return [_("Deadlines: cannot be computed: %(problem)s", problem=report.clock_problem)]
    lines = [
        _(
            "Deadlines on %(day)s (2022 Regulations on Letters and Visits):",
            day=clock.today.isoformat(),
        )
    ]
    deadline = clock.deadline
    if deadline is not None and clock.days_left is not None:
        words = (
            _(DEADLINE_WORDS[deadline.what]) if deadline.what in DEADLINE_WORDS else deadline.what
        )
        article = _article(deadline.article)
        due = _("due %(day)s (%(article)s)", day=deadline.due.isoformat(), article=article)
        if clock.days_left > 0:
            when = translator().ngettext("%(num)s day left", "%(num)s days left", clock.days_left)
        elif clock.days_left == 0:
            when = _("due today")
        else:
            days = clock.days_overdue
            when = translator().ngettext("%(num)s day past", "%(num)s days past", days)
        state = _("OVERDUE") if clock.overdue else _("Running")
        if deadline.kind is Kind.PETITIONER_RIGHT:
            state = _("Lapsed") if clock.overdue else _("Open to you")
        lines.append(
            "  "
            + _(
                "%(state)s: %(what)s, %(due)s, %(when)s.",
                state=state,
                what=words,
                due=due,
                when=when,
            )
        )
        rule = deadline.rule
        if not _english() and deadline.what in DEADLINE_RULE_TEXT:
            rule = _(DEADLINE_RULE_TEXT[deadline.what])
        lines.append(f"    {rule}")
    elif deadline is None:
        lines.append("  " + _("No deadline is running."))
    if clock.action is not None:
        action = clock.action
        lines.append(
            "  "
            + _(
                "What you can do (%(code)s, %(article)s): %(rule)s",
                code=action.code,
                article=_article(action.article),
                rule=_action_rule(action.code, action.rule, deadline.what if deadline else ""),
            )
        )
    if clock.parallel_petition_barred:
        lines.append(
            "  "
            + _(
                "Art. 19: while a body is within its time limit, the same petition brought to a "
                "higher level is not accepted; wait for the answer or for the due day to pass."
            )
        )
    elif clock.action is not None and clock.action.code == "ask_next_level":
        lines.append(
            "  " + _("Art. 19 no longer holds the case at this level: the time limit has passed.")
        )
    return lines
