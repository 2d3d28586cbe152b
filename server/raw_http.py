"""Whole HTTP/1.1 responses as bytes, for answers written by a worker's event loop.

The event loop answers some requests without Flask (refusals before the application, load
shedding, and the submission lane of server/submission_lane.py). Its answers carry the same JSON
error body (:func:`error_body`, which the Flask edge uses too) and the same headers as every
answer of the application (server/app.py).
"""

from __future__ import annotations

import json

REASONS = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    408: "Request Timeout",
    409: "Conflict",
    413: "Content Too Large",
    414: "URI Too Long",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}


def error_body(code: str, message: str) -> bytes:
    """``{"error": {"code": ..., "message": ...}}``, the message on one line."""
    one_line = " ".join(message.split())  # messages are one line, whatever they quote
    return json.dumps({"error": {"code": code, "message": one_line}}).encode()


def response_bytes(status: int, body: bytes, *, close: bool, extra: str = "") -> bytes:
    """A whole JSON response with the headers every answer of ours carries (server/app.py)."""
    head = (
        f"HTTP/1.1 {status} {REASONS[status]}\r\n"
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
    advice = "" if retry_after is None else f"Retry-After: {retry_after}\r\n"
    return response_bytes(status, error_body(code, message), close=close, extra=advice)
