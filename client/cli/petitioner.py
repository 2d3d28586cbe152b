"""``petition init``, ``bureaus``, ``submit`` and ``status``: the petitioner's commands."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import qrcode
from qrcode.image.pure import PyPNGImage

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
from client.session import Session, pin_server
from crypto.errors import InvalidReceiptCode, MalformedInput
from crypto.fields import parse_day
from crypto.keys import VerifyKey, format_fingerprint
from crypto.receipt import ReceiptSecret
from crypto.statutory import Event, Kind

if TYPE_CHECKING:
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]

#: Sentences of the questions and cancellations (the prompts themselves: client/cli/prompts.py).
SEND_QUESTION = "Send it to {bureau} ({bureau_id}) now?"
NOTHING_SENT = "cancelled; nothing was sent"
REVIEW_QUESTION = "Send this request to {bureau} ({bureau_id}) now?"
STATUS_CANCELLED = "cancelled"


#: One flag on `petition submit`, `seal` and `review`, so one text (and one variable).
SHARE_IDENTITY_HELP = (
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
        help="check the log's checkpoints against this tlog-policy (which witnesses must "
        "cosign) instead of PETITION_HOME/policy or the directory's; it must name the "
        "directory's log",
    )


def register_init(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "init",
        help="petitioner: pin the server and its directory authority",
        description="Pin a server and the fingerprint of its directory authority. Every later "
        "command verifies the directory against this authority and stops if it does not match.",
    )
    flag(parser, "--server", required=True, metavar="URL", help="the submission server")
    flag(
        parser,
        "--trust",
        required=True,
        metavar="FINGERPRINT",
        help="the authority fingerprint, from a source you trust (64 hex digits)",
    )
    add_network(parser)
    parser.set_defaults(handler=_init)


def _init(args: argparse.Namespace) -> int:
    home = home_from(args)
    config, directory = pin_server(home, args.server, args.trust, network_from(args))
    fingerprint = format_fingerprint(VerifyKey(config.authority_key).fingerprint)
    print(f"Pinned {config.server}")
    print(f"  directory authority {fingerprint}")
    print(f"  directory serial {directory.serial}, {len(directory.bureaus)} bureau(s)")
    if config.proxy:
        print(f"  every connection goes through {config.proxy}")
    print(f"Settings saved in {home.path} (no petition data is ever kept there).")
    return 0


def register_bureaus(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "bureaus",
        help="petitioner: list the bureaus of the verified directory",
        description="List the bureaus a petition can go to: the id to give `petition submit "
        "--bureau`, the name, the bureau one level up and what it covers, from the directory "
        "signed by the authority pinned with `petition init`.",
    )
    add_network(parser)
    parser.set_defaults(handler=_bureaus)


def _bureaus(args: argparse.Namespace) -> int:
    with Session.open(home_from(args), network_from(args)) as session:
        directory = session.directory()
        print(f"Directory serial {directory.serial} of {directory.day}, signature verified.")
        for bundle in directory.bureaus:
            identity = format_fingerprint(bundle.identity_key.key_id)[:9]
            case = format_fingerprint(bundle.case_key.key_id)[:9]
            print(f"  {bundle.bureau_id:<20} {bundle.name}  (identity key {identity}…, "
                  f"case key {case}…)")  # fmt: skip
            place = directory.place(bundle.bureau_id)
            covers = f"covers {place.covers}" if place.covers else "coverage not stated"
            above = f"next level up: {place.parent}" if place.parent else "top level"
            print(f"  {'':<20} {covers}; {above}")
        if not directory.bureaus:
            print("  (no bureau is published yet)")
    return 0


def add_form_flags(parser: argparse.ArgumentParser) -> None:
    """The petition's fields (``submit`` and ``seal``); those not given are asked for."""
    flag(parser, "--bureau", required=True, metavar="ID", help="the bureau (see `bureaus`)")
    flag(parser, "--name", help="your real name")
    flag(parser, "--id-number", help="your resident ID number (asked without echo if missing)")
    flag(parser, "--contact", help="how the bureau can reach you")
    flag(parser, "--subject", help="one-line subject")
    flag(parser, "--body-file", type=Path, help="UTF-8 file with the petition's text")
    flag(parser, "--category", help="category of the matter")
    flag(parser, "--region", help="region the matter concerns")
    flag(parser, "--respondent", help="the body complained about (optional)")
    flag(parser, "--allow-contact", action=argparse.BooleanOptionalAction, default=None,
         help="whether the bureau may use your contact details (default: allow)")  # fmt: skip
    flag(parser, "--share-identity-on-transfer", action=argparse.BooleanOptionalAction,
         default=None, help=SHARE_IDENTITY_HELP)  # fmt: skip
    flag(parser, "--attach", action="append", type=Path, default=[], metavar="FILE",
         help="attach a file (repeatable)")  # fmt: skip


