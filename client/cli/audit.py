"""``petition audit log`` and ``petition audit receipt``: the auditor's network checks.

(``petition audit store`` inspects a data directory and comes from ``server``.)
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import TYPE_CHECKING

from client.auditor import audit_log, audit_receipt, receipt_from_code
from client.cli.options import add_network, add_passphrase_file, flag, home_from, network_from
from client.cli.petitioner import read_code_or_file
from client.session import Session
from client.transport import validate_server_url
from crypto.labels import SignedKind
from crypto.signing import SignedObject

if TYPE_CHECKING:
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]


def register(subcommands: Subcommands) -> None:
    log = subcommands.add_parser(
        "log",
        help="verify the log: signed head, consistency with earlier heads, root from entries",
        description="Fetch the signed tree head, check its signature with the log key the "
        "pinned directory vouches for, prove it consistent with every head this auditor saw "
        "before (kept under PETITION_HOME), and recompute its root from all entries.",
    )
    _server_flag(log)
    add_network(log)
    log.set_defaults(handler=_log)

    receipt = subcommands.add_parser(
        "receipt",
        help="verify that a receipt's petition is still in the log",
        description="Check a receipt: its signature, its inclusion in the current log head, "
        "and that the current head extends the head the receipt was issued under.",
    )
    receipt.add_argument(
        "code", nargs="?", metavar="CODE_OR_FILE", help="receipt code, or a saved receipt file"
    )
    _server_flag(receipt)
    add_passphrase_file(receipt, "receipt file")
    add_network(receipt)
    receipt.set_defaults(handler=_receipt)


def _server_flag(parser: argparse.ArgumentParser) -> None:
    flag(parser, "--server", metavar="URL", help="audit this server (default: the pinned one); "
         "its directory must be signed by the pinned authority")  # fmt: skip


def _session(args: argparse.Namespace) -> Session:
    home = home_from(args)
    config = home.load_config()
    if args.server:
        config = replace(config, server=validate_server_url(args.server))
    return Session(home, config, network_from(args))


def _log(args: argparse.Namespace) -> int:
    with _session(args) as session:
        result = audit_log(session)
    growth = (
        "first audit of this log"
        if result.previous_size is None
        else f"grew by {result.tree_size - result.previous_size} since the largest head seen "
        f"({result.previous_size})"
    )
    print(f"Log of {session.config.server}: {result.tree_size} entries; {growth}")
    print("  signed head verified with the log key from the pinned directory")
    print(f"  consistent with {result.heads_checked} head(s) seen before")
    print(
        f"  root recomputed from {result.entries_checked} entries "
        f"({result.submissions} submissions, {result.replies} replies): matches"
    )
    return 0


def _receipt(args: argparse.Namespace) -> int:
    secret, stored = read_code_or_file(args)
    with _session(args) as session:
        if stored is not None:
            signed = SignedObject.decode(stored, SignedKind.RECEIPT)
        else:
            signed = receipt_from_code(session, secret)
        result = audit_receipt(session, signed)
    print(f"Receipt for petition {result.petition_id}: still in the log")
    print(
        f"  entry {result.leaf_index} is included in the current head of size "
        f"{result.current_tree_size}"
    )
    print(f"  the current head extends the receipt's head of size {result.receipt_tree_size}")
    return 0
