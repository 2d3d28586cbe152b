"""Auditing a server's data directory: ``petition audit store``.

The design promises that the server holds ciphertext, hashes, bureau ids, days, case events and
the public log, and nothing per-person (README, docs/threat-model.md). The tests show it for the
code as written; this module lets an operator or an auditor check it for one real data
directory, as it is today, including whatever a careless patch, a debugging session or an
intruder left in it:

* ``encrypted-at-rest``: the database is SQLCipher ciphertext that opens only with its key;
* ``schema``: exactly the tables and columns of :mod:`server.database` (any other could hold
  anything);
* ``envelopes``: every stored envelope has a well-formed clear header, so it is ciphertext as
  submitted and not, say, a decrypted document;
* ``no-linking-values``: no column of two petitions (or of replies, events or re-sealed copies
  of two petitions) holds the same value, except the columns every petition to a bureau on a
  day shares anyway (:data:`SHARED_COLUMNS`: bureau id, day, latest event, handler, …), and no
  two envelopes share a sealed section. A value two petitions share beyond those would link
  them: a per-person value;
* ``no-id-numbers``, ``no-names``, ``no-addresses``, ``no-times``: no value in any table and no
  file in the directory looks like a resident ID number, a personal name, an IP address or a
  time of day / Unix timestamp, and every file of ``public/log`` is dated midnight UTC (a web
  server sends its modification time as ``Last-Modified``: a time of day would date a batch);
* ``log-matches-store``: every log leaf is one stored case event of one petition and the other
  way round (its ``received`` leaf is the petition row's, a reply's leaf commits to the reply's
  hash, a transfer's or assignment's leaf names the bureau its re-sealed copy is for), each
  petition's latest event and handler are what its events say, with hashes recomputed from the
  stored bytes;
* ``log-intact``: the stored leaves hash to the stored nodes; ``log.head`` (the last checkpoint
  the log key signed) and the published ``public/log/checkpoint`` verify with ``log.pub`` and
  are the store's tree at their sizes; every tile and entry bundle in ``public/log`` holds the
  store's hashes and leaves, and those the published checkpoint needs are all there.

Everything here is read-only: the database is opened with ``mode=ro`` (and ``immutable=1`` when
no ``-wal`` file shows a running server, because a read-only WAL connection would otherwise
leave ``-wal`` and ``-shm`` files behind) inside one read transaction, so the audit sees one
consistent snapshot even while the writer commits. The files the writer writes after each commit
(``log.head``, the tiles, then ``public/log/checkpoint``) are read just before that snapshot, the
published checkpoint first: none of them can then describe more of the log than the snapshot
holds, and the checkpoint is never newer than the ``log.head`` and tiles read after it.

A PostgreSQL store (``--database``, :mod:`server.postgres`) gets the same checks, read in one
``REPEATABLE READ READ ONLY`` transaction that also holds its log: ``log_head.signed`` and
``log_head.published`` stand for ``log.head`` and ``public/log/checkpoint``, the rows of
``log_files`` for the files of ``public/log`` (a row keeps no time, so there is no date to
check). ``encrypted-at-rest`` is skipped there, not passed: PostgreSQL's files are the disk's
business (docs/operations.md), which no client can see. ``schema`` reads PostgreSQL's catalog
and looks into every schema of the database. The data directory still provides ``log.pub``,
``directory.json`` and its files, which are scanned as on SQLCipher.

The other jobs live beside it: opening the directory and the database read-only is
:mod:`server.store_reading`, recognising personal data is :mod:`server.personal_data`, and the
one-petition view of ``petition admin inspect`` is :mod:`server.store_inspect`.

Nothing is printed here: the command in :mod:`server.commands` prints the :class:`StoreAudit`.
A finding names the table, column and row (petition id, leaf index) but never repeats the
offending value: the report is meant to be pasted into tickets, and a leaked ID number must not
leak a second time through it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import sqlite3
import stat
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

from crypto import merkle, note, tiles
from crypto.case_event import LogEntry
from crypto.checkpoint import Checkpoint, open_checkpoint
from crypto.envelope import CASE_OFFSET, HEADER_LENGTH, parse_header
from crypto.errors import InvalidSignature, MalformedInput, SealedPetitionError
from crypto.fields import (
    envelope_hash,
    petition_id_for,
    signed_reply_hash,
)
from crypto.labels import SignedKind
from crypto.objects import Directory, Reply
from crypto.privatefile import read_private_file
from crypto.signing import SignedObject
from crypto.statutory import Event
from crypto.tlog_policy import Policy
from server import database, store_guard
from server.database import Connection
from server.datadir import DataDirectory
from server.errors import DataDirectoryError, StorageError
from server.personal_data import (
    contains_address,
    contains_id_number,
    contains_name,
    contains_time,
    is_timestamp,
)
from server.store_reading import (
    DB_ERRORS,
    database_file,
    database_key,
    open_data_directory,
    open_plain,
    open_with_key,
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

#: Per table, the only columns whose value two rows of different petitions may share: what every
#: petition to one bureau on one day has in common anyway (and, for replies, events and copies,
#: the petition a row belongs to, a reply's sequence number, the bureau a copy is for). Every
#: other column of these tables must differ from petition to petition; the log tables are
#: derived from these and checked by ``log-matches-store`` and ``log-intact``.
SHARED_COLUMNS: dict[str, frozenset[str]] = {
    "petitions": frozenset({"bureau_id", "day", "event", "handler"}),
    "replies": frozenset({"petition_id", "sequence", "event", "day"}),
    "events": frozenset({"petition_id"}),
    "deliveries": frozenset({"petition_id", "bureau_id"}),
}
#: Tables whose ``envelope`` column holds an envelope addressed to the row's ``bureau_id``.
_ENVELOPE_TABLES = ("petitions", "deliveries")
#: The events whose leaf moves a petition to another bureau with a copy sealed for it: a
#: transfer or assignment (to ``detail.to``) and a request for review (to the leaf's bureau).
_COPY_EVENTS = frozenset(
    {Event.TRANSFERRED, Event.ASSIGNED, Event.REVIEW_REQUESTED, Event.RE_REVIEW_REQUESTED}
)


def _moved_to(entry: LogEntry) -> str | None:
    if entry.event in (Event.REVIEW_REQUESTED, Event.RE_REVIEW_REQUESTED):
        return entry.bureau_id
    return entry.detail.to


SQLITE_HEADER = b"SQLite format 3\x00"
_DATABASE_FILES = frozenset({"petitions.db", "petitions.db-wal", "petitions.db-shm"})
_DATABASE_FILES |= {"petitions.db-journal"}

#: The published checkpoint, below ``public/log``: a note of a few hundred bytes per signature.
CHECKPOINT_FILE = "checkpoint"
MAX_CHECKPOINT_FILE = 64 * 1024
#: How server/tile_store.py names a file while writing it, before renaming it into place.
TEMPORARY_PREFIX = ".tmp-"
_DAY_NS = 86_400 * 1_000_000_000


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
    """The result of :func:`audit_store`: one :class:`CheckResult` per id in :data:`CHECK_IDS`."""

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


class _Findings:
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


def _show_identifier(name: str, what: str) -> str:
    if _IDENTIFIER.fullmatch(name) and _presentable(name):
        return name
    return f"<{what} whose name is withheld>"


def _show_file(relative: str) -> str:
    if _FILE_NAME.fullmatch(relative) and _presentable(relative):
        return relative
    return "<a file whose name is withheld>"


def _show_petition(petition_id: object) -> str | None:
    text = petition_id if isinstance(petition_id, str) else ""
    if _PETITION_ID.fullmatch(text) and _presentable(text):
        return text
    return None


def _show_count(value: object) -> int | None:
    """A small integer (a cursor, an index) that may be shown; never one in timestamp range."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**8:
        return value
    return None


_WITNESS_NAME = re.compile(r"[A-Za-z0-9._/:@-]{1,64}")


def _show_witness(name: str) -> str:
    """A witness by its name in the directory's policy (public, but still checked)."""
    if _WITNESS_NAME.fullmatch(name) and _presentable(name):
        return name
    return "<a witness whose name is withheld>"


# --- the audit -------------------------------------------------------------------------------


def audit_store(
    path: Path, *, key_file: Path | None = None, database_url: str | None = None
) -> StoreAudit:
    """Run every check on the data directory at ``path``; read-only.

    With ``database_url`` the store is that PostgreSQL database (``key_file`` is then unused:
    PostgreSQL has no database key) and the data directory provides ``log.pub``,
    ``directory.json`` and its own files to scan (:func:`_audit_postgres`).

    Raises a :class:`~crypto.errors.SealedPetitionError` (not a finding) when there is nothing
    to audit: no such directory, no key, a key that does not open the database, a database file
    that is not a database, a PostgreSQL database that cannot be reached.
    """
    data = open_data_directory(path)
    if database_url is not None:
        return _audit_postgres(data, database_url)
    key = database_key(data, key_file)
    db_path = database_file(data)
    findings = _Findings()
    conn, at_rest = _open_for_audit(db_path, key, findings)
    # Before the snapshot: the writer writes these only after the commit they describe, so each
    # describes at most what the snapshot taken next holds, even while petitions arrive. The
    # published checkpoint first: the writer signs log.head and writes the tiles of a size before
    # it publishes that size, so the ones read after it are at least as new.
    published_checkpoint = _read_published_checkpoint(data)
    kept_head = _read_kept_head(data)
    published = _read_published_log(data, published_checkpoint)
    try:
        conn.execute("BEGIN")  # one snapshot for every query below
        try:
            summaries = _Auditor(conn, data, findings, kept_head, published).run()
        finally:
            conn.execute("ROLLBACK")
    except DB_ERRORS as exc:
        # A damaged page met halfway through: there is no report to give, only this.
        raise StorageError(f"cannot read {db_path}: the database is damaged ({exc})") from exc
    finally:
        conn.close()
    summaries[ENCRYPTED_AT_REST] = at_rest
    checks = tuple(CheckResult(check, summaries[check], findings.of(check)) for check in CHECK_IDS)
    return StoreAudit(data.path, checks)


