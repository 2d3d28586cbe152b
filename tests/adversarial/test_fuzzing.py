"""Fuzzing (T-DOS-3): generated hostile input against the served API and against every parser.

Two campaigns, each run once with the defence on and once with it off:

* **The API.** Schemathesis reads the OpenAPI document the running server serves
  (``GET /v1/openapi.json``) and generates requests for every operation, schema-valid ones and
  schema-violating ones. A share of them is steered to what exists on the server (a published
  bureau, a stored petition, its lookup key, log sizes in range) and a share of the bureau
  requests is signed with the bureau's key, so the fuzzing reaches past routing and
  authentication into the handlers. Every answer must be below 500 and hold no traceback; an
  error must be the documented ``{"error": {"code", "message"}}`` body with a status and code
  that the document lists for the operation; the server's own log must hold no traceback. At
  least 2,000 requests are sent, and the count is asserted so the floor cannot drop silently.
* **The parsers.** Hypothesis feeds every function that turns untrusted bytes, text or JSON
  into a project object (crypto/, the server's request parsing, the clients' answer and state
  parsing) with mutated valid encodings (bit flips, insertions, deletions, ``NaN``, ``1e400``,
  deep nesting) and valid JSON with members removed, added or of the wrong type, re-signed
  where a signature would otherwise stop the input at the door. Each must return or raise a
  :class:`~crypto.errors.SealedPetitionError` (the server's ``ApiError`` and the clients'
  ``ClientError`` are subclasses). Anything else is a crash: a 500 at the HTTP edge, a
  traceback in a client.

With the defence off, the API campaign runs against the real application (``create_app``)
in-process with its strict JSON body parser replaced by ``json.loads``, and each parser campaign
against a naive parser of the same input (``json.loads`` and indexing, plain base64, slicing
without length checks). The generated input is the same; it must then find a crash.

Fuzzers stop at their first finding, so a run without the defence is short.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import io
import json
import logging
import re
import secrets
import struct
import threading
import time
import traceback
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import Enum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import pytest
import requests
import schemathesis
from adversary import Defence
from cryptography.hazmat.primitives.asymmetric import ed25519, mlkem
from flask import Flask, request
from harness import ID_NUMBERS, Bureau, RunningServer, start_server, stop_server
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, BaseSchema, Case, GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from werkzeug.serving import make_server

from client.api import BureauSigner, ServerApi
from client.bureau import load_bureau
from client.home import ClientConfig, ClientHome
from client.session import verify_directory
from client.transport import RetryPolicy, Transport
from crypto import cjson, merkle, note
from crypto.case_event import LogEntry, sign_entry
from crypto.checkpoint import Checkpoint, open_checkpoint
from crypto.document import Attachment, CaseDocument, Consent, IdentityDocument
from crypto.envelope import (
    BUREAU_FIELD_LENGTH,
    CASE_OFFSET,
    HEADER_LENGTH,
    MAX_ENVELOPE_LENGTH,
    SUITE,
    EnvelopeHeader,
    parse_header,
)
from crypto.envelope import open_case as open_case_section
from crypto.envelope import open_identity as open_identity_section
from crypto.envelope import seal as seal_envelope
from crypto.errors import MalformedInput, SealedPetitionError
from crypto.idnumber import normalize_id
from crypto.keyfile import KeyPurpose, decode_key_file, encode_key_file
from crypto.keys import (
    EncryptionPrivateKey,
    EncryptionPublicKey,
    SigningKey,
    VerifyKey,
    format_fingerprint,
    parse_fingerprint,
)
from crypto.keystore import KdfParams, open_keystore, seal_keystore, write_keystore_file
from crypto.labels import ENVELOPE_CASE_INFO, ENVELOPE_IDENTITY_INFO, REPLY_INFO, SignedKind
from crypto.log_receipt import verify_receipt
from crypto.objects import (
    REQUEST_NONCE_LENGTH,
    BureauBundle,
    BureauRequest,
    Directory,
    Reply,
)
from crypto.padding import IDENTITY_SECTION_SIZE, pad, pad_to, unpad, unpad_from
from crypto.petition import open_case, open_identity
from crypto.receipt import ReceiptSecret
from crypto.reply import open_reply, seal_reply
from crypto.signing import SignedObject, sign
from crypto.statutory import Event
from crypto.tiles import decode_bundle, parse_path
from crypto.tlog_policy import Policy
from crypto.token import TokenKey, TokenParams
from server.app import create_app
from server.auth import authenticate_bureau
from server.blueprints import bureau as bureau_routes
from server.blueprints import public as public_routes
from server.config import ServerConfig
from server.datadir import DataDirectory
from server.http_edge import bytes_member, json_body, object_member, query_int
from server.ipc import WriterClient
from server.published import DirectoryFile, PublishedDirectory

Operation = APIOperation[Any, Any, Any, Any]
FuzzCase = Case[Operation]
TRACEBACK = "Traceback (most recent call last)"

# --- fixtures: one live server, and what exists on it ---------------------------------------


@dataclass(frozen=True)
class World:
    """The live server and what is stored on it: where steered and mutated inputs start from."""

    server: RunningServer
    bureau: Bureau  # "national": its keys sign the steered bureau requests
    petition_id: str  # stored for national, with one reply
    secret: ReceiptSecret  # that petition's receipt secret
    envelope: bytes
    tree_size: int
    answers: dict[str, bytes]  # the raw body of a real answer of each endpoint
    #: The static log's files at that size (not JSON): the checkpoint, a tile, an entry bundle.
    static: dict[str, bytes] = field(default_factory=dict)


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("fuzz"))
    try:
        yield running
    finally:
        stop_server(running)


@pytest.fixture(scope="module")
def world(fuzz_server: RunningServer) -> World:
    """Three stored petitions and one reply, and a real answer from every endpoint."""
    server, client = fuzz_server, fuzz_server.client
    bureau = server.bureaus["national"]
    submissions = [server.seal("national", id_number=number) for number in ID_NUMBERS]
    stored = [client.post("/v1/petitions", submission.body()) for submission in submissions]
    assert [answer.status for answer in stored] == [201, 201, 201], stored[0].raw
    first = submissions[0]
    petition_id: str = stored[0].json["petition_id"]
    replied = server.post_event(first, "national", Event.ACKNOWLEDGED, message="已受理。")
    assert replied.status == 201, replied.raw
    lookup_header = {"Petition-Lookup-Key": cjson.b64encode(first.secret.lookup_key())}
    inbox, _ = client.signed(bureau, "GET", "/v1/bureaus/national/inbox")
    petition, _ = client.signed(bureau, "GET", f"/v1/bureaus/national/petitions/{petition_id}")
    answers = {
        "directory": client.get("/v1/directory"),
        "authority": client.get("/v1/authority"),
        "submit": stored[0],
        "lookup": client.get("/v1/lookup", headers=lookup_header),
        "inclusion": client.get("/v1/log/proof/inclusion?index=1&tree_size=4"),
        "consistency": client.get("/v1/log/proof/consistency?first=1&second=4"),
        "entries": client.get("/v1/log/entries?start=0&end=4"),
        "inbox": inbox,
        "petition": petition,
        "reply": replied,
    }
    static = {
        path: client.get("/log/" + path)
        for path in ("checkpoint", "tile/0/000.p/4", "tile/entries/000.p/4")
    }
    assert all(answer.status in (200, 201) for answer in answers.values()), answers
    assert all(answer.status == 200 for answer in static.values()), static
    return World(
        server=server,
        bureau=bureau,
        petition_id=petition_id,
        secret=first.secret,
        envelope=first.envelope,
        tree_size=4,
        answers={name: answer.raw for name, answer in answers.items()},
        static={path: answer.raw for path, answer in static.items()},
    )


# --- campaign 1: schemathesis against the served OpenAPI document ---------------------------


class StopFuzzing(Exception):
    """Raised once a finding is recorded: a fuzzer stops at its first finding.

    Hypothesis then replays the example that raised it (no shrinking: the phases leave it out),
    and the replay raises it again, so the run ends at once instead of generating the rest.
    """


MIN_API_REQUESTS = 2000
# Examples per operation and generation mode (the floor above is what is asserted). A request
# body costs several times more to generate than parameters, so those operations get fewer.
API_EXAMPLES = 125
API_EXAMPLES_WITH_BODY = 70


def api_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,  # the same requests on every run: a CI failure reproduces locally
        database=None,
        phases=[Phase.explicit, Phase.generate],
        report_multiple_bugs=False,  # the first finding ends the run (StopFuzzing)
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


# Schemathesis' response checks: the status is one the operation documents, the media type is
# JSON, and the body matches the documented schema, for an error the code enum of its status.
CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]
ERROR_CODE = re.compile(r"[a-z][a-z0-9_]*")
REQUEST_ARGUMENTS = frozenset(
    {"method", "url", "headers", "params", "cookies", "json", "data", "files", "auth"}
)
LOOKUP_HEADER = "Petition-Lookup-Key"


class Steering(Enum):
    """What is done to a generated request before it is sent (drawn with the request).

    Hypothesis draws the first member most often, so the steered share is the larger one.
    """

    SIGNED = "steered to existing ids and signed by the bureau"
    KNOWN_IDS = "steered to existing ids"
    AS_GENERATED = "as generated"


@dataclass(frozen=True)
class Target:
    url: str
    log_text: Callable[[], str]


@dataclass(frozen=True)
class ApiFinding:
    operation: str
    steering: str
    request: str
    status: int
    crash: bool  # a 5xx, a traceback or a dropped connection
    problems: tuple[str, ...]
    body: str

    def __str__(self) -> str:
        return (
            f"{self.operation} ({self.steering}) -> HTTP {self.status}: "
            f"{'; '.join(self.problems)}\n  request: {self.request}\n  body: {self.body}"
        )


@dataclass
class Campaign:
    sent: int = 0
    per_operation: Counter[str] = field(default_factory=Counter)
    # Signed bureau requests answered with anything but 401: they got past authentication.
    authenticated: Counter[str] = field(default_factory=Counter)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    findings: list[ApiFinding] = field(default_factory=list)

    def report(self) -> str:
        counts = ", ".join(f"{name}: {count}" for name, count in sorted(self.per_operation.items()))
        found = "\n".join(str(finding) for finding in self.findings) or "nothing"
        past = ", ".join(f"{name}: {count}" for name, count in sorted(self.authenticated.items()))
        statuses = ", ".join(
            f"{name} {status}: {count}" for (name, status), count in sorted(self.statuses.items())
        )
        return (
            f"{self.sent} requests ({counts}); answers: {statuses}; signed and past"
            f" authentication: {past or 'none'}; found: {found}"
        )


def operations(schema: BaseSchema) -> list[Operation]:
    """Every operation of the document; one that schemathesis cannot read fails the test."""
    found = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        found.append(result.ok())
    return found


def needs_signature(operation: Operation) -> bool:
    """The operations the document marks with the ``bureauRequest`` security requirement."""
    return bool(operation.definition.raw.get("security"))


def generation_modes(operation: Operation) -> list[GenerationMode]:
    """Schema-valid requests always; schema-violating ones where there is an input to violate."""
    has_input = any(True for _ in operation.iter_parameters()) or bool(list(operation.body))
    if has_input:
        return [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    return [GenerationMode.POSITIVE]


def steer(case: FuzzCase, steering: Steering, world: World) -> None:
    """Point a generated request at what exists, so it gets past 404s and into the handler."""
    if steering is Steering.AS_GENERATED:
        return
    path = case.path_parameters
    if path is not None:
        if "bureau_id" in path:
            path["bureau_id"] = world.bureau.bureau_id
        if "petition_id" in path:
            path["petition_id"] = world.petition_id
        if "rest" in path:  # a tile that exists (its width names the log's size)
            tiles = [name.removeprefix("tile/") for name in world.static if name != "checkpoint"]
            path["rest"] = tiles[len(str(path["rest"])) % len(tiles)]
    query = case.query
    if query is not None:
        for name, value in query.items():
            if type(value) is int:  # log indices and sizes: mostly in range of the real log
                query[name] = value % (world.tree_size + 2)
    headers = case.headers
    if headers is not None and LOOKUP_HEADER in headers:
        headers[LOOKUP_HEADER] = cjson.b64encode(world.secret.lookup_key())
    body = case.body
    if isinstance(body, dict):
        if isinstance(body.get("bureau_id"), str):
            body["bureau_id"] = world.bureau.bureau_id
        reply = body.get("reply")
        if isinstance(reply, dict) and isinstance(reply.get("body"), dict):
            steer_reply(reply, world, resign=steering is Steering.SIGNED)
        entry = body.get("entry")
        if isinstance(entry, dict):
            steer_entry(entry, world, resign=steering is Steering.SIGNED)


def steer_reply(reply: dict[str, Any], world: World, *, resign: bool) -> None:
    """Aim a generated reply at the stored petition and today; re-sign its generated body.

    Re-signing is what lets generated reply bodies reach ``Reply.from_json`` and the writer:
    without the bureau's signature every one stops at ``invalid_signature``.
    """
    content = reply["body"]
    today = datetime.now(UTC).date().isoformat()
    for name, value in (("petition_id", world.petition_id), ("bureau_id", "national")):
        if name in content:
            content[name] = value
    if "day" in content:
        content["day"] = today
    if resign:
        with contextlib.suppress(MalformedInput):  # a body with no canonical encoding
            signed = sign(SignedKind.REPLY, content, world.bureau.signing)
            reply["signature"] = cjson.b64encode(signed.signature)
            reply["signer"] = cjson.b64encode(signed.signer)


def steer_entry(entry: dict[str, Any], world: World, *, resign: bool) -> None:
    """Aim a generated case event at the stored petition and today; re-sign it as the bureau.

    As for replies: without the bureau's signature every generated entry would stop at
    ``invalid_signature``; re-signed, it reaches the history checks in the writer.
    """
    today = datetime.now(UTC).date().isoformat()
    for name, value in (
        ("petition_id", world.petition_id),
        ("bureau_id", "national"),
        ("day", today),
        ("envelope_hash", cjson.b64encode(hashlib.sha256(world.envelope).digest())),
    ):
        if name in entry:
            entry[name] = value
    if resign:
        with contextlib.suppress(SealedPetitionError):  # an entry that does not parse
            parsed = LogEntry.from_json({**entry, "signature": None})
            entry["signature"] = cjson.b64encode(
                sign_entry(parsed, world.bureau.signing).signature or b""
            )


def bureau_authorization(bureau: Bureau, prepared: requests.PreparedRequest) -> str:
    """The ``Authorization`` header for exactly this request, as a bureau client signs it."""
    path, _, query = prepared.path_url.partition("?")
    # The server compares with the WSGI PATH_INFO: percent-decoded, as latin-1.
    target = unquote(path, encoding="latin-1") + (f"?{query}" if query else "")
    body = prepared.body or b""
    assert isinstance(body, (bytes, str)), body
    claim = BureauRequest(
        bureau_id=bureau.bureau_id,
        method=prepared.method or "GET",
        target=target,
        body_sha256=hashlib.sha256(body.encode() if isinstance(body, str) else body).digest(),
        timestamp=int(time.time()),
        nonce=secrets.token_bytes(REQUEST_NONCE_LENGTH),
    )
    wire = sign(SignedKind.BUREAU_REQUEST, claim.to_json(), bureau.signing).encode()
    return f"SealedPetition {cjson.b64encode(wire)}"


def error_body_problems(response: requests.Response) -> list[str]:
    """How an error answer differs from the documented ``{"error": {"code", "message"}}``."""
    media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
    if media_type != "application/json":
        return [f"an error answered as {media_type!r}"]
    try:
        value = json.loads(response.content)
    except ValueError:
        return ["an error body that is not JSON"]
    if (
        not isinstance(value, dict)
        or set(value) != {"error"}
        or not isinstance(value["error"], dict)
        or set(value["error"]) != {"code", "message"}
    ):
        return ["an error body that is not {'error': {'code': ..., 'message': ...}}"]
    code, message = value["error"]["code"], value["error"]["message"]
    problems = []
    if not isinstance(code, str) or ERROR_CODE.fullmatch(code) is None:
        problems.append(f"the error code {code!r} is not a stable code")
    if not isinstance(message, str) or not message or "\n" in message or "\r" in message:
        problems.append("the error message is not one line")
    return problems


def inspect(case: FuzzCase, response: requests.Response) -> tuple[list[str], bool]:
    """Everything wrong with one answer, and whether it is a crash."""
    status = response.status_code
    text = response.content.decode("utf-8", "replace")
    crash = status >= 500 or TRACEBACK in text
    problems = []
    if status >= 500:
        problems.append(f"a server error (HTTP {status})")
    if TRACEBACK in text:
        problems.append("a traceback in the body")
    if status >= 400:
        problems.extend(error_body_problems(response))
    try:
        case.validate_response(response, checks=CONFORMANCE)
    except FailureGroup as group:
        problems.extend(f"{failure.title}: {failure.message}"[:400] for failure in group.exceptions)
    return problems, crash


def send(
    session: requests.Session, case: FuzzCase, url: str, signer: Bureau | None
) -> requests.Response:
    arguments = case.as_transport_kwargs(base_url=url)
    prepared = session.prepare_request(
        requests.Request(**{name: arguments[name] for name in REQUEST_ARGUMENTS & arguments.keys()})
    )
    if signer is not None:
        prepared.headers["Authorization"] = bureau_authorization(signer, prepared)
    return session.send(prepared, timeout=60, allow_redirects=False)


def fuzz_operation(
    operation: Operation,
    mode: GenerationMode,
    session: requests.Session,
    target: Target,
    world: World,
    campaign: Campaign,
) -> None:
    signs = needs_signature(operation)
    strategy = st.tuples(
        operation.as_strategy(generation_mode=mode), st.sampled_from(list(Steering))
    )

    examples = API_EXAMPLES_WITH_BODY if list(operation.body) else API_EXAMPLES

    @api_settings(examples)
    @given(strategy)
    def attack(drawn: tuple[FuzzCase, Steering]) -> None:
        if campaign.findings:
            raise StopFuzzing
        case, steering = drawn
        steer(case, steering, world)
        signer = world.bureau if signs and steering is Steering.SIGNED else None
        where = f"{operation.label} [{mode.value}]"
        try:
            response = send(session, case, target.url, signer)
        except requests.ConnectionError as exc:
            campaign.findings.append(
                ApiFinding(where, steering.value, repr(case)[:500], 0, True, (repr(exc),), "")
            )
            raise StopFuzzing from None
        campaign.sent += 1
        campaign.per_operation[operation.label] += 1
        campaign.statuses[operation.label, response.status_code] += 1
        if signer is not None and response.status_code != 401:
            campaign.authenticated[operation.label] += 1
        problems, crash = inspect(case, response)
        if problems:
            sent = (
                f"{response.request.method} {response.request.url} body={response.request.body!r}"
            )
            campaign.findings.append(
                ApiFinding(
                    where,
                    steering.value,
                    sent[:800],
                    response.status_code,
                    crash,
                    tuple(problems),
                    response.content[:800].decode("utf-8", "replace"),
                )
            )
            raise StopFuzzing

    with contextlib.suppress(StopFuzzing):
        attack()


def run_campaign(schema: BaseSchema, target: Target, world: World) -> Campaign:
    """Every operation, schema-valid and schema-violating, until the first finding."""
    campaign = Campaign()
    with requests.Session() as session:
        for operation in operations(schema):
            for mode in generation_modes(operation):
                if not campaign.findings:
                    fuzz_operation(operation, mode, session, target, world, campaign)
    log = target.log_text()
    if TRACEBACK in log:
        where = log.index(TRACEBACK)
        campaign.findings.append(
            ApiFinding("the server's log", "", "", 0, True, ("a traceback",), log[where:][:1500])
        )
    return campaign


def naive_json_body(required: set[str]) -> dict[str, Any]:
    """A body parser without strict validation: whatever ``json.loads`` makes of the bytes."""
    value: dict[str, Any] = json.loads(request.get_data())
    return value


@contextlib.contextmanager
def in_process_application(server: RunningServer) -> Iterator[Target]:
    """The application the factory builds, on the live server's data and writer, in a thread."""
    app = create_app(ServerConfig(data_dir=server.data_dir))
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    logger = logging.getLogger("sealed_petition.http")
    logger.addHandler(handler)
    http_server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http_server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Target(f"http://127.0.0.1:{http_server.server_port}", captured.getvalue)
    finally:
        http_server.shutdown()
        http_server.server_close()
        thread.join()
        logger.removeHandler(handler)


