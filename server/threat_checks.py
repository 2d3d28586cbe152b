"""The threat-model checks ``server`` contributes: what a copy of a data directory shows.

``petition audit threat-model --data DIR`` (petition/threat_audit.py) runs these, built with the
protocol of :mod:`cli_support.threat_checks`. Most of them are the checks of ``petition audit
store`` (:mod:`server.store_audit`), each mapped to the rows of docs/threat-model.md it is evidence
for; the store audit reads the whole database, so it runs once per command and every check reads its
result. Two checks are added here because the store audit does not make them:

* ``data:no-bureau-key`` (T-ID-1, T-ID-3): no bureau key sits anywhere in the data directory:
  no token key directory or file left from protocol v1, no key file but the log's, no keystore
  but the directory authority's. Since protocol v2 the server computes nothing from an ID
  number; whoever copies the directory and its database key must still hold nothing that could.
* ``data:log-leaves-documented`` (T-LINK-2): every stored log leaf has exactly the documented
  members (petition id, bureau id, envelope or reply hash, event and its detail, day, the
  bureau's signature). The public log is copied by everyone; any further member could carry a
  value that links petitions.

Everything is read-only, as in the store audit. Heavy imports (SQLCipher) happen inside the
checks, so that loading the provider costs nothing for the other ``petition`` commands.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from cli_support.threat_checks import CheckContext, CheckOutcome, CheckProvider, Run, ThreatCheck
from crypto import keystore
from crypto.case_event import LogEntry
from crypto.errors import SealedPetitionError
from crypto.keyfile import FORMAT_NAME, MAX_KEY_FILE_BYTES, KeyPurpose
from crypto.statutory import Event
from server.commands import _db_key_file_argument

if TYPE_CHECKING:
    from server.store_audit import StoreAudit

_STORE_AUDIT = "server.store-audit"

# The store audit's check ids (server.store_audit.CHECK_IDS), repeated here so that this module
# can be loaded without importing SQLCipher; a test keeps the two in step.
STORE_CHECKS: dict[str, tuple[tuple[str, ...], str]] = {
    "encrypted-at-rest": (
        ("T-DD-6",),
        "the database is SQLCipher ciphertext that opens only with its key",
    ),
    "schema": (
        ("T-NC-1",),
        "exactly the tables and columns server/database.py defines: nothing else is kept",
    ),
    "envelopes": (
        ("T-DET-1", "T-DD-1"),
        "every stored envelope is ciphertext with a clear header and a padding-bucket length",
    ),
    "no-linking-values": (
        ("T-LINK-3", "T-ID-1"),
        "no stored value but bureau, day, latest event and handler is shared by two petitions",
    ),
    "no-id-numbers": (("T-ID-1",), "no table or file holds a resident ID number"),
    "no-names": (("T-DD-1",), "no table or file holds a personal name"),
    "no-addresses": (("T-DET-2",), "no table or file holds an IP address"),
    "no-times": (("T-DET-2",), "no table or file holds a time of day or a timestamp"),
    "log-matches-store": (
        ("T-TAMP-1", "T-TAMP-2", "T-REP-2"),
        "every log leaf is one stored petition or reply, hashed from the stored bytes, and the "
        "other way round",
    ),
    "log-intact": (
        ("T-TAMP-2",),
        "the stored leaves hash to the root of the checkpoint in log.head and of the published "
        "checkpoint, which verify with log.pub, and the published tiles are the store's",
    ),
}


def provider() -> CheckProvider:
    """The entry point of ``sealed_petition.threat_checks`` (setup.cfg)."""
    checks = [
        ThreatCheck(f"data:{check_id}", threats, description, "data", _store_check(check_id))
        for check_id, (threats, description) in STORE_CHECKS.items()
    ]
    checks.append(
        ThreatCheck(
            "data:no-bureau-key",
            ("T-ID-1", "T-ID-3"),
            "no bureau key (token, identity, case or signing) is inside the data directory",
            "data",
            no_bureau_key,
        )
    )
    checks.append(
        ThreatCheck(
            "data:log-leaves-documented",
            ("T-LINK-2",),
            "stored log leaves have only the documented members",
            "data",
            log_leaves_documented,
        )
    )
    return CheckProvider(tuple(checks), add_arguments=_db_key_file_argument)


def _data_path(context: CheckContext) -> Path:
    if context.data is None:  # run_checks only calls a "data" check with a data directory
        raise ValueError("a data check needs context.data")
    return context.data


def store_audit(context: CheckContext) -> StoreAudit:
    """The store audit of ``context.data``, run once per context.

    Its errors (no such directory, a wrong key, a damaged database) are errors of the input
    and stop the whole run with one line.
    """
    from server.store_audit import audit_store

    return context.memo(
        _STORE_AUDIT, lambda: audit_store(_data_path(context), key_file=context.db_key_file)
    )


def _store_check(check_id: str) -> Run:
    def run(context: CheckContext) -> CheckOutcome:
        audit = store_audit(context)
        for result in audit.checks:
            if result.check == check_id:
                messages = [finding.message for finding in result.findings]
                return CheckOutcome.from_findings(messages, result.summary)
        return CheckOutcome.failing(f"the store audit made no {check_id!r} check")

    return run


# --- no bureau key in the data directory -------------------------------------------------------

_SHOWN_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}(?:/[A-Za-z0-9._-]{1,64}){0,7}")
#: Key files and keystores the data directory may hold: the log key, and the directory
#: authority's keystore where `petition admin init` puts it by default.
_ALLOWED_KEYS = frozenset({"log.key", "authority.keystore"})
#: The largest keystore looked into; a bureau keystore is a few kilobytes.
_MAX_KEYSTORE_BYTES = 1024 * 1024


def _shown(relative: str) -> str:
    return relative if _SHOWN_NAME.fullmatch(relative) else "<a file whose name is withheld>"


def _entries(root: Path) -> Iterator[tuple[Path, str]]:
    """Every file and directory under ``root`` (symlinks included, not followed into)."""
    for directory, subdirectories, files in os.walk(root):
        here = Path(directory)
        subdirectories.sort()
        for name in [*subdirectories, *sorted(files)]:
            path = here / name
            yield path, path.relative_to(root).as_posix()


def _key_format(path: Path) -> str | None:
    """What key container ``path`` (followed if a link) is: a key file's purpose, "keystore",
    or None. Looser than the readers on purpose: a key file with a wrong mode, or not quite
    canonical, holds its key all the same."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode) or info.st_size > _MAX_KEYSTORE_BYTES:
            return None
        body = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(body, dict):
        return None
    if body.get("format") == FORMAT_NAME and info.st_size <= MAX_KEY_FILE_BYTES:
        return str(body.get("purpose"))
    if body.get("format") == keystore.FORMAT_NAME:
        return "keystore"
    return None


