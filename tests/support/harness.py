"""Test harness: a real server (``petition serve`` under gunicorn on a free local port).

The server gets a fresh data directory, an authority created by ``petition admin init`` and two
bureaus published by ``petition admin add-bureau``, exactly as an operator would do it. Tests
talk to it over HTTP only. Importable from every test (``pythonpath`` in pyproject.toml).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from crypto import cjson
from crypto.case_event import Detail, LogEntry, sign_entry
from crypto.checkpoint import Checkpoint, open_checkpoint
from crypto.document import CaseDocument, Consent, IdentityDocument
from crypto.fields import envelope_hash, petition_id_for, signed_reply_hash
from crypto.idnumber import normalize_id
from crypto.keys import EncryptionPrivateKey, SigningKey, VerifyKey, format_fingerprint
from crypto.labels import SignedKind
from crypto.log_receipt import VerifiedReceipt, verify_receipt, verify_submission_receipt
from crypto.objects import BureauBundle, BureauRequest, Directory, Reply
from crypto.petition import seal_petition
from crypto.receipt import ReceiptSecret
from crypto.reply import seal_reply
from crypto.signing import SignedObject, sign
from crypto.statutory import Event
from crypto.token import TokenKey, TokenParams, generate_token_salt, prehash

PETITION = [sys.executable, "-m", "petition.cli"]
# The cheapest parameters the protocol allows: these tests are about the server, not Argon2.
FAST_TOKEN_PARAMS = TokenParams(memory_kib=8192, time_cost=1, parallelism=1)
PASSPHRASE = "correct horse battery staple"  # noqa: S105  (a test keystore)
ID_NUMBERS = ["11010519491231002X", "440524198001010013", "110101199003071751"]


@dataclass
class Bureau:
    bureau_id: str
    name: str
    identity: EncryptionPrivateKey = field(default_factory=EncryptionPrivateKey.generate)
    case: EncryptionPrivateKey = field(default_factory=EncryptionPrivateKey.generate)
    signing: SigningKey = field(default_factory=SigningKey.generate)
    salt: bytes = field(default_factory=generate_token_salt)
    token_key: TokenKey | None = None

    def __post_init__(self) -> None:
        self.token_key = TokenKey.generate(self.bureau_id)

    @property
    def token(self) -> TokenKey:
        assert self.token_key is not None
        return self.token_key

    def bundle(self) -> BureauBundle:
        return BureauBundle(
            bureau_id=self.bureau_id,
            name=self.name,
            identity_key=self.identity.public_key(),
            case_key=self.case.public_key(),
            signing_key=self.signing.public_key(),
            token_salt=self.salt,
            token_params=FAST_TOKEN_PARAMS,
        )

    def prehash_for(self, id_number: str) -> bytes:
        """What the petitioner's device seals in the case section (public salt: no secret)."""
        return prehash(normalize_id("cn-resident", id_number), self.salt, FAST_TOKEN_PARAMS)

    def token_for(self, id_number: str) -> bytes:
        """The pseudonym the bureau derives at intake (needs the bureau's token key)."""
        return self.token.token_for(self.prehash_for(id_number))


@dataclass
class Submission:
    """A sealed petition ready to send, with the secrets a petitioner would keep.

    ``token`` is what the bureau will derive at intake; it is never sent (protocol v2).
    """

    bureau: Bureau
    envelope: bytes
    token: bytes
    secret: ReceiptSecret

    def body(self) -> dict[str, Any]:
        return {
            "envelope": cjson.b64encode(self.envelope),
            "lookup_key_hash": cjson.b64encode(self.secret.lookup_key_hash()),
        }

    @property
    def petition_id(self) -> str:
        return petition_id_for(self.envelope)


def utc_today() -> date:
    """The server's day (UTC): what a case event must be dated."""
    return datetime.now(UTC).date()


