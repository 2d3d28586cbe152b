"""Messages between HTTP workers and the writer process, over a Unix socket.

One request and one response per connection. A message is::

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
from pathlib import Path
from typing import Any

from server.errors import WriterUnavailable

MAX_HEADER = 64 * 1024
MAX_BLOB = 64 * 1024 * 1024
_LENGTH = struct.Struct(">I")


class FramingError(Exception):
    """The peer sent something that is not a message; the connection is dropped."""


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


class WriterClient:
    """The HTTP worker's side: one short connection per call."""

    def __init__(self, socket_path: Path, timeout: float) -> None:
        self._path = str(socket_path)
        self._timeout = timeout

    def call(self, header: dict[str, Any], blob: bytes = b"") -> tuple[dict[str, Any], bytes]:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self._timeout)
                sock.connect(self._path)
                send_message(sock, header, blob)
                return receive_message(sock)
        except (OSError, FramingError, ValueError) as exc:
            raise WriterUnavailable("the writer is not reachable; nothing was stored") from exc
