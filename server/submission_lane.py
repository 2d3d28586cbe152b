"""Ordinary submissions answered from a worker's event loop, without a thread.

In a surge almost every request is ``POST /v1/petitions``, and almost all of its time is spent
waiting for the writer's group commit. A thread that waits holds one of the worker's few
threads, so few submissions reach the writer together and its commits stay small (4-8
petitions, at three times the writer's cost per petition of a full batch); and every waiting
thread still costs Python work and GIL handoffs (docs/performance.md). The lane takes such a
request as soon as the worker's event loop has read it whole (server/gunicorn_worker.py), checks
it with the same functions as the Flask route (server/submission.py), sends it to the writer on
the worker's one lane connection, and goes back to the loop. Hundreds of submissions can wait on
the commit at once, costing a dictionary entry each; the writer's batches fill, and the answer
is written when the writer's reply arrives.

**The lane takes only what it can answer exactly as the route would.** The request line must be
``POST /v1/petitions HTTP/1.1``, every header line plain (a token, a colon, printable ASCII), the
body one ``Content-Length`` of at most ``MAX_LANE_BODY`` (a text petition; one with attachments
goes to a thread) and nothing after it, the type ``application/json``, and the body a valid
submission for a bureau in the directory. Anything else, and any submission the checks
refuse, goes to a thread and the route as before, so every malformed or refused request gets
the answer it always got (its JSON error is the route's, not a copy). The lane only ever answers
the writer's outcomes: 201 or 200 with the receipt, 409 ``conflict``, 503 ``busy`` or
``unavailable``.

**Overload.** When the oldest submission on the lane has waited longer than the worker's
``max_queue_delay`` (plus the batch interval, if one is set: waiting for the next tick is
normal), new ones are refused at once with ``503 busy`` by the worker, as for its
thread queue; the writer's bounded queue refuses with ``busy`` as well. An answer that does not
arrive within the writer timeout is given up with ``503 unavailable`` ("not acknowledged": the
same envelope sent again gets its receipt), and a late answer for it is ignored.

The lane's socket to the writer is owned by the worker's event loop alone (one thread per
socket); each request carries a ``tag`` that the writer repeats (server/ipc.py), because the
writer answers in commit order.
"""

from __future__ import annotations

import contextlib
import enum
import re
import selectors
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from server.errors import ApiError
from server.ipc import (
    FramingError,
    MessageBuffer,
    encode_message,
    not_acknowledged,
    send_without_blocking,
)
from server.raw_http import error_bytes, response_bytes
from server.services import Services
from server.submission import check_submission, submission_answer

REQUEST_LINE = b"POST /v1/petitions HTTP/1.1\r\n"
#: A header line the lane accepts: a token, a colon, optional blanks, printable ASCII.
_PLAIN_HEADER = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}:[ \t]*[\x20-\x7e]{0,4096}")
_DIGITS = re.compile(rb"[0-9]{1,9}")
#: More header lines than a client of ours sends: such a request goes to a thread.
MAX_HEADER_LINES = 32
_JSON_TYPES = frozenset({b"application/json", b"application/json; charset=utf-8"})
#: The largest body the lane reads: a text petition's envelope with room to spare. A petition
#: with attachments (up to the body limit) goes to a thread, which decodes it off the event loop.
MAX_LANE_BODY = 64 * 1024
#: Bytes waiting to be sent to the writer past which new submissions are refused (busy).
MAX_UNSENT = 16 * 1024 * 1024


class Taken(enum.Enum):
    """What the lane did with a request."""

    YES = "yes"  # the lane answers it
    NO = "no"  # not the lane's: a thread and the Flask route answer it
    CONGESTED = "congested"  # a submission the worker must refuse with 503 busy now


#: How the worker answers a connection: the response's bytes, and whether to keep it open.
Answer = Callable[[Any, bytes, bool], None]


@dataclass(frozen=True)
class Submission:
    """A parsed request the lane may take: its body, and whether to close after the answer."""

    body: bytes
    keep_alive: bool


def plain_submission(data: bytes | bytearray) -> Submission | None:
    """The submission in ``data`` if it is one the lane takes (see the module docstring)."""
    if not data.startswith(REQUEST_LINE):
        return None
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = bytes(data[len(REQUEST_LINE) : end]).split(b"\r\n")
    if len(lines) > MAX_HEADER_LINES:
        return None
    length: int | None = None
    content_type: bytes | None = None
    keep_alive = True
    for line in lines:
        if not _PLAIN_HEADER.fullmatch(line):
            return None
        name, _, value = line.partition(b":")
        name = name.lower()
        value = value.strip(b" \t")
        if name == b"content-length":
            if length is not None or not _DIGITS.fullmatch(value):
                return None
            length = int(value)
        elif name == b"content-type":
            if content_type is not None:
                return None
            content_type = value.lower()
        elif name == b"connection":
            if value.lower() == b"close":
                keep_alive = False
            elif value.lower() != b"keep-alive":
                return None
        elif name in (b"transfer-encoding", b"upgrade"):
            return None
    if length is None or length > MAX_LANE_BODY or content_type not in _JSON_TYPES:
        return None
    if len(data) != end + 4 + length:
        return None  # pipelined: what follows is read by a thread's parser, as before
    return Submission(bytes(data[end + 4 :]), keep_alive)


