"""SQLCipher storage: the schema, opening a connection with the raw key, and the read queries.

What is stored is exactly what the design allows: envelopes (ciphertext), bureau ids, hashes,
day-granularity dates, the latest case event and current handler, signed replies, the copies
re-sealed for bureaus a case was transferred to, and the log (leaves and node hashes). Receipts
are not stored: each is built when asked, from the leaf's index and the latest checkpoint, which
lives outside the database (``log.head`` and the published ``public/log/checkpoint``). Nothing
is per-person (protocol v2): no column holds a token or any other value derived from an ID
number, so no two petitions of one person share a value that every petition to that bureau on
that day does not share too. No column holds an address, a user agent or a time of day, and
SQLite keeps no timestamps of its own.

Only the writer process writes (:mod:`server.writer`). HTTP workers hold one read-only
connection per thread; WAL mode lets them read a consistent snapshot while the writer commits.
Connections are opened with a raw 256-bit key (``x'…'``), which skips SQLCipher's passphrase
KDF: opening costs microseconds instead of ~100 ms, so no request ever waits on it.

Every page is encrypted with AES-256-CBC and authenticated with an HMAC, as SQLCipher 4 always
does. The one setting changed from SQLCipher 4's defaults is that HMAC: stores made since
2026-12-07 use HMAC-SHA256 (:data:`PAGE_MAC`) where the default is HMAC-SHA512. Both are
full-length HMACs under a 256-bit key, so neither is the weaker authenticator; SHA-256 is the
one processors accelerate (SHA extensions), and the page MACs were the largest single cost of a
surge commit (docs/performance.md). Stores made before keep SQLCipher's default and still open:
SQLCipher cannot say which HMAC a file uses, so :func:`keyed` tries :data:`PAGE_MAC` first and
then each of :data:`EARLIER_PAGE_MACS`; only one of them verifies the first page under the
right key, and a wrong key fails them all.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlcipher3

from server.errors import StorageError

log = logging.getLogger("sealed_petition.database")

Connection = Any  # sqlcipher3 ships no type information

#: The page HMAC of every store this version creates (``PRAGMA cipher_hmac_algorithm``).
PAGE_MAC = "HMAC_SHA256"
#: The page HMACs of stores made by earlier versions (SQLCipher 4's default), still opened.
EARLIER_PAGE_MACS = ("HMAC_SHA512",)


def keyed(open_connection: Callable[[], Connection], key: bytes) -> Connection | None:
    """A connection from ``open_connection`` that ``key`` opens, or None if the key fails.

    Each page MAC this version knows is tried in turn (:data:`PAGE_MAC` first, which is also the
    one a new, empty file gets); a file the key opens under none of them is a wrong key, or not
    a database. Errors other than that one (a file that cannot be opened at all) propagate.
    """
    for page_mac in (PAGE_MAC, *EARLIER_PAGE_MACS):
        conn = open_connection()
        try:
            # SQLCipher's own log lines carry a time of day, and it would print a "hmac check
            # failed" line for every MAC tried; the caller's one-line error says it all.
            conn.execute("PRAGMA cipher_log_level = NONE")
            conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
            conn.execute(f"PRAGMA cipher_hmac_algorithm = {page_mac}")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlcipher3.OperationalError:
            conn.close()
            raise
        except sqlcipher3.DatabaseError:
            conn.close()
            continue
        except BaseException:
            conn.close()
            raise
        return conn
    return None


#: 2 since protocol v2 dropped the ``token`` column; 3 since receipts became tlog-proofs built on
#: demand (no ``receipt`` column, no ``tree_heads`` table: checkpoints live outside the store).
#: 4 since issue 17: a petition's state is its list of case events (``status`` became the latest
#: ``event`` and its current ``handler``; ``events`` lists each petition's leaves), and a case
#: transferred or assigned to another bureau is stored again, re-sealed for it (``deliveries``).
#: 5 since issue 18: ``events`` lists only the leaves after a petition's ``received`` one, which
#: ``petitions.leaf_index`` already names (one index insert less per submission).
#: Version 4 migrates in place (:func:`ensure_schema`); there is no migration from earlier ones:
#: a version 1 database held per-person tokens, and nothing but test deployments ever held
#: versions 2 and 3.
SCHEMA_VERSION = 5
#: The one earlier version that :func:`ensure_schema` brings up to date.
MIGRATES_FROM = 4
#: Version 4 to 5: a ``received`` leaf is claimed by its petition row alone.
MIGRATION_SQL = "DELETE FROM events WHERE leaf_index IN (SELECT leaf_index FROM petitions)"

_SCHEMA = """
CREATE TABLE petitions (
    cursor          INTEGER PRIMARY KEY,   -- submission order: the bureau inbox cursor
    petition_id     TEXT NOT NULL UNIQUE,  -- hex of a hash of the envelope
    bureau_id       TEXT NOT NULL,         -- the bureau first addressed
    envelope        BLOB NOT NULL,         -- ciphertext, as submitted
    envelope_hash   BLOB NOT NULL,
    lookup_key_hash BLOB NOT NULL,
    day             TEXT NOT NULL,         -- YYYY-MM-DD, never a time
    event           TEXT NOT NULL,         -- the latest case event (its log leaf is the record)
    handler         TEXT NOT NULL,         -- the bureau handling it now: whose inbox lists it
    leaf_index      INTEGER NOT NULL       -- the ``received`` leaf
);
CREATE INDEX petitions_by_handler ON petitions (handler, cursor);
-- The receipt code alone finds its petition (GET /v1/lookup): the hash of a 256-bit key.
CREATE INDEX petitions_by_lookup_key ON petitions (lookup_key_hash);

