"""The whole story through the real ``petition`` program against a real server.

A petitioner submits in Chinese with attachments, in one request after the directory; the
bureau (its full keystore) lists, opens, checks the token binding, saves the attachments and
replies; the petitioner reads the reply with the code alone and with a saved receipt file; the
auditor's checks pass. Then the petitioner's device is searched for any trace of the petition,
and every file under PETITION_HOME must keep its modification time across a submit and a
status.
"""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path

from deployment import BUREAU_ID, Deployment

ID_NUMBER = "11010519491231002X"
CODE_LINE = re.compile(r"^\s*(1[0-9A-Z]{3}(?:-[0-9A-Z]{4}){6})\s*$", re.MULTILINE)


def _submit(deployment: Deployment, body_file: Path, *extra: str, name: str = "张三") -> str:
    return deployment.ok(
        "petitioner", "submit", "--bureau", BUREAU_ID, "--name", name, "--id-number", ID_NUMBER,
        "--contact", "手机 13800000000", "--subject", "关于拖欠工资的投诉",
        "--category", "劳动与社会保障", "--region", "北京市西城区",
        "--body-file", str(body_file), *extra,
    )  # fmt: skip


def _code(out: str) -> str:
    found = CODE_LINE.search(out)
    assert found is not None, out
    return found.group(1)


def _petition_id(out: str) -> str:
    found = re.search(r"petition id ([0-9a-f]{32})", out)
    assert found is not None, out
    return found.group(1)


def test_submit_read_reply_and_audit(deployment: Deployment, tmp_path: Path) -> None:
    body = tmp_path / "body.txt"
    body.write_text("本人工资被拖欠八个月。\n恳请督促处理。\n", encoding="utf-8")
    small = tmp_path / "工资条.txt"
    small.write_text("应发 8000 元，实发 0 元\n", encoding="utf-8")
    photo = tmp_path / "现场照片.jpg"
    photo.write_bytes(secrets.token_bytes(300_000))
    receipt_file = tmp_path / "receipt.keystore"
    png = tmp_path / "receipt.png"
    out = _submit(
        deployment, body, "--attach", str(small), "--attach", str(photo),
        "--save-receipt", str(receipt_file), "--passphrase-file", str(deployment.passphrase_file),
        "--qr-png", str(png), "--respondent", "某建筑劳务有限公司", "--no-allow-contact",
        "--share-identity-on-transfer",
    )  # fmt: skip
    code, petition_id = _code(out), _petition_id(out)
    assert "receipt verified: signed by the log" in out
    # The deployment names no witness: the directory's policy is `quorum none`.
    assert "no witness cosignature required by the policy" in out
    # One request after the directory: no token round trip, nothing else.
    assert "requests sent: GET /v1/directory, POST /v1/petitions\n" in out
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert png.stat().st_mode & 0o777 == 0o600  # it holds the receipt code
    assert receipt_file.stat().st_mode & 0o077 == 0

    flags = deployment.bureau_flags()
    inbox = deployment.ok("bureau", "bureau", "inbox", *flags)
    line = next(line for line in inbox.splitlines() if petition_id in line)
    assert "✓ token" in line
    assert "关于拖欠工资的投诉" in line
    assert re.search(r"pseudonym [0-9a-f]{4}(-[0-9a-f]{4}){3}", line), line

    saved = tmp_path / "saved"
    shown = deployment.ok(
        "bureau", "bureau", "show", petition_id, *flags, "--save-attachments", str(saved)
    )
    assert "Token binding: ✓" in shown
    assert "张三" in shown
    assert ID_NUMBER in shown
    assert "Respondent: 某建筑劳务有限公司" in shown
    assert "Consent:    contact no, identity sent along on transfer yes" in shown
    assert "本人工资被拖欠八个月。" in shown
    assert (saved / "工资条.txt").read_bytes() == small.read_bytes()
    assert (saved / "现场照片.jpg").read_bytes() == photo.read_bytes()

    deployment.ok(
        "bureau", "bureau", "acknowledge", petition_id, *flags,
        "--message", "您的信访事项已受理。\n将于30日内答复。",
    )  # fmt: skip
    status = deployment.ok("petitioner", "status", code.lower().replace("-", " "))
    assert "acknowledged at " in status
    assert "Running: the written answer, due " in status  # Art. 34's 60 days from the notice
    assert "(Art. 34)" in status
    assert "Art. 19: while a body is within its time limit" in status
    assert "signature verified" in status
    assert "您的信访事项已受理。" in status
    assert "将于30日内答复。" in status
    from_file = deployment.ok(
        "petitioner", "status", str(receipt_file),
        "--passphrase-file", str(deployment.passphrase_file),
    )  # fmt: skip
    assert "您的信访事项已受理。" in from_file
    # Verified against the checkpoint the server publishes now (the reply may already be in it).
    assert re.search(r"Receipt verified: entry 1 of a log of [12], no witness", from_file)

    audit = deployment.ok("auditor", "audit", "log")
    assert "root recomputed from" in audit
    assert ": matches" in audit
    again = deployment.ok("auditor", "audit", "log")
    assert "consistent with 1 checkpoint(s) seen before" in again
    receipt = deployment.ok("auditor", "audit", "receipt", code)
    assert f"Receipt for petition {petition_id}: still in the log" in receipt
    from_file = deployment.ok(
        "auditor", "audit", "receipt", str(receipt_file),
        "--passphrase-file", str(deployment.passphrase_file),
    )  # fmt: skip
    assert "still in the log" in from_file
    assert "extends the receipt's checkpoint of size 1" in from_file
    # Offline, with the directory's policy written for the purpose: no server is asked.
    policy = tmp_path / "log.policy"
    deployment.ok("auditor", "audit", "policy", "--out", str(policy))
    offline = deployment.ok(
        "auditor", "audit", "receipt", str(receipt_file), "--offline", "--policy", str(policy),
        "--passphrase-file", str(deployment.passphrase_file),
    )  # fmt: skip
    assert f"Receipt for petition {petition_id}: verified offline" in offline
    deployment.ok("auditor", "audit", "store", "--data", str(deployment.data))


