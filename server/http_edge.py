"""The HTTP edge: strict request parsing, and every failure turned into a JSON error body.

Every refusal is ``{"error": {"code": ..., "message": ...}}`` with a 4xx status (503 for
overload), a stable code from ``server/openapi.json`` and a one-line message that never quotes
a secret. Project exceptions from ``crypto`` are mapped here; a bug becomes a generic 500 body
with no traceback (the scrubbed traceback goes to the error log), and the tests treat any 500 as
a failure.
"""

from __future__ import annotations

import json
import logging
from typing import Any, NoReturn

from flask import Flask, Response, current_app, request
from gunicorn.http.errors import NoMoreData, ParseException
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from crypto import cjson
from crypto.errors import (
    InvalidSignature,
    MalformedInput,
    MemberMismatch,
    SchemaViolation,
    SealedPetitionError,
    TooLarge,
    UnsupportedVersion,
    UntrustedKey,
)
from server.errors import ApiError, StorageError, WriterUnavailable
from server.raw_http import error_body

log = logging.getLogger("sealed_petition.http")

_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    431: "headers_too_large",
}


def error_response(
    status: int, code: str, message: str, retry_after: int | None = None
) -> Response:
    response = Response(
        error_body(code, message),
        status=status,
        mimetype="application/json",
    )
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def json_response(value: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(value, ensure_ascii=False, separators=(",", ":")),
        status=status,
        mimetype="application/json",
    )


def api_error_for(exc: SealedPetitionError) -> ApiError:
    """Map a project exception raised while handling a request to its HTTP form."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, WriterUnavailable):
        return ApiError(503, "unavailable", exc.message, retry_after=5)
    if isinstance(exc, StorageError):
        # A read that met a damaged page (or a store that went away): the server's fault and
        # perhaps temporary, never the client's, so 503 and not 400.
        return ApiError(503, "unavailable", exc.message, retry_after=5)
    if isinstance(exc, TooLarge):
        return ApiError(413, "too_large", exc.message)
    if isinstance(exc, SchemaViolation):
        return ApiError(400, "schema_violation", exc.message)
    if isinstance(exc, UnsupportedVersion):
        return ApiError(400, "unsupported_version", exc.message)
    if isinstance(exc, MalformedInput):
        return ApiError(400, "malformed", exc.message)
    if isinstance(exc, (InvalidSignature, UntrustedKey)):
        return ApiError(401, exc.code, exc.message)
    return ApiError(400, exc.code, exc.message)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(SealedPetitionError)
    def _project_error(exc: SealedPetitionError) -> Response:
        error = api_error_for(exc)
        response = error_response(error.status, error.code, error.message, error.retry_after)
        if error.close:
            response.headers["Connection"] = "close"  # gunicorn closes after this answer
        return response

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge) -> Response:
        limit = app.config.get("MAX_CONTENT_LENGTH")
        return error_response(413, "too_large", f"the request body is larger than {limit} bytes")

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 400
        if status >= 500:  # never expected from werkzeug itself; keep it generic
            log.error("werkzeug raised HTTP %s", status)
            return error_response(500, "internal_error", "internal error")
        code = _HTTP_CODES.get(status, "bad_request")
        messages = {
            "not_found": "no such resource",
            "method_not_allowed": f"{request.method} is not allowed here",
        }
        response = error_response(status, code, messages.get(code, exc.description or code))
        valid_methods = getattr(exc, "valid_methods", None)
        if status == 405 and valid_methods:
            response.headers["Allow"] = ", ".join(sorted(valid_methods))
        return response

    @app.errorhandler(Exception)
    def _bug(exc: Exception) -> Response:
        log.exception("unhandled error while serving a request")
        return error_response(500, "internal_error", "internal error")


# --- request parsing ----------------------------------------------------------------------


def fail(status: int, code: str, message: str, retry_after: int | None = None) -> NoReturn:
    raise ApiError(status, code, message, retry_after=retry_after)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate member {key[:40]!r}")
        result[key] = value
    return result


def _no_constants(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def json_body(required: set[str]) -> dict[str, Any]:
    """The request's JSON object, with exactly the ``required`` members."""
    if request.mimetype != "application/json":
        fail(415, "unsupported_media_type", "send the body as application/json")
    return json_object(request_body(), required)


def json_object(data: bytes, required: set[str]) -> dict[str, Any]:
    """``data`` as a strict JSON object with exactly the ``required`` members (no Flask here:
    the submission lane of server/submission_lane.py checks bodies with it too)."""
    try:
        text = data.decode("utf-8")  # RFC 8259: JSON between systems is UTF-8, nothing else
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except UnicodeDecodeError:
        fail(400, "malformed_json", "the body is not UTF-8")
    except (ValueError, RecursionError) as exc:
        fail(400, "malformed_json", f"the body is not valid JSON: {quoted(str(exc), 120)}")
    if not isinstance(value, dict):
        fail(400, "malformed_json", "the body must be a JSON object")
    try:
        cjson.exact_members("the body", value, required)
    except MemberMismatch as exc:  # phrased for the error body: names quoted, at most five
        if exc.missing:
            fail(400, "schema_violation", f"missing member(s): {', '.join(exc.missing)}")
        names = ", ".join(quoted(name, 40) for name in exc.unknown[:5])
        fail(400, "schema_violation", f"unknown member(s): {names}")
    return value


def request_body() -> bytes:
    """The whole body, or 413 if it is longer than the limit.

    Werkzeug refuses a declared Content-Length above the limit before reading anything, but a
    chunked body has no declared length and is silently cut off at the limit. A chunked body
    that reaches the limit is therefore refused rather than parsed in part (a body of exactly
    the limit is refused too; the limit has room to spare above the largest envelope).
    """
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    try:
        data = request.get_data(cache=True)  # cached: the bureau body hash reads it too
    except (ParseException, NoMoreData):
        # gunicorn decodes a chunked body while the application reads it, so broken framing
        # (a chunk size that is not hex, data without its CRLF, a bad extension or trailer, a
        # body cut short) surfaces here. It is the client's malformed HTTP, not a bug; and the
        # connection cannot be reused, since where the next request starts is unknown.
        raise ApiError(
            400, "bad_request", "the chunked request body is not valid HTTP/1.1", close=True
        ) from None
    if request.content_length is None and len(data) >= limit:
        fail(413, "too_large", f"the request body is larger than {limit} bytes")
    return data


def quoted(text: str, limit: int) -> str:
    """Client-supplied text made safe for a one-line message: escaped, ASCII, bounded."""
    return ascii(text[:limit])


def string_member(body: dict[str, Any], name: str) -> str:
    value = body[name]
    if not isinstance(value, str):
        fail(400, "schema_violation", f"{name} must be a string")
    return value


def bytes_member(
    body: dict[str, Any], name: str, *, length: int | None = None, max_length: int | None = None
) -> bytes:
    text = string_member(body, name)
    if max_length is not None and len(text) > (max_length * 4 + 2) // 3:
        fail(413, "too_large", f"{name} is longer than {max_length} bytes")
    return cjson.b64decode(text, field=name, length=length)


def object_member(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = body[name]
    if not isinstance(value, dict):
        fail(400, "schema_violation", f"{name} must be a JSON object")
    return value


def query_int(name: str, default: int | None, minimum: int, maximum: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        if default is None:
            fail(400, "invalid_range", f"the query parameter {name} is required")
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 16:
        fail(400, "invalid_range", f"{name} must be a non-negative integer")
    value = int(raw)
    if not minimum <= value <= maximum:
        fail(400, "invalid_range", f"{name} must be between {minimum} and {maximum}")
    return value
