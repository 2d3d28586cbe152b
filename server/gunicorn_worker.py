"""gunicorn's threaded worker, with our JSON errors, whole requests only, and load shedding.

gunicorn rejects some requests before the application sees them (a request line or headers
over the limits, malformed HTTP). Its own answer is an HTML page and a log line naming the
client's address. This worker answers those with the same ``{"error": ...}`` body, stable code
and security headers as every other refusal, and logs nothing about the client.

**A thread only ever gets a whole request.** gunicorn hands a connection to a thread as soon as
it is readable, and the thread then blocks on the socket until the request has arrived: 64
clients that each send one byte and wait hold every thread of a worker indefinitely, and every
healthy request is refused. No reverse proxy is assumed in front of the embedded server, so the
worker's event loop reads each request itself, without blocking, head and body (up to the body
limit), and hands it to a thread only once it is complete; the thread's parser then reads it
from memory. A request whose head is not complete ``head_timeout`` seconds after its first byte,
or whose body is not complete ``body_timeout`` seconds after its head, gets ``408
request_timeout`` and is closed. A slow client costs a socket and its bytes, never a thread.

**Bodies in memory are bounded.** What a worker holds of request bodies (read by the event loop
or being handled by a thread) is counted against ``body_budget`` bytes. A request whose body
would exceed it (unless nothing else is in flight, so that the largest legitimate body always
gets in) waits, unread: the event loop stops reading that connection, TCP holds the client
back, and reading resumes when bodies in flight finish. Its body deadline keeps running; a
request still waiting when it expires is answered ``503 busy`` with ``Retry-After``. After a
large body, freed memory is handed back to the operating system (``malloc_trim``).

**Stopping without resetting anyone.** On SIGTERM (from the arbiter, or from a service manager
signalling the whole process group) a worker keeps accepting for ``accept_grace`` seconds, long
enough for the arbiter to close its copy of the listening socket. Then it tells the kernel to
drop new handshakes on the listening socket (a socket filter that discards a bare SYN, so
handshakes already under way still complete), waits a moment for those to finish, accepts
everything still queued and closes its own copy. Without the filter a handshake completing
between the last accept and the close would be queued and then reset, after the client had
sent its request. With it, every connection the kernel completed is taken and answered
(``Connection: close``); a client whose SYN was dropped tries again a second later and finds
the port closed, before it has sent anything. gunicorn then finishes what
is in flight, within ``graceful_timeout``.

**Load shedding before the queue.** gunicorn's thread pool queue has no bound: in a surge,
requests wait there for seconds and then time out, and the writer's bounded queue never even
sees them. So the event loop, which sees each request before any thread does, looks at how long
the oldest request still waiting for a thread has waited. Past ``max_queue_delay`` the new
request is answered at once, from the event loop, with ``503 busy`` and ``Retry-After``: the
petitioner's client comes back later instead of hanging, and the requests already queued are
served within the delay.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import ctypes.util
import io
import re
import selectors
import socket
import struct
import sys
import time
from functools import partial
from typing import Any

from gunicorn import http as gunicorn_http
from gunicorn import util
from gunicorn.http.unreader import SocketUnreader
from gunicorn.workers.gthread import TConn, ThreadWorker

from server.raw_http import error_bytes, response_bytes
from server.services import EXTENSION_NAME, Services
from server.submission_lane import SubmissionLane, Taken

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
#: How long a refused connection is kept to read what the client still sends before closing it
#: (closing with unread data would reset the connection and could destroy the answer in transit).
LINGER_SECONDS = 2.0
#: Seconds a stopping worker waits, once new handshakes are dropped, for those under way.
HANDSHAKE_SETTLE = 0.05
MAX_DRAIN_BYTES = 1024 * 1024
#: At most this much is read from one connection per turn of the event loop, so that one fast
#: large upload does not keep the loop from the other connections.
READ_PER_TURN = 1024 * 1024
#: Until a request's head has arrived (and its body is admitted), at most this much is read per
#: turn: what waits for the body budget holds little memory.
HEAD_READ = 65536
#: A body above this is "large": memory is handed back to the system after it has been handled.
LARGE_BODY = 1024 * 1024
#: ``/healthz`` is answered by the event loop itself while requests are being shed, so that a
#: supervisor does not take a busy server for a dead one and restart it mid-surge.
LIVENESS_REQUEST = b"GET /healthz HTTP/1.1\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


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


class BadFraming(Exception):
    """The request's body framing is not valid HTTP/1.1: answered 400, connection closed."""


