"""Subcommands that ``server`` contributes to ``petition``: serve, admin, audit store.

Every flag can also come from a ``PETITION_*`` environment variable (named next to the flag in
``--help``); a flag on the command line wins.

What they print is in the command line's language (``--lang``, PETITION_LANG, the locale;
cli_support/i18n.py), from the catalogs the web UI shares; so is ``--help``, whose texts are
translated when ``petition`` builds its parser, after choosing the language (a help text kept
in a constant is marked with ``N_`` and translated where it is given). What scripts and the
tests read stays the same in every language: the ``petition: error:`` prefix, the fingerprint
alone on the third line of ``admin init``, the ``ok``/``FAIL``/``skip`` and check ids of
``audit store``. The English is what it always was; the store audit's findings and rarer errors
raised deeper in server/ are still English.
"""

from __future__ import annotations

import argparse
import os
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

from cli_support.environment import add_flag, number, whole_number
from cli_support.i18n import N_, _, translator
from crypto.keys import format_fingerprint

if TYPE_CHECKING:
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]

#: The prefix of a one-line refusal, the same in every language (petition/cli.py ERROR_PREFIX).
ERROR_PREFIX = "petition: error: "

#: One flag, one text, one variable: ``--data`` means the server's data directory everywhere.
DATA_HELP = N_("the server's data directory")
DATABASE_HELP = N_(
    "the PostgreSQL database holding petitions and the log, shared by several front ends "
    "(postgresql://user@host/db; a password goes in ~/.pgpass, never in the URL); default: the "
    "SQLCipher file in the data directory (docs/operations.md)"
)


def _data_argument(parser: argparse.ArgumentParser) -> None:
    add_flag(parser, "--data", type=Path, required=True, metavar="DIR", help=_(DATA_HELP))


def _db_key_file_argument(parser: argparse.ArgumentParser) -> None:
    add_flag(
        parser,
        "--db-key-file",
        type=Path,
        metavar="FILE",
        help=_(
            "read the database key (64 hex digits, an owner-only file) from here instead of "
            "PETITION_DB_KEY or DATA/db.key"
        ),
    )


def _database_argument(parser: argparse.ArgumentParser) -> None:
    add_flag(parser, "--database", metavar="URL", help=_(DATABASE_HELP))


def register_serve(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "serve",
        help=_("run the submission server under gunicorn"),
        description=_(
            "Run the submission server: one writer process and gunicorn's HTTP workers. "
            "The data directory must have been made by `petition admin init`, with a directory "
            "published in it; serving never creates one."
        ),
    )
    _data_argument(parser)
    add_flag(parser, "--host", default="127.0.0.1", help=_("the address to listen on"))
    add_flag(parser, "--port", type=whole_number, default=8470, help=_("the port to listen on"))
    add_flag(
        parser,
        "--workers",
        type=whole_number,
        default=os.cpu_count() or 2,
        help=_("HTTP worker processes (default: one per core)"),
    )
    add_flag(
        parser,
        "--threads",
        type=whole_number,
        default=8,
        help=_("threads per HTTP worker, each answering one request at a time"),
    )
    add_flag(
        parser,
        "--queue-capacity",
        type=whole_number,
        default=2048,
        help=_("submissions waiting for the writer before new ones get 503"),
    )
    add_flag(
        parser,
        "--max-queue-delay",
        type=number,
        default=0.5,
        help=_(
            "seconds a request may wait for a free thread, or a submission for the writer, "
            "before new ones get 503 at once (default 0.5)"
        ),
    )
    add_flag(
        parser,
        "--writer-timeout",
        type=number,
        default=30.0,
        help=_(
            "seconds a request waits for the writer's answer before it gets 503 (not "
            "acknowledged: sending it again is safe); more than --batch-interval (default 30)"
        ),
    )
    add_flag(
        parser,
        "--no-submission-lane",
        action="store_true",
        help=_(
            "answer every submission from a worker thread, not from the event loop "
            "(slower in a surge; for comparison, see docs/performance.md)"
        ),
    )
    add_flag(
        parser,
        "--max-batch",
        type=whole_number,
        default=256,
        help=_("the most submissions and replies in one group commit"),
    )
    add_flag(
        parser,
        "--batch-linger",
        type=number,
        default=0.0,
        help=_(
            "seconds the writer waits for more work before a group commit (default 0: "
            "commit whatever is waiting)"
        ),
    )
    add_flag(
        parser,
        "--batch-interval",
        type=number,
        default=0.0,
        help=_(
            "start group commits only on multiples of this many seconds unless a full batch "
            "is waiting, so that polling the log head dates a petition only to the interval "
            "(default 0: commit at once; see docs/operations.md)"
        ),
    )
    _database_argument(parser)
    _origin_argument(parser)
    parser.set_defaults(handler=_serve)


