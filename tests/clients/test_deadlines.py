"""A server that stops answering cannot hold a command: the deadline (issue 15, item 9).

Each test runs a tiny misbehaving HTTP server on a real local socket, in the test's own threads:
one that accepts and never answers, ones that drip one byte a second (in the status line and
headers, or in the body), one that drips and then goes silent, one that drops every connection,
and one that is "busy" with a long ``Retry-After``. The real ``petition`` program runs against
it as a subprocess and must end within its deadline plus a small margin, in one line that names
the server, having retried only while the deadline allowed. Before the fix the silent server
cost 120 s per try and a dripping one kept the command alive for as long as it dripped.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from client.home import ClientConfig, ClientHome
from crypto.keys import SigningKey

PETITION = shutil.which("petition", path=os.path.dirname(sys.executable))
FINGERPRINT = "0" * 64  # never checked: no server here gets as far as sending a key
DEADLINE = 3.0
#: Start-up of the program (imports, parser) plus the scheduling of two loaded cores.
MARGIN = 2.5
ERROR = "petition: error: "


class Misbehaving:
    """An HTTP server on ``127.0.0.1`` that misbehaves in one way (``mode``)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._stop = threading.Event()
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self) -> Misbehaving:
        threading.Thread(target=self._accept, daemon=True, name="misbehaving").start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._listener.close()
        with self._lock:
            for held in self._held:
                held.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._held.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            request = b""
            while b"\r\n\r\n" not in request:
                data = conn.recv(4096)
                if not data:
                    return
                request += data
            if self.mode == "silent":
                self._stop.wait()
            elif self.mode == "drop":
                conn.close()
            elif self.mode == "busy":
                conn.sendall(
                    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 30\r\n"
                    b"Content-Length: 0\r\nConnection: close\r\n\r\n"
                )
            elif self.mode == "drip-headers":
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                self._drip(conn, b"X-Slow: " + b"a" * 10_000)
            elif self.mode == "drip-body":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n")
                self._drip(conn, b"{" * 10_000)
            elif self.mode == "drip-then-silent":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n")
                self._drip(conn, b"{{")
                self._stop.wait()
        except OSError:
            return  # the client gave up and shut the connection: what the tests want

    def _drip(self, conn: socket.socket, data: bytes) -> None:
        for byte in data:
            if self._stop.wait(1.0):
                return
            conn.sendall(bytes([byte]))


def _run(
    home: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], float]:
    assert PETITION is not None
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PETITION_")}
    full_env.update({"PETITION_HOME": str(home), **(env or {})})
    started = time.monotonic()
    result = subprocess.run(  # noqa: S603 - our own console script
        [PETITION, *args], capture_output=True, text=True, env=full_env, check=False,
        timeout=DEADLINE + 30,  # before the fix: this expires (120 s per try, or a drip)
    )  # fmt: skip
    return result, time.monotonic() - started


def _gave_up_on(
    result: subprocess.CompletedProcess[str], server: Misbehaving, says: str = "stopped answering"
) -> str:
    """The one error line: it names the server and says what it did (stopped answering)."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("petition: error")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr
    line = errors[0]
    assert line.startswith(f"{ERROR}{server.url} {says}"), line
    assert f"the {DEADLINE:g} s deadline" in line
    return line


def _pinned_home(tmp_path: Path, url: str) -> Path:
    """A PETITION_HOME pinned to ``url``, as ``petition init`` leaves it."""
    home = tmp_path / "home"
    key = SigningKey.generate().public_key().to_bytes()
    ClientHome(home).save_config(ClientConfig(server=url, authority_key=key))
    return home


@pytest.mark.parametrize("mode", ["silent", "drip-headers", "drip-body", "drip-then-silent"])
def test_a_server_that_stops_answering_ends_the_command_at_its_deadline(
    tmp_path: Path, mode: str
) -> None:
    with Misbehaving(mode) as server:
        home = _pinned_home(tmp_path, server.url)
        result, elapsed = _run(home, "bureaus", "--deadline", f"{DEADLINE:g}")
        _gave_up_on(result, server)
    assert elapsed < DEADLINE + MARGIN, elapsed


def test_the_deadline_comes_from_the_environment_too(tmp_path: Path) -> None:
    with Misbehaving("silent") as server:
        result, elapsed = _run(
            tmp_path / "home", "init", "--server", server.url, "--trust", FINGERPRINT,
            env={"PETITION_DEADLINE": f"{DEADLINE:g}"},
        )  # fmt: skip
        _gave_up_on(result, server)
    assert elapsed < DEADLINE + MARGIN, elapsed
    assert not (tmp_path / "home" / "config.json").exists()


def test_retries_stop_at_the_deadline_not_at_the_last_try(tmp_path: Path) -> None:
    """A server that drops every connection: tries go on only while the deadline allows."""
    with Misbehaving("drop") as server:
        result, elapsed = _run(
            tmp_path / "home", "init", "--server", server.url, "--trust", FINGERPRINT,
            "--retries", "100", "--deadline", f"{DEADLINE:g}",
        )  # fmt: skip
        _gave_up_on(result, server)
        tries = server.connections
    assert elapsed < DEADLINE + MARGIN, elapsed
    # One connection is not a try: after the first drop the client checks once whether this
    # plain-http address speaks TLS (client/transport.py, _speaks_tls), to say "use https://".
    tries -= 1
    assert 2 <= tries < 100
    announced = [line for line in result.stderr.splitlines() if "trying again in" in line]
    assert len(announced) == tries - 1


def test_a_pause_longer_than_the_time_left_is_not_waited_for(tmp_path: Path) -> None:
    """``Retry-After: 30`` with 3 s left: stop now instead of sleeping past the deadline."""
    with Misbehaving("busy") as server:
        result, elapsed = _run(
            tmp_path / "home", "init", "--server", server.url, "--trust", FINGERPRINT,
            "--deadline", f"{DEADLINE:g}",
        )  # fmt: skip
        line = _gave_up_on(result, server, says="is overloaded (HTTP 503)")
        tries = server.connections
    assert "asks for a pause of 3" in line  # 30 s and a little jitter
    assert elapsed < 1 + MARGIN, elapsed
    assert tries == 1
    assert "trying again" not in result.stderr
