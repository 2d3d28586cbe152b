"""gunicorn's threaded worker, with our JSON errors and load shedding at the front door.

gunicorn rejects some requests before the application sees them (a request line or headers
over the limits, malformed HTTP). Its own answer is an HTML page and a log line naming the
client's address. This worker answers those with the same ``{"error": ...}`` body, stable code
and security headers as every other refusal, and logs nothing about the client.

It also sheds load before it queues. gunicorn hands every readable connection to its thread
pool, whose queue has no bound: in a surge, requests wait there for seconds and then time out,
and the writer's bounded queue never even sees them. So the worker's event loop, which sees
each request before any thread does, looks at how long the oldest request still waiting for a
thread has waited. Past ``max_queue_delay`` the new request is answered at once, from the event
loop, with ``503 busy`` and ``Retry-After``: the petitioner's client comes back later instead of
hanging, and the requests already queued are served within the delay.
"""

from __future__ import annotations

import collections
import contextlib
import json
import re
import selectors
import socket
import sys
import time
from functools import partial
from typing import Any

from gunicorn import http as gunicorn_http
from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker

_CLIENT_ERRORS: list[tuple[type[BaseException], int, str, str]] = [
    (gunicorn_http.errors.LimitRequestLine, 414, "uri_too_long", "the request line is too long"),
    (
        gunicorn_http.errors.LimitRequestHeaders,
        431,
        "headers_too_large",
        "the request has too many or too large headers",
    ),
    (
        gunicorn_http.errors.ParseException,
        400,
        "bad_request",
        "the request is not valid HTTP/1.1",
    ),
]
# ParseException subclasses that are not the client's fault: gunicorn's own handling stays.
_NOT_CLIENT_ERRORS = (
    gunicorn_http.errors.InvalidResponseHeader,
    gunicorn_http.errors.InvalidResponseHeaderName,
    gunicorn_http.errors.ConfigurationProblem,
)
_REASONS = {
    200: "OK",
    400: "Bad Request",
    414: "URI Too Long",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}
#: How long a shed connection is kept to read what the client still sends before closing it
#: (closing with unread data would reset the connection and could destroy the 503 in transit).
LINGER_SECONDS = 2.0
MAX_DRAIN_BYTES = 1024 * 1024
#: ``/healthz`` is answered by the event loop itself while requests are being shed, so that a
#: supervisor does not take a busy server for a dead one and restart it mid-surge.
LIVENESS_REQUEST = b"GET /healthz HTTP/1.1\r\n"


def response_bytes(status: int, body: bytes, *, close: bool, extra: str = "") -> bytes:
    """A whole JSON response with the headers every answer of ours carries (server/app.py)."""
    head = (
        f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
        f"{extra}"
        f"Connection: {'close' if close else 'keep-alive'}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Referrer-Policy: no-referrer\r\n"
        "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n"
        "\r\n"
    )
    return head.encode("ascii") + body


def error_bytes(
    status: int, code: str, message: str, retry_after: int | None = None, *, close: bool = True
) -> bytes:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    advice = "" if retry_after is None else f"Retry-After: {retry_after}\r\n"
    return response_bytes(status, body, close=close, extra=advice)


_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*([0-9]{1,10})[ \t]*(?=\r\n|$)")


def is_one_whole_request(data: bytes) -> bool:
    """Exactly one complete HTTP/1.1 request with no body or a ``Content-Length`` body.

    Deliberately narrow: when in doubt the connection is closed instead of kept, so a
    misjudged boundary can never make the next request start in the middle of this one.
    """
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return False
    head = data[:end].lower()
    first_line = head.split(b"\r\n", 1)[0]
    if not first_line.endswith(b" http/1.1") or b"\r\ntransfer-encoding:" in head:
        return False
    lengths = _CONTENT_LENGTH.findall(head)
    if len(lengths) > 1 or head.count(b"\r\ncontent-length:") != len(lengths):
        return False
    body = int(lengths[0]) if lengths else 0
    return len(data) == end + 4 + body


class _Ticket:
    """Whether a queued request has reached a thread yet (set by that thread)."""

    __slots__ = ("started",)

    def __init__(self) -> None:
        self.started = False