def _origin_argument(parser: argparse.ArgumentParser) -> None:
    add_flag(
        parser,
        "--log-origin",
        metavar="ORIGIN",
        help=_(
            "the log's name: its URL prefix without scheme, e.g. petition.example.org/log; "
            "chosen when `petition admin init` creates the data directory (default "
            "sealed-petition.invalid/log/<key id>), and afterwards only checked: it never changes"
        ),
    )


def _refuse(message: str) -> SystemExit:
    """A flag out of range: one line, the prefix scripts look for, the message translated."""
    return SystemExit(ERROR_PREFIX + message)


def _serve(args: argparse.Namespace) -> int:
    from server.config import MAX_BATCH_INTERVAL, ServerConfig
    from server.datadir import DataDirectory
    from server.serve import serve

    if args.workers < 1 or args.threads < 1 or not 0 < args.port < 65536:
        raise _refuse(_("workers and threads must be positive, port 1-65535"))
    if not 0 < args.max_queue_delay <= 600:
        raise _refuse(_("--max-queue-delay must be between 0 and 600 seconds"))
    if not 0 <= args.batch_linger <= 1:
        raise _refuse(_("--batch-linger must be between 0 and 1 second"))
    if not 0 <= args.batch_interval <= MAX_BATCH_INTERVAL:
        most = format(MAX_BATCH_INTERVAL, "g")
        raise _refuse(_("--batch-interval must be between 0 and %(most)s seconds", most=most))
    if not args.batch_interval < args.writer_timeout <= 600:
        raise _refuse(
            _("--writer-timeout must be more than --batch-interval and at most 600 seconds")
        )
    _require_data_directory(args.data, serving=True)
    data = DataDirectory.for_serving(args.data, args.log_origin)
    config = ServerConfig(
        data_dir=data.path,
        queue_capacity=args.queue_capacity,
        max_batch=args.max_batch,
        batch_linger_seconds=args.batch_linger,
        batch_interval_seconds=args.batch_interval,
        max_queue_delay_seconds=args.max_queue_delay,
        submission_lane=not args.no_submission_lane,
        writer_timeout_seconds=args.writer_timeout,
        database_url=args.database or None,
    )
    return serve(
        config,
        host=args.host,
        port=args.port,
        workers=args.workers,
        threads=args.threads,
    )


def _require_data_directory(path: Path, *, serving: bool = False) -> None:
    """Refuse a ``--data`` that is no data directory (yet), in the operator's language.

    The operator's commonest mistakes (a new, empty or mistyped ``--data``; a server with no
    directory published yet) are said here, where the language is known, with the same English
    as server/datadir.py, which checks again and says every rarer problem (in English). Only
    ``serve`` and the authority's commands come here; ``admin init`` creates the directory.
    """
    from server.datadir import DataDirectory
    from server.errors import DataDirectoryError

    data = DataDirectory(path)
    if not data.marker_path.is_file():
        if not serving and data.log_public_key_path.is_file():
            return  # the authority's machine: a copy of log.pub is enough (for_authority)
        if not serving:
            raise DataDirectoryError(
                _(
                    "%(path)s is not a Sealed Petition data directory (no log.pub in it): "
                    "check --data, or run `petition admin init --data %(data)s` first",
                    path=data.path,
                    data=path,
                )
            )
        if data.path.exists() and (not data.path.is_dir() or any(data.path.iterdir())):
            raise DataDirectoryError(
                _(
                    "%(path)s exists and is not a Sealed Petition data directory; check --data",
                    path=data.path,
                )
            )
        raise DataDirectoryError(
            _(
                "%(path)s is not a Sealed Petition data directory yet: run "
                "`petition admin init --data %(data)s` first",
                path=data.path,
                data=path,
            )
        )
    if serving and not data.directory_path.is_file():
        raise DataDirectoryError(
            _(
                "no directory is published in %(path)s (directory.json): run `petition "
                "admin init` there, or copy directory.json from the authority's machine "
                "(docs/operations.md)",
                path=data.path,
            )
        )


