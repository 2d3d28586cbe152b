"""Traces: what the server and the petitioner's device keep after people have used them.

One deployment made through the real CLI (``tests/support/deployment.py``) serves a realistic
session: a petitioner submits two petitions (one with an attachment) and reads a reply, the
bureau lists, opens and answers, an auditor checks the log and a receipt, and raw HTTP requests
arrive with every header that names a client (a distinctive User-Agent, X-Forwarded-For,
Forwarded, X-Real-IP, a Cookie, a Referer). The server was started with ``GUNICORN_CMD_ARGS``
asking gunicorn for an access log, as a careless operator or a hostile environment would.

Then the attacks: ADV-LOCAL takes everything the server wrote (T-DET-2) or the petitioner's
device (T-DD-4) and searches it; an auditor compares the store with the documented whitelist of
columns (T-NC-1).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlcipher3
from adversary import Defence
from deployment import BUREAU_ID, Deployment, deploy
from harness import PASSPHRASE, PETITION, Client, free_port

from client.bureau import BureauKeys, load_bureau
from crypto import cjson
from crypto.document import CaseDocument, IdentityDocument
from crypto.envelope import HEADER_LENGTH, parse_header
from crypto.errors import MalformedInput
from crypto.idnumber import normalize_id
from crypto.labels import SignedKind
from crypto.objects import BureauRequest
from crypto.petition import seal_petition
from crypto.receipt import ReceiptSecret
from crypto.signing import sign
from crypto.token import prehash
from server.database import PAGE_MAC
from server.personal_data import contains_address, contains_time, is_timestamp

ID_NUMBER = "440524198001010013"
CODE_LINE = re.compile(r"^\s*(1[0-9A-Z]{3}(?:-[0-9A-Z]{4}){6})\s*$", re.MULTILINE)
PETITION_ID = re.compile(r"petition id ([0-9a-f]{32})")
BANNER = re.compile(r"^petition: serving on http://127\.0\.0\.1:\d+/ \(Ctrl-C to stop\)$")
# What a careless operator or a hostile environment adds: gunicorn reads this variable when it
# is run as the `gunicorn` program. `petition serve` must not let it through.
ACCESS_LOG_REQUEST = (
    '--access-logfile - --access-logformat \'%(h)s %(t)s "%(r)s" "%(a)s" "%(f)s"\' '
    "--forwarded-allow-ips '*' --log-level debug"
)
DATABASE_FILES = ("petitions.db", "petitions.db-wal", "petitions.db-shm")
# The documented whitelist (server/database.py; docs/threat-model.md T-DET-2, T-NC-1).
# Schema 3: receipts are built when asked and checkpoints live outside the store (log.head,
# public/log/), so neither has a column.
ALLOWED_COLUMNS = {
    "petitions": {
        "cursor", "petition_id", "bureau_id", "envelope", "envelope_hash",
        "lookup_key_hash", "day", "event", "handler", "leaf_index",
    },
    "replies": {
        "petition_id", "sequence", "event", "signed_reply", "reply_hash", "day", "leaf_index",
    },
    "events": {"leaf_index", "petition_id"},
    "deliveries": {"petition_id", "bureau_id", "envelope", "leaf_index"},
    "log_leaves": {"leaf_index", "leaf"},
    "log_nodes": {"level", "position", "hash"},
}  # fmt: skip


# --- the deployment and the session ----------------------------------------------------------


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("GUNICORN_CMD_ARGS", ACCESS_LOG_REQUEST)
        running = deploy(tmp_path_factory.mktemp("traces") / "site")
    try:
        yield running
    finally:
        running.stop()


# Appended to a prelude: then ``python -c`` runs the ``petition`` program as ``petition`` does.
_RUN_CLI = "\nimport sys\nfrom petition.cli import main\nsys.exit(main(sys.argv[1:]))\n"


def _serve(data: Path, log: Path, port: int, *, prelude: str = "") -> subprocess.Popen[bytes]:
    """``petition serve`` on ``data`` (after ``prelude``, Python run first in the same process)."""
    command = [*PETITION] if not prelude else [sys.executable, "-c", prelude + _RUN_CLI]
    with log.open("ab") as output:
        process = subprocess.Popen(  # noqa: S603
            [*command, "serve", "--data", str(data), "--port", str(port), "--workers", "2"],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    client = Client(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, log.read_text()
        try:
            if client.get("/healthz").status == 200:
                return process
        except OSError:
            pass
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise AssertionError("the server did not start within 60 s")
        time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def _running(deployment: Deployment) -> Deployment:
    """The deployment's server, started again on its pinned port if the session stopped it."""
    if deployment.process.poll() is not None:
        port = int(deployment.url.rsplit(":", 1)[1])
        deployment.process = _serve(deployment.data, deployment.root / "server.log", port)
    return deployment


