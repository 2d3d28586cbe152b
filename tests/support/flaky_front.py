"""A real HTTP/1.1 front for the real server that misbehaves on a schedule, as an overloaded
server or a flaky network does.

Each successive ``POST /v1/petitions`` takes the next action of the schedule:

* ``"drop"``: read the whole request, then close the connection without answering;
* ``"503"``: answer 503 (the server shed load) with the server's JSON error shape and
  ``Retry-After`` (1 s unless told otherwise);
* ``"429"``: the same as a rate limit (429);
* ``"forward"``: forward the request to the real server and relay its answer;
* ``"lose"``: forward the request to the real server, then close the connection without relaying
  the answer (the server acted on it, the client never heard: a connection lost on the way back).

Once the schedule is used up, ``then`` applies (``"forward"`` unless told otherwise). Every other
request is forwarded. The body and the arrival time (``time.monotonic()``, taken once the whole
body has been read) of every ``POST /v1/petitions`` are recorded, so a test can prove that the
same envelope was resent and that ``Retry-After`` was honoured. The method and path of every
request of any kind are recorded too (:attr:`FlakyFront.requests`), so a test can count what a
command sent. Every answer carries ``Connection: close``.

    with FlakyFront(server_url, ["drop", "503", "forward"]) as front:
        ... point a client at front.url ...
    assert len(front.posts) == 3
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Literal
from urllib.parse import urlsplit

Action = Literal["drop", "503", "429", "forward", "lose"]
SUBMIT_PATH = "/v1/petitions"
RETRY_AFTER_SECONDS = 1
_REFUSALS: dict[Action, tuple[int, bytes]] = {
    "503": (
        503,
        json.dumps(
            {"error": {"code": "busy", "message": "the server is busy; try again shortly"}}
        ).encode(),
    ),
    "429": (
        429,
        json.dumps(
            {"error": {"code": "rate_limited", "message": "too many requests; try again later"}}
        ).encode(),
    ),
}
# Headers that describe one hop, not the message: never passed on.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "host",
        "date",
        "server",
    }
)
_UPSTREAM_TIMEOUT = 60.0


@dataclass(frozen=True)
class RecordedPost:
    """One ``POST /v1/petitions`` as the front received it."""

    body: bytes
    arrived: float  # time.monotonic() once the body was read in full
    action: Action


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    front: FlakyFront


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads what the front recorded, not its log."""

    def _handle(self) -> None:
        self.close_connection = True
        body = self._read_body()
        front = self.server.front
        front.record_request(self.command, urlsplit(self.path).path)
        action: Action = "forward"
        if self.command == "POST" and urlsplit(self.path).path == SUBMIT_PATH:
            action = front.record_submission(body)
        if action == "drop":
            return  # nothing is written; the connection is closed when the handler returns
        if action in _REFUSALS:
            status, answer = _REFUSALS[action]
            self._answer(status, [("Retry-After", str(front.retry_after))], answer)
            return
        self._forward(body, relay=action == "forward")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return bytes(body)
            body += self.rfile.read(size)
            self.rfile.readline()  # the CRLF after each chunk

    def _forward(self, body: bytes, *, relay: bool = True) -> None:
        front = self.server.front
        headers = {
            name: value for name, value in self.headers.items() if name.lower() not in _HOP_BY_HOP
        }
        connection = http.client.HTTPConnection(
            front.upstream_host, front.upstream_port, timeout=_UPSTREAM_TIMEOUT
        )
        try:
            connection.request(
                self.command,
                self.path,
                body=body if body or self.command in ("POST", "PUT") else None,
                headers=headers,
            )
            response = connection.getresponse()
            answer = response.read()
            if not relay:
                return  # the server has acted on it; the client hears nothing
            relayed = [
                (name, value)
                for name, value in response.getheaders()
                if name.lower() not in _HOP_BY_HOP
            ]
            self._answer(response.status, relayed, answer)
        except OSError:
            self._answer(502, [], b'{"error":{"code":"bad_gateway","message":"upstream failed"}}')
        finally:
            connection.close()

    def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response_only(status)
        for name, value in headers:
            self.send_header(name, value)
        if not any(name.lower() == "content-type" for name, _ in headers):
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()


class FlakyFront:
    """An HTTP front on ``127.0.0.1:port`` for ``upstream``; start and stop it with ``with``."""

    def __init__(
        self,
        upstream: str,
        schedule: Iterable[Action] = (),
        *,
        then: Action = "forward",
        retry_after: int = RETRY_AFTER_SECONDS,
    ) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname or parts.port is None:
            raise ValueError(f"the upstream must look like http://host:port, not {upstream!r}")
        self.upstream_host: str = parts.hostname
        self.upstream_port: int = parts.port
        self.then: Action = then
        self.retry_after = retry_after
        self._schedule = list(schedule)
        self._lock = threading.Lock()
        self._posts: list[RecordedPost] = []
        self._requests: list[tuple[str, str]] = []
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.front = self
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="flaky-front",
            daemon=True,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def posts(self) -> list[RecordedPost]:
        """Every ``POST /v1/petitions`` received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._posts)

    @property
    def requests(self) -> list[tuple[str, str]]:
        """``(method, path)`` of every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    def record_request(self, method: str, path: str) -> None:
        with self._lock:
            self._requests.append((method, path))

    def start(self) -> FlakyFront:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def __enter__(self) -> FlakyFront:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def record_submission(self, body: bytes) -> Action:
        """Record one submission and say what to do with it."""
        arrived = time.monotonic()
        with self._lock:
            done = len(self._posts)
            action = self._schedule[done] if done < len(self._schedule) else self.then
            self._posts.append(RecordedPost(body, arrived, action))
            return action
