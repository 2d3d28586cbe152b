"""Reading the log the store publishes, for the store audit, before its snapshot is taken.

The writer writes ``log.head`` (the last checkpoint the log key signed), the tiles and entry
bundles of ``public/log`` and then ``public/log/checkpoint`` after each commit. The audit reads
them here, before it opens its one read transaction on the database (:mod:`server.store_audit`
says why in that order), and keeps what it needs to compare: the checkpoint's and the head's
bytes, and each published file as its length, digest and whether it is dated midnight UTC.
Symbolic links are never followed. :class:`LogPlaces` says how the findings name these places,
files of the data directory or (PostgreSQL) rows of the database.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from crypto import tiles
from crypto.errors import MalformedInput, SealedPetitionError
from crypto.privatefile import read_private_file
from server import store_guard
from server.audit_findings import show_file
from server.datadir import DataDirectory
from server.errors import StorageError

#: The published checkpoint, below ``public/log``: a note of a few hundred bytes per signature.
CHECKPOINT_FILE = "checkpoint"
MAX_CHECKPOINT_FILE = 64 * 1024
#: How server/tile_store.py names a file while writing it, before renaming it into place.
TEMPORARY_PREFIX = ".tmp-"
_DAY_NS = 86_400 * 1_000_000_000


def read_kept_head(data: DataDirectory) -> bytes | SealedPetitionError | None:
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
class PublishedFile:
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
class PublishedLog:
    """``public/log``: whether it exists, the checkpoint's bytes and every file found in it."""

    exists: bool
    checkpoint: bytes | SealedPetitionError | None
    files: tuple[PublishedFile, ...] = ()
    problem: str | None = None  # of public/ or public/log itself: a symbolic link, not a folder


@dataclass(frozen=True)
class LogPlaces:
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
            return f"the {self.files} row {show_file(relative)}"
        return show_file(f"{self.files}/{relative}")


FILE_PLACES = LogPlaces()
DATABASE_PLACES = LogPlaces(
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


def read_published_checkpoint(data: DataDirectory) -> bytes | SealedPetitionError | None:
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


def read_published_log(
    data: DataDirectory, checkpoint: bytes | SealedPetitionError | None
) -> PublishedLog:
    """List and digest every file below ``public/log``, following no symbolic link."""
    root = data.public_log_dir
    problem = _published_root_problem(data)
    if problem is not None:
        return PublishedLog(exists=True, checkpoint=None, problem=problem)
    if not root.exists():
        return PublishedLog(exists=False, checkpoint=checkpoint)
    files: list[PublishedFile] = []
    for directory, subdirectories, names in os.walk(root):
        here = Path(directory)
        subdirectories.sort()
        for name in subdirectories:
            if (here / name).is_symlink():  # listed, never entered
                relative = (here / name).relative_to(root).as_posix()
                files.append(PublishedFile(relative, problem="is a symbolic link"))
        for name in sorted(names):
            files.append(_read_published_file(here / name, (here / name).relative_to(root)))
    return PublishedLog(exists=True, checkpoint=checkpoint, files=tuple(files))


def _read_published_file(path: Path, relative: Path) -> PublishedFile:
    name = relative.as_posix()
    try:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            return PublishedFile(name, problem="is a symbolic link")
        if not stat.S_ISREG(info.st_mode):
            return PublishedFile(name, problem="is not a regular file")
        content = path.read_bytes()
    except FileNotFoundError:
        return PublishedFile(name, vanished=True)
    except OSError:
        return PublishedFile(name, problem="cannot be read")
    return PublishedFile(
        name,
        length=len(content),
        digest=hashlib.sha256(content).digest(),
        midnight=info.st_mtime_ns % _DAY_NS == 0,
    )
