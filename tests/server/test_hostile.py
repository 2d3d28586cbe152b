"""Hostile requests against the real server, one table row each.

Every row is a request a careless or malicious client could send. Each must be refused with the
status and stable error code that ``server/openapi.json`` documents, as the documented error body
``{"error": {"code": ..., "message": ...}}`` (exactly those members, a one-line message), never
as a 500, a traceback or a file path, and none of them may hurt the server: it still answers and
still stores a normal petition afterwards.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from harness import Answer, Bureau, RunningServer, Submission

from crypto import cjson
from crypto.case_event import LogEntry, sign_entry
from crypto.fields import envelope_hash, signed_reply_hash
from crypto.keys import SigningKey
from crypto.labels import SignedKind
from crypto.objects import BureauRequest, Reply
from crypto.signing import sign
from crypto.statutory import Event

#: Run against the SQLCipher store and against PostgreSQL (tests/server/conftest.py).
BOTH_STORES = True

SUBMIT = "/v1/petitions"
INBOX = "/v1/bureaus/national/inbox"
# The token endpoint of protocol v1, gone since v2 (issue 14): it must be an unknown route.
OLD_TOKEN = "/v1/bureaus/national/token"  # noqa: S105  (a path, not a password)
BUREAU_FIELD = slice(4, 68)  # the envelope header's NUL-padded bureau id (protocol v2)
IDENTITY_KEY_ID = slice(68, 100)
CASE_KEY_ID = slice(100, 132)
B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# What an error body must never contain: a traceback, or anything that looks like a file path.
LEAKS = re.compile(
    r"Traceback|File \"|site-packages|\.py\b|/(?:tmp|home|usr|work|etc|var|root|proc)/"
)
ABSENT = object()  # a member value meaning "leave this member out"


@dataclass
class Hostile:
    """What the rows need: the server, a sealed but unsent petition, and two stored ones."""

    server: RunningServer
    fresh: Submission  # sealed for national, never stored
    stored_id: str  # a petition stored for national
    guangdong_id: str  # a petition stored for guangdong
    stored_hash: bytes = bytes(32)  # the envelope hash of the national petition

    @property
    def national(self) -> Bureau:
        return self.server.bureaus["national"]

    @property
    def guangdong(self) -> Bureau:
        return self.server.bureaus["guangdong"]

    def get(self, target: str, headers: dict[str, str] | None = None) -> Answer:
        return self.server.client.get(target, headers=headers)

    def post_raw(
        self, target: str, data: bytes | None, content_type: str | None = "application/json"
    ) -> Answer:
        return self.server.client.request("POST", target, raw=data, content_type=content_type)

    def submit(self, **members: Any) -> Answer:
        """The fresh submission with some members replaced (or left out with ``ABSENT``)."""
        body = self.fresh.body()
        for name, value in members.items():
            if value is ABSENT:
                body.pop(name)
            else:
                body[name] = value
        return self.server.client.post(SUBMIT, body)

    def submit_envelope(self, envelope: bytes) -> Answer:
        return self.submit(envelope=cjson.b64encode(envelope))

    def status(self, petition_id: str, lookup_key: str | None) -> Answer:
        headers = {} if lookup_key is None else {"Petition-Lookup-Key": lookup_key}
        return self.get(f"/v1/petitions/{petition_id}/status", headers)

    def signed(self, method: str, target: str, body: Any = None) -> Answer:
        """A correctly signed request from national."""
        answer, _ = self.server.client.signed(self.national, method, target, body)
        return answer

    def with_authorization(
        self, method: str, target: str, authorization: str, data: bytes | None = None
    ) -> Answer:
        return self.server.client.request(
            method, target, raw=data, headers={"Authorization": authorization}
        )

    def reply(
        self,
        *,
        petition_id: str | None = None,
        reply_petition_id: str | None = None,
        bureau_id: str = "national",
        sequence: int = 0,
        day: date | None = None,
        signer: SigningKey | None = None,
        kind: SignedKind = SignedKind.REPLY,
    ) -> dict[str, Any]:
        """A case event request body; by default a valid acknowledgement by national of its
        petition, with a first reply. ``day`` dates both the entry and the reply."""
        day = day or datetime.now(UTC).date()
        key = signer or self.national.signing
        reply = Reply(
            petition_id=reply_petition_id or petition_id or self.stored_id,
            bureau_id=bureau_id,
            event=Event.ACKNOWLEDGED,
            sequence=sequence,
            ciphertext=secrets.token_bytes(64),
            day=day,
        )
        wire = sign(kind, reply.to_json(), key).encode()
        entry = LogEntry(
            petition_id or self.stored_id,
            "national",
            self.stored_hash,
            Event.ACKNOWLEDGED,
            day,
            reply_hash=signed_reply_hash(wire),
        )
        return {
            "entry": sign_entry(entry, key).to_json(),
            "reply": json.loads(wire),
            "envelope": None,
        }

    def send_reply(self, body: Any, petition_id: str | None = None) -> Answer:
        target = f"/v1/bureaus/national/petitions/{petition_id or self.stored_id}/events"
        return self.signed("POST", target, body)


def authorization(
    signer: SigningKey,
    *,
    bureau_id: str = "national",
    method: str = "GET",
    target: str = INBOX,
    data: bytes = b"",
    timestamp: int | None = None,
) -> str:
    """An ``Authorization`` header built by hand, for the rows that bend one of its fields."""
    claim = BureauRequest(
        bureau_id=bureau_id,
        method=method,
        target=target,
        body_sha256=hashlib.sha256(data).digest(),
        timestamp=int(time.time()) if timestamp is None else timestamp,
        nonce=secrets.token_bytes(16),
    )
    wire = sign(SignedKind.BUREAU_REQUEST, claim.to_json(), signer).encode()
    return f"SealedPetition {cjson.b64encode(wire)}"


# --- base64url and envelope damage --------------------------------------------------------


def padded(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def standard_alphabet(length: int) -> str:
    """Standard base64 ('+' and '/') of ``length`` bytes chosen so that both characters occur."""
    text = base64.b64encode((b"\xfb\xff\xbf" * length)[:length]).decode().rstrip("=")
    assert "+" in text
    assert "/" in text
    return text


def noncanonical(data: bytes) -> str:
    """Base64url of ``data`` with a non-zero unused trailing bit: it decodes, but not uniquely."""
    text = cjson.b64encode(data)
    assert len(data) % 3, "only a length with unused bits has a non-canonical spelling"
    return text[:-1] + B64_ALPHABET[B64_ALPHABET.index(text[-1]) ^ 1]


def percent(text: str) -> str:
    return quote(text, safe="")


def with_byte(data: bytes, offset: int, value: int) -> bytes:
    return data[:offset] + bytes([value]) + data[offset + 1 :]


def other_key_id(envelope: bytes, field: slice) -> bytes:
    """The envelope with one of its header's key ids changed."""
    flipped = bytes(b ^ 0xFF for b in envelope[field])
    return envelope[: field.start] + flipped + envelope[field.stop :]