def _open_for_audit(path: Path, key: bytes, findings: _Findings) -> tuple[Connection, str]:
    """Check encryption at rest and return a connection for the other checks.

    A database in the clear is a finding, not an error: the audit goes on with the stdlib
    reader, because what such a file holds is exactly what the auditor then needs to know.
    """
    with path.open("rb") as file:
        header = file.read(len(SQLITE_HEADER))
    plain = open_plain(path)
    if plain is None:
        if header == SQLITE_HEADER:
            raise StorageError(f"{path} has an SQLite header but cannot be read; it is damaged")
        conn = open_with_key(path, key)
        if conn is None:
            raise StorageError(
                f"cannot open {path}: the database key is wrong or the file is not a database"
            )
        size = path.stat().st_size
        return conn, (
            f"{path.name} ({size:,} bytes) has no plain SQLite header, Python's sqlite3 cannot "
            "read it, and it opens with the database key"
        )
    if header == SQLITE_HEADER:
        findings.add(ENCRYPTED_AT_REST, f"{path.name} starts with the plain SQLite header")
    findings.add(
        ENCRYPTED_AT_REST, f"{path.name} can be read without any key (Python's sqlite3 reads it)"
    )
    keyed = open_with_key(path, key)
    if keyed is None:
        findings.add(ENCRYPTED_AT_REST, f"{path.name} does not open with the database key")
    else:
        keyed.close()
    return plain, ""


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _expected_schema() -> sqlite3.Connection:
    """The schema of :mod:`server.database`, built in memory: the one source of truth."""
    reference = sqlite3.connect(":memory:")
    for statement in database._SCHEMA.split(";"):
        if statement.strip():
            reference.execute(statement)
    return reference


def _objects(conn: Connection) -> set[tuple[str, str, str]]:
    rows = conn.execute("SELECT type, name, tbl_name FROM sqlite_master").fetchall()
    return {(str(kind), str(name), str(table)) for kind, name, table in rows}


def _columns(conn: Connection, table: str) -> list[tuple[str, str, int, int]]:
    rows = conn.execute(f"PRAGMA table_info({_quote(table)})").fetchall()
    return [(str(row[1]), str(row[2]).upper(), int(row[3]), int(row[5])) for row in rows]


def _plain(value: object) -> object:
    """A stored value as one of the types SQLite stores (None, int, float, text, bytes).

    PostgreSQL hands over its own types too (a column a careless patch added may be a
    ``timestamptz``, ``inet``, ``jsonb``, ``numeric``, an array): each becomes the text or number
    the detectors read, so that no type escapes them.
    """
    if value is None or isinstance(value, bool | int | float | str | bytes):
        return value
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _as_bytes(value: object) -> bytes | None:
    if isinstance(value, bytes | memoryview):
        return bytes(value)
    return None


def _int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _loose_json(text: str) -> Any:
    """Parse ``text`` as JSON if it looks like an object or array; None otherwise."""
    if text.lstrip()[:1] not in ("{", "["):
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


JsonPath = tuple[str | int, ...]


def _walk(value: Any, path: JsonPath = ()) -> Iterator[tuple[JsonPath, Any]]:
    """Every key, string and number inside a JSON value, with where it sits."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*path, "<key>"), str(key)
            yield from _walk(item, (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, (*path, index))
    else:
        yield path, value


def _is_bureau_name(path: JsonPath) -> bool:
    """``body.bureaus[i].name`` or ``body.places[i].covers`` of the signed directory: the public
    names of bureaus and of the regions or bodies they cover, which the authority publishes."""
    if len(path) != 4 or path[0] != "body":
        return False
    return (path[1], path[3]) in (("bureaus", "name"), ("places", "covers"))


def _is_log_policy(path: JsonPath) -> bool:
    """``body.log_policy`` of the signed directory: a tlog-policy naming public services."""
    return path == ("body", "log_policy")


def _service_urls(policy: str) -> list[str]:
    """The URLs on the policy's ``log`` and ``witness`` lines."""
    urls = []
    for line in policy.split("\n"):
        words = line.split()
        if words and words[0] in ("log", "witness") and "://" in words[-1]:
            urls.append(words[-1])
    return urls


def _without_service_urls(policy: str) -> str:
    """The policy with the URLs of its ``log`` and ``witness`` lines left out.

    Those URLs are where the log and its witnesses are reached (an address may well be in
    them): public service endpoints the authority signs, not anyone's whereabouts. Everything
    else in the policy is still scanned.
    """
    kept = []
    for line in policy.split("\n"):
        words = line.split()
        if words and words[0] in ("log", "witness") and "://" in words[-1]:
            words = words[:-1]
        kept.append(" ".join(words))
    return "\n".join(kept)


@dataclass
class _PetitionFacts:
    label: str
    petition_id: str
    bureau_id: object
    day: object
    event: object
    handler: object
    leaf_index: int | None
    envelope_hash: bytes | None


@dataclass
class _ReplyFacts:
    label: str
    petition_id: str
    sequence: object
    event: object
    day: object
    leaf_index: int | None
    reply_hash: bytes | None
    bureau_id: object = None  # the signed reply's bureau, once read


@dataclass
class _Counts:
    values: int = 0
    numbers: int = 0
    days: int = 0
    tables: set[str] = field(default_factory=set)
    files: int = 0


def _read_kept_head(data: DataDirectory) -> bytes | SealedPetitionError | None:
    """The bytes of ``log.head`` (None: there is none; an error: it cannot be read)."""
    path = data.path / store_guard.HEAD_FILE
    if not path.exists() and not path.is_symlink():
        return None
    try:
        return read_private_file(
            path, limit=store_guard.MAX_HEAD_FILE, error=StorageError, what="log head"
        )
    except SealedPetitionError as exc:
        return exc


@dataclass(frozen=True)
class _PublishedFile:
    """One file below ``public/log`` as read before the snapshot: what it is, not its bytes.

    Tiles and bundles are kept as digests, so that a large log's published files need not all be
    held in memory until the store is read.
    """

    relative: str  # below public/log, with '/' separators
    problem: str | None = None  # "is a symbolic link", …; None: a regular file that was read
    vanished: bool = False  # listed, then gone before it was read (a superseded partial tile)
    length: int = 0
    digest: bytes = b""
    midnight: bool = True

    @property
    def temporary(self) -> bool:
        """A file the writer is writing (or was, when it crashed): ``.tmp-`` and the name of a
        tile, bundle or the checkpoint, in the directory it is renamed into. It is left alone
        (its content is not yet the resource), apart from the scans every file gets."""
        parent, _, name = self.relative.rpartition("/")
        if not name.startswith(TEMPORARY_PREFIX):
            return False
        final = name[len(TEMPORARY_PREFIX) :]
        target = f"{parent}/{final}" if parent else final
        if target == CHECKPOINT_FILE:
            return True
        try:
            tiles.parse_path(target)
        except MalformedInput:
            return False
        return True


@dataclass(frozen=True)
class _PublishedLog:
    """``public/log``: whether it exists, the checkpoint's bytes and every file found in it."""

    exists: bool
    checkpoint: bytes | SealedPetitionError | None
    files: tuple[_PublishedFile, ...] = ()
    problem: str | None = None  # of public/ or public/log itself: a symbolic link, not a folder


@dataclass(frozen=True)
class _LogPlaces:
    """Where the store keeps the signed head, the published checkpoint and the tiles, as the
    findings name them: files in the data directory, or (PostgreSQL) rows of the database."""

    head: str = store_guard.HEAD_FILE
    checkpoint: str = f"public/log/{CHECKPOINT_FILE}"
    files: str = "public/log"
    in_database: bool = False

    @property
    def absent(self) -> str:
        return "is empty" if self.in_database else "is missing"

    def file(self, relative: str) -> str:
        """A tile or bundle, by its path below ``public/log`` (or in ``log_files``)."""
        if self.in_database:
            return f"the {self.files} row {_show_file(relative)}"
        return _show_file(f"{self.files}/{relative}")


_FILE_PLACES = _LogPlaces()
_DATABASE_PLACES = _LogPlaces(
    head="log_head.signed", checkpoint="log_head.published", files="log_files", in_database=True
)


def _published_root_problem(data: DataDirectory) -> str | None:
    """What is wrong with ``public`` or ``public/log`` (None: both are real folders or absent).

    A symbolic link is never followed: a web server serving through it would publish whatever
    it points to, which is no file the writer wrote.
    """
    for path in (data.public_log_dir.parent, data.public_log_dir):
        shown = path.relative_to(data.path).as_posix()
        if path.is_symlink():
            return f"{shown} is a symbolic link"
        if path.exists() and not path.is_dir():
            return f"{shown} is not a folder"
    return None


