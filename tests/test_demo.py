"""``petition demo`` as a user runs it: a real subprocess of the installed console script."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys


def test_demo_tells_the_whole_story_and_leaks_nothing() -> None:
    petition = shutil.which("petition", path=os.path.dirname(sys.executable))
    assert petition is not None
    result = subprocess.run(  # noqa: S603 - our own console script
        [petition, "demo"], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for expected in [
        "token binding: the token is the token of the ID number inside",
        "subject: 关于拖欠农民工工资的投诉",
        "reply (signature verified): 您的信访事项已受理",
        "consistency 1 → 2 verified",
        "plaintext found in the envelope: none",
    ]:
        assert expected in out
    assert "Traceback" not in result.stderr
