"""The threat-model checks ``server`` contributes: what a copy of a data directory shows.

``petition audit threat-model --data DIR`` (:mod:`petition.threat_audit`) runs these. Most of
them are the checks of ``petition audit store`` (:mod:`server.store_audit`), each mapped to the
rows of docs/threat-model.md it is evidence for; the store audit reads the whole database, so it
runs once per command and every check reads its result. Two checks are added here because the
store audit does not make them:

* ``data:no-token-key-file`` (T-ID-1): no token (VOPRF) key file sits anywhere in the data
  directory. Whoever copies the directory and its database key must still not be able to
  compute a token for a guessed ID number: that is the whole of T-ID-1's mitigation.
* ``data:log-leaves-without-token`` (T-LINK-2): every stored log leaf has exactly the documented
  members, and no petition's token appears in any leaf, raw, in hex or in base64url. The public
  log is copied by everyone; a token in it would link one person's petitions to a bureau.

Everything is read-only, as in the store audit. Heavy imports (SQLCipher) happen inside the
checks, so that loading the provider costs nothing for the other ``petition`` commands.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from crypto import cjson
from crypto.errors import SealedPetitionError
from crypto.keyfile import FORMAT_NAME, MAX_KEY_FILE_BYTES, KeyPurpose
from crypto.objects import LogEntry
from crypto.token import TOKEN_LENGTH
from petition.threat_audit import CheckContext, CheckOutcome, CheckProvider, Run, ThreatCheck
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
    "no-id-numbers": (("T-ID-1",), "no table or file holds a resident ID number"),
    "no-names": (("T-DD-1",), "no table or file holds a personal name"),
    "no-addresses": (("T-DET-2",), "no table or file holds an IP address"),
    "no-times": (("T-DET-2",), "no table or file holds a time of day or a timestamp"),
    "log-matches-store": (
        ("T-TAMP-1", "T-TAMP-2", "T-REP-2"),
        "every log leaf is one stored petition or reply, hashed from the stored bytes, and the "
        "other way round; every stored receipt verifies",
    ),
    "log-intact": (
        ("T-TAMP-2",),
        "the stored leaves hash to the roots of the signed tree heads, which verify with log.pub",
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
            "data:no-token-key-file",
            ("T-ID-1",),
            "no token (VOPRF) key file is inside the data directory",
            "data",
            no_token_key_file,
        )
    )
    checks.append(
        ThreatCheck(
            "data:log-leaves-without-token",
            ("T-LINK-2",),
            "stored log leaves have only the documented members and carry no token",
            "data",
            log_leaves_without_token,
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


# --- no token key in the data directory ---------------------------------------------------------

_SHOWN_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}(?:/[A-Za-z0-9._-]{1,64}){0,7}")


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


def _is_token_key_file(path: Path) -> bool:
    """Whether ``path`` (followed if a link) is a small regular file holding a token key.

    Looser than :func:`crypto.keyfile.read_token_key_file` on purpose: a key file with a wrong
    mode, or not quite canonical, holds the seed all the same.
    """
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_KEY_FILE_BYTES:
            return False
        body = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return False
    return (
        isinstance(body, dict)
        and body.get("format") == FORMAT_NAME
        and body.get("purpose") == KeyPurpose.TOKEN.value
    )


def no_token_key_file(context: CheckContext) -> CheckOutcome:
    from server.store_audit import open_data_directory

    data = open_data_directory(_data_path(context))
    findings = []
    looked_at = 0
    for path, relative in _entries(data.path):
        looked_at += 1
        if path.is_dir() and not path.is_symlink() and path.name.endswith(".token-keys"):
            findings.append(
                f"{_shown(relative)} is a token key directory inside the data directory"
            )
        elif _is_token_key_file(path):
            findings.append(f"the file {_shown(relative)} is a token (VOPRF) key file")
    return CheckOutcome.from_findings(
        findings,
        f"none of the {looked_at} files and folders in the data directory is a token key file",
    )


# --- no token in the stored log leaves ---------------------------------------------------------


@dataclass(frozen=True)
class _StoredLog:
    leaves: list[tuple[int, bytes]]
    tokens: list[bytes]


def _stored_log(context: CheckContext) -> _StoredLog:
    """Every stored leaf and every stored token, read in one snapshot.

    A database in the clear is opened without a key: the store audit has already reported it
    (``encrypted-at-rest``), and what it holds is still what this check must look at.
    """
    import sqlite3

    import sqlcipher3

    from server.errors import StorageError
    from server.store_audit import (
        _database_path,
        _open_plain,
        database_key,
        open_data_directory,
        open_store,
    )

    data = open_data_directory(_data_path(context))
    try:
        conn = open_store(data, database_key(data, context.db_key_file))
    except StorageError:
        plain = _open_plain(_database_path(data))
        if plain is None:
            raise
        conn = plain
    try:
        conn.execute("BEGIN")
        try:
            leaves = conn.execute("SELECT leaf_index, leaf FROM log_leaves ORDER BY leaf_index")
            stored = [(int(index), _blob(leaf)) for index, leaf in leaves.fetchall()]
            tokens = [_blob(row[0]) for row in conn.execute("SELECT token FROM petitions")]
        finally:
            conn.execute("ROLLBACK")
    except (sqlite3.Error, sqlcipher3.Error) as exc:
        raise StorageError(f"cannot read the log leaves of {data.database_path} ({exc})") from exc
    finally:
        conn.close()
    return _StoredLog(stored, [token for token in tokens if token])


def _blob(value: object) -> bytes:
    if isinstance(value, bytes | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    return b""


# A token written as text is a run of base64url or hex characters at least this long (its
# base64url form, the shorter of the two).
_B64_LENGTH = len(cjson.b64encode(bytes(TOKEN_LENGTH)))
_TEXT_RUN = re.compile(rb"[A-Za-z0-9_-]{%d,}" % _B64_LENGTH)


def _token_forms(tokens: list[bytes]) -> tuple[set[bytes], set[bytes], set[bytes]]:
    """Each token raw, in hex and in base64url: the ways it could be written into a leaf."""
    raw = set(tokens)
    return (
        raw,
        {token.hex().encode() for token in raw},
        {cjson.b64encode(token).encode() for token in raw},
    )


def _carries_token(leaf: bytes, forms: tuple[set[bytes], set[bytes], set[bytes]]) -> bool:
    """Whether a token appears in ``leaf``, in linear time for honest leaves.

    An honest leaf has no text run that long (its longest value is a 43-character hash), so the
    windows below are only ever slid over what does not belong there.
    """
    raw, hexes, b64s = forms
    for match in _TEXT_RUN.finditer(leaf):
        run = match.group(0)
        for form, width in ((hexes, 2 * TOKEN_LENGTH), (b64s, _B64_LENGTH)):
            if form and any(run[i : i + width] in form for i in range(len(run) - width + 1)):
                return True
    width = TOKEN_LENGTH
    return bool(raw) and any(leaf[i : i + width] in raw for i in range(len(leaf) - width + 1))


def log_leaves_without_token(context: CheckContext) -> CheckOutcome:
    try:
        log = _stored_log(context)
    except SealedPetitionError as exc:
        # The store audit opened this database a moment ago; if this one cannot, it is damaged.
        return CheckOutcome.failing(f"the stored log cannot be read: {exc.message}")
    findings = []
    forms = _token_forms(log.tokens)
    members = set(LogEntry._MEMBERS)
    for index, leaf in log.leaves:
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
        if _carries_token(leaf, forms):
            findings.append(f"leaf {index} carries a petition's token")
    return CheckOutcome.from_findings(
        findings,
        f"{len(log.leaves):,} stored leaves have only the documented members and none of the "
        f"{len(log.tokens):,} stored tokens",
    )


def _member(name: object) -> str:
    text = str(name)
    return text if re.fullmatch(r"[A-Za-z_]{1,32}", text) else "<withheld>"