def _read_published_checkpoint(data: DataDirectory) -> bytes | SealedPetitionError | None:
    """The bytes of ``public/log/checkpoint`` (None: there is none; an error: not readable).

    A symbolic link is not followed (the listing reports it): what a web server would serve
    through it is not a file the writer wrote.
    """
    path = data.public_log_dir / CHECKPOINT_FILE
    if _published_root_problem(data) is not None:
        return None
    try:
        info = path.lstat()
        if not stat.S_ISREG(info.st_mode):
            return None
        with path.open("rb") as stream:
            content = stream.read(MAX_CHECKPOINT_FILE + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return StorageError(f"cannot read {path}: {exc.strerror}")
    if len(content) > MAX_CHECKPOINT_FILE:
        return MalformedInput(f"{path} is larger than {MAX_CHECKPOINT_FILE} bytes")
    return content


def _read_published_log(
    data: DataDirectory, checkpoint: bytes | SealedPetitionError | None
) -> _PublishedLog:
    """List and digest every file below ``public/log``, following no symbolic link."""
    root = data.public_log_dir
    problem = _published_root_problem(data)
    if problem is not None:
        return _PublishedLog(exists=True, checkpoint=None, problem=problem)
    if not root.exists():
        return _PublishedLog(exists=False, checkpoint=checkpoint)
    files: list[_PublishedFile] = []
    for directory, subdirectories, names in os.walk(root):
        here = Path(directory)
        subdirectories.sort()
        for name in subdirectories:
            if (here / name).is_symlink():  # listed, never entered
                relative = (here / name).relative_to(root).as_posix()
                files.append(_PublishedFile(relative, problem="is a symbolic link"))
        for name in sorted(names):
            files.append(_read_published_file(here / name, (here / name).relative_to(root)))
    return _PublishedLog(exists=True, checkpoint=checkpoint, files=tuple(files))


def _read_published_file(path: Path, relative: Path) -> _PublishedFile:
    name = relative.as_posix()
    try:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            return _PublishedFile(name, problem="is a symbolic link")
        if not stat.S_ISREG(info.st_mode):
            return _PublishedFile(name, problem="is not a regular file")
        content = path.read_bytes()
    except FileNotFoundError:
        return _PublishedFile(name, vanished=True)
    except OSError:
        return _PublishedFile(name, problem="cannot be read")
    return _PublishedFile(
        name,
        length=len(content),
        digest=hashlib.sha256(content).digest(),
        midnight=info.st_mtime_ns % _DAY_NS == 0,
    )


class _Auditor:
    """Runs the checks that read the database and the files, inside the caller's snapshot."""

    def __init__(
        self,
        conn: Connection,
        data: DataDirectory,
        findings: _Findings,
        kept_head: bytes | SealedPetitionError | None = None,
        published: _PublishedLog | None = None,
        places: _LogPlaces = _FILE_PLACES,
    ) -> None:
        self._head_file = kept_head
        self._published = published or _PublishedLog(exists=False, checkpoint=None)
        self._places = places
        self._conn = conn
        self._data = data
        self._findings = findings
        self._counts = _Counts()
        self._log: note.Verifier | None = None
        self._policy: Policy | None = None
        # (table, column) -> digest of a value -> (petition id, label) of the first row holding it
        self._seen: dict[tuple[str, str], dict[bytes, tuple[object, str]]] = {}
        self._compared = 0

    def run(self) -> dict[str, str]:
        summaries = {SCHEMA: self._schema()}
        summaries[ENVELOPES] = self._scan_database()
        shared = "; ".join(
            f"{table}: {', '.join(sorted(columns))}" for table, columns in SHARED_COLUMNS.items()
        )
        summaries[NO_LINKING_VALUES] = (
            f"{self._compared:,} values of petitions and replies (envelope sections included) "
            f"are each held by one petition only; shared, as by every petition to a bureau on a "
            f"day: {shared}"
        )
        self._scan_files()
        counts = self._counts
        where = f"{counts.values:,} values in {len(counts.tables)} tables and {counts.files} files"
        summaries[NO_ID_NUMBERS] = (
            f"{where} hold no valid resident ID number (check character and birth date)"
        )
        summaries[NO_NAMES] = (
            f"{where} hold no run of Chinese characters (envelope ciphertext and binary values "
            "are not scanned for them; bureau names and coverage in directory.json are public)"
        )
        summaries[NO_ADDRESSES] = f"{where} hold no IPv4 or IPv6 address"
        summaries[NO_TIMES] = (
            f"{where} hold no time of day and no Unix timestamp ({counts.numbers:,} numbers "
            f"among them); all {counts.days:,} day columns hold plain days"
            f"{self._published_dates()}"
        )
        self._log = self._read_log_verifier()
        summaries[LOG_MATCHES_STORE], summaries[LOG_INTACT] = self._audit_log()
        return summaries

    def _add(self, check: str, message: str, *, key: str | None = None) -> None:
        self._findings.add(check, message, key=key)

    # --- schema --------------------------------------------------------------------------

    def _schema(self) -> str:
        reference = _expected_schema()
        try:
            expected = _objects(reference)
            actual = _objects(self._conn)
            kinds = {"table": "table", "index": "index", "view": "view", "trigger": "trigger"}
            for kind, name, _table in sorted(actual - expected):
                what = kinds.get(kind, "object")
                self._patterns(name, f"the name of an unexpected {what}", names=True)
                self._add(
                    SCHEMA,
                    f"unexpected {what} {_show_identifier(name, 'a ' + what)}: "
                    "server/database.py defines no such thing, and it could hold anything",
                )
            for kind, name, _table in sorted(expected - actual):
                self._add(SCHEMA, f"the {kinds.get(kind, 'object')} {name} is missing")
            tables = sorted(name for kind, name, _ in expected if kind == "table")
            column_count = 0
            for table in tables:
                wanted = _columns(reference, table)
                column_count += len(wanted)
                if ("table", table, table) not in actual:
                    continue
                have = _columns(self._conn, table)
                wanted_names = {column[0] for column in wanted}
                have_names = {column[0] for column in have}
                for name in sorted(have_names - wanted_names):
                    self._patterns(name, "the name of an unexpected column", names=True)
                    shown = _show_identifier(name, "a column")
                    self._add(SCHEMA, f"unexpected column {table}.{shown}: it could hold anything")
                for name in sorted(wanted_names - have_names):
                    self._add(SCHEMA, f"the column {table}.{name} is missing")
                definitions = {column[0]: column for column in have}
                for column in wanted:
                    if column[0] in definitions and definitions[column[0]] != column:
                        self._add(
                            SCHEMA,
                            f"the column {table}.{column[0]} is defined differently "
                            "(type, NOT NULL or key)",
                        )
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version != database.SCHEMA_VERSION:
                self._add(
                    SCHEMA,
                    f"the schema version is {_show_count(version)}, "
                    f"expected {database.SCHEMA_VERSION}",
                )
            indexes = sum(
                1 for kind, name, _ in expected if kind == "index" and "autoindex" not in name
            )
        finally:
            reference.close()
        plural = "" if indexes == 1 else "es"
        return (
            f"{len(tables)} tables with {column_count} columns and {indexes} index{plural}, as "
            f"server/database.py defines them (schema version {database.SCHEMA_VERSION})"
        )

    # --- scanning --------------------------------------------------------------------------

    def _tables(self) -> list[tuple[str, str, str]]:
        """Every table to scan: (its name for the rules below, its name shown, its SQL name)."""
        return [
            (name, _show_identifier(name, "a table"), _quote(name))
            for name in (
                str(row[0])
                for row in self._conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
                )
            )
        ]

    def _table_rows(self, sql_name: str) -> tuple[list[str], Iterable[Sequence[Any]]] | None:
        """A table's column names and rows, read as they are needed; None if it cannot be read."""
        try:
            cursor = self._conn.execute(f"SELECT * FROM {sql_name}")  # noqa: S608
        except DB_ERRORS:
            return None
        return [str(description[0]) for description in cursor.description], cursor

    def _scan_database(self) -> str:
        envelopes = 0
        for table, shown_table, sql_name in self._tables():
            self._counts.tables.add(table)
            read = self._table_rows(sql_name)
            if read is None:
                self._add(SCHEMA, f"the table {shown_table} cannot be read")
                continue
            columns, rows = read
            for ordinal, row in enumerate(rows, start=1):
                values = dict(zip(columns, map(_plain, row), strict=True))
                for column, value in values.items():
                    if value is None:
                        continue
                    label = _row_label(table, values, ordinal, exclude=column)
                    where = f"{shown_table}.{_show_identifier(column, 'a column')} of {label}"
                    self._counts.values += 1
                    self._linking(table, column, value, values, label)
                    if table in _ENVELOPE_TABLES and column == "envelope":
                        envelopes += 1
                        self._scan_envelope(value, values, where, label)
                        continue
                    self._scan_value(value, where)
                    if column == "day" and table in ("petitions", "replies"):
                        self._check_day(value, where)
        return (
            f"{envelopes:,} envelopes have a well-formed clear header (bureau id and key ids "
            "only) and a padding-bucket length, and name their row's bureau"
        )

    def _linking(
        self, table: str, column: str, value: object, row: dict[str, object], label: str
    ) -> None:
        """Remember ``value``; a finding if a row of another petition holds it already."""
        if table not in SHARED_COLUMNS:
            return
        petition = row.get("petition_id")
        if column not in SHARED_COLUMNS[table]:
            self._same_value(table, column, _digest(value), petition, label)
        if table in _ENVELOPE_TABLES and column == "envelope":
            blob = _as_bytes(value)
            if blob is not None and len(blob) > CASE_OFFSET:
                for section, part in (
                    ("identity section", blob[HEADER_LENGTH:CASE_OFFSET]),
                    ("case section", blob[CASE_OFFSET:]),
                ):
                    self._same_value(table, section, _digest(part), petition, label)

    def _same_value(
        self, table: str, column: str, digest: bytes, petition: object, label: str
    ) -> None:
        self._compared += 1
        seen = self._seen.setdefault((table, column), {})
        first = seen.get(digest)
        if first is None:
            seen[digest] = (petition, label)
            return
        if petition is not None and first[0] == petition:
            return  # two replies to one petition: nothing is linked
        shown = _show_identifier(column, "a column") if " " not in column else column
        self._add(
            NO_LINKING_VALUES,
            f"{_show_identifier(table, 'a table')}.{shown} of {label} holds the same value "
            f"as that of {first[1]}: a value two petitions share links them",
            key=f"{table}.{column}:{label}",
        )

    def _check_day(self, value: object, where: str) -> None:
        self._counts.days += 1
        try:
            if not isinstance(value, str):
                raise MalformedInput("not text")
            date.fromisoformat(value)
            if len(value) != 10:
                raise MalformedInput("not YYYY-MM-DD")
        except (ValueError, MalformedInput):
            self._add(NO_TIMES, f"{where} is not a plain day (YYYY-MM-DD)", key=where)

    def _scan_envelope(self, value: object, row: dict[str, object], where: str, label: str) -> None:
        """Scan only the clear header: the rest is HPKE ciphertext, indistinguishable from
        random bytes, in which every pattern would only ever match by chance.

        An envelope that does not parse may not be ciphertext at all, so it is scanned whole.
        """
        blob = _as_bytes(value)
        if blob is None:
            self._add(ENVELOPES, f"the envelope of {label} is not a blob")
            self._scan_value(value, where)
            return
        try:
            header = parse_header(blob)
        except MalformedInput:
            self._add(
                ENVELOPES,
                f"the envelope of {label} is not a well-formed envelope (it may not be ciphertext)",
            )
            self._scan_value(blob, where)
            return
        if header.bureau_id != row.get("bureau_id"):
            self._add(ENVELOPES, f"the envelope of {label} is addressed to another bureau")
        self._scan_binary(blob[:HEADER_LENGTH], where)

    def _scan_value(self, value: object, where: str, *, public_names: bool = False) -> None:
        if isinstance(value, bool):
            return
        if isinstance(value, int | float):
            self._number(value, where)
            self._patterns(str(value), where, names=False, times=False)  # an ID stored as a number
        elif isinstance(value, str):
            self._scan_text(value, where, public_names=public_names)
        else:
            blob = _as_bytes(value)
            if blob is None:
                return
            try:
                text = blob.decode("utf-8")
            except UnicodeDecodeError:
                self._scan_binary(blob, where)
            else:
                self._scan_text(text, where, public_names=public_names)

    def _number(self, number: float, where: str) -> None:
        self._counts.numbers += 1
        if is_timestamp(number):
            self._add(
                NO_TIMES, f"{where} holds a number in the range of Unix timestamps", key=where
            )

    def _scan_text(self, text: str, where: str, *, public_names: bool = False) -> None:
        """All detectors on text; inside JSON, also on every decoded string and number.

        Decoded strings matter because JSON may escape what the raw text would show (``\\u5f20``
        for 张). Outside strings JSON is ASCII, so names are looked for in strings only, which is
        also how bureau names in ``directory.json`` (public by design: the authority signs and
        publishes them) can be exempted without exempting anything else in that file.
        """
        parsed = _loose_json(text)
        raw = text
        if public_names and parsed is not None:
            for path, item in _walk(parsed):
                if isinstance(item, str) and _is_log_policy(path):
                    for url in _service_urls(item):
                        raw = raw.replace(url, "")
        self._patterns(raw, where, names=parsed is None)
        if parsed is None:
            return
        for path, item in _walk(parsed):
            if isinstance(item, str):
                exempt = public_names and _is_bureau_name(path)
                if public_names and _is_log_policy(path):
                    item = _without_service_urls(item)
                self._patterns(item, where, names=not exempt)
            elif isinstance(item, int | float) and not isinstance(item, bool):
                self._number(item, where)

    def _scan_binary(self, blob: bytes, where: str) -> None:
        """ASCII patterns inside binary data: what a packed string would look like.

        Names and compressed IPv6 are not looked for (see the detectors): random bytes match
        them too often to make a finding mean anything.
        """
        self._patterns(blob.decode("latin-1"), where, names=False, short_ipv6=False)

    def _patterns(
        self, text: str, where: str, *, names: bool, short_ipv6: bool = True, times: bool = True
    ) -> None:
        if contains_id_number(text):
            self._add(NO_ID_NUMBERS, f"{where} holds a valid ID number", key=where)
        if names and contains_name(text):
            self._add(NO_NAMES, f"{where} holds Chinese characters (a name?)", key=where)
        if contains_address(text, short_ipv6=short_ipv6):
            self._add(NO_ADDRESSES, f"{where} holds an IP address", key=where)
        if times and contains_time(text):
            self._add(NO_TIMES, f"{where} holds a time of day or a timestamp", key=where)

    def _scan_files(self) -> None:
        root = self._data.path
        for path in _data_files(root):
            relative = path.relative_to(root).as_posix()
            shown = _show_file(relative)
            self._counts.files += 1
            self._patterns(relative, "the name of a file in the data directory", names=True)
            try:
                content = path.read_bytes()
            except FileNotFoundError:
                continue  # deleted since it was listed: a partial tile the writer superseded
            except OSError:
                self._add(NO_ID_NUMBERS, f"the file {shown} cannot be read, so it was not checked")
                continue
            public_names = relative == self._data.directory_path.name
            self._scan_value(content, f"the file {shown}", public_names=public_names)

    # --- the log -----------------------------------------------------------------------------

    def _read_log_verifier(self) -> note.Verifier | None:
        """``log.pub``, checked against ``log.key`` and the published directory where present.

        The directory's log policy is kept: its witnesses are the ones whose cosignatures on the
        published checkpoint are counted.
        """
        try:
            log = self._data.log_verifier()
        except DataDirectoryError:
            self._add(
                LOG_INTACT,
                "log.pub is missing or is not a verifier key (origin+keyid+key): "
                "no checkpoint signature could be checked",
            )
            return None
        if self._data.log_key_path.exists():
            try:
                private = self._data.log_signing_key()
            except DataDirectoryError:
                self._add(LOG_INTACT, "log.key cannot be read, so it was not compared to log.pub")
            else:
                if private.public_key().to_bytes() != log.key.to_bytes():
                    self._add(LOG_INTACT, "log.key is not the private half of log.pub")
        if self._data.directory_path.exists():
            try:
                signed = SignedObject.decode(
                    self._data.directory_path.read_bytes(), SignedKind.DIRECTORY
                )
                published = Directory.from_json(signed.body)
            except (OSError, SealedPetitionError):
                self._add(LOG_INTACT, "directory.json is not a signed directory")
            else:
                self._policy = published.policy()
                if published.log_vkey != log:
                    differs = "origin" if published.log_vkey.key == log.key else "key"
                    self._add(
                        LOG_INTACT,
                        f"directory.json publishes another log {differs} (log_vkey) than log.pub",
                    )
        return log

    def _rows(self, query: str, table: str) -> list[tuple[Any, ...]]:
        try:
            return [tuple(row) for row in self._conn.execute(query).fetchall()]
        except DB_ERRORS:
            self._add(
                LOG_MATCHES_STORE,
                f"the table {table} cannot be read as server/database.py defines it",
            )
            return []

    def _audit_log(self) -> tuple[str, str]:
        leaves: list[tuple[int, bytes]] = []
        for index, leaf in self._rows(
            "SELECT leaf_index, leaf FROM log_leaves ORDER BY leaf_index", "log_leaves"
        ):
            blob = _as_bytes(leaf)
            if blob is None and isinstance(leaf, str):
                blob = leaf.encode("utf-8")
            position = _int(index)
            if position is None or blob is None:
                self._add(LOG_MATCHES_STORE, "log_leaves holds a row that is not a leaf")
                continue
            leaves.append((position, blob))
        size = len(leaves)
        if [index for index, _ in leaves] != list(range(size)):
            self._add(
                LOG_MATCHES_STORE,
                f"the leaf indexes are not contiguous from 0 ({size:,} leaves stored)",
            )
        entries: dict[int, LogEntry] = {}
        for index, leaf in leaves:
            try:
                entry = LogEntry.from_leaf(leaf)
            except SealedPetitionError:
                self._add(LOG_MATCHES_STORE, f"leaf {index} is not a valid log entry")
                continue
            entries[index] = entry
        submissions, events = self._match(entries)
        matches = (
            f"{size:,} leaves: {submissions:,} submissions and {events:,} later case events, each "
            "exactly one stored event of one petition and the other way round"
        )
        return matches, self._intact([leaf for _, leaf in leaves])

    def _petitions(self) -> list[_PetitionFacts]:
        facts: list[_PetitionFacts] = []
        rows = self._rows(
            "SELECT cursor, petition_id, bureau_id, envelope, envelope_hash, day, event, handler, "
            "leaf_index FROM petitions ORDER BY cursor",
            "petitions",
        )
        for cursor, pid, bureau, envelope, stored_hash, day, event, handler, leaf_index in rows:
            shown = _show_petition(pid)
            label = f"petition {shown}" if shown else f"petition row {_show_count(cursor)}"
            envelope_bytes = _as_bytes(envelope)
            computed = None if envelope_bytes is None else envelope_hash(envelope_bytes)
            if envelope_bytes is None or petition_id_for(envelope_bytes) != pid:
                self._add(LOG_MATCHES_STORE, f"the id of {label} is not derived from its envelope")
            if computed is None or _as_bytes(stored_hash) != computed:
                self._add(LOG_MATCHES_STORE, f"the stored envelope hash of {label} is wrong")
            facts.append(
                _PetitionFacts(
                    label=label,
                    petition_id=str(pid),
                    bureau_id=bureau,
                    day=day,
                    event=event,
                    handler=handler,
                    leaf_index=_int(leaf_index),
                    envelope_hash=computed,
                )
            )
        return facts

    def _match(self, entries: dict[int, LogEntry]) -> tuple[int, int]:
        """Leaves against rows, both ways; returns the (submissions, later events) matched.

        Every leaf is claimed by exactly one ``events`` row; the petition row, each reply and
        each re-sealed copy name a leaf of their own petition that says what they say. Receipts
        are not stored (they are built on demand from the leaf and the latest checkpoint), so a
        leaf that matches its rows is all a receipt needs.
        """
        petitions = self._petitions()
        by_id = {petition.petition_id: petition for petition in petitions}
        owner: dict[int, str] = {}
        claimed: Counter[int] = Counter()
        for index, pid in self._rows(
            "SELECT leaf_index, petition_id FROM events ORDER BY leaf_index", "events"
        ):
            position = _int(index)
            if position is None:
                self._add(LOG_MATCHES_STORE, "events holds a row that names no leaf")
                continue
            claimed[position] += 1
            owner[position] = str(pid)
            self._match_event(position, by_id.get(str(pid)), entries.get(position))
        for petition in petitions:
            self._match_petition(petition, entries, owner)
        replies = self._replies(by_id)
        for reply in replies:
            self._match_reply(reply, by_id.get(reply.petition_id), entries, owner)
        self._match_deliveries(by_id, entries, owner)
        self._check_sequences(petitions, replies, entries, owner)
        return self._match_leaves(entries, claimed)

    def _match_event(
        self, index: int, petition: _PetitionFacts | None, entry: LogEntry | None
    ) -> None:
        shown = _show_count(index)
        if entry is None:
            self._add(LOG_MATCHES_STORE, f"events names leaf {shown}, which is missing or invalid")
            return
        if petition is None:
            self._add(LOG_MATCHES_STORE, f"leaf {shown} is an event of no stored petition")
            return
        differ = _differences(
            ("petition id", entry.petition_id, petition.petition_id),
            ("envelope hash", entry.envelope_hash, petition.envelope_hash),
        )
        if differ:
            self._add(
                LOG_MATCHES_STORE, f"leaf {shown} is not an event of {petition.label} ({differ})"
            )

    def _match_petition(
        self, petition: _PetitionFacts, entries: dict[int, LogEntry], owner: dict[int, str]
    ) -> None:
        index = petition.leaf_index
        if index is None:
            self._add(LOG_MATCHES_STORE, f"{petition.label} names no leaf")
            return
        entry = entries.get(index)
        shown = _show_count(index)
        if entry is None:
            self._add(
                LOG_MATCHES_STORE,
                f"{petition.label} names leaf {shown}, which is missing or invalid",
            )
            return
        if entry.event is not Event.RECEIVED or owner.get(index) != petition.petition_id:
            self._add(LOG_MATCHES_STORE, f"{petition.label} names leaf {shown}, not its submission")
            return
        differ = _differences(
            ("petition id", entry.petition_id, petition.petition_id),
            ("bureau", entry.bureau_id, petition.bureau_id),
            ("envelope hash", entry.envelope_hash, petition.envelope_hash),
            ("day", entry.day.isoformat(), petition.day),
        )
        if differ:
            self._add(
                LOG_MATCHES_STORE, f"{petition.label} does not match its leaf {shown} ({differ})"
            )

    def _replies(self, petitions: dict[str, _PetitionFacts]) -> list[_ReplyFacts]:
        facts: list[_ReplyFacts] = []
        rows = self._rows(
            "SELECT petition_id, sequence, event, signed_reply, reply_hash, day, leaf_index "
            "FROM replies ORDER BY petition_id, sequence",
            "replies",
        )
        for pid, sequence, event, signed_reply, stored_hash, day, leaf_index in rows:
            shown = _show_petition(pid) or "<withheld>"
            label = f"reply {_show_count(sequence)} to petition {shown}"
            petition = petitions.get(str(pid))
            if petition is None:
                self._add(LOG_MATCHES_STORE, f"{label} answers no stored petition")
            blob = _as_bytes(signed_reply)
            computed = None if blob is None else signed_reply_hash(blob)
            if computed is None or _as_bytes(stored_hash) != computed:
                self._add(LOG_MATCHES_STORE, f"the stored hash of {label} is wrong")
            reply = _ReplyFacts(
                label=label,
                petition_id=str(pid),
                sequence=sequence,
                event=event,
                day=day,
                leaf_index=_int(leaf_index),
                reply_hash=computed,
            )
            self._reply_body(blob, reply)
            facts.append(reply)
        return facts

    def _match_reply(
        self,
        reply: _ReplyFacts,
        petition: _PetitionFacts | None,
        entries: dict[int, LogEntry],
        owner: dict[int, str],
    ) -> None:
        label, index = reply.label, reply.leaf_index
        if index is None:
            self._add(LOG_MATCHES_STORE, f"{label} names no leaf")
            return
        first = None if petition is None else petition.leaf_index
        if first is not None and index <= first:
            self._add(LOG_MATCHES_STORE, f"{label} is logged before its petition")
        entry = entries.get(index)
        shown = _show_count(index)
        if entry is None or owner.get(index) != reply.petition_id:
            self._add(
                LOG_MATCHES_STORE, f"{label} names leaf {shown}, not an event of its petition"
            )
            return
        differ = _differences(
            ("reply hash", entry.reply_hash, reply.reply_hash),
            ("petition id", entry.petition_id, reply.petition_id),
            ("event", entry.event.value, reply.event),
            ("day", entry.day.isoformat(), reply.day),
            ("bureau", entry.bureau_id, reply.bureau_id),
        )
        if differ:
            self._add(LOG_MATCHES_STORE, f"{label} does not match its leaf {shown} ({differ})")

    def _match_deliveries(
        self,
        petitions: dict[str, _PetitionFacts],
        entries: dict[int, LogEntry],
        owner: dict[int, str],
    ) -> None:
        """Each re-sealed copy was moved by a transfer or assignment of its petition, to the
        bureau its row (and its envelope's header) names, or is a petitioner's request for
        review sealed to the bureau its review-requested leaf names."""
        for pid, bureau, leaf_index in self._rows(
            "SELECT petition_id, bureau_id, leaf_index FROM deliveries ORDER BY leaf_index",
            "deliveries",
        ):
            shown = _show_petition(pid) or "<withheld>"
            index = _int(leaf_index)
            label = f"the copy of petition {shown} moved by leaf {_show_count(index)}"
            if str(pid) not in petitions:
                self._add(LOG_MATCHES_STORE, f"{label} belongs to no stored petition")
                continue
            entry = None if index is None else entries.get(index)
            if (
                entry is None
                or index is None
                or owner.get(index) != str(pid)
                or entry.event not in _COPY_EVENTS
                or _moved_to(entry) != bureau
            ):
                self._add(
                    LOG_MATCHES_STORE,
                    f"{label} is not a transfer, assignment or review request of it to the "
                    "bureau the copy is for",
                )

    def _check_sequences(
        self,
        petitions: list[_PetitionFacts],
        replies: list[_ReplyFacts],
        entries: dict[int, LogEntry],
        owner: dict[int, str],
    ) -> None:
        """Replies to a petition are numbered 0, 1, 2, …; every event that commits to a reply
        has it; the petition's latest event and handler are what its events say."""
        sequences: dict[str, list[object]] = {}
        for reply in replies:
            sequences.setdefault(reply.petition_id, []).append(reply.sequence)
        for pid, seen in sequences.items():
            if seen != list(range(len(seen))):
                shown = _show_petition(pid) or "<withheld>"
                self._add(
                    LOG_MATCHES_STORE, f"the replies to petition {shown} are not numbered 0, 1, …"
                )
        answered = {reply.leaf_index for reply in replies}
        history: dict[str, list[LogEntry]] = {}
        for index in sorted(owner):
            entry = entries.get(index)
            if entry is None:
                continue
            history.setdefault(owner[index], []).append(entry)
            if entry.reply_hash is not None and index not in answered:
                self._add(LOG_MATCHES_STORE, f"leaf {index} commits to a reply that is not stored")
        for petition in petitions:
            events = history.get(petition.petition_id, [])
            latest = events[-1].event.value if events else None
            handler = petition.bureau_id
            for entry in events:
                if entry.event in _COPY_EVENTS:
                    handler = _moved_to(entry)
            if petition.event != latest:
                self._add(
                    LOG_MATCHES_STORE,
                    f"the latest event of {petition.label} is not its last leaf's",
                )
            if petition.handler != handler:
                self._add(
                    LOG_MATCHES_STORE,
                    f"the handler of {petition.label} is not the bureau its events moved it to",
                )

    def _match_leaves(self, entries: dict[int, LogEntry], claimed: Counter[int]) -> tuple[int, int]:
        """Every leaf is claimed by exactly one events row; returns (submissions, later events)."""
        submissions = later = 0
        for index, entry in sorted(entries.items()):
            is_submission = entry.event is Event.RECEIVED
            if claimed[index] == 0:
                kind = "a submission" if is_submission else f"a {entry.event.value} event"
                self._add(
                    LOG_MATCHES_STORE,
                    f"leaf {index} records {kind} that is no stored event of a petition",
                )
            elif claimed[index] > 1:
                self._add(LOG_MATCHES_STORE, f"leaf {index} is claimed by {claimed[index]} rows")
            elif is_submission:
                submissions += 1
            else:
                later += 1
        return submissions, later

    def _reply_body(self, blob: bytes | None, reply: _ReplyFacts) -> None:
        """The signed reply must say what its row says.

        The bureau's signature is not checked: a bureau's keys may have been replaced since it
        answered (``admin add-bureau --replace``), and the directory keeps only the new ones.
        """
        try:
            if blob is None:
                raise MalformedInput("not a blob")
            body = Reply.from_json(SignedObject.decode(blob, SignedKind.REPLY).body)
        except SealedPetitionError as exc:
            self._add(LOG_MATCHES_STORE, f"the signed {reply.label} is not a reply ({exc.code})")
            return
        reply.bureau_id = body.bureau_id
        differ = _differences(
            ("petition id", body.petition_id, reply.petition_id),
            ("sequence", body.sequence, reply.sequence),
            ("event", body.event.value, reply.event),
            ("day", body.day.isoformat(), reply.day),
        )
        if differ:
            self._add(
                LOG_MATCHES_STORE, f"the signed {reply.label} does not match its row ({differ})"
            )

    def _intact(self, leaves: list[bytes]) -> str:
        size = len(leaves)
        tree = merkle.LeafHashList([merkle.leaf_hash(leaf) for leaf in leaves])
        nodes = self._stored_nodes(tree, size)
        kept, kept_size = self._kept_head(tree, size)
        published, published_size = self._published_checkpoint(tree, size, kept_size)
        files = self._published_files(tree, leaves, published_size)
        parts = [f"{size:,} leaves hash to their {nodes:,} stored nodes", kept, published, files]
        return "; ".join(part for part in parts if part)

    def _stored_nodes(self, tree: merkle.LeafHashList, size: int) -> int:
        """Every complete subtree hash is stored, and is the hash of the stored leaves."""
        nodes = self._rows("SELECT level, position, hash FROM log_nodes", "log_nodes")
        present: set[tuple[int, int]] = set()
        interior_wrong = 0
        for level, position, stored in nodes:
            k, p, value = _int(level), _int(position), _as_bytes(stored)
            if k is None or p is None or value is None or not 0 <= k < 64 or p < 0:
                self._add(LOG_INTACT, "log_nodes holds a row that is not a node")
                continue
            present.add((k, p))
            if p >= size >> k:
                self._add(
                    LOG_INTACT,
                    f"log_nodes holds node {k}/{_show_count(p)}, beyond the {size:,} leaves",
                )
            elif value != tree.subtree_root(p << k, (p + 1) << k):
                if k == 0:
                    self._add(LOG_INTACT, f"log_nodes holds a wrong hash for leaf {p}")
                else:
                    interior_wrong += 1
        if interior_wrong:
            self._add(LOG_INTACT, f"{interior_wrong} stored interior nodes do not match the leaves")
        expected_nodes = {(k, p) for k in range(size.bit_length()) for p in range(size >> k)}
        missing = expected_nodes - present
        if missing:
            self._add(LOG_INTACT, f"log_nodes lacks {len(missing)} of {len(expected_nodes)} nodes")
        return len(present)

    def _checkpoint(self, blob: bytes, where: str) -> Checkpoint | None:
        """A checkpoint signed by log.pub and naming its origin (unverified without log.pub)."""
        try:
            if self._log is None:
                text, _ = note.split(blob)
                return Checkpoint.from_text(text)
            checkpoint, _ = open_checkpoint(blob, [self._log])
        except SealedPetitionError as exc:
            self._add(LOG_INTACT, f"{where} is not a checkpoint signed by log.pub ({exc.code})")
            return None
        if checkpoint.origin != self._log.name:
            self._add(
                LOG_INTACT,
                f"{where} is signed by log.pub but names another origin than log.pub's key name",
            )
            return None
        return checkpoint

    def _matches_store(
        self, checkpoint: Checkpoint, where: str, tree: merkle.LeafHashList, size: int
    ) -> bool:
        """The store must hold the checkpoint's tree: at least as many leaves, the same root.

        Without this, a deleted or rolled-back database that the server had started a new log
        in would pass every other check: its own nodes match its own leaves.
        """
        if checkpoint.size > size:
            self._add(
                LOG_INTACT,
                f"{where} holds a checkpoint of size {checkpoint.size:,} but the store has only "
                f"{size:,} leaves: this is not (all of) the log the key signed",
            )
            return False
        if checkpoint.root_hash != tree.subtree_root(0, checkpoint.size):
            self._add(
                LOG_INTACT,
                f"{where} holds a checkpoint of size {checkpoint.size:,} whose root the stored "
                "leaves do not reproduce: this is another log under the same key",
            )
            return False
        return True

    def _kept_head(self, tree: merkle.LeafHashList, size: int) -> tuple[str, int | None]:
        """``log.head`` (on PostgreSQL ``log_head.signed``), the last checkpoint the log key
        signed, kept outside the log tables."""
        kept, head = self._head_file, self._places.head
        if kept is None:
            absent = f"{head} is empty" if self._places.in_database else f"there is no {head}"
            if size:
                self._add(
                    LOG_INTACT,
                    f"{absent}, yet the store holds {size:,} leaves: nothing keeps "
                    "the last checkpoint the log key signed",
                )
            return absent, None
        if isinstance(kept, SealedPetitionError):
            self._add(LOG_INTACT, f"{head} cannot be read ({kept.code})")
            return "", None
        checkpoint = self._checkpoint(kept, head)
        if checkpoint is None:
            return "", None
        if not self._matches_store(checkpoint, head, tree, size):
            return "", checkpoint.size
        unverified = " (its signature unchecked: no log.pub)" if self._log is None else ""
        return (
            f"the store reproduces the checkpoint kept in {head} (size {checkpoint.size:,})"
            f"{unverified}",
            checkpoint.size,
        )

    def _published_checkpoint(
        self, tree: merkle.LeafHashList, size: int, kept_size: int | None
    ) -> tuple[str, int | None]:
        """``public/log/checkpoint`` (on PostgreSQL ``log_head.published``): signed by the log,
        the store's tree, not past the head."""
        where, head = self._places.checkpoint, self._places.head
        blob = self._published.checkpoint
        if blob is None:
            if size or kept_size is not None:
                self._add(LOG_INTACT, f"{where} {self._places.absent}: the log is not published")
            return "", None
        if isinstance(blob, SealedPetitionError):
            self._add(LOG_INTACT, f"{where} cannot be read ({blob.code})")
            return "", None
        checkpoint = self._checkpoint(blob, where)
        if checkpoint is None:
            return "", None
        if kept_size is not None and checkpoint.size > kept_size:
            self._add(
                LOG_INTACT,
                f"{where} (size {checkpoint.size:,}) is larger than {head} (size "
                f"{kept_size:,}): {head} is not the last checkpoint the log key signed",
            )
        if not self._matches_store(checkpoint, where, tree, size):
            return "", None  # its tiles cannot be the store's: not looked for
        signed = "signed by log.pub" if self._log is not None else "its signature unchecked"
        return (
            f"{where} (size {checkpoint.size:,}) is the store's tree at that size, {signed}"
            f"{self._cosignatures(blob)}",
            checkpoint.size,
        )

    def _cosignatures(self, blob: bytes) -> str:
        """How many witnesses of the directory's policy cosigned; a forged cosignature is a
        finding, a missing one is not (whether enough cosigned is the policy's business)."""
        policy = self._policy
        if policy is None:
            return ", with no directory.json to name its witnesses"
        witnesses = policy.witnesses
        if not witnesses:
            return ", and the directory's log policy names no witness"
        text, signatures = note.split(blob)
        by_key = {(w.verifier.name, w.verifier.key_id): w for w in witnesses}
        cosigned: set[str] = set()
        for signature in signatures:
            witness = by_key.get((signature.name, signature.key_id))
            if witness is None:
                continue
            try:
                witness.verifier.verify(text.encode("utf-8"), signature.signature)
            except InvalidSignature:
                self._add(
                    LOG_INTACT,
                    f"the cosignature by witness {_show_witness(witness.name)} on "
                    f"{self._places.checkpoint} does not verify",
                )
            else:
                cosigned.add(witness.name)
        met = policy.is_witnessed(policy.quorum, frozenset(cosigned))
        return (
            f", cosigned by {len(cosigned)} of the {len(witnesses)} witnesses of the directory's "
            f"log policy (quorum {'met' if met else 'not met'})"
        )

    def _published_files(
        self, tree: merkle.LeafHashList, leaves: list[bytes], published_size: int | None
    ) -> str:
        """Every file in ``public/log`` is the checkpoint or a tile or bundle of the store (on
        PostgreSQL: every row of ``log_files`` is a tile or bundle of the store)."""
        published, places = self._published, self._places
        if published.problem is not None:
            after = (
                ""
                if places.in_database
                else ": the published log holds only files the writer wrote"
            )
            self._add(LOG_INTACT, f"{published.problem}{after}")
            return ""
        if not published.exists:
            if leaves or self._head_file is not None:
                self._add(LOG_INTACT, "public/log is missing: the log is not published")
            return ""
        present: set[str] = set()
        good: Counter[str] = Counter()
        for item in published.files:
            shown = places.file(item.relative)
            if item.problem is not None:
                self._add(
                    LOG_INTACT,
                    f"{shown} {item.problem}: the published log holds only files the writer wrote",
                )
                continue
            if item.temporary and not places.in_database:
                continue
            present.add(item.relative)
            if item.vanished or (item.relative == CHECKPOINT_FILE and not places.in_database):
                continue
            try:
                resource = tiles.parse_path(item.relative)
            except MalformedInput:
                self._add(LOG_INTACT, f"{shown} {self._stray()}")
                continue
            if self._published_resource(resource, item, shown, tree, leaves):
                good["tile" if isinstance(resource, tiles.Tile) else "bundle"] += 1
        needed = self._missing_resources(present, published_size)
        return (
            f"{places.files} holds {good['tile']:,} tiles and {good['bundle']:,} entry bundles, "
            f"each the store's hashes or leaves{needed}"
        )

    def _stray(self) -> str:
        if self._places.in_database:
            return (
                f"is not a tile or an entry bundle: nothing else belongs in {self._places.files} "
                "(the published checkpoint is log_head.published)"
            )
        return (
            "is not a tile, an entry bundle or the checkpoint: nothing else belongs in the "
            "published log"
        )

    def _published_resource(
        self,
        resource: tiles.Tile | tiles.EntryBundle,
        item: _PublishedFile,
        shown: str,
        tree: merkle.LeafHashList,
        leaves: list[bytes],
    ) -> bool:
        """One tile or bundle against the store: whether it holds exactly what it should."""
        size = len(leaves)
        what = "hashes"
        if isinstance(resource, tiles.Tile):
            level, first, count = tiles.tile_hash_positions(resource)
            if (first + count) << level > size:
                self._add(LOG_INTACT, f"{shown} lies beyond the {size:,} leaves of the store")
                return False
            span = 1 << level
            expected = b"".join(
                tree.subtree_root((first + i) * span, (first + i + 1) * span) for i in range(count)
            )
        else:
            what = "leaves"
            first = resource.index * tiles.TILE_WIDTH
            if first + resource.width > size:
                self._add(LOG_INTACT, f"{shown} lies beyond the {size:,} leaves of the store")
                return False
            try:
                expected = tiles.encode_bundle(leaves[first : first + resource.width])
            except MalformedInput:
                self._add(LOG_INTACT, f"{shown} covers a stored leaf too large for a bundle")
                return False
        if item.length != len(expected):
            self._add(
                LOG_INTACT,
                f"{shown} is {item.length:,} bytes, not the {len(expected):,} bytes of the "
                f"store's {what}",
            )
            return False
        if item.digest != hashlib.sha256(expected).digest():
            self._add(LOG_INTACT, f"{shown} does not hold the store's {what}")
            return False
        return True

    def _missing_resources(self, present: set[str], size: int | None) -> str:
        """Every tile and bundle of the published size must be there (tlog-tiles: a partial one
        may give way to the full tile that supersedes it)."""
        if size is None:
            return ""
        needed: list[tiles.Tile | tiles.EntryBundle] = [
            *tiles.tiles_for_size(size),
            *tiles.bundles_for_size(size),
        ]
        missing = [
            resource
            for resource in needed
            if resource.path() not in present
            and (resource.full or _full_resource(resource).path() not in present)
        ]
        if missing:
            self._add(
                LOG_INTACT,
                f"{len(missing):,} of the {len(needed):,} tiles and entry bundles that "
                f"{self._places.checkpoint} (size {size:,}) needs are missing "
                f"(the first: {missing[0].path()})",
            )
            return ""
        return f", and the {len(needed):,} that the published checkpoint needs are all there"

    def _published_dates(self) -> str:
        """A served file's modification time becomes its ``Last-Modified``: only a day.

        (A row of ``log_files`` keeps no time: there is nothing to date on PostgreSQL.)
        """
        if self._places.in_database:
            return ""
        files = [
            item
            for item in self._published.files
            if item.problem is None and not item.vanished and not item.temporary
        ]
        for item in files:
            if not item.midnight:
                shown = _show_file(f"public/log/{item.relative}")
                self._add(
                    NO_TIMES,
                    f"the file {shown} was last modified at a time of day, not at midnight UTC: "
                    "served as Last-Modified, it would date a batch",
                    key=f"mtime:{item.relative}",
                )
        if not files:
            return ""
        return f"; the {len(files):,} files of public/log are dated midnight UTC"


