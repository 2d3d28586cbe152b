"""T-TAMP-3: a split view, different logs shown to different people, built for real.

The operator holds the log key (docs/threat-model.md, ADV-OPERATOR). So it can fork its log: one
deployment takes a few petitions; the server stops; its data directory is copied (the copy has
the same log key, database key and directory); the original restarts and a second ``petition
serve`` runs on the copy. From then on each server accepts different petitions, so two logs grow
from one shared history, both signed by the one log key the directory names.

Auditor A audits server 1 and auditor B server 2, each with its own PETITION_HOME, pinned to the
same authority. Each alone passes ``petition audit log``: every head it is shown extends every
head it saw before, and the entries hash to the root. Only comparing catches the fork:
``petition audit export-heads`` / ``petition audit compare``. Without the comparison (the
``defence-off`` run simply does not compare: that is exactly what the defence's absence leaves),
the split view goes unnoticed, which is why the threat model says that auditors must compare.

The client commands run through ``petition.cli.main``, the console script's entry point, in this
process: the same code as the installed program without a subprocess's start-up cost. The
petitions are submitted with the petitioner's client library (the code behind ``petition
submit``) for the same reason.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from adversary import Defence
from deployment import BUREAU_ID, Deployment, deploy
from harness import launch

from client.auditor import HeadFile, read_heads_file
from client.home import ClientHome
from client.petitioner import PetitionForm, Progress, submit_petition
from client.session import NetworkOptions, Session, verify_directory
from client.transport import Transport
from crypto.keys import VerifyKey
from crypto.objects import TreeHead
from petition.cli import main

ID_NUMBER = "110101199003071751"
SHARED_HISTORY = 2  # petitions both servers hold before the fork


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


@dataclass
class Fork:
    """One log forked in two: both servers sign with the same log key."""

    deployment: Deployment
    first: str  # server 1: the original data directory, restarted
    second: str  # server 2: the copy
    processes: list[subprocess.Popen[bytes]]

    def submit(self, server: str, count: int) -> None:
        """``count`` new petitions to one server only, so the two logs diverge."""
        home = ClientHome(self.deployment.homes["petitioner"])
        config = replace(home.load_config(), server=server)
        with Session(home, config, NetworkOptions()) as session:
            for _ in range(count):
                form = PetitionForm(
                    bureau_id=BUREAU_ID, real_name="王五", id_number=ID_NUMBER,
                    contact="13700000000", subject="分叉", body=f"发往 {server} 的请愿",
                    category="其他", region="北京",
                )  # fmt: skip
                submit_petition(session, form, Progress())


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server this module started; SIGKILL to its process group if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def fork(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fork]:
    root = tmp_path_factory.mktemp("split")
    deployment = deploy(root)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        Fork(deployment, deployment.url, "", processes).submit(deployment.url, SHARED_HISTORY)
        deployment.stop()
        copy = root / "copy"
        shutil.copytree(deployment.data, copy, ignore=shutil.ignore_patterns("run"))
        first, client1, _ = launch(deployment.data, root / "server1.log")
        processes.append(first)
        second, client2, _ = launch(copy, root / "server2.log")
        processes.append(second)
        yield Fork(deployment, client1.base, client2.base, processes)
    finally:
        for process in processes:
            _stop(process)
        deployment.stop()


@pytest.fixture(scope="module")
def same_size(fork: Fork) -> Fork:
    """One different petition to each server: two logs of the same size, different roots."""
    fork.submit(fork.first, 1)
    fork.submit(fork.second, 1)
    return fork


@pytest.fixture(scope="module")
def different_sizes(fork: Fork) -> Fork:
    """Server 2 takes two more, server 1 three more: server 1's log is the longer one."""
    fork.submit(fork.second, 2)
    fork.submit(fork.first, 3)
    return fork


@pytest.fixture
def petition(capsys: pytest.CaptureFixture[str]) -> _Petition:
    return _Petition(capsys)


