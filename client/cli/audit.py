"""``petition audit log``, ``receipt``, ``export-checkpoints``, ``compare``, ``policy``, ``stats``.

Checks of the log and of receipts against a trust policy (c2sp.org/tlog-policy): the
directory's, or a local one (``--policy FILE``, else ``PETITION_HOME/policy``). ``audit
receipt`` also runs offline, with a receipt file and a policy and no server. (``petition audit
store`` inspects a data directory and comes from ``server``.) ``audit stats`` counts the public
figures of the case lifecycle from the verified log (client/stats_report.py).

What these commands print is in the command line's language (``petition --lang``,
PETITION_LANG, the locale: cli_support/i18n.py), from the catalogs the web UI shares; an event
is named as the web UI names it. So is their ``--help``: :func:`register` translates it, as
``petition`` builds its parser after choosing the language. The details of a failed check,
raised deep in client/auditor.py and crypto/, stay in English: they are evidence to quote, not
sentences to read aloud.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from cli_support import i18n
from cli_support.i18n import N_, _
from cli_support.messages import EVENT_TEXT
from client.auditor import (
    CheckpointComparison,
    ReceiptAudit,
    audit_log,
    audit_receipt,
    audit_receipt_offline,
    compare_checkpoints,
    export_checkpoints,
    is_tlog_proof,
    read_checkpoints_file,
    read_receipt_file,
    receipt_from_code,
)
from client.cli.options import (
    add_network,
    add_passphrase_file,
    flag,
    home_from,
    network_from,
    path_is_taken,
    readable_file,
)
from client.cli.petitioner import add_policy, read_code_or_file, witnessing_text
from client.errors import InvalidInput
from client.session import Session, Witnessing, local_policy
from client.stats_report import (
    compare_with_server,
    count_log,
    fetch_verified_log,
    render_html,
    render_table,
    write_new_file,
)
from client.transport import validate_server_url
from crypto.case_stats import DEFAULT_PERIOD, PERIODS
from crypto.errors import MalformedInput
from crypto.fields import parse_day
from crypto.log_receipt import MAX_RECEIPT_LENGTH
from crypto.receipt import ReceiptSecret
from crypto.tlog_proof import FILE_SUFFIX

if TYPE_CHECKING:
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]


#: ``--out`` of ``export-checkpoints`` and ``policy``.
OUT_HELP = N_("write to FILE (a new file) instead of stdout")


def register(subcommands: Subcommands) -> None:
    """Add the auditor's commands; their help is translated here, the language being chosen."""
    log = subcommands.add_parser(
        "log",
        help=_("verify the log: witnessed checkpoint, consistency with earlier ones, root"),
        description=_(
            "Fetch the log's latest checkpoint and check it against the trust policy (the log "
            "key the pinned directory vouches for, and the witnesses' cosignatures the policy "
            "requires), prove it consistent with every checkpoint this auditor accepted before "
            "(kept under PETITION_HOME), and recompute its root from all entries."
        ),
    )
    _server_flag(log)
    add_policy(log)
    add_network(log)
    log.set_defaults(handler=_log)

    receipt = subcommands.add_parser(
        "receipt",
        help=_("verify a receipt, offline or against the log as it is now"),
        description=_(
            "Check a receipt: a receipt file (FILE.tlog-proof, c2sp.org/tlog-proof), a saved "
            "receipt file (--save-receipt) or a receipt code. The receipt is verified against "
            "the trust policy: the log signed a checkpoint holding the entry, cosigned by the "
            "witnesses the policy requires. Offline (--offline, or when no server is pinned) "
            "nothing else is asked; the policy is --policy FILE or PETITION_HOME/policy. With "
            "the server, the current checkpoint must also extend the receipt's and still "
            "include the entry."
        ),
    )
    receipt.add_argument(
        "code",
        nargs="?",
        metavar="CODE_OR_FILE",
        help=_(
            "a receipt file (%(suffix)s), a saved receipt file, or a receipt code",
            suffix=FILE_SUFFIX,
        ),
    )
    _server_flag(receipt)
    add_policy(receipt)
    flag(receipt, "--offline", action="store_true", variable="PETITION_RECEIPT_OFFLINE",
         help=_("do not contact the server: check the receipt against the policy "
                "alone"))  # fmt: skip
    add_passphrase_file(receipt, "receipt file")
    add_network(receipt)
    receipt.set_defaults(handler=_receipt)

    export = subcommands.add_parser(
        "export-checkpoints",
        help=_("write the checkpoints this auditor accepted, for other auditors to compare"),
        description=_(
            "Write every checkpoint this auditor accepted (kept under PETITION_HOME by `audit "
            "log`) for the log the pinned directory names, exactly as the log signed them and "
            "the witnesses cosigned them, as a checkpoint file (docs/protocol.md §12.7). The "
            "checkpoints are public: send the file to other auditors, who check it with "
            "`petition audit compare`."
        ),
    )
    export.add_argument("--out", type=Path, metavar="FILE", help=_(OUT_HELP))
    _server_flag(export)
    add_network(export)
    export.set_defaults(handler=_export_checkpoints)

    compare = subcommands.add_parser(
        "compare",
        help=_("compare the checkpoints this auditor accepted with other auditors' files"),
        description=_(
            "Verify every checkpoint in the given checkpoint files with the log key the pinned "
            "directory names, then compare them with the checkpoints this auditor accepted: two "
            "of the same size with different roots are a SPLIT VIEW (both are signed by the log "
            "key: proof that the log showed different histories); checkpoints of different "
            "sizes must be proven consistent by the server (FAIL otherwise); one whose "
            "signature does not verify is reported (UNTRUSTED) and ignored. Exit status 1 if "
            "anything is found. When nothing is, the other auditors' checkpoints join this "
            "auditor's history, so later `audit log` runs prove the server consistent with "
            "them too (unless --no-save)."
        ),
    )
    compare.add_argument(
        "files", nargs="+", type=Path, metavar="FILE", help=_("checkpoint file of another auditor")
    )
    compare.add_argument(
        "--no-save",
        action="store_true",
        help=_(
            "only compare; do not add the other auditors' checkpoints to this auditor's history"
        ),
    )
    _server_flag(compare)
    add_policy(compare)
    add_network(compare)
    compare.set_defaults(handler=_compare)

    policy = subcommands.add_parser(
        "policy",
        help=_("write the directory's trust policy, to check receipts offline"),
        description=_(
            "Write the trust policy (c2sp.org/tlog-policy: the log key, the witnesses and the "
            "quorum) of the directory the pinned authority signed. With it, `petition audit "
            "receipt FILE --policy POLICY` checks a receipt on a machine without network; saved "
            "as PETITION_HOME/policy (mode 600) it replaces the directory's policy for every "
            "command, and may then require other or more witnesses (never another log)."
        ),
    )
    policy.add_argument("--out", type=Path, metavar="FILE", help=_(OUT_HELP))
    _server_flag(policy)
    add_network(policy)
    policy.set_defaults(handler=_policy)

    stats = subcommands.add_parser(
        "stats",
        help=_("count, from the verified log alone, how each bureau handles petitions"),
        description=_(
            "Fetch every entry of the log as entry bundles, check them against the latest "
            "checkpoint (signed by the log key from the pinned directory, witnessed as the "
            "policy requires, extending every checkpoint this auditor accepted), and count per "
            "bureau and period: petitions received, acknowledged within 15 days, decided within "
            "60 (+30) days, overdue now, median days to answer, transfers, not-competent "
            "refusals, reviews and their outcomes, and the bureaus reviewed most often (Art. "
            "41). Entries whose bureau signature fails, days that go backwards along the log "
            "and histories the statutory clock refuses are counted and listed. Output: a "
            "table, canonical JSON (--json), or a self-contained HTML report with charts "
            "(--html FILE). --compare fetches the server's own figures (GET /v1/stats) and "
            "checks that they are what its log gives (exit status 1 if not)."
        ),
    )
    stats.add_argument(
        "--period",
        choices=PERIODS,
        default=DEFAULT_PERIOD,
        help=_(
            "count per month, per year, or over all time (default: %(period)s); a petition's "
            "figures are in the period of the day it was received",
            period=DEFAULT_PERIOD,
        ),
    )
    stats.add_argument("--json", action="store_true", help=_("print the canonical JSON form"))
    stats.add_argument(
        "--html",
        type=Path,
        metavar="FILE",
        help=_("write a self-contained HTML report (a new file)"),
    )
    stats.add_argument(
        "--today",
        metavar="YYYY-MM-DD",
        help=_("count overdue cases as of this day (default: today, UTC)"),
    )
    stats.add_argument(
        "--compare",
        action="store_true",
        help=_("check that the server's published figures (GET /v1/stats) match the log"),
    )
    stats.add_argument(
        "--lang",
        choices=i18n.LANGUAGES,
        help=_(
            "language of the table and report (default: petition --lang, else PETITION_LANG, "
            "else the locale: LC_ALL/LC_MESSAGES/LANG; Chinese for a zh locale, English "
            "otherwise)"
        ),
    )
    _server_flag(stats)
    add_policy(stats)
    add_network(stats)
    stats.set_defaults(handler=_stats)


