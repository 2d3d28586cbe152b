"""``petition bureau …``: the bureau's commands, for whichever role its keystore serves.

``init`` makes one keystore with every key; ``export-keys`` cuts it into an intake keystore
(identity, token and signing keys) and a case handler's (case, signing and token keys). Each
command uses the keys its keystore holds and names the one it lacks in a single line.

What a reviewer reads is in the shared catalogs (cli_support/i18n.py): marked with ``_`` or
``N_``, Chinese when ``--lang``, PETITION_LANG or the locale say so, English otherwise. Events
are shown by the web UI's names (cli_support/messages.py) outside English; in English by the
protocol's word, which scripts and the public log use. The argparse help (every ``help=`` and
``description=``) is translated when :func:`register` runs, which ``petition`` does after choosing
the language, so ``petition --lang zh bureau show --help`` is Chinese too. A log entry is numbered
from 1 for people (the leaf index + 1), as the web UI and the petitioner's commands number it.
"""

from __future__ import annotations

import argparse
import sys
import unicodedata
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from cli_support.i18n import N_, _, translator
from cli_support.messages import EVENT_TEXT, article_text
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
from crypto.errors import MalformedInput, WrongPassphrase
from crypto.keys import format_fingerprint
from crypto.statutory import MAX_EXTENSION_DAYS, Event
from crypto.token import DEFAULT_TOKEN_PARAMS, TokenParams

if TYPE_CHECKING:
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]

NO_TOKEN_KEY = N_("no token key in this keystore")
WITHHELD = N_(
    "identity withheld (transferred without the petitioner's consent: the identity stayed "
    "with the first bureau; work by pseudonym)"
)
#: crypto/keystore.py's sentence for a passphrase that does not open the keystore.
WRONG_PASSPHRASE = N_("wrong passphrase, or the keystore file was altered")
#: A label's end ("Subject: "); the web UI's and the petitioner's msgid.
LABEL_END = N_(": ")


