"""The store audit of a SQLCipher store, and the auditor both stores share.

:func:`audit_sqlcipher` checks that ``petitions.db`` is ciphertext at rest, opens it read-only
and runs the :class:`Auditor` inside one read transaction. The auditor checks the schema against
:mod:`server.database`, scans every value of every table and every file of the data directory
for personal data and linking values, and hands the log to :class:`~server.audit_log.LogAudit`.
The PostgreSQL auditor (:mod:`server.audit_postgres`) is a subclass: it replaces how tables are
listed and read and how the schema is compared, and keeps every scan.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from crypto.envelope import CASE_OFFSET, HEADER_LENGTH, parse_header
from crypto.errors import MalformedInput, SealedPetitionError
from server import database
from server.audit_findings import (
    CHECK_IDS,
    ENCRYPTED_AT_REST,
    ENVELOPES,
    LOG_INTACT,
    LOG_MATCHES_STORE,
    NO_ADDRESSES,
    NO_ID_NUMBERS,
    NO_LINKING_VALUES,
    NO_NAMES,
    NO_TIMES,
    SCHEMA,
    CheckResult,
    Findings,
    StoreAudit,
    row_label,
    show_count,
    show_file,
    show_identifier,
)
from server.audit_log import LogAudit
from server.audit_published import (
    FILE_PLACES,
    LogPlaces,
    PublishedLog,
    read_kept_head,
    read_published_checkpoint,
    read_published_log,
)
from server.audit_values import as_bytes, as_plain
from server.database import Connection
from server.datadir import DataDirectory
from server.errors import StorageError
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
    open_plain,
    open_with_key,
)

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

SQLITE_HEADER = b"SQLite format 3\x00"
_DATABASE_FILES = frozenset({"petitions.db", "petitions.db-wal", "petitions.db-shm"})
_DATABASE_FILES |= {"petitions.db-journal"}


def audit_sqlcipher(data: DataDirectory, key_file: Path | None) -> StoreAudit:
    """Run every check on the SQLCipher store of ``data``, read-only (:mod:`server.store_audit`).

    Raises a :class:`~crypto.errors.SealedPetitionError` (not a finding) when there is nothing
    to audit: no key, a key that does not open the database, a file that is not a database.
    """
    key = database_key(data, key_file)
    db_path = database_file(data)
    findings = Findings()
    conn, at_rest = _open_for_audit(db_path, key, findings)
    # Before the snapshot: the writer writes these only after the commit they describe, so each
    # describes at most what the snapshot taken next holds, even while petitions arrive. The
    # published checkpoint first: the writer signs log.head and writes the tiles of a size before
    # it publishes that size, so the ones read after it are at least as new.
    published_checkpoint = read_published_checkpoint(data)
    kept_head = read_kept_head(data)
    published = read_published_log(data, published_checkpoint)
    try:
        conn.execute("BEGIN")  # one snapshot for every query below
        try:
            summaries = Auditor(conn, data, findings, kept_head, published).run()
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


def _open_for_audit(path: Path, key: bytes, findings: Findings) -> tuple[Connection, str]:
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


def quote(identifier: str) -> str:
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
    rows = conn.execute(f"PRAGMA table_info({quote(table)})").fetchall()
    return [(str(row[1]), str(row[2]).upper(), int(row[3]), int(row[5])) for row in rows]


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
class _Counts:
    values: int = 0
    numbers: int = 0
    days: int = 0
    tables: set[str] = field(default_factory=set)
    files: int = 0


class Auditor:
    """Runs the checks that read the database and the files, inside the caller's snapshot.

    The schema and the scans are made here; the log's checks are made by a
    :class:`~server.audit_log.LogAudit`, which reads the store through :meth:`_rows`.
    """

    def __init__(
        self,
        conn: Connection,
        data: DataDirectory,
        findings: Findings,
        kept_head: bytes | SealedPetitionError | None = None,
        published: PublishedLog | None = None,
        places: LogPlaces = FILE_PLACES,
    ) -> None:
        self._head_file = kept_head
        self._published = published or PublishedLog(exists=False, checkpoint=None)
        self._places = places
        self._conn = conn
        self._data = data
        self._findings = findings
        self._counts = _Counts()
        # (table, column) -> digest of a value -> (petition id, label) of the first row holding it
        self._seen: dict[tuple[str, str], dict[bytes, tuple[object, str]]] = {}
        self._compared = 0

    def run(self) -> dict[str, str]:
        log = LogAudit(
            self._rows, self._data, self._findings, self._head_file, self._published, self._places
        )
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
            f"{log.published_dates()}"
        )
        summaries[LOG_MATCHES_STORE], summaries[LOG_INTACT] = log.run()
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
                    f"unexpected {what} {show_identifier(name, 'a ' + what)}: "
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
                    shown = show_identifier(name, "a column")
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
                    f"the schema version is {show_count(version)}, "
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
            (name, show_identifier(name, "a table"), quote(name))
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
                values = dict(zip(columns, map(as_plain, row), strict=True))
                for column, value in values.items():
                    if value is None:
                        continue
                    label = row_label(table, values, ordinal, exclude=column)
                    where = f"{shown_table}.{show_identifier(column, 'a column')} of {label}"
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
            blob = as_bytes(value)
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
        shown = show_identifier(column, "a column") if " " not in column else column
        self._add(
            NO_LINKING_VALUES,
            f"{show_identifier(table, 'a table')}.{shown} of {label} holds the same value "
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
        blob = as_bytes(value)
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
            blob = as_bytes(value)
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
            shown = show_file(relative)
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

    # --- the log ---------------------------------------------------------------------------

    def _rows(self, query: str, table: str) -> list[tuple[Any, ...]]:
        """All rows of a query on the log's tables, for the log's checks; [] if it fails."""
        try:
            return [tuple(row) for row in self._conn.execute(query).fetchall()]
        except DB_ERRORS:
            self._add(
                LOG_MATCHES_STORE,
                f"the table {table} cannot be read as server/database.py defines it",
            )
            return []


def _digest(value: object) -> bytes:
    """A fixed-size stand-in for a stored value, its type included (1 and "1" differ)."""
    blob = as_bytes(value)
    if blob is not None:
        kind, data = b"b", blob
    elif isinstance(value, str):
        kind, data = b"s", value.encode("utf-8", errors="surrogatepass")
    else:
        kind, data = b"n", repr(value).encode()
    return hashlib.sha256(kind + b"\x00" + data).digest()


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
