"""Tiled logs written with crypto.tiles, read and proved by Go's golang.org/x/mod/sumdb/tlog.

``tlog_interop.go`` verifies the signed checkpoint with Go's ``note``, authenticates every tile
it reads with ``tlog.TileHashReader``, checks an entry bundle against the level-0 hashes, and
proves and checks inclusion and consistency with ``tlog``. It shares no code with this project,
so a log it accepts is laid out as c2sp.org/tlog-tiles says, not merely as we think it does.
The same program takes an http(s) URL prefix, which is how a live server is checked.
"""

from __future__ import annotations

import functools
import http.server
import re
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from crypto import checkpoint, merkle, note, tiles
from crypto.checkpoint import Checkpoint

SOURCE = Path(__file__).resolve().parent / "tlog_interop.go"
ORIGIN = "example.org/petition-log"


@pytest.fixture(scope="module")
def go_tlog(go_build: Callable[[Path], Path]) -> Path:
    return go_build(SOURCE)


@pytest.fixture(scope="module")
def log_key() -> note.Signer:
    return note.Signer.generate(ORIGIN)


def _leaves(size: int) -> list[bytes]:
    # Varied lengths, including empty entries, so the bundle length prefixes are exercised.
    return [b'{"n":%d}' % i * (i % 5) for i in range(size)]


def _write_log(directory: Path, leaves: list[bytes], signer: note.Signer) -> Path:
    for path, content in tiles.build_tiles(leaves).items():
        target = directory / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    root = merkle.root_from_leaf_hashes([merkle.leaf_hash(leaf) for leaf in leaves])
    cp = Checkpoint(ORIGIN, len(leaves), root, ())
    (directory / "checkpoint").write_bytes(checkpoint.sign(cp, [signer]))
    return directory


@pytest.fixture(scope="module")
def log_1000(tmp_path_factory: pytest.TempPathFactory, log_key: note.Signer) -> Path:
    return _write_log(tmp_path_factory.mktemp("log1000"), _leaves(1000), log_key)


def _check(
    binary: Path, base: str | Path, vkey: str, index: int, old_size: int
) -> subprocess.CompletedProcess[str]:
    argv = [str(binary), "check", str(base), vkey, str(index), str(old_size)]
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)  # noqa: S603


def _expect_ok(result: subprocess.CompletedProcess[str], size: int, root: bytes) -> None:
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"ok {size} {note.encode_base64(root)}\n"


def _root(leaves: list[bytes]) -> bytes:
    return merkle.root_from_leaf_hashes([merkle.leaf_hash(leaf) for leaf in leaves])


@pytest.mark.parametrize(
    ("index", "old_size"), [(0, 1), (3, 256), (255, 257), (256, 512), (700, 999), (999, 1000)]
)
def test_go_proves_entries_of_a_log_we_tile(
    go_tlog: Path, log_1000: Path, log_key: note.Signer, index: int, old_size: int
) -> None:
    result = _check(go_tlog, log_1000, log_key.verifier().to_vkey(), index, old_size)
    _expect_ok(result, 1000, _root(_leaves(1000)))