def _submit(
    deployment: Deployment, body_file: Path, *extra: str, name: str, subject: str, contact: str
) -> tuple[str, str, str]:
    """``petition submit`` with the real CLI; returns (stdout, receipt code, petition id)."""
    out = deployment.ok(
        "petitioner", "submit", "--bureau", BUREAU_ID, "--name", name, "--id-number", ID_NUMBER,
        "--contact", contact, "--subject", subject, "--category", "劳动与社会保障",
        "--region", "广东省深圳市", "--body-file", str(body_file), "--no-qr", *extra,
    )  # fmt: skip
    code, petition_id = CODE_LINE.search(out), PETITION_ID.search(out)
    assert code is not None, out
    assert petition_id is not None, out
    return out, code.group(1), petition_id.group(1)


@dataclass(frozen=True)
class Probe:
    """The headers that name a client, each with a value found nowhere else."""

    user_agent: str
    forwarded_address: str
    cookie: str
    referer: str

    @classmethod
    def fresh(cls) -> Probe:
        tag = secrets.token_hex(4)
        return cls(
            user_agent=f"Mozilla/5.0 (Linux; Android 14; SM-G9910) TraceProbe/{tag}",
            forwarded_address=f"198.51.100.{secrets.randbelow(200) + 20}",
            cookie=f"sid{tag}{secrets.token_hex(4)}",
            referer=f"https://weibo.example/{tag}/petition",
        )

    def headers(self) -> dict[str, str]:
        return {
            "User-Agent": self.user_agent,
            "X-Forwarded-For": f"{self.forwarded_address}, 10.1.2.3",
            "Forwarded": f'for="{self.forwarded_address}";proto=https',
            "X-Real-IP": self.forwarded_address,
            "Cookie": f"session={self.cookie}",
            "Referer": self.referer,
        }

    def needles(self) -> list[str]:
        return [self.user_agent, "TraceProbe", self.forwarded_address, self.cookie, self.referer]


def _signed(keys: BureauKeys, method: str, target: str) -> dict[str, str]:
    """The Authorization header of a bureau request (its timestamp is the current second)."""
    claim = BureauRequest(
        bureau_id=keys.bureau_id,
        method=method,
        target=target,
        body_sha256=hashlib.sha256(b"").digest(),
        timestamp=int(time.time()),
        nonce=secrets.token_bytes(16),
    )
    wire = sign(SignedKind.BUREAU_REQUEST, claim.to_json(), keys.signing_key()).encode()
    return {"Authorization": f"SealedPetition {cjson.b64encode(wire)}"}


