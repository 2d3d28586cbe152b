"""A live server's log, checked by Go's reference code and nothing of ours.

The issue's "done when": ``curl SERVER/log/checkpoint`` returns a signed note that Go's
``note.Open`` verifies with the vkey from our signed directory, and Go's ``tlog`` verifies an
inclusion proof and a consistency proof built from the tiles the server serves. The Go program
(``tlog_interop.go``) fetches everything over HTTP from the running ``petition serve``; Python
only submits petitions and reads the vkey from the directory verified with the pinned authority.
"""

from __future__ import annotations

import functools
import http.server
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from harness import RunningServer, start_server, stop_server

from crypto import note
from crypto.keys import SigningKey

TLOG_SOURCE = Path(__file__).resolve().parent / "tlog_interop.go"
#: More than one full tile (256), so Go reads a full level-0 tile, a partial one and level 1.
PETITIONS = 300


@pytest.fixture(scope="module")
def grown(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, list[int]]]:
    """A server with PETITIONS petitions; the checkpoint sizes their receipts were given."""
    server = start_server(tmp_path_factory.mktemp("go-live"))
    try:
        sizes = []
        for number in range(PETITIONS):
            answer = server.client.post(
                "/v1/petitions", server.seal("national", body=f"petition {number}").body()
            )
            assert answer.status == 201, answer.json
            sizes.append(server.receipt(answer.json["receipt"]).checkpoint.size)
        yield server, sizes
    finally:
        stop_server(server)


@pytest.fixture(scope="module")
def go_tlog(go_build: Callable[[Path], Path]) -> Path:
    return go_build(TLOG_SOURCE)


def _check(go: Path, base: str, vkey: str, index: int, old_size: int) -> str:
    result = subprocess.run(  # noqa: S603  (our own test program)
        [str(go), "check", base, vkey, str(index), str(old_size)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("index", [0, 137, 255, 256, PETITIONS - 1])
def test_go_verifies_the_served_checkpoint_and_proofs_from_the_served_tiles(
    grown: tuple[RunningServer, list[int]], go_tlog: Path, index: int
) -> None:
    server, sizes = grown
    directory = server.directory()
    checkpoint = server.checkpoint()
    assert checkpoint.size == PETITIONS
    # Consistency from the checkpoint an earlier petitioner's receipt carried.
    old_size = sizes[index // 2]
    out = _check(
        go_tlog, f"{server.client.base}/log", directory.log_vkey.to_vkey(), index, old_size
    )
    assert out.split()[:2] == ["ok", str(PETITIONS)]
    assert note.decode_base64(out.split()[2], what="root") == checkpoint.root_hash


def test_go_refuses_the_checkpoint_under_an_impostor_key_of_the_same_name(
    grown: tuple[RunningServer, list[int]], go_tlog: Path
) -> None:
    """The harness can fail: the same origin with another key is not the log."""
    server, _ = grown
    impostor = note.Verifier(server.directory().log_origin, SigningKey.generate().public_key())
    result = subprocess.run(  # noqa: S603
        [str(go_tlog), "check", f"{server.client.base}/log", impostor.to_vkey(), "0", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0


def test_the_written_directory_is_the_whole_log_for_any_static_web_server(
    grown: tuple[RunningServer, list[int]], go_tlog: Path
) -> None:
    """``DATA/public/log`` served by a web server that knows nothing of petitions (Python's
    ``http.server``) is the same log, as Go sees it: the operations guide's static serving."""
    server, sizes = grown
    root = server.data_dir / "public" / "log"
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    static = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=static.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{static.server_address[1]}"
        vkey = server.directory().log_vkey.to_vkey()
        out = _check(go_tlog, base, vkey, PETITIONS - 1, sizes[0])
        assert out.split()[:2] == ["ok", str(PETITIONS)]
    finally:
        static.shutdown()
        static.server_close()
