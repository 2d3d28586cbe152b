"""``petition bureau …``: the bureau's commands, for whichever role its keystore serves.

``init`` makes one keystore with every key; ``export-keys`` cuts it into an intake keystore
(identity, token and signing keys) and a case handler's (case, signing and token keys). Each
command uses the keys its keystore holds and names the one it lacks in a single line.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from cli_support.terminal import read_passphrase
from client.bureau import (
    MOVES_THE_CASE,
    ROLE_KEYS,
    BureauDesk,
    BureauKeys,
    Due,
    LogProof,
    OpenedCase,
    create_bureau,
    export_role,
    load_bureau,
    worklist,
    write_bundle,
)
from client.cli.options import (
    add_network,
    add_passphrase_file,
    flag,
    home_from,
    network_from,
    path_is_taken,
)
from client.errors import InvalidInput, ServerMisbehaved
from client.files import read_text_file, save_attachment
from client.session import Session
from crypto.case_event import ROUTING, DecisionOutcome, Detail, ExtensionReason, ReviewOutcome
from crypto.document import IdentityDocument, WithheldIdentity
from crypto.errors import MalformedInput
from crypto.keys import format_fingerprint
from crypto.statutory import MAX_EXTENSION_DAYS, Event
from crypto.token import DEFAULT_TOKEN_PARAMS, TokenParams

if TYPE_CHECKING:
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]

NO_TOKEN_KEY = "no token key in this keystore"  # noqa: S105  (a message)
WITHHELD = (
    "identity withheld (transferred without the petitioner's consent: the identity stayed "
    "with the first bureau; work by pseudonym)"
)


def register(subcommands: Subcommands) -> None:
    init = subcommands.add_parser(
        "init",
        help="create the bureau's keys and token salt, and its public bundle",
        description="Generate the identity and case encryption keys, the signing key, the "
        "token key and the token salt into one new passphrase-protected keystore, and write "
        "the public bundle for the directory authority (`petition admin add-bureau`). Then "
        "give each role its own keystore with `petition bureau export-keys`.",
    )
    flag(init, "--id", required=True, help="bureau id: lower-case letters, digits, '-'")
    flag(init, "--name", required=True, variable="PETITION_BUREAU_NAME",
         help="the bureau's name as petitioners will see it")  # fmt: skip
    _keystore(init)
    flag(init, "--bundle", type=Path, help="where to write the public bundle "
         "(default: ID.bundle.json next to the keystore)")  # fmt: skip
    flag(init, "--argon2-memory-kib", type=int, default=DEFAULT_TOKEN_PARAMS.memory_kib,
         help="Argon2id memory petitioners' devices spend per petition")  # fmt: skip
    flag(init, "--argon2-time-cost", type=int, default=DEFAULT_TOKEN_PARAMS.time_cost,
         help="Argon2id passes per petition")  # fmt: skip
    add_passphrase_file(init, "keystore")
    init.set_defaults(handler=_init)

    export = subcommands.add_parser(
        "export-keys",
        help="write a keystore with only the keys one role needs",
        description="Write a new keystore, under a new passphrase, holding only what one role "
        "needs. intake: the identity, token and signing keys (who petitioned, and their "
        "pseudonym). handler: the case, signing and token keys (the case and the pseudonym, "
        "never the identity). Both also hold the public bundle.",
    )
    _keystore(export)
    flag(export, "--role", required=True, choices=sorted(ROLE_KEYS), help="the role")
    flag(export, "--out", type=Path, required=True, variable="PETITION_EXPORT_OUT",
         help="the keystore to create (mode 0600)")  # fmt: skip
    add_passphrase_file(export, "keystore")
    flag(export, "--new-passphrase-file", type=Path,
         help="read the new keystore's passphrase from the first line of this file "
         "instead of asking")  # fmt: skip
    export.set_defaults(handler=_export)

    inbox = subcommands.add_parser(
        "inbox",
        help="list petitions: case, pseudonym, checks (case key)",
        description="List the bureau's petitions. Unless --no-open, each case section is "
        "decrypted on this machine (case key), shown with the petitioner's pseudonym (token "
        "key) so that one person's petitions are seen together, and, when the keystore also "
        "holds the identity key, given the binding check.",
    )
    _keystore(inbox)
    _page_flags(inbox)
    flag(inbox, "--no-open", action="store_true", help="list only; do not open each petition")
    flag(inbox, "--due", action="store_true",
         help="the worklist: what the statutory clock asks of this bureau, nearest deadline "
         "first, with the article and the days left or overdue (signing key only)")  # fmt: skip
    _session_flags(inbox)
    inbox.set_defaults(handler=_inbox)

    show = subcommands.add_parser(
        "show",
        help="decrypt one petition: the case, the pseudonym, the identity if this keystore may",
        description="Fetch one petition from the server and decrypt what this keystore may "
        "open: the case (case key) with its pseudonym, the identity (identity key), and the "
        "case events so far. Nothing is changed on the server.",
    )
    show.add_argument("petition_id", metavar="PETITION_ID", help=PETITION_ID_HELP)
    _keystore(show)
    flag(show, "--save-attachments", type=Path, metavar="DIR", help="write attachments here")
    _session_flags(show)
    show.set_defaults(handler=_show)

    intake = subcommands.add_parser(
        "intake",
        help="who petitioned: identities and their pseudonyms (identity and token keys)",
        description="Open the identity sections (identity key) and derive each petitioner's "
        "pseudonym from the ID number (token key): the same pseudonym case handlers see. With "
        "the case key too, check that each case belongs to its identity. Without PETITION_ID, "
        "a page of the inbox, grouped by person.",
    )
    intake.add_argument("petition_id", nargs="?", metavar="PETITION_ID", help=PETITION_ID_HELP)
    _keystore(intake)
    _page_flags(intake)
    _session_flags(intake)
    intake.set_defaults(handler=_intake)

    for spec in EVENT_COMMANDS:
        parser = subcommands.add_parser(spec.name, help=spec.help, description=spec.description)
        parser.add_argument("petition_id", metavar="PETITION_ID", help=PETITION_ID_HELP)
        _keystore(parser)
        if spec.event in ROUTING:
            flag(parser, "--to", required=True, metavar="BUREAU", help=spec.to_help,
                 variable=spec.to_variable)  # fmt: skip
        if spec.event is Event.EXTENDED:
            flag(parser, "--days", type=int, required=True, help=f"1 to {MAX_EXTENSION_DAYS} days")
            flag(parser, "--reason", required=True, choices=[r.value for r in ExtensionReason],
                 help="the public reason category (tell the full reason in --message)")  # fmt: skip
        if spec.event is Event.DECIDED:
            flag(parser, "--outcome", required=True, choices=[o.value for o in DecisionOutcome],
                 help="the public outcome category of the written answer")  # fmt: skip
        if spec.event in (Event.REVIEWED, Event.RE_REVIEWED):
            flag(parser, "--outcome", required=True, choices=[o.value for o in ReviewOutcome],
                 variable="PETITION_REVIEW_OUTCOME",
                 help="upheld: the answer stands; changed: it is changed or overturned "
                 "(public)")  # fmt: skip
        flag(parser, "--message", help="a message to the petitioner, sealed to them and signed")
        flag(parser, "--message-file", type=Path, help="UTF-8 file with that message")
        _session_flags(parser)
        parser.set_defaults(handler=_record, event_spec=spec)


@dataclass(frozen=True)
class EventCommand:
    """One bureau command: the event it records and how it is explained."""

    name: str
    event: Event
    help: str
    description: str
    to_help: str = ""
    #: ``--to`` names the competent bureau (the case stays) or the one that receives the case:
    #: two meanings, two variables.
    to_variable: str = "PETITION_TO"


PETITION_ID_HELP = "the petition's id, 32 hex digits, as the inbox lists it"
RECEIVING_BUREAU = "the id of the bureau that receives the case"
_MESSAGE = (
    " With --message, the written notice or answer is sealed to the petitioner (case key), "
    "signed, and its hash goes into the public entry; there is no message without an event."
)
EVENT_COMMANDS = (
    EventCommand(
        "acknowledge",
        Event.ACKNOWLEDGED,
        "accept the petition: the written notice of Art. 23 (signing key)",
        "Record, signed, that the bureau took the petition up (Art. 23, within 15 days of "
        "receipt); the 60 days of Art. 34 start." + _MESSAGE,
    ),
    EventCommand(
        "not-competent",
        Event.NOT_COMPETENT,
        "declare the petition outside this bureau's powers, naming the competent bureau",
        "Record, signed, that the matter is not this bureau's, and which bureau it belongs to "
        "(Arts. 22, 23). The case stays here until it is transferred." + _MESSAGE,
        "the competent bureau's id",
        "PETITION_COMPETENT_BUREAU",
    ),
    EventCommand(
        "transfer",
        Event.TRANSFERRED,
        "transfer the case to the competent bureau (case and signing keys)",
        "Re-seal the case for the receiving bureau and record the transfer, signed (Art. 22). "
        "The identity goes along only if the petitioner consented and this keystore holds the "
        "identity key; otherwise it stays here and the receiving bureau works by pseudonym. "
        "A transfer to the body the petitioner complains about, or to one below it, is "
        "refused (Art. 30)." + _MESSAGE,
        RECEIVING_BUREAU,
    ),
    EventCommand(
        "assign",
        Event.ASSIGNED,
        "assign the case to a body below for handling (case and signing keys)",
        "As transfer, for a case assigned (交办) to a body that must report back (Art. 22); "
        "the same Art. 30 refusal and the same rule for the identity." + _MESSAGE,
        RECEIVING_BUREAU,
    ),
    EventCommand(
        "extend",
        Event.EXTENDED,
        "extend the 60 days of Art. 34 once, by at most 30 days, with a reason",
        "Record, signed, an extension (Art. 34: once, at most 30 days, before the 60 days run "
        "out). The reason category is public; tell the petitioner the reason in --message.",
    ),
    EventCommand(
        "decide",
        Event.DECIDED,
        "record the written answer (Arts. 32, 34) and its outcome category",
        "Record, signed, the written answer and its public outcome (supported, explained, not "
        "supported); the petitioner's 30 days to ask for a review start (Art. 35)." + _MESSAGE,
    ),
    EventCommand(
        "reviewed",
        Event.REVIEWED,
        "record the review opinion (复查, Art. 35) on a case asked up to this bureau",
        "Record, signed, this bureau's review opinion on the answer of the bureau below (the "
        "petitioner's request arrived with the log proof of that answer: see `show`), and its "
        "public outcome (upheld or changed); the petitioner's 30 days to ask for a re-review "
        "start (Art. 36)." + _MESSAGE,
    ),
    EventCommand(
        "re-reviewed",
        Event.RE_REVIEWED,
        "record the re-review opinion (复核, Art. 36); after it the matter is final",
        "Record, signed, this bureau's re-review opinion on the review of the bureau below, "
        "and its public outcome (upheld or changed). A complaint on the same facts and "
        "reasons is not taken up again (Art. 36)." + _MESSAGE,
    ),
    EventCommand(
        "close",
        Event.CLOSED,
        "close the case (answers nothing: a deadline missed stays missed)",
        "Record, signed, that the case is closed. Closing ends no deadline; the petitioner's "
        "rights stay open." + _MESSAGE,
    ),
)


def _keystore(parser: argparse.ArgumentParser) -> None:
    flag(parser, "--keystore", type=Path, required=True, help="the bureau's keystore file")


def _page_flags(parser: argparse.ArgumentParser) -> None:
    flag(parser, "--after", type=int, default=0, help="start after this cursor")
    flag(parser, "--limit", type=int, default=50, help="how many petitions (1-500)")


def _session_flags(parser: argparse.ArgumentParser) -> None:
    add_passphrase_file(parser, "keystore")
    add_network(parser)


def _keys(args: argparse.Namespace) -> BureauKeys:
    passphrase = read_passphrase(
        args.passphrase_file, prompt="Passphrase of the bureau keystore", confirm=False
    )
    return load_bureau(Path(args.keystore), passphrase)


def _init(args: argparse.Namespace) -> int:
    keystore = Path(args.keystore)
    bundle_path = Path(args.bundle or keystore.parent / f"{args.id}.bundle.json")
    if path_is_taken(bundle_path):
        raise InvalidInput(f"{bundle_path} already exists; nothing was created")
    try:
        params = TokenParams(
            memory_kib=args.argon2_memory_kib, time_cost=args.argon2_time_cost, parallelism=1
        )
    except MalformedInput as exc:
        raise InvalidInput(f"Argon2id parameters: {exc.message}") from exc
    passphrase = read_passphrase(
        args.passphrase_file, prompt="New passphrase for the bureau keystore", confirm=True
    )
    keys = create_bureau(args.id, args.name, keystore, passphrase, params)
    write_bundle(bundle_path, keys)
    bundle = keys.bundle
    print(f"Bureau {bundle.bureau_id} ({bundle.name}): every key created in {keystore}")
    print(f"  identity key {format_fingerprint(bundle.identity_key.key_id)}")
    print(f"  case key     {format_fingerprint(bundle.case_key.key_id)}")
    print(f"  signing key  {format_fingerprint(bundle.signing_key.fingerprint)}")
    print("  token key and token salt (the token key never leaves the bureau's keystores)")
    print(f"Public bundle written to {bundle_path}. Next:")
    print(f"  the directory authority publishes it: petition admin add-bureau {bundle_path}")
    print("  each role gets its own keys: petition bureau export-keys --role intake|handler")
    return 0


def _export(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if path_is_taken(out):
        raise InvalidInput(f"{out} already exists; nothing was written")
    keys = _keys(args)
    passphrase = read_passphrase(
        args.new_passphrase_file, prompt=f"New passphrase for the {args.role} keystore",
        confirm=True,
    )  # fmt: skip
    entries = export_role(keys, args.role, out, passphrase)
    names = ", ".join(entry.removesuffix("-key") for entry in entries)
    print(f"{args.role.capitalize()} keystore of {keys.bureau_id} written to {out}: "
          f"{names} keys and the public bundle (mode 0600)")  # fmt: skip
    return 0


def _desk(args: argparse.Namespace, keys: BureauKeys) -> tuple[Session, BureauDesk]:
    keys.signing_key()  # every request to the server is signed: say so before connecting
    session = Session.open(home_from(args), network_from(args))
    desk = BureauDesk(session, keys)
    if desk.published_bundle_differs():
        print(
            f"warning: the directory lists other keys for {keys.bureau_id} than this keystore",
            file=sys.stderr,
        )
    return session, desk


def _check_page(args: argparse.Namespace) -> None:
    if not 1 <= args.limit <= 500 or args.after < 0:
        raise InvalidInput("--limit must be 1-500 and --after at least 0")


def _line(item: dict[str, object]) -> str:
    return f"  #{item['cursor']:<6} {item['petition_id']}  {item['day']}  {item['event']:<13}"


def _due(args: argparse.Namespace) -> int:
    keys = _keys(args)
    session, desk = _desk(args, keys)
    with session:
        items, next_cursor = desk.inbox(args.after, args.limit)
    today = datetime.now(UTC).date()
    rows = worklist(items, today)
    print(f"{len(rows)} petition(s) handled by {desk.keys.bureau_id} on {today.isoformat()}, "
          "nearest deadline first")  # fmt: skip
    for due in rows:
        print(f"  {due.petition_id}  {due.latest:<13} {_due_text(due)}")
    if items:
        print(f"Next page: --after {next_cursor}")
    return 0


def _due_text(due: Due) -> str:
    clock = due.clock
    if clock is None:
        return f"✗ impossible history: {due.problem}"
    deadline = clock.deadline
    if deadline is None or clock.days_left is None:
        return "nothing due"
    what = DEADLINE_WORDS.get(deadline.what, deadline.what)
    if clock.days_left < 0:
        when = f"OVERDUE by {-clock.days_left} day(s) (was due {deadline.due.isoformat()})"
    elif clock.days_left == 0:
        when = f"due TODAY ({deadline.due.isoformat()})"
    else:
        when = f"{clock.days_left} day(s) left (due {deadline.due.isoformat()})"
    return f"{what}, {deadline.article}: {when}"


#: What each statutory deadline asks, in the worklist's words.
DEADLINE_WORDS = {
    "acknowledge": "acknowledge, forward or answer",
    "object_not_competent": "object if not competent",
    "decide": "decide",
    "decide_extended": "decide (extended)",
    "request_review": "petitioner may ask for a review",
    "answer_review": "answer the review",
    "request_re_review": "petitioner may ask for a re-review",
    "answer_re_review": "answer the re-review",
}


def _inbox(args: argparse.Namespace) -> int:
    _check_page(args)
    if args.due:
        return _due(args)
    keys = _keys(args)
    if not args.no_open:
        keys.case_key()  # before any request: one line if this keystore cannot read cases
    session, desk = _desk(args, keys)
    rows: list[tuple[str, OpenedCase | str]] = []
    with session:
        items, next_cursor = desk.inbox(args.after, args.limit)
        for item in items:
            if args.no_open:
                rows.append((_line(item), ""))
                continue
            try:
                rows.append((_line(item), desk.open_case(str(item["petition_id"]))))
            except ServerMisbehaved as exc:  # one altered record must not hide the others
                rows.append((_line(item), f"✗ ALTERED  {exc.message}"))
    print(f"{len(items)} petition(s) for {desk.keys.bureau_id} after cursor {args.after}")
    if not args.no_open and desk.keys.token is None:
        print(f"  (pseudonyms not shown: {NO_TOKEN_KEY})")
    counts = Counter(row.pseudonym for _, row in rows if isinstance(row, OpenedCase))
    flagged = 0
    for line, row in rows:
        if isinstance(row, str):
            flagged += bool(row)
            print(f"{line}  {row}" if row else line)
            continue
        flagged += not row.ok
        subject = row.case.subject if row.case is not None else "(cannot be opened)"
        print(f"{line}  {_binding_mark(row)}  {_pseudonym(row, counts)}{subject}")
    _same_person(rows, counts)
    if items:
        print(f"Next page: --after {next_cursor}")
    if not args.no_open and desk.keys.identity is None and rows:
        print("Token binding not checked (·): this keystore has no identity key; intake checks "
              "it (`petition bureau intake`)")  # fmt: skip
    if flagged:
        print(f"{flagged} petition(s) FAILED a check (marked ✗): see `petition bureau show`")
        return 1
    return 0


def _pseudonym(opened: OpenedCase, counts: Counter[str | None]) -> str:
    if opened.pseudonym is None:
        return ""
    several = counts[opened.pseudonym]
    return (
        f"pseudonym {opened.pseudonym}" + (f" ({several} petitions)" if several > 1 else "") + "  "
    )


def _same_person(rows: list[tuple[str, OpenedCase | str]], counts: Counter[str | None]) -> None:
    repeated = [name for name, count in counts.items() if name is not None and count > 1]
    if not repeated:
        return
    print("Several petitions from one person (same pseudonym) in this page:")
    for name in repeated:
        cursors = [
            line.split()[0] for line, row in rows
            if isinstance(row, OpenedCase) and row.pseudonym == name
        ]  # fmt: skip
        print(f"  pseudonym {name}: {len(cursors)} petitions ({', '.join(cursors)})")


def _binding_mark(opened: OpenedCase) -> str:
    """An envelope that cannot be opened is not a token problem: say which check failed."""
    if opened.case is None and opened.identity is None:
        return "✗ UNOPENABLE"
    if opened.binding is None:
        return "· token"
    return "✓ token" if opened.binding else "✗ TOKEN"


def _show(args: argparse.Namespace) -> int:
    keys = _keys(args)
    keys.case_key()
    session, desk = _desk(args, keys)
    with session:
        opened = desk.open_case(args.petition_id)
        proofs = desk.check_log_proofs(opened)
    stored, case = opened.stored, opened.case
    print(f"Petition {stored.petition_id} ({stored.day}, latest event {stored.latest_event}, "
          f"log entry {stored.leaf_index}, {len(stored.replies)} reply/replies)")  # fmt: skip
    if case is None:
        for problem in opened.problems:
            print(f"✗ {problem}")
        return 1
    print(f"  Pseudonym:  {opened.pseudonym or '(' + NO_TOKEN_KEY + ')'}")
    if desk.keys.identity is None:
        print("  Identity:   sealed to intake (this keystore has no identity key)")
    else:
        _binding_lines(opened)
        if opened.identity is not None:
            _identity_lines(opened.identity)
    print(f"  Category:   {case.category}")
    print(f"  Region:     {case.region}")
    print(f"  Respondent: {case.respondent or '(none named)'}")
    print(f"  Written:    {case.created_day}")
    print(f"  Subject:    {case.subject}")
    print("  Text:")
    for line in case.body.splitlines() or [""]:
        print(f"    {line}")
    for attachment in case.attachments:
        print(f"  Attachment: {attachment.name} ({attachment.media_type}, "
              f"{len(attachment.data)} bytes)")  # fmt: skip
        if args.save_attachments is not None:
            saved = save_attachment(Path(args.save_attachments), attachment)
            print(f"    saved to {saved}")
    _proof_lines(proofs)
    return 0 if opened.ok and all(proof.ok for proof in proofs) else 1


def _proof_lines(proofs: list[LogProof]) -> None:
    """A request for review carries the log proof of what it contests: say what it proves."""
    for proof in proofs:
        if proof.receipt is None:
            print(f"{proof.name}: log proof: ✗ FAILED: {proof.problem}")
            continue
        entry = proof.receipt.entry
        print(f"{proof.name}: log proof: verified ({entry.event.value.replace('_', ' ')} on "
              f"{entry.day.isoformat()} by {entry.bureau_id}; log entry "
              f"{proof.receipt.index} of {proof.receipt.checkpoint.size})")  # fmt: skip


def _binding_lines(opened: OpenedCase) -> None:
    if opened.binding:
        print("Token binding: ✓ the case's pseudonym is derived from the ID number inside")
    for problem in opened.problems:
        print(f"Token binding: ✗ {problem}")


def _identity_lines(identity: IdentityDocument | WithheldIdentity) -> None:
    if isinstance(identity, WithheldIdentity):
        print(f"  Identity:   {WITHHELD}")
        return
    consent = identity.consent
    print(f"  Name:       {identity.real_name}")
    print(f"  ID:         {identity.id_number} ({identity.id_scheme})")
    print(f"  Contact:    {identity.contact}")
    print(f"  Consent:    contact {_yes(consent.contact)}, identity sent along on transfer "
          f"{_yes(consent.share_identity_on_transfer)}")  # fmt: skip


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _intake(args: argparse.Namespace) -> int:
    _check_page(args)
    keys = _keys(args)
    keys.identity_key()
    keys.token_key()
    session, desk = _desk(args, keys)
    with session:
        if args.petition_id is not None:
            opened = desk.open_intake(args.petition_id)
            proofs = desk.check_log_proofs(opened)
            status = _intake_one(opened)
            _proof_lines(proofs)
            return status if all(proof.ok for proof in proofs) else 1
        items, next_cursor = desk.inbox(args.after, args.limit)
        rows: list[tuple[str, OpenedCase | str]] = []
        for item in items:
            try:
                rows.append((_line(item), desk.open_intake(str(item["petition_id"]))))
            except ServerMisbehaved as exc:
                rows.append((_line(item), f"✗ ALTERED  {exc.message}"))
    people: dict[str | None, list[tuple[str, OpenedCase]]] = {}
    flagged = 0
    for line, row in rows:
        if isinstance(row, str):
            flagged += 1
            print(f"{line}  {row}")
        else:
            flagged += not row.ok
            people.setdefault(row.pseudonym, []).append((line, row))
    persons = len([name for name in people if name is not None])
    print(f"{len(items)} petition(s) for {desk.keys.bureau_id} after cursor {args.after}, from "
          f"{persons} person(s) (pseudonym derived from each ID number)")  # fmt: skip
    for name, petitions in people.items():
        print(f"pseudonym {name or '(none: the identity does not open)'} "
              f"({len(petitions)} petition(s))")  # fmt: skip
        for line, row in petitions:
            print(f"{line}  {_binding_mark(row)}  {_who(row.identity)}")
            for problem in row.problems:
                print(f"      ✗ {problem}")
    if items:
        print(f"Next page: --after {next_cursor}")
    if desk.keys.case is None and rows:
        print("Token binding not checked (·): this keystore has no case key")
    if flagged:
        print(f"{flagged} petition(s) FAILED a check (marked ✗)")
        return 1
    return 0


def _who(identity: IdentityDocument | WithheldIdentity | None) -> str:
    if identity is None:
        return "(identity cannot be opened)"
    if isinstance(identity, WithheldIdentity):
        return WITHHELD
    consent = identity.consent
    return (
        f"{identity.real_name}  contact {identity.contact or '(none)'}  "
        f"(may contact: {_yes(consent.contact)}; identity on transfer: "
        f"{_yes(consent.share_identity_on_transfer)})"
    )


def _intake_one(opened: OpenedCase) -> int:
    stored = opened.stored
    print(f"Petition {stored.petition_id} ({stored.day}, latest event {stored.latest_event}, "
          f"log entry {stored.leaf_index})")  # fmt: skip
    none = (
        "(none here: the identity stayed with the first bureau; the case handler sees it)"
        if isinstance(opened.identity, WithheldIdentity)
        else "(none: the identity does not open)"
    )
    print(f"  Pseudonym:  {opened.pseudonym or none}")
    if isinstance(opened.identity, WithheldIdentity):
        print("Token binding: nothing to check (the identity stayed with the first bureau)")
    elif opened.binding is None:
        print("Token binding: not checked (this keystore has no case key)")
    else:
        _binding_lines(opened)
    if opened.identity is not None:
        _identity_lines(opened.identity)
    if opened.case is not None:
        print(f"  Subject:    {opened.case.subject}")
    return 0 if opened.ok else 1


def _record(args: argparse.Namespace) -> int:
    spec: EventCommand = args.event_spec
    if args.message is not None and args.message_file is not None:
        raise InvalidInput("give the message with at most one of --message or --message-file")
    message = args.message
    if args.message_file is not None:
        message = read_text_file(Path(args.message_file), "message")
    detail = Detail()
    try:
        if spec.event in ROUTING:
            detail = Detail(to=args.to.strip().lower())
        elif spec.event is Event.EXTENDED:
            if not 1 <= args.days <= MAX_EXTENSION_DAYS:
                raise InvalidInput(f"--days must be 1 to {MAX_EXTENSION_DAYS} (Art. 34)")
            detail = Detail(days=args.days, reason=ExtensionReason(args.reason))
        elif spec.event is Event.DECIDED:
            detail = Detail(outcome=DecisionOutcome(args.outcome))
        elif spec.event in (Event.REVIEWED, Event.RE_REVIEWED):
            detail = Detail(outcome=ReviewOutcome(args.outcome))
    except (ValueError, MalformedInput) as exc:
        raise InvalidInput(f"{spec.name}: {exc}") from exc
    keys = _keys(args)
    if message is not None or spec.event in MOVES_THE_CASE:
        keys.case_key()
    session, desk = _desk(args, keys)
    with session:
        recorded = desk.record(args.petition_id, spec.event, detail=detail, message=message)
    entry = recorded.entry
    said = ", with a message to the petitioner" if entry.reply_hash is not None else ""
    print(f"{spec.event.value} recorded for {entry.petition_id} on {entry.day.isoformat()}"
          f"{said}: public log entry {recorded.leaf_index}")  # fmt: skip
    if recorded.identity_shared is not None:
        if recorded.identity_shared:
            print(f"The case and the identity went to {entry.detail.to} (the petitioner "
                  "consented to sharing the identity on transfer)")  # fmt: skip
        else:
            print(f"The case went to {entry.detail.to}; the identity stayed here (no consent, "
                  "or no identity key in this keystore): they work by pseudonym")  # fmt: skip
    return 0