def register_submit(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "submit",
        help="petitioner: write, encrypt and submit a petition",
        description="Encrypt a petition on this device for one bureau and submit it. Fields "
        "not given as flags are asked for (the ID number without echo). Nothing about the "
        "petition is kept on this device unless you ask (--save-receipt, --qr-png).",
    )
    add_form_flags(parser)
    flag(parser, "--qr-png", type=Path, metavar="FILE", help="also write the receipt QR as PNG")
    flag(parser, "--no-qr", action="store_true", help="do not draw the QR code on the terminal")
    flag(
        parser,
        "--save-receipt",
        type=Path,
        metavar="FILE",
        help="keep the receipt in a passphrase-protected file",
    )
    add_passphrase_file(parser, "receipt file")
    add_policy(parser)
    add_network(parser)
    parser.set_defaults(handler=_submit)


def _submit(args: argparse.Namespace) -> int:
    home = home_from(args)
    for path in (args.qr_png, args.save_receipt):
        if path is not None and path_is_taken(Path(path)):
            raise InvalidInput(f"{path} already exists; nothing was submitted")
    if args.id_number is not None:
        validate_identity(args.id_number)  # a typo is reported before anything goes out
    with Session.open(home, network_from(args), policy_file=args.policy) as session:
        bundle = session.bureau(args.bureau)  # fail before asking anything
        if sys.stdin.isatty():
            print(f"Petition to {bundle.name} ({bundle.bureau_id})", file=sys.stderr)
        question = SEND_QUESTION.format(bureau=bundle.name, bureau_id=bundle.bureau_id)
        form = collect_form(args, bundle.bureau_id, Purpose(question, NOTHING_SENT))
        passphrase = None
        if args.save_receipt is not None:
            passphrase = read_passphrase(
                args.passphrase_file, prompt="New passphrase for the receipt file", confirm=True
            )
        with StepReporter() as reporter:
            result = submit_petition(
                session, form, Progress(step=reporter.step, upload=reporter.upload)
            )
        requests = [f"{method} {path}" for method, path in session.transport.requests]
    _show_receipt(result, bundle.name, requests, qr=not args.no_qr)
    if args.qr_png is not None:
        write_qr_png(Path(args.qr_png), result.code)
        print(f"QR code written to {args.qr_png} (it holds the receipt code: keep it private)")
    if args.save_receipt is not None and passphrase is not None:
        save_receipt(Path(args.save_receipt), result, passphrase)
        print(f"Receipt saved, encrypted with your passphrase, in {args.save_receipt}")
    if args.qr_png is None and args.save_receipt is None:
        print("Nothing about this petition was saved on this device.")
    remind_to_clear()
    return 0


def _show_receipt(
    result: SubmissionResult, bureau_name: str, requests: list[str], *, qr: bool
) -> None:
    again = "" if result.first_time else " (the server already had it: not stored twice)"
    print(f"Submitted to {bureau_name} ({result.bureau_id}){again}.")
    print(f"  petition id {result.petition_id}, {result.envelope_length} bytes sealed")
    print(f"  requests sent: {', '.join(requests)}")
    print(
        f"  receipt verified: signed by the log, entry {result.leaf_index} "
        f"of a log of {result.checkpoint_size}; {result.witnessing.describe()}"
    )
    if not result.witnessing.witnessed:
        print(
            "  The petition was accepted: the log's signature proves it. `petition status` "
            "later fetches a witnessed receipt."
        )
    print()
    show_code(result.code, qr=qr)


def show_code(code: str, *, qr: bool) -> None:
    """The receipt code, the one thing the petitioner keeps, and its QR code."""
    print("Your receipt code. It is the only way to read the bureau's reply; write it down")
    print("and keep it where nobody else can see it:")
    print()
    print(f"    {code}")
    print()
    if qr:
        print_qr(code)


