"""``petition audit export-checkpoints`` and ``petition audit compare`` against a real server.

Two auditors of one honest server exchange the checkpoints they accepted: the comparison
passes, one consistency proof per new checkpoint, and the other auditor's checkpoints join the
history. Then the checkpoints are tampered with the ways that matter: a signature that does not
verify (reported, never trusted), and checkpoints that the operator, who holds ``log.key``,
signs for a tree the server does not show (a split view at an existing size, an unprovable
checkpoint of another size). Every malformed file is one line and exit status 1. The
two-server split view is the adversarial test ``tests/adversarial/test_split_view.py``.

The commands run through ``petition.cli.main`` (the console script's entry point) in this
process, to keep the many small cases cheap; one case runs the installed program as a separate
process, to show the same one line and exit status there.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from deployment import BUREAU_ID, Deployment
from harness import checkpoint_size

from client.auditor import CHECKPOINTS_FILE_FORMAT, decode_checkpoints_file
from client.home import ClientHome
from client.petitioner import PetitionForm, Progress, submit_petition
from client.session import NetworkOptions, Session
from crypto import checkpoint, cjson, note
from crypto.checkpoint import Checkpoint, open_checkpoint
from crypto.keyfile import read_log_key_file
from crypto.objects import Directory
from petition.cli import main

ID_NUMBER = "110101199003071751"
#: An HTTP worker re-reads the published checkpoint at most once a second.
WORKER_RECHECK_SECONDS = 1.2


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


class Cli:
    """``petition ARGS --home HOME_OF_ROLE`` in this process, its output captured."""

    def __init__(self, deployment: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
        self.deployment = deployment
        self._capsys = capsys

    def home(self, role: str) -> Path:
        return self.deployment.homes.setdefault(role, self.deployment.root / "homes" / role)

    def __call__(self, role: str, *args: str | Path) -> Ran:
        self._capsys.readouterr()
        code = main([*(str(arg) for arg in args), "--home", str(self.home(role))])
        captured = self._capsys.readouterr()
        assert "Traceback" not in captured.err
        return Ran(code, captured.out, captured.err)

    def ok(self, role: str, *args: str | Path) -> str:
        ran = self(role, *args)
        assert ran.code == 0, ran.err
        return ran.out

    def auditor(self, role: str) -> None:
        """A second (third…) auditor with its own PETITION_HOME, pinned to the same authority."""
        if not (self.home(role) / "config.json").exists():
            self.ok(role, "init", "--server", self.deployment.url, "--trust",
                    self.deployment.fingerprint)  # fmt: skip

    def export(self, role: str, path: Path) -> Path:
        self.ok(role, "audit", "export-checkpoints", "--out", path)
        return path

    def kept(self, role: str) -> list[Checkpoint]:
        """The checkpoints a role's PETITION_HOME keeps, read through the client's state code."""
        log = _directory(self.deployment).log_vkey
        return [
            open_checkpoint(wire, [log])[0]
            for wire in ClientHome(self.home(role)).load_checkpoints(log)
        ]

    def submit(self, count: int = 1) -> None:
        """Petitions through the petitioner's client library (the code behind ``submit``).

        Then wait until every worker serves the checkpoint the last receipt was issued under:
        each HTTP worker re-reads the published checkpoint at most once a second, and these
        tests compare exact sizes across auditors.
        """
        home = ClientHome(self.home("petitioner"))
        size = 0
        with Session(home, home.load_config(), NetworkOptions()) as session:
            for number in range(count):
                form = PetitionForm(
                    bureau_id=BUREAU_ID, real_name="赵六", id_number=ID_NUMBER,
                    contact="13900000000", subject="比较", body=f"第 {number} 份",
                    category="其他", region="上海",
                )  # fmt: skip
                size = submit_petition(session, form, Progress()).checkpoint_size
        time.sleep(WORKER_RECHECK_SECONDS)
        assert checkpoint_size(self.deployment.client) == size


@pytest.fixture
def cli(deployment: Deployment, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(deployment, capsys)


def _directory(deployment: Deployment) -> Directory:
    return Directory.from_json(json.loads(deployment.client.get("/v1/directory").raw)["body"])


def _operator_checkpoint(deployment: Deployment, size: int, root: bytes) -> str:
    """A checkpoint the operator signs with the real log key for a tree the server does not
    serve (the key file is in the data directory: ADV-OPERATOR holds it)."""
    origin = _directory(deployment).log_origin
    signer = note.Signer(origin, read_log_key_file(deployment.data / "log.key"))
    return checkpoint.sign(Checkpoint(origin, size, root), [signer]).decode()


def _write(path: Path, value: object) -> Path:
    path.write_bytes(cjson.encode(value) + b"\n")
    return path


def _flip_log_signature(text: str, origin: str) -> str:
    """The note with one bit of the log's signature flipped (still well-formed)."""
    lines = text.split("\n")
    for number, line in enumerate(lines):
        if line.startswith(f"— {origin} "):
            blob = bytearray(note.decode_base64(line.rsplit(" ", 1)[1], what="signature"))
            blob[10] ^= 0x01
            lines[number] = f"— {origin} {note.encode_base64(bytes(blob))}"
    return "\n".join(lines)