def _raw_requests(deployment: Deployment, base: str, probe: Probe, petition_id: str) -> None:
    """Requests that carry every client-naming header, on every kind of route, including a
    submission that is stored, a bureau request (its nonce and timestamp go to the writer) and
    a request gunicorn refuses before the application sees it."""
    client = Client(base)
    headers = probe.headers()
    keys = load_bureau(deployment.keystore, PASSPHRASE)
    bundle = keys.bundle
    secret = ReceiptSecret.generate()
    identity = IdentityDocument(
        real_name="赵六", id_scheme="cn-resident", id_number=ID_NUMBER, contact="电话 13912345678"
    )
    case = CaseDocument(
        subject="欠薪", body="工厂拖欠三个月工资。", category="劳动与社会保障", region="深圳",
        respondent="某电子厂", reply_key=secret.reply_private_key().public_key(),
        id_prehash=prehash(
            normalize_id("cn-resident", ID_NUMBER), bundle.token_salt, bundle.token_params
        ),
        created_day=datetime.now(UTC).date(),
    )  # fmt: skip
    envelope = seal_petition(identity, case, bundle.sealing_keys())
    submitted = client.post(
        "/v1/petitions",
        {
            "envelope": cjson.b64encode(envelope),
            "lookup_key_hash": cjson.b64encode(secret.lookup_key_hash()),
        },
        headers=headers,
    )
    assert submitted.status in (200, 201), submitted.raw
    lookup = {**headers, "Petition-Lookup-Key": cjson.b64encode(secret.lookup_key())}
    wrong = {**headers, "Petition-Lookup-Key": cjson.b64encode(secrets.token_bytes(32))}
    answers = [
        client.get("/healthz", headers=headers),
        client.get("/v1/directory", headers=headers),
        client.get("/v1/authority", headers=headers),
        client.get("/log/checkpoint", headers=headers),
        client.get("/log/tile/0/000.p/1", headers=headers),
        client.get("/v1/lookup", headers=lookup),
        client.get(f"/v1/petitions/{submitted.json['petition_id']}/status", headers=lookup),
        client.get(f"/v1/petitions/{petition_id}/status", headers=wrong),
        # v1's token path, gone in protocol v2: a 404 like any unknown route.
        client.post(f"/v1/bureaus/{BUREAU_ID}/token", {"prehash": "AAAA"}, headers=headers),
        client.post("/v1/petitions", {"envelope": 1}, headers=headers),
        client.get("/v1/no-such-route", headers=headers),
    ]
    inbox = f"/v1/bureaus/{BUREAU_ID}/inbox"
    answers.append(client.get(inbox, headers={**headers, **_signed(keys, "GET", inbox)}))
    assert [answer.status for answer in answers] == [
        200, 200, 200, 200, 200, 200, 200, 404, 404, 400, 404, 200,
    ]  # fmt: skip
    # A request gunicorn refuses itself: a header line without a colon.
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        lines = ["GET /v1/directory HTTP/1.1", f"Host: {host}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        raw.sendall(("\r\n".join([*lines, "this line is not a header", "", ""])).encode())
        assert raw.recv(4096).startswith(b"HTTP/1.1 400")


@dataclass
class Session:
    deployment: Deployment
    probe: Probe
    started: float
    petition_ids: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def session(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> Session:
    """The realistic session, then the server stopped: everything it will ever write is out."""
    _running(deployment)
    outside = tmp_path_factory.mktemp("papers")  # the petitioner's own drafts and scans
    record = Session(deployment, Probe.fresh(), time.time())
    deployment.ok("petitioner", "bureaus")
    codes = []
    for number in range(2):
        body = outside / f"body{number}.txt"
        body.write_text(f"第{number}份请愿：工地拖欠工资，多次讨要无果。\n", encoding="utf-8")
        extra: tuple[str, ...] = ()
        if number == 1:
            scan = outside / "工资条.jpg"
            scan.write_bytes(secrets.token_bytes(20_000))
            extra = ("--attach", str(scan))
        _out, code, petition_id = _submit(
            deployment, body, *extra, name="孙七", subject=f"欠薪{number}", contact="13700000000"
        )
        codes.append(code)
        record.petition_ids.append(petition_id)
    flags = deployment.bureau_flags()
    answered = record.petition_ids[1]  # the one with the attachment
    deployment.ok("bureau", "bureau", "inbox", *flags)
    deployment.ok("bureau", "bureau", "show", answered, *flags, "--save-attachments", str(outside))
    deployment.ok(
        "bureau",
        "bureau",
        "acknowledge",
        answered,
        *flags,
        "--message",
        "已受理。",
    )
    status = deployment.ok("petitioner", "status", env={"PETITION_CODE": codes[1]})
    assert "acknowledged at" in status
    deployment.ok("auditor", "audit", "log")
    deployment.ok("auditor", "audit", "receipt", codes[1])
    _raw_requests(deployment, deployment.url, record.probe, answered)
    deployment.stop()
    return record


# --- the petitioner's device --------------------------------------------------------------------


def _device(deployment: Deployment) -> dict[Path, bytes]:
    """Every file of the petitioner's device: its PETITION_HOME and its working directory.

    The working directory of this test layout also holds other machines' files (the server's
    data, key and log directories, the bureau's and the auditor's homes); they are not on the
    petitioner's device and are left out.
    """
    root = deployment.root
    elsewhere = [
        root / "data",
        root / "server.log",
        root / "homes" / "bureau",
        root / "homes" / "auditor",
    ]
    files = {}
    for path in sorted(root.rglob("*")):
        if any(path == other or other in path.parents for other in elsewhere):
            continue
        if path.is_file() and not path.is_symlink():
            files[path] = path.read_bytes()
    home = deployment.homes["petitioner"]
    assert root in home.parents  # the home is inside the working directory: scanned with it
    return files


@pytest.mark.threat("T-DD-4")
def test_a_seized_device_holds_no_trace_of_a_petition(
    deployment: Deployment, defence: Defence, tmp_path: Path
) -> None:
    """ADV-LOCAL seizes the petitioner's device after a default session (``init``, ``submit``,
    ``status``) and searches every file of PETITION_HOME and the working directory for the name,
    ID number, text, subject, contact, receipt code and petition id, in UTF-8 and UTF-16, and for
    any file the session left.

    The defence is that the client writes nothing about a petition. ``defence-off`` uses the
    opt-in ``--save-receipt`` and ``--qr-png`` (files in the working directory, as a petitioner
    would give them): the same search finds them.
    """
    _running(deployment)
    marker = secrets.token_hex(5)
    name, subject, contact = f"周八{marker}", f"拆迁补偿{marker}", f"邮箱 z{marker}@example.cn"
    text = f"我家被强制拆迁，补偿款至今未到位。{marker}"
    body = tmp_path / "draft.txt"  # the petitioner's own draft, outside the scanned folders
    body.write_text(text, encoding="utf-8")
    extra: tuple[str, ...] = ()
    if defence.off:
        extra = ("--save-receipt", f"receipt-{marker}.keystore", "--qr-png", f"qr-{marker}.png",
                 "--passphrase-file", str(deployment.passphrase_file))  # fmt: skip

    before = _device(deployment)
    out, code, petition_id = _submit(
        deployment, body, *extra, name=name, subject=subject, contact=contact
    )
    status = deployment.ok("petitioner", "status", env={"PETITION_CODE": code})
    assert "received at 国家信访局 (national)" in status
    after = _device(deployment)

    new = sorted(str(path.relative_to(deployment.root)) for path in set(after) - set(before))
    wanted = [
        name, marker, ID_NUMBER, text, subject, contact, code, code.replace("-", ""),
        code.lower(), petition_id,
    ]  # fmt: skip
    found = [
        (str(path.relative_to(deployment.root)), secret)
        for path, data in after.items()
        for secret in wanted
        if secret.encode() in data
        or secret.encode("utf-16-le") in data
        or secret.encode("utf-16-be") in data
    ]
    if defence.on:
        assert "Nothing about this petition was saved on this device." in out
        assert new == []
    else:
        assert new == [f"qr-{marker}.png", f"receipt-{marker}.keystore"]
    defence.judge(bool(new or found), f"finding the petition on the device ({new}, {found})")


# The client as protocol v1 shipped it: every command that fetched the directory saved the
# client configuration again, same bytes or not (the serial check and the "unchanged" check of
# client/home.py taken out).
_REWRITING_CLIENT = """
import dataclasses
import client.home as home
home.ClientHome._unchanged = lambda self, path, data: False
def record_directory_serial(self, config, serial):
    self.save_config(dataclasses.replace(self.load_config(), directory_serial=serial))
    return dataclasses.replace(config, directory_serial=serial)
home.ClientHome.record_directory_serial = record_directory_serial
"""
# A day before the test: a file the session rewrites can only get a later time.
_BEFORE = time.time() - 86_400


def _petitioner(
    deployment: Deployment, *args: str, prelude: str, env: dict[str, str] | None = None
) -> str:
    """``petition ARGS`` as the petitioner (its PETITION_HOME), after ``prelude`` if any."""
    if not prelude:
        return deployment.ok("petitioner", *args, env=env)
    home = deployment.homes["petitioner"]
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", prelude + _RUN_CLI, *args],
        capture_output=True, text=True, timeout=120, cwd=deployment.root, check=False,
        env={**os.environ, "PETITION_HOME": str(home), **(env or {})},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def _mtimes(home: Path) -> dict[str, int]:
    """The modification time (ns) of PETITION_HOME and of everything in it."""
    paths = [home, *sorted(home.rglob("*"))]
    return {str(path.relative_to(home)): path.lstat().st_mtime_ns for path in paths}


@pytest.mark.threat("T-DD-4")
def test_ordinary_use_rewrites_no_client_file(
    deployment: Deployment, defence: Defence, tmp_path: Path
) -> None:
    """ADV-SEIZE dates a petition from the device's file times: after ``init``, the petitioner
    submits and checks the status; the seized PETITION_HOME is then read for modification
    times (of its files and of the folders, which change when a file is replaced) that fall
    in the time of the petition, to match against the log entry's day and the device's use.

    The defence: the client writes a file only when its content changes (client/home.py), and
    nothing in ordinary use changes it, so every time is the one ``init`` left. To make any
    rewrite visible whatever the file system's time resolution, every time in PETITION_HOME is
    first set a day back. ``defence-off`` runs the same commands with the client as v1 had it,
    saving its configuration again on each command that fetched the directory (the program
    with ``ClientHome``'s checks taken out): the configuration file's time, and its folder's,
    then point at the petition.
    """
    _running(deployment)
    home = deployment.homes["petitioner"]
    deployment.ok("petitioner", "bureaus")  # the home exists and has seen the directory
    for path in [home, *home.rglob("*")]:
        os.utime(path, (_BEFORE, _BEFORE), follow_symlinks=False)
    before = _mtimes(home)
    prelude = "" if defence.on else _REWRITING_CLIENT

    body = tmp_path / "draft.txt"
    body.write_text("村里的饮用水被化工厂污染。", encoding="utf-8")
    started = time.time_ns()
    out = _petitioner(
        deployment, "submit", "--bureau", BUREAU_ID, "--name", "吴九", "--id-number", ID_NUMBER,
        "--contact", "13600000000", "--subject", "饮用水污染", "--category", "环境保护",
        "--region", "广东省深圳市", "--body-file", str(body), "--no-qr", prelude=prelude,
    )  # fmt: skip
    code = CODE_LINE.search(out)
    assert code is not None, out
    status = _petitioner(deployment, "status", prelude=prelude, env={"PETITION_CODE": code[1]})
    assert "received at 国家信访局 (national)" in status
    finished = time.time_ns()

    after = _mtimes(home)
    assert set(after) == set(before)  # no file came or went
    dated = sorted(where for where, mtime in after.items() if started <= mtime <= finished)
    if defence.on:
        assert after == before
    else:
        assert "config.json" in dated, dated
    defence.judge(bool(dated), f"dating the petition from file times in PETITION_HOME ({dated})")


# --- what the server wrote ---------------------------------------------------------------------


def _window(started: float, until: float) -> tuple[list[str], list[str]]:
    """Every epoch second and every HH:MM (local and UTC) from 120 s before to 120 s after."""
    seconds = range(int(started) - 120, int(until) + 121)
    minutes: set[str] = set()
    for second in seconds[::30]:
        minutes.add(time.strftime("%H:%M", time.localtime(second)))
        minutes.add(time.strftime("%H:%M", time.gmtime(second)))
    return [str(second) for second in seconds], sorted(minutes)


def _text_findings(where: str, text: str) -> list[str]:
    findings = []
    if contains_address(text):
        findings.append(f"{where}: an IP address")
    if contains_time(text):
        findings.append(f"{where}: a time of day or a timestamp")
    return findings


def _database_findings(database: Path, key: bytes) -> Iterator[tuple[str, bytes, list[str]]]:
    """Every decrypted value, with what the store audit's detectors say about it."""
    conn = sqlcipher3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
        conn.execute(f"PRAGMA cipher_hmac_algorithm = {PAGE_MAC}")
        tables = [
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        for table in tables:
            cursor = conn.execute(f'SELECT * FROM "{table}"')  # noqa: S608  (names from the file)
            names = [column[0] for column in cursor.description]
            for row in cursor:
                for name, value in zip(names, row, strict=True):
                    where = f"{database.name}: {table}.{name}"
                    if isinstance(value, int) and is_timestamp(value):
                        yield where, str(value).encode(), [f"{where}: a timestamp"]
                        continue
                    data = value if isinstance(value, bytes) else str(value).encode()
                    if table == "petitions" and name == "envelope":
                        # Ciphertext after the clear header: needles only, no pattern detectors
                        # (random bytes would now and then look like "12:34").
                        try:
                            parse_header(data)
                            offset = HEADER_LENGTH
                        except MalformedInput:
                            offset = len(data)
                        yield where, data, _text_findings(where, data[:offset].decode("latin-1"))
                        continue
                    try:
                        text = data.decode("utf-8")
                    except UnicodeDecodeError:
                        text = data.decode("latin-1")
                        found = (
                            [f"{where}: an IP address"]
                            if contains_address(text, short_ipv6=False)
                            else []
                        )
                        yield where, data, found
                        continue
                    yield where, data, _text_findings(where, text)
    finally:
        conn.close()


def _server_traces(data: Path, log: Path, *, needles: list[str], started: float) -> list[str]:
    """Search everything the server wrote for who came and when.

    Every file of the data directory (no server holds a bureau key of any kind, so there is no
    other directory of the server's), every decrypted database value, and the log (minus the
    one banner line naming the server's own listening address) are searched for the exact
    client-naming values sent and for the session's epoch seconds and clock minutes, and run
    through the store audit's address and time detectors.
    """
    epochs, minutes = _window(started, time.time())
    exact = [*needles, "127.0.0.1", *minutes]
    findings: list[str] = []
    blobs: list[tuple[str, bytes]] = []
    for path in sorted(data.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        content = path.read_bytes()
        blobs.append((str(path), content))
        if path.name not in DATABASE_FILES:
            findings += _text_findings(str(path), content.decode("utf-8", errors="replace"))
    key = bytes.fromhex((data / "db.key").read_text().strip())
    for where, value, found in _database_findings(data / "petitions.db", key):
        blobs.append((where, value))
        findings += found
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    kept = "\n".join(line for line in lines if not BANNER.fullmatch(line))
    blobs.append((str(log), kept.encode()))
    findings += _text_findings(str(log), kept)
    for where, content in blobs:
        findings += [f"{where}: {needle!r}" for needle in exact if needle.encode() in content]
        findings += [f"{where}: epoch {e}" for e in epochs if e.encode() in content]
    return findings


_LEAKY_SERVER = """
import sys
import server.serve as serve
shipped = serve.gunicorn_options
def with_access_log(*args):
    options = shipped(*args)
    options.update(accesslog="-", logger_class="gunicorn.glogging.Logger")
    return options
serve.gunicorn_options = with_access_log
"""


@pytest.mark.threat("T-DET-2")
def test_the_server_keeps_no_trace_of_who_came_or_when(
    session: Session, defence: Defence, tmp_path: Path
) -> None:
    """ADV-LOCAL takes everything the server wrote during the session (data directory and log)
    and searches it for the client's address, user agent, forwarded
    address, cookie, referer, and the time of any request.

    The defences are no access log (even when ``GUNICORN_CMD_ARGS`` asks gunicorn for one),
    scrubbed log lines without timestamps, and a store of days, never times. ``defence-off``
    starts the same program on a copy of the data directory with gunicorn's access log turned on
    and its plain logger (the shipped options plus ``accesslog="-"``), and sends the session's
    raw requests again: the same search must find who came and when.
    """
    deployment = session.deployment
    data, log = deployment.data, deployment.root / "server.log"
    if defence.off:
        copy = tmp_path / "data"
        shutil.copytree(deployment.data, copy)
        data, log = copy, tmp_path / "server.log"
        port = free_port()
        leaky = _serve(copy, log, port, prelude=_LEAKY_SERVER)
        try:
            _raw_requests(
                deployment, f"http://127.0.0.1:{port}", session.probe, session.petition_ids[1]
            )
        finally:
            _stop(leaky)

    findings = _server_traces(data, log, needles=session.probe.needles(), started=session.started)
    if defence.off:
        # What an access log is: the address, the user agent and the time of each request.
        assert any("'127.0.0.1'" in finding for finding in findings), findings
        assert any(session.probe.user_agent in finding for finding in findings), findings
        assert any("time of day" in finding for finding in findings), findings
    defence.judge(bool(findings), f"finding who came or when ({findings[:5]})")


# --- the store's schema -----------------------------------------------------------------------


def _columns(data: Path) -> dict[str, set[str]]:
    key = (data / "db.key").read_text().strip()
    conn = sqlcipher3.connect(str(data / "petitions.db"))
    try:
        conn.execute(f"PRAGMA key = \"x'{key}'\"")
        conn.execute(f"PRAGMA cipher_hmac_algorithm = {PAGE_MAC}")
        tables = [
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        return {
            table: {row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')}
            for table in tables
        }
    finally:
        conn.close()


def _audit_store(data: Path) -> dict[str, str]:
    """``petition audit store``: each check id and whether it said ``ok`` or ``FAIL``."""
    result = subprocess.run(  # noqa: S603
        [*PETITION, "audit", "store", "--data", str(data)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert "Traceback" not in result.stderr
    verdicts = {}
    for line in result.stdout.splitlines():
        found = re.match(r"^(ok  |FAIL) ([a-z-]+):", line)
        if found:
            verdicts[found.group(2)] = found.group(1).strip()
    assert result.returncode == (0 if set(verdicts.values()) == {"ok"} else 1), result.stdout
    return verdicts


@pytest.mark.threat("T-NC-1")
def test_the_store_holds_only_the_documented_columns(
    session: Session, defence: Defence, tmp_path: Path
) -> None:
    """An auditor (or a regulator) checks that the server keeps no personal data it does not
    need: after the session, the stored schema must be exactly the documented whitelist, and
    ``petition audit store`` must pass its schema check.

    The defence is the fixed schema of ``server/database.py``. ``defence-off`` plants what a
    server that kept more would leave: a ``client_ip`` column holding the requester's address.
    The same comparison, and the store audit, must then catch it.
    """
    copy = tmp_path / "data"
    shutil.copytree(session.deployment.data, copy)
    if defence.off:
        key = (copy / "db.key").read_text().strip()
        conn = sqlcipher3.connect(str(copy / "petitions.db"), isolation_level=None)
        conn.execute(f"PRAGMA key = \"x'{key}'\"")
        conn.execute(f"PRAGMA cipher_hmac_algorithm = {PAGE_MAC}")
        conn.execute("ALTER TABLE petitions ADD COLUMN client_ip TEXT")
        conn.execute("UPDATE petitions SET client_ip = ?", (session.probe.forwarded_address,))
        conn.close()

    columns = _columns(copy)
    kept = {
        f"{table}.{column}"
        for table, names in columns.items()
        for column in names - ALLOWED_COLUMNS.get(table, set())
    }
    verdicts = _audit_store(copy)
    assert set(columns) == set(ALLOWED_COLUMNS)
    assert verdicts["schema"] == ("ok" if not kept else "FAIL")
    if defence.off:
        assert kept == {"petitions.client_ip"}
        assert verdicts["no-addresses"] == "FAIL"
    else:
        assert set(verdicts.values()) == {"ok"}, verdicts
    defence.judge(bool(kept), "keeping a column the documented whitelist does not allow")