def case_event(
    submission: Submission,
    bureau: Bureau,
    event: Event,
    *,
    detail: Detail | None = None,
    message: str | None = None,
    sequence: int = 0,
    day: date | None = None,
    envelope: bytes | None = None,
    signer: SigningKey | None = None,
) -> dict[str, Any]:
    """The body of ``POST .../events``: the entry signed by ``bureau`` (or ``signer``), with a
    signed reply carrying ``message`` to the petitioner, and a re-sealed ``envelope``."""
    petition_id = submission.petition_id
    day = day or utc_today()
    key = signer or bureau.signing
    wire: bytes | None = None
    if message is not None:
        reply_key = submission.secret.reply_private_key().public_key()
        ciphertext = seal_reply(message, reply_key, petition_id, bureau.bureau_id)
        reply = Reply(petition_id, bureau.bureau_id, event, sequence, ciphertext, day)
        wire = sign(SignedKind.REPLY, reply.to_json(), key).encode()
    entry = LogEntry(
        petition_id,
        bureau.bureau_id,
        envelope_hash(submission.envelope),
        event,
        day,
        detail or Detail(),
        None if wire is None else signed_reply_hash(wire),
    )
    return {
        "entry": sign_entry(entry, key).to_json(),
        "reply": None if wire is None else json.loads(wire),
        "envelope": None if envelope is None else cjson.b64encode(envelope),
    }


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)

    @property
    def error_code(self) -> str:
        value: str = self.json["error"]["code"]
        return value