def _server_flag(parser: argparse.ArgumentParser) -> None:
    flag(parser, "--server", metavar="URL", variable="PETITION_AUDIT_SERVER",
         help=_("audit this server (default: the pinned one); "
                "its directory must be signed by the pinned authority"))  # fmt: skip


def _session(args: argparse.Namespace) -> Session:
    home = home_from(args)
    config = home.load_config()
    if args.server:
        config = replace(config, server=validate_server_url(args.server))
    return Session(home, config, network_from(args), policy_file=getattr(args, "policy", None))


#: Where the trust policy came from when no file was given (:attr:`Session.policy_source`).
DIRECTORY_SOURCE = "the directory"
FILE_TAKEN = N_("%(file)s already exists; choose a new file name")
#: The verdict of one finding of ``audit compare`` (:class:`client.auditor.CheckpointFinding`).
FINDING_VERDICTS = {
    "SPLIT VIEW": N_("SPLIT VIEW"),
    "FAIL": N_("FAIL"),
    "UNTRUSTED": N_("UNTRUSTED"),
}


def _policy_source(source: str) -> str:
    """The policy's origin for people: a file name as given, the directory in their language."""
    return _("the directory") if source == DIRECTORY_SOURCE else source


def _witnessing(witnessing: Witnessing, source: str) -> str:
    """Who witnessed a checkpoint, and under which policy."""
    return _(
        "%(witnessing)s (policy: %(source)s)",
        witnessing=witnessing_text(witnessing),
        source=_policy_source(source),
    )


