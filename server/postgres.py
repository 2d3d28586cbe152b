"""PostgreSQL storage: the same tables as the SQLCipher store, shared by front ends on many hosts.

``petition serve --database postgresql://…`` keeps everything but the store as it is: each
front end (gunicorn workers and their own writer process) reads and writes these tables instead
of ``petitions.db``. What makes several front ends one log:

* **Sequencing is serialized.** A writer's group commit first locks the one row of
  ``log_lock`` (``SELECT … FOR UPDATE``), then appends its leaves and the Merkle nodes they
  complete, and commits. Two front ends' batches therefore apply one after the other, each
  judged on what the other committed (the same guarantee the single SQLCipher writer gives), and
  the transaction is short: no signature and no network call happens while the row is locked.
* **One integrator at a time** signs, publishes and witnesses (:mod:`server.pg_integration`):
  the writer that holds a PostgreSQL advisory lock. The last checkpoint the log key signed is
  the ``log_head`` row, replaced only by a compare-and-swap (:class:`PostgresLogState`), so an
  integrator that lost its lock without knowing it cannot sign a second history.
* **The static log lives here too** (``log_files``: tiles and entry bundles; the published
  checkpoint in ``log_head``), so a front end needs no shared file system: each serves
  ``/log/`` from the database.

The store's SQL is written once, with SQLite's ``?`` and ``:name`` placeholders;
:class:`PostgresConnection` translates each statement to psycopg's style, so the queries of
:mod:`server.database`, :mod:`server.merkle_store` and the writer run unchanged on both stores.

What a dump of this database holds is what ``petitions.db`` holds (ciphertext, hashes, bureau
ids, days; docs/operations.md): no address, no user agent, no time of day. PostgreSQL itself
must be configured not to log connections or statements (docs/operations.md).
"""

from __future__ import annotations

import functools
import logging
import secrets
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import date
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from crypto import note
from crypto.errors import SealedPetitionError
from server.database import MIGRATES_FROM, MIGRATION_SQL, SCHEMA_VERSION, StoreReads
from server.errors import DataDirectoryError, StorageError
from server.store_guard import ForkRefused, SignedHead, StoreRefused, parse_head

log = logging.getLogger("sealed_petition.postgres")

#: How long a connection attempt may take before the request (or the writer's batch) gives up.
CONNECT_TIMEOUT = 5
#: Bureau-request nonces kept per bureau, and how often (1 in N claims) older ones are dropped.
NONCES_KEPT = 100_000
NONCE_PRUNE_EVERY = 1000
#: The key of the advisory lock that elects the integrator (any constant; documented).
INTEGRATOR_LOCK = 0x5E41_ED00_0000_0001 - (1 << 63)

_SCHEMA = """
CREATE TABLE store_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE log_lock (                    -- one row: locked by each sequencing transaction
    id INTEGER PRIMARY KEY CHECK (id = 1)
);
INSERT INTO log_lock (id) VALUES (1);

CREATE TABLE log_head (                    -- one row: the integrator's compare-and-swap
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    signed    BYTEA,                       -- the checkpoint the log key signed last
    published BYTEA                        -- the same checkpoint with its cosignatures
);
INSERT INTO log_head (id) VALUES (1);

CREATE TABLE petitions (
    cursor          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    petition_id     TEXT NOT NULL UNIQUE,
    bureau_id       TEXT NOT NULL,
    envelope        BYTEA NOT NULL,
    envelope_hash   BYTEA NOT NULL,
    lookup_key_hash BYTEA NOT NULL,
    day             TEXT NOT NULL,
    event           TEXT NOT NULL,
    handler         TEXT NOT NULL,
    leaf_index      BIGINT NOT NULL
);
-- Ciphertext does not compress: do not let TOAST try.
ALTER TABLE petitions ALTER COLUMN envelope SET STORAGE EXTERNAL;
CREATE INDEX petitions_by_handler ON petitions (handler, cursor);
CREATE INDEX petitions_by_lookup_key ON petitions (lookup_key_hash);

CREATE TABLE replies (
    petition_id  TEXT NOT NULL REFERENCES petitions (petition_id),
    sequence     INTEGER NOT NULL,
    event        TEXT NOT NULL,
    signed_reply BYTEA NOT NULL,
    reply_hash   BYTEA NOT NULL UNIQUE,
    day          TEXT NOT NULL,
    leaf_index   BIGINT NOT NULL,
    PRIMARY KEY (petition_id, sequence)
);

CREATE TABLE events (
    leaf_index  BIGINT PRIMARY KEY,
    petition_id TEXT NOT NULL REFERENCES petitions (petition_id)
);
CREATE INDEX events_by_petition ON events (petition_id, leaf_index);

CREATE TABLE deliveries (
    petition_id TEXT NOT NULL REFERENCES petitions (petition_id),
    bureau_id   TEXT NOT NULL,
    envelope    BYTEA NOT NULL,
    leaf_index  BIGINT NOT NULL,
    PRIMARY KEY (petition_id, leaf_index)
);
ALTER TABLE deliveries ALTER COLUMN envelope SET STORAGE EXTERNAL;

CREATE TABLE log_leaves (
    leaf_index BIGINT PRIMARY KEY,
    leaf       BYTEA NOT NULL
);

CREATE TABLE log_nodes (
    level    INTEGER NOT NULL,
    position BIGINT NOT NULL,
    hash     BYTEA NOT NULL,
    PRIMARY KEY (level, position)
);

CREATE TABLE request_nonces (              -- bureau-request nonces, shared by every front end
    seq       BIGINT GENERATED ALWAYS AS IDENTITY,  -- order only: no time is kept
    bureau_id TEXT NOT NULL,
    nonce     BYTEA NOT NULL,
    PRIMARY KEY (bureau_id, nonce)
);
CREATE INDEX request_nonces_by_seq ON request_nonces (bureau_id, seq);

CREATE TABLE log_files (                   -- the static log's tiles and entry bundles
    path    TEXT PRIMARY KEY,              -- as under /log/: tile/0/000, tile/entries/000.p/5
    content BYTEA NOT NULL
);
"""


