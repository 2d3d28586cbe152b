"""Opening a data directory and its database read-only: for audits and inspection, never serving.

The server opens its store through :mod:`server.database` (read-write, one writer). Whoever only
looks (``petition audit store``, ``petition admin inspect``, the threat-model checks, tests)
opens it here instead: nothing is created (no ``run/``, no ``-wal`` or ``-shm`` left behind),
nothing can be written (``mode=ro``, ``query_only``), and a wrong key is told apart from a file
that cannot be opened at all.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlcipher3

from crypto.privatefile import read_private_file
from server.database import Connection, keyed
from server.datadir import DB_KEY_BYTES, FORMAT_MARKER, DataDirectory
from server.errors import DataDirectoryError, StorageError

#: What a read of the store can raise, from either SQLite binding.
DB_ERRORS = (sqlite3.Error, sqlcipher3.Error)


def open_data_directory(path: Path) -> DataDirectory:
    """The data directory at ``path``, checked without creating anything in it.

    :meth:`DataDirectory.open_existing` would create ``run/``; an audit must not.
    """
    data = DataDirectory(path)
    if not data.path.is_dir():
        raise DataDirectoryError(f"{data.path} does not exist or is not a directory")
    try:
        marker = data.marker_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataDirectoryError(
            f"{data.path} is not a Sealed Petition data directory (it has no FORMAT file)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataDirectoryError(f"cannot read {data.marker_path}") from exc
    if marker != FORMAT_MARKER:
        raise DataDirectoryError(f"{data.path} was made by an incompatible version")
    return data


def database_key(data: DataDirectory, key_file: Path | None = None) -> bytes:
    """The database key as the server reads it, or from ``key_file`` (same format, owner-only).

    ``key_file`` lets an auditor who was handed the key audit a copy of the directory without
    putting the key into it or into the environment.
    """
    if key_file is None:
        return data.database_key()
    raw = read_private_file(key_file, limit=256, error=DataDirectoryError, what="database key")
    text = raw.decode("ascii", errors="replace").strip()
    if len(text) != 2 * DB_KEY_BYTES or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise DataDirectoryError(
            f"the database key in {key_file} must be {2 * DB_KEY_BYTES} hexadecimal digits"
        )
    return bytes.fromhex(text)


def read_only_uri(path: Path) -> str:
    """An SQLite URI that cannot change the directory.

    With a ``-wal`` file present the server is running (or was killed): the WAL holds committed
    transactions, so it must be read, and ``mode=ro`` reads it through the existing ``-shm``.
    Without one, ``mode=ro`` alone would create ``-wal`` and ``-shm`` and leave them behind;
    ``immutable=1`` reads the file as it is. (A server started during those few seconds writes
    to a fresh WAL that this snapshot simply does not see.)
    """
    live = path.with_name(path.name + "-wal").exists()
    return f"{path.as_uri()}?mode=ro" + ("" if live else "&immutable=1")


def open_with_key(path: Path, key: bytes) -> Connection | None:
    """A read-only SQLCipher connection, or None if the key does not open the file.

    Only "not a database" means a wrong key (or no database); a file that cannot be opened at
    all (permissions, a lock) is reported as what it is, not as a wrong key.
    """
    uri = read_only_uri(path)

    def open_connection() -> Connection:
        try:
            conn = sqlcipher3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 10000")
        except sqlcipher3.Error as exc:
            raise StorageError(f"cannot open {path} read-only ({exc})") from exc
        return conn

    try:
        conn = keyed(open_connection, key)
    except sqlcipher3.Error as exc:
        raise StorageError(f"cannot read {path} ({exc})") from exc
    if conn is None:
        return None
    conn.execute("PRAGMA query_only = 1")
    return conn


def open_plain(path: Path) -> Connection | None:
    """A read-only stdlib :mod:`sqlite3` connection, or None if it cannot read the file."""
    try:
        conn = sqlite3.connect(read_only_uri(path), uri=True, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 10000")
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open {path} read-only ({exc})") from exc
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError as exc:
        conn.close()
        raise StorageError(f"cannot read {path} ({exc})") from exc
    except sqlite3.DatabaseError:
        conn.close()
        return None
    conn.execute("PRAGMA query_only = 1")
    return conn


def database_file(data: DataDirectory) -> Path:
    path = data.database_path
    if not path.is_file():
        raise StorageError(f"{data.path} holds no database ({path.name} is missing)")
    if path.stat().st_size == 0:
        raise StorageError(f"{path} is empty: it is not a database this server wrote")
    return path


def open_store(data: DataDirectory, key: bytes) -> Connection:
    """Open the database read-only with its key, or raise :class:`StorageError`."""
    path = database_file(data)
    conn = open_with_key(path, key)
    if conn is None:
        raise StorageError(
            f"cannot open {path}: the database key is wrong or the file is not a database"
        )
    return conn
