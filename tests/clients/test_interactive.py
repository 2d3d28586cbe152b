"""``petition submit`` asking for what is missing, on a real pseudo-terminal.

The ID number is typed at a no-echo prompt: the test reads everything the terminal showed and
checks that the number never appears, while the petition still arrives with it inside. The
optional body complained about is asked too, as the petition is being typed anyway.
"""

from __future__ import annotations

import os
import pty
import re
import select
import time

from deployment import BUREAU_ID, Deployment
from harness import PETITION

ID_NUMBER = "440524198001010013"


class Terminal:
    """A child process on a pty, driven like a person at the keyboard."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: the pty is its controlling terminal
            os.execvpe(args[0], args, env)  # noqa: S606
        self.pid, self.fd = pid, fd
        self.seen = b""

    def expect(self, pattern: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while re.search(pattern.encode(), self.seen) is None:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {pattern!r} in {self.seen.decode(errors='replace')}"
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:  # the child closed the terminal
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"exited before {pattern!r}: {self.seen.decode()}")
                self.seen += chunk

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode() + b"\r")

    def finish(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                self.seen += chunk
                if chunk:
                    continue
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
        raise AssertionError("the command did not finish")


def test_missing_fields_are_asked_for_and_the_id_is_not_echoed(deployment: Deployment) -> None:
    env = {**os.environ, "PETITION_HOME": str(deployment.homes["petitioner"])}
    env.pop("PETITION_DEBUG", None)
    args = [*PETITION, "submit", "--bureau", BUREAU_ID, "--no-qr"]
    terminal = Terminal(args, env)
    for prompt, answer in [
        ("Your real name", "钱七"),
        ("How the bureau can reach you", "13700000000"),
        ("Subject", "交互式提交"),
        ("Category", "其他"),
        ("Region", "天津"),
        ("Resident ID number", ID_NUMBER),
        ("The body you complain about \\(optional", "某区住建局"),
    ]:
        terminal.expect(prompt)
        terminal.type(answer)
    terminal.expect("finish with a line holding only a full stop")
    terminal.type("第一段。")
    terminal.type("第二段。")
    terminal.type(".")
    assert terminal.finish() == 0, terminal.seen.decode(errors="replace")
    shown = terminal.seen.decode(errors="replace")
    assert ID_NUMBER not in shown
    found = re.search(r"petition id ([0-9a-f]{32})", shown)
    assert found is not None, shown
    opened = deployment.ok("bureau", "bureau", "show", found.group(1), *deployment.bureau_flags())
    assert f"ID:         {ID_NUMBER}" in opened
    assert "Respondent: 某区住建局" in opened
    assert "第一段。\n    第二段。" in opened
