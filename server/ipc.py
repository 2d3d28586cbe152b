"""Messages between HTTP workers and the writer process, over a Unix socket.

A worker thread keeps one connection to the writer and sends one request at a time on it, each
answered by one response. A worker's submission lane (:mod:`server.submission_lane`) keeps one
connection with many submissions outstanding: each of its requests carries a ``tag`` (an
integer) that the writer repeats in the answer. A message is::

    uint32 header length || header (JSON object, UTF-8) || uint32 blob length || blob

The blob carries the one large value (an envelope, a signed reply, a receipt) without a base64
round trip. Both ends are this program, on one host, behind a 0700 directory; the framing is
still strict (bounded lengths, JSON objects only) so a bug cannot make either side allocate
without limit. No pickle: nothing here can execute code.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from pathlib import Path
from typing import Any

from server.errors import WriterUnavailable

MAX_HEADER = 64 * 1024
MAX_BLOB = 64 * 1024 * 1024
_LENGTH = struct.Struct(">I")


class FramingError(Exception):
    """The peer sent something that is not a message; the connection is dropped."""


def encode_message(header: dict[str, Any], blob: bytes = b"") -> bytes:
    """One whole message, for a sender that writes without blocking (the writer)."""
    encoded = json.dumps(header, separators=(",", ":")).encode()
    return _LENGTH.pack(len(encoded)) + encoded + _LENGTH.pack(len(blob)) + blob


def send_message(sock: socket.socket, header: dict[str, Any], blob: bytes = b"") -> None:
    encoded = json.dumps(header, separators=(",", ":")).encode()
    sock.sendall(_LENGTH.pack(len(encoded)) + encoded + _LENGTH.pack(len(blob)))
    if blob:
        sock.sendall(blob)


def receive_message(sock: socket.socket) -> tuple[dict[str, Any], bytes]:
    header_length = _LENGTH.unpack(_read_exactly(sock, _LENGTH.size))[0]
    if header_length > MAX_HEADER:
        raise FramingError("header too long")
    header = json.loads(_read_exactly(sock, header_length))
    if not isinstance(header, dict):
        raise FramingError("header is not an object")
    blob_length = _LENGTH.unpack(_read_exactly(sock, _LENGTH.size))[0]
    if blob_length > MAX_BLOB:
        raise FramingError("blob too long")
    return header, _read_exactly(sock, blob_length)


class MessageBuffer:
    """Bytes received so far on one connection, cut into messages as they complete.

    The writer's I/O thread reads whatever is available on a readable connection and never
    blocks on a slow peer, so a message can arrive in pieces; and a submission lane sends many
    messages back to back, so one read can hold a hundred. Messages are taken from a read
    position, and the consumed bytes are dropped once per read rather than once per message
    (dropping them per message moved the rest of a 1 MiB read a hundred times).
    """

    def __init__(self) -> None:
        self._data = bytearray()
        self._start = 0  # where the next message begins in ``_data``

    def feed(self, data: bytes) -> None:
        if self._start:
            del self._data[: self._start]
            self._start = 0
        self._data += data

    def take(self) -> tuple[dict[str, Any], bytes] | None:
        """The next complete message, or None until more bytes arrive."""
        data, start = self._data, self._start
        if len(data) - start < _LENGTH.size:
            return None
        header_length = _LENGTH.unpack_from(data, start)[0]
        if header_length > MAX_HEADER:
            raise FramingError("header too long")
        blob_at = start + _LENGTH.size + header_length
        if len(data) < blob_at + _LENGTH.size:
            return None
        blob_length = _LENGTH.unpack_from(data, blob_at)[0]
        if blob_length > MAX_BLOB:
            raise FramingError("blob too long")
        end = blob_at + _LENGTH.size + blob_length
        if len(data) < end:
            return None
        header = json.loads(bytes(data[start + _LENGTH.size : blob_at]))
        if not isinstance(header, dict):
            raise FramingError("header is not an object")
        blob = bytes(data[blob_at + _LENGTH.size : end])
        self._start = end
        return header, blob


def send_without_blocking(sock: socket.socket, output: bytearray) -> bool:
    """Send what ``output`` holds until the socket would block; True once all of it is sent.

    What was sent is removed from ``output``. Raises :class:`OSError` when the peer is gone.
    Used by both ends' event loops (the writer's I/O thread, a worker's submission lane),
    which own their sockets and never block on one.
    """
    try:
        while output:
            sent = sock.send(output)
            del output[:sent]
    except (BlockingIOError, InterruptedError):
        pass
    return not output


def _read_exactly(sock: socket.socket, length: int) -> bytes:
    chunks: list[bytes] = []
    remaining = length
    while remaining:
        chunk = sock.recv(min(remaining, 1024 * 1024))
        if not chunk:
            raise FramingError("connection closed mid-message")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def not_acknowledged(op: object) -> str:
    """The message for a request the writer took but did not answer in time."""
    if op == "submit":
        return (
            "not acknowledged: the petition may or may not have been stored; send the same "
            "envelope again to get its receipt"
        )
    return (
        "not acknowledged: the request may or may not have been stored; send the same request "
        "again to get its answer"
    )


class _Held:
    """A thread's writer connection, closed when the thread (or the client) goes away."""

    __slots__ = ("sock",)

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def __del__(self) -> None:
        self.sock.close()


class WriterClient:
    """The HTTP worker's side: one connection per thread, kept open between calls.

    Opening a Unix socket per request cost more than the request's own work at surge rates.
    After any failure the connection is dropped, so a late answer to a request that timed out
    can never be read as the answer to the next one. A call whose send fails on a connection
    kept from before (the writer closed it meanwhile) is sent once more on a new connection:
    every operation is idempotent (a submission or reply is stored once, by its hash).
    """

    def __init__(self, socket_path: Path, timeout: float) -> None:
        self._path = str(socket_path)
        self._timeout = timeout
        self._local = threading.local()

    def call(self, header: dict[str, Any], blob: bytes = b"") -> tuple[dict[str, Any], bytes]:
        """Send one request and wait for its answer.

        What a failure may claim depends on when it happened. Until the whole message has been
        sent the writer cannot have framed it, so nothing was stored. After that (a writer
        stopped or slow past the timeout) the job may still be committed later: the error says
        only that it was not acknowledged, and that sending the same request again is safe and
        returns its answer (receipt).
        """
        held: _Held | None = getattr(self._local, "held", None)
        sent = False
        try:
            if held is not None:
                try:
                    send_message(held.sock, header, blob)
                    sent = True
                except OSError:
                    self._drop()
                    held = None
            if held is None:
                held = _Held(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
                self._local.held = held
                held.sock.settimeout(self._timeout)
                held.sock.connect(self._path)
                send_message(held.sock, header, blob)
                sent = True
            return receive_message(held.sock)
        except (OSError, FramingError, ValueError) as exc:
            self._drop()
            if not sent:
                raise WriterUnavailable("the writer is not reachable; nothing was stored") from exc
            raise WriterUnavailable(not_acknowledged(header.get("op"))) from exc

    def close(self) -> None:
        """Close this thread's connection now (it is also closed when the thread ends)."""
        self._drop()

    def _drop(self) -> None:
        held = getattr(self._local, "held", None)
        self._local.held = None
        if held is not None:
            held.sock.close()
