"""``petition review`` through the CLI, with the receipt code alone and the identity typed again.

Three bureaus (national, guangdong, a county under guangdong). The petitioner's case is at the
county: while the county is within its time the command refuses in one line and sends nothing
(Art. 19); once the county has decided, the code typed at a no-echo prompt and the identity
typed again are enough to ask guangdong for a review, with the log proof of the decision. The
reviewing bureau's ``show`` verifies that proof; a request whose proof was tampered with is
reported as failing.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from harness import (
    PASSPHRASE,
    PETITION,
    THREE_LEVELS,
    RunningServer,
    Submission,
    start_server,
    stop_server,
)

from client.bureau import BureauKeys
from client.home import ClientHome
from client.petitioner import DECISION_PROOF, log_proof, plan_review
from client.session import NetworkOptions, Session, pin_server
from crypto import cjson
from crypto.case_event import DecisionOutcome, Detail, LogEntry
from crypto.document import Attachment, IdentityDocument
from crypto.keystore import write_keystore_file
from crypto.petition import open_case, seal_petition
from crypto.statutory import Event
from crypto.tlog_proof import TlogProof
from crypto.transfer import open_identity_section

COUNTY = "shenzhen-futian"
ID_NUMBER = "11010519491231002X"  # the harness seals every petition with this one


@dataclass
class World:
    server: RunningServer
    root: Path
    petitioner: Path  # PETITION_HOME of the petitioner
    bureau: Path  # PETITION_HOME of guangdong's staff
    keystore: Path  # guangdong's keystore (every key)
    passphrase: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("review")
    server = start_server(root, bureaus=THREE_LEVELS)
    try:
        homes = {}
        for role in ("petitioner", "bureau"):
            homes[role] = root / role
            pin_server(ClientHome(homes[role]), server.client.base,
                       server.authority_fingerprint, NetworkOptions())  # fmt: skip
        guangdong = server.bureaus["guangdong"]
        keys = BureauKeys(guangdong.bundle(), guangdong.identity, guangdong.case,
                          guangdong.signing, guangdong.token)  # fmt: skip
        keystore = root / "guangdong.keystore"
        write_keystore_file(
            keystore, keys.secrets(("identity-key", "case-key", "signing-key", "token-key")),
            PASSPHRASE,
        )  # fmt: skip
        passphrase = root / "passphrase"  # written by start_server
        yield World(server, root, homes["petitioner"], homes["bureau"], keystore, passphrase)
    finally:
        stop_server(server)


class Terminal:
    """A child process on a pty, driven like a person at the keyboard."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: the pty is its controlling terminal
            os.execvpe(args[0], args, env)  # noqa: S606
        self.pid, self.fd = pid, fd
        self.seen = b""

    def _read(self, timeout: float) -> bytes:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return b""
        try:
            return os.read(self.fd, 4096)
        except OSError:  # the child closed the terminal
            return b""

    def expect(self, pattern: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while re.search(pattern.encode(), self.seen) is None:
            assert time.monotonic() < deadline, f"no {pattern!r} in {self.seen.decode()}"
            self.seen += self._read(0.2)

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode() + b"\r")

    def finish(self, timeout: float = 120) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.seen += self._read(0.2)
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.seen += self._read(0.2)
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
        raise AssertionError("the command did not finish")


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "PETITION_HOME": str(home), **extra}
    env.pop("PETITION_DEBUG", None)
    return env


def _run(world: World, home: Path, *args: str, **extra: str) -> tuple[int, str]:
    result = subprocess.run(  # noqa: S603
        [*PETITION, *args], capture_output=True, text=True, timeout=120, env=_env(home, **extra),
        check=False,
    )  # fmt: skip
    assert "Traceback" not in result.stderr
    return result.returncode, result.stdout + result.stderr


def _submitted(server: RunningServer) -> Submission:
    submission = server.seal(COUNTY, body="拖欠工资，请求处理。")
    assert server.client.post("/v1/petitions", submission.body()).status == 201
    return submission


def _decide(server: RunningServer, submission: Submission) -> None:
    detail = Detail(outcome=DecisionOutcome.NOT_SUPPORTED)
    answer = server.post_event(submission, COUNTY, Event.DECIDED, detail=detail, message="不支持。")
    assert answer.status == 201, answer.raw


def _events(server: RunningServer, submission: Submission) -> list[LogEntry]:
    answer = server.client.get(
        f"/v1/petitions/{submission.petition_id}/status",
        headers={"Petition-Lookup-Key": cjson.b64encode(submission.secret.lookup_key())},
    )
    assert answer.status == 200, answer.raw
    return [LogEntry.from_json(item["entry"]) for item in answer.json["events"]]


def _show(world: World, petition_id: str) -> tuple[int, str]:
    return _run(world, world.bureau, "bureau", "show", petition_id, "--keystore",
                str(world.keystore), "--passphrase-file", str(world.passphrase))  # fmt: skip


