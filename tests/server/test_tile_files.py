"""The static log's writer without a server: :class:`TileStore` over any :class:`TileFiles`.

:class:`DirectoryLogFiles` must keep the promises the directory always kept (atomic
replacement, public modes, every date the day's midnight, nothing above the log re-dated);
:class:`TileStore` must write the same files whatever keeps them, and exactly the files of
c2sp.org/tlog-tiles (checked against the naive reference :func:`crypto.tiles.build_tiles`).
"""

from __future__ import annotations

import builtins
import calendar
import contextlib
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest

from crypto.merkle import LeafHashList, leaf_hash
from crypto.tiles import TILE_WIDTH, build_tiles
from server import tile_store
from server.errors import StorageError
from server.tile_store import (
    CHECKPOINT_FILE,
    MAX_STATIC_FILE,
    DirectoryLogFiles,
    TileFiles,
    TileStore,
)

DAY = date(2024, 3, 1)
MIDNIGHT = calendar.timegm(DAY.timetuple())
OTHER_DAY = date(2024, 3, 2)
#: A size path that crosses full level-0 tiles and grows a level-1 partial tile.
SIZES = [0, 1, 5, 255, 256, 257, 300, 511, 512, 700]


class MemoryFiles:
    """A :class:`TileFiles` in a dict, recording what was asked of it."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.writes: list[str] = []
        self.removed: list[str] = []
        self.batches = 0

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        self.batches += 1
        yield

    def exists(self, path: str) -> bool:
        return path in self.files

    def write(self, path: str, content: bytes, day: date) -> None:
        self.files[path] = content
        self.writes.append(path)

    def remove_partials(self, path: str, day: date) -> None:
        self.removed.append(path)
        for name in [name for name in self.files if name.startswith(path + ".p/")]:
            del self.files[name]

    def read(self, path: str) -> bytes | None:
        return self.files.get(path)


class Log:
    """Node and leaf readers over generated leaves, refusing anything beyond ``size``
    (as the store refuses what is not committed)."""

    def __init__(self, count: int) -> None:
        self.entries = [f"entry {n}".encode() * (1 + n % 7) for n in range(count)]
        self.tree = LeafHashList([leaf_hash(entry) for entry in self.entries])
        self.size = 0
        self.node_calls: list[tuple[int, int]] = []
        self.leaf_calls: list[tuple[int, int]] = []

    def node(self, level: int, position: int) -> bytes:
        start, end = position << level, (position + 1) << level
        assert end <= self.size, (level, position, self.size)
        self.node_calls.append((level, position))
        return self.tree.subtree_root(start, end)

    def leaves(self, start: int, end: int) -> list[bytes]:
        assert end <= self.size, (start, end, self.size)
        self.leaf_calls.append((start, end))
        return self.entries[start:end]

    def publish(self, store: TileStore, size: int) -> None:
        old, self.size = self.size, size
        store.publish(old, size, self.node, self.leaves, DAY)


def _expected(log: Log, sizes: list[int]) -> dict[str, bytes]:
    """What a store that published ``sizes`` in turn holds: every tile of every size, less the
    partial tiles whose full tile exists."""
    files: dict[str, bytes] = {}
    for size in sizes:
        files.update(build_tiles(log.entries[:size]))
    return {
        path: content
        for path, content in files.items()
        if ".p/" not in path or path.split(".p/")[0] not in files
    }


def _directory_files(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file() and path.name != CHECKPOINT_FILE
    }


@contextmanager
def _umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


# --- DirectoryLogFiles ---------------------------------------------------------------------


def test_a_directory_write_is_public_and_dated_midnight(tmp_path: Path) -> None:
    root = tmp_path / "data" / "public" / "log"
    files = DirectoryLogFiles(root)
    with _umask(0o077):
        files.write("tile/entries/x001/000.p/5", b"bundle", DAY)
    file = root / "tile" / "entries" / "x001" / "000.p" / "5"
    assert file.read_bytes() == b"bundle"
    for path in [root, *root.rglob("*")]:
        info = path.lstat()
        assert stat.S_IMODE(info.st_mode) == (0o755 if path.is_dir() else 0o644), path
        assert info.st_mtime_ns == MIDNIGHT * 1_000_000_000, path
    assert not [p for p in root.rglob("*") if p.name.startswith(".tmp")]
    # Nothing above the log's root is re-dated (the data directory keeps its own times).
    for above in [root.parent, root.parent.parent]:
        assert above.stat().st_mtime != MIDNIGHT, above
    os.utime(root.parent, (12345, 12345))
    files.write("tile/0/000.p/1", b"tile", DAY)
    assert root.parent.stat().st_mtime == 12345


def test_a_directory_write_replaces_atomically(tmp_path: Path) -> None:
    files = DirectoryLogFiles(tmp_path)
    files.write("tile/0/000.p/1", b"old", DAY)
    with open(tmp_path / "tile" / "0" / "000.p" / "1", "rb") as before:
        files.write("tile/0/000.p/1", b"new content", OTHER_DAY)
        # A reader holding the old file keeps it whole: the new one was renamed over it.
        assert before.read() == b"old"
    assert files.read("tile/0/000.p/1") == b"new content"
    assert files.exists("tile/0/000.p/1")
    assert not files.exists("tile/0/000.p")  # a directory is not a file
    assert os.listdir(tmp_path / "tile" / "0" / "000.p") == ["1"]
    moment = calendar.timegm(OTHER_DAY.timetuple())
    assert (tmp_path / "tile" / "0" / "000.p" / "1").stat().st_mtime == moment
    assert (tmp_path / "tile" / "0" / "000.p").stat().st_mtime == moment


def test_a_directory_write_that_fails_is_a_storage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    files = DirectoryLogFiles(tmp_path / "file" / "log")
    with pytest.raises(StorageError, match="cannot write"):
        files.write("tile/0/000", b"tile", DAY)


def test_remove_partials_removes_only_the_partial_widths(tmp_path: Path) -> None:
    files = DirectoryLogFiles(tmp_path)
    for path in ["tile/0/000.p/5", "tile/0/000.p/7", "tile/0/000", "tile/0/001.p/3"]:
        files.write(path, path.encode(), DAY)
    files.remove_partials("tile/0/000", OTHER_DAY)
    assert _directory_files(tmp_path) == {
        "tile/0/000": b"tile/0/000",
        "tile/0/001.p/3": b"tile/0/001.p/3",
    }
    assert (tmp_path / "tile" / "0").stat().st_mtime == calendar.timegm(OTHER_DAY.timetuple())
    files.remove_partials("tile/0/000", DAY)  # nothing left to remove: nothing happens
    files.remove_partials("tile/1/000", DAY)
    assert (tmp_path / "tile" / "0").stat().st_mtime == calendar.timegm(OTHER_DAY.timetuple())


def test_reading_what_is_not_a_file_is_none(tmp_path: Path) -> None:
    files = DirectoryLogFiles(tmp_path)
    assert files.read("tile/0/000") is None  # nothing at all
    files.write("tile/0/000", b"tile", DAY)
    assert files.read("tile/0/000/x") is None  # below a file
    assert files.read("tile/0") is None  # a directory
    assert files.read("tile/0/000") == b"tile"


def test_reading_is_capped_at_the_largest_file_the_log_has(tmp_path: Path) -> None:
    files = DirectoryLogFiles(tmp_path)
    files.write("tile/entries/000", b"x" * (MAX_STATIC_FILE + 100), DAY)
    content = files.read("tile/entries/000")
    assert content is not None
    assert len(content) == MAX_STATIC_FILE + 1


def test_a_read_that_fails_is_a_storage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> object:
        raise PermissionError(13, "Permission denied")

    files = DirectoryLogFiles(tmp_path)
    files.write("tile/0/000", b"tile", DAY)
    monkeypatch.setattr(tile_store, "open", refuse, raising=False)
    with pytest.raises(StorageError, match="cannot read"):
        files.read("tile/0/000")
    monkeypatch.setattr(tile_store, "open", builtins.open, raising=False)
    assert files.read("tile/0/000") == b"tile"


@pytest.mark.parametrize("path", ["", "/etc/passwd", "../secret", "tile/../../secret"])
def test_a_path_outside_the_log_is_refused(tmp_path: Path, path: str) -> None:
    files = DirectoryLogFiles(tmp_path / "log")
    with pytest.raises(ValueError, match="below the log"):
        files.read(path)
    with pytest.raises(ValueError, match="below the log"):
        files.write(path, b"x", DAY)
    assert not (tmp_path / "secret").exists()


def test_the_checkpoint_is_a_file_in_the_root(tmp_path: Path) -> None:
    files = DirectoryLogFiles(tmp_path / "log")
    assert files.checkpoint_path == tmp_path / "log" / CHECKPOINT_FILE
    assert files.read_checkpoint() is None
    files.write_checkpoint(b"first\n", DAY)
    files.write_checkpoint(b"second\n", DAY)
    assert files.read_checkpoint() == b"second\n"
    info = files.checkpoint_path.stat()
    assert stat.S_IMODE(info.st_mode) == 0o644
    assert info.st_mtime == MIDNIGHT
    files.checkpoint_path.unlink()
    files.checkpoint_path.mkdir()
    with pytest.raises(StorageError, match="cannot read"):
        files.read_checkpoint()


# --- TileStore -----------------------------------------------------------------------------


def test_publishing_batch_by_batch_writes_the_tiles_of_the_specification() -> None:
    log, files = Log(max(SIZES)), MemoryFiles()
    store = TileStore(files)
    for done, size in enumerate(SIZES, 1):
        log.publish(store, size)
        assert files.files == _expected(log, SIZES[:done]), size
    assert "tile/0/000" in files.files
    assert "tile/1/000.p/2" in files.files


def test_a_filled_tile_removes_its_partial_tiles() -> None:
    log, files = Log(TILE_WIDTH), MemoryFiles()
    store = TileStore(files)
    for size in [3, 100, 255]:
        log.publish(store, size)
    assert {"tile/0/000.p/3", "tile/0/000.p/255", "tile/entries/000.p/100"} <= set(files.files)
    assert not files.removed
    log.publish(store, TILE_WIDTH)
    assert files.removed == ["tile/0/000", "tile/entries/000"]
    assert sorted(files.files) == ["tile/0/000", "tile/1/000.p/1", "tile/entries/000"]


def test_a_batch_reads_only_its_new_nodes_and_leaves() -> None:
    log, files = Log(20), MemoryFiles()
    store = TileStore(files)
    log.publish(store, 10)
    log.node_calls.clear()
    log.leaf_calls.clear()
    log.publish(store, 12)
    assert log.node_calls == [(0, 10), (0, 11)]
    assert log.leaf_calls == [(10, 12)]
    assert files.files == _expected(log, [10, 12])


def test_a_full_tile_is_never_rewritten() -> None:
    log, files = Log(300), MemoryFiles()
    log.publish(TileStore(files), TILE_WIDTH)
    files.files["tile/0/000"] = b"as it was"
    files.writes.clear()
    log.size = 200  # a new store, behind: growing past the full tile again leaves it be
    log.publish(TileStore(files), 300)
    assert files.files["tile/0/000"] == b"as it was"
    assert "tile/0/000" not in files.writes
    assert "tile/entries/000" not in files.writes


def test_repair_writes_everything_into_nothing() -> None:
    log, files = Log(700), MemoryFiles()
    log.size = 700
    written = TileStore(files).repair(700, log.node, log.leaves, DAY)
    assert files.files == build_tiles(log.entries)
    assert written == len(files.files)


def test_repair_after_publishing_rewrites_only_partial_tiles() -> None:
    log, files = Log(300), MemoryFiles()
    log.publish(TileStore(files), 300)
    before = dict(files.files)
    files.writes.clear()
    written = TileStore(files).repair(300, log.node, log.leaves, DAY)
    assert sorted(files.writes) == ["tile/0/001.p/44", "tile/1/000.p/1", "tile/entries/001.p/44"]
    assert written == 3
    assert files.files == before
    # A full tile that went missing comes back.
    del files.files["tile/entries/000"]
    files.writes.clear()
    assert TileStore(files).repair(300, log.node, log.leaves, DAY) == 4
    assert "tile/entries/000" in files.writes
    assert files.files == before


def test_missing_leaves_are_a_storage_error() -> None:
    log = Log(10)
    log.size = 10
    store = TileStore(MemoryFiles())
    with pytest.raises(StorageError, match="missing entries 0…9"):
        store.publish(0, 10, log.node, lambda start, end: log.entries[start:5], DAY)


def test_a_directory_and_memory_get_the_same_files(tmp_path: Path) -> None:
    def run(files: TileFiles) -> None:
        log = Log(max(SIZES))
        store = TileStore(files)
        for size in SIZES:
            log.publish(store, size)
        store.repair(log.size, log.node, log.leaves, DAY)

    memory = MemoryFiles()
    run(memory)
    run(DirectoryLogFiles(tmp_path / "log"))
    assert _directory_files(tmp_path / "log") == memory.files
    assert all((tmp_path / "log" / path).stat().st_mtime == MIDNIGHT for path in memory.files)


def test_a_level_one_tile_fills_up() -> None:
    size = TILE_WIDTH * TILE_WIDTH + 3
    log, files = Log(size), MemoryFiles()
    store = TileStore(files)
    log.publish(store, TILE_WIDTH * TILE_WIDTH - 1)
    assert "tile/1/000.p/255" in files.files
    log.publish(store, size)
    assert "tile/1/000" in files.files
    assert not [path for path in files.files if path.startswith("tile/1/000.p/")]
    assert files.files == build_tiles(log.entries)