def register(subcommands: Subcommands) -> None:
    """Add the bureau's commands; their help is translated here, the language being chosen."""
    init = subcommands.add_parser(
        "init",
        help=_("create the bureau's keys and token salt, and its public bundle"),
        description=_(
            "Generate the identity and case encryption keys, the signing key, the token key and "
            "the token salt into one new passphrase-protected keystore, and write the public "
            "bundle for the directory authority (`petition admin add-bureau`). Then give each "
            "role its own keystore with `petition bureau export-keys`."
        ),
    )
    flag(init, "--id", required=True, help=_("bureau id: lower-case letters, digits, '-'"))
    flag(init, "--name", required=True, variable="PETITION_BUREAU_NAME",
         help=_("the bureau's name as petitioners will see it"))  # fmt: skip
    _keystore(init)
    flag(init, "--bundle", type=Path, help=_("where to write the public bundle "
         "(default: ID.bundle.json next to the keystore)"))  # fmt: skip
    flag(init, "--argon2-memory-kib", type=int, default=DEFAULT_TOKEN_PARAMS.memory_kib,
         help=_("Argon2id memory petitioners' devices spend per petition"))  # fmt: skip
    flag(init, "--argon2-time-cost", type=int, default=DEFAULT_TOKEN_PARAMS.time_cost,
         help=_("Argon2id passes per petition"))  # fmt: skip
    add_passphrase_file(init, "keystore")
    init.set_defaults(handler=_init)

    export = subcommands.add_parser(
        "export-keys",
        help=_("write a keystore with only the keys one role needs"),
        description=_(
            "Write a new keystore, under a new passphrase, holding only what one role needs. "
            "intake: the identity, token and signing keys (who petitioned, and their "
            "pseudonym). handler: the case, signing and token keys (the case and the pseudonym, "
            "never the identity). Both also hold the public bundle."
        ),
    )
    _keystore(export)
    flag(export, "--role", required=True, choices=sorted(ROLE_KEYS), help=_("the role"))
    flag(export, "--out", type=Path, required=True, variable="PETITION_EXPORT_OUT",
         help=_("the keystore to create (mode 0600)"))  # fmt: skip
    add_passphrase_file(export, "keystore")
    flag(export, "--new-passphrase-file", type=Path,
         help=_("read the new keystore's passphrase from the first line of this file "
                "instead of asking"))  # fmt: skip
    export.set_defaults(handler=_export)

    inbox = subcommands.add_parser(
        "inbox",
        help=_("list petitions: case, pseudonym, checks (case key)"),
        description=_(
            "List the bureau's petitions. Unless --no-open, each case section is decrypted on "
            "this machine (case key), shown with the petitioner's pseudonym (token key) so that "
            "one person's petitions are seen together, and, when the keystore also holds the "
            "identity key, given the binding check."
        ),
    )
    _keystore(inbox)
    _page_flags(inbox)
    flag(inbox, "--no-open", action="store_true",
         help=_("list only; do not open each petition"))  # fmt: skip
    flag(inbox, "--due", action="store_true",
         help=_("the worklist: what the statutory clock asks of this bureau, nearest deadline "
                "first, with the article and the days left or overdue (signing key "
                "only)"))  # fmt: skip
    _session_flags(inbox)
    inbox.set_defaults(handler=_inbox)

    show = subcommands.add_parser(
        "show",
        help=_("decrypt one petition: the case, the pseudonym, the identity if this keystore may"),
        description=_(
            "Fetch one petition from the server and decrypt what this keystore may open: the "
            "case (case key) with its pseudonym, the identity (identity key), and the case "
            "events so far. Nothing is changed on the server."
        ),
    )
    show.add_argument("petition_id", metavar="PETITION_ID", help=_(PETITION_ID_HELP))
    _keystore(show)
    flag(show, "--save-attachments", type=Path, metavar="DIR",
         help=_("write attachments here"))  # fmt: skip
    _session_flags(show)
    show.set_defaults(handler=_show)

    intake = subcommands.add_parser(
        "intake",
        help=_("who petitioned: identities and their pseudonyms (identity and token keys)"),
        description=_(
            "Open the identity sections (identity key) and derive each petitioner's pseudonym "
            "from the ID number (token key): the same pseudonym case handlers see. With the "
            "case key too, check that each case belongs to its identity. Without PETITION_ID, "
            "a page of the inbox, grouped by person."
        ),
    )
    intake.add_argument("petition_id", nargs="?", metavar="PETITION_ID", help=_(PETITION_ID_HELP))
    _keystore(intake)
    _page_flags(intake)
    _session_flags(intake)
    intake.set_defaults(handler=_intake)

    for spec in EVENT_COMMANDS:
        parser = subcommands.add_parser(
            spec.name, help=_(spec.help), description=_event_description(spec)
        )
        parser.add_argument("petition_id", metavar="PETITION_ID", help=_(PETITION_ID_HELP))
        _keystore(parser)
        if spec.event in ROUTING:
            flag(parser, "--to", required=True, metavar="BUREAU", help=_(spec.to_help),
                 variable=spec.to_variable)  # fmt: skip
        if spec.event is Event.EXTENDED:
            flag(parser, "--days", type=int, required=True,
                 help=_("1 to %(max)s days", max=MAX_EXTENSION_DAYS))  # fmt: skip
            flag(parser, "--reason", required=True, choices=[r.value for r in ExtensionReason],
                 help=_("the public reason category (tell the full reason in "
                        "--message)"))  # fmt: skip
        if spec.event is Event.DECIDED:
            flag(parser, "--outcome", required=True, choices=[o.value for o in DecisionOutcome],
                 help=_("the public outcome category of the written answer"))  # fmt: skip
        if spec.event in (Event.REVIEWED, Event.RE_REVIEWED):
            flag(parser, "--outcome", required=True, choices=[o.value for o in ReviewOutcome],
                 variable="PETITION_REVIEW_OUTCOME",
                 help=_("upheld: the answer stands; changed: it is changed or overturned "
                        "(public)"))  # fmt: skip
        flag(parser, "--message",
             help=_("a message to the petitioner, sealed to them and signed"))  # fmt: skip
        flag(parser, "--message-file", type=Path, help=_("UTF-8 file with that message"))
        _session_flags(parser)
        parser.set_defaults(handler=_record, event_spec=spec)


def _event_description(spec: EventCommand) -> str:
    """An event command's description, and what ``--message`` does where it may carry one."""
    description = _(spec.description)
    return description + _(WITH_MESSAGE) if spec.with_message else description


