"""``petition demo`` as a user runs it: a real subprocess of the installed console script.

The demo starts a real server and runs every role's real command; this test checks that each
step of the story appears in its output, that it exits 0 and that it leaves nothing behind.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from petition.threats import THREAT_IDS


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
        "$ petition admin add-bureau",
        "$ petition serve",
        "$ petition init --server http://127.0.0.1:",
        "Submitted to 国家信访局 (national)",
        "receipt verified: signed by the log",
        "Nothing about this petition was saved on this device.",
        "the petitioner's state directory holds only: ['config.json']",
        "✓ token  关于拖欠农民工工资的投诉",
        "Token binding: ✓ the token is the token of the ID number inside",
        "saved to bureau/attachments/工资条.txt",
        "Status: accepted",
        "signed by the bureau (signature verified):",
        "您的信访事项已受理",
        "root recomputed from 2 entries (1 submissions, 1 replies): matches",
        "Receipt for petition",
        "all 9 checks passed",
        "What the server stores for petition",
        "Demo complete",
    ]:
        assert expected in out, expected
    assert re.search(r"ciphertext\s+[0-9a-f]{96}…", out)
    # The threat-model audit: a row for every threat id, in the document's order, none failing.
    audit = out[out.index("$ petition audit threat-model") : out.index("What the server holds")]
    rows = re.findall(r"^\s+(T-[A-Z]+-[0-9]+)\s+(PASS|FAIL|NOT CHECKABLE HERE)\s", audit, re.M)
    assert [threat for threat, _ in rows] == list(THREAT_IDS)
    assert "FAIL" not in {verdict for _, verdict in rows}
    assert {threat for threat, verdict in rows if verdict == "PASS"} >= {"T-SPOOF-1", "T-TAMP-2"}
    assert re.search(rf"threat model: {len(THREAT_IDS)} threats, [0-9]+ PASS, 0 FAIL", audit)
    stored = out[out.index("What the server stores") :]
    assert "张三" not in stored
    assert "11010519491231002X" not in stored
    assert "Traceback" not in result.stderr
    assert set(Path(tempfile.gettempdir()).glob("petition-demo-*")) == before
