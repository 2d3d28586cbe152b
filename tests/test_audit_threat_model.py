"""``petition audit threat-model`` against a real deployment and damaged copies of its data.

One deployment, set up through the real CLI, gets a submission and a bureau reply. The audit
must then print a row for every threat id in the document's order and pass every row it can
check; rows it cannot check must say what they need. Copies of the data directory are damaged
the ways an intruder or a careless operator would (an altered envelope, an extra column, a bureau
keystore left inside, an extra member written into a log leaf), a directory is forged and rolled
back, and a file is left in PETITION_HOME: each must turn exactly the right rows to FAIL, name
the failing check, and exit 1, without a traceback and without repeating what was planted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlcipher3
from deployment import BUREAU_ID, Deployment, deploy

from client.home import ClientHome
from crypto import cjson, note
from crypto.keys import SigningKey
from petition.threat_audit import (
    CODE_PROPERTY,
    NEEDS_DATA,
    NEEDS_EITHER,
    NEEDS_SERVER,
    CheckContext,
    CheckOutcome,
    CheckProvider,
    ThreatCheck,
    ThreatCheckError,
    Verdict,
    all_checks,
    evaluate,
    load_checks,
)
from petition.threats import THREAT_IDS, Threat
from server.database import PAGE_MAC
from server.store_audit import CHECK_IDS
from server.threat_checks import STORE_CHECKS

ID_NUMBER = "110101199003071751"
NAME = "赵六"
BODY = "道路维修的请愿，内容保密"
SECRETS = [ID_NUMBER, NAME, BODY, "13900000000"]

Connection = Any  # sqlcipher3 ships no type information


@dataclass
class Audited:
    """The deployment, once a petition was submitted and answered."""

    deployment: Deployment


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Audited]:
    """A deployment after one submission and one bureau reply, both through the CLI."""
    running = deploy(tmp_path_factory.mktemp("threat-model"))
    try:
        body = running.root / "body.txt"
        body.write_text(BODY, encoding="utf-8")
        out = running.ok(
            "petitioner", "submit", "--bureau", BUREAU_ID, "--name", NAME, "--id-number",
            ID_NUMBER, "--contact", "13900000000", "--subject", "道路", "--category", "其他",
            "--region", "上海", "--body-file", str(body), "--no-qr",
        )  # fmt: skip
        found = re.search(r"petition id ([0-9a-f]{32})", out)
        assert found is not None, out
        running.ok("bureau", "bureau", "acknowledge", found.group(1), *running.bureau_flags(),
                   "--message", "已受理")  # fmt: skip
        yield Audited(running)
    finally:
        running.stop()


# --- reading the report ---------------------------------------------------------------------


@dataclass
class Row:
    verdict: str
    title: str
    lines: list[str]  # the indented lines under the row

    def failing_checks(self) -> set[str]:
        return {line.split(":", 2)[0] + ":" + line.split(":", 2)[1] for line in self.failures()}

    def failures(self) -> list[str]:
        return [line[len("FAIL ") :] for line in self.lines if line.startswith("FAIL ")]


@dataclass
class Report:
    result: subprocess.CompletedProcess[str]
    rows: dict[str, Row]

    def verdicts(self, verdict: str) -> set[str]:
        return {threat for threat, row in self.rows.items() if row.verdict == verdict}


_ROW = re.compile(r"(T-[A-Z]+-[0-9]+) +(PASS|FAIL|NOT CHECKABLE HERE) +(.+)")


def _audit(audited: Audited, *args: str, exit_status: int | None = None) -> Report:
    """Run the audit as the auditor, and check the report's shape whatever it found."""
    result = audited.deployment.run("auditor", "audit", "threat-model", *args)
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    for secret in SECRETS:
        assert secret not in output, secret
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Threat model audit ("), result.stdout + result.stderr
    rows: dict[str, Row] = {}
    current: Row | None = None
    for line in lines[1:-1]:
        match = _ROW.fullmatch(line)
        if match is not None:
            current = rows[match.group(1)] = Row(match.group(2), match.group(3), [])
        else:
            assert current is not None, line
            assert line.startswith(" "), line
            current.lines.append(line.strip())
    assert list(rows) == list(THREAT_IDS)  # every row, in the document's order
    report = Report(result, rows)
    counts = [len(report.verdicts(v)) for v in ("PASS", "FAIL", "NOT CHECKABLE HERE")]
    assert lines[-1] == (
        f"threat model: {len(THREAT_IDS)} threats, {counts[0]} PASS, {counts[1]} FAIL, "
        f"{counts[2]} NOT CHECKABLE HERE"
    )
    for row in rows.values():
        if row.verdict == "NOT CHECKABLE HERE":
            assert len(row.lines) == 1, row  # its reason
        elif row.verdict == "FAIL":
            assert row.failures(), row  # each failing check, one line each
    assert result.returncode == (1 if counts[1] else 0), output
    if exit_status is not None:
        assert result.returncode == exit_status, output
    return report


def _checks() -> tuple[ThreatCheck, ...]:
    return load_checks()


def _threats_with(needs: set[str]) -> set[str]:
    """The threats all of whose checks need one of ``needs`` (and that have checks)."""
    checks = _checks()
    return {
        threat
        for threat in THREAT_IDS
        if (served := [check for check in checks if threat in check.threat_ids])
        and {check.needs for check in served} <= needs
    }


def _threats_with_checks() -> set[str]:
    return {threat for check in _checks() for threat in check.threat_ids}


# --- a healthy deployment ----------------------------------------------------------------------


def test_every_checkable_row_passes_against_the_live_deployment(audited: Audited) -> None:
    deployment = audited.deployment
    report = _audit(
        audited, "--server", deployment.url, "--data", str(deployment.data), exit_status=0
    )
    assert report.verdicts("FAIL") == set()
    assert report.verdicts("PASS") == _threats_with_checks()
    for threat in set(THREAT_IDS) - _threats_with_checks():
        assert report.rows[threat].lines == [CODE_PROPERTY]
    checked = {"T-SPOOF-1", "T-TAMP-2", "T-DD-6", "T-ID-1", "T-ID-3", "T-LINK-3", "T-DD-4"}
    assert checked <= report.verdicts("PASS")


def test_every_check_is_listed_with_what_it_found(audited: Audited) -> None:
    deployment = audited.deployment
    report = _audit(
        audited, "--server", deployment.url, "--data", str(deployment.data), "--all-checks"
    )
    listed = {line.split(":")[0] + ":" + line.split(":")[1] for row in report.rows.values()
              for line in row.lines if line.startswith("ok ")}  # fmt: skip
    assert listed == {f"ok {check.check_id}" for check in _checks()}
    spoof = "\n".join(report.rows["T-SPOOF-1"].lines)
    assert "verifies under the pinned authority" in spoof
    assert "1 submissions and 1 later case events" in "\n".join(report.rows["T-TAMP-1"].lines)


def test_with_the_data_directory_only_the_server_rows_need_a_server(audited: Audited) -> None:
    report = _audit(audited, "--data", str(audited.deployment.data), exit_status=0)
    for threat in _threats_with({"server"}):
        assert report.rows[threat].verdict == "NOT CHECKABLE HERE"
        assert report.rows[threat].lines == [NEEDS_SERVER]
    assert report.verdicts("PASS") == _threats_with_checks() - _threats_with({"server"})
    assert {"T-SPOOF-1", "T-DOS-3"} <= _threats_with({"server"})


def test_with_neither_each_row_says_what_it_needs(audited: Audited) -> None:
    report = _audit(audited, exit_status=0)
    both = _threats_with({"server", "data"}) - _threats_with({"server"}) - _threats_with({"data"})
    expected = {
        **dict.fromkeys(set(THREAT_IDS) - _threats_with_checks(), CODE_PROPERTY),
        **dict.fromkeys(_threats_with({"server"}), NEEDS_SERVER),
        **dict.fromkeys(_threats_with({"data"}), NEEDS_DATA),
        **dict.fromkeys(both, NEEDS_EITHER),
    }
    assert {"T-TAMP-2", "T-LINK-2", "T-DET-2"} <= both
    for threat, reason in expected.items():
        assert report.rows[threat].lines == [reason], threat
    assert report.verdicts("PASS") == {"T-DD-4"}  # this device's own state is always here


def test_server_rows_without_a_pinned_authority_say_so(audited: Audited, tmp_path: Path) -> None:
    """Checks that trust keys cannot run unpinned; checks of the server's edge still do."""
    deployment = audited.deployment
    report = _audit(audited, "--server", deployment.url, "--home", str(tmp_path / "unpinned"))
    for threat in ("T-SPOOF-1", "T-SPOOF-5", "T-DD-3", "T-LINK-1"):
        assert report.rows[threat].verdict == "NOT CHECKABLE HERE"
        assert "no authority is pinned" in report.rows[threat].lines[0]
    edge = {"T-SPOOF-4", "T-DD-7", "T-DET-2", "T-DET-3", "T-DOS-3", "T-LINK-2", "T-ID-3"}
    assert edge <= report.verdicts("PASS")
    assert not (tmp_path / "unpinned").exists()  # an audit pins nothing by itself


def test_errors_of_the_inputs_are_one_line(audited: Audited, tmp_path: Path) -> None:
    for args, fragment in (
        (("--server", "ftp://example.org"), "the server URL must look like"),
        (("--data", str(tmp_path / "none")), "does not exist"),
        (("--server", "http://127.0.0.1:1", "--retries", "1"), "cannot reach"),
    ):
        result = audited.deployment.run("auditor", "audit", "threat-model", *args)
        assert result.returncode == 1
        assert result.stdout == ""
        assert result.stderr.startswith("petition: error: ")
        assert result.stderr.count("\n") == 1, result.stderr
        assert fragment in result.stderr


# --- damaged data directories ----------------------------------------------------------------


def _copy_data(audited: Audited, target: Path) -> Path:
    """A copy of the live data directory, checkpointed so that it stands on its own.

    The server is idle between tests, so the database and its WAL are copied consistently;
    opening the copy once folds the WAL into it.
    """
    source = audited.deployment.data
    copy = target / "data"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("run"))
    conn = _open(copy)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    assert not (copy / "petitions.db-wal").exists()
    return copy


