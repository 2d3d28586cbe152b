"""``petition audit export-heads`` and ``petition audit compare`` against a real server.

Two auditors of one honest server exchange the heads they accepted: the comparison passes, one
consistency proof per new head, and the other auditor's heads join the history. Then the heads
are tampered with the ways that matter: a signature that does not verify (reported, never
trusted), and heads that the operator, who holds ``log.key``, signs for a tree the server does
not show (a split view at an existing size, an unprovable head of another size). Every
malformed file is one line and exit status 1. The two-server split view is the adversarial test
``tests/adversarial/test_split_view.py``.

The commands run through ``petition.cli.main`` (the console script's entry point) in this
process, to keep the many small cases cheap; one case runs the installed program as a separate
process, to show the same one line and exit status there.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from deployment import BUREAU_ID, Deployment

from client.auditor import HEADS_FILE_FORMAT, decode_heads_file
from client.home import ClientHome
from client.petitioner import PetitionForm, Progress, submit_petition
from client.session import NetworkOptions, Session
from crypto import cjson
from crypto.keyfile import read_log_key_file
from crypto.labels import SignedKind
from crypto.objects import Directory, TreeHead
from crypto.signing import SignedObject, sign
from petition.cli import main

ID_NUMBER = "110101199003071751"


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
        self.ok(role, "audit", "export-heads", "--out", path)
        return path

    def kept(self, role: str) -> list[TreeHead]:
        """The heads a role's PETITION_HOME keeps, read through the client's own state code."""
        log_key = _directory(self.deployment).log_key
        return [
            TreeHead.from_json(SignedObject.decode(wire, SignedKind.TREE_HEAD).verify(log_key))
            for wire in ClientHome(self.home(role)).load_heads(log_key.fingerprint)
        ]

    def submit(self, count: int = 1) -> None:
        """Petitions through the petitioner's client library (the code behind ``submit``)."""
        home = ClientHome(self.home("petitioner"))
        with Session(home, home.load_config(), NetworkOptions()) as session:
            for number in range(count):
                form = PetitionForm(
                    bureau_id=BUREAU_ID, real_name="赵六", id_number=ID_NUMBER,
                    contact="13900000000", subject="比较", body=f"第 {number} 份",
                    category="其他", region="上海",
                )  # fmt: skip
                submit_petition(session, form, Progress())