def _log(args: argparse.Namespace) -> int:
    with _session(args) as session:
        result = audit_log(session)
        source = session.policy_source
    growth = (
        _("first audit of this log")
        if result.previous_size is None
        else _(
            "grew by %(growth)s since the largest checkpoint seen (%(size)s)",
            growth=result.tree_size - result.previous_size,
            size=result.previous_size,
        )
    )
    print(
        _(
            "Log of %(server)s: %(size)s entries; %(growth)s",
            server=session.config.server,
            size=result.tree_size,
            growth=growth,
        )
    )
    print("  " + _("checkpoint signed by the log key from the pinned directory"))
    print("  " + _witnessing(result.witnessing, source))
    print(
        "  "
        + _(
            "consistent with %(count)s checkpoint(s) seen before",
            count=result.checkpoints_checked,
        )
    )
    print(
        "  "
        + _(
            "root recomputed from %(entries)s entries (%(submissions)s submissions, %(later)s "
            "later events, %(replies)s with a reply): matches",
            entries=result.entries_checked,
            submissions=result.submissions,
            later=result.entries_checked - result.submissions,
            replies=result.replies,
        )
    )
    return 0


def _receipt_file(args: argparse.Namespace) -> tuple[bytes, str] | None:
    """A ``.tlog-proof`` file named as CODE_OR_FILE, read whole; None for anything else."""
    text = args.code or os.environ.get("PETITION_CODE")
    if text is None:
        return None
    candidate, _unused = readable_file(text)
    if candidate is None:
        return None
    try:
        with candidate.open("rb") as handle:
            start = handle.read(64)
    except OSError as exc:
        raise InvalidInput(
            _(
                "cannot read the receipt file %(file)s: %(reason)s",
                file=candidate,
                reason=exc.strerror,
            )
        ) from exc
    if not is_tlog_proof(start):
        return None  # a saved receipt file (a keystore): read_code_or_file opens it
    data = read_receipt_file(candidate)
    if len(data) > MAX_RECEIPT_LENGTH:
        raise InvalidInput(_("%(file)s is larger than a receipt can be", file=candidate))
    return data, str(candidate)