def test_within_its_time_the_case_cannot_be_taken_up_and_nothing_is_sent(world: World) -> None:
    submission = _submitted(world.server)
    code, output = _run(world, world.petitioner, "review", PETITION_CODE=submission.secret.code,
                        PETITION_ID_NUMBER=ID_NUMBER)  # fmt: skip
    assert code != 0
    (line,) = output.strip().splitlines()
    assert "Art. 19" in line
    assert "Nothing was sent" in line
    assert [e.event for e in _events(world.server, submission)] == [Event.RECEIVED]


def test_after_the_decision_the_code_and_the_typed_identity_ask_the_next_level(
    world: World,
) -> None:
    server = world.server
    submission = _submitted(server)
    _decide(server, submission)
    terminal = Terminal([*PETITION, "review"], _env(world.petitioner))
    terminal.expect("Receipt code")
    terminal.type(submission.secret.code)
    terminal.expect("goes to 广东省信访局 \\(guangdong\\)")
    for prompt, answer in [  # the ID number first, as for `petition submit`
        ("Resident ID number", ID_NUMBER),
        ("Your real name", "张三"),
        ("How the bureau can reach you", "13800000000"),
        ("Region", "深圳"),
    ]:
        terminal.expect(prompt)
        terminal.type(answer)
    terminal.expect("finish with a line")
    terminal.type("县里的答复不对，请复查。")
    terminal.type(".")
    terminal.expect("Send this request to 广东省信访局 \\(guangdong\\) now\\? \\[y/N\\]")
    terminal.type("y")
    status = terminal.finish()
    shown = terminal.seen.decode(errors="replace")
    assert status == 0, shown
    assert submission.secret.code not in shown  # typed at a no-echo prompt
    assert ID_NUMBER not in shown
    assert "for a review of the answer of 深圳市福田区信访局" in shown
    assert re.search(r"must answer by \d{4}-\d\d-\d\d \(Art\. 35, 30 days\)", shown), shown
    events = _events(server, submission)
    assert [(e.event, e.bureau_id) for e in events][-1] == (Event.REVIEW_REQUESTED, "guangdong")

    # The reviewing bureau opens its copy: the case, the identity typed again (bound to the
    # pseudonym at guangdong), and the log proof of the county's decision, verified.
    code, output = _show(world, submission.petition_id)
    assert code == 0, output
    decided = events[1]
    verified = f"{DECISION_PROOF}: log proof: verified (decided on {decided.day.isoformat()} by"
    assert f"{verified} {COUNTY};" in output
    assert "Subject:    复查申请" in output
    assert "Respondent: 深圳市福田区信访局" in output
    assert "Token binding: ✓" in output

    # Guangdong answers with the new command; the petitioner's status then shows the opinion.
    keystore = ("--keystore", str(world.keystore), "--passphrase-file", str(world.passphrase))
    code, output = _run(world, world.bureau, "bureau", "reviewed", submission.petition_id,
                        "--outcome", "upheld", "--message", "维持原答复。", *keystore)  # fmt: skip
    assert code == 0, output
    code, output = _run(world, world.petitioner, "status", PETITION_CODE=submission.secret.code)
    assert code == 0, output
    assert "reviewed at 广东省信访局 (guangdong): upheld" in output
    assert "维持原答复。" in output


def test_a_tampered_log_proof_is_reported_as_failing(world: World) -> None:
    """The same request made by hand with the decision's proof altered (the outcome changed in
    the entry it carries): guangdong's `show` says the proof fails, and exits non-zero."""
    server = world.server
    submission = _submitted(server)
    _decide(server, submission)
    with Session.open(ClientHome(world.petitioner), NetworkOptions()) as session:
        plan, _, reason = plan_review(session, submission.secret)
        assert plan is not None, reason
        proof = log_proof(session, plan)
    parsed = TlogProof.parse(proof)
    assert parsed.extra is not None
    assert b'"not_supported"' in parsed.extra
    altered = parsed.extra.replace(b'"not_supported"', b'"supported"', 1)
    tampered = replace(parsed, extra=altered).to_text()
    county = server.bureaus[COUNTY]
    identity = open_identity_section(submission.envelope, county.identity, COUNTY)
    assert isinstance(identity, IdentityDocument)
    _, case = open_case(submission.envelope, county.case, COUNTY)
    guangdong = server.bureaus["guangdong"]
    request = replace(
        case,
        subject="复查申请",
        respondent="深圳市福田区信访局",
        id_prehash=guangdong.prehash_for(ID_NUMBER),
        attachments=(Attachment(DECISION_PROOF, "text/plain", tampered),),
    )
    sealed = seal_petition(identity, request, guangdong.bundle().sealing_keys())
    answer = server.post_review(submission, Submission(guangdong, sealed, b"", submission.secret))
    assert answer.status == 201, answer.raw

    code, output = _show(world, submission.petition_id)
    assert code == 1, output
    assert f"{DECISION_PROOF}: log proof: ✗ FAILED" in output
    assert "log proof: verified" not in output