@pytest.fixture
def cli(deployment: Deployment, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(deployment, capsys)


def _directory(deployment: Deployment) -> Directory:
    return Directory.from_json(json.loads(deployment.client.get("/v1/directory").raw)["body"])


def _operator_head(deployment: Deployment, size: int, root: bytes) -> dict[str, object]:
    """A head the operator signs with the real log key for a tree the server does not serve."""
    key = read_log_key_file(deployment.data / "log.key")
    head = TreeHead(tree_size=size, root_hash=root, day=date.today())
    return sign(SignedKind.TREE_HEAD, head.to_json(), key).to_json()


def _write(path: Path, value: object) -> Path:
    path.write_bytes(cjson.encode(value) + b"\n")
    return path


def test_two_auditors_of_one_honest_log_agree_and_share_their_heads(
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
    assert sorted(value) == ["format", "heads", "log_key", "version"]
    assert value["format"] == HEADS_FILE_FORMAT
    assert value["version"] == 1
    parsed = decode_heads_file(data)
    log_key = _directory(cli.deployment).log_key
    assert parsed.log_key_fingerprint == log_key.fingerprint
    b_size = cli.kept("auditor-b")[-1].tree_size
    heads = [TreeHead.from_json(head.verify(log_key)) for head in parsed.heads]
    assert [head.tree_size for head in heads] == [b_size]
    assert cli.ok("auditor-b", "audit", "export-heads").encode() == data, "stdout = --out"

    before = cli.kept("auditor")
    out = cli.ok("auditor", "audit", "compare", theirs)
    assert "OK: one history; 1 consistency proof(s)" in out, out
    assert "1 head(s) from the other auditors added" in out, out
    after = cli.kept("auditor")
    assert [h.tree_size for h in after] == [*(h.tree_size for h in before), b_size]
    again = cli.ok("auditor", "audit", "compare", theirs, mine)
    assert "added" not in again, "a head already kept is not added twice"
    assert len(cli.kept("auditor")) == len(after)
    # The shared head is now part of the history every later `audit log` proves against.
    log = cli.ok("auditor", "audit", "log")
    assert f"consistent with {len(after)} head(s) seen before" in log, log


def test_a_head_whose_signature_fails_is_reported_and_never_trusted(
    cli: Cli, tmp_path: Path
) -> None:
    cli.auditor("auditor-b")
    cli.ok("auditor-b", "audit", "log")
    value = cjson.decode_object(cli.export("auditor-b", tmp_path / "b.json").read_bytes()[:-1])
    signature = bytearray(cjson.b64decode(value["heads"][-1]["signature"]))
    signature[5] ^= 0x01
    value["heads"][-1]["signature"] = cjson.b64encode(bytes(signature))
    forged = _write(tmp_path / "forged.json", value)
    cli.ok("auditor", "audit", "log")
    kept = len(cli.kept("auditor"))
    result = cli("auditor", "audit", "compare", forged)
    assert result.code == 1, result.out
    assert re.search(r"^UNTRUSTED: .*forged\.json, head \d+: .*ignored$", result.out, re.M)
    assert "SPLIT VIEW" not in result.out
    assert len(cli.kept("auditor")) == kept, "nothing is saved after a finding"


def test_heads_the_server_cannot_stand_behind_are_split_views_or_failures(
    cli: Cli, tmp_path: Path
) -> None:
    """The operator signs heads of another tree: same size → SPLIT VIEW, other sizes → FAIL."""
    cli.ok("auditor", "audit", "log")
    cli.submit(2)
    cli.ok("auditor", "audit", "log")
    size = cli.kept("auditor")[-1].tree_size
    assert size - 1 not in {head.tree_size for head in cli.kept("auditor")}
    other_root = bytes(range(32))
    deployment = cli.deployment
    heads = [
        _operator_head(deployment, size, other_root),  # same size, other root
        _operator_head(deployment, size - 1, bytes(32)),  # a size never seen, another tree
        _operator_head(deployment, size + 50, other_root),  # larger than the server's log
    ]
    log_key = cjson.b64encode(_directory(deployment).log_key.fingerprint)
    value = {"format": HEADS_FILE_FORMAT, "heads": heads, "log_key": log_key, "version": 1}
    evidence = _write(tmp_path / "operator.json", value)
    kept = len(cli.kept("auditor"))
    result = cli("auditor", "audit", "compare", "--no-save", evidence)
    assert result.code == 1, result.out
    lines = result.out.splitlines()
    split = [line for line in lines if line.startswith("SPLIT VIEW: ")]
    assert len(split) == 1, result.out
    assert f"two heads of size {size}" in split[0]
    assert other_root.hex() in split[0]
    assert "this auditor" in split[0]
    assert "operator.json" in split[0]
    assert "signed by the log key" in split[0]
    failures = [line for line in lines if line.startswith("FAIL: ")]
    assert any(
        f"head of size {size - 1} (root {bytes(32).hex()}" in line and "does not verify" in line
        for line in failures
    ), failures
    assert any(f"head of size {size + 50}" in line and "refused" in line for line in failures), (
        failures
    )
    assert len(cli.kept("auditor")) == kept


@pytest.fixture(scope="module")
def good_file(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One well-formed export, spoiled a different way by each malformed-file case."""
    path = tmp_path_factory.mktemp("good") / "a.json"
    deployment.ok("auditor", "audit", "log")
    deployment.ok("auditor", "audit", "export-heads", "--out", str(path))
    return path


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("missing file", "cannot read the tree-head file"),
        ("not JSON", "not a tree-head file"),
        ("not canonical", "not in canonical form"),
        ("the auditor's own state file", "its format is not"),
        ("version 2", "version 2 is not supported"),
        ("unknown member", "unknown field(s) extra"),
        ("no heads", "non-empty list"),
        ("a receipt instead of a head", "head 1 is not a signed tree head"),
        ("another log", "holds heads of the log with key"),
    ],
)
def test_a_malformed_file_is_one_line_and_exit_status_1(
    cli: Cli, good_file: Path, tmp_path: Path, case: str, fragment: str
) -> None:
    good = cjson.decode_object(good_file.read_bytes()[:-1])
    path = tmp_path / "bad.json"
    if case == "not JSON":
        path.write_text("heads of size 5\n")
    elif case == "not canonical":
        path.write_text(json.dumps(good, indent=2))
    elif case == "the auditor's own state file":
        path = next((cli.home("auditor") / "audit").glob("heads-*.json"))
    elif case == "version 2":
        _write(path, {**good, "version": 2})
    elif case == "unknown member":
        _write(path, {**good, "extra": 1})
    elif case == "no heads":
        _write(path, {**good, "heads": []})
    elif case == "a receipt instead of a head":
        _write(path, {**good, "heads": [{**good["heads"][0], "kind": "receipt"}]})
    elif case == "another log":
        _write(path, {**good, "log_key": cjson.b64encode(bytes(32))})
    cli("auditor", "audit", "compare", path).one_line_error(fragment)


def test_export_mistakes_are_one_line(cli: Cli, tmp_path: Path) -> None:
    cli.auditor("auditor-fresh")
    cli("auditor-fresh", "audit", "export-heads").one_line_error("run `petition audit log` first")
    taken = tmp_path / "taken.json"
    taken.write_text("keep me\n")
    cli.ok("auditor", "audit", "log")
    # The installed program, as a separate process: the same single line and exit status 1.
    result = cli.deployment.run("auditor", "audit", "export-heads", "--out", str(taken))
    Ran(result.returncode, result.stdout, result.stderr).one_line_error("already exists")
    assert taken.read_text() == "keep me\n"
