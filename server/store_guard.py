"""What keeps the writer from serving a store that is not the one its log key has signed.

The log key outlives the database: ``log.key`` is a separate file, kept across restarts and
backups. If ``petitions.db`` is deleted, emptied, replaced by an older backup or damaged, a
server that simply started again would sign a *second* log under the same key: the petitions
acknowledged before answer 404, new ones get leaf indices that were already handed out, and only
a witness or an auditor holding an older checkpoint would notice. So the writer keeps the last
checkpoint it signed outside the database, in ``DATA/log.head``, and refuses to start when the
store cannot reproduce it. The writer signs nothing without first comparing the file with the
checkpoint it believes is the last one (compare-and-swap, :func:`swap_head`), and replaces it
atomically (temporary file, fsync, rename, directory fsync) before the new checkpoint is shown to
anyone: every checkpoint anyone was ever shown is covered by the file.

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

from crypto import note
from crypto.checkpoint import open_checkpoint
from crypto.errors import SealedPetitionError
from crypto.privatefile import read_private_file, write_private_file
from server.database import Connection
from server.errors import StorageError

#: The last checkpoint the log key signed, outside the database (next to ``log.key``).
HEAD_FILE = "log.head"
#: A checkpoint is a few hundred bytes; anything much larger is not one.
MAX_HEAD_FILE = 16 * 1024
#: Readiness says 503 when the data directory's file system has less free space than this:
#: a commit that cannot extend the WAL fails, and it is better to be taken out of rotation first.
DISK_FLOOR_BYTES = 64 * 1024 * 1024
#: SQLite result codes (primary, the low byte) that mean the file itself is damaged.
_DAMAGE_CODES = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB


class StoreRefused(StorageError):
    """The store is not the one the log key signed, or it is damaged: the writer must not start."""


class ForkRefused(StoreRefused):
    """``log.head`` is not the checkpoint this writer signed last: someone else is signing."""


@dataclass(frozen=True)
class SignedHead:
    """The checkpoint kept in ``log.head``: its size, its root and the signed note as stored."""

    tree_size: int
    root_hash: bytes
    encoded: bytes

    def describe(self) -> str:
        return f"size {self.tree_size} (root {note.encode_base64(self.root_hash)[:16]}…)"


def head_path(data_path: Path) -> Path:
    return data_path / HEAD_FILE


def parse_head(encoded: bytes, log: note.Verifier) -> SignedHead:
    """A checkpoint signed by the log's own key and naming the log's origin."""
    checkpoint, _ = open_checkpoint(encoded, [log])
    if checkpoint.origin != log.name:
        raise StoreRefused(f"the checkpoint is for {checkpoint.origin[:80]!r}, not for {log.name}")
    return SignedHead(checkpoint.size, checkpoint.root_hash, encoded)


def read_head(data_path: Path, log: note.Verifier) -> SignedHead | None:
    """The checkpoint in ``log.head``, None if there is no such file (a new log)."""
    path = head_path(data_path)
    if not path.exists() and not path.is_symlink():
        return None
    try:
        encoded = read_private_file(path, limit=MAX_HEAD_FILE, error=StoreRefused, what="log head")
        return parse_head(encoded, log)
    except SealedPetitionError as exc:
        raise StoreRefused(
            f"{path} cannot be used ({exc.message}): restore it from the backup that goes with "
            "petitions.db; the server will not start without knowing the last checkpoint its "
            "log key signed"
        ) from exc


def write_head(data_path: Path, encoded: bytes) -> None:
    """Replace ``log.head`` atomically and durably (a crash leaves the old or the new one)."""
    write_private_file(
        head_path(data_path), encoded, overwrite=True, error=StorageError, what="log head"
    )


def swap_head(data_path: Path, log: note.Verifier, expected: bytes | None, new: bytes) -> None:
    """Compare-and-swap ``log.head``: replace it only if it still holds ``expected``.

    ``expected`` is the checkpoint this writer signed last (None: it signed none and the file
    must not exist). Anything else there means another process signed with this log key since,
    or the file was restored from elsewhere: continuing would sign a second history, so the
    writer stops instead. One writer holds ``run/writer.lock``, so nothing races between the
    comparison and the rename; the comparison catches everything that does not take that lock
    (a second data directory holding a copy of ``log.key``, a restored backup).
    """
    path = head_path(data_path)
    try:
        current: bytes | None = read_private_file(
            path, limit=MAX_HEAD_FILE, error=StoreRefused, what="log head"
        )
    except StoreRefused:
        if path.exists() or path.is_symlink():
            raise
        current = None
    if current != expected:
        raise ForkRefused(
            f"{path} changed under the running server (it no longer holds the last checkpoint "
            "this server signed): another copy of log.key is signing, or a backup was restored "
            "over a running log; nothing more will be signed or acknowledged: stop the server "
            "and find the other copy of the key"
        )
    # ``new`` is not verified again here: the caller has just signed it with the log key, and
    # a bad one would be refused at the next start (read_head).
    write_head(data_path, new)


def refuse_published_without_head(public_checkpoint: Path, head: SignedHead | None) -> None:
    """A log that published a non-empty checkpoint but has no ``log.head`` lost its guard file.

    Without this, deleting both ``petitions.db`` and ``log.head`` would let the key start a
    second log; the published checkpoint (and every witness) still remembers the first.
    """
    if head is not None:
        return
    try:
        published = public_checkpoint.read_bytes()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StoreRefused(f"cannot read {public_checkpoint}: {exc.strerror}") from exc
    lines = published.split(b"\n", 2)
    if len(lines) > 1 and lines[1] not in (b"", b"0"):
        size = lines[1][:20].decode("ascii", "replace")
        raise StoreRefused(
            f"{public_checkpoint} shows a published log of size {size} "
            "but log.head is missing: restore log.head and petitions.db from a backup; the server "
            "will not start a second log under the same key"
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
            f"{database_path} and log.head disagree: at size {head.tree_size} the database's "
            f"root is not the one in log.head ({head.describe()}): one of them was replaced "
            "(restore both from the same backup) or another server signs with this log key "
            "(stop it); the server will not continue a log that differs from the one its key "
            "has signed"
        )


def _no_log(database_path: Path, what: str, head: SignedHead) -> str:
    return (
        f"{database_path} {what} but log.key has signed a checkpoint of {head.describe()}: restore "
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
