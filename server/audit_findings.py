"""The store audit's results, and how a finding may name what it found.

What the checks of ``petition audit store`` (:mod:`server.store_audit`) produce: the check ids,
one :class:`Finding` per problem, one :class:`CheckResult` per check and the :class:`StoreAudit`
that the command prints. It also decides how a finding names a table, a column, a file, a row or
a witness (the ``show_*`` helpers and :func:`row_label`): by its name or key when that name trips
none of the personal-data detectors, and by a neutral placeholder otherwise, so that the report,
which is meant to be pasted into tickets, never repeats a leaked value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from server.personal_data import (
    contains_address,
    contains_id_number,
    contains_name,
    contains_time,
)

ENCRYPTED_AT_REST = "encrypted-at-rest"
SCHEMA = "schema"
ENVELOPES = "envelopes"
NO_LINKING_VALUES = "no-linking-values"
NO_ID_NUMBERS = "no-id-numbers"
NO_NAMES = "no-names"
NO_ADDRESSES = "no-addresses"
NO_TIMES = "no-times"
LOG_MATCHES_STORE = "log-matches-store"
LOG_INTACT = "log-intact"
CHECK_IDS = (
    ENCRYPTED_AT_REST,
    SCHEMA,
    ENVELOPES,
    NO_LINKING_VALUES,
    NO_ID_NUMBERS,
    NO_NAMES,
    NO_ADDRESSES,
    NO_TIMES,
    LOG_MATCHES_STORE,
    LOG_INTACT,
)
"""The stable check ids, in the order they are reported."""


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One problem: the check it fails and a message that names where, never what."""

    check: str
    message: str


@dataclass(frozen=True)
class CheckResult:
    """One check: what was looked at (with counts), and what it found.

    A ``skipped`` check was not made, because it does not apply to the store (``summary`` says
    why): it neither passed nor failed.
    """

    check: str
    summary: str
    findings: tuple[Finding, ...]
    skipped: bool = False

    @property
    def passed(self) -> bool:
        return not self.skipped and not self.findings

    @property
    def failed(self) -> bool:
        return bool(self.findings)


@dataclass(frozen=True)
class StoreAudit:
    """What :func:`~server.store_audit.audit_store` returns: a :class:`CheckResult` per check id."""

    data_dir: Path
    checks: tuple[CheckResult, ...]
    #: None: the SQLCipher file in the data directory; "PostgreSQL": a PostgreSQL database.
    database: str | None = None

    @property
    def findings(self) -> list[Finding]:
        return [finding for check in self.checks for finding in check.findings]

    @property
    def passed(self) -> bool:
        """No check found anything (a skipped check found nothing: it was not made)."""
        return not self.findings

    @property
    def skipped(self) -> list[CheckResult]:
        return [check for check in self.checks if check.skipped]


class Findings:
    """Findings per check, in the order found.

    A finding about a place (``key``: one cell, one file) is kept once per check, so that a
    value that trips a detector several ways makes one line, not three; otherwise a repeated
    message is kept once.
    """

    def __init__(self) -> None:
        self._by_check: dict[str, dict[str, str]] = {check: {} for check in CHECK_IDS}

    def add(self, check: str, message: str, *, key: str | None = None) -> None:
        self._by_check[check].setdefault(message if key is None else key, message)

    def of(self, check: str) -> tuple[Finding, ...]:
        return tuple(Finding(check, message) for message in self._by_check[check].values())


# --- how a finding names a place -------------------------------------------------------------


def _presentable(text: str) -> bool:
    """Whether a name or key may appear in a finding: it trips none of the detectors."""
    return not (
        contains_id_number(text)
        or contains_name(text)
        or contains_address(text)
        or contains_time(text)
    )


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
# Up to 12 parts: public/log/tile/entries/x001/x234/567/890.p/3 has 9.
_FILE_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}(?:/[A-Za-z0-9._-]{1,64}){0,11}")
_PETITION_ID = re.compile(r"[0-9a-f]{32}")


def show_identifier(name: str, what: str) -> str:
    if _IDENTIFIER.fullmatch(name) and _presentable(name):
        return name
    return f"<{what} whose name is withheld>"


def show_file(relative: str) -> str:
    if _FILE_NAME.fullmatch(relative) and _presentable(relative):
        return relative
    return "<a file whose name is withheld>"


def show_petition(petition_id: object) -> str | None:
    text = petition_id if isinstance(petition_id, str) else ""
    if _PETITION_ID.fullmatch(text) and _presentable(text):
        return text
    return None


def show_count(value: object) -> int | None:
    """A small integer (a cursor, an index) that may be shown; never one in timestamp range."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**8:
        return value
    return None


_WITNESS_NAME = re.compile(r"[A-Za-z0-9._/:@-]{1,64}")


def show_witness(name: str) -> str:
    """A witness by its name in the directory's policy (public, but still checked)."""
    if _WITNESS_NAME.fullmatch(name) and _presentable(name):
        return name
    return "<a witness whose name is withheld>"


def row_label(table: str, row: dict[str, object], ordinal: int, *, exclude: str) -> str:
    """How a finding names a row: by its key, unless the key is the offending column.

    A key column that is itself the problem (a timestamp planted in ``cursor``, say) would repeat
    the secret, so the row is then named by its position in the scan instead.
    """

    def count(name: str) -> int | None:
        return None if name == exclude else show_count(row.get(name))

    def petition(name: str) -> str | None:
        return None if name == exclude else show_petition(row.get(name))

    if table == "petitions":
        pid, cursor = petition("petition_id"), count("cursor")
        if pid is not None:
            return f"petition {pid}"
        if cursor is not None:
            return f"petition row {cursor}"
    elif table == "replies":
        pid, sequence = petition("petition_id"), count("sequence")
        if pid is not None and sequence is not None:
            return f"reply {sequence} to petition {pid}"
    elif table == "events":
        index = count("leaf_index")
        if index is not None:
            return f"event leaf {index}"
    elif table == "deliveries":
        pid, index = petition("petition_id"), count("leaf_index")
        if pid is not None and index is not None:
            return f"the copy of petition {pid} moved by leaf {index}"
    elif table == "log_leaves":
        index = count("leaf_index")
        if index is not None:
            return f"leaf {index}"
    elif table == "log_nodes":
        level, position = count("level"), count("position")
        if level is not None and position is not None:
            return f"node {level}/{position}"
    elif table == "log_files":  # PostgreSQL: the published tiles and entry bundles
        path = None if exclude == "path" else row.get("path")
        if isinstance(path, str) and _FILE_NAME.fullmatch(path) and _presentable(path):
            return f"the row {path}"
    elif table == "request_nonces":  # PostgreSQL: bureau-request nonces
        seq = count("seq")
        if seq is not None:
            return f"nonce {seq}"
    return f"row {ordinal}"
