"""``petition audit threat-model``: each row of docs/threat-model.md, checked where it can be.

The threat model's evidence is tests of the code. An operator or an auditor also wants to know
whether *this* deployment, as it runs today, still holds what the code promises: a directory
signed by the pinned authority, a log that only grows, a data directory with no personal data
and nothing per-person in it. This command runs every check that can be made against a live server
(``--server``), a data directory (``--data``) or this device's own client state, and prints one
row per threat id of :data:`petition.threats.THREATS`, in the document's order:

* ``PASS``: at least one check for the row ran, and every one that ran passed;
* ``FAIL``: a check for the row failed (each failing check is listed under the row);
* ``NOT CHECKABLE HERE``: nothing could be run, with the reason: the input it needs, a reason
  found at run time (no authority pinned in PETITION_HOME, say), or that the row is a property
  of the code with no deployment check, shown by the adversarial tests instead.

The exit status is 1 if any row fails, so the command can guard a deployment pipeline.

The frame of the report (the heading, the verdicts, the reasons a row cannot be checked, the
summary) is in the command line's language (cli_support/i18n.py); the threats' titles and the
checks' findings are those of the catalogue and of the providers.

This module knows nothing about HTTP or SQLCipher. ``client`` (the live-server and device checks)
and ``server`` (the data-directory checks) contribute :class:`CheckProvider` objects through the
entry-point group :data:`THREAT_CHECK_GROUP`, exactly as they contribute subcommands to
``petition``: the two packages must not import each other, and neither may be imported from here.
The protocol they build (:class:`ThreatCheck`, :class:`CheckContext`, …) is
:mod:`cli_support.threat_checks`, below both; this module runs it and prints the rows. A provider
also adds the flags its checks need (the client's network options, the server's ``--db-key-file``),
so that those flags are defined once, where the other commands of the same package define them.
"""

from __future__ import annotations

import argparse
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from cli_support.environment import add_flag
from cli_support.i18n import N_, _
from cli_support.threat_checks import (
    NEEDS,
    THREAT_CHECK_GROUP,
    CheckContext,
    CheckOutcome,
    CheckProvider,
    Need,
    ThreatCheck,
    ThreatCheckError,
)
from petition.threats import THREAT_IDS, THREATS, Threat

__all__ = [
    "CODE_PROPERTY",
    "NEEDS_DATA",
    "NEEDS_EITHER",
    "NEEDS_SERVER",
    "CheckContext",
    "CheckOutcome",
    "CheckProvider",
    "ThreatCheck",
    "ThreatCheckError",
    "Verdict",
    "all_checks",
    "evaluate",
    "format_audit",
    "load_checks",
    "load_providers",
    "register",
    "run_checks",
]

if TYPE_CHECKING:
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]

# The reasons a row is NOT CHECKABLE HERE: kept as these English msgids in the rows (the
# outcomes compare them), translated only when the report is printed (:func:`format_audit`).
NEEDS_SERVER = N_("needs a server (--server URL)")
NEEDS_DATA = N_("needs the data directory (--data DIR)")
NEEDS_EITHER = N_("needs a server (--server URL) or the data directory (--data DIR)")
CODE_PROPERTY = N_(
    "no deployment check: a property of the code, shown by the adversarial tests "
    "(docs/threat-model.md)"
)
_MISSING_INPUT: dict[Need, str] = {"server": NEEDS_SERVER, "data": NEEDS_DATA}

# A detail is one line on a terminal and in a ticket; a longer one is cut, never wrapped.
MAX_DETAIL = 300


# --- loading the providers ---------------------------------------------------------------------


def load_providers() -> list[CheckProvider]:
    """Every installed provider, in entry-point name order (``client``, then ``server``)."""
    providers: list[CheckProvider] = []
    for entry_point in sorted(
        metadata.entry_points(group=THREAT_CHECK_GROUP), key=lambda ep: ep.name
    ):
        try:
            provide: Callable[[], CheckProvider] = entry_point.load()
            provider = provide()
        except Exception as exc:  # an installation problem, reported as one line
            raise ThreatCheckError(
                f"the threat checks of {entry_point.name!r} could not be loaded ({exc}); "
                "reinstall the package"
            ) from exc
        if not isinstance(provider, CheckProvider):
            raise ThreatCheckError(
                f"the entry point {entry_point.name!r} of {THREAT_CHECK_GROUP} did not return "
                "a CheckProvider"
            )
        providers.append(provider)
    return providers


def load_checks() -> tuple[ThreatCheck, ...]:
    """Every installed check, validated (see :func:`all_checks`)."""
    return all_checks(load_providers())


