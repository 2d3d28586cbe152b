"""Tampering and mistakes: the clients and the auditor fail loudly, in one line, never a traceback.

The server's data is altered underneath a running deployment the way an insider with the
database key could: a stored envelope, a log leaf, a deleted petition, a re-signed directory.
Every such change must be caught by the bureau's client, the petitioner's client or
``petition audit``, and the user errors of issue 4 must each give one line and a non-zero exit.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlcipher3
from deployment import BUREAU_ID, Deployment

from crypto import cjson
from crypto.receipt import ReceiptSecret
from server.database import PAGE_MAC

ID_NUMBER = "110101199003071751"


def _submit(deployment: Deployment, tmp_path: Path, text: str) -> tuple[str, str]:
    body = tmp_path / f"{abs(hash(text))}.txt"
    body.write_text(text, encoding="utf-8")
    out = deployment.ok(
        "petitioner", "submit", "--bureau", BUREAU_ID, "--name", "赵六", "--id-number", ID_NUMBER,
        "--contact", "13900000000", "--subject", "测试", "--category", "其他", "--region", "上海",
        "--body-file", str(body), "--no-qr",
    )  # fmt: skip
    code = re.search(r"^\s*(1[0-9A-Z]{3}(?:-[0-9A-Z]{4}){6})\s*$", out, re.MULTILINE)
    petition_id = re.search(r"petition id ([0-9a-f]{32})", out)
    assert code is not None
    assert petition_id is not None
    return code.group(1), petition_id.group(1)


@contextmanager
def _database(deployment: Deployment) -> Iterator[Any]:
    key = (deployment.data / "db.key").read_text().strip()
    conn = sqlcipher3.connect(str(deployment.data / "petitions.db"), isolation_level=None)
    conn.execute(f"PRAGMA key = \"x'{key}'\"")
    conn.execute(f"PRAGMA cipher_hmac_algorithm = {PAGE_MAC}")
    conn.execute("PRAGMA busy_timeout = 10000")
    try:
        yield conn
    finally:
        conn.close()


def _fails(result: Any, *fragments: str) -> None:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    text = result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in text, text


def _one_line_error(result: Any, fragment: str) -> None:
    assert result.returncode == 1, result.stdout
    assert result.stderr.startswith("petition: error: "), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert fragment in result.stderr, result.stderr


def test_an_altered_envelope_is_caught_by_the_bureau_and_the_store_audit(
    deployment: Deployment, tmp_path: Path
) -> None:
    _, petition_id = _submit(deployment, tmp_path, "信封将被篡改")
    with _database(deployment) as conn:
        (envelope,) = conn.execute(
            "SELECT envelope FROM petitions WHERE petition_id = ?", (petition_id,)
        ).fetchone()
        altered = bytearray(envelope)
        altered[-20] ^= 0x01
        conn.execute(
            "UPDATE petitions SET envelope = ? WHERE petition_id = ?", (bytes(altered), petition_id)
        )
    flags = deployment.bureau_flags()
    shown = deployment.run("bureau", "bureau", "show", petition_id, *flags)
    # The altered copy is not the petition's envelope, and no signed transfer moved one here.
    _one_line_error(
        shown, "the server sent a copy that no signed transfer and no review request moved to"
    )
    inbox = deployment.run("bureau", "bureau", "inbox", *flags)
    _fails(inbox, "✗ ALTERED")
    store = deployment.run("auditor", "audit", "store", "--data", str(deployment.data))
    _fails(store, "FAIL")
    with _database(deployment) as conn:  # undo, so that the next cases start from a clean store
        conn.execute(
            "UPDATE petitions SET envelope = ? WHERE petition_id = ?", (envelope, petition_id)
        )
    deployment.ok("auditor", "audit", "store", "--data", str(deployment.data))


def test_a_rewritten_log_leaf_is_caught_by_the_log_audit(
    deployment: Deployment, tmp_path: Path
) -> None:
    _submit(deployment, tmp_path, "日志将被改写")
    deployment.ok("auditor", "audit", "log")
    with _database(deployment) as conn:
        (leaf,) = conn.execute("SELECT leaf FROM log_leaves WHERE leaf_index = 0").fetchone()
        entry = json.loads(leaf)
        entry["day"] = "2000-01-01"  # a backdated submission
        rewritten = cjson.encode(entry)
        conn.execute("UPDATE log_leaves SET leaf = ? WHERE leaf_index = 0", (rewritten,))
    try:
        _fails(deployment.run("auditor", "audit", "log"), "do not hash to the signed root")
        _fails(
            deployment.run("auditor", "audit", "store", "--data", str(deployment.data)),
            "FAIL log-intact",
        )
    finally:
        with _database(deployment) as conn:
            conn.execute("UPDATE log_leaves SET leaf = ? WHERE leaf_index = 0", (leaf,))
    deployment.ok("auditor", "audit", "log")


def test_a_deleted_petition_is_caught_by_its_receipt_and_the_store_audit(
    deployment: Deployment, tmp_path: Path
) -> None:
    code, petition_id = _submit(deployment, tmp_path, "请愿将被删除")
    deployment.ok("auditor", "audit", "receipt", code)
    with _database(deployment) as conn:
        row = conn.execute(
            "SELECT * FROM petitions WHERE petition_id = ?", (petition_id,)
        ).fetchone()
        conn.execute("DELETE FROM petitions WHERE petition_id = ?", (petition_id,))
    try:
        _one_line_error(deployment.run("auditor", "audit", "receipt", code), "removed")
        _one_line_error(deployment.run("petitioner", "status", code), "no petition")
        _fails(
            deployment.run("auditor", "audit", "store", "--data", str(deployment.data)),
            "FAIL log-matches-store",
        )
    finally:
        with _database(deployment) as conn:
            placeholders = ", ".join("?" for _ in row)
            conn.execute(f"INSERT INTO petitions VALUES ({placeholders})", row)  # noqa: S608
    deployment.ok("auditor", "audit", "store", "--data", str(deployment.data))


def test_a_directory_not_signed_by_the_pinned_authority_stops_every_client(
    deployment: Deployment, tmp_path: Path
) -> None:
    directory = deployment.data / "directory.json"
    original = directory.read_bytes()
    forged = json.loads(original)
    forged["body"]["bureaus"][0]["name"] = "假冒的信访局"
    backup = tmp_path / "directory.json"
    shutil.copy2(directory, backup)
    directory.write_bytes(cjson.encode(forged))  # canonical, as the server requires
    try:
        _wait_for_directory(deployment, "假冒的信访局")
        _one_line_error(
            deployment.run("petitioner", "bureaus"), "not signed by the pinned authority"
        )
        _one_line_error(
            deployment.run(
                "petitioner",
                "submit",
                "--bureau",
                BUREAU_ID,
                "--name",
                "x",
                "--id-number",
                ID_NUMBER,
                "--contact",
                "x",
                "--subject",
                "x",
                "--category",
                "x",
                "--region",
                "x",
                "--body-file",
                str(backup),
            ),
            "not signed by the pinned authority",
        )
        _one_line_error(deployment.run("auditor", "audit", "log"), "not signed by the pinned")
    finally:
        directory.write_bytes(original)
    _wait_for_directory(deployment, "国家信访局")
    deployment.ok("petitioner", "bureaus")


def _wait_for_directory(deployment: Deployment, name: str) -> None:
    """Until every worker serves the changed file.

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