def _full_resource(resource: tiles.Tile | tiles.EntryBundle) -> tiles.Tile | tiles.EntryBundle:
    if isinstance(resource, tiles.Tile):
        return tiles.Tile(resource.level, resource.index)
    return tiles.EntryBundle(resource.index)


def _digest(value: object) -> bytes:
    """A fixed-size stand-in for a stored value, its type included (1 and "1" differ)."""
    blob = _as_bytes(value)
    if blob is not None:
        kind, data = b"b", blob
    elif isinstance(value, str):
        kind, data = b"s", value.encode("utf-8", errors="surrogatepass")
    else:
        kind, data = b"n", repr(value).encode()
    return hashlib.sha256(kind + b"\x00" + data).digest()


def _differences(*pairs: tuple[str, object, object]) -> str:
    return ", ".join(name for name, left, right in pairs if left != right)


def _row_label(table: str, row: dict[str, object], ordinal: int, *, exclude: str) -> str:
    """How a finding names a row: by its key, unless the key is the offending column.

    A key column that is itself the problem (a timestamp planted in ``cursor``, say) would repeat
    the secret, so the row is then named by its position in the scan instead.
    """

    def count(name: str) -> int | None:
        return None if name == exclude else _show_count(row.get(name))

    def petition(name: str) -> str | None:
        return None if name == exclude else _show_petition(row.get(name))

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


