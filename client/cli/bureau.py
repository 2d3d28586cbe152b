"""``petition bureau …``: the bureau reviewer's commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from client.bureau import (
    BureauDesk,
    BureauKeys,
    OpenedPetition,
    create_bureau,
    export_token_key,
    load_bureau,
    write_bundle,
)
from client.cli.options import add_network, add_passphrase_file, flag, home_from, network_from
from client.errors import InvalidInput, ServerMisbehaved
from client.files import read_text_file, save_attachment
from client.session import Session
from crypto.errors import MalformedInput
from crypto.fields import Status
from crypto.keys import format_fingerprint
from crypto.token import DEFAULT_TOKEN_PARAMS, TokenParams
from petition.terminal import read_passphrase

if TYPE_CHECKING:
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]


def register(subcommands: Subcommands) -> None:
    init = subcommands.add_parser(
        "init",
        help="create the bureau's keys and token salt, and its public bundle",
        description="Generate the encryption, signing and token (VOPRF) keys and the token "
        "salt into a new passphrase-protected keystore, and write the public bundle for the "
        "directory authority (`petition admin add-bureau`).",
    )
    flag(init, "--id", required=True, help="bureau id: lower-case letters, digits, '-'")
    flag(init, "--name", required=True, help="the bureau's name as petitioners will see it")
    _keystore(init)
    flag(init, "--bundle", type=Path, help="where to write the public bundle "
         "(default: ID.bundle.json next to the keystore)")  # fmt: skip
    flag(init, "--argon2-memory-kib", type=int, default=DEFAULT_TOKEN_PARAMS.memory_kib,
         help="Argon2id memory petitioners' devices spend per token")  # fmt: skip
    flag(init, "--argon2-time-cost", type=int, default=DEFAULT_TOKEN_PARAMS.time_cost,
         help="Argon2id passes per token")  # fmt: skip
    add_passphrase_file(init, "keystore")
    init.set_defaults(handler=_init)

    export = subcommands.add_parser(
        "export-token-key",
        help="write the token key file the token evaluator serves from",
        description="Write the bureau's VOPRF key as a key file for `petition evaluator serve "
        "--keys DIR` (on a host the bureau controls) or for the server's token-keys directory.",
    )
    _keystore(export)
    flag(export, "--out", type=Path, required=True, help="the key file to create (mode 0600)")
    add_passphrase_file(export, "keystore")
    export.set_defaults(handler=_export)

    inbox = subcommands.add_parser(
        "inbox",
        help="list petitions, each opened and checked",
        description="List the bureau's petitions. Each is fetched, decrypted on this machine "
        "and given the token-binding check, unless --no-open.",
    )
    _keystore(inbox)
    flag(inbox, "--after", type=int, default=0, help="start after this cursor")
    flag(inbox, "--limit", type=int, default=50, help="how many petitions (1-500)")
    flag(inbox, "--no-open", action="store_true", help="list only; do not open each petition")
    _session_flags(inbox)
    inbox.set_defaults(handler=_inbox)

    show = subcommands.add_parser("show", help="decrypt one petition and check its token")
    show.add_argument("petition_id", metavar="PETITION_ID")
    _keystore(show)
    flag(show, "--save-attachments", type=Path, metavar="DIR", help="write attachments here")
    _session_flags(show)
    show.set_defaults(handler=_show)

    reply = subcommands.add_parser(
        "reply",
        help="answer a petition and set its public status",
        description="Encrypt a reply to the petitioner, sign it and post it; the new status "
        "becomes a public log entry.",
    )
    reply.add_argument("petition_id", metavar="PETITION_ID")
    _keystore(reply)
    choices = [s.value for s in Status if s is not Status.RECEIVED]
    flag(reply, "--status", required=True, choices=choices, help="the new public status")
    flag(reply, "--message", help="the reply text")
    flag(reply, "--message-file", type=Path, help="UTF-8 file with the reply text")
    _session_flags(reply)
    reply.set_defaults(handler=_reply)


def _keystore(parser: argparse.ArgumentParser) -> None:
    flag(parser, "--keystore", type=Path, required=True, help="the bureau's keystore file")


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
    if bundle_path.exists():
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
    print(f"Bureau {bundle.bureau_id} ({bundle.name}): keys created in {keystore}")
    print(f"  encryption key {format_fingerprint(bundle.encryption_key.key_id)}")
    print(f"  signing key    {format_fingerprint(bundle.signing_key.fingerprint)}")
    print(f"Public bundle written to {bundle_path}. Next:")
    print(f"  the directory authority publishes it: petition admin add-bureau {bundle_path}")
    print("  the token evaluator gets its key: petition bureau export-token-key --out FILE")
    return 0


def _export(args: argparse.Namespace) -> int:
    keys = _keys(args)
    export_token_key(Path(args.out), keys)
    print(f"Token key of {keys.bureau_id} written to {args.out} (keep it secret: mode 0600)")
    return 0


def _desk(args: argparse.Namespace) -> tuple[Session, BureauDesk]:
    keys = _keys(args)
    session = Session.open(home_from(args), network_from(args))
    desk = BureauDesk(session, keys)
    if desk.published_bundle_differs():
        print(
            f"warning: the directory lists other keys for {keys.bureau_id} than this keystore",
            file=sys.stderr,
        )
    return session, desk


def _inbox(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= 500 or args.after < 0:
        raise InvalidInput("--limit must be 1-500 and --after at least 0")
    session, desk = _desk(args)
    flagged = 0
    with session:
        items, next_cursor = desk.inbox(args.after, args.limit)
        print(f"{len(items)} petition(s) for {desk.keys.bureau_id} after cursor {args.after}")
        for item in items:
            line = (
                f"  #{item['cursor']:<6} {item['petition_id']}  {item['day']}  {item['status']:<11}"
            )
            if args.no_open:
                print(line)
                continue
            try:
                opened = desk.open(str(item["petition_id"]))
            except ServerMisbehaved as exc:  # one altered record must not hide the others
                flagged += 1
                print(f"{line}  ✗ ALTERED  {exc.message}")
                continue
            flagged += not opened.binding_ok
            subject = opened.document.subject if opened.document else "(cannot be opened)"
            print(f"{line}  {_binding_mark(opened)}  {subject}")
    if items:
        print(f"Next page: --after {next_cursor}")
    if flagged:
        print(f"{flagged} petition(s) FAILED a check (marked ✗): see `petition bureau show`")
        return 1
    return 0


def _binding_mark(opened: OpenedPetition) -> str:
    """An envelope that cannot be opened is not a token problem: say which check failed."""
    if opened.document is None:
        return "✗ UNOPENABLE"
    return "✓ token" if opened.binding_ok else "✗ TOKEN"


def _show(args: argparse.Namespace) -> int:
    session, desk = _desk(args)
    with session:
        opened = desk.open(args.petition_id)
    stored, document = opened.stored, opened.document
    print(f"Petition {stored.petition_id} ({stored.day}, status {stored.status}, "
          f"log entry {stored.leaf_index}, {len(stored.replies)} reply/replies)")  # fmt: skip
    if opened.binding_ok:
        print("Token binding: ✓ the token is the token of the ID number inside")
    else:
        for problem in opened.problems:
            print(f"Token binding: ✗ {problem}")
    if document is None:
        return 1
    print(f"  Name:     {document.real_name}")
    print(f"  ID:       {document.id_number} ({document.id_scheme})")
    print(f"  Contact:  {document.contact}")
    print(f"  Category: {document.category}")
    print(f"  Region:   {document.region}")
    print(f"  Written:  {document.created_day}")
    print(f"  Subject:  {document.subject}")
    print("  Text:")
    for line in document.body.splitlines() or [""]:
        print(f"    {line}")
    for attachment in document.attachments:
        print(f"  Attachment: {attachment.name} ({attachment.media_type}, "
              f"{len(attachment.data)} bytes)")  # fmt: skip
        if args.save_attachments is not None:
            saved = save_attachment(Path(args.save_attachments), attachment)
            print(f"    saved to {saved}")
    return 0 if opened.binding_ok else 1


def _reply(args: argparse.Namespace) -> int:
    if (args.message is None) == (args.message_file is None):
        raise InvalidInput("give the reply with exactly one of --message or --message-file")
    message = args.message
    if message is None:
        message = read_text_file(Path(args.message_file), "reply")
    session, desk = _desk(args)
    with session:
        leaf_index = desk.reply(args.petition_id, args.status, message)
    print(
        f"Reply to {args.petition_id.strip().lower()} posted: status {args.status}, "
        f"public log entry {leaf_index}"
    )
    return 0
