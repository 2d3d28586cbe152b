"""The bureau reviewer's commands speak the reviewer's language (issue 20, item 1).

A real deployment (tests/support/deployment.py: a real server, every step through the real
CLI) receives one real petition; ``petition --lang zh bureau …`` must then show it in Chinese,
with the event by the web UI's name and the days left in Chinese, and a wrong passphrase must be
refused in one Chinese line; ``--lang en`` (and the suite's C locale) keep the English that
scripts and the other tests read.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from deployment import BUREAU_ID, Deployment

ID_NUMBER = "110101199003071751"
ERROR = "petition: error: "


def _submit(deployment: Deployment, tmp_path: Path) -> str:
    """One petition, sent by the petitioner's own command."""
    body = tmp_path / "body.txt"
    body.write_text("工资被拖欠三个月。", encoding="utf-8")
    out = deployment.ok(
        "petitioner", "submit", "--bureau", BUREAU_ID, "--name", "王五", "--id-number", ID_NUMBER,
        "--contact", "13900000000", "--subject", "拖欠工资", "--category", "劳动保障",
        "--region", "北京", "--body-file", str(body), "--no-qr",
    )  # fmt: skip
    found = re.search(r"petition id ([0-9a-f]{32})", out)
    assert found is not None, out
    return found.group(1)


def _bureau(deployment: Deployment, language: str, *args: str) -> subprocess.CompletedProcess[str]:
    return deployment.run("bureau", "--lang", language, "bureau", *args)


def test_the_bureau_commands_in_chinese_and_in_english(
    deployment: Deployment, tmp_path: Path
) -> None:
    """One test, so that a parallel run starts one deployment for it, not one per worker."""
    petition_id = _submit(deployment, tmp_path)

    # The worklist: the event by the web UI's name, the deadline's words, article and days left.
    chinese = _bureau(deployment, "zh", "inbox", "--due", *deployment.bureau_flags())
    assert chinese.returncode == 0, chinese.stderr
    row = next(line for line in chinese.stdout.splitlines() if petition_id in line)
    assert "已收到" in row  # the event "received"
    assert "受理、转送或书面告知" in row  # what the deadline asks
    assert re.search(r"还剩 \d+ 天（\d{4}-\d\d-\d\d 截止）", row), row
    assert "第22条" in row  # "Art. 22" as the web UI writes it
    assert "办理的信访件共" in chinese.stdout
    assert "received" not in chinese.stdout
    assert "left" not in chinese.stdout

    english = _bureau(deployment, "en", "inbox", "--due", *deployment.bureau_flags())
    assert english.returncode == 0, english.stderr
    row = next(line for line in english.stdout.splitlines() if petition_id in line)
    assert re.search(r"received\s+acknowledge, forward or answer, Art\. 22; Art\. 23: \d+ day", row)
    assert "nearest deadline first" in english.stdout

    # One petition opened, the language chosen by PETITION_LANG instead of the flag.
    shown = deployment.run(
        "bureau", "bureau", "show", petition_id, *deployment.bureau_flags(),
        env={"PETITION_LANG": "zh"},
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert f"信访件 {petition_id}（" in shown.stdout
    assert "最新事件：已收到" in shown.stdout
    assert "  化名：" in shown.stdout
    assert "  标题：      拖欠工资" in shown.stdout  # aligned as the English labels are
    assert "化名核验：✓" in shown.stdout
    assert "Pseudonym" not in shown.stdout

    # A wrong passphrase: one line in the chosen language (the prefix is the same in both).
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase\n")
    flags = ("inbox", "--keystore", str(deployment.keystore), "--passphrase-file", str(wrong))
    refused = _bureau(deployment, "zh", *flags)
    assert refused.returncode == 1
    assert refused.stderr == f"{ERROR}口令错误，或者密钥库文件已被改动\n"
    refused = _bureau(deployment, "en", *flags)
    assert refused.returncode == 1
    assert refused.stderr == f"{ERROR}wrong passphrase, or the keystore file was altered\n"
    empty = tmp_path / "empty"
    empty.write_text("")
    refused = _bureau(deployment, "zh", "inbox", "--keystore", str(deployment.keystore),
                      "--passphrase-file", str(empty))  # fmt: skip
    assert refused.stderr == f"{ERROR}口令文件 {empty} 是空的\n"  # cli_support/terminal.py
