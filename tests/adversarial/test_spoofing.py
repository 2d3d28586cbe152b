"""Spoofing (STRIDE): forged directories, relabelled signatures, forged bureau requests and
hijacked envelopes, each tried against a real deployment. (Filing under somebody else's
pseudonym, T-SPOOF-3, is attacked in ``test_sections.py``.)

The deployment is made through the real CLI (tests/support/deployment.py). The client commands
are run through ``petition.cli.main``, the entry point of the ``petition`` console script, in
this process: the same code as the installed program, at a fraction of a subprocess's start-up
cost. Where the defence lives in the server, the ``defence-off`` run uses the server's own
application factory and writer, in this process, on a temporary data directory (real
SQLCipher), with the defence removed.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from adversary import Defence, Petition
from deployment import BUREAU_ID, Deployment, deploy
from flask.testing import FlaskClient
from harness import ID_NUMBERS, PASSPHRASE, Bureau, run_petition

from client.api import BureauSigner
from client.bureau import BureauKeys, load_bureau
from client.home import ClientHome
from crypto import cjson
from crypto.case_event import LogEntry, sign_entry
from crypto.document import CaseDocument, IdentityDocument
from crypto.errors import InvalidSignature, SealedPetitionError
from crypto.fields import envelope_hash, signed_reply_hash
from crypto.idnumber import normalize_id
from crypto.keys import EncryptionPrivateKey, SigningKey, VerifyKey, format_fingerprint
from crypto.labels import SignedKind
from crypto.objects import BureauBundle, BureauRequest, Directory, Reply
from crypto.petition import open_case, open_identity, seal_petition
from crypto.receipt import ReceiptSecret
from crypto.reply import seal_reply
from crypto.signing import SignedObject, sign, signing_message
from crypto.statutory import Event
from crypto.token import prehash
from server import submission
from server.app import create_app
from server.config import ServerConfig
from server.datadir import DataDirectory
from server.services import EXTENSION_NAME
from server.writer import NonceRegistry, Writer

ID_NUMBER = ID_NUMBERS[2]  # the petitioner's own


# --- running the real CLI ----------------------------------------------------------------------


# --- the deployment and what an attacker can see of it -----------------------------------------


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    running = deploy(tmp_path_factory.mktemp("spoofing"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def bureau_keys(deployment: Deployment) -> BureauKeys:
    return load_bureau(deployment.keystore, PASSPHRASE)


def genuine_directory(deployment: Deployment) -> Directory:
    """The served directory, verified with the authority key whose fingerprint was pinned."""
    served = deployment.client.get("/v1/authority").json
    authority = VerifyKey(cjson.b64decode(served["public_key"], length=32))
    assert format_fingerprint(authority.fingerprint) == deployment.fingerprint
    wire = deployment.client.get("/v1/directory").raw
    return Directory.from_json(SignedObject.decode(wire, SignedKind.DIRECTORY).verify(authority))


def sealed(
    bundle: BureauBundle, *, id_number: str, secret: ReceiptSecret, subject: str = "道路维修"
) -> bytes:
    """A petition sealed as the device seals it for ``bundle`` (protocol v2: two sections, the
    Argon2id pre-hash of the ID in the case, nothing per-person in the clear)."""
    identity = IdentityDocument(
        real_name="李四", id_scheme="cn-resident", id_number=id_number, contact="13900000000"
    )
    pre = prehash(normalize_id("cn-resident", id_number), bundle.token_salt, bundle.token_params)
    case = CaseDocument(
        subject=subject,
        body=f"请尽快修路。{secrets.token_hex(6)}",
        category="infrastructure",
        region="440300",
        respondent="",
        reply_key=secret.reply_private_key().public_key(),
        id_prehash=pre,
        created_day=date.today(),
    )
    return seal_petition(identity, case, bundle.sealing_keys())


def submission_body(envelope: bytes, lookup_key_hash: bytes) -> dict[str, str]:
    """``POST /v1/petitions`` as the client sends it: the bureau is named inside the envelope."""
    return {
        "envelope": cjson.b64encode(envelope),
        "lookup_key_hash": cjson.b64encode(lookup_key_hash),
    }


def submit_args(home: Path, body_file: Path) -> tuple[str, ...]:
    return (
        "submit", "--bureau", BUREAU_ID, "--name", "李四", "--id-number", ID_NUMBER,
        "--contact", "13900000000", "--subject", "测试", "--category", "其他", "--region", "上海",
        "--body-file", str(body_file), "--no-qr", "--retries", "1", "--home", str(home),
    )  # fmt: skip


# --- a man in the middle --------------------------------------------------------------------------

_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "host"})


class _FrontServer(ThreadingHTTPServer):
    daemon_threads = True
    front: MitmFront


class _FrontHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _FrontServer

    def do_GET(self) -> None:
        self.server.front.handle(self)

    def do_POST(self) -> None:
        self.server.front.handle(self)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


class MitmFront:
    """An attacker on the path to the server (a hostile Wi-Fi, a compromised proxy).

    It forwards everything to the real server, except what it has been told to substitute: the
    directory and the authority key. It records every request and keeps every submitted body,
    which is what such an attacker wants.
    """

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        assert parts.hostname is not None
        assert parts.port is not None
        self._upstream = (parts.hostname, parts.port)
        self.directory: bytes | None = None
        self.authority: bytes | None = None
        self.requests: list[tuple[str, str]] = []
        self.submissions: list[bytes] = []
        self._lock = threading.Lock()
        self._server = _FrontServer(("127.0.0.1", 0), _FrontHandler)
        self._server.front = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> MitmFront:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)
        self._server.server_close()

    def handle(self, handler: _FrontHandler) -> None:
        handler.close_connection = True
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        path = urlsplit(handler.path).path
        with self._lock:
            self.requests.append((handler.command, path))
            if handler.command == "POST" and path == "/v1/petitions":
                self.submissions.append(body)
        if handler.command == "GET" and path == "/v1/directory" and self.directory is not None:
            self._answer(handler, 200, self.directory)
        elif handler.command == "GET" and path == "/v1/authority" and self.authority is not None:
            self._answer(handler, 200, self.authority)
        else:
            self._forward(handler, body)

    def _forward(self, handler: _FrontHandler, body: bytes) -> None:
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP_BY_HOP}
        connection = http.client.HTTPConnection(*self._upstream, timeout=60)
        try:
            connection.request(handler.command, handler.path, body=body or None, headers=headers)
            response = connection.getresponse()
            kind = response.getheader("Content-Type") or "application/json"
            self._answer(handler, response.status, response.read(), kind)
        finally:
            connection.close()

    @staticmethod
    def _answer(
        handler: _FrontHandler, status: int, body: bytes, kind: str = "application/json"
    ) -> None:
        handler.send_response_only(status)
        handler.send_header("Content-Type", kind)  # the static log is text and binary
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(body)


@dataclass(frozen=True)
class Forger:
    """What the attacker holds: its own authority key and its own keys for a bureau."""

    authority: SigningKey
    identity: EncryptionPrivateKey
    case: EncryptionPrivateKey
    signing: SigningKey

    @classmethod
    def generate(cls) -> Forger:
        return cls(
            SigningKey.generate(),
            EncryptionPrivateKey.generate(),
            EncryptionPrivateKey.generate(),
            SigningKey.generate(),
        )

    @property
    def fingerprint(self) -> str:
        return format_fingerprint(self.authority.public_key().fingerprint)

    def authority_answer(self) -> bytes:
        public_key = cjson.b64encode(self.authority.public_key().to_bytes())
        return json.dumps({"algorithm": "ed25519", "public_key": public_key}).encode()

    def directory(self, genuine: Directory) -> bytes:
        """The genuine directory with this bureau's identity, case and signing keys swapped for
        the attacker's.

        The serial is raised (so no rollback check objects) and the log key and policy are left
        alone (so receipts and checkpoints from the real server still verify); the public salt
        and the Argon2id parameters are the bureau's: only the bureau's keys differ, which is
        the whole point of the forgery.
        """
        bureaus = tuple(
            replace(
                bundle,
                identity_key=self.identity.public_key(),
                case_key=self.case.public_key(),
                signing_key=self.signing.public_key(),
            )
            if bundle.bureau_id == BUREAU_ID
            else bundle
            for bundle in genuine.bureaus
        )
        forged = replace(genuine, serial=genuine.serial + 1, bureaus=bureaus)
        return sign(SignedKind.DIRECTORY, forged.to_json(), self.authority).encode()

    def read(self, submission: bytes) -> tuple[IdentityDocument, CaseDocument] | None:
        """Open a captured submission with the forged bureau keys, if it was sealed to them."""
        envelope = cjson.b64decode(json.loads(submission)["envelope"])
        try:
            identity = open_identity(envelope, self.identity, BUREAU_ID)
            _, case = open_case(envelope, self.case, BUREAU_ID)
        except SealedPetitionError:
            return None
        return identity, case


# --- T-SPOOF-1 ----------------------------------------------------------------------------------


@pytest.mark.threat("T-SPOOF-1")
def test_a_forged_directory_is_refused_by_every_client_command(
    defence: Defence, deployment: Deployment, petition: Petition, tmp_path: Path
) -> None:
    """A forged directory put in front of the clients by a man in the middle stops them all.

    The forgery is the genuine directory with the national bureau's identity, case and signing
    keys replaced by the attacker's (same salt, same Argon2id parameters, a higher serial),
    signed by the attacker's authority key. The petitioner pinned the authority earlier,
    through the same path, when it was still honest. Then the attacker starts substituting the
    directory and the authority key: every command must stop with one line before it uses a
    key from the forgery (``submit`` before sending anything), and a fresh ``init`` with the
    genuine fingerprint must refuse the substituted authority key.

    ``defence-off``: the pin is the forger's (the person took the fingerprint from a forged
    poster): the client accepts the forged directory, lists the forged bureau and seals the
    petition to the forger's identity and case keys; the attacker, who captured the one
    submission on the path, opens both sections: the name and ID number and the case.
    """
    forger = Forger.generate()
    home, fresh_home = tmp_path / "home", tmp_path / "fresh-home"
    body = tmp_path / "petition.txt"
    body.write_text("信访内容：道路多年失修。", encoding="utf-8")
    with MitmFront(deployment.url) as front:
        honest_path = petition("init", "--server", front.url, "--trust", deployment.fingerprint,
                               "--home", str(home))  # fmt: skip
        assert honest_path.code == 0, honest_path.err
        pinned = deployment.fingerprint
        if defence.off:
            pinned = forger.fingerprint
            stored = ClientHome(home).load_config()
            ClientHome(home).save_config(
                replace(stored, authority_key=forger.authority.public_key().to_bytes())
            )

        # The attacker takes over the path.
        front.directory = forger.directory(genuine_directory(deployment))
        front.authority = forger.authority_answer()
        results = {
            "init": petition(
                "init", "--server", front.url, "--trust", pinned, "--home", str(fresh_home)
            ),
            "bureaus": petition("bureaus", "--home", str(home)),
            "submit": petition(*submit_args(home, body)),
            "audit log": petition("audit", "log", "--home", str(home)),
        }
        captured = [forger.read(submitted) for submitted in front.submissions]

    read_by_attacker = [opened for opened in captured if opened is not None]
    accepted = [command for command, result in results.items() if result.code == 0]
    if defence.on:
        results["init"].refused_in_one_line("not the one given with --trust")
        for command in ("bureaus", "submit", "audit log"):
            results[command].refused_in_one_line("not signed by the pinned authority")
        assert front.submissions == []
    else:
        assert "国家信访局" in results["bureaus"].out
        assert len(front.submissions) == 1
        assert [identity.id_number for identity, _ in read_by_attacker] == [ID_NUMBER]
        assert [case.body for _, case in read_by_attacker] == ["信访内容：道路多年失修。"]
    defence.judge(
        bool(accepted or read_by_attacker),
        f"a forged directory accepted by {accepted} and {len(read_by_attacker)} petition(s) "
        "sealed to the forger",
    )


@dataclass(frozen=True)
class Rotation:
    """A genuine directory captured before the authority published a newer one."""

    old_wire: bytes
    old_serial: int
    new_serial: int


@pytest.fixture(scope="module")
def rotation(deployment: Deployment) -> Rotation:
    """The authority publishes a new bureau: the captured older directory is now a rollback."""
    old_wire = deployment.client.get("/v1/directory").raw
    old_serial = SignedObject.decode(old_wire, SignedKind.DIRECTORY).body["serial"]
    bundle = deployment.root / "guangdong.bundle.json"
    bundle.write_bytes(cjson.encode(Bureau("guangdong", "广东省信访局").bundle().to_json()))
    added = run_petition(
        "admin", "add-bureau", "--data", str(deployment.data), "--passphrase-file",
        str(deployment.passphrase_file), str(bundle),
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    # Every worker re-reads directory.json within a second; wait until they all serve it.
    deadline, fresh_answers = time.monotonic() + 20, 0
    while fresh_answers < 15:
        assert time.monotonic() < deadline, "the server did not publish the new directory"
        wire = deployment.client.get("/v1/directory").raw
        serial = SignedObject.decode(wire, SignedKind.DIRECTORY).body["serial"]
        fresh_answers = fresh_answers + 1 if serial > old_serial else 0
        time.sleep(0.1)
    return Rotation(old_wire, old_serial, old_serial + 1)


@pytest.mark.threat("T-SPOOF-1")
def test_an_older_directory_replayed_after_a_newer_one_is_refused(
    defence: Defence, deployment: Deployment, rotation: Rotation, petition: Petition,
    tmp_path: Path,
) -> None:  # fmt: skip
    """A genuinely signed but older directory, replayed after the client saw a newer one.

    That is how an attacker would undo a key rotation or hide a new bureau: the signature is
    the authority's, only the serial gives it away.

    ``defence-off``: the client keeps no serial (as if it had never recorded one): the replayed
    directory is accepted and the new bureau disappears from the petitioner's view.
    """
    home = tmp_path / "home"
    with MitmFront(deployment.url) as front:
        honest_path = petition("init", "--server", front.url, "--trust", deployment.fingerprint,
                               "--home", str(home))  # fmt: skip
        assert honest_path.code == 0, honest_path.err
        seen = ClientHome(home).load_config()
        assert seen.directory_serial == rotation.new_serial
        if defence.off:
            ClientHome(home).save_config(replace(seen, directory_serial=0))

        front.directory = rotation.old_wire
        bureaus = petition("bureaus", "--home", str(home))
        audit = petition("audit", "log", "--home", str(home))

    if defence.on:
        bureaus.refused_in_one_line(f"older than serial {rotation.new_serial}")
        audit.refused_in_one_line("refusing a rolled-back directory")
    else:
        assert f"Directory serial {rotation.old_serial}" in bureaus.out
        assert "guangdong" not in bureaus.out
    defence.judge(
        bureaus.code == 0 or audit.code == 0, "an older directory accepted after a newer one"
    )


# --- T-SPOOF-2 ----------------------------------------------------------------------------------


def verify_as_any_kind(self: SignedObject, key: VerifyKey) -> dict[str, Any]:
    """``SignedObject.verify`` without the per-kind label: any kind's signature is accepted."""
    if self.signer != key.fingerprint:
        raise InvalidSignature(f"this {self.kind.value} was signed by a different key")
    for kind in SignedKind:
        try:
            key.verify(self.signature, signing_message(kind, self.body))
        except InvalidSignature:
            continue
        return self.body
    raise InvalidSignature("the signature does not verify")