def write_qr_png(path: Path, code: str) -> None:
    image = qrcode.make(code, image_factory=PyPNGImage, border=4)
    try:
        with path.open("xb") as handle:
            image.save(handle)
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror}") from exc


def register_status(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "status",
        help="petitioner: events, deadlines and replies for a receipt code",
        description="Show every public event of a petition (each checked against its bureau's "
        "signature and the log), the deadline the Regulations now set and what you can do when "
        "it has passed, and every reply, decrypted with the receipt code. Without CODE it is "
        "asked for without echo (a code typed on the command line stays in the shell's history).",
    )
    parser.add_argument(
        "code", nargs="?", metavar="CODE_OR_FILE", help="receipt code, or a saved receipt file"
    )
    flag(
        parser,
        "--respondent",
        metavar="TEXT",
        variable="PETITION_STATUS_RESPONDENT",
        help="the body you complain about, as written in your petition: a transfer of your "
        "case to it is flagged (Regulations Arts. 30 and 46(5)); it is not sent anywhere",
    )
    parser.add_argument(
        "--on",
        metavar="YYYY-MM-DD",
        help="show the deadlines as they will stand on this day if nothing else happens "
        "(default: today, UTC), e.g. to see what you may do if no answer has come by then",
    )
    add_passphrase_file(parser, "receipt file")
    add_policy(parser)
    add_network(parser)
    parser.set_defaults(handler=_status)


def register_review(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "review",
        help="petitioner: ask the next level to review a decided or overdue case",
        description="With the receipt code alone: check the case's public events, and if the "
        "Regulations allow it today (Art. 35: within 30 days of the written answer; Art. 36: "
        "of the review opinion; or once a body's deadline has passed, but never while it is "
        "within its time, Art. 19), seal a request on this device to the bureau one level "
        "above the one whose answer you contest, with the log proof of that answer (or of the "
        "missed deadline), and send it. Nothing about the case is kept on this device, so "
        "your name, ID number and contact are asked for again (the ID number without echo). "
        "The answer reaches the same receipt code.",
    )
    parser.add_argument(
        "code", nargs="?", metavar="CODE_OR_FILE", help="receipt code, or a saved receipt file"
    )
    flag(parser, "--name", help="your real name")
    flag(parser, "--id-number", help="your resident ID number (asked without echo if missing)")
    flag(parser, "--contact", help="how the bureau can reach you")
    flag(parser, "--region", help="region the matter concerns")
    flag(parser, "--body-file", type=Path, variable="PETITION_REVIEW_BODY_FILE",
         help="UTF-8 file with why you ask for a review")  # fmt: skip
    flag(parser, "--allow-contact", action=argparse.BooleanOptionalAction, default=None,
         help="whether the bureau may use your contact details (default: allow)")  # fmt: skip
    flag(parser, "--share-identity-on-transfer", action=argparse.BooleanOptionalAction,
         default=None, help=SHARE_IDENTITY_HELP)  # fmt: skip
    flag(parser, "--attach", action="append", type=Path, default=[], metavar="FILE",
         help="attach a file (repeatable)")  # fmt: skip
    add_passphrase_file(parser, "receipt file")
    add_policy(parser)
    add_network(parser)
    parser.set_defaults(handler=_review)


_REQUEST_WORDS = {Event.REVIEW_REQUESTED: "review", Event.RE_REVIEW_REQUESTED: "re-review"}


