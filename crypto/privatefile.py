"""Owner-only files for secrets: atomic, durable writes and permission-checked reads.

Keystores and the log's signing key live in small files that must
never be readable by another user, never be left half-written by a crash, and never be read
through a FIFO or a swapped file. The mechanics are the same for all of them, so they live here
once; each caller passes the exception class and the noun ("keystore", "key file") that its
messages use.

Every operating-system error is raised as that exception class, naming the path, with the
:class:`OSError` as ``__cause__``, so that callers handle one family of exceptions.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets as _random
import stat
from pathlib import Path

from crypto.errors import SealedPetitionError

__all__ = ["read_private_file", "write_private_file"]


def write_private_file(
    path: Path,
    data: bytes,
    *,
    overwrite: bool,
    error: type[SealedPetitionError],
    what: str,
) -> None:
    """Write ``data`` to ``path`` atomically, readable only by the owner.

    Why each step:

    * the data goes to a new temporary file in the same directory (so that :func:`os.replace`
      is a rename within one file system, which is atomic), created with ``O_EXCL`` and mode
      0o600 so that no other user can open it even for an instant, and never through a symlink;
    * it is flushed and fsync'ed before the rename and the directory is fsync'ed after it, so a
      crash leaves either the old file or the complete new one, never a truncated file that
      would lose the only copy of a private key;
    * on any failure the temporary file is removed, so no stray copy is left behind.

    An existing ``path`` (even a dangling symlink) is refused unless ``overwrite`` is true. The
    check runs first and again just before the rename; a file created in between by another
    process of the same user could still be replaced, an accepted limit (``os.replace`` has no
    "do not clobber" mode).
    """
    path = Path(path)
    if not overwrite:
        _refuse_existing(path, error, what)
    directory = path.parent
    temporary = directory / f".{path.name}.{_random.token_hex(8)}.tmp"
    flags = (
        os.O_WRONLY
        | os.O_CREAT
        | os.O_EXCL
        | getattr(os, "O_NOFOLLOW", 0)
        | getattr(os, "O_CLOEXEC", 0)
        | getattr(os, "O_BINARY", 0)
    )
    try:
        fd = os.open(temporary, flags, 0o600)
    except FileNotFoundError:
        # A missing folder is named, not created: a mistyped path must not grow a new tree.
        raise error(
            f"the folder {directory} does not exist; create it first, or write the {what} "
            "file elsewhere"
        ) from None
    except OSError as exc:
        raise error(f"cannot create a temporary file in {directory}: {_describe(exc)}") from exc
    try:
        try:
            with os.fdopen(fd, "wb") as stream:
                if hasattr(os, "fchmod"):
                    # The umask can only remove bits from 0o600; make the mode exact anyway.
                    os.fchmod(stream.fileno(), 0o600)
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
            if not overwrite:
                _refuse_existing(path, error, what)
            os.replace(temporary, path)
        except OSError as exc:
            raise error(f"cannot write {what} file {path}: {_describe(exc)}") from exc
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _fsync_directory(directory, path, error, what)


def read_private_file(
    path: Path,
    *,
    limit: int,
    error: type[SealedPetitionError],
    what: str,
) -> bytes:
    """Read a whole owner-only file of at most ``limit`` bytes.

    On POSIX systems a file that group or others can access in any way (``mode & 0o077``) is
    refused, as ssh refuses such private keys: a readable file invites theft or offline
    guessing, a writable one invites substitution, and either usually means the file was copied
    carelessly. The check is made on the opened descriptor, so the file cannot be swapped
    between the check and the read. Symlinks are followed, as ssh does; the target's mode is
    what is checked. A FIFO planted at the path fails the regular-file check instead of
    blocking, and files larger than ``limit`` are refused before they are read into memory.
    """
    path = Path(path)
    flags = (
        os.O_RDONLY
        | getattr(os, "O_NONBLOCK", 0)
        | getattr(os, "O_CLOEXEC", 0)
        | getattr(os, "O_BINARY", 0)
    )
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise error(f"{what} file not found: {path}") from None
    except OSError as exc:
        raise error(f"cannot open {what} file {path}: {_describe(exc)}") from exc
    try:
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise error(f"{what} path {path} is not a regular file")
            mode = stat.S_IMODE(info.st_mode)
            if os.name == "posix" and mode & 0o077:
                raise error(
                    f"{what} file {path} is accessible by other users (mode {mode:04o}); "
                    f"run `chmod 600 {path}`"
                )
            if info.st_size > limit:
                raise error(f"{what} file {path} is larger than {limit} bytes")
            data = _read_at_most(fd, limit + 1)
        finally:
            os.close(fd)
    except OSError as exc:
        raise error(f"cannot read {what} file {path}: {_describe(exc)}") from exc
    if len(data) > limit:  # the file grew after fstat
        raise error(f"{what} file {path} is larger than {limit} bytes")
    return data


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    remaining = limit
    while remaining > 0:
        chunk = os.read(fd, min(remaining, 65536))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _refuse_existing(path: Path, error: type[SealedPetitionError], what: str) -> None:
    if os.path.lexists(path):
        raise error(f"{what} file {path} already exists; refusing to replace it without overwrite")


def _fsync_directory(
    directory: Path, path: Path, error: type[SealedPetitionError], what: str
) -> None:
    """Make the rename durable. POSIX only: Windows cannot open a directory this way."""
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:
        raise error(
            f"{what} written to {path}, but its directory could not be synced: {_describe(exc)}"
        ) from exc
    try:
        os.fsync(fd)
    except OSError as exc:
        # Some file systems cannot fsync a directory at all; the rename is still done.
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise error(
                f"{what} written to {path}, but its directory could not be synced: {_describe(exc)}"
            ) from exc
    finally:
        os.close(fd)


def _describe(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__