def test_a_wrong_fingerprint_pins_nothing(deployment: Deployment, tmp_path: Path) -> None:
    home = tmp_path / "home"
    other = "00" * 32
    result = deployment.run(
        "petitioner", "init", "--server", deployment.url, "--trust", other,
        env={"PETITION_HOME": str(home)},
    )  # fmt: skip
    _one_line_error(result, "not the one given with --trust")
    assert not home.exists() or not any(home.rglob("*"))
    not_initialised = deployment.run("petitioner", "bureaus", env={"PETITION_HOME": str(home)})
    _one_line_error(not_initialised, "petition init")


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("bad ID check digit", "check"),
        ("unknown bureau", "no bureau 'nowhere'"),
        ("bad receipt code", "receipt code"),
        ("unknown code version", "receipt code"),
        ("wrong passphrase", "wrong passphrase"),
        ("not a keystore", "keystore"),
        ("missing body file", "cannot read petition text file"),
        ("bad petition id", "not a petition id"),
    ],
)
def test_each_mistake_is_one_line_and_a_failing_exit(
    deployment: Deployment, tmp_path: Path, case: str, fragment: str
) -> None:
    body = tmp_path / "body.txt"
    body.write_text("正文", encoding="utf-8")
    wrong = tmp_path / "wrong-passphrase"
    wrong.write_text("not the passphrase\n")
    not_keystore = tmp_path / "notes.txt"
    not_keystore.write_text("just some notes\n")
    not_keystore.chmod(0o600)
    submit = ["submit", "--name", "x", "--contact", "x", "--subject", "x", "--category", "x",
              "--region", "x", "--no-qr"]  # fmt: skip
    code = ReceiptSecret.generate().code
    code[:-1] + ("0" if code[-1] != "0" else "1")
    # fmt: off
    commands: dict[str, tuple[str, list[str]]] = {
        "bad ID check digit": (
            "petitioner",
            [
                *submit,
                "--bureau",
                BUREAU_ID,
                "--id-number",
                "110101199003071752",
                "--body-file",
                str(body),
            ],
        ),
        "unknown bureau": (
            "petitioner",
            [*submit, "--bureau", "nowhere", "--id-number", ID_NUMBER, "--body-file", str(body)],
        ),
        "bad receipt code": (
            "petitioner",
            ["status", code[:-1] + ("0" if code[-1] != "0" else "1")],
        ),
        "unknown code version": ("petitioner", ["status", "2" + code[1:]]),
        "wrong passphrase": (
            "bureau",
            [
                "bureau",
                "inbox",
                "--keystore",
                str(deployment.keystore),
                "--passphrase-file",
                str(wrong),
            ],
        ),
        "not a keystore": (
            "bureau",
            [
                "bureau",
                "inbox",
                "--keystore",
                str(not_keystore),
                "--passphrase-file",
                str(deployment.passphrase_file),
            ],
        ),
        "missing body file": (
            "petitioner",
            [
                *submit,
                "--bureau",
                BUREAU_ID,
                "--id-number",
                ID_NUMBER,
                "--body-file",
                str(tmp_path / "absent.txt"),
            ],
        ),
        "bad petition id": (
            "bureau",
            ["bureau", "show", "../../etc/passwd", *deployment.bureau_flags()],
        ),
    }
    # fmt: on
    role, args = commands[case]
    result = deployment.run(role, *args, input_text="")
    _one_line_error(result, fragment)


def test_verbose_debugging_shows_the_traceback_only_when_asked(deployment: Deployment) -> None:
    quiet = deployment.run("petitioner", "status", "not-a-code")
    loud = deployment.run("petitioner", "--verbose", "status", "not-a-code")
    assert "Traceback" not in quiet.stderr
    assert "Traceback" in loud.stderr
    assert loud.returncode == quiet.returncode == 1