def _receipt(args: argparse.Namespace) -> int:
    home = home_from(args)
    from_file = _receipt_file(args)
    secret: ReceiptSecret | None = None
    data: bytes | None
    # ``where`` names the receipt inside the auditor's own (English) error details.
    if from_file is not None:
        data, where = from_file
    else:
        secret, data = read_code_or_file(args)
        where = "the saved receipt"
    # A receipt in hand is checked offline when asked to, or when there is no server to ask.
    if data is not None and (args.offline or not home.config_path.exists()):
        local = local_policy(home, args.policy)
        if local is None:
            raise InvalidInput(
                _(
                    "checking a receipt offline needs a policy: give --policy FILE (`petition "
                    "audit policy --out FILE` writes the directory's) or keep one as "
                    "PETITION_HOME/policy"
                )
            )
        policy, source = local
        _show_receipt(audit_receipt_offline(data, policy, where=where), source)
        return 0
    if args.offline:
        raise InvalidInput(
            _("a receipt code is checked by asking the server; offline, give a receipt file")
        )
    with _session(args) as session:
        if data is None:
            if secret is None:  # not reached: without a receipt file there is a code
                raise InvalidInput(_("no receipt code or receipt file to check"))
            data, where = receipt_from_code(session, secret), "the server's receipt"
        result = audit_receipt(session, data, where=where, submission=from_file is None)
        source = session.policy_source
    _show_receipt(result, source)
    return 0


def _event_name(value: str) -> str:
    """A public event as the protocol names it in English, else as the web UI says it."""
    if i18n.translator().language == "en":
        return value
    return _(EVENT_TEXT[value]) if value in EVENT_TEXT else value


def _show_receipt(result: ReceiptAudit, source: str) -> None:
    entry = result.entry
    day = entry.day.isoformat()
    what = (
        _("submission to bureau %(bureau_id)s on %(day)s", bureau_id=entry.bureau_id, day=day)
        if entry.event.value == "received"
        else _(
            "%(event)s at bureau %(bureau_id)s on %(day)s",
            event=_event_name(entry.event.value),
            bureau_id=entry.bureau_id,
            day=day,
        )
    )
    receipt_line = "  " + _(
        "entry %(index)s (leaf index %(leaf)s, %(what)s) is in the receipt's checkpoint of "
        "size %(size)s, %(witnessing)s",
        index=result.leaf_index + 1,  # entries are counted from 1, as everywhere people read them
        leaf=result.leaf_index,  # the protocol's 0-based index, for whoever checks the tiles
        what=what,
        size=result.receipt_tree_size,
        witnessing=_witnessing(result.receipt_witnessing, source),
    )
    if result.current_tree_size is None or result.current_witnessing is None:
        print(_("Receipt for petition %(id)s: verified offline", id=result.petition_id))
        print(receipt_line)
        print(
            "  "
            + _("the log was not asked whether it still holds the entry (audit with the server)")
        )
        return
    print(_("Receipt for petition %(id)s: still in the log", id=result.petition_id))
    print(receipt_line)
    print(
        "  "
        + _(
            "entry %(index)s is included in the current checkpoint of size %(size)s, "
            "%(witnessing)s",
            index=result.leaf_index + 1,
            size=result.current_tree_size,
            witnessing=witnessing_text(result.current_witnessing),
        )
    )
    print(
        "  "
        + _(
            "the current checkpoint extends the receipt's checkpoint of size %(size)s",
            size=result.receipt_tree_size,
        )
    )


def _write_new(out: Path | None, data: bytes) -> bool:
    """``data`` to stdout (False) or to the new file ``out`` (True)."""
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return False
    try:
        with out.open("xb") as handle:
            handle.write(data)
    except OSError as exc:
        raise InvalidInput(
            _("cannot write %(file)s: %(reason)s", file=out, reason=exc.strerror)
        ) from exc
    return True


def _refuse_taken(out: Path | None) -> None:
    """A report or file is only ever written to a new file: checked before any request."""
    if out is not None and path_is_taken(out):
        raise InvalidInput(_(FILE_TAKEN, file=out))


def _export_checkpoints(args: argparse.Namespace) -> int:
    out: Path | None = args.out
    _refuse_taken(out)
    with _session(args) as session:
        data = export_checkpoints(session)
    if _write_new(out, data):
        print(
            _(
                "Checkpoints of %(server)s's log written to %(file)s",
                server=session.config.server,
                file=out,
            )
        )
    return 0