def all_checks(providers: Iterable[CheckProvider]) -> tuple[ThreatCheck, ...]:
    """The checks of every provider, refused if an id repeats or a threat id is unknown.

    A check naming a threat that is not in the catalogue would print under no row, so its
    failure could go unseen: that is an error of the installation, not a finding.
    """
    checks = tuple(check for provider in providers for check in provider.checks)
    seen: set[str] = set()
    for check in checks:
        if check.check_id in seen:
            raise ThreatCheckError(f"two threat checks have the id {check.check_id!r}")
        seen.add(check.check_id)
        if not check.threat_ids:
            raise ThreatCheckError(f"the threat check {check.check_id!r} serves no threat")
        unknown = [threat for threat in check.threat_ids if threat not in THREAT_IDS]
        if unknown:
            raise ThreatCheckError(
                f"the threat check {check.check_id!r} names {', '.join(unknown)}, "
                "which is not in the threat catalogue"
            )
        if check.needs not in NEEDS:
            raise ThreatCheckError(f"the threat check {check.check_id!r} needs {check.needs!r}")
    return checks


# --- evaluation --------------------------------------------------------------------------------


class Verdict(Enum):
    PASS = "PASS"  # noqa: S105  (a verdict, not a password)
    FAIL = "FAIL"
    NOT_CHECKABLE = "NOT CHECKABLE HERE"


#: A verdict as the report prints it (the values are the English msgids).
VERDICT_TEXT = {
    Verdict.PASS: N_("PASS"),
    Verdict.FAIL: N_("FAIL"),
    Verdict.NOT_CHECKABLE: N_("NOT CHECKABLE HERE"),
}
#: How each check listed under a row went.
CHECK_FAILED = N_("FAIL")
CHECK_PASSED = N_("ok")
CHECK_NOT_RUN = N_("not run")


@dataclass(frozen=True)
class CheckResult:
    check: ThreatCheck
    outcome: CheckOutcome


@dataclass(frozen=True)
class ThreatRow:
    threat: Threat
    verdict: Verdict
    results: tuple[CheckResult, ...]
    reason: str = ""  # why the row is NOT CHECKABLE HERE

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(result for result in self.results if result.outcome.failed)


@dataclass(frozen=True)
class ThreatAudit:
    rows: tuple[ThreatRow, ...]

    def count(self, verdict: Verdict) -> int:
        return sum(1 for row in self.rows if row.verdict is verdict)

    @property
    def failed(self) -> bool:
        return self.count(Verdict.FAIL) > 0


# Cheap, local checks first: a data directory that does not exist stops the run before any
# request is sent.
_RUN_ORDER: dict[Need, int] = {"data": 0, "device": 1, "server": 2}


def run_checks(checks: Sequence[ThreatCheck], context: CheckContext) -> dict[str, CheckOutcome]:
    """Each check's outcome by id; each check runs at most once, whatever it serves."""
    outcomes: dict[str, CheckOutcome] = {}
    for check in sorted(checks, key=lambda c: _RUN_ORDER[c.needs]):  # stable within a need
        if not context.available(check.needs):
            outcomes[check.check_id] = CheckOutcome.cannot_run(_MISSING_INPUT[check.needs])
            continue
        outcome = check.run(context)
        if not isinstance(outcome, CheckOutcome):
            raise ThreatCheckError(f"the threat check {check.check_id!r} returned no outcome")
        outcomes[check.check_id] = outcome
    return outcomes


def evaluate(
    checks: Sequence[ThreatCheck],
    context: CheckContext,
    threats: Sequence[Threat] = THREATS,
) -> ThreatAudit:
    """Run ``checks`` once and give every threat its row, in catalogue order."""
    outcomes = run_checks(checks, context)
    rows = []
    for threat in threats:
        results = tuple(
            CheckResult(check, outcomes[check.check_id])
            for check in checks
            if threat.id in check.threat_ids
        )
        rows.append(_row(threat, results))
    return ThreatAudit(tuple(rows))


def _row(threat: Threat, results: tuple[CheckResult, ...]) -> ThreatRow:
    if not results:
        return ThreatRow(threat, Verdict.NOT_CHECKABLE, results, CODE_PROPERTY)
    ran = [result for result in results if result.outcome.ran]
    if any(result.outcome.failed for result in ran):
        return ThreatRow(threat, Verdict.FAIL, results)
    if ran:
        return ThreatRow(threat, Verdict.PASS, results)
    reasons = list(dict.fromkeys(result.outcome.detail for result in results))
    if set(reasons) == {NEEDS_SERVER, NEEDS_DATA}:  # either input would make the row checkable
        return ThreatRow(threat, Verdict.NOT_CHECKABLE, results, NEEDS_EITHER)
    return ThreatRow(threat, Verdict.NOT_CHECKABLE, results, "; ".join(reasons))


# --- the command -------------------------------------------------------------------------------