@dataclass(frozen=True)
class EventCommand:
    """One bureau command: the event it records and how it is explained.

    The texts are msgids (marked with ``N_``), translated by :func:`register` when the parser
    is built: the module is imported before the language is chosen.
    """

    name: str
    event: Event
    help: str
    description: str
    to_help: str = ""
    #: ``--to`` names the competent bureau (the case stays) or the one that receives the case:
    #: two meanings, two variables.
    to_variable: str = "PETITION_TO"
    #: Whether the description ends with :data:`WITH_MESSAGE` (every event but an extension,
    #: whose reason goes in ``--message`` anyway).
    with_message: bool = True


PETITION_ID_HELP = N_("the petition's id, 32 hex digits, as the inbox lists it")
RECEIVING_BUREAU = N_("the id of the bureau that receives the case")
#: Appended to an event command's description (its leading space joins two English sentences).
WITH_MESSAGE = N_(
    " With --message, the written notice or answer is sealed to the petitioner (case key), "
    "signed, and its hash goes into the public entry; there is no message without an event."
)
EVENT_COMMANDS = (
    EventCommand(
        "acknowledge",
        Event.ACKNOWLEDGED,
        N_("accept the petition: the written notice of Art. 23 (signing key)"),
        N_(
            "Record, signed, that the bureau took the petition up (Art. 23, within 15 days of "
            "receipt); the 60 days of Art. 34 start."
        ),
    ),
    EventCommand(
        "not-competent",
        Event.NOT_COMPETENT,
        N_("declare the petition outside this bureau's powers, naming the competent bureau"),
        N_(
            "Record, signed, that the matter is not this bureau's, and which bureau it belongs "
            "to (Arts. 22, 23). The case stays here until it is transferred."
        ),
        N_("the competent bureau's id"),
        "PETITION_COMPETENT_BUREAU",
    ),
    EventCommand(
        "transfer",
        Event.TRANSFERRED,
        N_("transfer the case to the competent bureau (case and signing keys)"),
        N_(
            "Re-seal the case for the receiving bureau and record the transfer, signed (Art. "
            "22). The identity goes along only if the petitioner consented and this keystore "
            "holds the identity key; otherwise it stays here and the receiving bureau works by "
            "pseudonym. A transfer to the body the petitioner complains about, or to one below "
            "it, is refused (Art. 30)."
        ),
        RECEIVING_BUREAU,
    ),
    EventCommand(
        "assign",
        Event.ASSIGNED,
        N_("assign the case to a body below for handling (case and signing keys)"),
        N_(
            "As transfer, for a case assigned (交办) to a body that must report back (Art. 22); "
            "the same Art. 30 refusal and the same rule for the identity."
        ),
        RECEIVING_BUREAU,
    ),
    EventCommand(
        "extend",
        Event.EXTENDED,
        N_("extend the 60 days of Art. 34 once, by at most 30 days, with a reason"),
        N_(
            "Record, signed, an extension (Art. 34: once, at most 30 days, before the 60 days "
            "run out). The reason category is public; tell the petitioner the reason in "
            "--message."
        ),
        with_message=False,
    ),
    EventCommand(
        "decide",
        Event.DECIDED,
        N_("record the written answer (Arts. 32, 34) and its outcome category"),
        N_(
            "Record, signed, the written answer and its public outcome (supported, explained, "
            "not supported); the petitioner's 30 days to ask for a review start (Art. 35)."
        ),
    ),
    EventCommand(
        "reviewed",
        Event.REVIEWED,
        N_("record the review opinion (复查, Art. 35) on a case asked up to this bureau"),
        N_(
            "Record, signed, this bureau's review opinion on the answer of the bureau below "
            "(the petitioner's request arrived with the log proof of that answer: see `show`), "
            "and its public outcome (upheld or changed); the petitioner's 30 days to ask for a "
            "re-review start (Art. 36)."
        ),
    ),
    EventCommand(
        "re-reviewed",
        Event.RE_REVIEWED,
        N_("record the re-review opinion (复核, Art. 36); after it the matter is final"),
        N_(
            "Record, signed, this bureau's re-review opinion on the review of the bureau below, "
            "and its public outcome (upheld or changed). A complaint on the same facts and "
            "reasons is not taken up again (Art. 36)."
        ),
    ),
    EventCommand(
        "close",
        Event.CLOSED,
        N_("close the case (answers nothing: a deadline missed stays missed)"),
        N_(
            "Record, signed, that the case is closed. Closing ends no deadline; the "
            "petitioner's rights stay open."
        ),
    ),
)