def test_two_auditors_of_one_honest_log_agree_and_share_their_checkpoints(
    cli: Cli, tmp_path: Path
) -> None:
    cli.auditor("auditor-b")
    cli.submit()
    cli.ok("auditor", "audit", "log")
    mine = cli.export("auditor", tmp_path / "a.json")
    cli.submit()
    cli.ok("auditor-b", "audit", "log")
    theirs = cli.export("auditor-b", tmp_path / "b.json")

    data = theirs.read_bytes()
    assert data.endswith(b"\n")
    value = cjson.decode_object(data[:-1])  # canonical JSON, or this raises
    assert sorted(value) == ["checkpoints", "format", "log_vkey", "version"]
    assert value["format"] == CHECKPOINTS_FILE_FORMAT
    assert value["version"] == 1
    parsed = decode_checkpoints_file(data)
    log = _directory(cli.deployment).log_vkey
    assert parsed.log == log
    assert value["log_vkey"] == log.to_vkey()
    b_size = cli.kept("auditor-b")[-1].size
    assert [open_checkpoint(c, [log])[0].size for c in parsed.checkpoints] == [b_size]
    # Exactly the note the server published: its text and every signature line.
    assert parsed.checkpoints == tuple(ClientHome(cli.home("auditor-b")).load_checkpoints(log))
    assert cli.ok("auditor-b", "audit", "export-checkpoints").encode() == data, "stdout = --out"

    before = cli.kept("auditor")
    out = cli.ok("auditor", "audit", "compare", theirs)
    assert "OK: one history; 1 consistency proof(s)" in out, out
    assert "1 checkpoint(s) from the other auditors added" in out, out
    after = cli.kept("auditor")
    assert [c.size for c in after] == [*(c.size for c in before), b_size]
    again = cli.ok("auditor", "audit", "compare", theirs, mine)
    assert "added" not in again, "a checkpoint already kept is not added twice"
    assert len(cli.kept("auditor")) == len(after)
    # The shared checkpoint is now part of the history every later `audit log` proves against.
    audited = cli.ok("auditor", "audit", "log")
    assert f"consistent with {len(after)} checkpoint(s) seen before" in audited, audited


def test_a_checkpoint_whose_signature_fails_is_reported_and_never_trusted(
    cli: Cli, tmp_path: Path
) -> None:
    cli.auditor("auditor-b")
    cli.ok("auditor-b", "audit", "log")
    value = cjson.decode_object(cli.export("auditor-b", tmp_path / "b.json").read_bytes()[:-1])
    origin = _directory(cli.deployment).log_origin
    value["checkpoints"][-1] = _flip_log_signature(value["checkpoints"][-1], origin)
    forged = _write(tmp_path / "forged.json", value)
    cli.ok("auditor", "audit", "log")
    kept = len(cli.kept("auditor"))
    result = cli("auditor", "audit", "compare", forged)
    assert result.code == 1, result.out
    assert re.search(r"^UNTRUSTED: .*forged\.json, checkpoint \d+: .*ignored$", result.out, re.M), (
        result.out
    )
    assert "SPLIT VIEW" not in result.out
    assert len(cli.kept("auditor")) == kept, "nothing is saved after a finding"