class PrivateThreadWorker(ThreadWorker):  # type: ignore[misc]  # gunicorn is untyped
    #: Set by ``petition serve`` before gunicorn forks the workers (server/serve.py).
    max_queue_delay: float = 0.5
    retry_after: int = 2

    def init_process(self) -> None:
        # The event loop, which sheds load, competes for the GIL with busy request threads;
        # a shorter switch interval lets it run within a millisecond instead of five.
        sys.setswitchinterval(0.001)
        self._waiting: collections.deque[tuple[float, _Ticket]] = collections.deque()
        self._lingering_order: collections.deque[tuple[float, socket.socket]] = collections.deque()
        self._lingering: set[socket.socket] = set()
        message = (
            "the server is taking in more than it can handle right now; nothing was stored, "
            "please send the same request again shortly"
        )
        self._shed_and_close = error_bytes(503, "busy", message, self.retry_after)
        self._shed_and_keep = error_bytes(503, "busy", message, self.retry_after, close=False)
        self._alive = response_bytes(200, b'{"status":"ok"}', close=False)
        super().init_process()

    def enqueue_req(self, conn: Any) -> None:
        now = time.monotonic()
        waiting = self._waiting
        while waiting and waiting[0][1].started:
            waiting.popleft()
        self._close_expired_lingering(now)
        if waiting and now - waiting[0][0] > self.max_queue_delay:
            self._shed(conn, now)
            return
        ticket = _Ticket()
        conn.sealed_petition_ticket = ticket
        waiting.append((now, ticket))
        super().enqueue_req(conn)

    def handle(self, conn: Any) -> Any:
        ticket = getattr(conn, "sealed_petition_ticket", None)
        if ticket is not None:
            ticket.started = True
        return super().handle(conn)

    def _shed(self, conn: Any, now: float) -> None:
        """Answer 503 from the event loop, without handing the request to a thread.

        A connection with nothing to read yet waits on gunicorn's pending list and comes back
        here when its request arrives. A request read whole (headers and a ``Content-Length``
        body, nothing more) gets its 503 and the connection stays open, as after any answer:
        shedding must cost less than serving, and a reconnection per refusal would not.
        Anything else (a partial or chunked body, pipelined requests) gets the 503 and the
        connection is closed after the client has finished sending.
        """
        sock: socket.socket = conn.sock
        try:
            sock.setblocking(False)
            data, client_closed = self._read_available(sock)
        except OSError:
            self.nr_conns -= 1
            sock.close()
            return
        if not data and not client_closed and conn.parser is None:
            conn.timeout = now + self.cfg.keepalive
            self.pending_conns.append(conn)
            self.poller.register(
                sock, selectors.EVENT_READ, partial(self.on_pending_socket_readable, conn)
            )
            return
        read_ahead = conn.parser is not None and conn.parser.unreader.buf.getvalue()
        if not read_ahead and not client_closed and is_one_whole_request(data):
            # Liveness stays true in a surge: this worker is alive, its event loop answered.
            answer = self._alive if data.startswith(LIVENESS_REQUEST) else self._shed_and_keep
            try:
                sock.send(answer)
            except OSError:
                self.nr_conns -= 1
                sock.close()
                return
            conn.set_timeout()
            self.keepalived_conns.append(conn)
            self.poller.register(
                sock, selectors.EVENT_READ, partial(self.on_client_socket_readable, conn)
            )
            return
        self.nr_conns -= 1
        try:
            sock.send(self._shed_and_close)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            sock.close()
            return
        self._lingering.add(sock)
        self._lingering_order.append((now + LINGER_SECONDS, sock))
        self.poller.register(sock, selectors.EVENT_READ, self._on_lingering_readable)

    @staticmethod
    def _read_available(sock: socket.socket) -> tuple[bytes, bool]:
        """What has arrived (at most MAX_DRAIN_BYTES), and whether the client closed its side."""
        chunks: list[bytes] = []
        received = 0
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while received < MAX_DRAIN_BYTES:
                chunk = sock.recv(65536)
                if not chunk:
                    return b"".join(chunks), True
                chunks.append(chunk)
                received += len(chunk)
        return b"".join(chunks), False

    @staticmethod
    def _drain(sock: socket.socket) -> bool:
        """Read what has arrived; True once the client has closed its side."""
        received = 0
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while received < MAX_DRAIN_BYTES:
                chunk = sock.recv(65536)
                if not chunk:
                    return True
                received += len(chunk)
        return received >= MAX_DRAIN_BYTES

    def _on_lingering_readable(self, sock: socket.socket) -> None:
        try:
            finished = self._drain(sock)
        except OSError:
            finished = True
        if finished:
            self._forget_lingering(sock)

    def _close_expired_lingering(self, now: float) -> None:
        while self._lingering_order and self._lingering_order[0][0] < now:
            self._forget_lingering(self._lingering_order.popleft()[1])

    def _forget_lingering(self, sock: socket.socket) -> None:
        if sock not in self._lingering:
            return  # closed already, when the client finished
        self._lingering.discard(sock)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(sock)
        sock.close()

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        for kind, status, code, message in _CLIENT_ERRORS:
            if isinstance(exc, kind) and not isinstance(exc, _NOT_CLIENT_ERRORS):
                try:
                    util.write_nonblock(client, error_bytes(status, code, message))
                    util.close(client)
                except OSError:
                    pass
                return
        super().handle_error(req, client, addr, exc)