def _require_stored_data(path: Path) -> None:
    """What ``admin inspect`` and ``audit store`` refuse first, in the operator's language.

    Both only read (server/store_reading.py checks again, and creates nothing).
    """
    from server.datadir import DataDirectory
    from server.errors import DataDirectoryError

    data = DataDirectory(path)
    if not data.path.is_dir():
        raise DataDirectoryError(_("%(path)s does not exist or is not a directory", path=data.path))
    if not data.marker_path.exists():
        raise DataDirectoryError(
            _(
                "%(path)s is not a Sealed Petition data directory (it has no FORMAT file)",
                path=data.path,
            )
        )


def register_admin(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "admin",
        help=_("directory authority: create its key, publish bureaus"),
        description=_(
            "The directory authority's commands: create the data directory and the "
            "authority key, sign and publish the directory of bureaus and the log's witness "
            "policy. In production they run on an offline machine with a copy of the server's "
            "log.pub (docs/operations.md). Only `admin init` creates a data directory."
        ),
    )
    actions = parser.add_subparsers(title=_("admin commands"), metavar="ACTION")

    init = actions.add_parser(
        "init",
        help=_("create the data directory, the directory authority key and an empty directory"),
        description=_(
            "Create the data directory if it does not exist (database key, log key), "
            "then the directory authority key in a passphrase-protected keystore, and publish an "
            "empty directory naming the log. Prints the authority fingerprint petitioners pin. "
            "With --no-authority, only the server's data directory is created, for an authority "
            "on another machine."
        ),
    )
    _authority_arguments(init)
    _origin_argument(init)
    init.add_argument(
        "--no-authority",
        action="store_true",
        help=_(
            "create only the server's data directory (database and log keys); the authority "
            "key is made on another machine from a copy of log.pub and FORMAT"
        ),
    )
    init.set_defaults(handler=_admin_init)

    add = actions.add_parser(
        "add-bureau",
        help=_("sign and publish a bureau's public bundle"),
        description=_(
            "Check the published directory against the authority key, add the bureau "
            "of BUNDLE (from `petition bureau init`, checked with the bureau out of band) and "
            "publish the directory again with the next serial. Copy directory.json to the server "
            "afterwards if the authority works on another machine."
        ),
    )
    _authority_arguments(add)
    add.add_argument("bundle", type=Path, help=_("the bundle file from `petition bureau init`"))
    add.add_argument(
        "--replace", action="store_true", help=_("replace the keys of a bureau already listed")
    )
    add.add_argument(
        "--parent",
        metavar="ID",
        help=_(
            "the bureau one level up, already in the directory: where reviews of this "
            "bureau's answers go (Regulations Arts. 35, 36); none for the top level"
        ),
    )
    add.add_argument(
        "--covers",
        metavar="TEXT",
        help=_("the region or body this bureau covers, e.g. 广东省 (at most 200 characters)"),
    )
    add.set_defaults(handler=_admin_add_bureau)

    witness = actions.add_parser(
        "add-witness",
        help=_("name a witness in the directory's log policy (the server will ask it to cosign)"),
        description=_(
            "Add a witness to the log policy the directory publishes: the server "
            "submits every new checkpoint to it, and clients accept a checkpoint once QUORUM "
            "witnesses cosigned it."
        ),
    )
    _authority_arguments(witness)
    witness.add_argument("name", metavar="NAME", help=_("a short name for the witness"))
    witness.add_argument(
        "vkey", metavar="VKEY", help=_("its key, as `petition witness vkey` prints")
    )
    witness.add_argument("url", metavar="URL", help=_("its submission URL prefix (http://…)"))
    witness.add_argument(
        "--quorum",
        type=int,
        default=None,
        help=_("how many witnesses must cosign a checkpoint (default: unchanged; 0 = none)"),
    )
    witness.set_defaults(handler=_admin_add_witness)

    republish = actions.add_parser(
        "republish",
        help=_(
            "sign the directory again with today's date (offline sealing needs one at most "
            "30 days old)"
        ),
        description=_(
            "Re-sign the current directory, unchanged but for a new serial and "
            "today's date. Petitioners who seal without the Internet refuse a directory more than "
            "30 days old, so publish at least monthly, e.g. from a daily cron job with "
            "--if-older-than 7. Copy directory.json to the server afterwards, as after add-bureau."
        ),
    )
    _authority_arguments(republish)
    republish.add_argument(
        "--if-older-than",
        metavar="DAYS",
        type=int,
        default=1,
        help=_(
            "only if the published directory is at least DAYS days old (default 1: not twice "
            "on one day)"
        ),
    )
    republish.set_defaults(handler=_admin_republish)

    inspect = actions.add_parser(
        "inspect",
        help=_("show every column the server stores for one petition (read-only)"),
        description=_(
            "Show what the server stores for one petition, column by column: "
            "ciphertext, hashes, day, latest event, handler and log positions. Nothing is changed."
        ),
    )
    _data_argument(inspect)
    _db_key_file_argument(inspect)
    inspect.add_argument("petition_id", metavar="PETITION_ID", help=_("32 lower-case hex digits"))
    inspect.set_defaults(handler=_admin_inspect)
    parser.set_defaults(handler=lambda args: _usage(parser))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _authority_arguments(parser: argparse.ArgumentParser) -> None:
    _data_argument(parser)
    add_flag(
        parser,
        "--authority-keystore",
        type=Path,
        metavar="FILE",
        help=_(
            "the authority keystore (default DATA/authority.keystore; keep it off the server "
            "in production, see docs/operations.md)"
        ),
    )
    add_flag(
        parser,
        "--passphrase-file",
        type=Path,
        metavar="FILE",
        # Not PETITION_PASSPHRASE_FILE: that is a petitioner's, for another secret.
        variable="PETITION_AUTHORITY_PASSPHRASE_FILE",
        help=_("read the authority keystore passphrase from this file's first line"),
    )