def _review(args: argparse.Namespace) -> int:
    if args.id_number is not None:
        validate_identity(args.id_number)  # a typo is reported before anything goes out
    secret, _ = read_code_or_file(args)
    with Session.open(home_from(args), network_from(args), policy_file=args.policy) as session:
        plan, _, reason = plan_review(session, secret)
        if plan is None:
            raise ReviewRefused(f"no review can be asked now: {reason}")
        what = _REQUEST_WORDS[plan.event]
        to = plan.to
        if sys.stdin.isatty():
            print(f"A {what} of the answer of {plan.contested_name} goes to {to.name} "
                  f"({to.bureau_id}), one level up, with {plan.proof_name}.",
                  file=sys.stderr)  # fmt: skip
        form = _review_form(args, plan)
        with StepReporter() as reporter:
            result = request_review(
                session, secret, plan, form, Progress(step=reporter.step, upload=reporter.upload)
            )
    again = "" if result.first_time else " (the server already had it: not logged twice)"
    proof = plan.proof.entry
    print(f"Asked {to.name} ({to.bureau_id}) for a {what} of the answer of "
          f"{plan.contested_name}{again}.")  # fmt: skip
    print(f"  with {plan.proof_name}: the log proof of {proof.event.value.replace('_', ' ')} "
          f"on {proof.day.isoformat()} (entry {plan.proof.leaf_index})")  # fmt: skip
    receipt = result.receipt.receipt
    print(f"  receipt verified: {receipt.entry.event.value.replace('_', ' ')} at "
          f"{receipt.entry.bureau_id}, entry {result.leaf_index} of a log of "
          f"{receipt.checkpoint.size}; {result.receipt.witnessing.describe()}")  # fmt: skip
    deadline = result.deadline
    print(f"  {to.name} must answer by {deadline.due.isoformat()} ({deadline.article}, "
          f"{deadline.days} days). The answer reaches the same receipt code: "
          "`petition status`.")  # fmt: skip
    print("Nothing about this petition was saved on this device.")
    return 0


def _review_form(args: argparse.Namespace, plan: ReviewPlan) -> PetitionForm:
    """The request's form: the person's fields, asked like ``submit``'s; the rest from ``plan``."""
    question = REVIEW_QUESTION.format(bureau=plan.to.name, bureau_id=plan.to.bureau_id)
    fixed = {"subject": plan.subject, "category": REVIEW_CATEGORY,
             "respondent": plan.contested_name}  # fmt: skip
    return collect_form(args, plan.to.bureau_id, Purpose(question, NOTHING_SENT),
                        fields=REVIEW_FIELDS, fixed=fixed, text_what="request text")  # fmt: skip


def read_code_or_file(args: argparse.Namespace) -> tuple[ReceiptSecret, bytes | None]:
    """The receipt secret from CODE, a saved receipt file, PETITION_CODE, or a prompt.

    The text is tried as a file first. A text the system cannot even look up as a file name (a
    long mistyped code: "File name too long") is tried as a code, and if it is not one either,
    the one line says both.
    """
    text = args.code or os.environ.get("PETITION_CODE")
    if text is None:
        text = ask_receipt_code(STATUS_CANCELLED)
    candidate, unusable = readable_file(text)
    if candidate is not None:
        passphrase = read_passphrase(
            args.passphrase_file, prompt="Passphrase of the receipt file", confirm=False
        )
        return load_receipt(candidate, passphrase)
    try:
        return ReceiptSecret.from_code(text), None
    except InvalidReceiptCode as exc:
        if unusable is None:
            raise
        shown = text if len(text) <= 60 else f"{text[:40]}…({len(text)} characters)"
        raise InvalidInput(
            f"{shown} is neither a receipt code ({exc.message}) nor a receipt file ({unusable})"
        ) from exc


def _status(args: argparse.Namespace) -> int:
    on: date | None = None
    if args.on is not None:
        try:
            on = parse_day(args.on, field="--on")
        except MalformedInput as exc:
            raise InvalidInput(exc.message) from exc
        if on < datetime.now(UTC).date():
            raise InvalidInput("--on: a day from today on; the clock does not look back")
    secret, _ = read_code_or_file(args)
    with Session.open(home_from(args), network_from(args), policy_file=args.policy) as session:
        report = petition_status(session, secret, respondent=args.respondent or "", today=on)
    _show_status(report)
    return 0


#: What each deadline of crypto.statutory waits for, in words.
DEADLINE_WORDS = {
    "acknowledge": "the written notice (taken up, forwarded, or where to take it)",
    "object_not_competent": "the receiving body's objection that the case is not for it",
    "decide": "the written answer",
    "decide_extended": "the written answer (extended)",
    "request_review": "your request for a review",
    "answer_review": "the review opinion",
    "request_re_review": "your request for a re-review",
    "answer_re_review": "the re-review opinion",
}

_INCLUSION = {
    Inclusion.PROVEN: "in the log",
    Inclusion.PENDING: "logged after the checkpoint checked now",
    Inclusion.UNCHECKED: "not checked against the log",
    Inclusion.FAILED: "NOT in the log",
}