class Client:
    """Plain HTTP over urllib: no session, no cookies, nothing the server could lean on."""

    def __init__(self, base: str) -> None:
        self.base = base

    def request(
        self,
        method: str,
        target: str,
        *,
        body: Any = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        content_type: str | None = "application/json",
    ) -> Answer:
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        all_headers = dict(headers or {})
        if data is not None and content_type is not None:
            all_headers.setdefault("Content-Type", content_type)
        request = urllib.request.Request(  # noqa: S310  (a local test server)
            self.base + target, data=data, method=method, headers=all_headers
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                return Answer(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as error:
            return Answer(error.code, dict(error.headers), error.read())
        except http.client.IncompleteRead as cut:
            # A server killed inside the body is a connection that died, like one killed before
            # the status line (RemoteDisconnected, an OSError): callers under fault injection
            # catch OSError for both.
            raise ConnectionResetError("the answer's body was cut short") from cut

    def get(self, target: str, **kwargs: Any) -> Answer:
        return self.request("GET", target, **kwargs)

    def post(self, target: str, body: Any = None, **kwargs: Any) -> Answer:
        return self.request("POST", target, body=body, **kwargs)

    def signed(
        self,
        bureau: Bureau,
        method: str,
        target: str,
        body: Any = None,
        *,
        signer: SigningKey | None = None,
        claimed_bureau: str | None = None,
        timestamp: int | None = None,
        nonce: bytes | None = None,
    ) -> tuple[Answer, str]:
        """A bureau request; returns the answer and the Authorization header (for replays)."""
        data = b"" if body is None else json.dumps(body).encode()
        claim = BureauRequest(
            bureau_id=claimed_bureau or bureau.bureau_id,
            method=method,
            target=target,
            body_sha256=hashlib.sha256(data).digest(),
            timestamp=int(time.time()) if timestamp is None else timestamp,
            nonce=nonce or secrets.token_bytes(16),
        )
        wire = sign(SignedKind.BUREAU_REQUEST, claim.to_json(), signer or bureau.signing).encode()
        authorization = f"SealedPetition {cjson.b64encode(wire)}"
        answer = self.request(
            method,
            target,
            raw=data if body is not None else None,
            headers={"Authorization": authorization},
        )
        return answer, authorization


@dataclass
class RunningServer:
    client: Client
    data_dir: Path
    bureaus: dict[str, Bureau]
    authority_fingerprint: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def seal(
        self,
        bureau_id: str,
        *,
        id_number: str = ID_NUMBERS[0],
        body: str = "",
        respondent: str = "",
        share_identity: bool = False,
        secret: ReceiptSecret | None = None,
    ) -> Submission:
        """A petition sealed for ``bureau_id``; with ``secret``, under an existing receipt code
        (a review request: the same reply key, so the answer reaches the same code)."""
        bureau = self.bureaus[bureau_id]
        secret = secret or ReceiptSecret.generate()
        identity = IdentityDocument(
            real_name="张三",
            id_scheme="cn-resident",
            id_number=id_number,
            contact="13800000000",
            consent=Consent(share_identity_on_transfer=share_identity),
        )
        case = CaseDocument(
            subject="道路维修",
            body=body or f"请修路。{secrets.token_hex(8)}",
            category="infrastructure",
            region="440300",
            respondent=respondent,
            reply_key=secret.reply_private_key().public_key(),
            id_prehash=bureau.prehash_for(id_number),
            created_day=date.today(),
        )
        envelope = seal_petition(identity, case, bureau.bundle().sealing_keys())
        return Submission(bureau, envelope, bureau.token_for(id_number), secret)

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def post_event(
        self, submission: Submission, bureau_id: str, event: Event, **kwargs: Any
    ) -> Answer:
        """A bureau's case event for ``submission``, posted as a signed request."""
        bureau = self.bureaus[bureau_id]
        body = case_event(submission, bureau, event, **kwargs)
        target = f"/v1/bureaus/{bureau_id}/petitions/{submission.petition_id}/events"
        answer, _ = self.client.signed(bureau, "POST", target, body)
        return answer

    def post_review(self, submission: Submission, request: Submission) -> Answer:
        """``POST /v1/petitions/{id}/review`` for ``submission`` with the lookup key of its
        receipt code and ``request``'s envelope (sealed to the next level)."""
        return self.client.post(
            f"/v1/petitions/{submission.petition_id}/review",
            {"envelope": cjson.b64encode(request.envelope)},
            headers={"Petition-Lookup-Key": cjson.b64encode(submission.secret.lookup_key())},
        )

    def directory(self) -> Directory:
        """The served directory, checked against the authority pinned at ``admin init``."""
        return verified_directory(self.client, self.authority_fingerprint)

    def checkpoint(self) -> Checkpoint:
        """``/log/checkpoint``, verified with the log key the directory names."""
        return log_checkpoint(self.client, self.directory())

    def receipt(self, text: str) -> VerifiedReceipt:
        """A receipt (tlog-proof text) verified with the directory's policy, as clients do."""
        return open_receipt(text, self.directory())


def verified_directory(client: Client, fingerprint: str | None = None) -> Directory:
    """``/v1/directory``, verified with the key at ``/v1/authority`` (pinned by fingerprint)."""
    answer = client.get("/v1/directory")
    assert answer.status == 200, answer.raw
    signed = SignedObject.decode(answer.raw, SignedKind.DIRECTORY)
    if fingerprint is not None:
        assert format_fingerprint(signed.signer) == fingerprint
    authority = client.get("/v1/authority").json
    key = VerifyKey(cjson.b64decode(authority["public_key"], length=32))
    assert key.fingerprint == signed.signer
    return Directory.from_json(signed.verify(key))


def log_checkpoint(client: Client, directory: Directory) -> Checkpoint:
    """The published checkpoint, its signature checked with the directory's log key."""
    answer = client.get("/log/checkpoint")
    assert answer.status == 200, answer.raw
    checkpoint, _ = open_checkpoint(answer.raw, [directory.log_vkey])
    assert checkpoint.origin == directory.log_origin
    return checkpoint


def settled_checkpoint(server: RunningServer) -> tuple[bytes, Checkpoint]:
    """The checkpoint the writer published last, as served, verified with the directory's key.

    Every 2xx waits for its batch's checkpoint to be published, so this one covers every entry
    acknowledged so far; that the server serves exactly the file on disk is asserted.
    """
    on_disk = (server.data_dir / "public" / "log" / "checkpoint").read_bytes()
    answer = server.client.get("/log/checkpoint")
    assert answer.status == 200, answer.raw
    assert answer.raw == on_disk
    directory = server.directory()
    checkpoint, _ = open_checkpoint(answer.raw, [directory.log_vkey])
    return answer.raw, checkpoint


def checkpoint_size(client: Client) -> int:
    """The published checkpoint's size, read without verifying it (for polling)."""
    answer = client.get("/log/checkpoint")
    assert answer.status == 200, answer.raw
    return int(answer.raw.split(b"\n")[1])


def open_receipt(text: str, directory: Directory) -> VerifiedReceipt:
    """A receipt checked exactly as the clients check one: the directory's policy and origin."""
    return verify_receipt(text.encode("utf-8"), directory.policy(), origin=directory.log_origin)


def open_submission_receipt(
    text: str,
    directory: Directory,
    *,
    petition_id: str | None = None,
    envelope: bytes | None = None,
) -> VerifiedReceipt:
    """The receipt of one submission, checked as the petitioner's client checks it."""
    return verify_submission_receipt(
        text.encode("utf-8"),
        directory.policy(),
        origin=directory.log_origin,
        petition_id=petition_id,
        envelope=envelope,
    )


def exchange(sock: socket.socket, data: bytes) -> tuple[str, dict[str, str], bytes]:
    """One raw request on a kept-alive connection: the status line, headers (lower-case names)
    and body of its answer. For tests that must control the bytes and keep the connection."""
    sock.sendall(data)
    reader = sock.makefile("rb")
    status_line = reader.readline().decode("ascii").rstrip("\r\n")
    headers: dict[str, str] = {}
    while (line := reader.readline().rstrip(b"\r\n")) != b"":
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = reader.read(int(headers["content-length"]))
    reader.close()
    return status_line, headers, body


def submission_request(submission: Submission) -> bytes:
    """``POST /v1/petitions`` for ``submission`` as raw bytes, with plain headers."""
    body = json.dumps(submission.body()).encode()
    return (
        "POST /v1/petitions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def server_port(server: RunningServer) -> int:
    return int(server.client.base.rsplit(":", 1)[1])


def writer_of(master: int) -> int:
    """The pid of the writer process that ``petition serve`` (pid ``master``) started."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
            if parent == master and b"server.writer" in command:
                return int(entry.name)
    raise AssertionError("no writer process found")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def run_petition(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [*PETITION, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


#: A bureau to publish: id, name, the bureau one level up (``None`` at the top), what it covers.
BureauPlace = tuple[str, str, str | None, str]
#: The default deployment: two bureaus, no hierarchy stated.
DEFAULT_BUREAUS: tuple[BureauPlace, ...] = (
    ("national", "国家信访局", None, ""),
    ("guangdong", "广东省信访局", None, ""),
)
#: Three levels (issue 17's review by the next level): national, a province, a county in it.
THREE_LEVELS: tuple[BureauPlace, ...] = (
    ("national", "国家信访局", None, "全国"),
    ("guangdong", "广东省信访局", "national", "广东省"),
    ("shenzhen-futian", "深圳市福田区信访局", "guangdong", "深圳市福田区"),
)


def start_server(
    tmp: Path,
    *,
    extra: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    bureaus: tuple[BureauPlace, ...] = DEFAULT_BUREAUS,
) -> RunningServer:
    """A server with ``bureaus`` published in order (a parent before its children)."""
    data = tmp / "data"
    passphrase = tmp / "passphrase"
    passphrase.write_text(PASSPHRASE + "\n")
    init = run_petition(
        "admin", "init", "--data", str(data), "--passphrase-file", str(passphrase), env=env
    )
    assert init.returncode == 0, init.stderr
    fingerprint = init.stdout.splitlines()[2].strip()
    published: dict[str, Bureau] = {}
    for bureau_id, name, parent, covers in bureaus:
        bureau = published[bureau_id] = Bureau(bureau_id, name)
        bundle_path = tmp / f"{bureau.bureau_id}.bundle.json"
        bundle_path.write_bytes(cjson.encode(bureau.bundle().to_json()))
        place: tuple[str, ...] = ("--parent", parent) if parent is not None else ()
        place += ("--covers", covers) if covers else ()
        added = run_petition(
            "admin", "add-bureau", "--data", str(data), "--passphrase-file", str(passphrase),
            *place, str(bundle_path),
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
    process, client, log_path = launch(data, tmp / "server.log", extra=extra, env=env)
    return RunningServer(client, data, published, fingerprint, process, log_path)


def launch(
    data: Path,
    log_path: Path,
    *,
    extra: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    command: tuple[str, ...] = (*PETITION, "serve"),
) -> tuple[subprocess.Popen[bytes], Client, Path]:
    """Run ``petition serve`` on ``data`` (in its own session, so it can be killed whole).

    ``command`` replaces ``petition serve`` with another server taking the same ``--data``,
    ``--port`` and ``--workers`` (the benchmark's granian variant).
    """
    port = free_port()
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(  # noqa: S603
            [*command, "--data", str(data), "--port", str(port), "--workers", "2", *extra],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )  # fmt: skip
    client = Client(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise AssertionError(f"the server exited: {log_path.read_text()}")
        try:
            if client.get("/healthz").status == 200:
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("the server did not start within 60 s")
        time.sleep(0.1)
    return process, client, log_path


def stop_server(server: RunningServer) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            kill_server(server)


def kill_server(server: RunningServer) -> None:
    """SIGKILL to every process of the server at once: master, workers and writer."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait()