def _admin_init(args: argparse.Namespace) -> int:
    from cli_support.terminal import print_qr, read_passphrase
    from server.authority import init_authority
    from server.datadir import DataDirectory
    from server.errors import DataDirectoryError

    if args.no_authority:
        if DataDirectory(args.data).marker_path.is_file():
            raise DataDirectoryError(
                _("%(path)s is a data directory already; nothing changed", path=args.data)
            )
        data = DataDirectory.create_or_open(args.data, args.log_origin)
        print(
            _(
                "Data directory %(path)s created, with its log key and no authority key.",
                path=data.path,
            )
        )
        print(
            _(
                "Copy %(log_key)s and %(marker)s to the authority's machine\n"
                "and run `petition admin init` there (docs/operations.md).",
                log_key=data.log_public_key_path,
                marker=data.marker_path,
            )
        )
        return 0
    data = DataDirectory.for_authority(args.data, args.log_origin, create=True)
    keystore = args.authority_keystore or data.authority_keystore_path
    passphrase = read_passphrase(
        args.passphrase_file, prompt=_(NEW_PASSPHRASE_PROMPT), confirm=True
    )
    public = init_authority(data, keystore, passphrase)
    text = format_fingerprint(public.fingerprint)
    # Three lines, the fingerprint alone on the third: scripts and the tests read it there.
    print(_("Directory authority key created in %(keystore)s", keystore=keystore))
    print(_("Petitioners pin this fingerprint with `petition init --trust`:"))
    print(f"  {text}")
    print_qr(text)
    return 0


#: The questions for the authority keystore's passphrase (cli_support/terminal.py asks them).
NEW_PASSPHRASE_PROMPT = N_("New passphrase for the authority keystore")
PASSPHRASE_PROMPT = N_("Passphrase of the authority keystore")


def _admin_add_bureau(args: argparse.Namespace) -> int:
    from cli_support.terminal import read_passphrase
    from server.authority import add_bureau, load_authority, read_bundle
    from server.datadir import DataDirectory

    _require_data_directory(args.data)
    data = DataDirectory.for_authority(args.data)
    bundle = read_bundle(args.bundle)
    keystore = args.authority_keystore or data.authority_keystore_path
    passphrase = read_passphrase(args.passphrase_file, prompt=_(PASSPHRASE_PROMPT), confirm=False)
    directory = add_bureau(
        data,
        load_authority(keystore, passphrase),
        bundle,
        replace_existing=args.replace,
        parent=args.parent,
        covers=args.covers,
    )
    names = ", ".join(b.bureau_id for b in directory.bureaus)
    print(
        _(
            "Published directory serial %(serial)s with bureaus: %(names)s",
            serial=directory.serial,
            names=names,
        )
    )
    return 0