def _open(data: Path) -> Connection:
    key = (data / "db.key").read_text().strip()
    conn = sqlcipher3.connect(str(data / "petitions.db"), isolation_level=None)
    conn.execute(f"PRAGMA key = \"x'{key}'\"")
    conn.execute(f"PRAGMA cipher_hmac_algorithm = {PAGE_MAC}")
    return conn


def _alter_envelope(audited: Audited, data: Path) -> None:
    conn = _open(data)
    (envelope,) = conn.execute("SELECT envelope FROM petitions").fetchone()
    changed = bytes(envelope[:-1]) + bytes([envelope[-1] ^ 0x01])
    conn.execute("UPDATE petitions SET envelope = ?", (changed,))
    conn.close()


def _extra_column(audited: Audited, data: Path) -> None:
    conn = _open(data)
    conn.execute("ALTER TABLE petitions ADD COLUMN note TEXT")
    conn.close()


def _plant_bureau_keystore(audited: Audited, data: Path) -> None:
    shutil.copy2(audited.deployment.keystore, data / f"backup-{BUREAU_ID}.keystore")


def _token_in_a_leaf(audited: Audited, data: Path) -> None:
    conn = _open(data)
    (leaf,) = conn.execute("SELECT leaf FROM log_leaves WHERE leaf_index = 0").fetchone()
    entry = json.loads(leaf)
    entry["token"] = cjson.b64encode(bytes(range(32)))
    conn.execute("UPDATE log_leaves SET leaf = ? WHERE leaf_index = 0", (cjson.encode(entry),))
    conn.close()