@pytest.mark.parametrize("size", [1, 256, 513, 70000])
def test_go_reads_logs_of_other_shapes(
    go_tlog: Path, tmp_path: Path, log_key: note.Signer, size: int
) -> None:
    # 513: two full level-0 tiles and a level-1 tile of width 2; 70000: the spec's example, with
    # a full level-1 tile and a level-2 tile.
    leaves = _leaves(size)
    _write_log(tmp_path, leaves, log_key)
    vkey = log_key.verifier().to_vkey()
    _expect_ok(_check(go_tlog, tmp_path, vkey, size - 1, max(1, size // 3)), size, _root(leaves))
    _expect_ok(_check(go_tlog, tmp_path, vkey, size // 2, size), size, _root(leaves))


def _flip(path: Path, position: int = 40) -> None:
    content = bytearray(path.read_bytes())
    content[position] ^= 1
    path.write_bytes(bytes(content))


# Go's TileHashReader (x/mod 0.7.0) leaves some full tiles unauthenticated (tlog_interop.go
# explains), so a tampered tile/0/000 is caught by the program's own checks rather than by it.
_INCONSISTENT = "downloaded inconsistent tile"
_UNCHECKED_FULL_TILE = f"{_INCONSISTENT}|does not hash to its level-0 tile hash"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("tile/0/000", _UNCHECKED_FULL_TILE),  # full, below the level-1 right edge
        ("tile/0/003.p/232", _INCONSISTENT),  # right edge, checked against the root
        ("tile/1/000.p/3", _INCONSISTENT),
        ("tile/entries/000", "does not hash to its level-0 tile hash"),
    ],
)
def test_go_refuses_a_tampered_tile(
    go_tlog: Path, tmp_path: Path, log_key: note.Signer, path: str, message: str
) -> None:
    _write_log(tmp_path, _leaves(1000), log_key)
    vkey = log_key.verifier().to_vkey()
    _expect_ok(_check(go_tlog, tmp_path, vkey, 3, 500), 1000, _root(_leaves(1000)))
    _flip(tmp_path / path)
    result = _check(go_tlog, tmp_path, vkey, 3, 500)
    assert result.returncode == 1
    assert re.search(message, result.stderr), result.stderr


def test_go_refuses_an_entry_forged_together_with_its_leaf_hash(
    go_tlog: Path, tmp_path: Path, log_key: note.Signer
) -> None:
    """A forgery consistent within tile/0/000 passes TileHashReader but not CheckRecord."""
    leaves = _leaves(1000)
    _write_log(tmp_path, leaves, log_key)
    forged = [*leaves[:1], b"forged", *leaves[2:256]]
    (tmp_path / "tile/entries/000").write_bytes(tiles.encode_bundle(forged))
    tile = bytearray((tmp_path / "tile/0/000").read_bytes())
    tile[32:64] = merkle.leaf_hash(b"forged")
    (tmp_path / "tile/0/000").write_bytes(bytes(tile))
    result = _check(go_tlog, tmp_path, log_key.verifier().to_vkey(), 200, 500)
    assert result.returncode == 1
    assert re.search(f"{_INCONSISTENT}|checking inclusion of [0-9]+:", result.stderr), result.stderr


def test_go_refuses_a_truncated_tile(go_tlog: Path, tmp_path: Path, log_key: note.Signer) -> None:
    _write_log(tmp_path, _leaves(1000), log_key)
    tile = tmp_path / "tile/0/000"
    tile.write_bytes(tile.read_bytes()[:-32])
    result = _check(go_tlog, tmp_path, log_key.verifier().to_vkey(), 3, 500)
    assert result.returncode == 1
    assert "TileReader returned bad result slice" in result.stderr


def test_go_refuses_a_checkpoint_signed_by_another_key(
    go_tlog: Path, log_1000: Path, log_key: note.Signer
) -> None:
    impostor = note.Signer.generate(ORIGIN)
    result = _check(go_tlog, log_1000, impostor.verifier().to_vkey(), 3, 500)
    assert result.returncode == 1
    assert "checkpoint:" in result.stderr
    assert _check(go_tlog, log_1000, log_key.verifier().to_vkey(), 3, 500).returncode == 0


def test_go_refuses_a_signed_checkpoint_whose_root_the_tiles_do_not_support(
    go_tlog: Path, tmp_path: Path, log_key: note.Signer
) -> None:
    leaves = _leaves(1000)
    _write_log(tmp_path, leaves, log_key)
    wrong = Checkpoint(ORIGIN, 1000, _root(leaves[:999]))
    (tmp_path / "checkpoint").write_bytes(checkpoint.sign(wrong, [log_key]))
    result = _check(go_tlog, tmp_path, log_key.verifier().to_vkey(), 3, 500)
    assert result.returncode == 1
    assert "downloaded inconsistent tile" in result.stderr


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_base(log_1000: Path) -> Iterator[str]:
    """The log directory served over HTTP below /log/, as the server will serve it."""
    handler = functools.partial(_QuietHandler, directory=str(log_1000.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{log_1000.name}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_go_reads_a_log_over_http(go_tlog: Path, http_base: str, log_key: note.Signer) -> None:
    vkey = log_key.verifier().to_vkey()
    _expect_ok(_check(go_tlog, http_base, vkey, 999, 257), 1000, _root(_leaves(1000)))
    missing = _check(go_tlog, http_base.rstrip("/") + "-missing", vkey, 999, 257)
    assert missing.returncode == 1
    assert "404" in missing.stderr
