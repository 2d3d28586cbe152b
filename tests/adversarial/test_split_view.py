"""T-TAMP-3: a split view, different logs shown to different people, built for real.

The operator holds the log key (docs/threat-model.md, ADV-OPERATOR). So it can fork its log: one
deployment takes a few petitions; the server stops; its data directory is copied (the copy has
the same log key, database key and directory); the original restarts and a second ``petition
serve`` runs on the copy. From then on each server accepts different petitions, so two logs grow
from one shared history, both signed by the one log key the directory names.

The deployment has a witness (``petition witness serve``, an observer's process) and the
directory's policy requires its cosignature (``petition admin add-witness --quorum 1``). The
witness cosigns a checkpoint only if it extends the last one it cosigned, so of two forked
histories at most one is ever witnessed: the other server's checkpoints carry the log's
signature alone.

Auditor A audits server 1 and auditor B server 2, each with its own PETITION_HOME, pinned to the
same authority. Two defences catch the fork, each on its own:

* the policy: B's ``petition audit log`` refuses server 2's checkpoint as "not witnessed as the
  policy requires" (and petitioners of server 2 are told theirs is "not yet witnessed");
* comparing: auditors who do not rely on witnesses (a local ``quorum none`` policy) each pass
  ``petition audit log`` alone, but ``petition audit export-checkpoints`` / ``petition audit
  compare`` shows the two histories.

The ``defence-off`` run takes both away: the auditors check with ``quorum none`` (the witnesses
disabled) and do not compare. Then each auditor's log is append-only and hashes to its root,
and the split view goes unnoticed, which is why the policy names witnesses and the threat model
says that auditors without them must compare.

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
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from adversary import Defence
from deployment import BUREAU_ID, Deployment, deploy
from harness import PETITION, Client, checkpoint_size, free_port, launch

from client.auditor import CheckpointFile, read_checkpoints_file
from client.home import ClientHome
from client.petitioner import PetitionForm, Progress, submit_petition
from client.session import NetworkOptions, Session, verify_directory
from client.transport import Transport
from crypto import note
from crypto.checkpoint import Checkpoint, open_checkpoint
from crypto.keys import VerifyKey
from crypto.objects import Directory, default_policy
from petition.cli import main

ID_NUMBER = "110101199003071751"
SHARED_HISTORY = 2  # petitions both servers hold before the fork
WITNESS = "w1"  # the witness's name in the directory's policy
WITNESS_START_TIMEOUT = 30.0


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


@dataclass
class Fork:
    """One log forked in two: both servers sign with the same log key; one witness."""

    deployment: Deployment
    first: str  # server 1: the original data directory, restarted
    second: str  # server 2: the copy
    processes: list[subprocess.Popen[bytes]]
    #: For each server, whether each petition's receipt was witnessed as the policy requires.
    witnessed: dict[str, list[bool]] = field(default_factory=dict)

    def submit(self, server: str, count: int) -> None:
        """``count`` new petitions to one server only, so the two logs diverge.

        Then wait until the server's every worker serves the checkpoint of the last receipt
        (an HTTP worker re-reads it at most once a second), so an auditor sees the size
        expected.
        """
        home = ClientHome(self.deployment.homes["petitioner"])
        config = replace(home.load_config(), server=server)
        size = 0
        with Session(home, config, NetworkOptions()) as session:
            for _ in range(count):
                form = PetitionForm(
                    bureau_id=BUREAU_ID, real_name="王五", id_number=ID_NUMBER,
                    contact="13700000000", subject="分叉", body=f"发往 {server} 的请愿",
                    category="其他", region="北京",
                )  # fmt: skip
                result = submit_petition(session, form, Progress())
                self.witnessed.setdefault(server, []).append(result.witnessing.witnessed)
                size = result.checkpoint_size
        time.sleep(1.2)
        assert checkpoint_size(Client(server)) == size


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to a process this module started; SIGKILL to its process group if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _petition(*args: str, cwd: Path) -> str:
    """``petition ARGS`` as a separate process (the operator's and the witness's commands)."""
    result = subprocess.run(  # noqa: S603  (our own program)
        [*PETITION, *args], capture_output=True, text=True, timeout=120, cwd=cwd, check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("PETITION_")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def _start_witness(root: Path, log: note.Verifier) -> tuple[subprocess.Popen[bytes], str]:
    """A witness that trusts the deployment's log, serving on a free port; its policy line."""
    data = root / "witness"
    created = _petition("witness", "init", "--data", str(data), "--name",
                        "witness.example.org/w1", cwd=root)  # fmt: skip
    vkey = created.splitlines()[-1].strip()
    _petition("witness", "add-log", "--data", str(data), log.to_vkey(), cwd=root)
    port = free_port()
    with (root / "witness.log").open("ab") as sink:
        process = subprocess.Popen(  # noqa: S603  (our own program)
            [*PETITION, "witness", "serve", "--data", str(data), "--port", str(port)],
            stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + WITNESS_START_TIMEOUT
    while True:
        assert process.poll() is None, (root / "witness.log").read_text()
        with contextlib.suppress(OSError):
            if Client(url).get("/" + "0" * 64 + "/checkpoint").status == 404:
                return process, f"{vkey} {url}"
        if time.monotonic() > deadline:
            _stop(process)
            raise AssertionError("the witness did not start in time")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def fork(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fork]:
    root = tmp_path_factory.mktemp("split")
    deployment = deploy(root)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        log = _directory(deployment.url, deployment.homes["auditor"]).log_vkey
        witness, line = _start_witness(root, log)
        processes.append(witness)
        vkey, url = line.split(" ")
        # The authority names the witness in the directory's policy and requires it.
        _petition("admin", "add-witness", "--data", str(deployment.data), "--passphrase-file",
                  str(deployment.passphrase_file), WITNESS, vkey, url, "--quorum", "1",
                  cwd=root)  # fmt: skip
        shared = Fork(deployment, deployment.url, "", processes)
        shared.submit(deployment.url, SHARED_HISTORY)
        assert shared.witnessed[deployment.url] == [True] * SHARED_HISTORY
        deployment.stop()
        copy = root / "copy"
        shutil.copytree(deployment.data, copy, ignore=shutil.ignore_patterns("run"))
        first, client1, _ = launch(deployment.data, root / "server1.log")
        processes.append(first)
        second, client2, _ = launch(copy, root / "server2.log")
        processes.append(second)
        yield Fork(deployment, client1.base, client2.base, processes)
    finally:
        for process in reversed(processes):
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

    def __call__(self, *args: str | Path) -> Ran:
        self._capsys.readouterr()
        code = main([str(arg) for arg in args])
        captured = self._capsys.readouterr()
        assert "Traceback" not in captured.err
        return Ran(code, captured.out, captured.err)

    def auditor(self, fork: Fork, home: Path, server: str) -> Path:
        """A new auditor of ``server``, pinned to the one authority both servers share."""
        trust = self("init", "--server", server, "--trust", fork.deployment.fingerprint,
                     "--home", str(home))  # fmt: skip
        assert trust.code == 0, trust.err
        return home


def _directory(server: str, home: Path) -> Directory:
    """The directory, verified with the pinned authority key."""
    config = ClientHome(home).load_config()
    with Transport(server) as transport:
        wire = transport.call("GET", "/v1/directory").body
    return verify_directory(wire, VerifyKey(config.authority_key))


def _without_witnesses(fork: Fork, tmp_path: Path) -> Path:
    """A local policy with the directory's log and ``quorum none``: the witnesses disabled."""
    log = _directory(fork.first, fork.deployment.homes["auditor"]).log_vkey
    path = tmp_path / "quorum-none.policy"
    path.write_bytes(default_policy(log))
    return path


def _checkpoints(checkpoint_file: CheckpointFile, log: note.Verifier) -> list[Checkpoint]:
    return [open_checkpoint(message, [log])[0] for message in checkpoint_file.checkpoints]


@pytest.mark.threat("T-TAMP-3")
def test_a_split_view_of_the_same_size_is_caught_when_auditors_compare(
    same_size: Fork, defence: Defence, petition: _Petition, tmp_path: Path
) -> None:
    fork = same_size
    size = SHARED_HISTORY + 1
    none = _without_witnesses(fork, tmp_path)
    a = petition.auditor(fork, tmp_path / "auditor-a", fork.first)
    b = petition.auditor(fork, tmp_path / "auditor-b", fork.second)

    # Without witnesses, each auditor alone: its log is append-only, its entries hash to the root.
    alone_a = petition("audit", "log", "--policy", none, "--home", a)
    alone_b = petition("audit", "log", "--policy", none, "--home", b)
    assert alone_a.code == alone_b.code == 0, alone_a.err + alone_b.err
    assert f": {size} entries" in alone_a.out
    assert f": {size} entries" in alone_b.out

    detected = False
    if defence.on:
        # The policy: the witness cosigned server 1's checkpoint of this size, so it refused
        # server 2's. Server 2's petitioner was told; its auditor refuses the checkpoint.
        assert fork.witnessed[fork.first][-1] is True
        assert fork.witnessed[fork.second] == [False]
        a_policy = petition.auditor(fork, tmp_path / "auditor-a-policy", fork.first)
        witnessed_a = petition("audit", "log", "--home", a_policy)
        assert witnessed_a.code == 0, witnessed_a.err
        assert f"witnessed by {WITNESS}" in witnessed_a.out
        witnessed_b = petition("audit", "log", "--home", b)
        assert witnessed_b.code == 1, witnessed_b.out
        assert f"checkpoint of size {size} is not witnessed as the policy requires" in (
            witnessed_b.err
        )
        by_policy = witnessed_b.code != 0

        # Comparing: the auditors exchange the checkpoints they accepted.
        exported_b = petition("audit", "export-checkpoints", "--out", tmp_path / "b.json",
                              "--home", b)  # fmt: skip
        exported_a = petition("audit", "export-checkpoints", "--out", tmp_path / "a.json",
                              "--home", a)  # fmt: skip
        assert exported_a.code == exported_b.code == 0, exported_a.err + exported_b.err
        # (The comparison needs no witness; with the directory's policy it shows who cosigned.)
        compared = petition("audit", "compare", tmp_path / "b.json", "--home", a)
        assert compared.code == 1, compared.out + compared.err
        split = [line for line in compared.out.splitlines() if line.startswith("SPLIT VIEW: ")]
        assert len(split) == 1, compared.out
        assert f"two checkpoints of size {size}" in split[0]
        by_comparison = compared.code != 0

        # The two checkpoints are the evidence: both verify with the log key the authority
        # vouches for, same size, different roots. Nobody but the log key's holder could make
        # the pair; the witness's cosignature is on one of them only.
        log = _directory(fork.first, a).log_vkey
        assert log == _directory(fork.second, b).log_vkey
        (mine,) = [c for c in _checkpoints(read_checkpoints_file(tmp_path / "a.json"), log)
                   if c.size == size]  # fmt: skip
        (theirs,) = [c for c in _checkpoints(read_checkpoints_file(tmp_path / "b.json"), log)
                     if c.size == size]  # fmt: skip
        assert mine.root_hash != theirs.root_hash
        assert mine.root_hash.hex() in split[0]
        assert theirs.root_hash.hex() in split[0]
        assert "signed by the log key" in split[0]
        assert f"witnessed by {WITNESS}" in split[0]
        assert "not yet witnessed: 1 of 1 witness cosignatures missing" in split[0]
        # After a finding the history is left as it was: B's forked checkpoint is not adopted.
        assert len(ClientHome(a).load_checkpoints(log)) == 1
        detected = by_policy and by_comparison

    defence.judge(not detected, "a split view shown to two auditors")


@pytest.mark.threat("T-TAMP-3")
def test_a_fork_of_different_sizes_fails_because_no_server_can_prove_it_consistent(
    different_sizes: Fork, defence: Defence, petition: _Petition, tmp_path: Path
) -> None:
    fork = different_sizes
    none = _without_witnesses(fork, tmp_path)
    a = petition.auditor(fork, tmp_path / "auditor-a", fork.first)
    b = petition.auditor(fork, tmp_path / "auditor-b", fork.second)
    alone_a = petition("audit", "log", "--policy", none, "--home", a)
    alone_b = petition("audit", "log", "--policy", none, "--home", b)
    assert alone_a.code == alone_b.code == 0, alone_a.err + alone_b.err

    detected = False
    if defence.on:
        # The policy: server 2's log never extends what the witness cosigned (server 1's).
        assert fork.witnessed[fork.second][-2:] == [False, False]
        assert fork.witnessed[fork.first][-3:] == [True, True, True]
        witnessed_b = petition("audit", "log", "--home", b)
        assert witnessed_b.code == 1, witnessed_b.out
        assert "not witnessed as the policy requires" in witnessed_b.err
        by_policy = witnessed_b.code != 0

        for home, name in ((a, "a.json"), (b, "b.json")):
            exported = petition("audit", "export-checkpoints", "--out", tmp_path / name,
                                "--home", home)  # fmt: skip
            assert exported.code == 0, exported.err
        # Server 1 holds a longer log; it cannot prove that it extends B's (forked) checkpoint...
        by_first = petition("audit", "compare", tmp_path / "b.json", "--policy", none,
                            "--home", a)  # fmt: skip
        # ...and server 2's log is shorter than A's checkpoint: it cannot prove anything about it.
        by_second = petition("audit", "compare", tmp_path / "a.json", "--policy", none,
                             "--home", b)  # fmt: skip
        assert by_first.code == by_second.code == 1, by_first.out + by_second.out
        assert "SPLIT VIEW" not in by_first.out + by_second.out  # no two of one size
        (fail_first,) = [line for line in by_first.out.splitlines() if line.startswith("FAIL: ")]
        assert "consistency proof does not verify" in fail_first, fail_first
        (fail_second,) = [line for line in by_second.out.splitlines() if line.startswith("FAIL")]
        assert "the server refused to prove it" in fail_second, fail_second
        detected = by_policy and by_first.code != 0 and by_second.code != 0

    defence.judge(not detected, "a fork of different sizes shown to two auditors")