def check_url(url: str) -> str:
    """Refuse a database URL that is not PostgreSQL's, or that carries a password.

    The URL travels to the writer process on its command line, where any local user can read
    it: a password belongs in ``~/.pgpass`` or ``PGPASSFILE`` (docs/operations.md).
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        raise DataDirectoryError("the --database URL cannot be parsed") from None
    if parts.scheme not in ("postgresql", "postgres"):
        raise DataDirectoryError(
            "--database takes a PostgreSQL URL (postgresql://user@host/dbname); without it the "
            "server uses the SQLCipher file in the data directory"
        )
    options = {name.lower() for name, _ in parse_qsl(parts.query, keep_blank_values=True)}
    if parts.password is not None or "password" in options:
        raise DataDirectoryError(
            "the --database URL must not contain a password (it would be visible in the process "
            "list): put it in ~/.pgpass or the file PGPASSFILE names"
        )
    return url


@functools.lru_cache(maxsize=512)
def translate(sql: str) -> str:
    """The store's SQL (``?`` and ``:name`` placeholders) in psycopg's (``%s``, ``%(name)s``).

    Quoted text is copied as it is; a literal ``%`` is doubled, as psycopg requires. The
    store's statements are fixed strings in this code base, so this runs once for each.
    """
    out: list[str] = []
    quoted = False
    i = 0
    while i < len(sql):
        char = sql[i]
        if char == "'":
            quoted = not quoted
            out.append(char)
        elif quoted:
            out.append("%%" if char == "%" else char)
        elif char == "?":
            out.append("%s")
        elif char == "%":
            out.append("%%")
        elif (
            char == ":"
            and i + 1 < len(sql)
            and (sql[i + 1].isalpha() or sql[i + 1] == "_")
            and (i == 0 or sql[i - 1] != ":")
        ):
            end = i + 1
            while end < len(sql) and (sql[end].isalnum() or sql[end] == "_"):
                end += 1
            out.append(f"%({sql[i + 1 : end]})s")
            i = end
            continue
        else:
            out.append(char)
        i += 1
    return "".join(out)


def _psycopg() -> Any:
    """psycopg, imported only when PostgreSQL is used (the default install never needs it)."""
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - it is a dependency
        raise StorageError(f"PostgreSQL support is not installed ({exc})") from exc
    return psycopg


def is_postgres_error(exc: BaseException) -> bool:
    psycopg = _psycopg()
    return isinstance(exc, psycopg.Error)


class PostgresConnection:
    """A psycopg connection that takes the store's SQL, in autocommit mode.

    Transactions are explicit (``BEGIN`` … ``COMMIT``), as with the SQLCipher connections, so
    group commit is written the same way for both stores.
    """

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    @classmethod
    def open(cls, url: str, *, application: str = "sealed-petition") -> PostgresConnection:
        psycopg = _psycopg()
        try:
            raw = psycopg.connect(
                url, autocommit=True, connect_timeout=CONNECT_TIMEOUT, application_name=application
            )
        except psycopg.Error as exc:
            raise StorageError(
                f"cannot connect to PostgreSQL ({describe_postgres_error(exc)})"
            ) from exc
        return cls(raw)

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        return self.raw.execute(translate(sql), params or None)

    def executemany(self, sql: str, rows: Any) -> None:
        with self.raw.cursor() as cursor:
            cursor.executemany(translate(sql), list(rows))

    @property
    def broken(self) -> bool:
        return bool(self.raw.closed or self.raw.broken)

    def close(self) -> None:
        with suppress(Exception):
            self.raw.close()


def describe_postgres_error(exc: BaseException) -> str:
    """A psycopg error in one line, without the connection string (it may name a host)."""
    sqlstate = getattr(exc, "sqlstate", None)
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "password" in first.lower():
        first = "authentication failed"
    return f"{sqlstate}: {first}" if sqlstate else first


def ensure_schema(conn: PostgresConnection) -> None:
    """Create the tables in an empty database; refuse one with another schema version.

    Front ends may start at the same moment on one empty database: each decides under one
    advisory lock, inside the transaction that creates the tables, so a second one waits and
    then finds the first one's tables (and checks their version) rather than mistaking them for
    someone else's.
    """
    if conn.execute("SELECT to_regclass('store_meta') IS NOT NULL").fetchone()[0]:
        _migrate(conn)
        _check_schema_version(conn)
        return
    with _under_schema_lock(conn):
        tables = {  # the catalog, not to_regclass(): its cache may predate the lock
            str(row[0])
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            ).fetchall()
        }
        made = "store_meta" in tables
        if not made and tables:
            raise StorageError(
                "the PostgreSQL database already holds other tables: give the server a "
                "database of its own (createdb)"
            )
        if not made:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(
                "INSERT INTO store_meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
    if made:  # another front end made them while this one waited
        _check_schema_version(conn)


def _migrate(conn: PostgresConnection) -> None:
    """Bring a version 4 store up to date, in one transaction under the schema lock.

    Front ends starting together on an old database take turns: the first migrates, the
    others find version 5. Front ends of the old version must be stopped first: one still
    running would go on adding the rows that version 5 no longer keeps (docs/operations.md).
    """
    with _under_schema_lock(conn):
        row = conn.execute(
            "SELECT value FROM store_meta WHERE key = 'schema_version' FOR UPDATE"
        ).fetchone()
        if row is not None and str(row[0]) == str(MIGRATES_FROM):
            conn.execute(MIGRATION_SQL)
            conn.execute(
                "UPDATE store_meta SET value = ? WHERE key = 'schema_version'",
                (str(SCHEMA_VERSION),),
            )


@contextmanager
def _under_schema_lock(conn: PostgresConnection) -> Iterator[None]:
    """One transaction holding the schema's advisory lock: committed if the body returns,
    rolled back if it raises. Front ends starting together take their turns here."""
    conn.execute("BEGIN")
    try:
        conn.execute("SELECT pg_advisory_xact_lock(?)", (INTEGRATOR_LOCK + 1,))
        yield
        conn.execute("COMMIT")
    except BaseException:
        with suppress(Exception):
            conn.execute("ROLLBACK")
        raise


def _check_schema_version(conn: PostgresConnection) -> None:
    row = conn.execute("SELECT value FROM store_meta WHERE key = 'schema_version'").fetchone()
    version = None if row is None else str(row[0])
    if version != str(SCHEMA_VERSION):
        raise StorageError(
            f"the PostgreSQL database has schema version {version} and this server needs "
            f"{SCHEMA_VERSION} (only version {MIGRATES_FROM} migrates): use a new database"
        )


class PostgresDatabase(StoreReads):
    """Read access for HTTP workers: a small connection pool per worker process.

    The same interface as :class:`server.database.Database`. Each :meth:`snapshot` is one
    ``REPEATABLE READ READ ONLY`` transaction, so every query inside sees one committed state.
    """

    def __init__(self, url: str, *, max_connections: int = 8) -> None:
        self._url = url
        self._max = max_connections
        self._pool: Any = None
        self._lock = threading.Lock()

    def _get_pool(self) -> Any:
        with self._lock:
            if self._pool is None:
                from psycopg_pool import ConnectionPool

                self._pool = ConnectionPool(
                    self._url,
                    min_size=1,
                    max_size=self._max,
                    kwargs={
                        "autocommit": True,
                        "connect_timeout": CONNECT_TIMEOUT,
                        "application_name": "sealed-petition-reader",
                    },
                    timeout=CONNECT_TIMEOUT,
                    open=True,
                )
            return self._pool

    @contextmanager
    def snapshot(self) -> Iterator[PostgresConnection]:
        """A read transaction; any PostgreSQL failure becomes :class:`StorageError` (503)."""
        psycopg = _psycopg()
        from psycopg_pool import PoolTimeout

        try:
            with self._get_pool().connection() as raw:
                conn = PostgresConnection(raw)
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                try:
                    yield conn
                finally:
                    if not conn.broken:
                        conn.execute("COMMIT")
        except (psycopg.Error, PoolTimeout) as exc:
            log.error("a read of the PostgreSQL store failed (%s)", describe_postgres_error(exc))
            raise StorageError("the petition store cannot be read right now") from exc

    def check_reachable(self) -> None:
        """For readiness: one trivial read, :class:`StorageError` (503) if it fails."""
        with self.snapshot() as conn:
            conn.execute("SELECT 1").fetchone()

    def claim_nonce(self, bureau_id: str, nonce: bytes) -> bool:
        """Whether no front end has seen this bureau request's nonce (and claim it).

        Each writer keeps the nonces of its own front end in memory; this makes a request
        captured at one front end useless at every other. No time is stored: each bureau's
        oldest rows past :data:`NONCES_KEPT` are dropped, far more requests than a bureau signs
        within the ±300 s window in which a request is accepted at all.
        """
        psycopg = _psycopg()
        try:
            with self._get_pool().connection() as raw:
                conn = PostgresConnection(raw)
                claimed = conn.execute(
                    "INSERT INTO request_nonces (bureau_id, nonce) VALUES (?, ?) "
                    "ON CONFLICT DO NOTHING",
                    (bureau_id, nonce),
                ).rowcount
                if claimed == 1 and secrets.randbelow(NONCE_PRUNE_EVERY) == 0:
                    conn.execute(
                        "DELETE FROM request_nonces WHERE bureau_id = ? AND seq <= ("
                        "SELECT seq FROM request_nonces WHERE bureau_id = ? "
                        "ORDER BY seq DESC OFFSET ? LIMIT 1)",
                        (bureau_id, bureau_id, NONCES_KEPT),
                    )
        except psycopg.Error as exc:
            log.error("could not check a request nonce (%s)", describe_postgres_error(exc))
            raise StorageError("the petition store cannot be reached right now") from exc
        return bool(claimed == 1)

    def published_checkpoint(self) -> bytes | None:
        """The checkpoint the integrator published last (with its cosignatures)."""
        with self.snapshot() as conn:
            row = conn.execute("SELECT published FROM log_head WHERE id = 1").fetchone()
            return None if row is None or row[0] is None else bytes(row[0])

    def read(self, path: str) -> bytes | None:
        """A tile or entry bundle of the static log, by its path under ``/log/``.

        (:class:`server.services.LogFileReader`: the front ends serve ``/log/`` from here.)
        """
        with self.snapshot() as conn:
            row = conn.execute("SELECT content FROM log_files WHERE path = ?", (path,)).fetchone()
            return None if row is None else bytes(row[0])

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None


class PostgresLogState:
    """The last checkpoint the log key signed, kept in ``log_head`` and replaced only by CAS.

    The PostgreSQL counterpart of ``log.head`` (:func:`server.store_guard.swap_head`): the
    update names the checkpoint the integrator signed last, and if another integrator has
    signed since, no row matches and nothing more is signed or acknowledged.
    """

    def __init__(self, conn: PostgresConnection, verifier: note.Verifier) -> None:
        self._conn = conn
        self._verifier = verifier

    def read_head(self) -> SignedHead | None:
        row = self._conn.execute("SELECT signed FROM log_head WHERE id = 1").fetchone()
        if row is None or row[0] is None:
            return None
        try:
            return parse_head(bytes(row[0]), self._verifier)
        except SealedPetitionError as exc:
            raise StoreRefused(
                f"the PostgreSQL database holds a checkpoint this log key did not sign "
                f"({exc.message}): it belongs to another log, or the data directory holds "
                "another log's key"
            ) from exc

    def swap_head(self, expected: bytes | None, new: bytes) -> None:
        if expected is None:
            changed = self._durably(
                "UPDATE log_head SET signed = ? WHERE id = 1 AND signed IS NULL", (new,)
            )
        else:
            changed = self._durably(
                "UPDATE log_head SET signed = ? WHERE id = 1 AND signed = ?", (new, expected)
            )
        if changed != 1:
            raise ForkRefused(
                "the log head in PostgreSQL is no longer the checkpoint this integrator signed "
                "last: another integrator signed since (this one lost its election), or a "
                "backup was restored under a running log; nothing more will be signed here"
            )

    def read_published(self) -> bytes | None:
        row = self._conn.execute("SELECT published FROM log_head WHERE id = 1").fetchone()
        return None if row is None or row[0] is None else bytes(row[0])

    def publish(self, signed: bytes, cosigned: bytes, day: date) -> None:
        """Publish ``cosigned`` only while ``signed`` is still the head.

        An integrator that lost its election and wakes up late finds the head changed and
        publishes nothing, so the published checkpoint never goes back to an older one.
        """
        self._durably(
            "UPDATE log_head SET published = ? WHERE id = 1 AND signed = ?", (cosigned, signed)
        )

    def _durably(self, sql: str, params: tuple[bytes, ...]) -> int:
        """One update, committed on its own (the session's commits wait for the disk)."""
        return int(self._conn.execute(sql, params).rowcount)


class PostgresLogFiles:
    """The static log's files in ``log_files`` (the :class:`server.tile_store.TileStore` sink)."""

    def __init__(self, conn: PostgresConnection) -> None:
        self._conn = conn

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction per publication, its writes pipelined, its commit not waited for.

        Tiles and entry bundles are derived from the durable leaves and nodes, and the next
        integrator rewrites any that are missing (:meth:`server.tile_store.TileStore.repair`),
        just as the SQLCipher store does not fsync its tile files. The head and the published
        checkpoint, written outside this, are synchronous commits.
        """
        self._conn.execute("BEGIN")
        try:
            self._conn.execute("SET LOCAL synchronous_commit = off")
            with self._conn.raw.pipeline():
                yield
            self._conn.execute("COMMIT")
        except BaseException:
            with suppress(Exception):
                self._conn.execute("ROLLBACK")
            raise

    def exists(self, path: str) -> bool:
        row = self._conn.execute("SELECT 1 FROM log_files WHERE path = ?", (path,)).fetchone()
        return row is not None

    def write(self, path: str, content: bytes, day: date) -> None:
        """Store a file; ``day`` is unused (a row keeps no time; files are dated to midnight)."""
        self._conn.execute(
            "INSERT INTO log_files (path, content) VALUES (?, ?) "
            "ON CONFLICT (path) DO UPDATE SET content = excluded.content",
            (path, content),
        )

    def remove_partials(self, path: str, day: date) -> None:
        """Remove the partial widths of the full tile at ``path`` (``path.p/…``)."""
        self._conn.execute("DELETE FROM log_files WHERE starts_with(path, ?)", (path + ".p/",))

    def read(self, path: str) -> bytes | None:
        row = self._conn.execute("SELECT content FROM log_files WHERE path = ?", (path,)).fetchone()
        return None if row is None else bytes(row[0])


def refuse_other_log(head: SignedHead | None, size: int, root_at_head: bytes | None) -> None:
    """The database must hold the log its head names: as large, and the same root at its size."""
    if head is None:
        return
    if size < head.tree_size:
        raise StoreRefused(
            f"the PostgreSQL database holds {size} log entries but its head is a checkpoint of "
            f"{head.describe()}: entries were lost; restore the database from a backup, the "
            "server will not start a second log under the same key"
        )
    if root_at_head != head.root_hash:
        raise StoreRefused(
            f"the PostgreSQL database's entries do not match its head ({head.describe()}): the "
            "tables were changed or restored from a different backup; the server will not "
            "continue a log that differs from the one its key has signed"
        )


def open_checked_postgres(url: str, verifier: note.Verifier) -> PostgresConnection:
    """A writer's connection, after making or checking the schema and checking the head.

    The same refusals as the SQLCipher writer's start: a database whose entries are not the
    log its head names, or whose head this log key did not sign, is not written to.
    """
    from server.merkle_store import StoredTree, log_size

    conn = PostgresConnection.open(url, application="sealed-petition-writer")
    psycopg = _psycopg()
    try:
        ensure_schema(conn)
        head = PostgresLogState(conn, verifier).read_head()
        size = log_size(conn)
        root = None
        if head is not None and size >= head.tree_size:
            root = StoredTree(conn, size).subtree_root(0, head.tree_size)
        refuse_other_log(head, size, root)
    except psycopg.Error as exc:
        conn.close()
        raise StorageError(
            f"cannot use the PostgreSQL database ({describe_postgres_error(exc)})"
        ) from exc
    except BaseException:
        conn.close()
        raise
    return conn