def _data_files(root: Path) -> Iterator[Path]:
    """Every regular file in the data directory but the database and ``run/`` (sockets)."""
    for directory, subdirectories, files in os.walk(root):
        here = Path(directory)
        if here == root:
            subdirectories[:] = [name for name in subdirectories if name != "run"]
        subdirectories.sort()
        for name in sorted(files):
            path = here / name
            if here == root and name in _DATABASE_FILES:
                continue
            if path.is_symlink() or not path.is_file():
                continue
            yield path


# --- PostgreSQL ------------------------------------------------------------------------------
#
# `petition audit store --database postgresql://…` audits the store of server/postgres.py with
# the same checks. Its tables are those of the SQLCipher file plus five of its own: store_meta
# (the schema version), log_lock (the one row a sequencing transaction locks), log_head (the
# signed head and the published checkpoint: log.head and public/log/checkpoint of a data
# directory), request_nonces (bureau ids and the random nonces of bureau requests, shared by the
# front ends: nothing of a petition, so they are scanned but not compared for linking values)
# and log_files (the published tiles and entry bundles, checked by log-intact like the files of
# public/log). Every value of every table is scanned as on SQLCipher.

#: What ``encrypted-at-rest`` says on PostgreSQL, where it is not checked.
POSTGRES_AT_REST = (
    "not applicable: PostgreSQL's files are encrypted by the disk they are on, which no "
    "database client can check (docs/operations.md)"
)