def one_line(text: str, limit: int = MAX_DETAIL) -> str:
    """``text`` as one printable line of at most ``limit`` characters."""
    cleaned = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def _display_width(text: str) -> int:
    """Terminal columns: a Chinese character takes two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _display_width(text))


def _reason_text(reason: str) -> str:
    """A reason in the reader's language: this module's own reasons are msgids; a provider's
    reason, joined to others with "; ", is printed as the provider wrote it."""
    # An empty part stays empty: gettext("") is the catalog's header.
    return _("; ").join(_(part) if part else part for part in reason.split("; "))


def format_audit(audit: ThreatAudit, *, every_check: bool = False) -> list[str]:
    """The report: one row per threat, what failed under it, and a summary line.

    With ``every_check``, every check is listed under its row with what it found.
    """
    width = max((len(row.threat.id) for row in audit.rows), default=0)
    verdicts = {verdict: _(text) for verdict, text in VERDICT_TEXT.items()}
    verdict_width = max(_display_width(text) for text in verdicts.values())
    indent = " " * (width + 2)
    lines = []
    for row in audit.rows:
        lines.append(f"{row.threat.id:<{width}}  {_pad(verdicts[row.verdict], verdict_width)}  "
                     f"{row.threat.title}")  # fmt: skip
        if row.verdict is Verdict.NOT_CHECKABLE:
            lines.append(f"{indent}{one_line(_reason_text(row.reason))}")
        shown = row.results if every_check else row.failures
        for result in shown:
            outcome = result.outcome
            mark = (
                CHECK_FAILED if outcome.failed else (CHECK_PASSED if outcome.ran else CHECK_NOT_RUN)
            )
            detail = one_line(_reason_text(outcome.detail))
            lines.append(f"{indent}{_(mark)} {result.check.check_id}: {detail}")
    lines.append(
        _(
            "threat model: %(threats)s threats, %(passed)s PASS, %(failed)s FAIL, "
            "%(unchecked)s NOT CHECKABLE HERE",
            threats=len(audit.rows),
            passed=audit.count(Verdict.PASS),
            failed=audit.count(Verdict.FAIL),
            unchecked=audit.count(Verdict.NOT_CHECKABLE),
        )
    )
    return lines


def register(subcommands: Subcommands) -> None:
    """``petition audit threat-model``: registered into the ``audit`` group (petition/cli.py).

    The providers are loaded here because they add flags. A broken provider must not take every
    other ``petition`` command down with it, so its error is reported when this command runs.
    The help is translated here too: ``petition`` builds its parser after choosing the language.
    """
    try:
        providers = load_providers()
        checks: tuple[ThreatCheck, ...] | ThreatCheckError = all_checks(providers)
    except ThreatCheckError as exc:
        providers, checks = [], exc
    parser = subcommands.add_parser(
        "threat-model",
        help=_("check every threat of docs/threat-model.md that a server or data directory shows"),
        description=_(
            "Run every check that can be made against a live server (--server), a server's "
            "data directory (--data) and this device's own client state, and print one row per "
            "threat id of docs/threat-model.md: PASS, FAIL, or NOT CHECKABLE HERE with the "
            "reason. Server checks trust the authority pinned in PETITION_HOME (`petition "
            "init`) and, like `petition audit log`, save the verified checkpoint there. "
            "Read-only on the data directory. Exit status 1 if any row fails, 0 otherwise."
        ),
    )
    add_flag(
        parser,
        "--server",
        metavar="URL",
        variable="PETITION_THREAT_MODEL_SERVER",
        help=_("check this live server; its directory must be signed by the pinned authority"),
    )
    # The same flag as `petition serve --data`, so the same words; read-only here.
    add_flag(parser, "--data", metavar="DIR", type=Path, help=_("the server's data directory"))
    parser.add_argument(
        "--all-checks",
        action="store_true",
        help=_("list every check under its row with what it found, not only the failing ones"),
    )
    for provider in providers:
        if provider.add_arguments is not None:
            provider.add_arguments(parser)
    parser.set_defaults(handler=lambda args: _threat_model(args, checks))


def _threat_model(
    args: argparse.Namespace, checks: Sequence[ThreatCheck] | ThreatCheckError
) -> int:
    if isinstance(checks, ThreatCheckError):
        raise checks
    server = args.server.strip() if args.server else None
    data = Path(args.data) if args.data else None
    with CheckContext(server=server or None, data=data, options=args) as context:
        audit = evaluate(checks, context)
    print(
        _(
            "Threat model audit (%(server)s, %(data)s, this device's PETITION_HOME); rows as in "
            "docs/threat-model.md",
            server=_("server %(url)s", url=server) if server else _("no server"),
            data=_("data directory %(path)s", path=data) if data else _("no data directory"),
        )
    )
    for line in format_audit(audit, every_check=args.all_checks):
        print(line)
    return 1 if audit.failed else 0