def test_checkpoints_the_server_cannot_stand_behind_are_split_views_or_failures(
    cli: Cli, tmp_path: Path
) -> None:
    """The operator signs checkpoints of another tree: same size → SPLIT VIEW, other sizes →
    FAIL."""
    cli.ok("auditor", "audit", "log")
    cli.submit(2)
    cli.ok("auditor", "audit", "log")
    size = cli.kept("auditor")[-1].size
    assert size - 1 not in {kept.size for kept in cli.kept("auditor")}
    other_root = bytes(range(32))
    deployment = cli.deployment
    checkpoints = [
        _operator_checkpoint(deployment, size, other_root),  # same size, other root
        _operator_checkpoint(deployment, size - 1, bytes(32)),  # a size never seen, another tree
        _operator_checkpoint(deployment, size + 50, other_root),  # larger than the server's log
    ]
    value = {
        "checkpoints": checkpoints,
        "format": CHECKPOINTS_FILE_FORMAT,
        "log_vkey": _directory(deployment).log_vkey.to_vkey(),
        "version": 1,
    }
    evidence = _write(tmp_path / "operator.json", value)
    kept = len(cli.kept("auditor"))
    result = cli("auditor", "audit", "compare", "--no-save", evidence)
    assert result.code == 1, result.out
    lines = result.out.splitlines()
    split = [line for line in lines if line.startswith("SPLIT VIEW: ")]
    assert len(split) == 1, result.out
    assert f"two checkpoints of size {size}" in split[0]
    assert other_root.hex() in split[0]
    assert "this auditor" in split[0]
    assert "operator.json" in split[0]
    assert "signed by the log key" in split[0]
    failures = [line for line in lines if line.startswith("FAIL: ")]
    assert any(
        f"checkpoint of size {size - 1} (root {bytes(32).hex()}" in line
        and "does not verify" in line
        for line in failures
    ), failures
    assert any(
        f"checkpoint of size {size + 50}" in line and "refused" in line for line in failures
    ), failures
    assert len(cli.kept("auditor")) == kept


@pytest.fixture(scope="module")
def good_file(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One well-formed export, spoiled a different way by each malformed-file case."""
    path = tmp_path_factory.mktemp("good") / "a.json"
    deployment.ok("auditor", "audit", "log")
    deployment.ok("auditor", "audit", "export-checkpoints", "--out", str(path))
    return path


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("missing file", "cannot read the checkpoint file"),
        ("not JSON", "not a checkpoint file"),
        ("not canonical", "not in canonical form"),
        ("the auditor's own state file", "its format is not"),
        ("version 2", "version 2 is not supported"),
        ("unknown member", "unknown member(s) extra"),
        ("no checkpoints", "non-empty list"),
        ("a receipt instead of a checkpoint", "checkpoint 1 is not a signed checkpoint note"),
        ("not a vkey", "a verifier key is name+keyid+key"),
        ("another log", "holds checkpoints of the log"),
    ],
)
def test_a_malformed_file_is_one_line_and_exit_status_1(
    cli: Cli, good_file: Path, tmp_path: Path, case: str, fragment: str
) -> None:
    good = cjson.decode_object(good_file.read_bytes()[:-1])
    path = tmp_path / "bad.json"
    if case == "not JSON":
        path.write_text("checkpoints of size 5\n")
    elif case == "not canonical":
        path.write_text(json.dumps(good, indent=2))
    elif case == "the auditor's own state file":
        path = next((cli.home("auditor") / "audit").glob("checkpoints-*.json"))
    elif case == "version 2":
        _write(path, {**good, "version": 2})
    elif case == "unknown member":
        _write(path, {**good, "extra": 1})
    elif case == "no checkpoints":
        _write(path, {**good, "checkpoints": []})
    elif case == "a receipt instead of a checkpoint":
        receipt = "c2sp.org/tlog-proof@v1\nindex 0\n\n" + good["checkpoints"][0]
        _write(path, {**good, "checkpoints": [receipt]})
    elif case == "not a vkey":
        _write(path, {**good, "log_vkey": "petition.example/log"})
    elif case == "another log":
        other = note.Signer.generate(_directory(cli.deployment).log_origin).verifier()
        _write(path, {**good, "log_vkey": other.to_vkey()})
    cli("auditor", "audit", "compare", path).one_line_error(fragment)


def test_export_mistakes_are_one_line(cli: Cli, tmp_path: Path) -> None:
    cli.auditor("auditor-fresh")
    cli("auditor-fresh", "audit", "export-checkpoints").one_line_error(
        "run `petition audit log` first"
    )
    taken = tmp_path / "taken.json"
    taken.write_text("keep me\n")
    cli.ok("auditor", "audit", "log")
    # The installed program, as a separate process: the same single line and exit status 1.
    result = cli.deployment.run("auditor", "audit", "export-checkpoints", "--out", str(taken))
    Ran(result.returncode, result.stdout, result.stderr).one_line_error("already exists")
    assert taken.read_text() == "keep me\n"
    cli("auditor", "audit", "policy", "--out", taken).one_line_error("already exists")
    assert taken.read_text() == "keep me\n"


def test_the_directorys_policy_is_written_for_offline_use(cli: Cli, tmp_path: Path) -> None:
    directory = _directory(cli.deployment)
    printed = cli.ok("auditor", "audit", "policy")
    assert printed.encode() == directory.log_policy
    assert printed == f"log {directory.log_vkey.to_vkey()}\nquorum none\n"
    out = cli.ok("auditor", "audit", "policy", "--out", tmp_path / "log.policy")
    assert "0 witness(es), quorum none" in out
    assert (tmp_path / "log.policy").read_bytes() == directory.log_policy
