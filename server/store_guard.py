"""What keeps the writer from serving a store that is not the one its log key has signed.

The log key outlives the database: ``log.key`` is a separate file, kept across restarts and
backups. If ``petitions.db`` is deleted, emptied, replaced by an older backup or damaged, a
server that simply started again would sign a *second* log under the same key: the petitions
acknowledged before answer 404, new ones get leaf indices that were already handed out, and only
an auditor holding an older head would notice. So the writer keeps the last head it signed
outside the database, in ``DATA/log.head``, and refuses to start when the store cannot
reproduce it. The file is written atomically (temporary file, fsync, rename, directory fsync)
after every commit that signed a new head and before any job of that commit is answered: every
head anyone was ever shown is covered by the file.

It also checks the database itself at start (SQLCipher's page HMACs and SQLite's own structure
check): a store with a damaged page is refused instead of being served with 500s and written
into. While running, a read or a commit that meets a damaged page raises an error this module
recognises (:func:`is_damage`), and the writer then stops acknowledging anything.

Every refusal is one line for the operator: what is wrong and what to restore.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import sqlcipher3

from crypto import cjson
from crypto.errors import SealedPetitionError
from crypto.keys import VerifyKey
from crypto.labels import SignedKind
from crypto.objects import TreeHead
from crypto.privatefile import read_private_file, write_private_file
from crypto.signing import SignedObject
from server.database import Connection
from server.errors import StorageError

#: The last signed tree head, outside the database (next to ``log.key``).
HEAD_FILE = "log.head"
#: A signed head is a few hundred bytes; anything much larger is not one.
MAX_HEAD_FILE = 16 * 1024
#: Readiness says 503 when the data directory's file system has less free space than this:
#: a commit that cannot extend the WAL fails, and it is better to be taken out of rotation first.
DISK_FLOOR_BYTES = 64 * 1024 * 1024
#: SQLite result codes (primary, the low byte) that mean the file itself is damaged.
_DAMAGE_CODES = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB


class StoreRefused(StorageError):
    """The store is not the one the log key signed, or it is damaged: the writer must not start."""


@dataclass(frozen=True)
class SignedHead:
    """The head kept in ``log.head``: its size, its root and the signed bytes as stored."""

    tree_size: int
    root_hash: bytes
    encoded: bytes

    def describe(self) -> str:
        return f"size {self.tree_size} (root {cjson.b64encode(self.root_hash)[:16]}…)"


def head_path(data_path: Path) -> Path:
    return data_path / HEAD_FILE


def parse_head(encoded: bytes, log_key: VerifyKey) -> SignedHead:
    """A signed tree head, checked against the log's own key."""
    signed = SignedObject.decode(encoded, SignedKind.TREE_HEAD)
    head = TreeHead.from_json(signed.verify(log_key))
    return SignedHead(head.tree_size, head.root_hash, encoded)


def read_head(data_path: Path, log_key: VerifyKey) -> SignedHead | None:
    """The head in ``log.head``, None if there is no such file (a directory from before it)."""
    path = head_path(data_path)
    if not path.exists() and not path.is_symlink():
        return None
    try:
        encoded = read_private_file(path, limit=MAX_HEAD_FILE, error=StoreRefused, what="log head")
        return parse_head(encoded, log_key)
    except SealedPetitionError as exc:
        raise StoreRefused(
            f"{path} cannot be used ({exc.message}): restore it from the backup that goes with "
            "petitions.db; the server will not start without knowing the last head its log key "
            "signed"
        ) from exc


def write_head(data_path: Path, encoded: bytes) -> None:
    """Replace ``log.head`` atomically and durably (a crash leaves the old or the new head)."""
    write_private_file(
        head_path(data_path), encoded, overwrite=True, error=StorageError, what="log head"
    )


def refuse_missing_store(database_path: Path, head: SignedHead | None) -> None:
    """Before the database is opened (opening a missing file would create an empty one)."""
    if head is None or head.tree_size == 0:
        return
    if not database_path.exists() or database_path.stat().st_size == 0:
        raise StoreRefused(_no_log(database_path, "holds no log", head))


def integrity_problem(conn: Connection) -> str | None:
    """The first problem SQLCipher's page HMACs or SQLite's structure check find, or None.

    ``cipher_integrity_check`` verifies every page's HMAC (it lists the pages that fail);
    ``quick_check`` walks the B-trees. Both read the whole file once: at start only.
    """
    try:
        failed = conn.execute("PRAGMA cipher_integrity_check").fetchall()
        if failed:
            return f"{failed[0][0]} ({len(failed)} problems)"
        rows = conn.execute("PRAGMA quick_check").fetchall()
    except sqlcipher3.DatabaseError as exc:
        return str(exc)
    if rows != [("ok",)]:
        return f"{rows[0][0]} ({len(rows)} problems)"
    return None


def refuse_damaged_store(conn: Connection, database_path: Path) -> None:
    problem = integrity_problem(conn)
    if problem is not None:
        raise StoreRefused(
            f"{database_path} is damaged ({problem}): stop the server and restore the database "
            "(and the log.head that goes with it) from a backup; nothing will be acknowledged "
            "into a damaged store"
        )


def refuse_other_log(
    database_path: Path, head: SignedHead | None, size: int, root_at_head: bytes | None
) -> None:
    """The store must hold the head ``log.head`` keeps: as large, and the same root at its size.

    ``root_at_head`` is the store's root over the first ``head.tree_size`` leaves (None when
    the store is smaller).
    """
    if head is None:
        return
    if size < head.tree_size:
        what = "holds no log" if size == 0 else f"holds a log of only {size} entries"
        raise StoreRefused(_no_log(database_path, what, head))
    if root_at_head != head.root_hash:
        raise StoreRefused(
            f"{database_path} holds a different log: at size {head.tree_size} its root is not "
            f"the one log.key signed ({head.describe()}): restore the database from a backup; "
            "the server will not continue a log that differs from the one its key has signed"
        )


def _no_log(database_path: Path, what: str, head: SignedHead) -> str:
    return (
        f"{database_path} {what} but log.key has signed a head of {head.describe()}: restore "
        "the database from a backup; the server will not start a second log under the same key"
    )


def is_damage(exc: BaseException) -> bool:
    """Whether a database error means the file is damaged (not busy, not full, not a bug)."""
    if not isinstance(exc, sqlcipher3.DatabaseError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in _DAMAGE_CODES
    message = str(exc)
    return "malformed" in message or "not a database" in message


def disk_space_low(path: Path, floor: int | None = None) -> bool:
    """Whether the file system holding ``path`` has less than ``floor`` bytes for us."""
    floor = DISK_FLOOR_BYTES if floor is None else floor
    try:
        stats = os.statvfs(path)
    except OSError:
        return True
    return stats.f_bavail * stats.f_frsize < floor
