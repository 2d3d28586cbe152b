"""The static log on disk: the checkpoint, hash tiles and entry bundles (c2sp.org/tlog-tiles).

The writer publishes into ``DATA/public/log/`` after every commit, before anyone is answered:
first the tiles the new size added or completed, then the checkpoint that needs them. Any web
server or CDN can serve the directory as it is (docs/operations.md), and ``petition serve``
serves it at ``/log/`` itself.

* Every file is written to a temporary name in its directory and renamed, so a reader sees the
  old file or the new one, never half of one. Full tiles are written once and never again.
* Tiles are derived data: the store (``log_nodes``, ``log_leaves``) is the record, and
  :meth:`TileStore.repair` rewrites whatever is missing at start. So tiles are not fsynced.
* A partial tile is kept until its full tile exists (clients holding an older checkpoint may
  still ask for it), then removed with the others of its tile.
* No file says when it was written: every file and directory gets the modification time of the
  day's midnight (UTC), as the store keeps days and never times. What the file system still
  knows (the inode change time of the newest partial tiles) dates a batch at most, which is
  what ``--batch-interval`` is for (docs/threat-model.md T-DET-5).
"""

from __future__ import annotations

import calendar
import os
import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path

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

#: node(merkle level, position) -> the stored hash of that complete subtree.
NodeReader = Callable[[int, int], bytes]
#: leaves(start, end) -> the stored leaves in [start, end).
LeafReader = Callable[[int, int], list[bytes]]


def _midnight(day: date) -> int:
    return calendar.timegm(day.timetuple())


class TileStore:
    """The public log directory of one data directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # The partial tiles and bundle written last, by position: a batch adds a few entries,
        # so only those are read from the store, not the whole right edge again. Committed
        # leaves and nodes never change, so what is kept here never goes stale.
        self._partial_tiles: dict[tuple[int, int], bytes] = {}
        self._partial_bundles: dict[int, tuple[int, bytes]] = {}

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

    def publish(
        self,
        old_size: int,
        new_size: int,
        node: NodeReader,
        leaves: LeafReader,
        day: date,
    ) -> None:
        """Write every tile and entry bundle that growing from ``old_size`` changed."""
        for tile in changed_tiles(old_size, new_size):
            self._write_tile(tile, node, day)
        for bundle in changed_bundles(old_size, new_size):
            self._write_bundle(bundle, leaves, day)

    def write_checkpoint(self, checkpoint_note: bytes, day: date) -> None:
        """Replace ``checkpoint``; call after :meth:`publish`, so it never names a missing tile."""
        self._write(self.checkpoint_path, checkpoint_note, day)

    def repair(self, size: int, node: NodeReader, leaves: LeafReader, day: date) -> int:
        """Write every tile of a log of ``size`` that is missing; return how many were written.

        Partial tiles of ``size`` are always rewritten (a crash may have left an older width
        behind); full tiles only when absent.
        """
        written = 0
        for tile in tiles_for_size(size):
            path = self.root / tile.path()
            if tile.width < TILE_WIDTH or not path.is_file():
                self._write_tile(tile, node, day)
                written += 1
        for bundle_tile in tiles_for_size(size):
            if bundle_tile.level != 0:
                continue
            bundle = EntryBundle(bundle_tile.index, bundle_tile.width)
            path = self.root / bundle.path()
            if bundle.width < TILE_WIDTH or not path.is_file():
                self._write_bundle(bundle, leaves, day)
                written += 1
        return written

    # --- files ----------------------------------------------------------------------------

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
        self._write_immutable(self.root / tile.path(), content, tile.width, day)
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
        self._write_immutable(self.root / bundle.path(), content, bundle.width, day)
        if bundle.width == TILE_WIDTH:
            self._partial_bundles.pop(bundle.index, None)
        else:
            self._partial_bundles[bundle.index] = (bundle.width, content)

    def _write_immutable(self, path: Path, content: bytes, width: int, day: date) -> None:
        if width == TILE_WIDTH:
            if path.is_file():
                return  # full tiles are never rewritten
            self._write(path, content, day)
            # The partial widths of this tile are superseded: clients fall back to the full one.
            partials = path.with_name(path.name + ".p")
            if partials.is_dir():
                shutil.rmtree(partials, ignore_errors=True)
                self._stamp(path.parent, day)
            return
        self._write(path, content, day)

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

    def _make_directories(self, directory: Path) -> list[Path]:
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