def no_bureau_key(context: CheckContext) -> CheckOutcome:
    from server.store_reading import open_data_directory

    data = open_data_directory(_data_path(context))
    findings = []
    looked_at = 0
    for path, relative in _entries(data.path):
        looked_at += 1
        if path.is_dir() and not path.is_symlink():
            if path.name.endswith(".token-keys"):
                findings.append(f"{_shown(relative)} is a token key directory (protocol v1)")
            continue
        kind = _key_format(path)
        if kind is None:
            continue
        if relative == "log.key" and kind == KeyPurpose.LOG_SIGNING.value:
            continue
        if relative == "authority.keystore" and kind == "keystore":
            continue
        what = "a keystore" if kind == "keystore" else f"a key file ({_purpose(kind)})"
        findings.append(f"the file {_shown(relative)} is {what}: the server holds no bureau key")
    return CheckOutcome.from_findings(
        findings,
        f"none of the {looked_at} files and folders in the data directory holds a bureau key "
        f"(only {' and '.join(sorted(_ALLOWED_KEYS))} hold keys)",
    )


def _purpose(kind: str) -> str:
    return kind if re.fullmatch(r"[a-z-]{1,32}", kind) else "<withheld>"


# --- the stored log leaves hold only the documented members ------------------------------------


def _stored_leaves(context: CheckContext) -> list[tuple[int, bytes]]:
    """Every stored leaf, read in one snapshot.

    A database in the clear is opened without a key: the store audit has already reported it
    (``encrypted-at-rest``), and what it holds is still what this check must look at.
    """
    import sqlite3

    import sqlcipher3

    from server.errors import StorageError
    from server.store_reading import (
        database_file,
        database_key,
        open_data_directory,
        open_plain,
        open_store,
    )

    data = open_data_directory(_data_path(context))
    try:
        conn = open_store(data, database_key(data, context.db_key_file))
    except StorageError:
        plain = open_plain(database_file(data))
        if plain is None:
            raise
        conn = plain
    try:
        conn.execute("BEGIN")
        try:
            leaves = conn.execute("SELECT leaf_index, leaf FROM log_leaves ORDER BY leaf_index")
            stored = [(int(index), _blob(leaf)) for index, leaf in leaves.fetchall()]
        finally:
            conn.execute("ROLLBACK")
    except (sqlite3.Error, sqlcipher3.Error) as exc:
        raise StorageError(f"cannot read the log leaves of {data.database_path} ({exc})") from exc
    finally:
        conn.close()
    return stored


def _blob(value: object) -> bytes:
    if isinstance(value, bytes | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    return b""


def log_leaves_documented(context: CheckContext) -> CheckOutcome:
    try:
        leaves = _stored_leaves(context)
    except SealedPetitionError as exc:
        # The store audit opened this database a moment ago; if this one cannot, it is damaged.
        return CheckOutcome.failing(f"the stored log cannot be read: {exc.message}")
    findings = []
    # Every entry has the same members whatever its event (the detail's vary inside "detail").
    members = set(LogEntry("0" * 32, "x", bytes(32), Event.RECEIVED, date(2000, 1, 1)).to_json())
    for index, leaf in leaves:
        try:
            body = json.loads(leaf)
        except (ValueError, RecursionError):
            body = None
        if not isinstance(body, dict):
            findings.append(f"leaf {index} is not a JSON object")
        elif set(body) - members:
            extra = ", ".join(_member(name) for name in sorted(set(body) - members))
            findings.append(f"leaf {index} has members beyond the documented log entry: {extra}")
        elif set(body) != members:
            findings.append(f"leaf {index} lacks members of the documented log entry")
    return CheckOutcome.from_findings(
        findings, f"{len(leaves):,} stored leaves have only the documented members"
    )


def _member(name: object) -> str:
    text = str(name)
    return text if re.fullmatch(r"[A-Za-z_]{1,32}", text) else "<withheld>"
