"""A witness's directory and its state: the trusted logs and the latest checkpoint of each.

Layout (the directory 0700, the key and the state 0600; FORMAT is public)::

    DIR/
      FORMAT          "sealed-petition-witness 1": marks a directory this program owns
      witness.key     the cosigner key, ``PRIVATE+KEY+<name>+<key id>+base64(0x04 || seed)``
      state.db        SQLite (+ -wal, -shm while running)

The state is plain SQLite, not SQLCipher: everything in it is public (log keys, log-signed
checkpoints), and a witness's worth is that anyone may compare it with what the log published.
It holds nothing about requests: no addresses, no user agents, no times. Not even the
timestamps of the cosignatures the witness returned: the stored note is the checkpoint as the
log signed it, and each answer's cosignature is made when it is sent (server/witness/app.py).

**Why one transaction per check-and-update.** tlog-witness names the race: request A (size N)
and request B (size N+K) are both checked against the same stored state, B is stored, then A
overwrites it and K leaves are rolled back. :meth:`WitnessStore.advance` reads the latest
checkpoint, lets the caller check the submission against it (and cosign it) and writes the new
one inside one ``BEGIN IMMEDIATE`` transaction: SQLite's write lock is taken before the read, so
a second request, in this process or another, waits and then sees the first one's result. The
cosignature leaves :meth:`~WitnessStore.advance` only after ``COMMIT`` has returned, so nothing
is vouched for that a crash could undo (``synchronous=FULL``: the commit is on disk when it
returns). Cosigning under the lock keeps its timestamp honest too: no larger checkpoint can be
stored between the moment it names and the moment the state it describes is committed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from crypto import note
from crypto.cosignature import CosignatureVerifier, Cosigner
from crypto.errors import MalformedInput
from crypto.privatefile import read_private_file, write_private_file
from server.errors import DataDirectoryError, ServerError, StorageError

T = TypeVar("T")

FORMAT_MARKER = "sealed-petition-witness 1\n"
SCHEMA_VERSION = 1
MAX_KEY_FILE_BYTES = 1024
#: Seconds a request waits for another one's transaction before giving up (it is microseconds
#: of work; only a stuck disk makes this matter).
BUSY_TIMEOUT_SECONDS = 10.0

_SCHEMA = """
CREATE TABLE logs (
    origin TEXT NOT NULL,          -- the checkpoint origin, which is the log key's name
    vkey   TEXT NOT NULL,          -- signed-note verifier key, type 0x01
    PRIMARY KEY (origin, vkey)
);
CREATE TABLE latest (
    origin     TEXT PRIMARY KEY,   -- one row per log this witness has cosigned
    origin_sha256 TEXT NOT NULL UNIQUE,  -- hex: the monitoring URL names the log by it
    size       INTEGER NOT NULL,
    root       BLOB NOT NULL,
    checkpoint BLOB NOT NULL       -- the note: text and the log signatures that verified
);
"""


class AlreadyTrusted(ServerError):
    """``petition witness add-log`` with a key the witness trusts already."""

    code = "already_trusted"


@dataclass(frozen=True)
class Latest:
    """The latest checkpoint cosigned for one log: what every later submission must extend."""

    size: int
    root: bytes
    checkpoint: bytes


@dataclass(frozen=True)
class TrustedLog:
    origin: str
    verifiers: tuple[note.Verifier, ...]
    latest_size: int | None


class WitnessStore:
    """The SQLite state file. One short-lived connection per operation.

    A connection per call rather than per thread: the store is used from gunicorn's threads and
    from the command line, opening SQLite costs well under a millisecond, and no connection can
    then be carried across a fork or shared between threads by mistake.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path).resolve()

    @classmethod
    def create(cls, path: Path) -> WitnessStore:
        store = cls(path)
        try:
            connection = sqlite3.connect(path, isolation_level=None)
            try:
                connection.execute("PRAGMA journal_mode=WAL")  # persistent: set once, here
                connection.executescript(
                    f"BEGIN IMMEDIATE; {_SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
                )
            finally:
                connection.close()
        except sqlite3.Error as exc:
            raise StorageError(f"cannot create the witness state {path}: {exc}") from exc
        return store

    @contextlib.contextmanager
    def _transaction(self, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        """One transaction; ``write``: ``BEGIN IMMEDIATE``, the write lock held from the first
        read. Never creates the file: a missing state is an error, not a fresh witness."""
        try:
            connection = sqlite3.connect(
                f"{self.path.as_uri()}?mode=rw",
                uri=True,
                isolation_level=None,
                timeout=BUSY_TIMEOUT_SECONDS,
            )
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the witness state {self.path}: {exc}") from exc
        try:
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield connection
            except BaseException:
                connection.rollback()
                raise
            connection.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StorageError(f"the witness state {self.path} cannot be used: {exc}") from exc
        finally:
            connection.close()

    def check(self) -> None:
        """Refuse a state file of another version (or not a state file at all)."""
        with self._transaction() as connection:
            (version,) = connection.execute("PRAGMA user_version").fetchone()
        if version != SCHEMA_VERSION:
            raise StorageError(
                f"the witness state {self.path} has schema version {version}, "
                f"expected {SCHEMA_VERSION}"
            )

    # --- logs -------------------------------------------------------------------------------

    def add_log(self, verifier: note.Verifier) -> None:
        """Trust ``verifier`` for the checkpoints whose origin is its name."""
        vkey = verifier.to_vkey()
        with self._transaction(write=True) as connection:
            known = connection.execute(
                "SELECT 1 FROM logs WHERE origin = ? AND vkey = ?", (verifier.name, vkey)
            ).fetchone()
            if known is not None:
                raise AlreadyTrusted(f"the log key {vkey} is trusted already")
            connection.execute(
                "INSERT INTO logs (origin, vkey) VALUES (?, ?)", (verifier.name, vkey)
            )

    def verifiers(self, origin: str) -> tuple[note.Verifier, ...]:
        """The keys trusted for ``origin`` (empty: the witness does not know this log)."""
        with self._transaction() as connection:
            rows = connection.execute(
                "SELECT vkey FROM logs WHERE origin = ? ORDER BY vkey", (origin,)
            ).fetchall()
        return tuple(_verifier(vkey) for (vkey,) in rows)

    def logs(self) -> list[TrustedLog]:
        with self._transaction() as connection:
            keys = connection.execute("SELECT origin, vkey FROM logs ORDER BY origin, vkey")
            by_origin: dict[str, list[note.Verifier]] = {}
            for origin, vkey in keys.fetchall():
                by_origin.setdefault(origin, []).append(_verifier(vkey))
            sizes = dict(connection.execute("SELECT origin, size FROM latest").fetchall())
        return [
            TrustedLog(origin, tuple(verifiers), sizes.get(origin))
            for origin, verifiers in by_origin.items()
        ]

    # --- the latest checkpoint ----------------------------------------------------------------

    def latest(self, origin: str) -> Latest | None:
        with self._transaction() as connection:
            return _read_latest(connection, "origin", origin)

    def advance(self, origin: str, decide: Callable[[Latest | None], tuple[Latest | None, T]]) -> T:
        """Check a submission against the latest checkpoint and store its successor, atomically.

        ``decide`` gets the latest checkpoint (``None`` before the first) while the write lock is
        held, and returns the checkpoint to store instead (``None``: keep the latest as it is)
        and its answer. To refuse, it raises, and nothing is written. The answer is returned
        only once the new state is committed and durable.
        """
        with self._transaction(write=True) as connection:
            new, answer = decide(_read_latest(connection, "origin", origin))
            if new is not None:
                connection.execute(
                    "INSERT INTO latest (origin, origin_sha256, size, root, checkpoint) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (origin) DO UPDATE SET "
                    "size = excluded.size, root = excluded.root, checkpoint = excluded.checkpoint",
                    (origin, origin_sha256(origin), new.size, new.root, new.checkpoint),
                )
        return answer

    def read_latest(self, origin_hash: str, use: Callable[[Latest], T]) -> T | None:
        """``use`` the latest checkpoint of the log whose origin hashes to ``origin_hash`` (hex).

        Under the write lock, like :meth:`advance`: whatever ``use`` states about the latest
        checkpoint (a cosignature saying "as of now, this is the largest tree") stays true
        until it returns, because no submission can be stored meanwhile.
        """
        with self._transaction(write=True) as connection:
            latest = _read_latest(connection, "origin_sha256", origin_hash)
            return None if latest is None else use(latest)


def origin_sha256(origin: str) -> str:
    """How tlog-witness names a log in a URL: SHA-256 of its origin, lower-case hex."""
    return hashlib.sha256(origin.encode("utf-8")).hexdigest()


def _read_latest(connection: sqlite3.Connection, column: str, value: str) -> Latest | None:
    row = connection.execute(
        f"SELECT size, root, checkpoint FROM latest WHERE {column} = ?",  # noqa: S608  (a name of ours)
        (value,),
    ).fetchone()
    if row is None:
        return None
    size, root, checkpoint = row
    return Latest(int(size), bytes(root), bytes(checkpoint))


def _verifier(vkey: str) -> note.Verifier:
    try:
        return note.Verifier.from_vkey(vkey)
    except MalformedInput as exc:
        raise StorageError(f"the witness state holds an unusable log key: {exc.message}") from exc


class WitnessDirectory:
    """Paths inside one witness directory; creating it, opening it, and reading its key."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path).resolve()

    @property
    def marker_path(self) -> Path:
        return self.path / "FORMAT"

    @property
    def key_path(self) -> Path:
        return self.path / "witness.key"

    @property
    def state_path(self) -> Path:
        return self.path / "state.db"

    @classmethod
    def create(cls, path: Path, name: str) -> WitnessDirectory:
        """A new witness named ``name``: directory, cosigner key and empty state.

        An existing witness is refused (its key is its identity: replacing it would silently
        make a new witness), and so is any non-empty directory, so that a mistyped path does not
        scatter files among someone else's.
        """
        directory = cls(path)
        cosigner = Cosigner.generate(name)  # checks the name before anything is created
        if directory.marker_path.exists():
            raise DataDirectoryError(f"{directory.path} is a witness directory already")
        if directory.path.exists() and (
            not directory.path.is_dir() or any(directory.path.iterdir())
        ):
            raise DataDirectoryError(
                f"{directory.path} exists and is not empty; choose an empty or new directory"
            )
        try:
            directory.path.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(directory.path, 0o700)
        except OSError as exc:
            raise DataDirectoryError(f"cannot create {directory.path}: {exc.strerror}") from exc
        write_private_file(
            directory.key_path,
            (cosigner.to_skey() + "\n").encode("ascii"),
            overwrite=False,
            error=DataDirectoryError,
            what="witness key",
        )
        previous = os.umask(0o077)  # the state and its WAL: owner-writable only
        try:
            WitnessStore.create(directory.state_path)
        finally:
            os.umask(previous)
        # The marker goes last: a directory without it is an interrupted `witness init`.
        try:
            directory.marker_path.write_text(FORMAT_MARKER, encoding="ascii")
        except OSError as exc:
            raise DataDirectoryError(f"cannot write {directory.marker_path}: {exc}") from exc
        return directory

    @classmethod
    def open(cls, path: Path) -> WitnessDirectory:
        directory = cls(path)
        try:
            marker = directory.marker_path.read_text(encoding="ascii")
        except FileNotFoundError:
            raise DataDirectoryError(
                f"{directory.path} is not a witness directory (create one with "
                "`petition witness init`)"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise DataDirectoryError(f"cannot read {directory.marker_path}") from exc
        if marker != FORMAT_MARKER:
            raise DataDirectoryError(
                f"{directory.path} is not a witness directory of this version "
                f"(FORMAT is {marker[:40]!r})"
            )
        directory.store().check()
        return directory

    def store(self) -> WitnessStore:
        return WitnessStore(self.state_path)

    def cosigner(self) -> Cosigner:
        raw = read_private_file(
            self.key_path, limit=MAX_KEY_FILE_BYTES, error=DataDirectoryError, what="witness key"
        )
        try:
            text = raw.decode("ascii")
            if not text.endswith("\n") or "\n" in text[:-1]:
                raise MalformedInput("a witness key file is one line")
            return Cosigner.from_skey(text[:-1])
        except (UnicodeDecodeError, MalformedInput) as exc:
            detail = exc.message if isinstance(exc, MalformedInput) else "it is not ASCII"
            raise DataDirectoryError(
                f"the witness key {self.key_path} is unusable: {detail}"
            ) from None

    def verifier(self) -> CosignatureVerifier:
        return self.cosigner().verifier()