@pytest.mark.threat("T-SPOOF-2")
def test_a_signature_of_one_kind_is_not_accepted_as_another(
    defence: Defence, deployment: Deployment, bureau_keys: BureauKeys,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Signatures captured from real traffic, relabelled as another kind by the same signer.

    A bureau's key signs its requests and its replies. Each captured signature is presented as
    the other kind of its signer and checked the way every client and the server check it:
    ``SignedObject`` with the expected kind and the key the directory names. (The log key signs
    nothing of these kinds any more: only checkpoints, as signed notes whose signed text is the
    checkpoint itself, and a receipt carries no signature of its own.)

    ``defence-off``: the verifier ignores the label (any kind's label is accepted, as if all
    kinds shared one): every relabelled signature verifies. (The strict per-kind schemas would
    still refuse these particular bodies one step later; the label is what makes a signature
    mean one kind of statement only.)
    """
    directory = genuine_directory(deployment)
    bureau_key = directory.bureau(BUREAU_ID).signing_key
    bundle = directory.bureau(BUREAU_ID)

    # Capture one of each from the real server and the real bureau client.
    secret = ReceiptSecret.generate()
    envelope = sealed(bundle, id_number=ID_NUMBER, secret=secret)
    accepted = deployment.client.post(
        "/v1/petitions", submission_body(envelope, secret.lookup_key_hash())
    )
    assert accepted.status == 201, accepted.raw
    petition_id = accepted.json["petition_id"]
    signer = BureauSigner(BUREAU_ID, bureau_keys.signing_key())
    inbox_target = f"/v1/bureaus/{BUREAU_ID}/inbox"
    headers = signer.headers("GET", inbox_target)()
    assert deployment.client.get(inbox_target, headers=headers).status == 200
    bureau_request = json.loads(cjson.b64decode(headers["Authorization"].split(" ", 1)[1]))
    today = datetime.now(UTC).date()
    reply = Reply(
        petition_id, BUREAU_ID, Event.ACKNOWLEDGED, 0,
        seal_reply("已受理。", secret.reply_private_key().public_key(), petition_id, BUREAU_ID),
        today,
    )  # fmt: skip
    reply_wire = sign(SignedKind.REPLY, reply.to_json(), bureau_keys.signing_key()).encode()
    entry = LogEntry(petition_id, BUREAU_ID, envelope_hash(envelope), Event.ACKNOWLEDGED, today,
                     reply_hash=signed_reply_hash(reply_wire))  # fmt: skip
    reply_target = f"/v1/bureaus/{BUREAU_ID}/petitions/{petition_id}/events"
    reply_body = json.dumps({
        "entry": sign_entry(entry, bureau_keys.signing_key()).to_json(),
        "reply": json.loads(reply_wire),
        "envelope": None,
    }).encode()  # fmt: skip
    posted = deployment.client.request(
        "POST", reply_target, raw=reply_body,
        headers=signer.headers("POST", reply_target, reply_body)(),
    )  # fmt: skip
    assert posted.status == 201, posted.raw
    status = deployment.client.get(
        f"/v1/petitions/{petition_id}/status",
        headers={"Petition-Lookup-Key": cjson.b64encode(secret.lookup_key())},
    ).json
    (served_reply,) = status["replies"]

    cases: list[tuple[str, dict[str, Any], SignedKind, VerifyKey]] = [
        ("bureau request as reply", bureau_request, SignedKind.REPLY, bureau_key),
        ("reply as bureau request", served_reply, SignedKind.BUREAU_REQUEST, bureau_key),
    ]
    if defence.off:
        monkeypatch.setattr(SignedObject, "verify", verify_as_any_kind)
    relabelled_and_accepted = []
    for name, wire, as_kind, key in cases:
        # Each verifies as what it really is...
        SignedObject.from_json(wire, SignedKind(wire["kind"])).verify(key)
        relabelled = {**wire, "kind": as_kind.value}
        try:
            SignedObject.from_json(relabelled, as_kind).verify(key)
        except InvalidSignature:
            continue
        relabelled_and_accepted.append(name)
    defence.judge(
        bool(relabelled_and_accepted),
        f"signatures accepted as another kind: {relabelled_and_accepted}",
    )
    if defence.off:
        assert len(relabelled_and_accepted) == len(cases)


# --- the server in this process, for the runs without a server-side defence ---------------------


@dataclass(frozen=True)
class InProcessServer:
    """The server's own application and writer, in this process, on a fresh data directory."""

    client: FlaskClient
    writer: Writer
    data: Path


@pytest.fixture(scope="module")
def in_process(
    deployment: Deployment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[InProcessServer]:
    """Same bureau as the deployment (its published bundle), a data directory of its own."""
    data = tmp_path_factory.mktemp("in-process") / "data"
    passphrase = str(deployment.passphrase_file)
    for args in (
        ("admin", "init", "--data", str(data), "--passphrase-file", passphrase),
        ("admin", "add-bureau", "--data", str(data), "--passphrase-file", passphrase,
         str(deployment.root / f"{BUREAU_ID}.bundle.json")),
    ):  # fmt: skip
        done = run_petition(*args)
        assert done.returncode == 0, done.stderr
    config = ServerConfig(data_dir=data)
    writer = Writer(config, DataDirectory.open_existing(data))
    ready = threading.Event()
    thread = threading.Thread(target=writer.serve, args=(ready.set,), daemon=True)
    thread.start()
    assert ready.wait(30)
    app = create_app(config)
    try:
        yield InProcessServer(app.test_client(), writer, data)
    finally:
        # The test client calls the writer from this thread: close that connection now, not
        # whenever the garbage collector reaches the application (a ResourceWarning there
        # fails whichever test happens to be running).
        app.extensions[EXTENSION_NAME].writer.close()
        writer.stop()
        thread.join(timeout=10)


@dataclass(frozen=True)
class Reached:
    status: int
    body: Any

    @property
    def error_code(self) -> str | None:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            code: str = self.body["error"]["code"]
            return code
        return None


Send = Callable[[str, str, dict[str, str], bytes | None], Reached]


def over_http(deployment: Deployment) -> Send:
    def send(method: str, target: str, headers: dict[str, str], body: bytes | None) -> Reached:
        answer = deployment.client.request(method, target, raw=body, headers=headers)
        return Reached(answer.status, json.loads(answer.raw) if answer.raw else None)

    return send


def in_process_send(server: InProcessServer) -> Send:
    def send(method: str, target: str, headers: dict[str, str], body: bytes | None) -> Reached:
        all_headers = {**headers, "Content-Type": "application/json"} if body else headers
        response = server.client.open(target, method=method, headers=all_headers, data=body)
        return Reached(response.status_code, response.get_json(silent=True))

    return send


# --- T-SPOOF-4 ----------------------------------------------------------------------------------


def authorization(
    key: SigningKey, method: str, target: str, *, timestamp: int, body: bytes = b""
) -> dict[str, str]:
    """A bureau-request header built by hand: any key, any target, any time."""
    claim = BureauRequest(
        bureau_id=BUREAU_ID,
        method=method,
        target=target,
        body_sha256=hashlib.sha256(body).digest(),
        timestamp=timestamp,
        nonce=secrets.token_bytes(16),
    )
    wire = sign(SignedKind.BUREAU_REQUEST, claim.to_json(), key).encode()
    return {"Authorization": f"SealedPetition {cjson.b64encode(wire)}"}


class AmnesiacRegistry(NonceRegistry):
    """The writer's nonce registry without its memory and without its clock window."""

    def __init__(self) -> None:
        super().__init__(window_seconds=10**12)
        self._started = 0

    def claim(self, bureau_id: str, nonce: str, timestamp: int) -> str:
        result = super().claim(bureau_id, nonce, timestamp)
        self._seen.clear()
        return result


@pytest.mark.threat("T-SPOOF-4")
def test_forged_replayed_and_stale_bureau_requests_are_refused(
    defence: Defence, deployment: Deployment, bureau_keys: BureauKeys,
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """An eavesdropper on a bureau's connection replays and reshapes what it captured.

    A real signed request (made by the bureau client's ``BureauSigner``) is sent once, then the
    same bytes again; then requests the attacker makes itself: one dated an hour ago, one signed
    by a key of its own, one whose signature covers another target (the inbox listing, sent to
    fetch a petition's envelope).

    ``defence-off``: the same requests against the server's own application in this process,
    whose writer's nonce registry forgets every nonce and has an infinite clock window: the
    replay and the stale request get in. The forged and the moved signature stay refused: the
    signature check is not part of this defence.
    """
    if defence.on:
        send = over_http(deployment)
    else:
        server: InProcessServer = request.getfixturevalue("in_process")
        monkeypatch.setattr(server.writer, "_nonces", AmnesiacRegistry())
        send = in_process_send(server)
    inbox = f"/v1/bureaus/{BUREAU_ID}/inbox?after=0&limit=100"
    elsewhere = f"/v1/bureaus/{BUREAU_ID}/petitions/{secrets.token_hex(16)}"
    now = int(time.time())
    signing = bureau_keys.signing_key()

    captured = BureauSigner(BUREAU_ID, signing).headers("GET", inbox)()
    first = send("GET", inbox, captured, None)
    assert first.status == 200, first.body
    attempts = {
        "replayed": send("GET", inbox, captured, None),
        "stale": send(
            "GET", inbox, authorization(signing, "GET", inbox, timestamp=now - 3600),
            None,
        ),
        "stranger": send(
            "GET", inbox, authorization(SigningKey.generate(), "GET", inbox, timestamp=now), None
        ),
        "other target": send(
            "GET", elsewhere, authorization(signing, "GET", inbox, timestamp=now),
            None,
        ),
    }  # fmt: skip
    assert (attempts["stranger"].status, attempts["stranger"].error_code) == (
        401,
        "invalid_signature",
    )
    assert (attempts["other target"].status, attempts["other target"].error_code) == (
        401,
        "request_mismatch",
    )
    if defence.on:
        assert attempts["replayed"].error_code == "replayed_request"
        assert attempts["stale"].error_code == "stale_request"
    got_in = [name for name, reached in attempts.items() if reached.status == 200]
    defence.judge(bool(got_in), f"bureau requests accepted: {got_in}")
    if defence.off:
        assert got_in == ["replayed", "stale"]


# --- T-SPOOF-6 ----------------------------------------------------------------------------------


@pytest.mark.threat("T-SPOOF-6")
def test_a_captured_envelope_cannot_be_followed_or_counted_twice(
    defence: Defence, deployment: Deployment, request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Someone who captured a petitioner's envelope resubmits it under a lookup key of their own.

    Their aim is to follow its status (the public log shows a status per petition id, the
    lookup key finds the petition) and, as a flooder, to make one petition count twice.

    ``defence-off``: the server's own application in this process, with petition ids no longer
    derived from the envelope (a fresh id per submission, as a server that numbers what it
    receives would do): the idempotency and conflict checks have nothing to compare, the
    attacker's copy is stored under the attacker's lookup key and the petitioner's retry adds a
    second leaf.
    """
    if defence.on:
        send = over_http(deployment)
        data = deployment.data
    else:
        monkeypatch.setattr(submission, "petition_id_for", lambda _envelope: secrets.token_hex(16))
        in_process: InProcessServer = request.getfixturevalue("in_process")
        send = in_process_send(in_process)
        data = in_process.data

    def post(body: dict[str, str]) -> Reached:
        return send("POST", "/v1/petitions", {}, json.dumps(body).encode())

    def tree_size() -> int:
        """The size of the checkpoint the log published last (every 2xx waits for it)."""
        published = (data / "public" / "log" / "checkpoint").read_bytes()
        return int(published.split(b"\n")[1])

    bundle = genuine_directory(deployment).bureau(BUREAU_ID)
    victim, attacker = ReceiptSecret.generate(), ReceiptSecret.generate()
    envelope = sealed(bundle, id_number=ID_NUMBER, secret=victim)
    first = post(submission_body(envelope, victim.lookup_key_hash()))
    assert first.status == 201, first.body
    size = tree_size()

    hijack = post(submission_body(envelope, attacker.lookup_key_hash()))
    followed = send(
        "GET", "/v1/lookup", {"Petition-Lookup-Key": cjson.b64encode(attacker.lookup_key())}, None
    )
    retry = post(submission_body(envelope, victim.lookup_key_hash()))
    growth = tree_size() - size

    if defence.on:
        assert (hijack.status, hijack.error_code) == (409, "conflict")
        assert (followed.status, followed.error_code) == (404, "not_found")
        assert (retry.status, retry.body) == (200, first.body)
    defence.judge(
        followed.status == 200 or growth > 0,
        f"a captured envelope followed by another key ({followed.status}) or stored again "
        f"({growth} more leaves)",
    )
    if defence.off:
        assert (hijack.status, retry.status, growth) == (201, 201, 2)