def _admin_add_witness(args: argparse.Namespace) -> int:
    from cli_support.terminal import read_passphrase
    from server.authority import add_witness, current_threshold, load_authority
    from server.datadir import DataDirectory

    _require_data_directory(args.data)
    data = DataDirectory.for_authority(args.data)
    keystore = args.authority_keystore or data.authority_keystore_path
    passphrase = read_passphrase(args.passphrase_file, prompt=_(PASSPHRASE_PROMPT), confirm=False)
    directory = add_witness(
        data, load_authority(keystore, passphrase), args.name, args.vkey, args.url, args.quorum
    )
    policy = directory.policy()
    print(
        translator().ngettext(
            "Published directory serial %(serial)s: %(num)s witness, quorum %(quorum)s",
            "Published directory serial %(serial)s: %(num)s witnesses, quorum %(quorum)s",
            len(policy.witnesses),
            serial=directory.serial,
            quorum=current_threshold(policy) or _("none"),
        )
    )
    return 0


def _admin_republish(args: argparse.Namespace) -> int:
    from cli_support.terminal import read_passphrase
    from server.authority import current_directory, load_authority, republish
    from server.datadir import DataDirectory

    _require_data_directory(args.data)
    data = DataDirectory.for_authority(args.data)
    keystore = args.authority_keystore or data.authority_keystore_path
    passphrase = read_passphrase(args.passphrase_file, prompt=_(PASSPHRASE_PROMPT), confirm=False)
    authority = load_authority(keystore, passphrase)
    directory = republish(data, authority, older_than_days=args.if_older_than)
    if directory is None:
        current = current_directory(data, authority)
        print(
            _(
                "Directory serial %(serial)s is dated %(day)s, younger than %(days)s days: "
                "nothing published",
                serial=current.serial,
                day=current.day.isoformat(),
                days=args.if_older_than,
            )
        )
        return 0
    print(
        _(
            "Published directory serial %(serial)s, dated %(day)s",
            serial=directory.serial,
            day=directory.day.isoformat(),
        )
    )
    return 0


EXCERPT_BYTES = 48
#: The labels of ``admin inspect``: what a column holds. Those spelt as columns are the
#: columns' own names, the same in every language (docs/operations.md names them so).
INSPECT_LABELS = {
    "petition_id": N_("petition id"),
    "bureau_id": N_("bureau id"),
    "day": N_("day"),
    "event": N_("event"),
    "handler": N_("handler"),
    "cursor": N_("cursor"),
    "lookup_key_hash": "lookup_key_hash",
    "envelope_hash": "envelope_hash",
    "envelope": N_("envelope"),
    "ciphertext": N_("ciphertext"),
    "leaf_index": N_("leaf index"),
    "replies": N_("replies"),
}
LABEL_WIDTH = 16


def _label(key: str) -> str:
    """A label padded to one column on a terminal, where a Chinese character is two wide."""
    text = _(INSPECT_LABELS[key])
    width = sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)
    return text + " " * max(LABEL_WIDTH - width, 0)


def _grouped(number: int) -> str:
    """A byte count with thousands separators, as the English output has always shown it."""
    return format(number, ",")


def _admin_inspect(args: argparse.Namespace) -> int:
    from server.errors import UnknownPetition
    from server.store_inspect import stored_petition

    _require_stored_data(args.data)
    try:
        stored = stored_petition(args.data, args.petition_id, key_file=args.db_key_file)
    except UnknownPetition:
        raise UnknownPetition(
            _("the store holds no petition %(id)s", id=args.petition_id)
        ) from None
    row = stored.row
    header = stored.header_length
    envelope = row.envelope
    if header is None:
        layout = _("no well-formed clear header")
        sealed = envelope
    else:
        sealed = envelope[header:]
        layout = _(
            "a %(size)s-byte clear header (bureau id, identity and case key ids), then ciphertext",
            size=_grouped(header),
        )
    excerpt = sealed[:EXCERPT_BYTES].hex()
    lines = [
        ("petition_id", row.petition_id),
        ("bureau_id", row.bureau_id),
        ("day", row.day),
        ("event", row.event),
        ("handler", row.handler),
        ("cursor", str(row.cursor)),
        ("lookup_key_hash", row.lookup_key_hash.hex()),
        ("envelope_hash", row.envelope_hash.hex()),
        ("envelope", _("%(size)s bytes: %(layout)s", size=_grouped(len(envelope)), layout=layout)),
        (
            "ciphertext",
            _(
                "%(excerpt)s… (first %(shown)s of %(size)s bytes)",
                excerpt=excerpt,
                shown=EXCERPT_BYTES,
                size=_grouped(len(sealed)),
            ),
        ),
        ("leaf_index", str(row.leaf_index)),
        ("replies", str(len(stored.replies))),
    ]
    print(_("What the server stores for petition %(id)s", id=row.petition_id))
    print(_("(every column of its rows in the tables petitions and replies):"))
    for key, value in lines:
        print(f"  {_label(key)} {value}")
    for reply in stored.replies:
        print(
            "  "
            + _(
                "reply %(sequence)s event %(event)s, day %(day)s, leaf %(leaf)s, "
                "signed reply %(size)s bytes",
                sequence=str(reply.sequence).ljust(10),
                event=reply.event,
                day=reply.day,
                leaf=reply.leaf_index,
                size=_grouped(reply.signed_reply_size),
            )
        )
    return 0