@dataclass
class _Waiting:
    conn: Any
    petition_id: str
    keep_alive: bool
    since: float


class SubmissionLane:
    """One worker's lane: its connection to the writer and the submissions waiting on it."""

    def __init__(
        self,
        services: Services,
        poller: selectors.BaseSelector,
        answer: Answer,
        *,
        max_wait: float,
    ) -> None:
        self._services = services
        self._poller = poller
        self._answer = answer
        self._max_wait = max_wait
        self._timeout = services.config.writer_timeout_seconds
        self._retry_after = services.config.retry_after_seconds
        self._sock: socket.socket | None = None
        self._incoming = MessageBuffer()
        self._unsent = bytearray()
        self._writing = False
        self._waiting: dict[int, _Waiting] = {}  # by tag, oldest first
        self._next_tag = 0

    def take(self, conn: Any, data: bytearray, now: float) -> Taken:
        """Take ``data`` (one whole request read by the event loop) if it is the lane's."""
        submission = plain_submission(data)
        if submission is None:
            return Taken.NO
        if self.congested(now):
            return Taken.CONGESTED
        try:
            job = check_submission(submission.body, self._services.directory)
        except Exception:  # a refusal, or a bug: the route answers either
            # The route gives a refusal its 4xx, and a bug its logged 500, from a thread; an
            # exception here would end the worker's event loop, and every connection with it.
            return Taken.NO
        if self._sock is None and not self._connect():
            return Taken.NO  # the route says the writer is unreachable, as before
        tag = self._next_tag
        self._next_tag += 1
        self._waiting[tag] = _Waiting(conn, job.petition_id, submission.keep_alive, now)
        self._unsent += encode_message({**job.header, "tag": tag}, job.envelope)
        self._flush()
        return Taken.YES

    def congested(self, now: float) -> bool:
        if len(self._unsent) > MAX_UNSENT:
            return True
        oldest = next(iter(self._waiting.values()), None)
        return oldest is not None and now - oldest.since > self._max_wait

    def sweep(self, now: float) -> None:
        """Give up on answers that did not come within the writer timeout."""
        while self._waiting:
            tag, oldest = next(iter(self._waiting.items()))  # tags grow with time
            if now - oldest.since <= self._timeout:
                return
            del self._waiting[tag]
            self._unacknowledged(oldest)

    # --- the writer's socket, owned by the event loop ------------------------------------

    def _connect(self) -> bool:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(1.0)
            sock.connect(str(self._services.data.socket_path))
            sock.setblocking(False)
            self._poller.register(sock, selectors.EVENT_READ, self._on_event)
        except (OSError, ValueError, KeyError):
            sock.close()
            return False
        self._sock = sock
        self._incoming = MessageBuffer()
        return True

    def _on_event(self, sock: socket.socket) -> None:
        """The selector's callback: never raises, since that would end the worker's loop."""
        try:
            if self._writing:
                self._flush()
            self._read()
        except (OSError, FramingError, ValueError, KeyError, TypeError):
            self._lost()

    def _read(self) -> None:
        if self._sock is None:
            return
        try:
            data = self._sock.recv(1024 * 1024)
        except (BlockingIOError, InterruptedError):
            return
        if not data:
            self._lost()
            return
        self._incoming.feed(data)
        while (message := self._incoming.take()) is not None:
            header, receipt = message
            waiting = self._waiting.pop(header.get("tag", -1), None)
            if waiting is not None:
                self._answered(waiting, header, receipt)

    def _flush(self) -> None:
        if self._sock is None:
            return
        try:
            send_without_blocking(self._sock, self._unsent)
        except OSError:
            self._lost()
            return
        writing = bool(self._unsent)
        if writing != self._writing:
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if writing else 0)
            self._poller.modify(self._sock, events, self._on_event)
            self._writing = writing

    def _lost(self) -> None:
        """The writer's connection broke: nothing waiting can be confirmed any more."""
        if self._sock is not None:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._poller.unregister(self._sock)
            self._sock.close()
        self._sock = None
        self._unsent.clear()
        self._writing = False
        waiting, self._waiting = self._waiting, {}
        for each in waiting.values():
            self._unacknowledged(each)

    # --- answers ---------------------------------------------------------------------------

    def _answered(self, waiting: _Waiting, outcome: dict[str, Any], receipt: bytes) -> None:
        try:
            status, body = submission_answer(
                waiting.petition_id, outcome, receipt, self._retry_after
            )
        except ApiError as refusal:
            self._refused(waiting, refusal)
            return
        close = not waiting.keep_alive
        self._answer(waiting.conn, response_bytes(status, body, close=close), waiting.keep_alive)

    def _unacknowledged(self, waiting: _Waiting) -> None:
        # What a thread says when its writer call was not answered (server/http_edge.py).
        refusal = ApiError(503, "unavailable", not_acknowledged("submit"), retry_after=5)
        self._refused(waiting, refusal)

    def _refused(self, waiting: _Waiting, refusal: ApiError) -> None:
        answer = error_bytes(
            refusal.status,
            refusal.code,
            refusal.message,
            refusal.retry_after,
            close=not waiting.keep_alive,
        )
        self._answer(waiting.conn, answer, waiting.keep_alive)