#: ``length`` for a chunked body (its end is found by decoding the chunk framing).
CHUNKED = -1
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
_DIGITS = re.compile(rb"[0-9]{1,18}")
MAX_CHUNK_LINE = 4096
MAX_TRAILERS = 64 * 1024


def body_framing(head: bytes) -> tuple[int, bool]:
    """How the body after ``head`` (without its final CRLFCRLF) is delimited, and 100-continue.

    Returns ``(length, expects_continue)``: a ``Content-Length``, 0 without one, or
    ``CHUNKED``. Anything else (two lengths, a length that is not a decimal number, another
    transfer coding, both headers) is refused: the API needs nothing else, and an ambiguous
    boundary is how requests are smuggled.
    """
    lines = head.split(b"\r\n")
    lengths: list[bytes] = []
    codings: list[bytes] = []
    expects_continue = False
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon:
            continue  # not a header line: gunicorn's parser refuses it with 400
        name = name.lower()
        if name == b"content-length":
            lengths.append(value.strip(b" \t"))
        elif name == b"transfer-encoding":
            codings.append(value.strip(b" \t").lower())
        elif name == b"expect":
            expects_continue = value.strip(b" \t").lower() == b"100-continue"
    http11 = lines[0].endswith(b" HTTP/1.1")
    if codings:
        if lengths or codings != [b"chunked"]:
            raise BadFraming("only Transfer-Encoding: chunked, without Content-Length")
        return CHUNKED, expects_continue and http11
    if len(lengths) > 1 or (lengths and not _DIGITS.fullmatch(lengths[0])):
        raise BadFraming("one Content-Length, a decimal number")
    length = int(lengths[0]) if lengths else 0
    return length, expects_continue and http11 and length > 0


class ChunkedBody:
    """Finds where a chunked body ends as its bytes arrive (RFC 9112 §7.1), without decoding.

    Only the framing is checked here, strictly; gunicorn's parser decodes the body again in the
    thread. A body this accepts but gunicorn refuses is answered 400 by the application
    (server/http_edge.py); one this refuses is answered 400 by the event loop.
    """

    __slots__ = ("data_bytes", "end", "position", "remaining", "state")

    def __init__(self, start: int) -> None:
        self.position = start  # where the next unparsed byte is in the connection's buffer
        self.state = "size"  # size | data | trailer
        self.remaining = 0  # data bytes (plus CRLF) still to come in the current chunk
        self.data_bytes = 0  # decoded body size so far
        self.end = -1  # where the request ends, once known

    def advance(self, buffer: bytearray) -> bool:
        """Parse what has arrived; True once the whole body is there (``end`` is set)."""
        while True:
            if self.state == "data":
                if len(buffer) < self.position + self.remaining:
                    return False
                self.position += self.remaining
                if buffer[self.position - 2 : self.position] != b"\r\n":
                    raise BadFraming("chunk data not followed by CRLF")
                self.state = "size"
                continue
            newline = buffer.find(b"\n", self.position)
            if newline < 0:
                limit = MAX_CHUNK_LINE if self.state == "size" else MAX_TRAILERS
                if len(buffer) - self.position > limit:
                    raise BadFraming("chunk size line or trailer too long")
                return False
            if newline == self.position or buffer[newline - 1] != 0x0D:
                raise BadFraming("line not ended by CRLF")
            line = bytes(buffer[self.position : newline - 1])
            self.position = newline + 1
            if b"\r" in line or b"\0" in line:
                raise BadFraming("bare CR or NUL in the chunk framing")
            if self.state == "trailer":
                if not line:
                    self.end = self.position
                    return True
                if line[:1] in (b" ", b"\t") or b":" not in line:
                    raise BadFraming("trailer line is not a header")
                if self.position - self.end > MAX_TRAILERS:
                    raise BadFraming("trailers too long")
                continue
            size_text, _, _ = line.partition(b";")
            if not _HEX.fullmatch(size_text):
                raise BadFraming("chunk size is not hexadecimal")
            size = int(size_text, 16)
            self.data_bytes += size
            if size == 0:
                self.state = "trailer"
                self.end = self.position  # trailers measured from here
            else:
                self.state = "data"
                self.remaining = size + 2