def with_bureau(envelope: bytes, bureau: bytes) -> bytes:
    """The envelope with another bureau id (raw bytes, NUL-padded) in its header."""
    assert len(bureau) <= BUREAU_FIELD.stop - BUREAU_FIELD.start
    field = bureau.ljust(BUREAU_FIELD.stop - BUREAU_FIELD.start, b"\0")
    return envelope[: BUREAU_FIELD.start] + field + envelope[BUREAU_FIELD.stop :]


def deep_nesting(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# --- requests below the framework ---------------------------------------------------------


def raw_exchange(
    server: RunningServer, head: bytes, body: Iterable[bytes] = (), timeout: float = 5.0
) -> Answer:
    """Send bytes on a socket and read one HTTP response, failing if it takes ``timeout`` s.

    For what ``urllib`` cannot send: a huge ``Content-Length`` with almost nothing behind it
    (the server must answer 413 from the header alone instead of waiting for a body that never
    comes), a chunked body, a request line or header beyond the server's limits.
    """
    address = urlsplit(server.client.base)
    assert address.hostname is not None
    assert address.port is not None
    started = time.monotonic()
    with socket.create_connection((address.hostname, address.port), timeout=timeout) as conn:
        try:
            conn.sendall(head)
            for part in body:
                conn.sendall(part)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before taking everything; read its answer
        received = b""
        try:
            while b"\r\n\r\n" not in received:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                received += chunk
            header_block, _, content = received.partition(b"\r\n\r\n")
            lines = header_block.decode("latin-1").split("\r\n")
            headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
            length = int(headers.get("Content-Length", "0"))
            while len(content) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                content += chunk
        except TimeoutError:
            raise AssertionError(f"no complete answer within {timeout} s") from None
    assert time.monotonic() - started < timeout
    assert lines[0].startswith("HTTP/1."), f"no HTTP answer: {received[:200]!r}"
    return Answer(int(lines[0].split(" ")[1]), headers, content)


def request_head(method: str, target: str, *headers: str) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", *headers, "", ""]
    return "\r\n".join(lines).encode("latin-1")


def announce_huge_body(server: RunningServer, target: str) -> Answer:
    head = request_head(
        "POST", target, "Content-Type: application/json", "Content-Length: 100000000"
    )
    return raw_exchange(server, head + b'{"envelope": "U1BF')


def chunked_26_mib(server: RunningServer) -> Answer:
    """26 MiB in 1 MiB chunks: no Content-Length to refuse early, so the limit must hold while
    streaming (24 MiB), and the answer must still be 413 rather than a parse of a prefix."""
    head = request_head(
        "POST", SUBMIT, "Content-Type: application/json", "Transfer-Encoding: chunked"
    )
    megabyte = b"a" * (1 << 20)

    def chunks() -> Iterator[bytes]:
        yield b'%x\r\n{"envelope": "\r\n' % len(b'{"envelope": "')
        for _ in range(26):
            yield b"%x\r\n%s\r\n" % (len(megabyte), megabyte)
        yield b'2\r\n"}\r\n0\r\n\r\n'

    return raw_exchange(server, head, chunks(), timeout=20.0)


def framed(framing: bytes, body: bytes) -> bytes:
    """``framing`` with SIZE and BODY filled in (SIZE first: the body may contain "SIZE")."""
    before, _, after = framing.replace(b"SIZE", b"%x" % len(body), 1).partition(b"BODY")
    return before + body + after


def chunked(framing: bytes) -> Callable[[Hostile], Answer]:
    """A chunked submission framed by ``framing`` exactly (a broken chunk, extension, trailer).

    The JSON inside is a valid submission, so a server that read past the broken framing would
    store it; the row checks that it answers 400 instead (and the table's last test that the
    same submission is then stored as new).
    """

    def send(h: Hostile) -> Answer:
        head = request_head(
            "POST", SUBMIT, "Content-Type: application/json", "Transfer-Encoding: chunked"
        )
        return raw_exchange(h.server, head, [framed(framing, json.dumps(h.fresh.body()).encode())])

    return send


def chunked_reply(framing: bytes) -> Callable[[Hostile], Answer]:
    """The same on a bureau reply, correctly signed (the body hash is read from the body)."""

    def send(h: Hostile) -> Answer:
        target = f"/v1/bureaus/national/petitions/{h.stored_id}/events"
        body = json.dumps(h.reply()).encode()
        header = authorization(h.national.signing, method="POST", target=target, data=body)
        head = request_head(
            "POST", target, "Content-Type: application/json", "Transfer-Encoding: chunked",
            f"Authorization: {header}",
        )  # fmt: skip
        return raw_exchange(h.server, head, [framed(framing, body)])

    return send


# Valid framing is b"SIZE\r\nBODY\r\n0\r\n\r\n"; each row breaks one rule of RFC 9112 §7.1.
BROKEN_CHUNKS: dict[str, bytes] = {
    "size-not-hex": b"zz\r\nBODY\r\n0\r\n\r\n",
    "size-negative": b"-SIZE\r\nBODY\r\n0\r\n\r\n",
    "size-empty": b"\r\nBODY\r\n0\r\n\r\n",
    "data-without-crlf": b"SIZE\r\nBODYXX0\r\n\r\n",
    "data-longer-than-size": b"1\r\nBODY\r\n0\r\n\r\n",
    "extension-control-char": b"SIZE;\x01\r\nBODY\r\n0\r\n\r\n",
    "extension-bare-cr": b"SIZE;a\rb\r\nBODY\r\n0\r\n\r\n",
    "size-line-bare-lf": b"SIZE\nBODY\r\n0\r\n\r\n",
    "trailer-bare-lf": b"SIZE\r\nBODY\r\n0\r\nX-Trailer: 1\n\r\n",
    "trailer-not-a-header": b"SIZE\r\nBODY\r\n0\r\nnot a header\r\n\r\n",
}


def long_request_line(server: RunningServer) -> Answer:
    target = "/v1/log/entries?start=0&end=1&padding=" + "a" * 5000
    return raw_exchange(server, request_head("GET", target))


def long_header(server: RunningServer) -> Answer:
    target = f"/v1/petitions/{'0' * 32}/status"
    return raw_exchange(server, request_head("GET", target, "Petition-Lookup-Key: " + "A" * 9000))


# --- stateful rows ------------------------------------------------------------------------


def replayed(h: Hostile) -> Answer:
    first, header = h.server.client.signed(h.national, "GET", INBOX)
    assert first.status == 200, first.raw
    return h.with_authorization("GET", INBOX, header)


def signed_for_other_body(h: Hostile) -> Answer:
    target = f"/v1/bureaus/national/petitions/{h.stored_id}/events"
    signed_body = json.dumps(h.reply()).encode()
    sent_body = json.dumps(h.reply(sequence=1)).encode()
    header = authorization(h.national.signing, method="POST", target=target, data=signed_body)
    return h.with_authorization("POST", target, header, sent_body)


# --- the table ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    send: Callable[[Hostile], Answer]
    status: int
    code: str


MEMBERS = ("envelope", "lookup_key_hash")
WRONG_TYPES: dict[str, Any] = {
    "number": 12345,
    "null": None,
    "list": ["national"],
    "object": {"value": "national"},
    "bool": True,
}


def _wrong_type(member: str, value: Any) -> Callable[[Hostile], Answer]:
    return lambda h: h.submit(**{member: value})


BAD_JSON: list[Case] = [
    Case("json-truncated", lambda h: h.post_raw(SUBMIT, b'{"bureau_id": "national", "tok'), 400,
         "malformed_json"),
    Case("json-string-not-object", lambda h: h.post_raw(SUBMIT, b'"national"'), 400,
         "malformed_json"),
    Case("json-array", lambda h: h.post_raw(SUBMIT, json.dumps([h.fresh.body()]).encode()), 400,
         "malformed_json"),
    Case("json-null", lambda h: h.post_raw(SUBMIT, b"null"), 400, "malformed_json"),
    Case("json-nan", lambda h: h.post_raw(SUBMIT, b'{"bureau_id": NaN}'), 400, "malformed_json"),
    Case("json-infinity", lambda h: h.post_raw(SUBMIT, b'{"bureau_id": -Infinity}'), 400,
         "malformed_json"),
    Case("json-duplicate-member",
         lambda h: h.post_raw(SUBMIT, b'{"bureau_id": "national", "bureau_id": "guangdong"}'),
         400, "malformed_json"),
    Case("json-100000-brackets", lambda h: h.post_raw(SUBMIT, b"[" * 100_000), 400,
         "malformed_json"),
    Case("json-100000-nested-arrays", lambda h: h.post_raw(SUBMIT, deep_nesting(100_000)), 400,
         "malformed_json"),
    Case("json-10e5000-integer",
         lambda h: h.post_raw(SUBMIT, b'{"bureau_id": 1' + b"0" * 5000 + b"}"), 400,
         "malformed_json"),
    Case("json-invalid-utf8", lambda h: h.post_raw(SUBMIT, b'{"bureau_id": "\xff\xfe"}'), 400,
         "malformed_json"),
    Case("json-utf16-encoded", lambda h: h.post_raw(SUBMIT, "{}".encode("utf-16")), 400,
         "malformed_json"),
    Case("json-empty-body", lambda h: h.post_raw(SUBMIT, b""), 400, "malformed_json"),
    Case("json-trailing-garbage", lambda h: h.post_raw(SUBMIT, b"{} {}"), 400,
         "malformed_json"),
]  # fmt: skip

WRONG_TYPE_CASES: list[Case] = [
    Case(f"type-{member}-{kind}", _wrong_type(member, value), 400, "schema_violation")
    for member in MEMBERS
    for kind, value in WRONG_TYPES.items()
]

MEMBER_CASES: list[Case] = [
    Case("members-empty-object", lambda h: h.server.client.post(SUBMIT, {}), 400,
         "schema_violation"),
    Case("members-missing-envelope", lambda h: h.submit(envelope=ABSENT), 400,
         "schema_violation"),
    Case("members-missing-lookup-key-hash", lambda h: h.submit(lookup_key_hash=ABSENT), 400,
         "schema_violation"),
    Case("members-unknown-extra", lambda h: h.submit(priority="urgent"), 400,
         "schema_violation"),
    Case("members-4000-digit-integer", lambda h: h.submit(lookup_key_hash=10**3999), 400,
         "schema_violation"),
    Case("members-v1-bureau-id", lambda h: h.submit(bureau_id="national"), 400,
         "schema_violation"),
    Case("members-v1-token", lambda h: h.submit(token=cjson.b64encode(h.fresh.token)), 400,
         "schema_violation"),
    Case("members-float", lambda h: h.submit(lookup_key_hash=1.5), 400, "schema_violation"),
    Case("members-lone-surrogate-name", lambda h: h.submit(**{"\ud800": 1}), 400,
         "schema_violation"),
    Case("members-newline-in-unknown-name", lambda h: h.submit(**{"a\nb": 1}), 400,
         "schema_violation"),
]  # fmt: skip

BASE64_CASES: list[Case] = [
    Case("b64-lookup-hash-standard-alphabet",
         lambda h: h.submit(lookup_key_hash=standard_alphabet(32)), 400, "malformed"),
    Case("b64-lookup-hash-non-ascii", lambda h: h.submit(lookup_key_hash="é" * 43), 400,
         "malformed"),
    Case("b64-lookup-hash-lone-surrogate",
         lambda h: h.submit(lookup_key_hash="A" * 42 + "\ud800"), 400, "malformed"),
    Case("b64-lookup-hash-whitespace",
         lambda h: h.submit(lookup_key_hash=" " + cjson.b64encode(bytes(32))), 400, "malformed"),
    Case("b64-lookup-hash-33-bytes",
         lambda h: h.submit(lookup_key_hash=cjson.b64encode(bytes(33))), 400, "malformed"),
    Case("b64-lookup-hash-empty", lambda h: h.submit(lookup_key_hash=""), 400, "malformed"),
    Case("b64-envelope-padded", lambda h: h.submit(envelope=padded(h.fresh.envelope)), 400,
         "malformed"),
    Case("b64-lookup-hash-31-bytes",
         lambda h: h.submit(lookup_key_hash=cjson.b64encode(bytes(31))), 400, "malformed"),
    Case("b64-lookup-hash-noncanonical-bits",
         lambda h: h.submit(lookup_key_hash=noncanonical(bytes(range(32)))), 400, "malformed"),
    Case("b64-lookup-hash-padded", lambda h: h.submit(lookup_key_hash=padded(bytes(32))), 400,
         "malformed"),
    Case("b64-envelope-standard-alphabet",
         lambda h: h.submit(envelope=standard_alphabet(len(h.fresh.envelope))), 400,
         "malformed"),
]  # fmt: skip

ENVELOPE_CASES: list[Case] = [
    Case("envelope-wrong-magic", lambda h: h.submit_envelope(b"SPX" + h.fresh.envelope[3:]),
         400, "malformed"),
    Case("envelope-version-1", lambda h: h.submit_envelope(with_byte(h.fresh.envelope, 3, 1)),
         400, "unsupported_version"),
    Case("envelope-version-3", lambda h: h.submit_envelope(with_byte(h.fresh.envelope, 3, 3)),
         400, "unsupported_version"),
    Case("envelope-bureau-length-zero",
         lambda h: h.submit_envelope(with_byte(h.fresh.envelope, 4, 0)), 400, "malformed"),
    Case("envelope-truncated-header", lambda h: h.submit_envelope(h.fresh.envelope[:40]), 400,
         "malformed"),
    Case("envelope-empty", lambda h: h.submit_envelope(b""), 400, "malformed"),
    Case("envelope-one-byte-too-long", lambda h: h.submit_envelope(h.fresh.envelope + b"\0"),
         400, "malformed"),
    Case("envelope-one-byte-too-short", lambda h: h.submit_envelope(h.fresh.envelope[:-1]), 400,
         "malformed"),
    Case("envelope-renamed-to-guangdong",
         lambda h: h.submit_envelope(with_bureau(h.fresh.envelope, b"guangdong")), 409,
         "stale_bureau_key"),
    Case("envelope-stale-identity-key-id",
         lambda h: h.submit_envelope(other_key_id(h.fresh.envelope, IDENTITY_KEY_ID)), 409,
         "stale_bureau_key"),
    Case("envelope-stale-case-key-id",
         lambda h: h.submit_envelope(other_key_id(h.fresh.envelope, CASE_KEY_ID)), 409,
         "stale_bureau_key"),
]  # fmt: skip

ZERO_WIDTH_ID = percent("nati\u200bonal")
RTL_ID = percent("\u202enational")
FULLWIDTH_ZERO = percent("\uff10")


def header_bureau(bureau: bytes) -> Callable[[Hostile], Answer]:
    return lambda h: h.submit_envelope(with_bureau(h.fresh.envelope, bureau))


def inbox_of(bureau_in_path: str) -> Callable[[Hostile], Answer]:
    return lambda h: h.get(f"/v1/bureaus/{bureau_in_path}/inbox")


BUREAU_ID_CASES: list[Case] = [
    Case("bureau-unknown-in-header", header_bureau(b"atlantis"), 404, "unknown_bureau"),
    Case("bureau-upper-case-in-header", header_bureau(b"NATIONAL"), 400, "malformed"),
    Case("bureau-64-chars-unknown-in-header", header_bureau(b"a" * 64), 404, "unknown_bureau"),
    Case("bureau-zero-width-in-header", header_bureau("national\u200b".encode()), 400,
         "malformed"),
    Case("bureau-rtl-override-in-header", header_bureau("\u202elanoitan".encode()), 400,
         "malformed"),
    Case("bureau-trailing-newline-in-header", header_bureau(b"national\n"), 400, "malformed"),
    Case("bureau-empty-in-header", header_bureau(b""), 400, "malformed"),
    Case("bureau-nul-inside-header-field", header_bureau(b"nat\0ional"), 400, "malformed"),
    Case("bureau-unknown-in-path", inbox_of("atlantis"), 404, "unknown_bureau"),
    Case("bureau-traversal-encoded-slash", inbox_of("..%2F..%2Fetc"), 404, "not_found"),
    Case("bureau-traversal-encoded-dots", inbox_of("%2e%2e"), 404, "unknown_bureau"),
    Case("bureau-upper-case-in-path", inbox_of("NATIONAL"), 404, "unknown_bureau"),
    Case("bureau-65-chars-in-path", inbox_of("a" * 65), 404, "unknown_bureau"),
    Case("bureau-zero-width-in-path", inbox_of(ZERO_WIDTH_ID), 404, "unknown_bureau"),
    Case("bureau-rtl-in-path", inbox_of(RTL_ID), 404, "unknown_bureau"),
    Case("bureau-trailing-newline-in-path", inbox_of("national%0A"), 404, "unknown_bureau"),
    Case("bureau-nul-in-path", inbox_of("nat%00ional"), 404, "unknown_bureau"),
    # Protocol v1's token endpoint: gone, for every bureau (issue 14, T-ID-3).
    Case("token-endpoint-gone", lambda h: h.post_raw(OLD_TOKEN, b'{"blinded_element": "AA"}'),
         404, "not_found"),
    Case("token-endpoint-gone-unknown-bureau",
         lambda h: h.post_raw("/v1/bureaus/atlantis/token", b"{}"), 404, "not_found"),
    Case("token-endpoint-gone-get", lambda h: h.get(OLD_TOKEN), 404, "not_found"),
]  # fmt: skip

TRANSPORT_CASES: list[Case] = [
    Case("content-type-text-plain",
         lambda h: h.post_raw(SUBMIT, json.dumps(h.fresh.body()).encode(), "text/plain"), 415,
         "unsupported_media_type"),
    Case("content-type-form",
         lambda h: h.post_raw(SUBMIT, b"bureau_id=national", "application/x-www-form-urlencoded"),
         415, "unsupported_media_type"),
    Case("no-body-no-content-type", lambda h: h.post_raw(SUBMIT, None, None), 415,
         "unsupported_media_type"),
    Case("body-100MB-announced-submit", lambda h: announce_huge_body(h.server, SUBMIT), 413,
         "too_large"),
    Case("body-26MiB-chunked", lambda h: chunked_26_mib(h.server), 413, "too_large"),
    Case("request-line-5000-bytes", lambda h: long_request_line(h.server), 414,
         "uri_too_long"),
    Case("header-9000-bytes", lambda h: long_header(h.server), 431, "headers_too_large"),
    Case("method-put-petitions", lambda h: h.server.client.request("PUT", SUBMIT, raw=b"{}"), 405,
         "method_not_allowed"),
    Case("method-delete-status",
         lambda h: h.server.client.request("DELETE", f"/v1/petitions/{h.stored_id}/status"),
         405, "method_not_allowed"),
    Case("method-get-petitions", lambda h: h.get(SUBMIT), 405, "method_not_allowed"),
    Case("method-post-inbox", lambda h: h.post_raw(INBOX, b"{}"), 405, "method_not_allowed"),
    Case("route-unknown-v1", lambda h: h.get("/v1/petition"), 404, "not_found"),
    Case("route-unknown-root", lambda h: h.get("/etc/passwd"), 404, "not_found"),
    Case("route-v2", lambda h: h.get("/v2/directory"), 404, "not_found"),
    Case("route-bureau-without-action", lambda h: h.get("/v1/bureaus/national"), 404,
         "not_found"),
    # No HTML redirect to the merged path (issue 15): a doubled slash is no route.
    Case("route-double-slash", lambda h: h.get("/v1//directory"), 404, "not_found"),
    Case("inbox-request-line-5000-bytes",
         lambda h: raw_exchange(h.server, request_head("GET", INBOX + "?after=" + "1" * 5000)),
         414, "uri_too_long"),
]  # fmt: skip

STATUS_CASES: list[Case] = [
    Case("status-no-lookup-key", lambda h: h.status(h.stored_id, None), 400,
         "missing_lookup_key"),
    Case("status-lookup-key-31-bytes",
         lambda h: h.status(h.stored_id, cjson.b64encode(bytes(31))), 400, "malformed"),
    Case("status-lookup-key-padded", lambda h: h.status(h.stored_id, padded(bytes(32))), 400,
         "malformed"),
    Case("status-lookup-key-latin1", lambda h: h.status(h.stored_id, "é" * 43), 400,
         "malformed"),
    Case("status-wrong-lookup-key",
         lambda h: h.status(h.stored_id, cjson.b64encode(secrets.token_bytes(32))), 404,
         "not_found"),
    Case("status-petition-id-short",
         lambda h: h.status("abc", cjson.b64encode(bytes(32))), 404, "not_found"),
    Case("status-petition-id-upper-hex",
         lambda h: h.status(h.stored_id.upper(), cjson.b64encode(bytes(32))), 404, "not_found"),
    Case("status-petition-id-sql",
         lambda h: h.status(percent("' OR 1=1 --"), cjson.b64encode(bytes(32))), 404,
         "not_found"),
]  # fmt: skip

LOG_CASES: list[Case] = [
    Case("log-inclusion-index-equals-size",
         lambda h: h.get("/v1/log/proof/inclusion?index=1&tree_size=1"), 400, "invalid_range"),
    Case("log-inclusion-beyond-tree",
         lambda h: h.get("/v1/log/proof/inclusion?index=0&tree_size=9007199254740991"), 400,
         "invalid_range"),
    Case("log-inclusion-size-zero", lambda h: h.get("/v1/log/proof/inclusion?index=0&tree_size=0"),
         400, "invalid_range"),
    Case("log-consistency-first-above-second",
         lambda h: h.get("/v1/log/proof/consistency?first=2&second=1"), 400, "invalid_range"),
    Case("log-entries-more-than-1000", lambda h: h.get("/v1/log/entries?start=0&end=1001"), 400,
         "invalid_range"),
    Case("log-entries-empty-range", lambda h: h.get("/v1/log/entries?start=1&end=1"), 400,
         "invalid_range"),
    Case("log-entries-negative", lambda h: h.get("/v1/log/entries?start=-1&end=1"), 400,
         "invalid_range"),
    Case("log-entries-non-numeric", lambda h: h.get("/v1/log/entries?start=zero&end=1"), 400,
         "invalid_range"),
    Case("log-entries-fullwidth-digit",
         lambda h: h.get(f"/v1/log/entries?start={FULLWIDTH_ZERO}&end=1"), 400, "invalid_range"),
    Case("log-entries-30-digits", lambda h: h.get("/v1/log/entries?start=0&end=" + "9" * 30),
         400, "invalid_range"),
    Case("log-entries-missing-end", lambda h: h.get("/v1/log/entries?start=0"), 400,
         "invalid_range"),
    Case("log-entries-empty-value", lambda h: h.get("/v1/log/entries?start=&end=1"), 400,
         "invalid_range"),
    Case("log-consistency-missing-both", lambda h: h.get("/v1/log/proof/consistency"), 400,
         "invalid_range"),
]  # fmt: skip

AUTH_CASES: list[Case] = [
    Case("auth-missing", lambda h: h.get(INBOX), 401, "unauthenticated"),
    Case("auth-garbage", lambda h: h.get(INBOX, {"Authorization": "SealedPetition !!!"}), 401,
         "unauthenticated"),
    Case("auth-bearer-scheme", lambda h: h.get(INBOX, {"Authorization": "Bearer abc"}), 401,
         "unauthenticated"),
    Case("auth-not-a-signed-object",
         lambda h: h.get(INBOX, {"Authorization": "SealedPetition "
                                 + cjson.b64encode(b'{"hello":"world"}')}),
         401, "unauthenticated"),
    Case("auth-5000-chars",
         lambda h: h.get(INBOX, {"Authorization": "SealedPetition " + "A" * 5000}), 401,
         "unauthenticated"),
    Case("auth-signed-by-guangdong-claiming-national",
         lambda h: h.get(INBOX, {"Authorization": authorization(h.guangdong.signing)}), 401,
         "invalid_signature"),
    Case("auth-signed-by-stranger",
         lambda h: h.get(INBOX, {"Authorization": authorization(SigningKey.generate())}), 401,
         "invalid_signature"),
    Case("auth-claims-unknown-bureau",
         lambda h: h.get(INBOX, {"Authorization": authorization(h.national.signing,
                                                                bureau_id="atlantis")}),
         401, "invalid_signature"),
    Case("auth-guangdong-on-national-path",
         lambda h: h.get(INBOX, {"Authorization": authorization(h.guangdong.signing,
                                                                bureau_id="guangdong")}),
         403, "wrong_bureau"),
    Case("auth-replayed", replayed, 401, "replayed_request"),
    Case("auth-timestamp-hour-old",
         lambda h: h.get(INBOX, {"Authorization": authorization(
             h.national.signing, timestamp=int(time.time()) - 3600)}),
         401, "stale_request"),
    Case("auth-timestamp-hour-ahead",
         lambda h: h.get(INBOX, {"Authorization": authorization(
             h.national.signing, timestamp=int(time.time()) + 3600)}),
         401, "stale_request"),
    Case("auth-signed-other-target",
         lambda h: h.get(INBOX, {"Authorization": authorization(
             h.national.signing, target=INBOX + "?limit=5")}),
         401, "request_mismatch"),
    Case("auth-signed-other-query",
         lambda h: h.get(INBOX + "?after=0", {"Authorization": authorization(h.national.signing)}),
         401, "request_mismatch"),
    Case("auth-signed-other-body", signed_for_other_body, 401, "request_mismatch"),
    Case("auth-unknown-bureau-path", lambda h: h.signed("GET", "/v1/bureaus/atlantis/inbox"),
         404, "unknown_bureau"),
    Case("bureau-inbox-30-digit-cursor",
         lambda h: h.signed("GET", INBOX + "?after=" + "1" * 30), 400, "invalid_range"),
    Case("bureau-inbox-limit-zero", lambda h: h.signed("GET", INBOX + "?limit=0"), 400,
         "invalid_range"),
    Case("bureau-petition-id-invalid",
         lambda h: h.signed("GET", "/v1/bureaus/national/petitions/not-a-petition"), 404,
         "not_found"),
    Case("bureau-petition-of-other-bureau",
         lambda h: h.signed("GET", f"/v1/bureaus/national/petitions/{h.guangdong_id}"), 404,
         "not_found"),
]  # fmt: skip

REPLY_CASES: list[Case] = [
    Case("reply-signed-by-guangdong",
         lambda h: h.send_reply(h.reply(signer=h.guangdong.signing)), 401, "invalid_signature"),
    Case("reply-signed-as-other-kind",
         lambda h: h.send_reply(h.reply(kind=SignedKind.BUREAU_REQUEST)), 401,
         "invalid_signature"),
    Case("reply-names-other-petition",
         lambda h: h.send_reply(h.reply(reply_petition_id=h.guangdong_id)), 400,
         "reply_mismatch"),
    Case("entry-names-other-petition",
         lambda h: h.send_reply(h.reply(petition_id=h.guangdong_id)), 400, "schema_violation"),
    Case("reply-names-other-bureau",
         lambda h: h.send_reply(h.reply(bureau_id="guangdong")), 400, "reply_mismatch"),
    Case("reply-day-far-future",
         lambda h: h.send_reply(h.reply(day=datetime.now(UTC).date() + timedelta(days=30))),
         400, "wrong_day"),
    Case("reply-day-far-past", lambda h: h.send_reply(h.reply(day=date(2001, 1, 1))), 400,
         "wrong_day"),
    Case("reply-sequence-out-of-order", lambda h: h.send_reply(h.reply(sequence=3)), 409,
         "reply_out_of_order"),
    Case("reply-to-other-bureaus-petition",
         lambda h: h.send_reply(h.reply(petition_id=h.guangdong_id), h.guangdong_id), 404,
         "not_found"),
    Case("reply-not-an-object",
         lambda h: h.send_reply({**h.reply(), "reply": "accepted"}), 400, "schema_violation"),
    Case("reply-missing", lambda h: h.send_reply({}), 400, "schema_violation"),
]  # fmt: skip

CHUNKED_CASES: list[Case] = [
    *(Case(f"chunked-{name}", chunked(framing), 400, "bad_request")
      for name, framing in BROKEN_CHUNKS.items()),
    Case("chunked-reply-size-not-hex", chunked_reply(b"zz\r\nBODY\r\n0\r\n\r\n"), 400,
         "bad_request"),
    Case("chunked-reply-data-without-crlf", chunked_reply(b"SIZE\r\nBODYXX0\r\n\r\n"), 400,
         "bad_request"),
    Case("chunked-reply-trailer-bare-lf",
         chunked_reply(b"SIZE\r\nBODY\r\n0\r\nX-Trailer: 1\n\r\n"), 400, "bad_request"),
]  # fmt: skip

CASES: list[Case] = [
    *BAD_JSON,
    *WRONG_TYPE_CASES,
    *MEMBER_CASES,
    *BASE64_CASES,
    *ENVELOPE_CASES,
    *BUREAU_ID_CASES,
    *TRANSPORT_CASES,
    *CHUNKED_CASES,
    *STATUS_CASES,
    *LOG_CASES,
    *AUTH_CASES,
    *REPLY_CASES,
]


def stored_petition(server: RunningServer, bureau_id: str) -> str:
    answer = server.client.post(SUBMIT, server.seal(bureau_id).body())
    assert answer.status == 201, answer.raw
    petition_id: str = answer.json["petition_id"]
    return petition_id


@pytest.fixture(scope="module")
def hostile(server: RunningServer) -> Hostile:
    stored = server.seal("national")
    assert server.client.post(SUBMIT, stored.body()).status == 201
    return Hostile(
        server=server,
        fresh=server.seal("national"),
        stored_id=stored.petition_id,
        guangdong_id=stored_petition(server, "guangdong"),
        stored_hash=envelope_hash(stored.envelope),
    )


def check_error(answer: Answer, status: int, code: str, hostile: Hostile) -> None:
    text = answer.raw.decode("utf-8", errors="replace")
    assert answer.status != 500, text
    assert not LEAKS.search(text), text
    assert str(hostile.server.data_dir) not in text
    assert (answer.status, _code(answer)) == (status, code), text
    content_type = {k.lower(): v for k, v in answer.headers.items()}.get("content-type", "")
    assert content_type.split(";")[0].strip() == "application/json", content_type
    body = json.loads(answer.raw)
    assert isinstance(body, dict)
    assert set(body) == {"error"}, body
    assert isinstance(body["error"], dict)
    assert set(body["error"]) == {"code", "message"}, body
    message = body["error"]["message"]
    assert isinstance(message, str)
    assert message.strip(), body
    assert "\n" not in message, body
    assert "\r" not in message, body


def _code(answer: Answer) -> str | None:
    try:
        return answer.error_code
    except (ValueError, KeyError, TypeError):
        return None


def test_there_are_enough_distinct_cases() -> None:
    names = [case.name for case in CASES]
    assert len(names) == len(set(names))
    assert len(names) >= 45


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_request_is_refused_with_its_documented_error(hostile: Hostile, case: Case) -> None:
    answer = case.send(hostile)
    check_error(answer, case.status, case.code, hostile)
    if case.status == 405:
        assert "Allow" in answer.headers, answer.headers


def test_the_server_still_serves_after_the_hostile_requests(
    hostile: Hostile, server: RunningServer
) -> None:
    assert server.client.get("/healthz").status == 200
    assert server.client.get("/log/checkpoint").status == 200
    answer = server.client.post(SUBMIT, server.seal("national").body())
    assert answer.status == 201, answer.raw
    # The fresh submission the rows mangled was never stored by any of them.
    untouched = server.client.post(SUBMIT, hostile.fresh.body())
    assert untouched.status == 201, untouched.raw


def test_the_server_log_has_no_traceback(hostile: Hostile, server: RunningServer) -> None:
    assert "Traceback" not in server.log_text()


def test_options_lists_the_methods_without_an_html_body(server: RunningServer) -> None:
    """OPTIONS is answered 204 with ``Allow`` and no body, not Flask's empty text/html 200."""
    address = urlsplit(server.client.base)
    assert address.hostname is not None
    assert address.port is not None
    with socket.create_connection((address.hostname, address.port), timeout=5) as conn:
        conn.sendall(request_head("OPTIONS", SUBMIT, "Connection: close"))
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 204 "), received
    allow = [line for line in head.split(b"\r\n") if line.lower().startswith(b"allow:")]
    assert [set(line[6:].decode().replace(" ", "").split(",")) for line in allow] == [
        {"POST", "OPTIONS"}
    ]
    assert b"\r\ncontent-type:" not in head.lower()
    assert body == b""
