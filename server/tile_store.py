"""The static log: hash tiles and entry bundles (c2sp.org/tlog-tiles), and where they are kept.

After every commit the integrator publishes first the tiles the new size added or completed,
then the checkpoint that needs them. :class:`TileStore` decides which files to write;
a :class:`TileFiles` keeps them. With SQLCipher that is :class:`DirectoryLogFiles`,
``DATA/public/log/``, which any web server or CDN can serve as it is (docs/operations.md) and
``petition serve`` serves at ``/log/`` itself; with PostgreSQL it is
:class:`server.postgres.PostgresLogFiles`, the ``log_files`` table every front end reads.

* Every file is replaced atomically (in a directory: written to a temporary name and renamed),
  so a reader sees the old file or the new one, never half of one. Full tiles are written once
  and never again.
* Tiles are derived data: the store (``log_nodes``, ``log_leaves``) is the record, and
  :meth:`TileStore.repair` rewrites whatever is missing at start. So tiles are not fsynced.
* A partial tile is kept until its full tile exists (clients holding an older checkpoint may
  still ask for it), then removed with the others of its tile.
* No file says when it was written: in a directory every file and directory gets the
  modification time of the day's midnight (UTC), as the store keeps days and never times. What
  the file system still knows (the inode change time of the newest partial tiles) dates a batch
  at most, which is what ``--batch-interval`` is for (docs/threat-model.md T-DET-5).
"""

from __future__ import annotations

import calendar
import os
import shutil
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import date
from pathlib import Path, PurePosixPath
from typing import Protocol

from crypto.merkle import HASH_SIZE
from crypto.tiles import (
    TILE_WIDTH,
    EntryBundle,
    Tile,
    changed_bundles,
    changed_tiles,
    encode_bundle,
    tile_hash_positions,
    tiles_for_size,
)
from server.errors import StorageError

CHECKPOINT_FILE = "checkpoint"
_TEMPORARY_PREFIX = ".tmp-"
#: The largest file under /log/: a full entry bundle of 256 entries of at most 64 KiB each.
MAX_STATIC_FILE = 256 * (2 + 65535)

#: node(merkle level, position) -> the stored hash of that complete subtree.
NodeReader = Callable[[int, int], bytes]
#: leaves(start, end) -> the stored leaves in [start, end).
LeafReader = Callable[[int, int], list[bytes]]


class TileFiles(Protocol):
    """Where the static log's tiles and entry bundles are kept.

    ``path`` is always a tile or bundle path relative to the log's root, exactly as
    :meth:`crypto.tiles.Tile.path` and :meth:`crypto.tiles.EntryBundle.path` spell it
    (``tile/0/000``, ``tile/entries/000.p/5``). Failures raise :class:`StorageError`.
    """

    def exists(self, path: str) -> bool:
        """Whether the file at ``path`` exists."""
        ...

    def write(self, path: str, content: bytes, day: date) -> None:
        """Create or replace the file at ``path`` atomically, dated ``day`` if files are dated."""
        ...

    def remove_partials(self, path: str, day: date) -> None:
        """Remove every partial width of the full tile at ``path`` (``path + ".p/…"``)."""
        ...

    def read(self, path: str) -> bytes | None:
        """The file at ``path`` (at most ``MAX_STATIC_FILE + 1`` bytes), or None if absent."""
        ...

    def batch(self) -> AbstractContextManager[None]:
        """Group one publication's writes (one transaction on PostgreSQL; nothing for files)."""
        ...


def _midnight(day: date) -> int:
    return calendar.timegm(day.timetuple())


class DirectoryLogFiles:
    """The static log as files below ``root`` (``DATA/public/log/``), checkpoint included."""

    def __init__(self, root: Path) -> None:
        self.root = root

    # --- tiles (TileFiles) -----------------------------------------------------------------

    def batch(self) -> AbstractContextManager[None]:
        return nullcontext()  # each file is renamed into place on its own

    def exists(self, path: str) -> bool:
        return self._file(path).is_file()

    def write(self, path: str, content: bytes, day: date) -> None:
        self._write(self._file(path), content, day)

    def remove_partials(self, path: str, day: date) -> None:
        file = self._file(path)
        partials = file.with_name(file.name + ".p")
        if not partials.is_dir():
            return
        shutil.rmtree(partials, ignore_errors=True)
        try:
            self._stamp(file.parent, day)
        except OSError as exc:
            raise StorageError(f"cannot date {file.parent}: {exc.strerror}") from exc

    def read(self, path: str) -> bytes | None:
        file = self._file(path)
        try:
            with open(file, "rb") as handle:
                return handle.read(MAX_STATIC_FILE + 1)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except OSError as exc:
            raise StorageError(f"cannot read {file}: {exc.strerror}") from exc

    # --- the checkpoint (directory only: PostgreSQL publishes it with the log head) ---------

    @property
    def checkpoint_path(self) -> Path:
        return self.root / CHECKPOINT_FILE

    def read_checkpoint(self) -> bytes | None:
        try:
            return self.checkpoint_path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"cannot read {self.checkpoint_path}: {exc.strerror}") from exc

    def write_checkpoint(self, checkpoint_note: bytes, day: date) -> None:
        """Replace ``checkpoint``; call after :meth:`TileStore.publish`, so it never names a
        missing tile."""
        self._write(self.checkpoint_path, checkpoint_note, day)

    # --- files -----------------------------------------------------------------------------

    def _file(self, path: str) -> Path:
        """``root / path`` for a relative POSIX path that stays below the root."""
        relative = PurePosixPath(path)
        if relative.is_absolute() or not relative.parts or ".." in relative.parts:
            raise ValueError(f"{path!r} is not a path below the log's root")
        return self.root.joinpath(*relative.parts)

    def _write(self, path: Path, content: bytes, day: date) -> None:
        directory = path.parent
        try:
            created = self._make_directories(directory)
            temporary = directory / f"{_TEMPORARY_PREFIX}{path.name}"
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(content)
            os.chmod(temporary, 0o644)  # public, whatever the process's umask
            self._stamp(temporary, day)
            os.replace(temporary, path)
            self._stamp(directory, day)
            for made in created:
                if made.parent != self.root and self.root not in made.parent.parents:
                    continue  # never re-date the data directory (or anything above the log)
                self._stamp(made.parent, day)
        except OSError as exc:
            raise StorageError(f"cannot write {path}: {exc.strerror}") from exc

    @staticmethod
    def _make_directories(directory: Path) -> list[Path]:
        """Create ``directory`` and its missing parents (0755: the static log is public)."""
        missing: list[Path] = []
        current = directory
        while not current.is_dir():
            missing.append(current)
            current = current.parent
        for path in reversed(missing):
            path.mkdir(exist_ok=True)
            os.chmod(path, 0o755)  # noqa: S103  (the static log is public by design)
        return missing

    @staticmethod
    def _stamp(path: Path, day: date) -> None:
        moment = _midnight(day)
        os.utime(path, (moment, moment))


