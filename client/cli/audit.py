"""``petition audit log``, ``receipt``, ``export-heads`` and ``compare``: the network checks.

(``petition audit store`` inspects a data directory and comes from ``server``.)
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from client.auditor import (
    HeadComparison,
    audit_log,
    audit_receipt,
    compare_heads,
    export_heads,
    read_heads_file,
    receipt_from_code,
)
from client.cli.options import (
    add_network,
    add_passphrase_file,
    flag,
    home_from,
    network_from,
    path_is_taken,
)
from client.cli.petitioner import read_code_or_file
from client.errors import InvalidInput
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

    export = subcommands.add_parser(
        "export-heads",
        help="write the signed tree heads this auditor accepted, for other auditors to compare",
        description="Write every signed tree head this auditor accepted (kept under "
        "PETITION_HOME by `audit log`) for the log the pinned directory names, exactly as the "
        "server signed them, as a tree-head file (docs/protocol.md §12.7). The heads are public: "
        "send the file to other auditors, who check it with `petition audit compare`.",
    )
    export.add_argument(
        "--out", type=Path, metavar="FILE", help="write to FILE (a new file) instead of stdout"
    )
    _server_flag(export)
    add_network(export)
    export.set_defaults(handler=_export_heads)

    compare = subcommands.add_parser(
        "compare",
        help="compare the heads this auditor accepted with other auditors' files (split views)",
        description="Verify every head in the given tree-head files with the log key the "
        "pinned directory names, then compare them with the heads this auditor accepted: two "
        "heads of the same size with different roots are a SPLIT VIEW (both are signed by the "
        "log key: proof that the server showed different logs); heads of different sizes must "
        "be proven consistent by the server (FAIL otherwise); a head whose signature does not "
        "verify is reported (UNTRUSTED) and ignored. Exit status 1 if anything is found. When "
        "nothing is, the other auditors' heads join this auditor's history, so later `audit "
        "log` runs prove the server consistent with them too (unless --no-save).",
    )
    compare.add_argument(
        "files", nargs="+", type=Path, metavar="FILE", help="tree-head file of another auditor"
    )
    compare.add_argument(
        "--no-save",
        action="store_true",
        help="only compare; do not add the other auditors' heads to this auditor's history",
    )
    _server_flag(compare)
    add_network(compare)
    compare.set_defaults(handler=_compare)


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


def _export_heads(args: argparse.Namespace) -> int:
    out: Path | None = args.out
    if out is not None and path_is_taken(out):
        raise InvalidInput(f"{out} already exists; choose a new file name")
    with _session(args) as session:
        data = export_heads(session)
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return 0
    try:
        with out.open("xb") as handle:
            handle.write(data)
    except OSError as exc:
        raise InvalidInput(f"cannot write {out}: {exc.strerror}") from exc
    print(f"Signed tree heads of {session.config.server}'s log written to {out}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    # Every file is read and parsed before any request: a typo costs no network round trip.
    files = [(str(path), read_heads_file(path)) for path in args.files]
    with _session(args) as session:
        result = compare_heads(session, files, save=not args.no_save)
    print(_compare_summary(result))
    for finding in result.findings:
        print(f"{finding.verdict}: {finding.message}")
    if result.findings:
        print(
            f"{len(result.findings)} problem(s) found: keep these files, they hold the signed "
            "heads that prove it"
        )
        return 1
    print(
        f"OK: one history; {result.proofs_checked} consistency proof(s) from "
        f"{session.config.server} verified"
    )
    if result.added:
        print(f"  {result.added} head(s) from the other auditors added to this auditor's history")
    return 0


def _compare_summary(result: HeadComparison) -> str:
    sizes = (
        ""
        if result.smallest is None
        else f" (sizes {result.smallest} to {result.largest})"
        if result.smallest != result.largest
        else f" (size {result.smallest})"
    )
    return (
        f"Compared {result.local_heads + result.other_heads} signed head(s){sizes}: "
        f"{result.local_heads} kept by this auditor, {result.other_heads} more from "
        f"{result.files} file(s)"
    )