CREATE TABLE replies (
    petition_id  TEXT NOT NULL REFERENCES petitions (petition_id),
    sequence     INTEGER NOT NULL,
    event        TEXT NOT NULL,
    signed_reply BLOB NOT NULL,            -- the bureau-signed reply (its message is encrypted)
    reply_hash   BLOB NOT NULL UNIQUE,
    day          TEXT NOT NULL,
    leaf_index   INTEGER NOT NULL,
    PRIMARY KEY (petition_id, sequence)
) WITHOUT ROWID;

-- Which petition each later leaf belongs to: a petition's ``received`` leaf is its row's
-- ``leaf_index``, and every other leaf of the log is one row here.
CREATE TABLE events (
    leaf_index  INTEGER PRIMARY KEY,
    petition_id TEXT NOT NULL REFERENCES petitions (petition_id)
);
CREATE INDEX events_by_petition ON events (petition_id, leaf_index);

CREATE TABLE deliveries (                 -- a case re-sealed for the bureau it went to
    petition_id TEXT NOT NULL REFERENCES petitions (petition_id),
    bureau_id   TEXT NOT NULL,            -- the receiving bureau (the envelope's header names it)
    envelope    BLOB NOT NULL,            -- ciphertext, re-sealed by the transferring bureau
    leaf_index  INTEGER NOT NULL,         -- the transferred or assigned leaf that moved it
    PRIMARY KEY (petition_id, leaf_index)
) WITHOUT ROWID;

CREATE TABLE log_leaves (
    leaf_index INTEGER PRIMARY KEY,
    leaf       BLOB NOT NULL               -- canonical JSON of a log entry (protocol §9.3.4)
);

CREATE TABLE log_nodes (                   -- every complete subtree hash (level 0: leaf hashes)
    level    INTEGER NOT NULL,
    position INTEGER NOT NULL,
    hash     BLOB NOT NULL,
    PRIMARY KEY (level, position)
) WITHOUT ROWID;
"""


def connect(path: Path, key: bytes, *, writer: bool) -> Connection:
    """Open the database with its raw key and check that the key is right.

    ``isolation_level=None`` leaves transactions to the caller (explicit BEGIN/COMMIT), which
    is what group commit needs.
    """

    def open_connection() -> Connection:
        return sqlcipher3.connect(str(path), isolation_level=None, check_same_thread=False)

    try:
        opened = keyed(open_connection, key)
    except sqlcipher3.DatabaseError as exc:
        raise StorageError(
            f"cannot open {path}: the database key is wrong or the file is damaged"
        ) from exc
    if opened is None:
        raise StorageError(f"cannot open {path}: the database key is wrong or the file is damaged")
    conn = opened
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 10000")
    if writer:
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: a commit is on disk (the WAL is fsynced) before anyone is told it happened.
        conn.execute("PRAGMA synchronous = FULL")
    else:
        conn.execute("PRAGMA query_only = 1")
    return conn


def ensure_schema(conn: Connection) -> None:
    """Create the tables in a new store, or bring a version 4 store up to date, in one
    transaction each: a store is at one version or the other, never between."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == SCHEMA_VERSION:
        return
    if version not in (0, MIGRATES_FROM):
        raise StorageError(
            f"the database has schema version {version} and this server needs {SCHEMA_VERSION} "
            f"(only version {MIGRATES_FROM} migrates): start with a new data directory"
        )
    conn.execute("BEGIN IMMEDIATE")
    try:
        if version == MIGRATES_FROM:
            conn.execute(MIGRATION_SQL)
        else:
            # Statement by statement: executescript() would commit on its own.
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


@dataclass(frozen=True)
class PetitionRow:
    cursor: int
    petition_id: str
    bureau_id: str
    envelope: bytes
    envelope_hash: bytes
    lookup_key_hash: bytes
    day: str
    event: str
    handler: str
    leaf_index: int


@dataclass(frozen=True)
class InboxItem:
    cursor: int
    petition_id: str
    event: str
    day: str


class StoreReads:
    """The read queries HTTP workers make, over whatever :meth:`snapshot` a store gives.

    :class:`Database` (SQLCipher) and :class:`server.postgres.PostgresDatabase` differ only in
    how they open a consistent read transaction; the queries are the same SQL.
    """

    def snapshot(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def petition(self, petition_id: str) -> PetitionRow | None:
        with self.snapshot() as conn:
            return petition_row(conn, petition_id)

    def petition_by_lookup_key_hash(self, key_hash: bytes) -> PetitionRow | None:
        with self.snapshot() as conn:
            row = conn.execute(
                "SELECT petition_id FROM petitions WHERE lookup_key_hash = ? LIMIT 1", (key_hash,)
            ).fetchone()
            return None if row is None else petition_row(conn, row[0])

    def replies(self, petition_id: str) -> list[bytes]:
        with self.snapshot() as conn:
            return signed_replies(conn, petition_id)

    def inbox(
        self, bureau_id: str, after: int, limit: int
    ) -> list[tuple[InboxItem, list[tuple[int, bytes]]]]:
        """The petitions this bureau handles now, each with its events (one snapshot)."""
        with self.snapshot() as conn:
            rows = conn.execute(
                "SELECT cursor, petition_id, event, day FROM petitions "
                "WHERE handler = ? AND cursor > ? ORDER BY cursor LIMIT ?",
                (bureau_id, after, limit),
            ).fetchall()
            items = [InboxItem(*row) for row in rows]
            return [(item, petition_events(conn, item.petition_id)) for item in items]


class Database(StoreReads):
    """Read access for HTTP workers: one connection per thread, opened on first use."""

    def __init__(self, path: Path, key: bytes) -> None:
        self._path = path
        self._key = key
        self._local = threading.local()

    def _connection(self) -> Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self._path, self._key, writer=False)
            self._local.conn = conn
        return conn

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A read transaction: every query inside sees the same committed state.

        Any SQLite error inside (a damaged page, an I/O error, a locked file) becomes
        :class:`StorageError`, which the edge answers with ``503 unavailable``: the request
        was fine, the store is not. The connection is dropped, so the next request on this
        thread starts from a fresh one instead of a half-finished transaction.
        """
        try:
            conn = self._connection()
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")
        except sqlcipher3.DatabaseError as exc:
            self._discard()
            # The error's name only (e.g. SQLITE_CORRUPT): no query, no value, no address.
            name = getattr(exc, "sqlite_errorname", type(exc).__name__)
            log.error("a read of the petition store failed (%s)", name)
            raise StorageError("the petition store cannot be read right now") from exc

    def _discard(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with suppress(sqlcipher3.Error):
                conn.close()

    def check_reachable(self) -> None:
        """Nothing to do: the writer's readiness covers the file (server/blueprints/admin.py)."""

    def claim_nonce(self, bureau_id: str, nonce: bytes) -> bool:
        """Always True: with this store one writer serves every worker, and it alone keeps the
        nonces (server/writer.py). The PostgreSQL store shares them between front ends."""
        return True


def petition_row(conn: Connection, petition_id: str) -> PetitionRow | None:
    row = conn.execute(
        "SELECT cursor, petition_id, bureau_id, envelope, envelope_hash, lookup_key_hash, "
        "day, event, handler, leaf_index FROM petitions WHERE petition_id = ?",
        (petition_id,),
    ).fetchone()
    if row is None:
        return None
    values = list(row)
    for position in (3, 4, 5):
        values[position] = bytes(values[position])
    return PetitionRow(*values)


def signed_replies(conn: Connection, petition_id: str) -> list[bytes]:
    rows = conn.execute(
        "SELECT signed_reply FROM replies WHERE petition_id = ? ORDER BY sequence",
        (petition_id,),
    ).fetchall()
    return [bytes(row[0]) for row in rows]


def petition_events(conn: Connection, petition_id: str) -> list[tuple[int, bytes]]:
    """The petition's log leaves, in log order: (leaf index, leaf bytes).

    Its ``received`` leaf is the one its row names; the later ones are its ``events`` rows.
    The writer judges each new event against this same list (server/writer.py).
    """
    rows = conn.execute(
        "SELECT leaf_index, leaf FROM log_leaves WHERE leaf_index IN ("
        "SELECT leaf_index FROM petitions WHERE petition_id = ? "
        "UNION ALL SELECT leaf_index FROM events WHERE petition_id = ?) "
        "ORDER BY leaf_index",
        (petition_id, petition_id),
    ).fetchall()
    return [(int(row[0]), bytes(row[1])) for row in rows]


def copy_for(conn: Connection, row: PetitionRow, bureau_id: str) -> bytes | None:
    """This bureau's copy of the envelope: the latest one re-sealed for it, else the envelope as
    submitted if it was addressed to it; ``None`` if the case never came to this bureau."""
    found = conn.execute(
        "SELECT envelope FROM deliveries WHERE petition_id = ? AND bureau_id = ? "
        "ORDER BY leaf_index DESC LIMIT 1",
        (row.petition_id, bureau_id),
    ).fetchone()
    if found is not None:
        return bytes(found[0])
    return row.envelope if row.bureau_id == bureau_id else None