def describe_event(shown: ShownEvent) -> str:
    """One line for an event: what happened, where, and its public detail."""
    entry = shown.entry
    at = f"{shown.bureau_name or '(not in the directory)'} ({entry.bureau_id})"
    detail = entry.detail
    text = f"{entry.event.value.replace('_', ' ')} at {at}"
    if detail.to is not None:
        to = f"{shown.to_name or '(not in the directory)'} ({detail.to})"
        verb = "should go to" if entry.event is Event.NOT_COMPETENT else "to"
        text += f", {verb} {to}"
    if detail.days is not None and detail.reason is not None:
        text += f", by {detail.days} days ({detail.reason.value.replace('_', ' ')})"
    if detail.outcome is not None:
        text += f": {detail.outcome.value.replace('_', ' ')}"
    return text


def _show_status(report: StatusReport) -> None:
    submitted = f", submitted {report.submitted_day}" if report.submitted_day else ""
    print(f"Petition {report.petition_id} to {report.bureau_name} ({report.bureau_id}){submitted}")
    handler_id, handler_name = report.handling
    if handler_id != report.bureau_id:
        print(f"Now with: {handler_name or '(not in the directory)'} ({handler_id})")
    if report.receipt is not None:
        receipt = report.receipt.receipt
        print(
            f"Receipt verified: entry {receipt.index} of a log of {receipt.checkpoint.size}, "
            f"{report.receipt.witnessing.describe()}"
        )
    print()
    print("Events (each checked against its bureau's signature in the verified directory):")
    for shown in report.events:
        paired = "" if shown.reply_sequence is None else f"; reply {shown.reply_sequence + 1}"
        mark = "  " if shown.verified else "!!"
        print(
            f"{mark} {shown.entry.day.isoformat()}  {describe_event(shown)}  "
            f"[entry {shown.leaf_index}, {_INCLUSION[shown.inclusion]}{paired}]"
        )
        for problem in shown.problems:
            print(f"     NOT VERIFIED: {problem.message}; this event is left out of the clock")
        if shown.to_respondent is not None:
            for line in transfer_warning(shown):
                print(f"     {line}")
    if not report.events:
        print("   (none listed)")
    print()
    for line in clock_lines(report):
        print(line)
    print()
    if not report.replies:
        print("No reply yet.")
    for reply in report.replies:
        came = (
            f", with the {reply.event.replace('_', ' ')} event (entry {reply.leaf_index})"
            if reply.leaf_index is not None
            else f", {reply.event.replace('_', ' ')}; no event of this petition names it"
        )
        if reply.problem is not None:
            print(f"Reply {reply.sequence + 1}{came}: NOT SHOWN: {reply.problem}")
            continue
        print(
            f"Reply {reply.sequence + 1} ({reply.day}){came}, "
            "signed by the bureau (signature verified):"
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


def clock_lines(report: StatusReport) -> list[str]:
    """The statutory clock in words: the deadline, the action the law gives, Art. 19."""
    clock = report.clock
    if clock is None:
        return [f"Deadlines: cannot be computed: {report.clock_problem}"]
    lines = [f"Deadlines on {clock.today.isoformat()} (2022 Regulations on Letters and Visits):"]
    deadline = clock.deadline
    if deadline is not None and clock.days_left is not None:
        words = DEADLINE_WORDS.get(deadline.what, deadline.what)
        due = f"due {deadline.due.isoformat()} ({deadline.article})"
        if clock.days_left > 0:
            when = f"{clock.days_left} day{'s' if clock.days_left != 1 else ''} left"
        elif clock.days_left == 0:
            when = "due today"
        else:
            days = clock.days_overdue
            when = f"{days} day{'s' if days != 1 else ''} past"
        state = "OVERDUE" if clock.overdue else "Running"
        if deadline.kind is Kind.PETITIONER_RIGHT:
            state = "Lapsed" if clock.overdue else "Open to you"
        lines.append(f"  {state}: {words}, {due}, {when}.")
        lines.append(f"    {deadline.rule}")
    elif deadline is None:
        lines.append("  No deadline is running.")
    if clock.action is not None:
        action = clock.action
        lines.append(f"  What you can do ({action.code}, {action.article}): {action.rule}")
    if clock.parallel_petition_barred:
        lines.append(
            "  Art. 19: while a body is within its time limit, the same petition brought to a "
            "higher level is not accepted; wait for the answer or for the due day to pass."
        )
    elif clock.action is not None and clock.action.code == "ask_next_level":
        lines.append("  Art. 19 no longer holds the case at this level: the time limit has passed.")
    return lines
