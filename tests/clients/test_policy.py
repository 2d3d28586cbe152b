"""Trust policies and receipts on the client, without a server.

A checkpoint is believed when the log signed it and the policy's witnesses cosigned it. The
client tells the two apart: a checkpoint that only lacks the witness quorum still proves what
the log accepted (a petitioner is told "accepted; not yet witnessed"), one that the log did not
sign proves nothing. A local policy may change the witnesses, never the log. And a receipt
(c2sp.org/tlog-proof) is checked offline with ``petition audit receipt FILE --policy POLICY``,
on a machine where ``petition init`` never ran: every problem one line, exit status 1.

The log, its witnesses and the receipts are made here with the project's own crypto (the
server's receipt builder, crypto/log_receipt.py): no mock stands in for a component.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from client.errors import ClientStateError, InvalidInput
from client.home import ClientHome
from client.session import check_checkpoint, check_receipt, local_policy, require_log
from crypto import checkpoint, merkle, note
from crypto.case_event import LogEntry
from crypto.checkpoint import Checkpoint
from crypto.cosignature import Cosigner
from crypto.errors import InvalidProof, InvalidSignature
from crypto.log_receipt import build_receipt
from crypto.statutory import Event
from crypto.tlog_policy import Policy
from petition.cli import main

ORIGIN = "petition.example/log"
TIMESTAMP = 1_767_225_600  # 2026-01-01


@dataclass
class Log:
    """A log key, two witnesses, and entries: what a server would sign."""

    signer: note.Signer
    witnesses: tuple[Cosigner, Cosigner]
    leaves: list[bytes]

    @classmethod
    def new(cls, entries: int = 5) -> Log:
        leaves = [_entry(number).leaf() for number in range(entries)]
        witnesses = (Cosigner.generate("witness-a.example"), Cosigner.generate("witness-b.example"))
        return cls(note.Signer.generate(ORIGIN), witnesses, leaves)

    def policy(self, threshold: int) -> Policy:
        listed = [(w.name.split(".")[0], w.verifier(), None) for w in self.witnesses]
        return Policy.single_log(self.signer.verifier(), listed, threshold)

    def checkpoint(self, *, cosigned_by: int = 2) -> bytes:
        root = merkle.root_from_leaf_hashes([merkle.leaf_hash(leaf) for leaf in self.leaves])
        text = Checkpoint(ORIGIN, len(self.leaves), root, ()).to_text()
        message = checkpoint.sign(Checkpoint.from_text(text), [self.signer])
        lines = "".join(w.cosign(text, TIMESTAMP) for w in self.witnesses[:cosigned_by])
        return message + lines.encode("utf-8")

    def receipt(self, index: int, *, cosigned_by: int = 2) -> bytes:
        tree = merkle.LeafHashList([merkle.leaf_hash(leaf) for leaf in self.leaves])
        proof = merkle.inclusion_proof(tree, index, len(self.leaves))
        return build_receipt(
            self.leaves[index], index, proof, self.checkpoint(cosigned_by=cosigned_by)
        )


def _entry(number: int) -> LogEntry:
    petition_id = hashlib.sha256(b"petition %d" % number).hexdigest()[:32]
    envelope = hashlib.sha256(b"envelope %d" % number).digest()
    return LogEntry(petition_id, "national", envelope, Event.RECEIVED, date(2026, 1, 1))


@pytest.fixture(scope="module")
def log() -> Log:
    return Log.new()


# -- checkpoints and receipts under a policy ---------------------------------------------------


def test_a_checkpoint_with_the_quorum_is_witnessed_and_names_its_witnesses(log: Log) -> None:
    verified, witnessing = check_checkpoint(log.checkpoint(), log.policy(2), origin=ORIGIN)
    assert verified.checkpoint.size == len(log.leaves)
    assert witnessing.witnessed
    assert witnessing.cosigned_by == ("witness-a", "witness-b")
    assert witnessing.describe() == "witnessed by witness-a, witness-b"


def test_a_checkpoint_without_the_quorum_is_the_logs_word_but_not_witnessed(log: Log) -> None:
    verified, witnessing = check_checkpoint(
        log.checkpoint(cosigned_by=1), log.policy(2), origin=ORIGIN
    )
    assert verified.checkpoint.size == len(log.leaves)
    assert not witnessing.witnessed
    assert witnessing.cosigned_by == ("witness-a",)
    assert witnessing.missing == 1
    assert "needs 1 more of witness-b" in witnessing.shortfall
    assert witnessing.describe() == "not yet witnessed: 1 of 2 witness cosignatures missing"
    # The same checkpoint satisfies a policy asking for one witness, and one with none.
    _, one = check_checkpoint(log.checkpoint(cosigned_by=1), log.policy(1), origin=ORIGIN)
    assert one.witnessed
    _, none = check_checkpoint(log.checkpoint(cosigned_by=0), log.policy(0), origin=ORIGIN)
    assert none.witnessed
    assert none.describe() == "no witness cosignature required by the policy"


def test_a_checkpoint_the_log_did_not_sign_proves_nothing(log: Log) -> None:
    impostor = Log(note.Signer.generate(ORIGIN), log.witnesses, log.leaves)
    with pytest.raises(InvalidSignature):
        check_checkpoint(impostor.checkpoint(), log.policy(0), origin=ORIGIN)
    with pytest.raises(InvalidSignature, match="not the expected"):
        check_checkpoint(log.checkpoint(), log.policy(0), origin="petition.example/other")


def test_a_receipt_lacking_witnesses_still_proves_inclusion(log: Log) -> None:
    receipt, witnessing = check_receipt(log.receipt(3, cosigned_by=0), log.policy(2), origin=ORIGIN)
    assert receipt.index == 3
    assert receipt.entry == _entry(3)
    assert not witnessing.witnessed
    assert witnessing.missing == 2
    # ...but the inclusion proof is still checked when the witnesses are missing.
    data = log.receipt(3, cosigned_by=0)
    wrong = data.replace(b"index 3\n", b"index 2\n")
    with pytest.raises(InvalidProof):
        check_receipt(wrong, log.policy(2), origin=ORIGIN)


# -- which policy --------------------------------------------------------------------------


def test_a_local_policy_replaces_the_directorys_but_never_its_log(log: Log, tmp_path: Path) -> None:
    home = ClientHome(tmp_path / "home")
    assert local_policy(home, None) is None  # none kept: the directory's applies
    home.path.mkdir()
    home.policy_path.write_bytes(log.policy(2).to_text())
    home.policy_path.chmod(0o600)
    found = local_policy(home, None)
    assert found is not None
    assert found[0] == log.policy(2)
    assert found[1] == str(home.policy_path)
    require_log(found[0], log.signer.verifier(), found[1])

    given = tmp_path / "strict.policy"
    given.write_bytes(log.policy(1).to_text())
    from_flag = local_policy(home, given)  # --policy FILE wins over PETITION_HOME/policy
    assert from_flag is not None
    assert from_flag[0] == log.policy(1)

    other = note.Signer.generate(ORIGIN).verifier()
    with pytest.raises(InvalidInput, match=r"names the log .* not the log the directory names"):
        require_log(from_flag[0], other, str(given))


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"quorum nobody\n", "is not a tlog-policy: policy line 1: the quorum nobody"),
        (b"quorum none", "is not a tlog-policy: a policy's last line must end with a newline"),
        (b"quorum none\n", "must name exactly one log (it names 0)"),
    ],
)
def test_a_bad_policy_file_is_one_line_naming_it(
    tmp_path: Path, content: bytes, fragment: str
) -> None:
    path = tmp_path / "bad.policy"
    path.write_bytes(content)
    with pytest.raises(InvalidInput, match=re.escape(fragment)) as given:
        local_policy(ClientHome(tmp_path / "home"), path)
    assert str(path) in given.value.message
    home = ClientHome(tmp_path / "home")
    home.path.mkdir()
    home.policy_path.write_bytes(content)
    home.policy_path.chmod(0o600)
    with pytest.raises(ClientStateError, match=re.escape(fragment)):
        local_policy(home, None)


def test_two_logs_in_a_local_policy_are_refused(log: Log, tmp_path: Path) -> None:
    second = note.Signer.generate("petition.example/second").verifier()
    text = (
        log.policy(0)
        .to_text()
        .replace(b"quorum none\n", f"log {second.to_vkey()}\nquorum none\n".encode())
    )
    path = tmp_path / "two.policy"
    path.write_bytes(text)
    with pytest.raises(InvalidInput, match="must name exactly one log"):
        local_policy(ClientHome(tmp_path / "home"), path)


# -- petition audit receipt, offline ---------------------------------------------------------


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str

    def one_line_error(self, fragment: str) -> None:
        assert self.code == 1, self.out
        assert self.err.startswith("petition: error: "), self.err
        assert self.err.count("\n") == 1, self.err
        assert fragment in self.err, self.err


@pytest.fixture
def petition(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> _Petition:
    monkeypatch.delenv("PETITION_POLICY", raising=False)
    monkeypatch.delenv("PETITION_CODE", raising=False)
    return _Petition(capsys, tmp_path / "never-initialised")


class _Petition:
    """``petition ARGS`` with a PETITION_HOME where `petition init` never ran."""

    def __init__(self, capsys: pytest.CaptureFixture[str], home: Path) -> None:
        self._capsys = capsys
        self.home = home

    def __call__(self, *args: str | Path) -> Ran:
        self._capsys.readouterr()
        code = main([*(str(arg) for arg in args), "--home", str(self.home)])
        captured = self._capsys.readouterr()
        assert "Traceback" not in captured.err
        return Ran(code, captured.out, captured.err)


def _files(log: Log, tmp_path: Path, receipt: bytes, threshold: int = 2) -> tuple[Path, Path]:
    receipt_path = tmp_path / "receipt.tlog-proof"
    receipt_path.write_bytes(receipt)
    policy_path = tmp_path / "log.policy"
    policy_path.write_bytes(log.policy(threshold).to_text())
    return receipt_path, policy_path


def test_a_witnessed_receipt_verifies_offline_with_a_policy_file(
    log: Log, petition: _Petition, tmp_path: Path
) -> None:
    receipt, policy = _files(log, tmp_path, log.receipt(2))
    ran = petition("audit", "receipt", receipt, "--policy", policy)
    assert ran.code == 0, ran.err
    entry = _entry(2)
    assert f"Receipt for petition {entry.petition_id}: verified offline" in ran.out
    assert "entry 3 (leaf index 2, submission to bureau national on 2026-01-01)" in ran.out
    assert f"checkpoint of size {len(log.leaves)}, witnessed by witness-a, witness-b" in ran.out
    assert f"(policy: {policy})" in ran.out
    assert not petition.home.exists(), "an offline check writes nothing"


def test_the_kept_policy_serves_offline_too(log: Log, petition: _Petition, tmp_path: Path) -> None:
    receipt, policy = _files(log, tmp_path, log.receipt(0))
    petition.home.mkdir()
    kept = petition.home / "policy"
    kept.write_bytes(policy.read_bytes())
    kept.chmod(0o600)
    ran = petition("audit", "receipt", receipt, "--offline")
    assert ran.code == 0, ran.err
    assert f"(policy: {kept})" in ran.out


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("not witnessed", "is signed by the log but not witnessed as the policy requires"),
        ("another log", "does not verify: the checkpoint for petition.example/log carries no"),
        ("altered entry", "does not verify"),
        ("truncated", "does not verify: a tlog-proof has an empty line before its checkpoint"),
        ("no policy", "checking a receipt offline needs a policy"),
        ("bad policy", "is not a tlog-policy"),
        ("missing policy file", "cannot read the policy file"),
    ],
)
def test_every_bad_receipt_or_policy_is_one_line_offline(
    log: Log, petition: _Petition, tmp_path: Path, case: str, fragment: str
) -> None:
    data = log.receipt(1)
    if case == "not witnessed":
        data = log.receipt(1, cosigned_by=1)
    elif case == "another log":
        data = Log(note.Signer.generate(ORIGIN), log.witnesses, log.leaves).receipt(1)
    elif case == "altered entry":
        entry = note.encode_base64(log.leaves[1]).encode()
        data = data.replace(entry, note.encode_base64(log.leaves[4]).encode())
    elif case == "truncated":
        data = data[: data.index(b"\n\n")]
    receipt, policy = _files(log, tmp_path, data)
    if case == "bad policy":
        policy.write_bytes(b"log nonsense\nquorum none\n")
    if case == "missing policy file":
        policy.unlink()
    arguments: list[str | Path] = ["audit", "receipt", receipt]
    if case != "no policy":
        arguments += ["--policy", policy]
    petition(*arguments).one_line_error(fragment)


def test_a_code_cannot_be_checked_offline(petition: _Petition) -> None:
    from crypto.receipt import ReceiptSecret

    code = ReceiptSecret.generate().code
    petition("audit", "receipt", code, "--offline").one_line_error("offline, give a receipt file")
    # Without --offline a code needs the pinned server, which this home does not have.
    petition("audit", "receipt", code).one_line_error("no server is pinned")
