"""``petition demo`` as a user runs it: a real subprocess of the installed console script.

The demo starts a real server and runs every role's real command; this test checks that each
step of the story appears in its output, that it exits 0 and that it leaves nothing behind. The
story of protocol v2: the petitioner submits in one request after the directory; intake derives
the pseudonym from the identity; a case handler whose keystore has no identity key reads the case
under the same pseudonym and is refused the identity in one line, then transfers the case to the
province's bureau, which receives no identity and acknowledges and answers by pseudonym (issue
17); the server holds no token and nothing else per person. Offline (issue 19): a phone whose
server is a closed port seals a petition and writes its QR codes, a courier delivers it from the
images scanned in shuffled order, and the code then finds it and the bureau's reply.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from petition.threats import THREAT_IDS

#: Over ten seconds on its own: CI runs it (README, Tests).
pytestmark = pytest.mark.slow


def test_demo_tells_the_whole_story_and_cleans_up() -> None:
    petition = shutil.which("petition", path=os.path.dirname(sys.executable))
    assert petition is not None
    before = set(Path(tempfile.gettempdir()).glob("petition-demo-*"))
    result = subprocess.run(  # noqa: S603 - our own console script
        [petition, "demo"], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    out = result.stdout
    for expected in [
        "$ petition admin init",
        "$ petition bureau init --id national",
        "$ petition bureau export-keys --keystore bureau/national.keystore",
        "--role intake --out intake/national-intake.keystore",
        "--role handler --out handler/national-handler.keystore",
        "$ petition admin add-bureau",
        "$ petition serve",
        "$ petition init --server http://127.0.0.1:",
        "covers 全国; top level",
        "Submitted to 国家信访局 (national)",
        "requests sent: GET /v1/directory, POST /v1/petitions\n",
        "receipt verified: signed by the log",
        "Receipt saved, encrypted with your passphrase, in petitioner/receipt.sealed",
        "[witness] $ petition witness serve --data witness-data",
        "$ petition admin add-witness",
        "receipt verified: signed by the log, entry 1 of a log of 1; witnessed by ngo",
        "Receipt verified: entry 1 of a log of 4, witnessed by ngo",
        "witnessed by ngo (policy: the directory)",
        "verified offline",
        "the petitioner's state directory holds only: ['config.json', 'directory.json']",
        "[intake] $ petition bureau intake",
        "[handler] $ petition bureau inbox",
        "Identity:   sealed to intake (this keystore has no identity key)",
        "Respondent: 某建筑劳务有限公司",
        "saved to handler/attachments/工资条.txt",
        "petition: error: this keystore has no identity key (intake keystores hold",
        "[handler] $ petition bureau transfer",
        "--to guangdong",
        "The case went to guangdong; the identity stayed here",
        "[province] $ petition bureau intake",
        "Identity:   identity withheld (transferred without the petitioner's consent",
        "[province] $ petition bureau inbox --due",
        "acknowledge, forward or answer, Art. 22; Art. 23: 15 day(s) left",
        "acknowledged recorded for",
        "[petitioner] $ petition status --on",
        "OVERDUE: the written answer, due",
        "What you can do (ask_next_level, Art. 45(1))",
        "decided recorded for",
        "Now with: 广东省信访局 (guangdong)",
        "transferred at 国家信访局 (national), to 广东省信访局 (guangdong)",
        "decided at 广东省信访局 (guangdong): supported",
        "signed by the bureau (signature verified):",
        "您的信访事项已受理",
        "root recomputed from 8 entries (2 submissions, 6 later events, 5 with a reply)",
        "[petitioner] $ petition review",
        "Asked 国家信访局 (national) for a review of the answer of 广东省信访局.",
        "decision.tlog-proof: log proof: verified (decided on",
        "reviewed recorded for",
        "reviewed at 国家信访局 (national): upheld",
        "your request for a re-review, due",
        "[auditor] $ petition audit stats --period all --lang zh",
        "广东省信访局 (guangdong)  0     1     1/1         1/1",
        "被申请复查复核最多的机构（第四十一条）： 广东省信访局 (guangdong) 1",
        "核查：所有签名均有效",
        "MATCH: the server's figures for 8 entries",
        "Report written to auditor/stats.html",
        "Receipt for petition",
        "What the server stores for petition",
        "Demo complete",
    ]:
        assert expected in out, expected
    assert re.search(r"store audit of .*: all [0-9]+ checks passed", out)
    for gone in ("export-token-key", "token-keys", "VOPRF", "/token"):
        assert gone not in out, gone

    # Intake derives the pseudonym from the identity: name and contact under it.
    intake = out[
        out.index("[intake] $ petition bureau intake") : out.index(
            "[handler] $ petition bureau inbox"
        )
    ]
    found = re.search(r"^\s+pseudonym ([0-9a-f]{4}(?:-[0-9a-f]{4}){3}) \(1 petition", intake, re.M)
    assert found is not None, intake
    pseudonym = found.group(1)
    assert "张三" in intake
    assert "关于拖欠农民工工资的投诉" not in intake  # intake's keystore cannot open the case
    # The case handler: the same pseudonym, the case, never the identity.
    handler = out[
        out.index("[handler] $ petition bureau inbox") : out.index(
            "[handler] $ petition bureau transfer"
        )
    ]
    assert f"pseudonym {pseudonym}  关于拖欠农民工工资的投诉" in handler
    assert f"Pseudonym:  {pseudonym}" in handler
    assert "张三" not in handler
    assert "11010519491231002X" not in handler
    assert "(exit status 1)" in handler
    # The province received the case without the identity and works by another pseudonym.
    province = out[out.index("[province] $ petition bureau intake") : out.index("Petitioner: come")]
    assert "张三" not in province
    assert "11010519491231002X" not in province
    assert "138 0000 0000" not in province
    assert pseudonym not in province  # its own token key: not the national bureau's pseudonym
    assert re.search(r"Pseudonym:  [0-9a-f]{4}(?:-[0-9a-f]{4}){3}", province)
    assert "关于拖欠农民工工资的投诉" in province
    assert re.search(r"ciphertext\s+[0-9a-f]{96}…", out)
    # The threat-model audit: a row for every threat id, in the document's order, none failing.
    audit = out[out.index("$ petition audit threat-model") : out.index("What the server holds")]
    rows = re.findall(r"^\s+(T-[A-Z]+-[0-9]+)\s+(PASS|FAIL|NOT CHECKABLE HERE)\s", audit, re.M)
    assert [threat for threat, _ in rows] == list(THREAT_IDS)
    assert "FAIL" not in {verdict for _, verdict in rows}
    assert {threat for threat, verdict in rows if verdict == "PASS"} >= {"T-SPOOF-1", "T-TAMP-2"}
    assert re.search(rf"threat model: {len(THREAT_IDS)} threats, [0-9]+ PASS, 0 FAIL", audit)
    _check_offline_leg(out)
    stored = out[out.index("What the server stores") : out.index("checked: neither")]
    assert "张三" not in stored
    assert "11010519491231002X" not in stored
    assert pseudonym not in stored
    assert pseudonym.replace("-", "") not in stored
    assert "token" not in stored.lower()
    assert "Traceback" not in result.stderr
    assert set(Path(tempfile.gettempdir()).glob("petition-demo-*")) == before


def _check_offline_leg(out: str) -> None:
    """Sealed with no route to the server, carried as QR images, delivered from shuffled scans
    by a courier who keeps nothing, then found by its code with the bureau's reply."""
    sealing = out[
        out.index("[village] $ petition bureaus") : out.index("[courier] $ petition init")
    ]
    closed = re.search(r"petition: error: cannot reach (http://127\.0\.0\.1:[0-9]+) ", sealing)
    assert closed is not None, sealing
    assert f"its server is now {closed.group(1)}, where nothing listens" in out
    assert f"$ petition init --server {closed.group(1)} " not in out  # no server there, ever
    assert "[village] $ petition seal --bureau national" in sealing
    assert "Sealed for 国家信访局 (national) on this device, without the network\n" in sealing
    drawn = re.search(
        r"^\s+([0-9]+) QR codes written to village/qr; print print\.html", sealing, re.M
    )
    assert drawn is not None, sealing
    total = int(drawn.group(1))
    assert total > 1
    found = re.search(r"^\s+([0-9a-f]{32}); `petition status` with your code", sealing, re.M)
    assert found is not None, sealing
    petition_id = found.group(1)
    code = re.search(r"^\s+(1[0-9A-Z]{3}(?:-[0-9A-Z]{4}){6})\s*$", sealing, re.M)
    assert code is not None, sealing
    assert "the phone's state directory holds only: ['config.json', 'directory.json']" in sealing

    courier = out[
        out.index("[courier] $ petition init") : out.index("[handler] $ petition bureau ack")
    ]
    assert f"deliver the petition from photos of its {total} QR codes" in out
    scan = re.search(r"\$ petition deliver --scan ((?:village/qr/part-\S+\.png ?)+)\n", courier)
    assert scan is not None, courier
    images = scan.group(1).split()
    assert len(images) == total
    assert sorted(images) != images  # shuffled, and read all the same
    assert f": delivered to 国家信访局 (national): petition {petition_id}, log entry 7 " in courier
    assert "1 of 1 delivered. Nothing about these petitions was kept on this device." in courier
    assert "the courier's state directory holds only: ['config.json', 'directory.json']" in courier
    for secret in (code.group(1), "张三", "11010519491231002X", "山体滑坡"):
        assert secret not in courier

    answered = out[out.index("[handler] $ petition bureau ack") : out.index("Auditor: verify")]
    assert f"acknowledged recorded for {petition_id}" in answered
    assert f"Petition {petition_id} to 国家信访局 (national), submitted " in answered
    assert "received at 国家信访局 (national)  [entry 7, in the log]" in answered
    assert "acknowledged at 国家信访局 (national)  [entry 8, in the log; reply 1]" in answered
    assert "您的来信已收到并受理，已转请州交通运输局组织抢修。" in answered.split("Reply 1")[1]
