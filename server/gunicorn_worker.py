"""gunicorn's threaded worker, answering requests it cannot parse with our JSON errors.

gunicorn rejects some requests before the application sees them (a request line or headers
over the limits, malformed HTTP). Its own answer is an HTML page and a log line naming the
client's address. This worker answers those with the same ``{"error": ...}`` body, stable code
and security headers as every other refusal, and logs nothing about the client.
"""

from __future__ import annotations

import json
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
_REASONS = {400: "Bad Request", 414: "URI Too Long", 431: "Request Header Fields Too Large"}


def error_bytes(status: int, code: str, message: str) -> bytes:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    head = (
        f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Referrer-Policy: no-referrer\r\n"
        "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n"
        "\r\n"
    )
    return head.encode("ascii") + body


class PrivateThreadWorker(ThreadWorker):  # type: ignore[misc]  # gunicorn is untyped
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