def _keystore(parser: argparse.ArgumentParser) -> None:
    flag(parser, "--keystore", type=Path, required=True, help=_("the bureau's keystore file"))


def _page_flags(parser: argparse.ArgumentParser) -> None:
    flag(parser, "--after", type=int, default=0, help=_("start after this cursor"))
    flag(parser, "--limit", type=int, default=50, help=_("how many petitions (1-500)"))


def _session_flags(parser: argparse.ArgumentParser) -> None:
    add_passphrase_file(parser, "keystore")
    add_network(parser)


def _keys(args: argparse.Namespace) -> BureauKeys:
    passphrase = read_passphrase(
        args.passphrase_file, prompt=_("Passphrase of the bureau keystore"), confirm=False
    )
    try:
        return load_bureau(Path(args.keystore), passphrase)
    except WrongPassphrase as exc:
        if exc.message != WRONG_PASSPHRASE:
            raise
        # The one refusal a reviewer meets most often: said in the reviewer's language.
        raise WrongPassphrase(_(WRONG_PASSPHRASE)) from exc


def _english() -> bool:
    return translator().language == "en"


def _event(value: str) -> str:
    """A public event by its value: in English the protocol's word (what scripts and the log
    show), in another language the web UI's name for it."""
    if _english() or value not in EVENT_TEXT:
        return value
    return _(EVENT_TEXT[value])


def _article(article: str) -> str:
    """ "Art. 22; Art. 23" as the protocol writes it in English, else as the web UI says it."""
    return article if _english() else article_text(article, translator())