class _Reading:
    """A request being read by the event loop, before any thread sees it."""

    __slots__ = (
        "buffer", "chunked", "continued", "deadline", "head_end", "length", "reserved", "wanted",
    )  # fmt: skip

    def __init__(self, deadline: float) -> None:
        self.buffer = bytearray()
        self.deadline = deadline
        self.head_end = -1  # index just after the head's CRLFCRLF, once it has arrived
        self.length = 0  # Content-Length, or CHUNKED
        self.chunked: ChunkedBody | None = None
        self.continued = False  # 100 Continue sent (so gunicorn must not send another)
        self.reserved = 0  # bytes counted against the worker's body budget
        self.wanted = 0  # while waiting for the budget: the total it waits for, else 0

    def complete_at(self) -> int:
        """Where the request ends in ``buffer``, or -1 while it is incomplete."""
        if self.head_end < 0:
            return -1
        if self.chunked is not None:
            return self.chunked.end if self.chunked.advance(self.buffer) else -1
        end = self.head_end + self.length
        return end if len(self.buffer) >= end else -1


class _ReadUnreader(SocketUnreader):  # type: ignore[misc]  # gunicorn is untyped
    """The parser's source: the request the event loop has read, then (never, normally) the socket.

    gunicorn's own buffer copies all it holds on every read, which makes reading a 21 MiB body
    from it quadratic; this hands out the read bytes a piece at a time instead.
    """

    def __init__(self, sock: socket.socket, data: bytearray) -> None:
        super().__init__(sock)
        self._data = memoryview(data)
        self._position = 0

    def chunk(self, size_hint: int | None = None) -> bytes:
        if self._position < len(self._data):
            # As much as asked, but at most what a socket read would give: the caller's
            # buffer holds what is handed out beyond its request and copies it again.
            size = min(max(size_hint or 0, self.mxchunk), self.max_body_chunk)
            piece = self._data[self._position : self._position + size]
            self._position += len(piece)
            return bytes(piece)
        return bytes(super().chunk(size_hint))

    def take_buffered(self) -> bytes:
        held = bytes(getattr(self, "buf").getvalue())  # noqa: B009  (untyped base class)
        rest = held + bytes(self._data[self._position :])
        self.buf = io.BytesIO()
        self._position = len(self._data)
        return rest

    def has_buffered(self) -> bool:
        held = bytes(getattr(self, "buf").getvalue())  # noqa: B009  (untyped base class)
        return bool(held) or self._position < len(self._data)


class _Ticket:
    """Whether a queued request has reached a thread yet (set by that thread)."""

    __slots__ = ("started",)

    def __init__(self) -> None:
        self.started = False


_SO_ATTACH_FILTER = 26  # Linux <asm-generic/socket.h>; Python's socket module lacks it
#: Classic BPF, run by the kernel on each segment reaching the listening socket, with the
#: TCP header at offset 0: keep everything but a segment whose SYN is set and ACK is not.
_DROP_BARE_SYN = (
    (0x30, 0, 0, 13),  # ldb [13]         the flags byte
    (0x54, 0, 0, 0x12),  # and #0x12        SYN | ACK
    (0x15, 0, 1, 0x02),  # jeq #0x02        only SYN?
    (0x06, 0, 0, 0),  # ret #0           drop it
    (0x06, 0, 0, 0xFFFFFFFF),  # ret #-1    keep the whole segment
)


