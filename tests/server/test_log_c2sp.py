"""The static log a real server publishes (c2sp.org/tlog-checkpoint, c2sp.org/tlog-tiles).

``/log/checkpoint`` and ``/log/tile/…`` serve ``DATA/public/log/`` as any static web server
would: the checkpoint as text for a second of caching, tiles as immutable binary. The tests
check the bytes against the directory's log key and against the dynamic proofs of
``/v1/log/proof/…`` (crypto.tiles.TiledTree over the served tiles must give the same answers),
what happens to partial tiles once a tile fills up (past 256 entries), and that the files name
no time of day (protocol §13.4, threat model T-DET-5).
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from harness import Client, RunningServer

from crypto import cjson, merkle, note
from crypto.checkpoint import Checkpoint, open_checkpoint, sign
from crypto.tiles import (
    TILE_WIDTH,
    EntryBundle,
    Tile,
    TiledTree,
    build_tiles,
    bundles_for_size,
    parse_path,
    tiles_for_size,
)
from server.published_log import PublishedCheckpoint
from server.tile_store import DirectoryLogFiles

CHECKPOINT_TYPE = "text/plain; charset=utf-8"
TILE_TYPE = "application/octet-stream"
TILE_CACHE = "public, max-age=31536000, immutable"
SENDERS = 8


def _submit(server: RunningServer, count: int) -> None:
    """``count`` real submissions from a few threads (group commit keeps this quick)."""
    submissions = [server.seal("national" if n % 2 else "guangdong") for n in range(count)]
    failures: list[object] = []

    def send(part: int) -> None:
        for submission in submissions[part::SENDERS]:
            answer = server.client.post("/v1/petitions", submission.body())
            if answer.status != 201:
                failures.append((answer.status, answer.raw[:200]))

    threads = [threading.Thread(target=send, args=(part,)) for part in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures


#: Entries every test may count on, whichever of the module's tests ran before it on its
#: server (pytest-xdist hands a module's tests to whichever process is free).
SOME_ENTRIES = 12


@pytest.fixture(autouse=True)
def _some_entries(server: RunningServer) -> None:
    _, checkpoint = _settled(server)
    if checkpoint.size < SOME_ENTRIES:
        _submit(server, SOME_ENTRIES - checkpoint.size)


def _published(server: RunningServer) -> Path:
    return server.data_dir / "public" / "log"


def _settled(server: RunningServer) -> tuple[bytes, Checkpoint]:
    """The served checkpoint, which must be the file the writer wrote last, verified with the
    log key of the pinned directory."""
    directory = server.directory()
    on_disk = (_published(server) / "checkpoint").read_bytes()
    served = server.client.get("/log/checkpoint")
    assert served.status == 200, served.raw
    assert served.raw == on_disk
    checkpoint, _ = open_checkpoint(served.raw, [directory.log_vkey])
    return served.raw, checkpoint


def _fetch(client: Client) -> tuple[dict[str, int], Callable[[str], bytes]]:
    """A tile fetcher over HTTP for TiledTree, counting what it fetched."""
    fetched: dict[str, int] = {}

    def fetch(path: str) -> bytes:
        answer = client.get("/log/" + path)
        assert answer.status == 200, (path, answer.raw[:200])
        fetched[path] = fetched.get(path, 0) + 1
        return answer.raw

    return fetched, fetch


def _all_leaves(client: Client, size: int) -> list[bytes]:
    leaves: list[bytes] = []
    for start in range(0, size, 1000):
        page = client.get(f"/v1/log/entries?start={start}&end={min(start + 1000, size)}").json
        leaves += [cjson.b64decode(item) for item in page["entries"]]
    return leaves


def _proofs_match_the_tiles(server: RunningServer, checkpoint: Checkpoint) -> TiledTree:
    """Every inclusion proof, some consistency proofs and the entries, from tiles and from the
    server's dynamic endpoints: the same bytes."""
    size = checkpoint.size
    _, fetch = _fetch(server.client)
    tree = TiledTree(size, checkpoint.root_hash, fetch)
    for index in range(size):
        served = server.client.get(f"/v1/log/proof/inclusion?index={index}&tree_size={size}")
        from_tiles = merkle.inclusion_proof(tree, index, size)
        assert [cjson.b64decode(p) for p in served.json["proof"]] == from_tiles, index
    for old in sorted({0, 1, size // 3, size // 2, size - 1, size}):
        served = server.client.get(f"/v1/log/proof/consistency?first={old}&second={size}")
        assert [cjson.b64decode(p) for p in served.json["proof"]] == merkle.consistency_proof(
            tree, old, size
        ), old
    leaves = _all_leaves(server.client, size)
    from_bundles = [
        entry for index in range(len(bundles_for_size(size))) for entry in tree.entries(index)
    ]
    assert from_bundles == leaves
    assert merkle.root_from_leaf_hashes([merkle.leaf_hash(x) for x in leaves]) == tree.root_hash
    return tree


def test_the_checkpoint_is_text_signed_by_the_directorys_log_key(server: RunningServer) -> None:
    _submit(server, 5)
    message, checkpoint = _settled(server)
    answer = server.client.get("/log/checkpoint")
    assert answer.headers["Content-Type"] == CHECKPOINT_TYPE
    assert answer.headers["Cache-Control"] == "public, max-age=1"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "Set-Cookie" not in answer.headers
    directory = server.directory()
    assert checkpoint.origin == directory.log_origin
    assert checkpoint.size >= 5
    assert checkpoint.extensions == ()
    # Exactly one signature (no witness yet), by the key log.pub names, under the origin.
    lines = message.split(b"\n\n", 1)[1].splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(("\u2014 " + directory.log_origin + " ").encode())
    # The signed checkpoint the writer keeps in log.head is the one published.
    kept, _ = open_checkpoint((server.data_dir / "log.head").read_bytes(), [directory.log_vkey])
    assert kept == checkpoint


def test_every_worker_serves_the_newest_checkpoint(server: RunningServer) -> None:
    """After each batch the checkpoint file is replaced by a new file of the same length and
    the same midnight mtime (sizes of one digit); every worker must serve the newest one at
    once, however many batches it did not see (file systems reuse inode numbers: a worker that
    missed a version can meet the inode it read last)."""
    for _ in range(3):
        for _ in range(2):  # two batches between two looks
            submission = server.seal("national")
            assert server.client.post("/v1/petitions", submission.body()).status == 201
        on_disk = (_published(server) / "checkpoint").read_bytes()
        served = {server.client.get("/log/checkpoint").raw for _ in range(8)}  # both workers
        assert served == {on_disk}


def test_a_lookup_right_after_the_201_has_its_receipt(server: RunningServer) -> None:
    """The receipt code works at once: the lookup's receipt is built against a checkpoint
    that covers the petition, not against one a worker read before the batch."""
    for _ in range(4):
        submission = server.seal("national")
        assert server.client.post("/v1/petitions", submission.body()).status == 201
        lookup = server.client.get(
            "/v1/lookup",
            headers={"Petition-Lookup-Key": cjson.b64encode(submission.secret.lookup_key())},
        )
        assert lookup.status == 200, lookup.raw
        server.receipt(lookup.json["receipt"])


def test_tiles_are_served_binary_and_cached_for_good(server: RunningServer) -> None:
    _, checkpoint = _settled(server)
    size = checkpoint.size
    assert 0 < size < TILE_WIDTH
    paths = [tile.path() for tile in tiles_for_size(size)]
    paths += [bundle.path() for bundle in bundles_for_size(size)]
    assert paths == [f"tile/0/000.p/{size}", f"tile/entries/000.p/{size}"]
    for path in paths:
        answer = server.client.get("/log/" + path)
        assert answer.status == 200, path
        assert answer.headers["Content-Type"] == TILE_TYPE, path
        assert answer.headers["Cache-Control"] == TILE_CACHE, path
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.raw == (_published(server) / path).read_bytes(), path
    assert len(server.client.get(f"/log/tile/0/000.p/{size}").raw) == size * 32


@pytest.mark.parametrize(
    "path",
    [
        "/log/tile/0/../../../log.key",
        "/log/tile/0/%2e%2e/%2e%2e/%2e%2e/log.head",
        "/log/tile/..%2f..%2f..%2flog.key",
        "/log/tile/entries/../../checkpoint",
        "/log/../log.key",
        "/log/log.head",
        "/log/tile/00/000.p/1",  # leading zero in the level
        "/log/tile/0/0000.p/1",  # four digits
        "/log/tile/0/00.p/1",  # two digits
        "/log/tile/0/x000/000.p/1",  # a redundant x000/ group
        "/log/tile/0/000.p/01",  # leading zero in the width
        "/log/tile/0/000.p/0",  # width 0
        "/log/tile/0/000.p/256",  # width 256 is the full tile, never .p/256
        "/log/tile/64/000",  # level 64
        "/log/tile/-1/000",
        "/log/tile/0/000.p/",
        "/log/tile/0/000/",
        "/log/tile/0/",
        "/log/tile/",
        "/log/tile/entries/0/000",
        "/log/tile/0/000.p/1.tmp",
        "/log/tile/0/.tmp-000",
        "/log/checkpoint/",
        "/log/checkpoint.tmp",
        "/log/tile/5/000",  # well formed, but no such tile
        "/log/tile/0/999",
    ],
)
def test_a_path_that_is_not_a_published_tile_is_404(server: RunningServer, path: str) -> None:
    answer = server.client.get(path)
    assert answer.status == 404, (path, answer.raw[:100])
    assert answer.error_code == "not_found"
    assert answer.headers["Cache-Control"] == "no-store"
    for secret in ("log.key", "log.head", "db.key"):
        assert (server.data_dir / secret).read_bytes() not in answer.raw


def test_the_tiles_reproduce_the_dynamic_proofs(server: RunningServer) -> None:
    _, checkpoint = _settled(server)
    _proofs_match_the_tiles(server, checkpoint)


def test_a_tile_that_fills_up_replaces_its_partial_tiles(server: RunningServer) -> None:
    """Past 256 entries, tile 0/000 is full: its partial widths are deleted (clients fall back
    to the full tile), level 1 appears, and the tiles still reproduce every proof."""
    _, before = _settled(server)
    partial = f"tile/0/000.p/{before.size}"
    assert server.client.get("/log/" + partial).status == 200
    _submit(server, TILE_WIDTH + 20 - before.size)
    _, after = _settled(server)
    size = after.size
    assert TILE_WIDTH < size < 2 * TILE_WIDTH
    rest = size - TILE_WIDTH
    root = _published(server)
    assert (root / "tile/0/000").stat().st_size == TILE_WIDTH * 32
    assert len((root / "tile/entries/000").read_bytes()) > TILE_WIDTH * 2
    assert not (root / "tile/0/000.p").exists()
    assert not (root / "tile/entries/000.p").exists()
    assert server.client.get("/log/" + partial).status == 404
    assert server.client.get("/log/tile/entries/000.p/1").status == 404
    expected = {tile.path() for tile in tiles_for_size(size)}
    assert expected == {"tile/0/000", f"tile/0/001.p/{rest}", "tile/1/000.p/1"}
    for path in sorted(expected):
        answer = server.client.get("/log/" + path)
        assert (answer.status, answer.headers["Cache-Control"]) == (200, TILE_CACHE), path
    tree = _proofs_match_the_tiles(server, after)
    assert tree.entries(0) == _all_leaves(server.client, TILE_WIDTH)


def test_the_published_files_are_exactly_the_tiles_of_the_log(server: RunningServer) -> None:
    """Every file is the checkpoint or a tile whose content matches the log: a partial tile
    still on disk is a prefix of its tile now, never different bytes under the same path."""
    _, checkpoint = _settled(server)
    leaves = _all_leaves(server.client, checkpoint.size)
    reference = build_tiles(leaves)
    root = _published(server)
    files = sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file())
    assert "checkpoint" in files
    current = set(reference)
    for name in files:
        if name == "checkpoint":
            continue
        parsed = parse_path(name)  # no temporary file, nothing that is not a tile
        content = (root / name).read_bytes()
        if name in current:
            assert content == reference[name], name
            continue
        # An older partial tile: superseded by a wider one of the same tile, which it prefixes.
        assert not parsed.full, name
        if isinstance(parsed, Tile):
            (wider,) = [
                t
                for t in tiles_for_size(len(leaves))
                if (t.level, t.index) == (parsed.level, parsed.index)
            ]
            assert wider.width > parsed.width, name
            assert reference[wider.path()].startswith(content), name
        else:
            assert isinstance(parsed, EntryBundle)
            (newest,) = [b for b in bundles_for_size(len(leaves)) if b.index == parsed.index]
            assert newest.width > parsed.width, name
            assert reference[newest.path()].startswith(content), name
    assert current <= set(files)


def test_the_static_files_are_public_and_dated_to_the_day(server: RunningServer) -> None:
    """0644 files and 0755 directories (any web server may serve them), and no time of day:
    every modification time is midnight UTC of the day (T-DET-5)."""
    root = _published(server)
    today = datetime.now(UTC).date()
    midnights = {
        int(datetime(today.year, today.month, today.day, tzinfo=UTC).timestamp()) - shift
        for shift in (0, 86400)  # the day may have turned during the test
    }
    seen = 0
    for path in [root, *root.rglob("*")]:
        info = path.lstat()
        assert not stat.S_ISLNK(info.st_mode), path
        mode = stat.S_IMODE(info.st_mode)
        assert mode == (0o755 if path.is_dir() else 0o644), (path, oct(mode))
        assert info.st_mtime_ns % 1_000_000_000 == 0, path
        assert int(info.st_mtime) in midnights, (path, info.st_mtime)
        seen += 1
    assert seen >= 8
    assert not [p for p in root.rglob("*") if p.name.startswith(".tmp")]
    # The files are readable by anyone, but only through a directory the operator opens up:
    # the data directory itself stays private.
    assert stat.S_IMODE(os.stat(server.data_dir).st_mode) & 0o077 == 0


def test_a_reader_that_missed_checkpoints_still_gets_the_newest(tmp_path: Path) -> None:
    """The writer's file replacement and a worker's reader, in this process: a worker that saw
    one checkpoint and then missed the next one or more must get the newest, even though every
    version has the same length and the same midnight mtime and the file system hands out a
    freed inode number again (ext4 alternates two numbers for a file replaced by rename)."""
    store = DirectoryLogFiles(tmp_path / "public" / "log")
    reader = PublishedCheckpoint(store.read_checkpoint)
    log = note.Signer.generate("example.org/log")
    day = datetime.now(UTC).date()

    def publish(size: int) -> bytes:
        message = sign(Checkpoint(log.name, size, bytes([size]) * 32), [log])
        store.write_checkpoint(message, day)
        return message

    seen = []
    for size in range(1, 9):
        newest = publish(size)
        if size % 2 and size % 3:  # asked now and then: it misses one batch, or two
            continue
        current = reader.current()
        assert current is not None
        seen.append((current[1].size, size))
        assert current[0] == newest, f"served size {current[1].size}, published {size}"
    assert seen