class _Petition:
    """``petition ARGS`` through the console script's entry point, output captured."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys

    def __call__(self, *args: str) -> Ran:
        self._capsys.readouterr()
        code = main(list(args))
        captured = self._capsys.readouterr()
        assert "Traceback" not in captured.err
        return Ran(code, captured.out, captured.err)

    def auditor(self, fork: Fork, home: Path, server: str) -> Path:
        """A new auditor of ``server``, pinned to the one authority both servers share."""
        trust = self("init", "--server", server, "--trust", fork.deployment.fingerprint,
                     "--home", str(home))  # fmt: skip
        assert trust.code == 0, trust.err
        return home


def _log_key(server: str, authority_home: Path) -> VerifyKey:
    """The log key the directory names, verified with the pinned authority key."""
    config = ClientHome(authority_home).load_config()
    with Transport(server) as transport:
        wire = transport.call("GET", "/v1/directory").body
    return verify_directory(wire, VerifyKey(config.authority_key)).log_key


def _heads(heads_file: HeadFile, log_key: VerifyKey) -> list[TreeHead]:
    return [TreeHead.from_json(signed.verify(log_key)) for signed in heads_file.heads]


@pytest.mark.threat("T-TAMP-3")
def test_a_split_view_of_the_same_size_is_caught_when_auditors_compare(
    same_size: Fork, defence: Defence, petition: _Petition, tmp_path: Path
) -> None:
    fork = same_size
    a = petition.auditor(fork, tmp_path / "auditor-a", fork.first)
    b = petition.auditor(fork, tmp_path / "auditor-b", fork.second)

    # Each auditor alone: the log it is shown is append-only and its entries hash to the root.
    alone_a = petition("audit", "log", "--home", str(a))
    alone_b = petition("audit", "log", "--home", str(b))
    assert alone_a.code == alone_b.code == 0, alone_a.err + alone_b.err
    size = SHARED_HISTORY + 1
    assert f": {size} entries" in alone_a.out
    assert f": {size} entries" in alone_b.out

    detected = False
    if defence.on:  # the auditors exchange the heads they accepted and compare them
        exported_b = petition("audit", "export-heads", "--out", str(tmp_path / "b.json"),
                              "--home", str(b))  # fmt: skip
        exported_a = petition("audit", "export-heads", "--out", str(tmp_path / "a.json"),
                              "--home", str(a))  # fmt: skip
        assert exported_a.code == exported_b.code == 0, exported_a.err + exported_b.err
        compared = petition("audit", "compare", str(tmp_path / "b.json"), "--home", str(a))
        detected = compared.code != 0
        assert compared.code == 1, compared.out + compared.err
        split = [line for line in compared.out.splitlines() if line.startswith("SPLIT VIEW: ")]
        assert len(split) == 1, compared.out
        assert f"two heads of size {size}" in split[0]

        # The two heads are the evidence: both verify with the log key the authority vouches
        # for, same size, different roots. Nobody but the log key's holder could make the pair.
        log_key = _log_key(fork.first, a)
        assert log_key == _log_key(fork.second, b)
        (head_a,) = [h for h in _heads(read_heads_file(tmp_path / "a.json"), log_key)
                     if h.tree_size == size]  # fmt: skip
        (head_b,) = [h for h in _heads(read_heads_file(tmp_path / "b.json"), log_key)
                     if h.tree_size == size]  # fmt: skip
        assert head_a.root_hash != head_b.root_hash
        assert head_a.root_hash.hex() in split[0]
        assert head_b.root_hash.hex() in split[0]
        assert "signed by the log key" in split[0]
        # After a finding the history is left as it was: B's forked head is not adopted.
        assert len(ClientHome(a).load_heads(log_key.fingerprint)) == 1

    defence.judge(not detected, "a split view shown to two auditors")


@pytest.mark.threat("T-TAMP-3")
def test_a_fork_of_different_sizes_fails_because_no_server_can_prove_it_consistent(
    different_sizes: Fork, defence: Defence, petition: _Petition, tmp_path: Path
) -> None:
    fork = different_sizes
    a = petition.auditor(fork, tmp_path / "auditor-a", fork.first)
    b = petition.auditor(fork, tmp_path / "auditor-b", fork.second)
    alone_a = petition("audit", "log", "--home", str(a))
    alone_b = petition("audit", "log", "--home", str(b))
    assert alone_a.code == alone_b.code == 0, alone_a.err + alone_b.err

    detected = False
    if defence.on:
        for home, name in ((a, "a.json"), (b, "b.json")):
            exported = petition("audit", "export-heads", "--out", str(tmp_path / name),
                                "--home", str(home))  # fmt: skip
            assert exported.code == 0, exported.err
        # Server 1 holds a longer log; it cannot prove that it extends B's (forked) head...
        by_first = petition("audit", "compare", str(tmp_path / "b.json"), "--home", str(a))
        # ...and server 2's log is shorter than A's head: it cannot prove anything about it.
        by_second = petition("audit", "compare", str(tmp_path / "a.json"), "--home", str(b))
        detected = by_first.code != 0 and by_second.code != 0
        assert by_first.code == by_second.code == 1, by_first.out + by_second.out
        assert "SPLIT VIEW" not in by_first.out + by_second.out  # no two heads of one size
        (fail_first,) = [line for line in by_first.out.splitlines() if line.startswith("FAIL: ")]
        assert "consistency proof does not verify" in fail_first, fail_first
        (fail_second,) = [line for line in by_second.out.splitlines() if line.startswith("FAIL")]
        assert "the server refused to prove it" in fail_second, fail_second

    defence.judge(not detected, "a fork of different sizes shown to two auditors")