def test_a_default_submit_leaves_no_trace_under_petition_home(
    deployment: Deployment, tmp_path: Path
) -> None:
    marker = secrets.token_hex(6)
    name = f"李四{marker}"
    body = tmp_path / "body.txt"
    text = f"独特的请愿内容{marker}"
    body.write_text(text, encoding="utf-8")
    home = deployment.homes["petitioner"]
    before = {path: path.read_bytes() for path in home.rglob("*") if path.is_file()}
    out = _submit(deployment, body, name=name)
    code = _code(out)
    assert "Nothing about this petition was saved on this device." in out
    after = {path: path.read_bytes() for path in home.rglob("*") if path.is_file()}
    assert set(after) == set(before)  # no new file: cache, log or history
    secrets_to_find = [
        name, marker, ID_NUMBER, ID_NUMBER.lower(), text, "关于拖欠工资的投诉", "13800000000",
        code, code.replace("-", ""), _petition_id(out),
    ]  # fmt: skip
    for path, data in after.items():
        for secret in secrets_to_find:
            assert secret.encode() not in data, (path, secret)
            assert secret.encode("utf-16-le") not in data, (path, secret)


def test_submit_and_status_rewrite_no_file_under_petition_home(
    deployment: Deployment, tmp_path: Path
) -> None:
    """A modification time that moves with each use dates the petition on a seized device."""
    home = deployment.homes["petitioner"]
    body = tmp_path / "body.txt"
    body.write_text("修改时间不应改变", encoding="utf-8")

    def stamps() -> dict[Path, tuple[int, int, bytes]]:
        # Directories too (and the home itself): a file created and removed again, a rename
        # or a temporary file would move their times.
        return {
            path: (
                path.stat().st_mtime_ns,
                path.stat().st_ctime_ns,
                path.read_bytes() if path.is_file() else b"",
            )
            for path in [home, *home.rglob("*")]
        }

    before = stamps()
    assert any(path.is_file() for path in before)  # `init` wrote the configuration
    time.sleep(0.05)  # coarse file system clocks: a rewrite now would show a new time
    code = _code(_submit(deployment, body, "--no-qr"))
    deployment.ok("petitioner", "status", code)
    assert stamps() == before


def test_status_of_an_unknown_code_is_one_line(deployment: Deployment) -> None:
    from crypto.receipt import ReceiptSecret

    unknown = ReceiptSecret.generate().code
    result = deployment.run("petitioner", "status", unknown)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "no petition for this receipt code" in result.stderr


def test_every_flag_can_come_from_the_environment(deployment: Deployment, tmp_path: Path) -> None:
    home = tmp_path / "env-home"
    env = {
        "PETITION_HOME": str(home),
        "PETITION_SERVER": deployment.url,
        "PETITION_TRUST": deployment.fingerprint,
    }
    assert deployment.run("petitioner", "init", env=env).returncode == 0
    body = tmp_path / "body.txt"
    body.write_text("通过环境变量提交", encoding="utf-8")
    env.update(
        PETITION_BUREAU=BUREAU_ID,
        PETITION_NAME="王五",
        PETITION_ID_NUMBER="440524198001010013",
        PETITION_CONTACT="信箱 100",
        PETITION_SUBJECT="环境变量",
        PETITION_CATEGORY="其他",
        PETITION_REGION="广东",
        PETITION_BODY_FILE=str(body),
        PETITION_NO_QR="1",
    )
    result = deployment.run("petitioner", "submit", env=env)
    assert result.returncode == 0, result.stderr
    assert "█" not in result.stdout  # PETITION_NO_QR took effect
    env["PETITION_CODE"] = _code(result.stdout)
    status = deployment.run("petitioner", "status", env=env)
    assert status.returncode == 0
    assert "received at " in status.stdout
    assert "Running: the written notice" in status.stdout