def refuse_new_handshakes(listener: socket.socket) -> bool:
    """Make the kernel drop new connection attempts on a TCP listener, keeping its queue.

    Closing a listening socket resets every connection still in its accept queue, including
    ones whose clients have sent a request already. With this filter attached first, the
    queue can only shrink, so accepting until it is empty and then closing resets nobody.
    False where it cannot be done (not Linux, not TCP); the caller then closes at once.
    """
    if not sys.platform.startswith("linux"):
        return False
    if listener.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    program = ctypes.create_string_buffer(
        b"".join(struct.pack("HBBI", *instruction) for instruction in _DROP_BARE_SYN)
    )
    fprog = struct.pack("HP", len(_DROP_BARE_SYN), ctypes.addressof(program))
    try:
        listener.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)
    except OSError:
        return False
    return True


def _malloc_trim() -> Any:
    """glibc's ``malloc_trim``, or None elsewhere: hands freed heap memory back to the system.

    Without it, the arenas a 21 MiB body was decoded in stay mapped after the request: a
    worker's memory would stay at its highest point forever.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None


class PrivateThreadWorker(ThreadWorker):  # type: ignore[misc]  # gunicorn is untyped
    #: Set by ``petition serve`` before gunicorn forks the workers (server/serve.py).
    max_queue_delay: float = 0.5
    retry_after: int = 2
    max_body_bytes: int = 24 * 1024 * 1024
    #: Bytes of request bodies a worker holds at once (see the module docstring).
    body_budget: int = 48 * 1024 * 1024
    #: Seconds from a request's first byte until its head must be complete.
    head_timeout: float = 5.0
    #: Seconds from a request's head until its body must be complete.
    body_timeout: float = 120.0
    #: Seconds a thread may spend writing one response to a client that does not read it.
    send_timeout: float = 30.0
    #: Seconds a stopping worker keeps accepting (see the module docstring).
    accept_grace: float = 1.0
    #: Ordinary submissions are answered by the event loop (server/submission_lane.py).
    submission_lane: bool = True

    def init_process(self) -> None:
        # The event loop, which reads requests and sheds load, competes for the GIL with busy
        # request threads; a shorter switch interval lets it run within a millisecond.
        sys.setswitchinterval(0.001)
        self._waiting: collections.deque[tuple[float, _Ticket]] = collections.deque()
        self._lingering_order: collections.deque[tuple[float, socket.socket]] = collections.deque()
        self._lingering: set[socket.socket] = set()
        self._reading: dict[Any, _Reading] = {}
        self._next_sweep = 0.0
        self._in_flight = 0  # bytes of bodies held now, against body_budget
        self._budget_waiting: collections.deque[Any] = collections.deque()
        self._trim = _malloc_trim()
        self._stop_at: float | None = None  # when to stop accepting, once asked to stop
        self._lane: SubmissionLane | None = None
        self._lane_checked = False  # whether the application has been asked for its services
        self._stopping = False
        message = (
            "the server is taking in more than it can handle right now; nothing was stored, "
            "please send the same request again shortly"
        )
        self._shed_and_close = error_bytes(503, "busy", message, self.retry_after)
        self._shed_and_keep = error_bytes(503, "busy", message, self.retry_after, close=False)
        self._alive = response_bytes(200, b'{"status":"ok"}', close=False)
        self._timed_out = error_bytes(
            408,
            "request_timeout",
            "the request did not arrive in time; nothing was stored, please send it again",
        )
        self._too_large = error_bytes(
            413, "too_large", f"the request body is larger than {self.max_body_bytes} bytes"
        )
        cfg = self.cfg
        self._max_head = (
            cfg.limit_request_line
            + 2
            + cfg.limit_request_fields * (cfg.limit_request_field_size + 2)
        ) + 4
        super().init_process()

    # --- reading requests in the event loop ---------------------------------------------

    def enqueue_req(self, conn: Any) -> None:
        """gunicorn's entry for a connection with (possibly) a request: read it here first."""
        now = time.monotonic()
        self._close_expired_lingering(now)
        pending = b""
        if conn.parser is not None:
            pending = conn.parser.unreader.take_buffered()  # read ahead by the last request
        reading = _Reading(now + (self.head_timeout if pending else self.cfg.keepalive))
        reading.buffer += pending
        self._reading[conn] = reading
        try:
            conn.sock.setblocking(False)
            self.poller.register(
                conn.sock, selectors.EVENT_READ, partial(self._on_request_readable, conn)
            )
        except (OSError, ValueError, KeyError):
            self._drop(conn)
            return
        if pending:
            self._progress(conn, reading, now, client_closed=False)

    def _on_request_readable(self, conn: Any, sock: socket.socket) -> None:
        reading = self._reading.get(conn)
        if reading is None:
            return
        had_bytes = bool(reading.buffer)
        client_closed = False
        try:
            with contextlib.suppress(BlockingIOError, InterruptedError):
                received = 0
                admitted = reading.head_end >= 0
                while received < (READ_PER_TURN if admitted else HEAD_READ):
                    chunk = sock.recv(65536)
                    if not chunk:
                        client_closed = True
                        break
                    reading.buffer += chunk
                    received += len(chunk)
        except OSError:
            self._drop(conn)
            return
        now = time.monotonic()
        if not had_bytes and reading.buffer:
            reading.deadline = now + self.head_timeout  # the head's clock starts now
        self._progress(conn, reading, now, client_closed=client_closed)

    def _progress(self, conn: Any, reading: _Reading, now: float, *, client_closed: bool) -> None:
        """Look at what has arrived: wait for more, refuse, or hand the request to a thread."""
        buffer = reading.buffer
        try:
            if reading.head_end < 0:
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    self._check_partial_head(conn, buffer, client_closed)
                    return
                if b"\n" in buffer[:end].replace(b"\r\n", b""):
                    raise BadFraming("bare LF in the request head")
                reading.head_end = end + 4
                reading.length, expects_continue = body_framing(bytes(buffer[:end]))
                if reading.length > self.max_body_bytes:
                    self._refuse(conn, self._too_large)
                    return
                if reading.length == CHUNKED:
                    reading.chunked = ChunkedBody(reading.head_end)
                if reading.length != 0:
                    reading.deadline = now + self.body_timeout
                reading.continued = expects_continue and len(buffer) == reading.head_end
                if reading.length > 0 and not self._reserve(conn, reading, reading.length):
                    return  # waits for the budget; 100 Continue is sent when it gets in
                if reading.continued:
                    with contextlib.suppress(OSError):
                        conn.sock.send(CONTINUE)
            end = reading.complete_at()
            if reading.chunked is not None and not self._grow_chunked(conn, reading):
                return
        except BadFraming as exc:
            self._refuse(conn, error_bytes(400, "bad_request", f"not valid HTTP/1.1: {exc}"))
            return
        if end < 0:
            if client_closed:
                self._drop(conn)
            return
        self._hand_off(conn, reading, now)

    def _check_partial_head(self, conn: Any, buffer: bytearray, client_closed: bool) -> None:
        limit = self.cfg.limit_request_line + 2
        if b"\r\n" not in buffer[:limit] and len(buffer) > limit:
            self._refuse(conn, error_bytes(414, "uri_too_long", "the request line is too long"))
        elif len(buffer) > self._max_head:
            message = "the request has too many or too large headers"
            self._refuse(conn, error_bytes(431, "headers_too_large", message))
        elif b"\n" in buffer.replace(b"\r\n", b""):
            self._refuse(conn, error_bytes(400, "bad_request", "not valid HTTP/1.1: bare LF"))
        elif client_closed:
            self._drop(conn)

    def _grow_chunked(self, conn: Any, reading: _Reading) -> bool:
        """A chunked body is counted as it arrives (its length is not known in advance)."""
        assert reading.chunked is not None  # noqa: S101  (only called for chunked bodies)
        decoded = reading.chunked.data_bytes
        if decoded >= self.max_body_bytes:
            self._refuse(conn, self._too_large)
            return False
        held = len(reading.buffer) - reading.head_end
        if held > reading.reserved:
            return self._reserve(conn, reading, max(held, 2 * reading.reserved, 65536))
        return True

    def _reserve(self, conn: Any, reading: _Reading, total: int) -> bool:
        """Count ``total`` body bytes for this request, or park it until they fit the budget."""
        if self._fits(reading, total):
            self._in_flight += total - reading.reserved
            reading.reserved = total
            return True
        reading.wanted = total
        self._budget_waiting.append(conn)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)  # unread: TCP makes the client wait
        return False

    def _fits(self, reading: _Reading, total: int) -> bool:
        """A body up to LARGE_BODY always fits: an attacker who announces bodies and never
        sends them must not be able to hold back ordinary (text-only) petitions."""
        others = self._in_flight - reading.reserved
        return total <= LARGE_BODY or others <= 0 or others + total <= self.body_budget

    def _admit_waiting(self) -> None:
        """After bodies finished: let in what now fits, oldest first."""
        still: collections.deque[Any] = collections.deque()
        now = time.monotonic()
        while self._budget_waiting:
            conn = self._budget_waiting.popleft()
            reading = self._reading.get(conn)
            if reading is None or not reading.wanted:
                continue  # closed meanwhile
            if not self._fits(reading, reading.wanted):
                still.append(conn)
                continue
            self._in_flight += reading.wanted - reading.reserved
            reading.reserved, reading.wanted = reading.wanted, 0
            try:
                self.poller.register(
                    conn.sock, selectors.EVENT_READ, partial(self._on_request_readable, conn)
                )
                if reading.continued:
                    conn.sock.send(CONTINUE)
            except (OSError, ValueError, KeyError):
                self._drop(conn)
                continue
            self._progress(conn, reading, now, client_closed=False)
        self._budget_waiting.extend(still)

    def _hand_off(self, conn: Any, reading: _Reading, now: float) -> None:
        """The request is whole: shed it, or give it (from memory) to a thread."""
        self._stop_reading(conn)
        data = reading.buffer  # handed on as it is: a copy would double a large body
        conn.sealed_petition_reserved = reading.reserved
        conn.sealed_petition_continued = reading.continued
        lane = self._submission_lane()
        if lane is not None:
            taken = lane.take(conn, data, now)
            if taken is Taken.YES:
                return
            if taken is Taken.CONGESTED:
                self._shed(conn, data)
                return
        waiting = self._waiting
        while waiting and waiting[0][1].started:
            waiting.popleft()
        if waiting and now - waiting[0][0] > self.max_queue_delay:
            self._shed(conn, data)
            return
        try:
            conn.init()  # the HTTP/1.1 parser, reading from the buffer filled below
        except Exception:  # a socket error of a client gone: nothing to answer
            self._drop(conn)
            return
        conn.parser.unreader = _ReadUnreader(conn.sock, data)
        ticket = _Ticket()
        conn.sealed_petition_ticket = ticket
        waiting.append((now, ticket))
        super().enqueue_req(conn)

    def _submission_lane(self) -> SubmissionLane | None:
        """The lane, made on first use: the application (and its services) is loaded by then.

        None when switched off, and for an application without a writer (a witness server).
        """
        if not self._lane_checked:
            self._lane_checked = True
            extensions = getattr(self.wsgi, "extensions", {})
            found = extensions.get(EXTENSION_NAME) if self.submission_lane else None
            if isinstance(found, Services):
                # A submission waits for its batch's tick as a matter of course: only waiting
                # past that, plus the queue delay, means the writer is falling behind.
                max_wait = self.max_queue_delay + found.config.batch_interval_seconds
                self._lane = SubmissionLane(
                    found, self.poller, self._lane_answer, max_wait=max_wait
                )
        return self._lane

    def _lane_answer(self, conn: Any, answer: bytes, keep_alive: bool) -> None:
        """Write the lane's answer; then keep the connection for its next request, or close."""
        if not keep_alive:
            self._refuse(conn, answer)
            return
        self._release(conn)
        self._answer_and_keep(conn, answer)

    def _answer_and_keep(self, conn: Any, answer: bytes) -> None:
        """Send ``answer`` from the event loop, then wait for the connection's next request.

        A client that has not read its earlier answers may have no room for this one, or for
        any of it (the send raises ``BlockingIOError``): the rest is sent as room appears, for
        ``send_timeout`` at most, while the loop serves everyone else. Dropping it instead
        would leave an acknowledged petition unanswered; keeping the connection after a part
        would run the next answer into it.
        """
        try:
            sent = conn.sock.send(answer)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._drop(conn)
            return
        if sent < len(answer):
            deadline = time.monotonic() + self.send_timeout
            self.poller.register(
                conn.sock,
                selectors.EVENT_WRITE,
                partial(self._on_answer_writable, conn, memoryview(answer)[sent:], deadline),
            )
            return
        self._keep(conn)

    def _on_answer_writable(
        self, conn: Any, rest: memoryview, deadline: float, sock: socket.socket
    ) -> None:
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(sock)
        try:
            sent = sock.send(rest)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._drop(conn)
            return
        if sent == len(rest):
            self._keep(conn)
        elif time.monotonic() > deadline:
            self._drop(conn)
        else:
            self.poller.register(
                sock,
                selectors.EVENT_WRITE,
                partial(self._on_answer_writable, conn, rest[sent:], deadline),
            )

    def _keep(self, conn: Any) -> None:
        """Wait on the connection for its next request, as gunicorn does after an answer."""
        conn.set_timeout()
        self.keepalived_conns.append(conn)
        try:
            self.poller.register(
                conn.sock, selectors.EVENT_READ, partial(self.on_client_socket_readable, conn)
            )
        except (OSError, ValueError, KeyError):
            self.keepalived_conns.remove(conn)
            self._drop(conn)

    def _shed(self, conn: Any, data: bytearray) -> None:
        """Answer 503 from the event loop, without handing the request to a thread.

        A single whole request (no pipelined bytes behind it, a ``Content-Length`` body or
        none) gets its 503 and the connection stays open, as after any answer: shedding must
        cost less than serving, and a reconnection per refusal would not. Anything else gets
        the 503 and the connection is closed.
        """
        if not is_one_whole_request(bytes(data)):
            self._refuse(conn, self._shed_and_close)
            return
        self._release(conn)
        # Liveness stays true in a surge: this worker is alive, its event loop answered.
        answer = self._alive if data.startswith(LIVENESS_REQUEST) else self._shed_and_keep
        self._answer_and_keep(conn, answer)

    def _stop_reading(self, conn: Any) -> None:
        self._reading.pop(conn, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)

    def _release(self, conn: Any) -> int:
        """Give back what the connection's body counted against the budget."""
        reading = self._reading.get(conn)
        reserved = getattr(conn, "sealed_petition_reserved", 0)
        if reading is not None:
            reserved = reading.reserved
            reading.reserved = reading.wanted = 0
        conn.sealed_petition_reserved = 0
        self._in_flight -= reserved
        if reserved and self._budget_waiting:
            self._admit_waiting()
        return int(reserved)

    def _drop(self, conn: Any) -> None:
        """Close a connection without an answer (the client left, or never said anything)."""
        self._release(conn)
        self._stop_reading(conn)
        self.nr_conns -= 1
        with contextlib.suppress(OSError):
            conn.sock.close()

    def _refuse(self, conn: Any, answer: bytes) -> None:
        """Answer and close, reading what the client still sends for a moment (see LINGER)."""
        self._release(conn)
        self._stop_reading(conn)
        self.nr_conns -= 1
        sock: socket.socket = conn.sock
        try:
            sock.setblocking(False)
            sock.send(answer)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            sock.close()
            return
        self._linger(sock)

    def _linger(self, sock: socket.socket) -> None:
        self._lingering.add(sock)
        self._lingering_order.append((time.monotonic() + LINGER_SECONDS, sock))
        try:
            self.poller.register(sock, selectors.EVENT_READ, self._on_lingering_readable)
        except (OSError, ValueError, KeyError):
            self._forget_lingering(sock)

    def handle_exit(self, sig: Any, frame: Any) -> None:
        """SIGTERM: stop after ``accept_grace`` (gunicorn's would stop accepting at once)."""
        if self._stop_at is None and not self._stopping:
            self._stopping = True
            self._stop_at = time.monotonic() + self.accept_grace
            self.method_queue.defer(lambda: None)  # wake the loop

    def _stop_accepting(self) -> None:
        """Take every connection the kernel has completed, then close the listening sockets."""
        filtered = [refuse_new_handshakes(listener) for listener in self.sockets]  # each one
        if any(filtered):
            time.sleep(HANDSHAKE_SETTLE)  # once, at shutdown: handshakes under way complete
        for listener in self.sockets:
            while True:
                try:
                    client, address = listener.accept()
                except OSError:  # EAGAIN: none left (or the socket is gone)
                    break
                self.nr_conns += 1
                self.enqueue_req(TConn(self.cfg, client, address, listener.getsockname()))
        self.set_accept_enabled(False)
        for listener in self.sockets:
            listener.close()

    def murder_pending(self) -> None:
        """Called by gunicorn's loop every turn (also while stopping): enforce the deadlines."""
        super().murder_pending()
        now = time.monotonic()
        if self._stop_at is not None and now >= self._stop_at:
            self._stop_at = None
            self._stop_accepting()
            self.alive = False  # gunicorn's loop now finishes what is in flight, and exits
        self._close_expired_lingering(now)
        if now < self._next_sweep:
            return
        self._next_sweep = now + 0.2
        if self._lane is not None:
            self._lane.sweep(now)
        expired = [conn for conn, reading in self._reading.items() if reading.deadline < now]
        for conn in expired:
            reading = self._reading.get(conn)
            if reading is None:
                continue  # closed while an earlier one was refused
            if reading.wanted:
                self._refuse(conn, self._shed_and_close)  # waited for the budget in vain
            elif reading.buffer:
                self._refuse(conn, self._timed_out)
            else:
                self._drop(conn)  # an idle connection: closed like gunicorn's keep-alive

    # --- threads ------------------------------------------------------------------------

    def handle(self, conn: Any) -> Any:
        ticket = getattr(conn, "sealed_petition_ticket", None)
        if ticket is not None:
            ticket.started = True
        return super().handle(conn)

    def handle_request(self, req: Any, conn: Any) -> Any:
        if getattr(conn, "sealed_petition_continued", False):
            req._expected_100_continue = False  # the event loop has sent it already
        # The request is in memory; only the answer still touches the socket. A client that
        # does not read it may hold this thread for send_timeout at most.
        conn.sock.settimeout(self.send_timeout)
        try:
            return super().handle_request(req, conn)
        except TimeoutError:
            return False

    def finish_request(self, conn: Any, fs: Any) -> None:
        """gunicorn's, but closing without blocking the event loop, and giving memory back."""
        large = self._release(conn) > LARGE_BODY
        try:
            keep = fs.result() if not fs.cancelled() else False
        except Exception:  # gunicorn's handle() has answered and logged it
            keep = False
        unreader = getattr(conn.parser, "unreader", None)
        if keep and isinstance(unreader, _ReadUnreader) and unreader.has_buffered():
            self.enqueue_req(conn)  # pipelined: the next request has been read already
        elif keep:
            super().finish_request(conn, fs)
        else:
            self.nr_conns -= 1
            try:
                conn.sock.setblocking(False)
                conn.sock.shutdown(socket.SHUT_WR)
            except OSError:
                util.close(conn.sock)
            else:
                self._linger(conn.sock)
        if large and self._trim is not None:
            self._trim(0)

    # --- closing after an answer ----------------------------------------------------------

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