def _policy(args: argparse.Namespace) -> int:
    out: Path | None = args.out
    _refuse_taken(out)
    with _session(args) as session:
        directory = session.directory()
    if _write_new(out, directory.log_policy):
        policy = directory.policy()
        print(
            _(
                "Trust policy of directory serial %(serial)s written to %(file)s: log "
                "%(origin)s, %(witnesses)s witness(es), quorum %(quorum)s",
                serial=directory.serial,
                file=out,
                origin=directory.log_origin,
                witnesses=len(policy.witnesses),
                quorum=policy.quorum,
            )
        )
    return 0


def _compare(args: argparse.Namespace) -> int:
    # Every file is read and parsed before any request: a typo costs no network round trip.
    files = [(str(path), read_checkpoints_file(path)) for path in args.files]
    with _session(args) as session:
        result = compare_checkpoints(session, files, save=not args.no_save)
    print(_compare_summary(result))
    for finding in result.findings:
        verdict = FINDING_VERDICTS.get(finding.verdict)
        print(
            _(
                "%(verdict)s: %(finding)s",
                verdict=_(verdict) if verdict else finding.verdict,
                finding=finding.message,
            )
        )
    if result.findings:
        print(
            _(
                "%(count)s problem(s) found: keep these files, they hold the signed checkpoints "
                "that prove it",
                count=len(result.findings),
            )
        )
        return 1
    print(
        _(
            "OK: one history; %(proofs)s consistency proof(s) from %(server)s verified",
            proofs=result.proofs_checked,
            server=session.config.server,
        )
    )
    if result.added:
        print(
            "  "
            + _(
                "%(count)s checkpoint(s) from the other auditors added to this auditor's history",
                count=result.added,
            )
        )
    return 0


def _compare_summary(result: CheckpointComparison) -> str:
    if result.smallest is None:
        sizes = ""
    elif result.smallest != result.largest:
        sizes = _(" (sizes %(smallest)s to %(largest)s)", smallest=result.smallest,
                  largest=result.largest)  # fmt: skip
    else:
        sizes = _(" (size %(size)s)", size=result.smallest)
    return _(
        "Compared %(total)s signed checkpoint(s)%(sizes)s: %(local)s kept by this auditor, "
        "%(other)s more from %(files)s file(s)",
        total=result.local_checkpoints + result.other_checkpoints,
        sizes=sizes,
        local=result.local_checkpoints,
        other=result.other_checkpoints,
        files=result.files,
    )


def _stats(args: argparse.Namespace) -> int:
    out: Path | None = args.html
    _refuse_taken(out)
    # --today is the day this auditor takes as today: for counting, and for --compare the day
    # the server's own must be near.
    today = datetime.now(UTC).date()
    if args.today is not None:
        try:
            today = parse_day(args.today, field="--today")
        except MalformedInput as exc:
            raise InvalidInput(exc.message) from exc
    # `audit stats --lang` is kept for the scripts that give it there; `petition --lang` is
    # the same choice for every command.
    translator = i18n.choose(args.lang) if args.lang else i18n.translator()
    if args.compare:
        return _stats_compare(args, today)
    with _session(args) as session:
        log = fetch_verified_log(session)
        directory = session.directory()
        server = session.config.server
    stats = count_log(log, directory, args.period, today)
    if out is not None:
        write_new_file(out, render_html(stats, translator, log=log, server=server))
        print(_("Report written to %(file)s", file=out))
    if args.json:
        sys.stdout.write(stats.encode().decode("utf-8") + "\n")
    elif out is None:
        print(render_table(stats, translator, log=log, server=server))
    return 0


def _stats_compare(args: argparse.Namespace, local_today: date) -> int:
    with _session(args) as session:
        comparison, _log, ours = compare_with_server(session, args.period, local_today)
        server = session.config.server
    if args.json:
        sys.stdout.write(ours.encode().decode("utf-8") + "\n")
    if comparison.matches:
        print(
            _(
                "MATCH: the server's figures for %(size)s entries on %(today)s are what its "
                "log gives",
                size=ours.tree_size,
                today=ours.today.isoformat(),
            )
        )
        return 0
    print(_("MISMATCH: the server's figures are not what its log gives (%(server)s)",
            server=server))  # fmt: skip
    for difference in comparison.differences:
        print(f"  {difference}")
    return 1
