"""The writer process's life: its sockets, its stop, its parent, a stall (issue 15, 5-8).

Most tests here run the real writer process (``python -m server.writer``, as ``petition
serve`` starts it) on a real data directory and talk to it over its socket with the same framing
the HTTP workers use; the one about a dead master runs the whole server.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import launch, start_server, stop_server, writer_of

from crypto import cjson
from crypto.wire import LOOKUP_KEY_HEADER
from server.app import create_app
from server.config import ServerConfig
from server.datadir import DataDirectory
from server.ipc import receive_message, send_message
from server.services import EXTENSION_NAME

#: Kills, stops or starves real processes: slow; CI runs it (README, Tests).
pytestmark = pytest.mark.fault


@contextlib.contextmanager
def writer_process(config: ServerConfig) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(  # noqa: S603  (our own module)
        [sys.executable, "-m", "server.writer", config.to_json()],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == b"ready"
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


def connect(data: DataDirectory) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(20)
    sock.connect(str(data.socket_path))
    return sock


def submit_header(number: int) -> dict[str, Any]:
    return {
        "op": "submit",
        "petition_id": f"{number:032x}",
        "bureau_id": "national",
        "envelope_hash": f"{number:064x}",
        "lookup_key_hash": f"{number:064x}",
    }


def status(data: DataDirectory) -> str:
    with connect(data) as sock:
        send_message(sock, {"op": "status"})
        result: str = receive_message(sock)[0]["result"]
        return result


@pytest.fixture
def data(tmp_path: Path) -> DataDirectory:
    return DataDirectory.create_or_open(tmp_path / "data")


def test_connections_closing_while_answers_are_pending_do_not_kill_the_writer(
    data: DataDirectory,
) -> None:
    """Item 8: only the I/O thread closes sockets, so a reused descriptor number is harmless.

    Each worker connection sends a submission and stops reading (shutdown of its receiving
    side) or closes at once, before the group commit answers; new connections arrive right
    after and get the lowest free descriptor numbers, the ones just given up. The writer must
    keep answering. Before the fix, the committer closed the socket whose answer failed while
    the selector still watched it, and the next connection's registration killed the I/O
    thread (KeyError) and with it the writer.
    """
    config = ServerConfig(data_dir=data.path, batch_interval_seconds=0.3)
    with writer_process(config) as process:
        number = 0
        for _ in range(4):
            dying = []
            for way in ("shutdown", "close") * 4:
                number += 1
                sock = connect(data)
                send_message(sock, submit_header(number), b"envelope")
                if way == "shutdown":
                    sock.shutdown(socket.SHUT_RD)
                    dying.append(sock)
                else:
                    sock.close()
            time.sleep(0.6)  # the batch is committed; its answers meet the gone connections
            for sock in dying:
                sock.close()
            fresh = [connect(data) for _ in range(8)]
            for sock in fresh:
                send_message(sock, {"op": "status"})
                assert receive_message(sock)[0]["result"] == "ok"
                sock.close()
        assert process.poll() is None
        assert status(data) == "ok"


def test_sigterm_from_the_server_commits_and_answers_the_queue_then_exits_0(
    data: DataDirectory,
) -> None:
    """Item 7: the final stop finishes every queued job, answers it, and exits with 0."""
    config = ServerConfig(data_dir=data.path, batch_interval_seconds=2.0)
    with writer_process(config) as process:
        socks = [connect(data) for _ in range(6)]
        for number, sock in enumerate(socks, 1):
            send_message(sock, submit_header(number), b"envelope")
        time.sleep(0.2)  # queued, waiting for the batch interval
        process.send_signal(signal.SIGTERM)  # from its parent, like `petition serve` stops it
        results = [receive_message(sock)[0]["result"] for sock in socks]
        assert results == ["created"] * 6
        assert process.wait(timeout=20) == 0
        for sock in socks:
            sock.close()
    assert not data.socket_path.exists()
    with writer_process(ServerConfig(data_dir=data.path)), connect(data) as sock:
        send_message(sock, submit_header(3), b"envelope")  # all six were committed
        assert receive_message(sock)[0]["result"] == "existing"


def test_a_second_writer_on_the_same_data_is_refused_in_one_line(data: DataDirectory) -> None:
    config = ServerConfig(data_dir=data.path)
    with writer_process(config):
        second = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "server.writer", config.to_json()],
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert second.returncode != 0
        assert second.stdout.decode().splitlines() == [
            f"error: another writer is already serving {data.path}: stop that server first"
        ]
        assert status(data) == "ok"  # the first one's socket was left alone


def test_a_stalled_writer_is_not_reported_as_nothing_stored(tmp_path: Path) -> None:
    """Item 6: a worker that gave up waiting must not say "nothing was stored".

    The writer is stopped (SIGSTOP) while a petition is with it; the worker's wait (1 s here)
    runs out and the petitioner is told the truth: not acknowledged, may or may not be stored,
    send the same envelope again. After SIGCONT the petition is committed, and sending it
    again returns its receipt.
    """
    server = start_server(tmp_path)
    stop_server(server)
    config = ServerConfig(data_dir=server.data_dir, writer_timeout_seconds=1.0)
    client = create_app(config).test_client()
    submission = server.seal("national")
    with writer_process(config) as process:
        process.send_signal(signal.SIGSTOP)
        try:
            answer = client.post("/v1/petitions", json=submission.body())
        finally:
            process.send_signal(signal.SIGCONT)
        assert answer.status_code == 503
        error = answer.get_json()["error"]
        assert error["code"] == "unavailable"
        assert "nothing was stored" not in error["message"]
        assert error["message"] == (
            "not acknowledged: the petition may or may not have been stored; send the same "
            "envelope again to get its receipt"
        )
        key = cjson.b64encode(submission.secret.lookup_key())
        deadline = time.monotonic() + 10
        while client.get("/v1/lookup", headers={LOOKUP_KEY_HEADER: key}).status_code != 200:
            assert time.monotonic() < deadline, "the stalled petition was never committed"
            time.sleep(0.05)
        again = client.post("/v1/petitions", json=submission.body())
        assert again.status_code == 200  # it had been stored: here is its receipt
        client.application.extensions[EXTENSION_NAME].writer.close()


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the writer in /proc")
def test_a_killed_master_takes_its_writer_with_it(tmp_path: Path) -> None:
    """Item 5: ``kill -9`` of the master; the writer notices and exits, a new start works."""
    server = start_server(tmp_path)
    old_group = server.process.pid
    try:
        writer = writer_of(server.process.pid)
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait()
        deadline = time.monotonic() + 5
        while alive(writer) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(writer), "the orphaned writer is still running"
        process, client, _ = launch(server.data_dir, server.log_path)
        server.process = process
        assert client.post("/v1/petitions", server.seal("national").body()).status == 201
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(old_group, signal.SIGKILL)  # the old workers, if any are left
        stop_server(server)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the writer in /proc")
def test_a_killed_writer_is_reported_as_killed_and_the_server_exits_1(tmp_path: Path) -> None:
    """Item 7: ``kill -9`` of the writer stops the server with an honest account of it.

    gunicorn's master reaps every child, the writer included; before the fix the server then
    logged that the writer had "exited (status 0)", as if it had stopped normally. If
    gunicorn's own ``waitpid(-1)`` wins the race for the status, the server says it was lost
    rather than guess; it never claims a normal exit.
    """
    server = start_server(tmp_path)
    try:
        writer = writer_of(server.process.pid)
        os.kill(writer, signal.SIGKILL)
        # Normally a few seconds; gunicorn's arbiter kills a worker that has not gone after
        # graceful_timeout (30 s), so that plus a margin is the bound (CI met 30 s once).
        assert server.process.wait(timeout=45) == 1
        log = server.log_text()
        assert "killed by SIGKILL" in log or "its exit status was lost" in log, log
        assert "status 0" not in log, log
        assert "Traceback" not in log, log
    finally:
        stop_server(server)