class TileStore:
    """Writes the tiles and entry bundles of one log into its :class:`TileFiles`."""

    def __init__(self, files: TileFiles) -> None:
        self.files = files
        # The partial tiles and bundle written last, by position: a batch adds a few entries,
        # so only those are read from the store, not the whole right edge again. Committed
        # leaves and nodes never change, so what is kept here never goes stale.
        self._partial_tiles: dict[tuple[int, int], bytes] = {}
        self._partial_bundles: dict[int, tuple[int, bytes]] = {}

    def publish(
        self,
        old_size: int,
        new_size: int,
        node: NodeReader,
        leaves: LeafReader,
        day: date,
    ) -> None:
        """Write every tile and entry bundle that growing from ``old_size`` changed."""
        with self.files.batch():
            for tile in changed_tiles(old_size, new_size):
                self._write_tile(tile, node, day)
            for bundle in changed_bundles(old_size, new_size):
                self._write_bundle(bundle, leaves, day)

    def repair(self, size: int, node: NodeReader, leaves: LeafReader, day: date) -> int:
        """Write every tile of a log of ``size`` that is missing; return how many were written.

        Partial tiles of ``size`` are always rewritten (a crash may have left an older width
        behind); full tiles only when absent.
        """
        written = 0
        for tile in tiles_for_size(size):
            if tile.width < TILE_WIDTH or not self.files.exists(tile.path()):
                self._write_tile(tile, node, day)
                written += 1
        for bundle_tile in tiles_for_size(size):
            if bundle_tile.level != 0:
                continue
            bundle = EntryBundle(bundle_tile.index, bundle_tile.width)
            if bundle.width < TILE_WIDTH or not self.files.exists(bundle.path()):
                self._write_bundle(bundle, leaves, day)
                written += 1
        return written

    # --- tiles -----------------------------------------------------------------------------

    def _write_tile(self, tile: Tile, node: NodeReader, day: date) -> None:
        level, first, count = tile_hash_positions(tile)
        key = (tile.level, tile.index)
        known = self._partial_tiles.get(key, b"")
        have = len(known) // HASH_SIZE
        if have > count:
            known, have = b"", 0
        content = known + b"".join(
            node(level, position) for position in range(first + have, first + count)
        )
        self._write_immutable(tile.path(), content, tile.width, day)
        if tile.width == TILE_WIDTH:
            self._partial_tiles.pop(key, None)
        else:
            self._partial_tiles[key] = content

    def _write_bundle(self, bundle: EntryBundle, leaves: LeafReader, day: date) -> None:
        start = bundle.index * TILE_WIDTH
        have, known = self._partial_bundles.get(bundle.index, (0, b""))
        if have > bundle.width:
            have, known = 0, b""
        content = known
        if have < bundle.width:
            entries = leaves(start + have, start + bundle.width)
            if len(entries) != bundle.width - have:
                raise StorageError(
                    f"the log is missing entries {start + have}…{start + bundle.width - 1}"
                )
            # A bundle is its entries' length-prefixed encodings one after the other, so the
            # new entries' encoding extends the one already written.
            content = known + encode_bundle(entries)
        self._write_immutable(bundle.path(), content, bundle.width, day)
        if bundle.width == TILE_WIDTH:
            self._partial_bundles.pop(bundle.index, None)
        else:
            self._partial_bundles[bundle.index] = (bundle.width, content)

    def _write_immutable(self, path: str, content: bytes, width: int, day: date) -> None:
        if width == TILE_WIDTH:
            if self.files.exists(path):
                return  # full tiles are never rewritten
            self.files.write(path, content, day)
            # The partial widths of this tile are superseded: clients fall back to the full one.
            self.files.remove_partials(path, day)
            return
        self.files.write(path, content, day)
