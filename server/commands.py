"""Subcommands that ``server`` contributes to ``petition``: serve, admin, audit store.

Every flag can also come from a ``PETITION_*`` environment variable (named next to the flag in
``--help``); a flag on the command line wins.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from cli_support.environment import add_flag, number, whole_number
from crypto.keys import format_fingerprint

if TYPE_CHECKING:
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]

#: One flag, one text, one variable: ``--data`` means the server's data directory everywhere.
DATA_HELP = "the server's data directory"
DATABASE_HELP = (
    "the PostgreSQL database holding petitions and the log, shared by several front ends "
    "(postgresql://user@host/db; a password goes in ~/.pgpass, never in the URL); default: the "
    "SQLCipher file in the data directory (docs/operations.md)"
)


def _data_argument(parser: argparse.ArgumentParser) -> None:
    add_flag(parser, "--data", type=Path, required=True, metavar="DIR", help=DATA_HELP)


def _db_key_file_argument(parser: argparse.ArgumentParser) -> None:
    add_flag(
        parser,
        "--db-key-file",
        type=Path,
        metavar="FILE",
        help="read the database key (64 hex digits, an owner-only file) from here instead of "
        "PETITION_DB_KEY or DATA/db.key",
    )


def _database_argument(parser: argparse.ArgumentParser) -> None:
    add_flag(parser, "--database", metavar="URL", help=DATABASE_HELP)


def register_serve(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "serve",
        help="run the submission server under gunicorn",
        description="Run the submission server: one writer process and gunicorn's HTTP workers. "
        "The data directory must have been made by `petition admin init`, with a directory "
        "published in it; serving never creates one.",
    )
    _data_argument(parser)
    add_flag(parser, "--host", default="127.0.0.1", help="the address to listen on")
    add_flag(parser, "--port", type=whole_number, default=8470, help="the port to listen on")
    add_flag(
        parser,
        "--workers",
        type=whole_number,
        default=os.cpu_count() or 2,
        help="HTTP worker processes (default: one per core)",
    )
    add_flag(
        parser,
        "--threads",
        type=whole_number,
        default=8,
        help="threads per HTTP worker, each answering one request at a time",
    )
    add_flag(
        parser,
        "--queue-capacity",
        type=whole_number,
        default=2048,
        help="submissions waiting for the writer before new ones get 503",
    )
    add_flag(
        parser,
        "--max-queue-delay",
        type=number,
        default=0.5,
        help="seconds a request may wait for a free thread before new ones get 503 at once "
        "(default 0.5)",
    )
    add_flag(
        parser,
        "--max-batch",
        type=whole_number,
        default=256,
        help="the most submissions and replies in one group commit",
    )
    add_flag(
        parser,
        "--batch-linger",
        type=number,
        default=0.0,
        help="seconds the writer waits for more work before a group commit (default 0: "
        "commit whatever is waiting)",
    )
    add_flag(
        parser,
        "--batch-interval",
        type=number,
        default=0.0,
        help="start group commits only on multiples of this many seconds unless a full batch "
        "is waiting, so that polling the log head dates a petition only to the interval "
        "(default 0: commit at once; see docs/operations.md)",
    )
    _database_argument(parser)
    _origin_argument(parser)
    parser.set_defaults(handler=_serve)


def _origin_argument(parser: argparse.ArgumentParser) -> None:
    add_flag(
        parser,
        "--log-origin",
        metavar="ORIGIN",
        help="the log's name: its URL prefix without scheme, e.g. petition.example.org/log; "
        "chosen when `petition admin init` creates the data directory (default "
        "sealed-petition.invalid/log/<key id>), and afterwards only checked: it never changes",
    )


def _serve(args: argparse.Namespace) -> int:
    from server.config import MAX_BATCH_INTERVAL, ServerConfig
    from server.datadir import DataDirectory
    from server.serve import serve

    if args.workers < 1 or args.threads < 1 or not 0 < args.port < 65536:
        raise SystemExit("petition: error: workers and threads must be positive, port 1-65535")
    if not 0 < args.max_queue_delay <= 600:
        raise SystemExit("petition: error: --max-queue-delay must be between 0 and 600 seconds")
    if not 0 <= args.batch_linger <= 1:
        raise SystemExit("petition: error: --batch-linger must be between 0 and 1 second")
    if not 0 <= args.batch_interval <= MAX_BATCH_INTERVAL:
        raise SystemExit(
            f"petition: error: --batch-interval must be between 0 and {MAX_BATCH_INTERVAL:g} "
            "seconds"
        )
    data = DataDirectory.for_serving(args.data, args.log_origin)
    config = ServerConfig(
        data_dir=data.path,
        queue_capacity=args.queue_capacity,
        max_batch=args.max_batch,
        batch_linger_seconds=args.batch_linger,
        batch_interval_seconds=args.batch_interval,
        max_queue_delay_seconds=args.max_queue_delay,
        database_url=args.database or None,
    )
    return serve(
        config,
        host=args.host,
        port=args.port,
        workers=args.workers,
        threads=args.threads,
    )


def register_admin(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "admin",
        help="directory authority: create its key, publish bureaus",
        description="The directory authority's commands: create the data directory and the "
        "authority key, sign and publish the directory of bureaus and the log's witness policy. "
        "In production they run on an offline machine with a copy of the server's log.pub "
        "(docs/operations.md). Only `admin init` creates a data directory.",
    )
    actions = parser.add_subparsers(title="admin commands", metavar="ACTION")

    init = actions.add_parser(
        "init",
        help="create the data directory, the directory authority key and an empty directory",
        description="Create the data directory if it does not exist (database key, log key), "
        "then the directory authority key in a passphrase-protected keystore, and publish an "
        "empty directory naming the log. Prints the authority fingerprint petitioners pin. "
        "With --no-authority, only the server's data directory is created, for an authority "
        "on another machine.",
    )
    _authority_arguments(init)
    _origin_argument(init)
    init.add_argument(
        "--no-authority",
        action="store_true",
        help="create only the server's data directory (database and log keys); the authority "
        "key is made on another machine from a copy of log.pub and FORMAT",
    )
    init.set_defaults(handler=_admin_init)

    add = actions.add_parser(
        "add-bureau",
        help="sign and publish a bureau's public bundle",
        description="Check the published directory against the authority key, add the bureau "
        "of BUNDLE (from `petition bureau init`, checked with the bureau out of band) and "
        "publish the directory again with the next serial. Copy directory.json to the server "
        "afterwards if the authority works on another machine.",
    )
    _authority_arguments(add)
    add.add_argument("bundle", type=Path, help="the bundle file from `petition bureau init`")
    add.add_argument(
        "--replace", action="store_true", help="replace the keys of a bureau already listed"
    )
    add.add_argument(
        "--parent",
        metavar="ID",
        help="the bureau one level up, already in the directory: where reviews of this "
        "bureau's answers go (Regulations Arts. 35, 36); none for the top level",
    )
    add.add_argument(
        "--covers",
        metavar="TEXT",
        help="the region or body this bureau covers, e.g. 广东省 (at most 200 characters)",
    )
    add.set_defaults(handler=_admin_add_bureau)

    witness = actions.add_parser(
        "add-witness",
        help="name a witness in the directory's log policy (the server will ask it to cosign)",
        description="Add a witness to the log policy the directory publishes: the server "
        "submits every new checkpoint to it, and clients accept a checkpoint once QUORUM "
        "witnesses cosigned it.",
    )
    _authority_arguments(witness)
    witness.add_argument("name", metavar="NAME", help="a short name for the witness")
    witness.add_argument("vkey", metavar="VKEY", help="its key, as `petition witness vkey` prints")
    witness.add_argument("url", metavar="URL", help="its submission URL prefix (http://…)")
    witness.add_argument(
        "--quorum",
        type=int,
        default=None,
        help="how many witnesses must cosign a checkpoint (default: unchanged; 0 = none)",
    )
    witness.set_defaults(handler=_admin_add_witness)

    republish = actions.add_parser(
        "republish",
        help="sign the directory again with today's date (offline sealing needs one at most "
        "30 days old)",
        description="Re-sign the current directory, unchanged but for a new serial and "
        "today's date. Petitioners who seal without the Internet refuse a directory more than "
        "30 days old, so publish at least monthly, e.g. from a daily cron job with "
        "--if-older-than 7. Copy directory.json to the server afterwards, as after add-bureau.",
    )
    _authority_arguments(republish)
    republish.add_argument(
        "--if-older-than",
        metavar="DAYS",
        type=int,
        default=1,
        help="only if the published directory is at least DAYS days old (default 1: not twice "
        "on one day)",
    )
    republish.set_defaults(handler=_admin_republish)

    inspect = actions.add_parser(
        "inspect",
        help="show every column the server stores for one petition (read-only)",
        description="Show what the server stores for one petition, column by column: "
        "ciphertext, hashes, day, latest event, handler and log positions. Nothing is changed.",
    )
    _data_argument(inspect)
    _db_key_file_argument(inspect)
    inspect.add_argument("petition_id", metavar="PETITION_ID", help="32 lower-case hex digits")
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
        help="the authority keystore (default DATA/authority.keystore; keep it off the server "
        "in production, see docs/operations.md)",
    )
    add_flag(
        parser,
        "--passphrase-file",
        type=Path,
        metavar="FILE",
        # Not PETITION_PASSPHRASE_FILE: that is a petitioner's, for another secret.
        variable="PETITION_AUTHORITY_PASSPHRASE_FILE",
        help="read the authority keystore passphrase from this file's first line",
    )


def _admin_init(args: argparse.Namespace) -> int:
    from cli_support.terminal import print_qr, read_passphrase
    from server.authority import init_authority
    from server.datadir import DataDirectory
    from server.errors import DataDirectoryError

    if args.no_authority:
        if DataDirectory(args.data).marker_path.is_file():
            raise DataDirectoryError(f"{args.data} is a data directory already; nothing changed")
        data = DataDirectory.create_or_open(args.data, args.log_origin)
        print(f"Data directory {data.path} created, with its log key and no authority key.")
        print(f"Copy {data.log_public_key_path} and {data.marker_path} to the authority's machine")
        print("and run `petition admin init` there (docs/operations.md).")
        return 0
    data = DataDirectory.for_authority(args.data, args.log_origin, create=True)
    keystore = args.authority_keystore or data.authority_keystore_path
    passphrase = read_passphrase(
        args.passphrase_file, prompt="New passphrase for the authority keystore", confirm=True
    )
    public = init_authority(data, keystore, passphrase)
    text = format_fingerprint(public.fingerprint)
    print(f"Directory authority key created in {keystore}")
    print("Petitioners pin this fingerprint with `petition init --trust`:")
    print(f"  {text}")
    print_qr(text)
    return 0


def _admin_add_bureau(args: argparse.Namespace) -> int:
    from cli_support.terminal import read_passphrase
    from server.authority import add_bureau, load_authority, read_bundle
    from server.datadir import DataDirectory

    data = DataDirectory.for_authority(args.data)
    bundle = read_bundle(args.bundle)
    keystore = args.authority_keystore or data.authority_keystore_path
    passphrase = read_passphrase(
        args.passphrase_file, prompt="Passphrase of the authority keystore", confirm=False
    )
    directory = add_bureau(
        data,
        load_authority(keystore, passphrase),
        bundle,
        replace_existing=args.replace,
        parent=args.parent,
        covers=args.covers,
    )
    names = ", ".join(b.bureau_id for b in directory.bureaus)
    print(f"Published directory serial {directory.serial} with bureaus: {names}")
    return 0


def _admin_add_witness(args: argparse.Namespace) -> int:
    from cli_support.terminal import read_passphrase
    from server.authority import add_witness, current_threshold, load_authority
    from server.datadir import DataDirectory

    data = DataDirectory.for_authority(args.data)
    keystore = args.authority_keystore or data.authority_keystore_path
    passphrase = read_passphrase(
        args.passphrase_file, prompt="Passphrase of the authority keystore", confirm=False
    )
    directory = add_witness(
        data, load_authority(keystore, passphrase), args.name, args.vkey, args.url, args.quorum
    )
    policy = directory.policy()
    print(
        f"Published directory serial {directory.serial}: {len(policy.witnesses)} witnesses, "
        f"quorum {current_threshold(policy) or 'none'}"
    )
    return 0


def _admin_republish(args: argparse.Namespace) -> int:
    from cli_support.terminal import read_passphrase
    from server.authority import current_directory, load_authority, republish
    from server.datadir import DataDirectory

    data = DataDirectory.for_authority(args.data)
    keystore = args.authority_keystore or data.authority_keystore_path
    passphrase = read_passphrase(
        args.passphrase_file, prompt="Passphrase of the authority keystore", confirm=False
    )
    authority = load_authority(keystore, passphrase)
    directory = republish(data, authority, older_than_days=args.if_older_than)
    if directory is None:
        current = current_directory(data, authority)
        print(
            f"Directory serial {current.serial} is dated {current.day.isoformat()}, younger "
            f"than {args.if_older_than} days: nothing published"
        )
        return 0
    print(f"Published directory serial {directory.serial}, dated {directory.day.isoformat()}")
    return 0


EXCERPT_BYTES = 48


def _admin_inspect(args: argparse.Namespace) -> int:
    from server.store_inspect import stored_petition

    stored = stored_petition(args.data, args.petition_id, key_file=args.db_key_file)
    row = stored.row
    header = stored.header_length
    envelope = row.envelope
    if header is None:
        layout = "no well-formed clear header"
        sealed = envelope
    else:
        sealed = envelope[header:]
        layout = (
            f"a {header:,}-byte clear header (bureau id, identity and case key ids), "
            "then ciphertext"
        )
    excerpt = sealed[:EXCERPT_BYTES].hex()
    lines = [
        ("petition id", row.petition_id),
        ("bureau id", row.bureau_id),
        ("day", row.day),
        ("event", row.event),
        ("handler", row.handler),
        ("cursor", str(row.cursor)),
        ("lookup_key_hash", row.lookup_key_hash.hex()),
        ("envelope_hash", row.envelope_hash.hex()),
        ("envelope", f"{len(envelope):,} bytes: {layout}"),
        ("ciphertext", f"{excerpt}… (first {EXCERPT_BYTES} of {len(sealed):,} bytes)"),
        ("leaf index", str(row.leaf_index)),
        ("replies", str(len(stored.replies))),
    ]
    print(f"What the server stores for petition {row.petition_id}")
    print("(every column of its rows in the tables petitions and replies):")
    for name, value in lines:
        print(f"  {name:<16} {value}")
    for reply in stored.replies:
        print(
            f"  reply {reply.sequence:<10} event {reply.event}, day {reply.day}, "
            f"leaf {reply.leaf_index}, "
            f"signed reply {reply.signed_reply_size:,} bytes"
        )
    return 0


def register_audit_store(subcommands: Subcommands) -> None:
    """``petition audit store``: registered into the ``audit`` group (petition/cli.py)."""
    parser = subcommands.add_parser(
        "store",
        help="check a server's data directory: encrypted, no personal data, log matches store",
        description="Check a server's data directory, read-only (also while the server runs): "
        "the database is encrypted at rest and has the expected schema; no stored value but "
        "bureau, day, latest event and handler is shared by two petitions; no table or file holds "
        "a valid ID number, a name, an IP address or a time of day; every log leaf matches "
        "exactly one stored petition or reply; the log matches the checkpoint its key signed "
        "(log.head), the published checkpoint and every published tile. With --database, the "
        "same checks on a PostgreSQL store (encryption at rest, the disk's business there, is "
        "reported as skipped). Exit status 0 if no check fails, 1 otherwise.",
    )
    _data_argument(parser)
    _db_key_file_argument(parser)
    _database_argument(parser)
    parser.set_defaults(handler=_audit_store)


# A damaged store can produce thousands of findings of one kind; the first few say what it is.
MAX_FINDINGS_SHOWN = 20


def _audit_store(args: argparse.Namespace) -> int:
    from server.store_audit import audit_store

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
            print(f"FAIL {check.check}: … and {hidden} more findings")
    failed = [check for check in audit.checks if check.failed]
    made = len(audit.checks) - len(audit.skipped)
    what = f"store audit of {audit.data_dir}"
    if audit.database is not None:
        what += f" and its {audit.database} database"
    skipped = f"{len(audit.skipped)} not applicable, " if audit.skipped else ""
    if not failed:
        passed = f"all {made} others passed" if audit.skipped else f"all {made} checks passed"
        print(f"{what}: {skipped}{passed}")
        return 0
    count = len(audit.findings)
    print(
        f"{what}: {skipped}{len(failed)} of {made} checks failed "
        f"({count} finding{'' if count == 1 else 's'})"
    )
    return 1