# PostgreSQL's own schemas are information_schema and those named pg_…; every query below that
# looks at "every schema" leaves out those (n.nspname <> 'information_schema' AND n.nspname !~
# '^pg_'), and looks into all others.

#: Rows fetched at a time when a table is scanned.
_SCAN_BATCH = 500
_RELATION_KINDS = {
    "r": "table",
    "p": "table",
    "v": "view",
    "m": "materialized view",
    "f": "foreign table",
    "S": "sequence",
    "i": "index",
    "I": "index",
}


def _audit_postgres(data: DataDirectory, url: str) -> StoreAudit:
    """The audit of a PostgreSQL store, in one ``REPEATABLE READ READ ONLY`` transaction.

    Everything the database holds is read inside that one snapshot, the head and the published
    log included, so no commit of a running front end can split what is compared. Nothing is
    written: the transaction is read-only and is rolled back; a query that fails (a table that
    was dropped or cannot be read) is undone to a savepoint so the others still run.
    """
    from server import postgres

    postgres.check_url(url)
    errors: type[Exception] = postgres._psycopg().Error
    conn = postgres.PostgresConnection.open(url, application="sealed-petition-audit")
    findings = _Findings()
    try:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            summaries = _PostgresAuditor(conn, data, findings, errors).run()
        finally:
            if not conn.broken:
                conn.execute("ROLLBACK")
    except errors as exc:
        raise StorageError(
            f"cannot read the PostgreSQL database ({postgres.describe_postgres_error(exc)})"
        ) from exc
    finally:
        conn.close()
    summaries[ENCRYPTED_AT_REST] = POSTGRES_AT_REST
    checks = tuple(
        CheckResult(check, summaries[check], findings.of(check), skipped=check == ENCRYPTED_AT_REST)
        for check in CHECK_IDS
    )
    return StoreAudit(data.path, checks, database="PostgreSQL")