def _width(text: str) -> int:
    """Terminal columns: a Chinese character takes two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _pad(text: str, width: int) -> str:
    """``text`` left-aligned in ``width`` columns, so that columns line up in either language."""
    return text + " " * max(width - _width(text), 0)


def _field(label: str, value: str) -> str:
    """One labelled line of a petition ("  Subject:    …"), the values aligned."""
    return "  " + _pad(_(label) + _(LABEL_END), 12) + value


#: The keys of a keystore (its entries), as a reviewer names them.
KEY_NAMES = {
    "identity-key": N_("identity key"),
    "case-key": N_("case key"),
    "signing-key": N_("signing key"),
    "token-key": N_("token key"),
}
#: ``export-keys``: the new keystore's passphrase, and what was written, by role.
NEW_ROLE_PASSPHRASE = {
    "intake": N_("New passphrase for the intake keystore"),
    "handler": N_("New passphrase for the handler keystore"),
}
ROLE_WRITTEN = {
    "intake": N_(
        "Intake keystore of %(bureau_id)s written to %(file)s: %(keys)s and the public bundle "
        "(mode 0600)"
    ),
    "handler": N_(
        "Handler keystore of %(bureau_id)s written to %(file)s: %(keys)s and the public bundle "
        "(mode 0600)"
    ),
}


def _init(args: argparse.Namespace) -> int:
    keystore = Path(args.keystore)
    bundle_path = Path(args.bundle or keystore.parent / f"{args.id}.bundle.json")
    if path_is_taken(bundle_path):
        raise InvalidInput(_("%(path)s already exists; nothing was created", path=bundle_path))
    try:
        params = TokenParams(
            memory_kib=args.argon2_memory_kib, time_cost=args.argon2_time_cost, parallelism=1
        )
    except MalformedInput as exc:
        raise InvalidInput(_("Argon2id parameters: %(problem)s", problem=exc.message)) from exc
    passphrase = read_passphrase(
        args.passphrase_file, prompt=_("New passphrase for the bureau keystore"), confirm=True
    )
    keys = create_bureau(args.id, args.name, keystore, passphrase, params)
    write_bundle(bundle_path, keys)
    bundle = keys.bundle
    print(
        _(
            "Bureau %(bureau_id)s (%(name)s): every key created in %(file)s",
            bureau_id=bundle.bureau_id,
            name=bundle.name,
            file=keystore,
        )
    )
    fingerprints = (
        (KEY_NAMES["identity-key"], format_fingerprint(bundle.identity_key.key_id)),
        (KEY_NAMES["case-key"], format_fingerprint(bundle.case_key.key_id)),
        (KEY_NAMES["signing-key"], format_fingerprint(bundle.signing_key.fingerprint)),
    )
    for name, fingerprint in fingerprints:
        print(f"  {_pad(_(name), 12)} {fingerprint}")
    print("  " + _("token key and token salt (the token key never leaves the bureau's keystores)"))
    print(_("Public bundle written to %(file)s. Next:", file=bundle_path))
    print(
        "  "
        + _(
            "the directory authority publishes it: petition admin add-bureau %(file)s",
            file=bundle_path,
        )
    )
    print(
        "  " + _("each role gets its own keys: petition bureau export-keys --role intake|handler")
    )
    return 0


def _export(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if path_is_taken(out):
        raise InvalidInput(_("%(path)s already exists; nothing was written", path=out))
    keys = _keys(args)
    passphrase = read_passphrase(
        args.new_passphrase_file, prompt=_(NEW_ROLE_PASSPHRASE[args.role]), confirm=True
    )
    entries = export_role(keys, args.role, out, passphrase)
    names = ("、" if translator().language == "zh" else ", ").join(
        _(KEY_NAMES[entry]) if entry in KEY_NAMES else entry for entry in entries
    )
    print(_(ROLE_WRITTEN[args.role], bureau_id=keys.bureau_id, file=out, keys=names))
    return 0


def _desk(args: argparse.Namespace, keys: BureauKeys) -> tuple[Session, BureauDesk]:
    keys.signing_key()  # every request to the server is signed: say so before connecting
    session = Session.open(home_from(args), network_from(args))
    desk = BureauDesk(session, keys)
    if desk.published_bundle_differs():
        print(
            _(
                "warning: the directory lists other keys for %(bureau_id)s than this keystore",
                bureau_id=keys.bureau_id,
            ),
            file=sys.stderr,
        )
    return session, desk


def _check_page(args: argparse.Namespace) -> None:
    if not 1 <= args.limit <= 500 or args.after < 0:
        raise InvalidInput(_("--limit must be 1-500 and --after at least 0"))


def _line(item: dict[str, object]) -> str:
    event = _pad(_event(str(item["event"])), 13)
    return f"  #{item['cursor']:<6} {item['petition_id']}  {item['day']}  {event}"


def _next_page(cursor: object) -> None:
    print(_("Next page: --after %(cursor)s", cursor=cursor))


def _due(args: argparse.Namespace) -> int:
    keys = _keys(args)
    session, desk = _desk(args, keys)
    with session:
        items, next_cursor = desk.inbox(args.after, args.limit)
    today = datetime.now(UTC).date()
    rows = worklist(items, today)
    print(
        translator().ngettext(
            "%(num)s petition handled by %(bureau_id)s on %(day)s, nearest deadline first",
            "%(num)s petition(s) handled by %(bureau_id)s on %(day)s, nearest deadline first",
            len(rows),
            bureau_id=desk.keys.bureau_id,
            day=today.isoformat(),
        )
    )
    for due in rows:
        print(f"  {due.petition_id}  {_pad(_event(due.latest), 13)} {_due_text(due)}")
    if items:
        _next_page(next_cursor)
    return 0


def _due_text(due: Due) -> str:
    clock = due.clock
    if clock is None:
        return _("✗ impossible history: %(problem)s", problem=due.problem)
    deadline = clock.deadline
    if deadline is None or clock.days_left is None:
        return _("nothing due")
    what = _(DEADLINE_WORDS[deadline.what]) if deadline.what in DEADLINE_WORDS else deadline.what
    day = deadline.due.isoformat()
    if clock.days_left < 0:
        when = translator().ngettext(
            "OVERDUE by %(num)s day (was due %(day)s)",
            "OVERDUE by %(num)s day(s) (was due %(day)s)",
            -clock.days_left,
            day=day,
        )
    elif clock.days_left == 0:
        when = _("due TODAY (%(day)s)", day=day)
    else:
        when = translator().ngettext(
            "%(num)s day left (due %(day)s)",
            "%(num)s day(s) left (due %(day)s)",
            clock.days_left,
            day=day,
        )
    return _(
        "%(what)s, %(article)s: %(when)s", what=what, article=_article(deadline.article), when=when
    )


#: What each statutory deadline asks, in the worklist's words.
DEADLINE_WORDS = {
    "acknowledge": N_("acknowledge, forward or answer"),
    "object_not_competent": N_("object if not competent"),
    "decide": N_("decide"),
    "decide_extended": N_("decide (extended)"),
    "request_review": N_("petitioner may ask for a review"),
    "answer_review": N_("answer the review"),
    "request_re_review": N_("petitioner may ask for a re-review"),
    "answer_re_review": N_("answer the re-review"),
}


def _altered(exc: ServerMisbehaved) -> str:
    """One altered record, marked in its row: it must not hide the others."""
    return _("✗ ALTERED  %(problem)s", problem=exc.message)


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
                rows.append((_line(item), _altered(exc)))
    print(
        translator().ngettext(
            "%(num)s petition for %(bureau_id)s after cursor %(after)s",
            "%(num)s petition(s) for %(bureau_id)s after cursor %(after)s",
            len(items),
            bureau_id=desk.keys.bureau_id,
            after=args.after,
        )
    )
    if not args.no_open and desk.keys.token is None:
        print("  " + _("(pseudonyms not shown: %(reason)s)", reason=_(NO_TOKEN_KEY)))
    counts = Counter(row.pseudonym for _line_, row in rows if isinstance(row, OpenedCase))
    flagged = 0
    for line, row in rows:
        if isinstance(row, str):
            flagged += bool(row)
            print(f"{line}  {row}" if row else line)
            continue
        flagged += not row.ok
        subject = row.case.subject if row.case is not None else _("(cannot be opened)")
        print(f"{line}  {_binding_mark(row)}  {_pseudonym(row, counts)}{subject}")
    _same_person(rows, counts)
    if items:
        _next_page(next_cursor)
    if not args.no_open and desk.keys.identity is None and rows:
        print(
            _(
                "Token binding not checked (·): this keystore has no identity key; intake "
                "checks it (`petition bureau intake`)"
            )
        )
    if flagged:
        print(
            translator().ngettext(
                "%(num)s petition FAILED a check (marked ✗): see `petition bureau show`",
                "%(num)s petition(s) FAILED a check (marked ✗): see `petition bureau show`",
                flagged,
            )
        )
        return 1
    return 0


def _pseudonym(opened: OpenedCase, counts: Counter[str | None]) -> str:
    if opened.pseudonym is None:
        return ""
    several = counts[opened.pseudonym]
    if several > 1:
        return (
            translator().ngettext(
                "pseudonym %(name)s (%(num)s petition)",
                "pseudonym %(name)s (%(num)s petitions)",
                several,
                name=opened.pseudonym,
            )
            + "  "
        )
    return _("pseudonym %(name)s", name=opened.pseudonym) + "  "


def _same_person(rows: list[tuple[str, OpenedCase | str]], counts: Counter[str | None]) -> None:
    repeated = [name for name, count in counts.items() if name is not None and count > 1]
    if not repeated:
        return
    print(_("Several petitions from one person (same pseudonym) in this page:"))
    for name in repeated:
        cursors = [
            line.split()[0] for line, row in rows
            if isinstance(row, OpenedCase) and row.pseudonym == name
        ]  # fmt: skip
        print(
            "  "
            + translator().ngettext(
                "pseudonym %(name)s: %(num)s petition (%(cursors)s)",
                "pseudonym %(name)s: %(num)s petitions (%(cursors)s)",
                len(cursors),
                name=name,
                cursors=", ".join(cursors),
            )
        )


def _binding_mark(opened: OpenedCase) -> str:
    """An envelope that cannot be opened is not a token problem: say which check failed."""
    if opened.case is None and opened.identity is None:
        return _("✗ UNOPENABLE")
    if opened.binding is None:
        return _("· token")
    return _("✓ token") if opened.binding else _("✗ TOKEN")


def _show(args: argparse.Namespace) -> int:
    keys = _keys(args)
    keys.case_key()
    session, desk = _desk(args, keys)
    with session:
        opened = desk.open_case(args.petition_id)
        proofs = desk.check_log_proofs(opened)
    stored, case = opened.stored, opened.case
    print(
        translator().ngettext(
            "Petition %(id)s (%(day)s, latest event %(event)s, log entry %(index)s, %(num)s reply)",
            "Petition %(id)s (%(day)s, latest event %(event)s, log entry %(index)s, "
            "%(num)s reply/replies)",
            len(stored.replies),
            id=stored.petition_id,
            day=stored.day,
            event=_event(stored.latest_event),
            index=stored.leaf_index + 1,
        )
    )
    if case is None:
        for problem in opened.problems:
            print(f"✗ {problem}")
        return 1
    no_token = _("(%(reason)s)", reason=_(NO_TOKEN_KEY))
    print(_field(N_("Pseudonym"), opened.pseudonym or no_token))
    if desk.keys.identity is None:
        print(_field(N_("Identity"), _("sealed to intake (this keystore has no identity key)")))
    else:
        _binding_lines(opened)
        if opened.identity is not None:
            _identity_lines(opened.identity)
    print(_field(N_("Category"), case.category))
    print(_field(N_("Region"), case.region))
    print(_field(N_("Respondent"), case.respondent or _("(none named)")))
    print(_field(N_("Written"), str(case.created_day)))
    print(_field(N_("Subject"), case.subject))
    print("  " + _("Text") + _(LABEL_END).rstrip())
    for line in case.body.splitlines() or [""]:
        print(f"    {line}")
    for attachment in case.attachments:
        about = translator().ngettext(
            "%(name)s (%(type)s, %(num)s byte)",
            "%(name)s (%(type)s, %(num)s bytes)",
            len(attachment.data),
            name=attachment.name,
            type=attachment.media_type,
        )
        print(_field(N_("Attachment"), about))
        if args.save_attachments is not None:
            saved = save_attachment(Path(args.save_attachments), attachment)
            print("    " + _("saved to %(file)s", file=saved))
    _proof_lines(proofs)
    return 0 if opened.ok and all(proof.ok for proof in proofs) else 1


def _proof_lines(proofs: list[LogProof]) -> None:
    """A request for review carries the log proof of what it contests: say what it proves."""
    for proof in proofs:
        if proof.receipt is None:
            print(
                _(
                    "%(name)s: log proof: ✗ FAILED: %(problem)s",
                    name=proof.name,
                    problem=proof.problem,
                )
            )
            continue
        entry = proof.receipt.entry
        print(
            _(
                "%(name)s: log proof: verified (%(event)s on %(day)s by %(bureau_id)s; log entry "
                "%(index)s of %(size)s)",
                name=proof.name,
                event=_event(entry.event.value).replace("_", " "),
                day=entry.day.isoformat(),
                bureau_id=entry.bureau_id,
                index=proof.receipt.index + 1,
                size=proof.receipt.checkpoint.size,
            )
        )


def _binding_lines(opened: OpenedCase) -> None:
    if opened.binding:
        print(_("Token binding: ✓ the case's pseudonym is derived from the ID number inside"))
    for problem in opened.problems:
        print(_("Token binding: ✗ %(problem)s", problem=problem))


def _identity_lines(identity: IdentityDocument | WithheldIdentity) -> None:
    if isinstance(identity, WithheldIdentity):
        print(_field(N_("Identity"), _(WITHHELD)))
        return
    consent = identity.consent
    print(_field(N_("Name"), identity.real_name))
    print(_field(N_("ID"), f"{identity.id_number} ({identity.id_scheme})"))
    print(_field(N_("Contact"), identity.contact))
    consented = _(
        "contact %(contact)s, identity sent along on transfer %(share)s",
        contact=_yes(consent.contact),
        share=_yes(consent.share_identity_on_transfer),
    )
    print(_field(N_("Consent"), consented))


def _yes(value: bool) -> str:
    return _("yes") if value else _("no")


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
                rows.append((_line(item), _altered(exc)))
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
    print(
        translator().ngettext(
            "%(num)s petition for %(bureau_id)s after cursor %(after)s, from %(persons)s "
            "person(s) (pseudonym derived from each ID number)",
            "%(num)s petition(s) for %(bureau_id)s after cursor %(after)s, from %(persons)s "
            "person(s) (pseudonym derived from each ID number)",
            len(items),
            bureau_id=desk.keys.bureau_id,
            after=args.after,
            persons=persons,
        )
    )
    for name, petitions in people.items():
        # The group's heading keeps its English "petition(s)" in both forms: its msgid differs
        # from the inbox's "pseudonym … (N petitions)", which the catalogs key by the singular.
        print(
            translator().ngettext(
                "pseudonym %(name)s (%(num)s petition(s))",
                "pseudonym %(name)s (%(num)s petition(s))",
                len(petitions),
                name=name or _("(none: the identity does not open)"),
            )
        )
        for line, row in petitions:
            print(f"{line}  {_binding_mark(row)}  {_who(row.identity)}")
            for problem in row.problems:
                print(f"      ✗ {problem}")
    if items:
        _next_page(next_cursor)
    if desk.keys.case is None and rows:
        print(_("Token binding not checked (·): this keystore has no case key"))
    if flagged:
        print(
            translator().ngettext(
                "%(num)s petition FAILED a check (marked ✗)",
                "%(num)s petition(s) FAILED a check (marked ✗)",
                flagged,
            )
        )
        return 1
    return 0


def _who(identity: IdentityDocument | WithheldIdentity | None) -> str:
    if identity is None:
        return _("(identity cannot be opened)")
    if isinstance(identity, WithheldIdentity):
        return _(WITHHELD)
    consent = identity.consent
    return _(
        "%(name)s  contact %(contact)s  (may contact: %(may)s; identity on transfer: %(share)s)",
        name=identity.real_name,
        contact=identity.contact or _("(none)"),
        may=_yes(consent.contact),
        share=_yes(consent.share_identity_on_transfer),
    )


def _intake_one(opened: OpenedCase) -> int:
    stored = opened.stored
    print(
        _(
            "Petition %(id)s (%(day)s, latest event %(event)s, log entry %(index)s)",
            id=stored.petition_id,
            day=stored.day,
            event=_event(stored.latest_event),
            index=stored.leaf_index + 1,
        )
    )
    none = (
        _("(none here: the identity stayed with the first bureau; the case handler sees it)")
        if isinstance(opened.identity, WithheldIdentity)
        else _("(none: the identity does not open)")
    )
    print(_field(N_("Pseudonym"), opened.pseudonym or none))
    if isinstance(opened.identity, WithheldIdentity):
        print(_("Token binding: nothing to check (the identity stayed with the first bureau)"))
    elif opened.binding is None:
        print(_("Token binding: not checked (this keystore has no case key)"))
    else:
        _binding_lines(opened)
    if opened.identity is not None:
        _identity_lines(opened.identity)
    if opened.case is not None:
        print(_field(N_("Subject"), opened.case.subject))
    return 0 if opened.ok else 1


def _record(args: argparse.Namespace) -> int:
    spec: EventCommand = args.event_spec
    if args.message is not None and args.message_file is not None:
        raise InvalidInput(_("give the message with at most one of --message or --message-file"))
    message = args.message
    if args.message_file is not None:
        message = read_text_file(Path(args.message_file), "message")
    detail = Detail()
    try:
        if spec.event in ROUTING:
            detail = Detail(to=args.to.strip().lower())
        elif spec.event is Event.EXTENDED:
            if not 1 <= args.days <= MAX_EXTENSION_DAYS:
                raise InvalidInput(
                    _("--days must be 1 to %(max)s (Art. 34)", max=MAX_EXTENSION_DAYS)
                )
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
    recorded_text = (
        N_(
            "%(event)s recorded for %(id)s on %(day)s, with a message to the petitioner: "
            "public log entry %(index)s"
        )
        if entry.reply_hash is not None
        else N_("%(event)s recorded for %(id)s on %(day)s: public log entry %(index)s")
    )
    print(
        _(
            recorded_text,
            event=_event(spec.event.value),
            id=entry.petition_id,
            day=entry.day.isoformat(),
            index=recorded.leaf_index + 1,
        )
    )
    if recorded.identity_shared is not None:
        if recorded.identity_shared:
            print(
                _(
                    "The case and the identity went to %(bureau)s (the petitioner consented to "
                    "sharing the identity on transfer)",
                    bureau=entry.detail.to,
                )
            )
        else:
            print(
                _(
                    "The case went to %(bureau)s; the identity stayed here (no consent, or no "
                    "identity key in this keystore): they work by pseudonym",
                    bureau=entry.detail.to,
                )
            )
    return 0