@contextlib.contextmanager
def campaign_target(
    defence: Defence, server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Target]:
    if defence.on:
        yield Target(server.client.base, server.log_text)
        return
    monkeypatch.setattr(public_routes, "json_body", naive_json_body)
    monkeypatch.setattr(bureau_routes, "json_body", naive_json_body)
    with in_process_application(server) as target:
        yield target


@pytest.mark.slow
@pytest.mark.threat("T-DOS-3")
def test_generated_requests_from_the_served_openapi_document_never_crash_the_server(
    defence: Defence, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Schemathesis, fed the document the server serves, must not get a 500 out of it.

    With the defence off, the same campaign runs against the application with its strict JSON
    body parser replaced by ``json.loads``: a missing member or a body that is not an object is
    then a ``KeyError`` or ``TypeError`` in a handler, which the campaign must find as a 500.
    """
    schema = schemathesis.openapi.from_url(
        f"{world.server.client.base}/v1/openapi.json", config=schemathesis.Config()
    )
    with campaign_target(defence, world.server, monkeypatch) as target:
        campaign = run_campaign(schema, target, world)
    crashes = [finding for finding in campaign.findings if finding.crash]
    if defence.on:
        assert not campaign.findings, campaign.report()
        assert campaign.sent >= MIN_API_REQUESTS, campaign.report()
        documented = operations(schema)
        assert set(campaign.per_operation) == {op.label for op in documented}, campaign.report()
        signed = {operation.label for operation in documented if needs_signature(operation)}
        assert signed, "the document marks no operation with the bureauRequest scheme"
        assert set(campaign.authenticated) == signed, campaign.report()
    defence.judge(bool(crashes), "crash the server with generated requests (a 5xx or a traceback)")


# --- campaign 2: hypothesis on every parser ------------------------------------------------


def parser_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        report_multiple_bugs=False,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


# Bytes that break parsers: JSON's non-finite numbers and huge literals, a lone surrogate, deep
# nesting (far past any recursion limit), a NUL, invalid UTF-8, and the small JSON values.
NUMERIC_TOKENS: tuple[bytes, ...] = (
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"1e400",
    b"-1e400",
    b"1.5",
    b"-0",
    b"-1",
    b"9" * 5000,
)
SPECIAL_TOKENS: tuple[bytes, ...] = (
    *NUMERIC_TOKENS,
    b'"\\ud800"',
    b"[" * 100_000,
    b'{"a":' * 50_000,
    b"\x00",
    b"\xff\xfe",
    b"\xc3",
    b"null",
    b"true",
    b"[]",
    b"{}",
    b'""',
)
INTERESTING_BYTES = b'"{}[],:\\0-1e. \x00\x7f\x80\xff'
# Characters that change under NFKC, case mapping or digit tests, and invisible ones.
SPECIAL_CHARACTERS = "\u00a0\u200b\ufeff０９Ⅸ²³¹ßİﬃ\u2028\ud7ff\U0001f600-_ "


def pick(draw: st.DrawFn, choices: Sequence[Any]) -> Any:
    """``draw(st.sampled_from(choices))`` without building a new strategy on every draw."""
    return choices[draw(st.integers(0, len(choices) - 1))]


@st.composite
def mutated_bytes(draw: st.DrawFn, seeds: Sequence[bytes]) -> bytes:
    """A valid encoding with one to four byte-level mutations: reaches deep, unlike noise."""
    data = bytearray(pick(draw, seeds))
    for _ in range(draw(st.integers(1, 4))):
        operation = draw(st.integers(0, 6))
        if not data:
            data += draw(st.binary(min_size=1, max_size=8))
            continue
        at = draw(st.integers(0, len(data) - 1))
        if operation == 0:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif operation == 1:
            data[at] = pick(draw, INTERESTING_BYTES)
        elif operation == 2:
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif operation == 3:
            del data[at : at + draw(st.integers(1, 32))]
        elif operation == 4:
            data[at:at] = data[at : at + draw(st.integers(1, 64))]
        elif operation == 5:
            del data[at:]
        else:
            data[at:at] = pick(draw, SPECIAL_TOKENS)
    return bytes(data)


@st.composite
def mutated_text(draw: st.DrawFn, seeds: Sequence[str]) -> str:
    """A valid text (a code, a number, a header) with one to three character-level mutations."""
    text = list(pick(draw, seeds))
    for _ in range(draw(st.integers(1, 3))):
        operation = draw(st.integers(0, 4))
        if not text:
            text.append(draw(st.characters()))
            continue
        at = draw(st.integers(0, len(text) - 1))
        if operation == 0:
            text[at] = draw(st.characters())
        elif operation == 1:
            text[at] = pick(draw, SPECIAL_CHARACTERS)
        elif operation == 2:
            text[at:at] = list(draw(st.text(max_size=4)))
        elif operation == 3:
            del text[at : at + draw(st.integers(1, 8))]
        else:
            del text[at:]
    return "".join(text)


JSON_SCALARS: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.text(max_size=12),
    st.text(alphabet="AZaz09-_=", max_size=48),  # base64url-looking strings of any length
)
JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=4,
)


def slots(value: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) of a JSON value: the places a mutation can go."""
    found: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        for key in sorted(value):
            found.append((value, key))
            found.extend(slots(value[key]))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.append((value, index))
            found.extend(slots(item))
    return found


@st.composite
def reshaped(draw: st.DrawFn, seeds: Sequence[Any]) -> Any:
    """A valid JSON value with members replaced by other types, removed, added or altered."""
    value = copy.deepcopy(pick(draw, seeds))
    for _ in range(draw(st.integers(1, 3))):
        places = slots(value)
        if not places:
            return draw(JSON_VALUES)
        container, key = pick(draw, places)
        operation = draw(st.integers(0, 3))
        if operation == 0:
            container[key] = draw(JSON_VALUES)
        elif operation == 1:
            del container[key]
        elif operation == 2:
            if isinstance(container, dict):
                container[draw(st.text(max_size=10))] = draw(JSON_VALUES)
            else:
                container.append(draw(JSON_VALUES))
        elif isinstance(container[key], str):
            container[key] = draw(mutated_text([container[key] or "x"]))
        elif type(container[key]) is int:
            container[key] += pick(draw, (-1, 1, 2**53, -(2**53), 2**64))
    return value


def encode_any(value: Any) -> bytes:
    """Canonical JSON when the value has one (so it passes the canonical check), else plain."""
    try:
        return cjson.encode(value)
    except MalformedInput:
        return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


MARKER = "\x00special\x00"


@st.composite
def special_literal(draw: st.DrawFn, seeds: Sequence[Any]) -> bytes:
    """A valid document with one value replaced by a special token: ``1e400`` where a number
    was, or deep nesting, ``NaN``, a lone surrogate… anywhere. Byte mutations rarely put a
    whole token exactly where a value is; this does."""
    value = copy.deepcopy(pick(draw, seeds))
    places = slots(value)
    numbers = [(container, key) for container, key in places if type(container[key]) is int]
    if numbers and pick(draw, (False, True)):
        container, key = pick(draw, numbers)
        token = pick(draw, NUMERIC_TOKENS)
    elif places:
        container, key = pick(draw, places)
        token = pick(draw, SPECIAL_TOKENS)
    else:
        return bytes(pick(draw, SPECIAL_TOKENS))
    container[key] = MARKER
    return encode_any(value).replace(encode_any(MARKER), token, 1)


def json_bytes(raw: Sequence[bytes], values: Sequence[Any]) -> st.SearchStrategy[bytes]:
    return st.one_of(
        mutated_bytes(raw),
        reshaped(values).map(encode_any),
        special_literal(values),
        st.binary(max_size=64),
    )


def hostile_int(value: int) -> st.SearchStrategy[int]:
    return st.one_of(
        st.just(value), st.integers(value - 3, value + 3), st.integers(-(2**66), 2**66)
    )


@st.composite
def hostile_proof(draw: st.DrawFn, proof: Sequence[bytes]) -> list[bytes]:
    hashes = list(proof)
    operation = draw(st.integers(0, 4))
    if operation == 0 and hashes:
        del hashes[draw(st.integers(0, len(hashes) - 1))]
    elif operation == 1:
        hashes.insert(draw(st.integers(0, len(hashes))), draw(st.binary(max_size=40)))
    elif operation == 2 and hashes:
        hashes[draw(st.integers(0, len(hashes) - 1))] = draw(st.binary(max_size=40))
    elif operation == 3:
        hashes = draw(st.lists(st.binary(min_size=32, max_size=32), max_size=70))
    return hashes


#: The members of every log entry, whatever its event.
ENTRY_MEMBERS = frozenset(
    LogEntry("0" * 32, "national", bytes(32), Event.RECEIVED, date(2000, 1, 1)).to_json()
)
B64_MEMBERS = frozenset(
    {
        "body_sha256",
        "case_key",
        "ciphertext",
        "envelope",
        "envelope_hash",
        "id_prehash",
        "identity_key",
        "key",
        "lookup_key_hash",
        "nonce",
        "reply_hash",
        "root_hash",
        "salt",
        "signature",
        "signer",
        "signing_key",
        "token_salt",
    }
)


def naive_b64(value: Any) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def naive_object(value: Any, members: Iterator[str] | Sequence[str] | frozenset[str]) -> list[Any]:
    """What a parser that trusts the shape does: index every member, decode it by its name."""
    decoded = []
    for name in sorted(members):
        item = value[name]
        if name in B64_MEMBERS and item is not None:  # reply_hash is null in a submission leaf
            item = naive_b64(item)
        elif name == "day":
            item = date.fromisoformat(item)
        decoded.append(item)
    return decoded


class HostileAnswers:
    """A local HTTP server that gives whatever answer the current example holds.

    The clients parse a server's answers; this is the server a hostile operator (or anyone on
    the path, without TLS) would run.
    """

    def __init__(self) -> None:
        self.answer: tuple[int, dict[str, str], bytes] = (200, {}, b"{}")
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes

            def answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, headers, body = owner.answer
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = answer
            do_POST = answer

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@dataclass
class Kit:
    """Valid encodings of everything, built from the live server, and the parsers' contexts."""

    world: World
    authority_key: VerifyKey
    log_key: VerifyKey
    log: note.Verifier
    policy: Policy
    directory_body: dict[str, Any]
    checkpoint_wire: bytes
    receipts: list[bytes]  # a submission's and a reply's, as the server sent them
    reply_signed: dict[str, Any]
    event_entry: dict[str, Any]  # the bureau-signed entry that reply came with
    request_body: dict[str, Any]
    leaves: list[bytes]
    inclusions: list[tuple[bytes, int, int, list[bytes], bytes]]
    consistencies: list[tuple[int, int, bytes, bytes, list[bytes]]]
    identity_document: bytes
    case_document: bytes
    identity_key: EncryptionPrivateKey
    case_key: EncryptionPrivateKey
    reply_ciphertext: bytes
    keystore: bytes
    key_file: bytes
    public_keys: list[bytes]
    verify_keys: list[bytes]
    client_config: bytes
    checkpoints_file: bytes
    home: ClientHome
    app: Flask
    published: PublishedDirectory
    writer: WriterClient
    answers: HostileAnswers
    api: ServerApi
    signer: BureauSigner


KEYSTORE_PASSPHRASE = "a passphrase for the fuzzed keystore"  # noqa: S105  (a test keystore)
CHEAP_KDF = KdfParams(memory_kib=8192, time_cost=1, parallelism=1)
INBOX_TARGET = "/v1/bureaus/national/inbox"


def inclusion_cases(leaves: Sequence[bytes]) -> list[tuple[bytes, int, int, list[bytes], bytes]]:
    hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
    tree = merkle.LeafHashList(hashes)
    cases = []
    for size in range(1, len(hashes) + 1, 3):
        root = tree.subtree_root(0, size)
        for index in range(0, size, 4):
            proof = merkle.inclusion_proof(tree, index, size)
            cases.append((hashes[index], index, size, proof, root))
    return cases


def consistency_cases(leaves: Sequence[bytes]) -> list[tuple[int, int, bytes, bytes, list[bytes]]]:
    tree = merkle.LeafHashList([merkle.leaf_hash(leaf) for leaf in leaves])
    cases = []
    for first, second in ((0, 5), (1, 4), (3, 7), (4, 4), (6, 37), (16, 37), (17, 33)):
        proof = merkle.consistency_proof(tree, first, second)
        roots = tree.subtree_root(0, first), tree.subtree_root(0, second)
        cases.append((first, second, roots[0], roots[1], proof))
    return cases


@pytest.fixture(scope="module")
def kit(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kit]:
    server, bureau = world.server, world.bureau
    answers = {name: json.loads(raw) for name, raw in world.answers.items()}
    directory_signed = SignedObject.decode(world.answers["directory"], SignedKind.DIRECTORY)
    authority_key = VerifyKey(cjson.b64decode(answers["authority"]["public_key"], length=32))
    directory = Directory.from_json(directory_signed.verify(authority_key))
    secret = world.secret
    identity_document = IdentityDocument(
        real_name="张三",
        id_scheme="cn-resident",
        id_number=ID_NUMBERS[0],
        contact="13800000000",
        consent=Consent(contact=False, share_identity_on_transfer=True),
    ).encode()
    case_document = CaseDocument(
        subject="道路维修",
        body="请修路。\n谢谢。",
        category="infrastructure",
        region="440300",
        respondent="某区住建局",
        reply_key=secret.reply_private_key().public_key(),
        id_prehash=bureau.prehash_for(ID_NUMBERS[0]),
        created_day=date(2025, 5, 1),
        attachments=(Attachment("照片.jpg", "image/jpeg", b"\xff\xd8\xff" + bytes(40)),),
    ).encode()
    claim = BureauRequest(
        bureau_id="national",
        method="GET",
        target=INBOX_TARGET,
        body_sha256=hashlib.sha256(b"").digest(),
        timestamp=int(time.time()),
        nonce=secrets.token_bytes(REQUEST_NONCE_LENGTH),
    )
    leaves = [cjson.b64decode(item) for item in answers["entries"]["entries"]]
    more_leaves = [secrets.token_bytes(40) for _ in range(37)]
    public_key = bureau.identity.public_key().to_bytes()
    home = ClientHome(tmp_path_factory.mktemp("client-home"))
    home.save_config(
        ClientConfig(
            server=world.server.client.base,
            authority_key=authority_key.to_bytes(),
            proxy=None,
            directory_serial=3,
        )
    )
    checkpoint_wire = world.static["checkpoint"]
    home.save_checkpoints(directory.log_vkey, [checkpoint_wire])
    data = DataDirectory.open_existing(server.data_dir)
    published = DirectoryFile(data.directory_path).current()
    assert published is not None
    app = Flask("fuzzed-edge")
    app.config["MAX_CONTENT_LENGTH"] = ServerConfig(data_dir=server.data_dir).max_body_bytes
    hostile = HostileAnswers()
    transport = Transport(hostile.url, retry=RetryPolicy(attempts=1))
    try:
        yield Kit(
            world=world,
            authority_key=authority_key,
            log_key=directory.log_key,
            log=directory.log_vkey,
            policy=directory.policy(),
            directory_body=directory_signed.body,
            checkpoint_wire=checkpoint_wire,
            receipts=[
                answers["submit"]["receipt"].encode(),
                answers["reply"]["receipt"].encode(),
            ],
            reply_signed=answers["petition"]["replies"][0],
            event_entry=answers["petition"]["events"][1]["entry"],
            request_body=claim.to_json(),
            leaves=leaves,
            inclusions=inclusion_cases(leaves) + inclusion_cases(more_leaves),
            consistencies=consistency_cases(more_leaves),
            identity_document=identity_document,
            case_document=case_document,
            identity_key=bureau.identity,
            case_key=bureau.case,
            reply_ciphertext=seal_reply(
                "已受理。",
                secret.reply_private_key().public_key(),
                world.petition_id,
                "national",
            ),
            keystore=seal_keystore(
                {
                    "identity-key": bureau.identity.to_bytes(),
                    "case-key": bureau.case.to_bytes(),
                    "signing-key": bureau.signing.to_bytes(),
                    "token-key": bureau.token.secret,
                },
                KEYSTORE_PASSPHRASE,
                kdf_params=KdfParams(memory_kib=8192, time_cost=1, parallelism=1),
            ),
            key_file=encode_key_file(
                KeyPurpose.LOG_SIGNING, SigningKey.generate().to_bytes(), None
            ),
            public_keys=[public_key, public_key[:-32] + bytes(32)],  # the second: low order
            verify_keys=[bureau.signing.public_key().to_bytes(), authority_key.to_bytes()],
            client_config=home.config_path.read_bytes(),
            checkpoints_file=home.checkpoints_path(directory.log_vkey).read_bytes(),
            home=home,
            app=app,
            published=published,
            writer=WriterClient(data.socket_path, 10.0),
            answers=hostile,
            api=ServerApi(transport),
            signer=BureauSigner("national", bureau.signing),
        )
    finally:
        transport.close()
        hostile.close()


@dataclass(frozen=True)
class Crash:
    parser: str
    value: str
    error: str

    def __str__(self) -> str:
        return f"{self.parser} crashed on {self.value}\n{self.error}"


def fuzz_parser(
    name: str, parse: Callable[[Any], object], inputs: st.SearchStrategy[Any], examples: int
) -> tuple[int, Crash | None]:
    """Feed ``parse`` generated input; a crash is any exception that is not a project error."""
    found: list[Crash] = []
    tried = 0

    @parser_settings(examples)
    @given(inputs)
    def attack(value: Any) -> None:
        nonlocal tried
        if found:  # hypothesis replays the example that stopped it; say the same again
            raise StopFuzzing
        tried += 1
        try:
            parse(value)
        except SealedPetitionError:
            return
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # a crash, whatever it is (a Rust panic is a BaseException)
            found.append(
                Crash(name, repr(value)[:400], "".join(traceback.format_exception(exc))[-2000:])
            )
            if isinstance(exc, urllib.error.HTTPError):
                exc.close()  # it holds the connection; hypothesis keeps the failure alive
        if found:  # raised outside the handler, so the crash is not kept as its context
            raise StopFuzzing

    with contextlib.suppress(StopFuzzing):
        attack()
    return tried, found[0] if found else None


# -- the parsers, each with a naive twin that parses the same input without strict checks ----


def _naive_checkpoint_text(kit: Kit, text: str) -> object:
    """A checkpoint read by line position, trusting the shape."""
    lines = text.split("\n")
    return lines[0], int(lines[1]), base64.b64decode(lines[2], validate=True)


def _naive_signed_checkpoint(kit: Kit, data: bytes) -> object:
    """The note split at its blank line, the signature lines taken apart by position."""
    text, _, signatures = data.partition(b"\n\n")
    signed = []
    for line in signatures.decode("ascii").splitlines():
        blob = base64.b64decode(line.split(" ")[2], validate=True)
        signed.append((struct.unpack(">I", blob[:4])[0], blob[4:]))
    return _naive_checkpoint_text(kit, text.decode("utf-8") + "\n"), signed


def _naive_receipt(kit: Kit, data: bytes) -> object:
    """A tlog-proof read by line position: the extra line's entry, the index, the hashes."""
    lines = data.split(b"\n")
    entry = json.loads(base64.b64decode(lines[1].split(b" ")[1], validate=True))
    index = int(lines[2].split(b" ")[1])
    proof = [base64.b64decode(line, validate=True) for line in lines[3 : lines.index(b"")]]
    return naive_object(entry, ENTRY_MEMBERS), index, proof


def _naive_policy(kit: Kit, data: bytes) -> object:
    """Every line split on spaces, keys decoded by position."""
    keys: list[object] = []
    for line in data.decode("utf-8").splitlines():
        words = line.split()
        if words[0] in ("log", "witness"):
            keys.append(base64.b64decode(words[-2 if words[0] == "witness" else 1].split("+")[2]))
        elif words[0] == "group":
            keys.append(int(words[2]))
    return keys


def _naive_tile_path(kit: Kit, text: str) -> object:
    parts = text.split("/")
    width = int(parts[-1]) if ".p" in text else 256
    return parts[1], int(parts[2].replace("x", "").split(".")[0]), width


def _naive_bundle(kit: Kit, data: bytes) -> object:
    entries, at = [], 0
    for _ in range(4):
        (length,) = struct.unpack(">H", data[at : at + 2])
        entries.append(json.loads(data[at + 2 : at + 2 + length]))
        at += 2 + length
    return entries


def _naive_header(envelope: bytes) -> EnvelopeHeader:
    """The v2 header read by fixed offsets, trusting every byte."""
    bureau_end = 4 + BUREAU_FIELD_LENGTH
    return EnvelopeHeader(
        envelope[4:bureau_end].rstrip(b"\x00").decode("ascii"),
        envelope[bureau_end : bureau_end + 32],
        envelope[bureau_end + 32 : bureau_end + 64],
    )


def _naive_open_identity(kit: Kit, envelope: bytes) -> object:
    info = ENVELOPE_IDENTITY_INFO + envelope[:HEADER_LENGTH]
    padded = SUITE.decrypt(
        envelope[HEADER_LENGTH:CASE_OFFSET], kit.identity_key.hpke_key(), info=info
    )
    return _naive_identity(kit, padded[4 : 4 + struct.unpack(">I", padded[:4])[0]])


def _naive_open_case(kit: Kit, envelope: bytes) -> object:
    info = (
        ENVELOPE_CASE_INFO
        + envelope[:HEADER_LENGTH]
        + hashlib.sha256(envelope[HEADER_LENGTH:CASE_OFFSET]).digest()
    )
    padded = SUITE.decrypt(envelope[CASE_OFFSET:], kit.case_key.hpke_key(), info=info)
    return _naive_case(kit, padded[4 : 4 + struct.unpack(">I", padded[:4])[0]])


def _reseal(kit: Kit, identity: bytes, case: bytes) -> bytes:
    """Sections sealed properly for national, whatever they hold: they reach the parsers."""
    return seal_envelope(
        identity, case, kit.identity_key.public_key(), kit.case_key.public_key(), "national"
    )


def _fits_identity(identity: bytes) -> bool:
    return len(identity) <= IDENTITY_SECTION_SIZE - 4


def _identity_inputs(kit: Kit) -> st.SearchStrategy[bytes]:
    """Mutated envelopes, and mutated identity sections sealed properly."""
    resealed = (
        _identity_documents(kit)
        .filter(_fits_identity)
        .map(lambda identity: _reseal(kit, identity, kit.case_document))
    )
    return st.one_of(mutated_bytes([kit.world.envelope]), resealed)


def _case_inputs(kit: Kit) -> st.SearchStrategy[bytes]:
    """Mutated envelopes, and mutated case sections sealed properly."""
    resealed = _case_documents(kit).map(lambda case: _reseal(kit, kit.identity_document, case))
    return st.one_of(mutated_bytes([kit.world.envelope]), resealed)


def _identity_documents(kit: Kit) -> st.SearchStrategy[bytes]:
    metadata = json.loads(kit.identity_document[4:])
    return st.one_of(
        mutated_bytes([kit.identity_document]),
        reshaped([metadata]).map(encode_any).map(lambda meta: kit.identity_document[:4] + meta),
        special_literal([metadata]).map(lambda meta: kit.identity_document[:4] + meta),
    )


def _case_documents(kit: Kit) -> st.SearchStrategy[bytes]:
    document = kit.case_document
    (length,) = struct.unpack(">I", document[4:8])
    metadata = json.loads(document[8 : 8 + length])
    tail = document[8 + length :]
    return st.one_of(
        mutated_bytes([document]),
        reshaped([metadata])
        .map(encode_any)
        .map(lambda meta: document[:4] + struct.pack(">I", len(meta)) + meta + tail),
    )


def _naive_identity(kit: Kit, data: bytes) -> object:
    metadata = json.loads(data[4:])
    return [*naive_object(metadata, ["real_name", "id_number"]), Consent(**metadata["consent"])]


def _naive_case(kit: Kit, data: bytes) -> object:
    (length,) = struct.unpack(">I", data[4:8])
    return naive_object(
        json.loads(data[8 : 8 + length]), ["reply_key", "id_prehash", "created_day"]
    )


def _naive_open_reply(kit: Kit, ciphertext: bytes) -> object:
    info = REPLY_INFO + kit.world.petition_id.encode() + b"\x00national"
    key = kit.world.secret.reply_private_key()
    return SUITE.decrypt(ciphertext[4:], key.hpke_key(), info=info)


def _naive_receipt_code(kit: Kit, code: str) -> object:
    return base64.b32decode(code.replace("-", "")[1:-1] + "======")


def _naive_id_number(kit: Kit, text: str) -> object:
    return date(int(text[6:10]), int(text[10:12]), int(text[12:14]))


def _affordable_keystore(data: bytes) -> bool:
    """Leave out files asking Argon2 for more than 128 MiB-passes: the bound is the defence
    (checked by the parser), and the fuzz budget cannot afford seconds per example."""
    try:
        kdf = json.loads(data)["kdf"]
        cost = kdf["memory_kib"] * max(kdf["time_cost"], 1)
        return not isinstance(cost, int) or cost <= 128 * 1024
    except (ValueError, KeyError, TypeError, RecursionError):
        return True


def _keystore_inputs(kit: Kit) -> st.SearchStrategy[bytes]:
    return json_bytes([kit.keystore], [json.loads(kit.keystore)]).filter(_affordable_keystore)


def _naive_keystore(kit: Kit, data: bytes) -> object:
    document = json.loads(data)
    return naive_object(document, ["nonce", "ciphertext"]) + naive_object(document["kdf"], ["salt"])


def _naive_fingerprint(kit: Kit, text: str) -> object:
    return bytes.fromhex(text.replace(" ", ""))


def _naive_public_key(kit: Kit, raw: bytes) -> object:
    return mlkem.MLKEM768PublicKey.from_public_bytes(raw[:1184])


def _naive_private_key(kit: Kit, raw: bytes) -> object:
    return mlkem.MLKEM768PrivateKey.from_seed_bytes(raw[:64])


@st.composite
def _inclusion_inputs(draw: st.DrawFn, kit: Kit) -> tuple[bytes, int, int, list[bytes], bytes]:
    leaf, index, size, proof, root = pick(draw, kit.inclusions)
    return (
        draw(st.one_of(st.just(leaf), st.binary(max_size=40))),
        draw(hostile_int(index)),
        draw(hostile_int(size)),
        draw(hostile_proof(proof)),
        draw(st.one_of(st.just(root), st.binary(max_size=40))),
    )


def _naive_inclusion(kit: Kit, drawn: tuple[bytes, int, int, list[bytes], bytes]) -> object:
    """RFC 9162 §2.1.3.2 taking hashes off the proof as the loop needs them, unchecked."""
    leaf, index, size, proof, root = drawn
    path = list(proof)
    fn, sn, node = index, size - 1, leaf
    while sn > 0:
        sibling = path.pop(0)
        if fn & 1 or fn == sn:
            node = _node(sibling, node)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            node = _node(node, sibling)
        fn, sn = fn >> 1, sn >> 1
    return node == root


@st.composite
def _consistency_inputs(draw: st.DrawFn, kit: Kit) -> tuple[int, int, bytes, bytes, list[bytes]]:
    first, second, old_root, new_root, proof = pick(draw, kit.consistencies)
    return (
        draw(hostile_int(first)),
        draw(hostile_int(second)),
        draw(st.one_of(st.just(old_root), st.binary(max_size=40))),
        draw(st.one_of(st.just(new_root), st.binary(max_size=40))),
        draw(hostile_proof(proof)),
    )


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _naive_consistency(kit: Kit, drawn: tuple[int, int, bytes, bytes, list[bytes]]) -> object:
    """RFC 9162 §2.1.4.2 as written for uint64 sizes, taking hashes off the proof unchecked.

    Its loops are bounded at 64 levels (the sizes are assumed to be uint64), so that a negative
    size cannot make it spin: the fuzzer looks for exceptions, not hangs.
    """
    first, second, old_root, new_root, proof = drawn
    if first == 0 or first == second:
        return old_root == new_root or first == 0
    path = ([old_root] if first & (first - 1) == 0 else []) + list(proof)
    fn, sn = first - 1, second - 1
    for _ in range(64):
        if not fn & 1:
            break
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path.pop(0)
    for _ in range(64):
        if sn == 0:
            break
        sibling = path.pop(0)
        if fn & 1 or fn == sn:
            fr, sr = _node(sibling, fr), _node(sibling, sr)
            for _ in range(64):
                if fn == 0 or fn & 1:
                    break
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = _node(sr, sibling)
        fn, sn = fn >> 1, sn >> 1
    return fr == old_root and sr == new_root


@st.composite
def _bureau_keystore_inputs(draw: st.DrawFn, kit: Kit) -> dict[str, bytes]:
    """The entries of a bureau keystore (any subset, as role keystores hold), one mutated."""
    bureau = kit.world.bureau
    entries = {
        "identity-key": bureau.identity.to_bytes(),
        "case-key": bureau.case.to_bytes(),
        "signing-key": bureau.signing.to_bytes(),
        "token-key": bureau.token.secret,
        "bundle": cjson.encode(bureau.bundle().to_json()),
    }
    kept = {name: data for name, data in entries.items() if draw(st.integers(0, 4))}
    mutate: bool = draw(st.booleans())
    if kept and mutate:
        name = pick(draw, sorted(kept))
        if name == "bundle":
            bundle = json.loads(kept[name])
            kept[name] = draw(json_bytes([kept[name]], [bundle]))
        else:
            kept[name] = draw(mutated_bytes([kept[name]]))
    if not draw(st.integers(0, 9)):
        kept[draw(st.text(min_size=1, max_size=12))] = draw(st.binary(max_size=40))
    return kept


def _bureau_keystore(kit: Kit, entries: dict[str, bytes]) -> object:
    """``petition bureau`` loading a keystore: which keys it holds, and that they match."""
    path = kit.home.config_path.with_name("fuzzed-bureau.keystore")
    write_keystore_file(path, entries, KEYSTORE_PASSPHRASE, overwrite=True, kdf_params=CHEAP_KDF)
    return load_bureau(path, KEYSTORE_PASSPHRASE)


def _naive_bureau_keystore(kit: Kit, entries: dict[str, bytes]) -> object:
    bundle = json.loads(entries["bundle"])
    return [
        EncryptionPrivateKey(entries["identity-key"]),
        EncryptionPrivateKey(entries["case-key"]),
        SigningKey(entries["signing-key"]),
        TokenKey(entries["token-key"], bundle["bureau_id"]),
        *naive_object(bundle, ["identity_key", "case_key", "signing_key", "token_salt"]),
    ]


def _client_config(kit: Kit, data: bytes) -> object:
    kit.home.config_path.write_bytes(data)
    return kit.home.load_config()


def _client_checkpoints(kit: Kit, data: bytes) -> object:
    kit.home.checkpoints_path(kit.log).write_bytes(data)
    return kit.home.load_checkpoints(kit.log)


SUBMISSION_MEMBERS = {"envelope", "lookup_key_hash"}
CONTENT_TYPES = ["application/json", "application/json; charset=utf-8", "text/plain", ""]


def _submission_inputs(kit: Kit) -> st.SearchStrategy[tuple[str, bytes]]:
    body = {
        "envelope": cjson.b64encode(kit.world.envelope),
        "lookup_key_hash": cjson.b64encode(kit.world.secret.lookup_key_hash()),
    }
    return st.tuples(
        st.sampled_from(CONTENT_TYPES), json_bytes([json.dumps(body).encode()], [body])
    )


def _edge(kit: Kit, target: str, *, method: str = "GET", **kwargs: Any) -> Any:
    """A request context of the HTTP edge, as a request to ``target`` would have."""
    return kit.app.test_request_context(target, method=method, **kwargs)


def _submission(kit: Kit, drawn: tuple[str, bytes]) -> object:
    """What ``POST /v1/petitions`` parses before it touches the database or the writer."""
    content_type, data = drawn
    with _edge(kit, "/v1/petitions", method="POST", data=data, content_type=content_type or None):
        body = json_body(SUBMISSION_MEMBERS)
        bytes_member(body, "lookup_key_hash", length=32)
        return parse_header(bytes_member(body, "envelope", max_length=MAX_ENVELOPE_LENGTH))


def _naive_submission(kit: Kit, drawn: tuple[str, bytes]) -> object:
    content_type, data = drawn
    with _edge(kit, "/v1/petitions", method="POST", data=data, content_type=content_type or None):
        return _naive_header(naive_b64(json.loads(request.get_data())["envelope"]))


def _resigned(kind: SignedKind, key: SigningKey) -> Callable[[Any], dict[str, Any]]:
    """Sign a reshaped body, so it gets past the signature check to the body's own parser."""

    def wrap(body: Any) -> dict[str, Any]:
        try:
            return sign(kind, body, key).to_json()
        except MalformedInput:  # no canonical encoding: it cannot be signed, send it unsigned
            return {"body": body, "kind": kind.value, "signature": "", "signer": ""}

    return wrap


def _reply_request_inputs(kit: Kit) -> st.SearchStrategy[bytes]:
    signing = kit.world.bureau.signing
    resigned = reshaped([kit.reply_signed["body"]]).map(_resigned(SignedKind.REPLY, signing))
    real = {"entry": kit.event_entry, "reply": kit.reply_signed, "envelope": None}
    return st.one_of(
        json_bytes([json.dumps(real).encode()], [real]),
        resigned.map(lambda signed: json.dumps({**real, "reply": signed}).encode()),
        reshaped([kit.event_entry]).map(
            lambda entry: json.dumps({**real, "entry": entry}).encode()
        ),
    )


def _reply_request(kit: Kit, data: bytes) -> object:
    """What ``POST …/events`` parses: the body, the entry, the signed object, the reply in it."""
    target = f"/v1/bureaus/national/petitions/{kit.world.petition_id}/events"
    with _edge(kit, target, method="POST", data=data, content_type="application/json"):
        body = json_body({"entry", "reply", "envelope"})
        entry = LogEntry.from_json(object_member(body, "entry"))
        signed = SignedObject.from_json(object_member(body, "reply"), SignedKind.REPLY)
        return entry, Reply.from_json(signed.verify(kit.world.bureau.signing.public_key()))


def _naive_reply_request(kit: Kit, data: bytes) -> object:
    value = json.loads(data)
    entry = naive_object(value["entry"], ENTRY_MEMBERS)
    return entry, naive_object(value["reply"]["body"], Reply._MEMBERS)


def _query(kit: Kit, text: str) -> object:
    with _edge(kit, INBOX_TARGET, query_string=text):
        return query_int("after", 0, 0, 2**53 - 1), query_int("limit", 100, 1, 500)


def _naive_query(kit: Kit, text: str) -> object:
    with _edge(kit, INBOX_TARGET, query_string=text):
        return int(request.args.get("after", "0")), int(request.args.get("limit", "100"))


def _one_line(text: str) -> str:
    """Header values cannot hold line breaks (the test client refuses them, not the server)."""
    return text.replace("\r", " ").replace("\n", " ")


def _lookup_inputs(kit: Kit) -> st.SearchStrategy[str]:
    valid = cjson.b64encode(kit.world.secret.lookup_key())
    return st.one_of(mutated_text([valid]), st.text(max_size=60)).map(_one_line)


def _lookup_key(kit: Kit, header: str) -> object:
    with _edge(kit, "/v1/lookup", headers={LOOKUP_HEADER: header}):
        return public_routes._lookup_key()


def _naive_lookup_key(kit: Kit, header: str) -> object:
    with _edge(kit, "/v1/lookup", headers={LOOKUP_HEADER: header}):
        return naive_b64(request.headers[LOOKUP_HEADER])


def _authorization_inputs(kit: Kit) -> st.SearchStrategy[str]:
    signing = kit.world.bureau.signing
    valid = sign(SignedKind.BUREAU_REQUEST, kit.request_body, signing).encode()
    scheme = "SealedPetition "
    resigned = reshaped([kit.request_body]).map(_resigned(SignedKind.BUREAU_REQUEST, signing))
    return st.one_of(
        mutated_text([scheme + cjson.b64encode(valid)]).map(_one_line),
        mutated_bytes([valid]).map(lambda wire: scheme + cjson.b64encode(wire)),
        resigned.map(lambda signed: scheme + cjson.b64encode(encode_any(signed))),
    )


def _authenticate(kit: Kit, header: str) -> object:
    with _edge(kit, INBOX_TARGET, headers={"Authorization": header}):
        return authenticate_bureau("national", kit.published, kit.writer, 300, lambda *_: True)


def _naive_authenticate(kit: Kit, header: str) -> object:
    wire = naive_b64(header.partition(" ")[2])
    return naive_object(json.loads(wire)["body"], BureauRequest._MEMBERS)


@dataclass(frozen=True)
class ClientCall:
    """One call of a client, and the real answer whose mutations the hostile server sends."""

    answer: str
    call: Callable[[Kit], object]


CLIENT_CALLS = (
    ClientCall("directory", lambda kit: verify_directory(kit.api.directory(), kit.authority_key)),
    ClientCall(
        "submit",
        lambda kit: kit.api.submit(kit.world.envelope, kit.world.secret.lookup_key_hash()),
    ),
    ClientCall("lookup", lambda kit: kit.api.lookup(kit.world.secret.lookup_key())),
    ClientCall(
        "checkpoint",
        lambda kit: kit.policy.verify_checkpoint(kit.api.checkpoint(), origin=kit.log.name),
    ),
    ClientCall("inclusion", lambda kit: kit.api.inclusion_proof(1, 4)),
    ClientCall("consistency", lambda kit: kit.api.consistency_proof(1, 4)),
    ClientCall("entries", lambda kit: kit.api.entries(0, 4)),
    ClientCall("inbox", lambda kit: kit.api.bureau_inbox(kit.signer, 0, 100)),
    ClientCall("petition", lambda kit: kit.api.bureau_petition(kit.signer, kit.world.petition_id)),
    ClientCall(
        "reply",
        lambda kit: kit.api.bureau_event(
            kit.signer,
            LogEntry.from_json(kit.event_entry),
            json.dumps(kit.reply_signed).encode(),
            None,
        ),
    ),
)
# Mostly success: that is where the answer is parsed; refusals go through the error decoder.
STATUSES = st.sampled_from([200, 200, 200, 200, 200, 201, 400, 404, 409, 429, 500, 503])


def _answer_bodies(raw: bytes) -> st.SearchStrategy[bytes]:
    """Mostly well-formed answers with one hostile value: clients parse JSON with ``json.loads``,
    so a value it accepts (``1e400``, ``NaN``, deep nesting) is what gets past it."""
    value = json.loads(raw)
    return st.one_of(special_literal([value]), json_bytes([raw], [value]))


def _real_answer(kit: Kit, call: ClientCall) -> bytes:
    return kit.world.answers.get(call.answer) or kit.world.static[call.answer]


def _client_inputs(kit: Kit) -> st.SearchStrategy[tuple[ClientCall, int, bytes]]:
    def for_call(call: ClientCall) -> st.SearchStrategy[tuple[ClientCall, int, bytes]]:
        if call.answer in kit.world.static:  # text, not JSON
            bodies = mutated_bytes([kit.world.static[call.answer]])
            return st.tuples(st.just(call), STATUSES, bodies)
        return st.tuples(st.just(call), STATUSES, _answer_bodies(kit.world.answers[call.answer]))

    return st.sampled_from(CLIENT_CALLS).flatmap(for_call)


def _client_answer(kit: Kit, drawn: tuple[ClientCall, int, bytes]) -> object:
    call, status, body = drawn
    kit.answers.answer = (status, {}, body)
    return call.call(kit)


def _naive_client_answer(kit: Kit, drawn: tuple[ClientCall, int, bytes]) -> object:
    call, status, body = drawn
    kit.answers.answer = (status, {}, body)
    with urllib.request.urlopen(kit.answers.url) as answer:  # noqa: S310  (the local server)
        value = json.loads(answer.read())
    return [value[name] for name in json.loads(_real_answer(kit, call))]


@dataclass(frozen=True)
class Parser:
    """A function that turns untrusted input into a project object, and its naive twin."""

    name: str
    strict: Callable[[Kit, Any], object]
    naive: Callable[[Kit, Any], object]
    inputs: Callable[[Kit], st.SearchStrategy[Any]]
    examples: int = 120


PARSERS = (
    Parser(
        "cjson.decode",
        lambda kit, data: cjson.decode(data),
        lambda kit, data: json.loads(data),
        lambda kit: json_bytes(
            [kit.leaves[0], kit.key_file, kit.world.answers["lookup"]],
            [json.loads(kit.leaves[0]), kit.directory_body],
        ),
        200,
    ),
    Parser(
        "cjson.b64decode",
        lambda kit, text: cjson.b64decode(text, field="value", length=32),
        lambda kit, text: naive_b64(text),
        lambda kit: st.one_of(mutated_text([cjson.b64encode(kit.leaves[0][:32])]), JSON_VALUES),
    ),
    Parser(
        "checkpoint.open_checkpoint",
        lambda kit, data: open_checkpoint(data, [kit.log]),
        _naive_signed_checkpoint,
        lambda kit: st.one_of(mutated_bytes([kit.checkpoint_wire]), st.binary(max_size=200)),
        200,
    ),
    Parser(
        "checkpoint.Checkpoint.from_text",
        lambda kit, text: Checkpoint.from_text(text),
        _naive_checkpoint_text,
        lambda kit: mutated_text([kit.checkpoint_wire.split(b"\n\n")[0].decode() + "\n"]),
        200,
    ),
    Parser(
        "log_receipt.verify_receipt",
        lambda kit, data: verify_receipt(data, kit.policy, origin=kit.log.name),
        _naive_receipt,
        lambda kit: mutated_bytes(kit.receipts),
        200,
    ),
    Parser(
        "tlog_policy.Policy.parse",
        lambda kit, data: Policy.parse(data),
        _naive_policy,
        lambda kit: mutated_bytes(
            [kit.policy.to_text(), b"log " + kit.log.to_vkey().encode() + b"\nquorum none\n"]
        ),
    ),
    Parser(
        "tiles.parse_path",
        lambda kit, text: parse_path(text),
        _naive_tile_path,
        lambda kit: mutated_text(
            ["tile/0/000.p/4", "tile/entries/000.p/4", "tile/1/x001/x234/067", "tile/2/005"]
        ),
    ),
    Parser(
        "tiles.decode_bundle",
        lambda kit, data: decode_bundle(data, 4),
        _naive_bundle,
        lambda kit: mutated_bytes([kit.world.static["tile/entries/000.p/4"]]),
    ),
    Parser(
        "session.verify_directory",
        lambda kit, data: verify_directory(data, kit.authority_key),
        lambda kit, data: naive_object(json.loads(data)["body"], ["log_vkey", "serial"]),
        lambda kit: json_bytes(
            [kit.world.answers["directory"]], [json.loads(kit.world.answers["directory"])]
        ),
        70,
    ),
    Parser(
        "objects.Directory.from_json",
        lambda kit, value: Directory.from_json(value),
        lambda kit, value: [
            naive_object(bundle, BureauBundle._MEMBERS) for bundle in value["bureaus"]
        ],
        lambda kit: reshaped([kit.directory_body]),
        200,
    ),
    Parser(
        "objects.BureauBundle.from_json",
        lambda kit, value: BureauBundle.from_json(value),
        lambda kit, value: naive_object(value, BureauBundle._MEMBERS),
        lambda kit: reshaped(kit.directory_body["bureaus"]),
        200,
    ),
    Parser(
        "objects.LogEntry.from_leaf",
        lambda kit, leaf: LogEntry.from_leaf(leaf),
        lambda kit, leaf: naive_object(json.loads(leaf), ENTRY_MEMBERS),
        lambda kit: json_bytes(kit.leaves, [json.loads(leaf) for leaf in kit.leaves]),
        200,
    ),
    Parser(
        "objects.Reply.from_json",
        lambda kit, value: Reply.from_json(value),
        lambda kit, value: naive_object(value, Reply._MEMBERS),
        lambda kit: reshaped([kit.reply_signed["body"]]),
    ),
    Parser(
        "objects.BureauRequest.from_json",
        lambda kit, value: BureauRequest.from_json(value),
        lambda kit, value: naive_object(value, BureauRequest._MEMBERS),
        lambda kit: reshaped([kit.request_body]),
        200,
    ),
    Parser(
        "token.TokenParams.from_json",
        lambda kit, value: TokenParams.from_json(value),
        lambda kit, value: TokenParams(**value),
        lambda kit: reshaped([kit.directory_body["bureaus"][0]["token_params"]]),
    ),
    Parser(
        "signing.SignedObject.from_json(reply)",
        lambda kit, value: SignedObject.from_json(value, SignedKind.REPLY),
        lambda kit, value: naive_object(value, ["body", "kind", "signature", "signer"]),
        lambda kit: reshaped([kit.reply_signed]),
    ),
    Parser(
        "envelope.parse_header",
        lambda kit, data: parse_header(data),
        lambda kit, data: _naive_header(data),
        lambda kit: st.one_of(
            mutated_bytes([kit.world.envelope, kit.world.envelope[:HEADER_LENGTH]]),
            st.binary(max_size=200),
        ),
        200,
    ),
    Parser(
        "envelope.open_identity",
        lambda kit, data: open_identity_section(data, kit.identity_key, "national"),
        _naive_open_identity,
        lambda kit: mutated_bytes([kit.world.envelope]),
        100,
    ),
    Parser(
        "envelope.open_case",
        lambda kit, data: open_case_section(data, kit.case_key, "national"),
        _naive_open_case,
        lambda kit: mutated_bytes([kit.world.envelope]),
        100,
    ),
    Parser(
        "petition.open_identity",
        lambda kit, data: open_identity(data, kit.identity_key, "national"),
        _naive_open_identity,
        _identity_inputs,
        100,
    ),
    Parser(
        "petition.open_case",
        lambda kit, data: open_case(data, kit.case_key, "national"),
        _naive_open_case,
        _case_inputs,
        100,
    ),
    Parser(
        "document.IdentityDocument.decode",
        lambda kit, data: IdentityDocument.decode(data),
        _naive_identity,
        _identity_documents,
        200,
    ),
    Parser(
        "document.CaseDocument.decode",
        lambda kit, data: CaseDocument.decode(data),
        _naive_case,
        _case_documents,
        200,
    ),
    Parser(
        "document.Consent.from_json",
        lambda kit, value: Consent.from_json(value),
        lambda kit, value: Consent(**value),
        lambda kit: reshaped([json.loads(kit.identity_document[4:])["consent"]]),
    ),
    Parser(
        "padding.unpad_from(identity)",
        lambda kit, data: unpad_from(data, IDENTITY_SECTION_SIZE),
        lambda kit, data: data[4 : 4 + struct.unpack(">I", data[:4])[0]].decode("ascii"),
        lambda kit: st.one_of(
            mutated_bytes([pad_to(kit.identity_document, IDENTITY_SECTION_SIZE)]),
            st.binary(max_size=8),
        ),
        100,
    ),
    Parser(
        "bureau.load_bureau (role keystores)",
        _bureau_keystore,
        _naive_bureau_keystore,
        _bureau_keystore_inputs,
        70,
    ),
    Parser(
        "padding.unpad",
        lambda kit, data: unpad(data),
        lambda kit, data: data[4 : 4 + struct.unpack(">I", data[:4])[0]],
        lambda kit: st.one_of(mutated_bytes([pad(b"petition")]), st.binary(max_size=8)),
    ),
    Parser(
        "reply.open_reply",
        lambda kit, data: open_reply(
            data, kit.world.secret.reply_private_key(), kit.world.petition_id, "national"
        ),
        _naive_open_reply,
        lambda kit: mutated_bytes([kit.reply_ciphertext]),
        100,
    ),
    Parser(
        "receipt.ReceiptSecret.from_code",
        lambda kit, code: ReceiptSecret.from_code(code),
        _naive_receipt_code,
        lambda kit: st.one_of(mutated_text([kit.world.secret.code]), st.text(max_size=40)),
        200,
    ),
    Parser(
        "idnumber.normalize_id",
        lambda kit, text: normalize_id("cn-resident", text),
        _naive_id_number,
        lambda kit: st.one_of(mutated_text(ID_NUMBERS), st.text(max_size=24)),
        200,
    ),
    Parser(
        "keystore.open_keystore",
        lambda kit, data: open_keystore(data, KEYSTORE_PASSPHRASE),
        _naive_keystore,
        _keystore_inputs,
        70,
    ),
    Parser(
        "keyfile.decode_key_file",
        lambda kit, data: decode_key_file(data, KeyPurpose.LOG_SIGNING),
        lambda kit, data: naive_b64(json.loads(data)["key"]),
        lambda kit: json_bytes([kit.key_file], [json.loads(kit.key_file)]),
    ),
    Parser(
        "keys.parse_fingerprint",
        lambda kit, text: parse_fingerprint(text),
        _naive_fingerprint,
        lambda kit: st.one_of(
            mutated_text([format_fingerprint(kit.log_key.fingerprint)]), st.text(max_size=80)
        ),
    ),
    Parser(
        "keys.EncryptionPublicKey",
        lambda kit, raw: EncryptionPublicKey(raw),
        _naive_public_key,
        lambda kit: mutated_bytes(kit.public_keys),
        100,
    ),
    Parser(
        "keys.VerifyKey",
        lambda kit, raw: VerifyKey(raw),
        lambda kit, raw: ed25519.Ed25519PublicKey.from_public_bytes(raw),
        lambda kit: mutated_bytes(kit.verify_keys),
    ),
    Parser(
        "keys.EncryptionPrivateKey",
        lambda kit, raw: EncryptionPrivateKey(raw),
        _naive_private_key,
        lambda kit: mutated_bytes([kit.identity_key.to_bytes(), kit.case_key.to_bytes()]),
        70,
    ),
    Parser(
        "merkle.verify_inclusion",
        lambda kit, drawn: merkle.verify_inclusion(*drawn),
        _naive_inclusion,
        _inclusion_inputs,
        200,
    ),
    Parser(
        "merkle.verify_consistency",
        lambda kit, drawn: merkle.verify_consistency(*drawn),
        _naive_consistency,
        _consistency_inputs,
        200,
    ),
    Parser(
        "home.ClientHome.load_config",
        _client_config,
        lambda kit, data: naive_object(json.loads(data), ["authority_key", "server"]),
        lambda kit: json_bytes([kit.client_config], [json.loads(kit.client_config)]),
    ),
    Parser(
        "home.ClientHome.load_checkpoints",
        _client_checkpoints,
        lambda kit, data: [item.encode() for item in json.loads(data)["checkpoints"]],
        lambda kit: json_bytes([kit.checkpoints_file], [json.loads(kit.checkpoints_file)]),
    ),
    Parser("server: POST /v1/petitions body", _submission, _naive_submission, _submission_inputs),
    Parser(
        "server: POST events body",
        _reply_request,
        _naive_reply_request,
        _reply_request_inputs,
    ),
    Parser(
        "server: http_edge.query_int",
        _query,
        _naive_query,
        lambda kit: st.one_of(
            mutated_text(["after=3&limit=100", "limit=1&after=9007199254740991"]), st.text()
        ),
    ),
    Parser("server: lookup key header", _lookup_key, _naive_lookup_key, _lookup_inputs),
    Parser(
        "server: auth.authenticate_bureau",
        _authenticate,
        _naive_authenticate,
        _authorization_inputs,
        100,
    ),
    Parser(
        "client: api.ServerApi answers", _client_answer, _naive_client_answer, _client_inputs, 200
    ),
)


@pytest.mark.threat("T-DOS-3")
@pytest.mark.parametrize("parser", PARSERS, ids=[parser.name for parser in PARSERS])
def test_every_parser_turns_hostile_input_into_a_project_error(
    defence: Defence, parser: Parser, kit: Kit
) -> None:
    """Each parser returns or raises a project error on mutated and reshaped input.

    With the defence off, the same input goes to a naive parser of the same format
    (``json.loads`` and indexing, plain base64, slicing without checks), which must crash.
    """
    parse = parser.strict if defence.on else parser.naive
    tried, crash = fuzz_parser(
        parser.name, lambda value: parse(kit, value), parser.inputs(kit), parser.examples
    )
    if defence.on:
        assert crash is None, str(crash)
        assert tried >= parser.examples // 2, f"only {tried} inputs were generated"
    defence.judge(crash is not None, f"crash {parser.name} with malformed input")