@dataclass(frozen=True)
class _PgColumn:
    """A column as PostgreSQL's catalog describes it (``format_type``, NOT NULL, …)."""

    type: str
    not_null: bool
    identity: bool = False
    default: bool = False


@dataclass(frozen=True)
class _PgSchema:
    """The tables of :data:`server.postgres._SCHEMA`: columns, keys and indexes."""

    columns: dict[str, dict[str, _PgColumn]]  # table -> column -> definition, in order
    constraints: frozenset[tuple[str, str, tuple[str, ...]]]  # (table, "p"|"u", columns)
    indexes: dict[str, str]  # index name -> its table (the CREATE INDEX statements)


# Type names as PostgreSQL's format_type() writes them, for the aliases a schema may use.
_PG_TYPE_NAMES = {
    "int": "integer",
    "int4": "integer",
    "int8": "bigint",
    "int2": "smallint",
    "bool": "boolean",
    "varchar": "character varying",
}


def _split_top_level(body: str) -> list[str]:
    """The parts of a CREATE TABLE body, split at commas outside parentheses."""
    parts: list[str] = []
    depth = start = 0
    for index, char in enumerate(body):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(body[start:index])
            start = index + 1
    parts.append(body[start:])
    return [part.strip() for part in parts if part.strip()]


def _column_names(text: str) -> tuple[str, ...]:
    inside = text[text.index("(") + 1 : text.index(")")]
    return tuple(name.strip().lower() for name in inside.split(","))


@functools.cache
def _expected_postgres_schema() -> _PgSchema:
    """What :data:`server.postgres._SCHEMA` creates, read from its text: the one source of truth.

    Parsed rather than executed: building it in a scratch schema would need a connection that
    may create objects, and the audit needs only one that may read. The statements there are
    plain DDL (a column per line, inline or table-level keys, CREATE INDEX); the audit of a
    fresh store, which the tests run, shows that this reading matches what PostgreSQL made.
    """
    from server import postgres

    columns: dict[str, dict[str, _PgColumn]] = {}
    constraints: set[tuple[str, str, tuple[str, ...]]] = set()
    indexes: dict[str, str] = {}
    text = re.sub(r"--[^\n]*", "", postgres._SCHEMA)
    for statement in text.split(";"):
        words = statement.split()
        upper = [word.upper() for word in words]
        if upper[:2] == ["CREATE", "TABLE"]:
            table = words[2].lower()
            defined = columns[table] = {}
            body = statement[statement.index("(") + 1 : statement.rindex(")")]
            for part in _split_top_level(body):
                tokens = part.split()
                head = tokens[0].upper()
                if head in ("PRIMARY", "UNIQUE"):
                    names = _column_names(part)
                    constraints.add((table, "p" if head == "PRIMARY" else "u", names))
                    if head == "PRIMARY":
                        for name in names:
                            defined[name] = replace(defined[name], not_null=True)
                    continue
                if head in ("CONSTRAINT", "CHECK", "FOREIGN", "EXCLUDE"):
                    continue
                name, spec = tokens[0].lower(), [token.upper() for token in tokens[1:]]
                words_of_spec = " ".join(spec)
                key = "PRIMARY KEY" in words_of_spec
                identity = "AS IDENTITY" in words_of_spec  # implies NOT NULL
                kind = tokens[1].lower()
                defined[name] = _PgColumn(
                    _PG_TYPE_NAMES.get(kind, kind),
                    not_null=key or identity or "NOT NULL" in words_of_spec,
                    identity=identity,
                    default="DEFAULT" in spec,
                )
                if key:
                    constraints.add((table, "p", (name,)))
                if "UNIQUE" in spec:
                    constraints.add((table, "u", (name,)))
        elif upper[:2] == ["CREATE", "INDEX"] or upper[:3] == ["CREATE", "UNIQUE", "INDEX"]:
            name = words[upper.index("INDEX") + 1].lower()
            indexes[name] = words[upper.index("ON") + 1].lower()
    return _PgSchema(columns, frozenset(constraints), indexes)


def _bytes_or_text(value: object) -> bytes | None:
    blob = _as_bytes(value)
    if blob is None and isinstance(value, str):
        return value.encode("utf-8", errors="surrogatepass")
    return blob