def test_an_undamaged_copy_passes(audited: Audited, tmp_path: Path) -> None:
    """The copies below fail because of their damage, not because of the copying."""
    copy = _copy_data(audited, tmp_path)
    report = _audit(audited, "--data", str(copy), exit_status=0)
    assert report.verdicts("PASS") == _threats_with_checks() - _threats_with({"server"})


Damage = Callable[[Audited, Path], None]

DAMAGE: dict[str, tuple[Damage, dict[str, set[str]]]] = {
    "an altered envelope": (
        _alter_envelope,
        {threat: {"data:log-matches-store"} for threat in ("T-TAMP-1", "T-TAMP-2", "T-REP-2")},
    ),
    "an extra column": (_extra_column, {"T-NC-1": {"data:schema"}}),
    "a bureau keystore inside": (
        _plant_bureau_keystore,
        {"T-ID-1": {"data:no-bureau-key"}, "T-ID-3": {"data:no-bureau-key"}},
    ),
    "a token in a log leaf": (
        _token_in_a_leaf,
        {
            "T-LINK-2": {"data:log-leaves-documented"},
            "T-TAMP-1": {"data:log-matches-store"},
            "T-TAMP-2": {"data:log-matches-store", "data:log-intact"},
            "T-REP-2": {"data:log-matches-store"},
        },
    ),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_a_broken_data_directory_fails_its_rows(
    case: str, audited: Audited, tmp_path: Path
) -> None:
    damage, expected = DAMAGE[case]
    copy = _copy_data(audited, tmp_path)
    damage(audited, copy)
    report = _audit(audited, "--data", str(copy), exit_status=1)
    assert report.verdicts("FAIL") == set(expected), report.result.stdout
    for threat, checks in expected.items():
        assert report.rows[threat].failing_checks() == checks, report.rows[threat]


def test_a_planted_bureau_keystore_is_named_and_its_content_is_not_shown(
    audited: Audited, tmp_path: Path
) -> None:
    copy = _copy_data(audited, tmp_path)
    _plant_bureau_keystore(audited, copy)
    report = _audit(audited, "--data", str(copy), exit_status=1)
    (failure,) = report.rows["T-ID-1"].failures()
    assert failure.startswith("data:no-bureau-key: "), failure
    assert f"backup-{BUREAU_ID}.keystore" in failure
    sealed = json.loads((copy / f"backup-{BUREAU_ID}.keystore").read_text())
    for secret in (sealed["ciphertext"], sealed["nonce"], sealed["kdf"]["salt"]):
        assert secret not in report.result.stdout


# --- a forged or rolled-back directory ----------------------------------------------------------

_TRUSTING = ("T-SPOOF-5", "T-TAMP-2", "T-LINK-1", "T-DD-3")


def test_a_directory_not_signed_by_the_pinned_authority_fails_spoof_1(audited: Audited) -> None:
    deployment = audited.deployment
    directory = deployment.data / "directory.json"
    original = directory.read_bytes()
    forged = json.loads(original)
    name = forged["body"]["bureaus"][0]["name"]
    forged["body"]["bureaus"][0]["name"] = "假冒的信访局"
    directory.write_bytes(cjson.encode(forged))  # canonical, as the server requires
    try:
        _wait_for_directory(deployment, "假冒的信访局")
        report = _audit(audited, "--server", deployment.url, exit_status=1)
    finally:
        directory.write_bytes(original)
        _wait_for_directory(deployment, name)
    assert report.verdicts("FAIL") == {"T-SPOOF-1"}
    (failure,) = report.rows["T-SPOOF-1"].failures()
    assert failure.startswith("server:directory-signed: the directory is not signed by the pinned")
    for threat in _TRUSTING:  # nothing is claimed about keys that cannot be trusted
        assert report.rows[threat].verdict == "NOT CHECKABLE HERE"
        assert "(server:directory-signed)" in report.rows[threat].lines[0]
    assert {"T-SPOOF-4", "T-DOS-3", "T-DET-2", "T-DET-3", "T-LINK-2"} <= report.verdicts("PASS")
    _audit(audited, "--server", deployment.url, exit_status=0)  # and back to normal


def test_a_rolled_back_directory_fails_spoof_1(audited: Audited, tmp_path: Path) -> None:
    """An auditor that saw a newer serial refuses the one served now."""
    deployment = audited.deployment
    deployment.ok("auditor", "bureaus")  # records the current serial
    home = tmp_path / "home"
    shutil.copytree(deployment.homes["auditor"], home)
    client_home = ClientHome(home)
    config = client_home.load_config()
    client_home.save_config(replace(config, directory_serial=config.directory_serial + 1))
    report = _audit(audited, "--server", deployment.url, "--home", str(home), exit_status=1)
    assert report.verdicts("FAIL") == {"T-SPOOF-1"}
    assert "refusing a rolled-back directory" in report.rows["T-SPOOF-1"].failures()[0]


def _wait_for_directory(deployment: Deployment, name: str) -> None:
    """Until every worker serves a directory naming the bureau ``name``.

    Each worker re-reads directory.json at most once a second, so after one worker serves the
    new name the others follow within a second; 20 answers in a row prove it.
    """
    deadline = time.monotonic() + 15
    in_a_row = 0
    while in_a_row < 20:
        assert time.monotonic() < deadline, "the server did not reload directory.json"
        served = json.loads(deployment.client.get("/v1/directory").raw)
        in_a_row = in_a_row + 1 if served["body"]["bureaus"][0]["name"] == name else 0
        time.sleep(0.1)


# --- a live log altered underneath the server ---------------------------------------------------


@contextmanager
def _live_database(deployment: Deployment) -> Iterator[Connection]:
    """The running server's own database, as an insider with its key would open it."""
    conn = _open(deployment.data)
    conn.execute("PRAGMA busy_timeout = 10000")
    try:
        yield conn
    finally:
        conn.close()


def test_a_rewritten_log_leaf_fails_tamp_2(audited: Audited) -> None:
    deployment = audited.deployment
    _audit(audited, "--server", deployment.url, exit_status=0)  # this auditor saves the head
    with _live_database(deployment) as conn:
        (leaf,) = conn.execute("SELECT leaf FROM log_leaves WHERE leaf_index = 0").fetchone()
        entry = json.loads(leaf)
        entry["day"] = "2020-01-01"  # still a well-formed entry, with another day
        conn.execute("UPDATE log_leaves SET leaf = ? WHERE leaf_index = 0", (cjson.encode(entry),))
    try:
        report = _audit(audited, "--server", deployment.url, exit_status=1)
    finally:
        with _live_database(deployment) as conn:
            conn.execute("UPDATE log_leaves SET leaf = ? WHERE leaf_index = 0", (leaf,))
    assert report.verdicts("FAIL") == {"T-TAMP-2"}
    assert report.rows["T-TAMP-2"].failures() == [
        "server:log-consistent: the entries do not hash to the signed root of size 2: the "
        "log's content was altered"
    ]


def test_a_checkpoint_signed_by_another_key_fails_spoof_5(audited: Audited) -> None:
    """A published checkpoint under an impostor key of the same name is refused, not saved."""
    deployment = audited.deployment
    published = deployment.data / "public" / "log" / "checkpoint"
    original = published.read_bytes()
    text, _ = note.split(original)
    impostor = note.Signer(text.split("\n", 1)[0], SigningKey.generate())
    published.write_bytes(note.sign(text, [impostor]))
    try:
        report = _audit(audited, "--server", deployment.url, exit_status=1)
    finally:
        published.write_bytes(original)
    assert "T-SPOOF-5" in report.verdicts("FAIL")
    assert "server:checkpoint-witnessed" in report.rows["T-SPOOF-5"].failing_checks()
    assert "no signature by a known key" in report.rows["T-SPOOF-5"].failures()[0]
    _audit(audited, "--server", deployment.url, exit_status=0)  # the forged one was not saved


# --- a reverse proxy in front of the server ------------------------------------------------------


Answer = tuple[int, dict[str, str], bytes]


def _faithful(method: str, path: str, answer: Answer) -> Answer:
    return answer


def _set_a_cookie(method: str, path: str, answer: Answer) -> Answer:
    status, headers, body = answer
    headers = {name: value for name, value in headers.items() if name != "cache-control"}
    return status, {**headers, "set-cookie": "proxy_session=1; Path=/"}, body


def _repeat_the_url(method: str, path: str, answer: Answer) -> Answer:
    """A helpful 404 page that names what was asked for: which id, then, is probed."""
    status, headers, body = answer
    if status == 404:
        message = f"nothing found at {path.split('?')[0]}"
        body = json.dumps({"error": {"code": "not_found", "message": message}}).encode()
    return status, headers, body


def _let_bureaus_in(method: str, path: str, answer: Answer) -> Answer:
    """An authenticating proxy that lets through what the server would have refused."""
    status, headers, _body = answer
    if path.startswith("/v1/bureaus/") and status == 401:
        return 200, headers, json.dumps({"petitions": [], "next_cursor": 0}).encode()
    return answer


def _show_tracebacks(method: str, path: str, answer: Answer) -> Answer:
    status, headers, _body = answer
    if method == "POST" and status == 400:
        trace = 'Traceback (most recent call last):\n  File "app.py", line 1\nValueError\n'
        return 500, {**headers, "content-type": "text/plain"}, trace.encode()
    return answer


def _add_tokens_to_entries(method: str, path: str, answer: Answer) -> Answer:
    status, headers, body = answer
    if path.startswith("/v1/log/entries") and status == 200:
        value = json.loads(body)
        entries = []
        for entry in value["entries"]:
            leaf = json.loads(cjson.b64decode(entry))
            leaf["token"] = cjson.b64encode(bytes(32))
            entries.append(cjson.b64encode(cjson.encode(leaf)))
        body = json.dumps({**value, "entries": entries}).encode()
    return status, headers, body


Spoil = Callable[[str, str, Answer], Answer]
_TOKEN_PATH = re.compile(r"/v1/bureaus/([a-z0-9-]+)/token")


class _Proxy(BaseHTTPRequestHandler):
    """Forwards every request to the real server, then spoils the answer with ``spoil``.

    A reverse proxy is where deployments add what the server itself never does: a session
    cookie, a cache, an error page that repeats the URL or shows a traceback, authentication
    of its own. With ``oracle``, it also answers protocol v1's token route itself, as a
    deployment that put a per-person service back in front of the server would (T-ID-3).
    """

    upstream: httpx.Client
    spoil: Spoil
    oracle: bool

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        content = self.rfile.read(length) if length else b""
        if self.oracle and self.command == "POST" and _TOKEN_PATH.fullmatch(self.path):
            # Any per-person answer will do: the audit must notice that the route answers.
            answer = {"evaluated_element": cjson.b64encode(hashlib.sha256(content).digest())}
            self._send(200, {"content-type": "application/json"}, json.dumps(answer).encode())
            return
        skip = {"host", "content-length", "connection", "accept-encoding"}
        upstream = self.upstream.request(
            self.command,
            self.path,
            content=content or None,
            headers={k: v for k, v in self.headers.items() if k.lower() not in skip},
        )
        hop = {"content-length", "transfer-encoding", "connection", "date", "server"}
        headers = {k.lower(): v for k, v in upstream.headers.items() if k.lower() not in hop}
        spoil = type(self).spoil
        self._send(
            *spoil(self.command, self.path, (upstream.status_code, headers, upstream.content))
        )

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = _forward
    do_POST = _forward

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads the audit's output, not the proxy's."""


@contextmanager
def _proxy(deployment: Deployment, spoil: Spoil, *, oracle: bool = False) -> Iterator[str]:
    with httpx.Client(base_url=deployment.url, timeout=30) as upstream:
        attributes = {"upstream": upstream, "spoil": spoil, "oracle": oracle}
        handler = type("Proxy", (_Proxy,), attributes)
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
            thread.join()


def test_a_faithful_proxy_changes_no_row(audited: Audited) -> None:
    """The spoiled answers below fail because of what the proxy does, not because of proxying."""
    with _proxy(audited.deployment, _faithful) as url:
        report = _audit(audited, "--server", url, exit_status=0)
    served = {threat for check in _checks() if check.needs != "data" for threat in check.threat_ids}
    assert report.verdicts("PASS") == served


PROXIES: dict[str, tuple[Spoil, bool, dict[str, set[str]]]] = {
    "sets a cookie": (_set_a_cookie, False, {"T-DET-2": {"server:no-cookies-no-store"}}),
    "repeats the URL in a 404": (
        _repeat_the_url, False, {"T-DET-3": {"server:status-probe-indistinguishable"}}
    ),
    "lets bureaus in": (
        _let_bureaus_in, False,
        {threat: {"server:bureau-auth-required"} for threat in ("T-SPOOF-4", "T-DD-7")},
    ),
    "shows tracebacks": (
        _show_tracebacks, False, {"T-DOS-3": {"server:malformed-requests-refused"}}
    ),
    "adds tokens to log entries": (
        _add_tokens_to_entries, False,
        {"T-LINK-2": {"server:log-entries-documented"}, "T-TAMP-2": {"server:log-consistent"}},
    ),
    "puts the v1 token oracle back": (
        _faithful, True,
        {threat: {"server:no-token-oracle"} for threat in ("T-ID-1", "T-ID-3")},
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(PROXIES))
def test_a_proxy_that_spoils_answers_fails_its_rows(audited: Audited, case: str) -> None:
    spoil, oracle, expected = PROXIES[case]
    with _proxy(audited.deployment, spoil, oracle=oracle) as url:
        report = _audit(audited, "--server", url, exit_status=1)
    assert report.verdicts("FAIL") == set(expected), report.result.stdout
    for threat, checks in expected.items():
        assert report.rows[threat].failing_checks() == checks, report.rows[threat]


# --- this device ------------------------------------------------------------------------------


def test_a_file_left_in_petition_home_fails_dd_4(audited: Audited, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(audited.deployment.homes["petitioner"], home)
    report = _audit(audited, "--home", str(home), exit_status=0)
    assert report.verdicts("PASS") == {"T-DD-4"}
    (home / "draft.txt").write_text(BODY, encoding="utf-8")
    (home / "receipts").mkdir()
    report = _audit(audited, "--home", str(home), exit_status=1)
    assert report.verdicts("FAIL") == {"T-DD-4"}
    assert report.rows["T-DD-4"].failures() == [
        "device:petition-home-clean: draft.txt is not client state (only config.json, "
        "directory.json, policy and audit/checkpoints-*.json are); receipts is a folder that is "
        "not client state"
    ]


# --- the protocol itself ----------------------------------------------------------------------


def test_every_check_serves_catalogued_threats_and_has_a_unique_id() -> None:
    checks = _checks()
    ids = [check.check_id for check in checks]
    assert len(ids) == len(set(ids))
    for check in checks:
        assert check.threat_ids
        assert set(check.threat_ids) <= set(THREAT_IDS), check.check_id
        prefix = {"server": "server:", "data": "data:", "device": "device:"}[check.needs]
        assert check.check_id.startswith(prefix), check.check_id
        assert check.description
    # The server's provider names the store audit's checks without importing it: keep in step.
    assert tuple(STORE_CHECKS) == CHECK_IDS
    assert {f"data:{check_id}" for check_id in CHECK_IDS} <= set(ids)


def _check(check_id: str, threat: str, outcome: CheckOutcome, needs: Any = "device") -> ThreatCheck:
    return ThreatCheck(check_id, (threat,), "a test check", needs, lambda _context: outcome)


CATALOGUE = (
    Threat("T-A-1", "STRIDE", "Spoofing", "a"),
    Threat("T-B-1", "STRIDE", "Spoofing", "b"),
    Threat("T-C-1", "STRIDE", "Spoofing", "c"),
    Threat("T-D-1", "STRIDE", "Spoofing", "d"),
)


def test_a_row_fails_on_any_failure_passes_on_one_pass_and_otherwise_says_why() -> None:
    checks = [
        _check("x:pass", "T-A-1", CheckOutcome.passing("fine")),
        _check("x:fail", "T-A-1", CheckOutcome.failing("broken")),
        _check("x:pass-2", "T-B-1", CheckOutcome.passing("fine")),
        _check("x:not-pinned", "T-B-1", CheckOutcome.cannot_run("no pin")),
        _check("x:not-pinned-2", "T-C-1", CheckOutcome.cannot_run("no pin")),
        _check("x:server", "T-C-1", CheckOutcome.passing("unused"), needs="server"),
    ]
    with CheckContext(options=argparse.Namespace()) as context:
        audit = evaluate(checks, context, CATALOGUE)
    rows = {row.threat.id: row for row in audit.rows}
    assert [row.threat.id for row in audit.rows] == [threat.id for threat in CATALOGUE]
    assert rows["T-A-1"].verdict is Verdict.FAIL
    assert [result.check.check_id for result in rows["T-A-1"].failures] == ["x:fail"]
    assert rows["T-B-1"].verdict is Verdict.PASS  # the check that could not run is not a FAIL
    assert rows["T-C-1"].verdict is Verdict.NOT_CHECKABLE
    assert rows["T-C-1"].reason == f"no pin; {NEEDS_SERVER}"
    assert rows["T-D-1"].reason == CODE_PROPERTY
    assert audit.failed


def test_broken_providers_are_refused() -> None:
    ok = CheckOutcome.passing("fine")
    with pytest.raises(ThreatCheckError, match="two threat checks"):
        all_checks([CheckProvider((_check("x:a", "T-DD-4", ok), _check("x:a", "T-DD-6", ok)))])
    with pytest.raises(ThreatCheckError, match="not in the threat catalogue"):
        all_checks([CheckProvider((_check("x:b", "T-NOPE-1", ok),))])