def register_audit_store(subcommands: Subcommands) -> None:
    """``petition audit store``: registered into the ``audit`` group (petition/cli.py)."""
    parser = subcommands.add_parser(
        "store",
        help=_("check a server's data directory: encrypted, no personal data, log matches store"),
        description=_(
            "Check a server's data directory, read-only (also while the server runs): "
            "the database is encrypted at rest and has the expected schema; no stored value "
            "but bureau, day, latest event and handler is shared by two petitions; no table or "
            "file holds a valid ID number, a name, an IP address or a time of day; every log "
            "leaf matches exactly one stored petition or reply; the log matches the checkpoint "
            "its key signed (log.head), the published checkpoint and every published tile. With "
            "--database, the same checks on a PostgreSQL store (encryption at rest, the disk's "
            "business there, is reported as skipped). Exit status 0 if no check fails, 1 "
            "otherwise."
        ),
    )
    _data_argument(parser)
    _db_key_file_argument(parser)
    _database_argument(parser)
    parser.set_defaults(handler=_audit_store)


# A damaged store can produce thousands of findings of one kind; the first few say what it is.
MAX_FINDINGS_SHOWN = 20


def _audit_store(args: argparse.Namespace) -> int:
    """Each check on one line, then the verdict.

    A line's first word (``ok``, ``FAIL``, ``skip``) and the check's id are the same in every
    language: scripts and the threat-model audit read them. The findings are the audit's own
    (server/store_audit.py, in English); the frame around them is in the operator's language.
    """
    from server.store_audit import audit_store

    _require_stored_data(args.data)
    audit = audit_store(args.data, key_file=args.db_key_file, database_url=args.database or None)
    for check in audit.checks:
        if check.skipped and not check.failed:
            print(f"skip {check.check}: {check.summary}")
            continue
        if check.passed:
            print(f"ok   {check.check}: {check.summary}")
            continue
        for finding in check.findings[:MAX_FINDINGS_SHOWN]:
            print(f"FAIL {check.check}: {finding.message}")
        hidden = len(check.findings) - MAX_FINDINGS_SHOWN
        if hidden > 0:
            more = _("… and %(count)s more findings", count=hidden)
            print(f"FAIL {check.check}: {more}")
    failed = [check for check in audit.checks if check.failed]
    made = len(audit.checks) - len(audit.skipped)
    if audit.database is None:
        what = _("store audit of %(path)s", path=audit.data_dir)
    else:
        what = _(
            "store audit of %(path)s and its %(database)s database",
            path=audit.data_dir,
            database=audit.database,
        )
    skipped = len(audit.skipped)
    if not failed:
        if skipped:
            print(_(SKIPPED_PASSED, what=what, skipped=skipped, made=made))
        else:
            print(_(ALL_PASSED, what=what, made=made))
        return 0
    findings = translator().ngettext("%(num)s finding", "%(num)s findings", len(audit.findings))
    verdict = SKIPPED_FAILED if skipped else SOME_FAILED
    print(_(verdict, what=what, skipped=skipped, failed=len(failed), made=made, findings=findings))
    return 1


#: The store audit's verdicts: every check passed, or some failed; some not applicable or none.
ALL_PASSED = N_("%(what)s: all %(made)s checks passed")
SKIPPED_PASSED = N_("%(what)s: %(skipped)s not applicable, all %(made)s others passed")
SOME_FAILED = N_("%(what)s: %(failed)s of %(made)s checks failed (%(findings)s)")
SKIPPED_FAILED = N_(
    "%(what)s: %(skipped)s not applicable, %(failed)s of %(made)s checks failed (%(findings)s)"
)