class _PostgresAuditor(_Auditor):
    """The checks on a PostgreSQL store, inside the caller's read-only transaction."""

    def __init__(
        self, conn: Any, data: DataDirectory, findings: _Findings, errors: type[Exception]
    ) -> None:
        super().__init__(conn, data, findings, places=_DATABASE_PLACES)
        self._errors = errors
        self._here = ""  # the schema the server's tables are in (its current_schema())

    def run(self) -> dict[str, str]:
        here = self._conn.execute("SELECT current_schema()").fetchone()[0]
        self._here = "" if here is None else str(here)
        self._head_file, self._published = self._read_log_rows()
        return super().run()

    def _query(self, sql: str) -> list[tuple[Any, ...]] | None:
        """All rows of a query on the store's tables; None if it fails (undone to a savepoint,
        so the transaction, and the audit, go on)."""
        self._conn.execute("SAVEPOINT audit_query")
        try:
            rows = [tuple(row) for row in self._conn.execute(sql).fetchall()]
        except self._errors:
            self._conn.execute("ROLLBACK TO SAVEPOINT audit_query")
            return None
        self._conn.execute("RELEASE SAVEPOINT audit_query")
        return rows

    def _rows(self, query: str, table: str) -> list[tuple[Any, ...]]:
        rows = self._query(query)
        if rows is None:
            self._add(
                LOG_MATCHES_STORE,
                f"the table {table} cannot be read as server/postgres.py defines it",
            )
            return []
        return rows

    def _read_log_rows(self) -> tuple[bytes | SealedPetitionError | None, _PublishedLog]:
        """``log_head`` (the signed head and the published checkpoint) and ``log_files``, in the
        same snapshot as everything else: none of them can describe another state of the log.
        Tiles are kept as their lengths and SHA-256 digests, computed by PostgreSQL."""
        signed: bytes | SealedPetitionError | None
        published: bytes | SealedPetitionError | None
        head = self._query("SELECT signed, published FROM log_head WHERE id = 1")
        if head is None:
            signed = published = StorageError("the table log_head cannot be read")
        elif not head:
            signed = published = None
        else:
            signed, published = _bytes_or_text(head[0][0]), _bytes_or_text(head[0][1])
        rows = self._query(
            "SELECT path, length(content), sha256(content) FROM log_files ORDER BY path"
        )
        if rows is None:
            problem = "the table log_files cannot be read"
            return signed, _PublishedLog(exists=True, checkpoint=published, problem=problem)
        files = tuple(
            _PublishedFile(
                str(path), length=_int(length) or 0, digest=_as_bytes(digest) or b"", midnight=True
            )
            for path, length, digest in rows
        )
        return signed, _PublishedLog(exists=True, checkpoint=published, files=files)

    # --- scanning ----------------------------------------------------------------------------

    def _tables(self) -> list[tuple[str, str, str]]:
        """Every table (and materialized view) of every schema of the database but PostgreSQL's
        own: the server's, by name, and any other, by schema and name."""
        rows = self._conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p', 'm') AND NOT c.relispartition AND "
            "n.nspname <> 'information_schema' AND n.nspname !~ '^pg_' "
            "ORDER BY n.nspname <> current_schema(), n.nspname, c.relname"
        ).fetchall()
        tables = []
        for schema, name in rows:
            sql_name = f"{_quote(str(schema))}.{_quote(str(name))}"
            if schema == self._here:
                tables.append((str(name), _show_identifier(str(name), "a table"), sql_name))
            else:
                shown = (
                    f"{self._shown_schema(str(schema))}.{_show_identifier(str(name), 'a table')}"
                )
                tables.append((f"{schema}.{name}", shown, sql_name))
        return tables

    def _table_rows(self, sql_name: str) -> tuple[list[str], Iterable[Sequence[Any]]] | None:
        """A table through a server-side cursor, a batch at a time (envelopes add up)."""
        raw = self._conn.raw  # the SQL is complete: no placeholders to translate
        raw.execute("SAVEPOINT audit_scan")
        try:
            raw.execute(f"DECLARE audit_scan NO SCROLL CURSOR FOR SELECT * FROM {sql_name}")  # noqa: S608
            cursor = raw.execute(f"FETCH {_SCAN_BATCH} FROM audit_scan")
        except self._errors:
            raw.execute("ROLLBACK TO SAVEPOINT audit_scan")
            return None
        columns = [str(column.name) for column in cursor.description or ()]
        return columns, self._fetched(raw, cursor)

    def _fetched(self, raw: Any, cursor: Any) -> Iterator[Sequence[Any]]:
        while True:
            rows = cursor.fetchall()
            yield from rows
            if len(rows) < _SCAN_BATCH:
                break
            cursor = raw.execute(f"FETCH {_SCAN_BATCH} FROM audit_scan")
        raw.execute("CLOSE audit_scan")
        raw.execute("RELEASE SAVEPOINT audit_scan")

    def _shown_schema(self, schema: str) -> str:
        return _show_identifier(schema, "a schema")

    def _shown_object(self, schema: str, name: str, what: str) -> str:
        shown = _show_identifier(name, f"a {what}")
        return shown if schema == self._here else f"{self._shown_schema(schema)}.{shown}"

    # --- schema ------------------------------------------------------------------------------

    def _unexpected(self, what: str, schema: str, name: str) -> None:
        self._patterns(name, f"the name of an unexpected {what}", names=True)
        self._patterns(schema, "the name of a schema", names=True)
        self._add(
            SCHEMA,
            f"unexpected {what} {self._shown_object(schema, name, what)}: server/postgres.py "
            "defines no such thing, and it could hold anything",
        )

    def _schema(self) -> str:
        """The database against :data:`server.postgres._SCHEMA`, read from PostgreSQL's own
        catalog (``pg_catalog``, which, unlike ``information_schema``, shows every object
        whatever the auditor's privileges on it): the same tables, columns, keys and indexes in
        the server's schema, and nothing else in any schema (no other table, view, sequence,
        index, trigger, rule or function, no large object)."""
        expected = _expected_postgres_schema()
        tables, indexes = self._relations(expected)
        for table in sorted(set(expected.columns) - tables):
            self._add(SCHEMA, f"the table {table} is missing")
        for index in sorted(set(expected.indexes) - indexes):
            self._add(SCHEMA, f"the index {index} is missing")
        self._compare_columns(expected, tables)
        self._compare_constraints(expected, tables)
        self._other_objects()
        self._schema_version()
        columns = sum(len(defined) for defined in expected.columns.values())
        return (
            f"{len(expected.columns)} tables with {columns} columns, "
            f"{len(expected.constraints)} primary keys and unique constraints and "
            f"{len(expected.indexes)} indexes, as server/postgres.py defines them (schema "
            f"version {database.SCHEMA_VERSION}); no other table, view, sequence, index, "
            "trigger, rule, function or large object in the database"
        )

    def _relations(self, expected: _PgSchema) -> tuple[set[str], set[str]]:
        """Every relation in the database's own schemas; returns the expected tables and
        indexes found, and reports any other."""
        rows = self._conn.execute(
            "SELECT n.nspname, c.relname, c.relkind, "
            "EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = c.oid "
            "AND k.contype IN ('p', 'u', 'x')), "
            "EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass "
            "AND d.objid = c.oid AND d.deptype = 'i'), "
            "(SELECT t.relname FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid "
            "WHERE i.indexrelid = c.oid) "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname <> 'information_schema' AND n.nspname !~ '^pg_' "
            "AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S', 'i', 'I') "
            "ORDER BY n.nspname, c.relname"
        ).fetchall()
        tables: set[str] = set()
        indexes: set[str] = set()
        for schema, name, kind, backs_constraint, identity, indexed in rows:
            ours = schema == self._here
            if kind in ("r", "p") and ours and name in expected.columns:
                tables.add(name)
            elif kind in ("i", "I") and backs_constraint:
                continue  # a key's index: the keys are compared below
            elif kind in ("i", "I") and ours and expected.indexes.get(name) == indexed:
                indexes.add(name)
            elif kind == "S" and identity:
                continue  # an identity column's sequence: the columns are compared below
            else:
                self._unexpected(_RELATION_KINDS.get(str(kind), "object"), str(schema), str(name))
        return tables, indexes

    def _compare_columns(self, expected: _PgSchema, tables: set[str]) -> None:
        rows = self._conn.execute(
            "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
            "a.attidentity <> '', a.atthasdef OR a.attgenerated <> '' "
            "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') "
            "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY c.relname, a.attnum"
        ).fetchall()
        have: dict[str, dict[str, _PgColumn]] = {}
        for table, name, kind, not_null, identity, default in rows:
            if table in tables:
                have.setdefault(table, {})[str(name)] = _PgColumn(
                    str(kind), bool(not_null), bool(identity), bool(default)
                )
        for table in sorted(tables):
            wanted, found = expected.columns[table], have.get(table, {})
            for name in found:
                if name not in wanted:
                    self._patterns(name, "the name of an unexpected column", names=True)
                    shown = _show_identifier(name, "a column")
                    self._add(SCHEMA, f"unexpected column {table}.{shown}: it could hold anything")
            for name, column in wanted.items():
                if name not in found:
                    self._add(SCHEMA, f"the column {table}.{name} is missing")
                elif found[name] != column:
                    self._add(
                        SCHEMA,
                        f"the column {table}.{name} is defined differently "
                        "(type, NOT NULL, identity or default)",
                    )

    def _compare_constraints(self, expected: _PgSchema, tables: set[str]) -> None:
        rows = self._conn.execute(
            "SELECT c.relname, k.contype, ARRAY(SELECT a.attname "
            "FROM unnest(k.conkey) WITH ORDINALITY AS u(attnum, position) "
            "JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum "
            "ORDER BY u.position)::text[] "
            "FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND k.contype IN ('p', 'u')"
        ).fetchall()
        found = {
            (str(table), str(kind), tuple(str(name) for name in names))
            for table, kind, names in rows
            if table in tables
        }
        kinds = {"p": "primary key", "u": "unique constraint"}
        for table, kind, names in sorted(expected.constraints - found):
            if table in tables:
                self._add(
                    SCHEMA, f"the {kinds[kind]} of {table} on ({', '.join(names)}) is missing"
                )
        for table, kind, names in sorted(found - expected.constraints):
            shown = ", ".join(_show_identifier(name, "a column") for name in names)
            self._add(
                SCHEMA,
                f"unexpected {kinds[kind]} of {table} on ({shown}): server/postgres.py defines "
                "no such thing",
            )

    def _other_objects(self) -> None:
        """Triggers, rules and functions could copy rows anywhere; large objects hold anything."""
        for what, query in (
            (
                "trigger",
                "SELECT n.nspname, t.tgname FROM pg_trigger t "
                "JOIN pg_class c ON c.oid = t.tgrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE NOT t.tgisinternal AND "
                "n.nspname <> 'information_schema' AND n.nspname !~ '^pg_' ORDER BY 1, 2",
            ),
            (
                "rule",
                "SELECT n.nspname, r.rulename FROM pg_rewrite r "
                "JOIN pg_class c ON c.oid = r.ev_class "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE r.rulename <> '_RETURN' AND "
                "n.nspname <> 'information_schema' AND n.nspname !~ '^pg_' ORDER BY 1, 2",
            ),
            (
                "function",
                "SELECT n.nspname, p.proname FROM pg_proc p "
                "JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname <> 'information_schema' AND n.nspname !~ '^pg_' ORDER BY 1, 2",
            ),
        ):
            for schema, name in self._conn.execute(query).fetchall():
                self._unexpected(what, str(schema), str(name))
        (large,) = self._conn.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchone()
        if large:
            self._add(
                SCHEMA,
                f"the database holds {large:,} large object{'' if large == 1 else 's'}: "
                "server/postgres.py stores none, and they could hold anything",
            )

    def _schema_version(self) -> None:
        """``store_meta`` holds the schema version, and nothing else."""
        rows = self._query("SELECT key, value FROM store_meta")
        if rows is None:
            self._add(SCHEMA, "store_meta cannot be read, so the schema version was not checked")
            return
        meta = {str(key): value for key, value in rows}
        version = meta.pop("schema_version", None)
        if version != str(database.SCHEMA_VERSION):
            shown = (
                version
                if isinstance(version, str) and version.isdigit() and len(version) < 8
                else "missing or not a number"
            )
            self._add(
                SCHEMA,
                f"the schema version in store_meta is {shown}, expected {database.SCHEMA_VERSION}",
            )
        for key in sorted(meta):
            self._patterns(key, "the name of a key in store_meta", names=True)
            self._add(
                SCHEMA,
                f"store_meta holds a key {_show_identifier(key, 'a key')} besides schema_version: "
                "server/postgres.py writes no other, and it could hold anything",
            )
