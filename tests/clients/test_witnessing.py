"""Witnesses and trust policies through the real ``petition`` program against a real server.

The directory's policy names two witnesses and requires both (``petition admin add-witness
--quorum 2``): ``w1`` is a real ``petition witness serve``, ``w2`` never answers. So every
checkpoint carries the log's signature and w1's cosignature, one short of the quorum:

* the petitioner is told the petition was accepted (the log's signature proves it) and that the
  receipt is not yet witnessed, "1 of 2 witness cosignatures missing"; ``petition status`` says
  the same of the receipt it fetches;
* an auditor refuses the checkpoint as "not witnessed as the policy requires";
* a person who trusts w1 alone says so in a local policy (``--policy FILE`` or
  ``PETITION_HOME/policy``), and the same commands then report the receipt and the log as
  witnessed by w1; a local policy naming another log is refused in one line.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from deployment import BUREAU_ID, Deployment, deploy
from harness import PASSPHRASE, PETITION, Client, checkpoint_size, free_port

from client.home import ClientHome
from client.petitioner import load_receipt
from client.session import verify_directory
from client.transport import Transport
from crypto import note
from crypto.cosignature import CosignatureVerifier, Cosigner
from crypto.keys import VerifyKey
from crypto.objects import Directory
from crypto.tlog_policy import Policy

ID_NUMBER = "11010519491231002X"
CODE_LINE = re.compile(r"^\s*(1[0-9A-Z]{3}(?:-[0-9A-Z]{4}){6})\s*$", re.MULTILINE)


@dataclass
class Witnessed:
    deployment: Deployment
    witness: subprocess.Popen[bytes]
    w1: tuple[str, CosignatureVerifier, str]  # name in the policy, key, URL
    w2: tuple[str, CosignatureVerifier, str]

    @property
    def log(self) -> note.Verifier:
        return _directory(self.deployment).log_vkey

    def policy_file(self, path: Path, threshold: int, log: note.Verifier | None = None) -> Path:
        """A local policy with both witnesses and ``threshold`` of them required."""
        policy = Policy.single_log(log or self.log, [self.w1, self.w2], threshold)
        path.write_bytes(policy.to_text())
        return path


def _directory(deployment: Deployment) -> Directory:
    """The directory, verified with the authority key the auditor pinned."""
    config = ClientHome(deployment.homes["auditor"]).load_config()
    with Transport(deployment.url) as transport:
        wire = transport.call("GET", "/v1/directory").body
    return verify_directory(wire, VerifyKey(config.authority_key))


def _run(*args: str, cwd: Path) -> str:
    result = subprocess.run(  # noqa: S603  (our own program)
        [*PETITION, *args], capture_output=True, text=True, timeout=120, cwd=cwd, check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("PETITION_")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def witnessed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Witnessed]:
    root = tmp_path_factory.mktemp("witnessed")
    deployment = deploy(root)
    process: subprocess.Popen[bytes] | None = None
    try:
        data = root / "witness"
        created = _run("witness", "init", "--data", str(data), "--name",
                       "witness.example.org/w1", cwd=root)  # fmt: skip
        w1_key = CosignatureVerifier.from_vkey(created.splitlines()[-1].strip())
        _run("witness", "add-log", "--data", str(data), _directory(deployment).log_vkey.to_vkey(),
             cwd=root)  # fmt: skip
        port = free_port()
        with (root / "witness.log").open("ab") as sink:
            process = subprocess.Popen(  # noqa: S603  (our own program)
                [*PETITION, "witness", "serve", "--data", str(data), "--port", str(port)],
                stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (root / "witness.log").read_text()
            with contextlib.suppress(OSError):
                if Client(url).get("/" + "0" * 64 + "/checkpoint").status == 404:
                    break
            assert time.monotonic() < deadline, "the witness did not start"
            time.sleep(0.05)
        w1 = ("w1", w1_key, url)
        # w2 is named, but nothing ever listens at its address.
        w2 = ("w2", Cosigner.generate("witness.example.org/w2").verifier(),
              f"http://127.0.0.1:{free_port()}")  # fmt: skip
        authority = ("--data", str(deployment.data), "--passphrase-file",
                     str(deployment.passphrase_file))  # fmt: skip
        _run("admin", "add-witness", *authority, w1[0], w1[1].to_vkey(), w1[2], "--quorum", "1",
             cwd=root)  # fmt: skip
        _run("admin", "add-witness", *authority, w2[0], w2[1].to_vkey(), w2[2], "--quorum", "2",
             cwd=root)  # fmt: skip
        yield Witnessed(deployment, process, w1, w2)
    finally:
        if process is not None:
            _stop(process)
        deployment.stop()


def _settle(deployment: Deployment, size: int) -> None:
    """Wait until every worker serves a checkpoint of ``size``: an HTTP worker re-reads the
    published checkpoint at most once a second."""
    time.sleep(1.2)
    assert checkpoint_size(deployment.client) == size


@dataclass(frozen=True)
class Submitted:
    code: str
    receipt_file: Path
    out: str


@pytest.fixture(scope="module")
def submitted(witnessed: Witnessed, tmp_path_factory: pytest.TempPathFactory) -> Submitted:
    deployment = witnessed.deployment
    tmp = tmp_path_factory.mktemp("submitted")
    body = tmp / "body.txt"
    body.write_text("见证人测试", encoding="utf-8")
    receipt_file = tmp / "receipt.keystore"
    out = deployment.ok(
        "petitioner", "submit", "--bureau", BUREAU_ID, "--name", "张三", "--id-number", ID_NUMBER,
        "--contact", "13800000000", "--subject", "见证", "--category", "其他", "--region", "北京",
        "--body-file", str(body), "--no-qr", "--save-receipt", str(receipt_file),
        "--passphrase-file", str(deployment.passphrase_file),
    )  # fmt: skip
    found = CODE_LINE.search(out)
    assert found is not None, out
    _settle(deployment, 1)
    return Submitted(found.group(1), receipt_file, out)


def test_a_petition_is_accepted_and_said_to_be_not_yet_witnessed(submitted: Submitted) -> None:
    out = submitted.out
    assert "receipt verified: signed by the log, entry 1 of a log of 1; not yet witnessed: " in out
    assert "1 of 2 witness cosignatures missing" in out
    assert "The petition was accepted: the log's signature proves it." in out


def test_status_verifies_its_receipt_under_the_policy_in_force(
    witnessed: Witnessed, submitted: Submitted, tmp_path: Path
) -> None:
    deployment = witnessed.deployment
    status = deployment.ok("petitioner", "status", submitted.code)
    assert "Receipt verified: entry 1 of a log of 1, not yet witnessed: 1 of 2" in status

    one = witnessed.policy_file(tmp_path / "w1.policy", 1)
    trusting_w1 = deployment.ok("petitioner", "status", submitted.code, "--policy", str(one))
    assert "Receipt verified: entry 1 of a log of 1, witnessed by w1" in trusting_w1

    # The same policy kept in PETITION_HOME applies to every command without the flag.
    kept = deployment.homes["petitioner"] / "policy"
    kept.write_bytes(one.read_bytes())
    kept.chmod(0o600)
    try:
        assert "witnessed by w1" in deployment.ok("petitioner", "status", submitted.code)
    finally:
        kept.unlink()


def test_the_auditor_refuses_a_checkpoint_short_of_the_quorum(
    witnessed: Witnessed, submitted: Submitted, tmp_path: Path
) -> None:
    deployment = witnessed.deployment
    refused = deployment.run("auditor", "audit", "log")
    assert refused.returncode == 1, refused.stdout
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert "the log's checkpoint of size 1 is not witnessed as the policy requires" in (
        refused.stderr
    )
    assert "group witnesses needs 1 more of w2" in refused.stderr
    one = witnessed.policy_file(tmp_path / "w1.policy", 1)
    accepted = deployment.ok("auditor", "audit", "log", "--policy", str(one))
    assert "witnessed by w1 (policy: " in accepted

    receipt = deployment.run("auditor", "audit", "receipt", submitted.code)
    assert receipt.returncode == 1
    assert "current checkpoint of size 1 is not witnessed as the policy requires" in receipt.stderr
    proven = deployment.ok("auditor", "audit", "receipt", submitted.code, "--policy", str(one))
    assert "still in the log" in proven
    assert "witnessed by w1" in proven


def test_a_receipt_file_is_checked_online_and_offline(
    witnessed: Witnessed, submitted: Submitted, tmp_path: Path
) -> None:
    deployment = witnessed.deployment
    _, receipt = load_receipt(submitted.receipt_file, PASSPHRASE)
    assert receipt.startswith(b"c2sp.org/tlog-proof@v1\nextra ")
    proof = tmp_path / "petition.tlog-proof"
    proof.write_bytes(receipt)
    one = witnessed.policy_file(tmp_path / "w1.policy", 1)
    online = deployment.ok("auditor", "audit", "receipt", str(proof), "--policy", str(one))
    assert "still in the log" in online
    offline = deployment.ok(
        "auditor", "audit", "receipt", str(proof), "--policy", str(one), "--offline"
    )
    assert "verified offline" in offline
    assert "witnessed by w1" in offline
    both = witnessed.policy_file(tmp_path / "both.policy", 2)
    short = deployment.run("auditor", "audit", "receipt", str(proof), "--policy", str(both),
                           "--offline")  # fmt: skip
    assert short.returncode == 1
    assert "is signed by the log but not witnessed as the policy requires" in short.stderr


def test_a_local_policy_for_another_log_is_refused_in_one_line(
    witnessed: Witnessed, submitted: Submitted, tmp_path: Path
) -> None:
    deployment = witnessed.deployment
    other = note.Signer.generate(witnessed.log.name).verifier()
    wrong = witnessed.policy_file(tmp_path / "other.policy", 0, log=other)
    for role, args in (
        ("petitioner", ("status", submitted.code)),
        ("auditor", ("audit", "log")),
        ("auditor", ("audit", "receipt", submitted.code)),
    ):
        result = deployment.run(role, *args, "--policy", str(wrong))
        assert result.returncode == 1, result.stdout
        assert result.stderr.count("\n") == 1, result.stderr
        assert "not the log the directory names" in result.stderr
        assert "refusing it" in result.stderr
