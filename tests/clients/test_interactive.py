"""``petition submit`` and ``seal`` asking for what is missing, on a real pseudo-terminal.

The ID number is asked first, at a no-echo prompt: the test reads everything the terminal showed
and checks that the number never appears, while the petition still arrives with it inside. Each
field is checked when entered: a mistyped ID number or an empty required field is explained and
asked again, and what was typed before stays. The optional body complained about is asked too,
as the petition is being typed anyway. A summary and an explicit "y" come before anything is
sealed; "n", Ctrl-D and Ctrl-C at any prompt cancel with one line, and the server then has no
new petition (its log did not grow). With ``$EDITOR`` set, the text is written in the editor
(a small script here) in a private folder that is gone afterwards.
"""

from __future__ import annotations

import os
import platform
import pty
import re
import select
import sys
import time
from pathlib import Path

import pytest
from deployment import BUREAU_ID, Deployment
from harness import PETITION, checkpoint_size

ID_NUMBER = "440524198001010013"
MISTYPED_ID = "440524198001010014"  # the check character is wrong
CTRL_C = "\x03"
CTRL_D = "\x04"
CANCELLED = "petition: error: cancelled; nothing was sent"


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

    def press(self, key: str) -> None:
        """A control key alone (Ctrl-C, Ctrl-D), without Enter.

        Ctrl-C waits until the command is blocked reading the terminal, as it is long before a
        person's finger lands. CPython's ``input()`` writes the prompt, then calls ``read``;
        a SIGINT that arrives between the two only sets a flag that is checked after ``read``
        returns, so the command would wait for a line that never comes. A test that presses
        within microseconds of the prompt would be testing that race, not the command.
        """
        if key == CTRL_C:
            _wait_until_reading(self.pid)
        os.write(self.fd, key.encode())

    def shown(self) -> str:
        return self.seen.decode(errors="replace")

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


#: System calls that mean "waiting for the terminal", as /proc/PID/syscall numbers them: read,
#: and the select/poll family (input() waits in those when GNU readline is loaded).
WAITING_SYSCALLS = {
    "x86_64": {"0", "7", "23", "270", "271"},
    "aarch64": {"63", "72", "73"},
}


def _wait_until_reading(pid: int, timeout: float = 30) -> None:
    """Until the process waits for its terminal; a short pause where /proc cannot say."""
    waiting = WAITING_SYSCALLS.get(platform.machine())
    path = Path(f"/proc/{pid}/syscall")
    if waiting is None or not path.exists():
        time.sleep(0.5)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if path.read_text().split(" ", 1)[0] in waiting:
                return
        except OSError:
            break
        time.sleep(0.01)
    time.sleep(0.5)


def _env(deployment: Deployment, **extra: str) -> dict[str, str]:
    env = {**os.environ, "PETITION_HOME": str(deployment.homes["petitioner"]), **extra}
    for name in ("PETITION_DEBUG", "EDITOR", "VISUAL"):
        if name not in extra:
            env.pop(name, None)
    return env


def _given(*skip: str) -> list[str]:
    """Every field as a flag but those in ``skip`` (and the text, always typed)."""
    flags = {"--id-number": ID_NUMBER, "--name": "孙八", "--contact": "13600000000",
             "--subject": "取消的请愿", "--category": "其他", "--region": "重庆",
             "--respondent": "某镇政府"}  # fmt: skip
    return [item for flag, value in flags.items() if flag not in skip for item in (flag, value)]


def _submit_args(*extra: str) -> list[str]:
    return [*PETITION, "submit", "--bureau", BUREAU_ID, "--no-qr", *extra]


def _lines_after(terminal: Terminal, mark: int) -> list[str]:
    """What the terminal showed after ``mark``, as lines, without the echoed ^C or ^D."""
    text = terminal.seen[mark:].decode(errors="replace").replace("^C", "").replace("^D", "")
    return [line.strip() for line in text.replace("\r", "\n").split("\n") if line.strip()]


def test_missing_fields_are_asked_for_and_the_id_is_not_echoed(deployment: Deployment) -> None:
    """ID first, mistyped and corrected in place; an empty subject asked again; the summary; y;
    the receipt, and the reminder to clear the terminal."""
    terminal = Terminal(_submit_args(), _env(deployment))
    terminal.expect("Ctrl-D or Ctrl-C at any question cancels")
    terminal.expect("Resident ID number")
    terminal.type(MISTYPED_ID)
    terminal.expect("✗ The check character .* is probably mistyped. Please type it again.")
    terminal.expect("(?s)Resident ID number.*Resident ID number")  # asked again, not exited
    terminal.type(ID_NUMBER)
    terminal.expect("Your real name")
    terminal.type("钱七")
    terminal.expect(re.escape("How the bureau can reach you (phone, address) (optional"))
    terminal.type("13700000000")
    terminal.expect("Subject")
    terminal.type("   ")
    terminal.expect("✗ Must not be empty. Please type it again.")
    terminal.expect("(?s)Subject.*Subject")
    terminal.type("交互式提交")
    for prompt, answer in [
        ("Category", "其他"),
        ("Region", "天津"),
        ("The body you complain about \\(optional", "某区住建局"),
    ]:
        terminal.expect(prompt)
        terminal.type(answer)
    terminal.expect("finish with a line holding only a full stop")
    terminal.type("第一段。")
    terminal.type("第二段。")
    terminal.type(".")
    terminal.expect(re.escape("Send it to 国家信访局 (national) now? [y/N]"))
    summary = terminal.shown().split("Please check before it is sealed:")[1]
    for expected in ["ID number:", "checked; not shown", "钱七", "13700000000", "交互式提交",
                     "天津", "某区住建局", "2 line(s), 9 characters", "第二段。",
                     "The bureau may use your contact details: yes",
                     "go with a transfer: no"]:  # fmt: skip
        assert expected in summary, (expected, summary)
    terminal.type("y")
    assert terminal.finish() == 0, terminal.shown()
    shown = terminal.shown()
    assert ID_NUMBER not in shown
    assert MISTYPED_ID not in shown
    assert shown.rstrip().endswith(
        "Before you leave this computer, clear this terminal (or close its window): it still "
        "shows what you typed and your receipt code."
    ), shown[-400:]
    found = re.search(r"petition id ([0-9a-f]{32})", shown)
    assert found is not None, shown
    opened = deployment.ok("bureau", "bureau", "show", found.group(1), *deployment.bureau_flags())
    assert f"ID:         {ID_NUMBER}" in opened
    assert "Respondent: 某区住建局" in opened
    assert "第一段。\n    第二段。" in opened


def test_no_at_send_sends_nothing(deployment: Deployment) -> None:
    before = checkpoint_size(deployment.client)
    terminal = Terminal(_submit_args(*_given()), _env(deployment))
    terminal.expect("finish with a line holding only a full stop")
    terminal.type("不要发送。")
    terminal.type(".")
    terminal.expect(re.escape("now? [y/N]"))
    terminal.type("maybe")
    terminal.expect("(?s)Please answer y \\(yes\\) or n \\(no\\).*now\\? \\[y/N\\] ")
    mark = len(terminal.seen)
    terminal.type("n")
    assert terminal.finish() == 1, terminal.shown()
    assert _lines_after(terminal, mark) == ["n", CANCELLED]
    assert checkpoint_size(deployment.client) == before  # the server has no new petition


TEXT = "TEXT"
SEND = "SEND"
# (what the flags leave out, the whole prompt to stop at, the key)
STOPS = {
    "ctrl-d at the hidden ID number": ("--id-number", "not shown as you type\\): ", CTRL_D),
    "ctrl-c at the hidden ID number": ("--id-number", "not shown as you type\\): ", CTRL_C),
    "ctrl-d at the name": ("--name", "Your real name: ", CTRL_D),
    "ctrl-c at the subject": ("--subject", "Subject \\(one line\\): ", CTRL_C),
    "ctrl-d in the text": ("", TEXT, CTRL_D),
    "ctrl-c in the text": ("", TEXT, CTRL_C),
    "ctrl-d at send?": ("", SEND, CTRL_D),
    "ctrl-c at send?": ("", SEND, CTRL_C),
}


@pytest.mark.parametrize("stop", list(STOPS))
def test_ctrl_d_and_ctrl_c_cancel_with_one_line(deployment: Deployment, stop: str) -> None:
    left_out, prompt, key = STOPS[stop]
    before = checkpoint_size(deployment.client)
    terminal = Terminal(_submit_args(*_given(left_out)), _env(deployment))
    if prompt in {TEXT, SEND}:
        terminal.expect(re.escape("only a full stop (.). Ctrl-D or Ctrl-C cancels."))
        terminal.type("写了一半的第一行")  # a line typed, then the key on the next
        prompt = "写了一半的第一行\r\n"  # its echo
    if prompt == SEND:
        terminal.type(".")
        prompt = re.escape("now? [y/N] ")
    terminal.expect(prompt)
    mark = len(terminal.seen)
    terminal.press(key)
    assert terminal.finish() == 1, terminal.shown()
    assert _lines_after(terminal, mark) == [CANCELLED], terminal.shown()
    assert "Traceback" not in terminal.shown()
    assert checkpoint_size(deployment.client) == before


EDITOR = """#!{python}
# A person in an editor: the first time they close it without writing; then they write.
import pathlib, sys
path = pathlib.Path(sys.argv[1])
log = pathlib.Path({log!r})
with log.open("a") as out:
    print(path, oct(path.stat().st_mode & 0o777), oct(path.parent.stat().st_mode & 0o777), file=out)
if len(log.read_text().splitlines()) > 1:
    path.write_text(path.read_text(encoding="utf-8") + "在编辑器里写的。\\n第二行。\\n",
                    encoding="utf-8")
"""


def test_the_text_is_written_in_editor_when_set(deployment: Deployment, tmp_path: Path) -> None:
    log = tmp_path / "editor.log"
    editor = tmp_path / "editor"
    editor.write_text(EDITOR.format(python=sys.executable, log=str(log)))
    editor.chmod(0o700)
    terminal = Terminal(_submit_args(*_given()), _env(deployment, EDITOR=str(editor)))
    terminal.expect(f"opens in {re.escape(str(editor))}")
    terminal.expect("✗ Must not be empty. Please type it again.")
    terminal.expect(re.escape("Press Enter to open the editor again"))
    terminal.type("")
    terminal.expect(re.escape("now? [y/N]"))
    assert "在编辑器里写的。" in terminal.shown()  # in the summary
    terminal.type("y")
    assert terminal.finish() == 0, terminal.shown()
    calls = [line.split() for line in log.read_text().splitlines()]
    assert len(calls) == 2
    assert calls[0][0] == calls[1][0]  # the same file again: what was written stays
    assert calls[0][1:] == ["0o600", "0o700"]  # only this user can read the text
    assert not Path(calls[0][0]).parent.exists()  # removed with anything the editor left
    found = re.search(r"petition id ([0-9a-f]{32})", terminal.shown())
    assert found is not None, terminal.shown()
    opened = deployment.ok("bureau", "bureau", "show", found.group(1), *deployment.bureau_flags())
    assert "在编辑器里写的。\n    第二行。" in opened


def test_seal_asks_the_same_way_and_no_writes_nothing(
    deployment: Deployment, tmp_path: Path
) -> None:
    out = tmp_path / "petition.sealed"
    args = [*PETITION, "seal", "--bureau", BUREAU_ID, "--no-qr", "--out", str(out),
            *_given("--id-number")]  # fmt: skip
    terminal = Terminal(args, _env(deployment))
    terminal.expect("Resident ID number")
    terminal.type(ID_NUMBER[:-1])
    terminal.expect("✗ .*18 characters.* Please type it again.")
    terminal.expect("(?s)Resident ID number.*Resident ID number")
    terminal.type(ID_NUMBER)
    terminal.expect("finish with a line holding only a full stop")
    terminal.type("封存前取消。")
    terminal.type(".")
    terminal.expect(re.escape("Seal it for 国家信访局 (national) now? [y/N]"))
    mark = len(terminal.seen)
    terminal.type("")  # Enter alone is no
    assert terminal.finish() == 1, terminal.shown()
    assert _lines_after(terminal, mark) == [
        "petition: error: cancelled; nothing was sealed or written"
    ]
    assert ID_NUMBER[:-1] not in terminal.shown()
    assert not out.exists()


def test_a_bad_flag_is_one_line_before_anything_is_asked(deployment: Deployment) -> None:
    result = deployment.run(
        "petitioner", "submit", "--bureau", BUREAU_ID, *_given("--subject"), "--subject", ""
    )
    assert result.returncode == 1
    assert result.stderr == "petition: error: --subject: must not be empty\n"


# --- In Chinese: LANG=zh_CN.UTF-8 (issue 20, item 1) ----------------------------------------------

CANCELLED_ZH = "petition: error: 已取消；没有发送任何内容"
REPLY_NONE_ZH = "尚无答复。"
REMINDER_ZH = (
    "离开这台电脑之前，请清除此终端（或关闭其窗口）：上面仍显示着您输入的内容和您的回执码。"
)


def test_the_whole_flow_in_chinese_by_the_locale(deployment: Deployment) -> None:
    """Every prompt, the reason of a mistyped ID number (the web UI's sentence for its rule),
    the summary and the question in Chinese; "n" cancels with the Chinese line (the prefix
    stays ``petition: error:``); a second run sends, in Chinese to its last line."""
    before = checkpoint_size(deployment.client)
    zh = _env(deployment, LANG="zh_CN.UTF-8")
    terminal = Terminal(_submit_args(), zh)
    terminal.expect("在任何问题处按 Ctrl-D 或 Ctrl-C 即可取消")
    terminal.expect(re.escape("居民身份证号码（18 位；输入时不显示）："))
    terminal.type(MISTYPED_ID)
    terminal.expect(re.escape("✗ 最后一位校验码与前 17 位不符，可能有一位输错了。请重新输入。"))
    terminal.expect("(?s)请重新输入。.*居民身份证号码")  # asked again, in place
    terminal.type(ID_NUMBER)
    for prompt, answer in [
        ("您的真实姓名：", "周九"),
        ("信访部门如何联系您（电话、地址） （可不填，直接按回车跳过）：", ""),
        ("标题（一行）：", "   "),
    ]:
        terminal.expect(re.escape(prompt))
        terminal.type(answer)
    terminal.expect(re.escape("✗ 不能为空。请重新输入。"))
    terminal.expect("(?s)不能为空.*标题（一行）：")
    terminal.type("中文界面的请愿")
    for prompt, answer in [
        ("类别：", "其他"),
        ("地区：", "河北"),
        ("被投诉的机关或单位 （可不填，直接按回车跳过）：", ""),
    ]:
        terminal.expect(re.escape(prompt))
        terminal.type(answer)
    terminal.expect(re.escape("请输入信访件正文；输入只有一个句号（. 或 。）的一行结束。"))
    terminal.type("第一段。")
    terminal.type("。")  # the full-width full stop ends the text too
    terminal.expect(re.escape("现在发送给 国家信访局（national）吗？ [y/N]"))
    summary = terminal.shown().split("封存之前请核对：")[1]
    for expected in ["身份证号码：", "已核验；不显示", "周九", "联系方式：", "（无）",
                     "中文界面的请愿", "河北", "1 行，4 个字符：", "第一段。",
                     "信访部门可以使用您的联系方式：是",
                     "转送时附上您的姓名、身份证号码和联系方式：否"]:  # fmt: skip
        assert expected in summary, (expected, summary)
    assert "Please" not in terminal.shown()
    assert "ID number" not in summary
    mark = len(terminal.seen)
    terminal.type("n")
    assert terminal.finish() == 1, terminal.shown()
    assert _lines_after(terminal, mark) == ["n", CANCELLED_ZH]
    assert checkpoint_size(deployment.client) == before  # nothing was sent

    terminal = Terminal(_submit_args(*_given()), zh)
    terminal.expect(re.escape("请输入信访件正文"))
    terminal.type("这一次发送。")
    terminal.type(".")
    terminal.expect(re.escape("吗？ [y/N]"))
    terminal.type("是")
    assert terminal.finish() == 0, terminal.shown()
    shown = terminal.shown()
    for expected in ["正在用信访部门的盐值对您的身份证号码做哈希", "正在发送封存的信访件",
                     "已提交给 国家信访局（national）。", "回执已验证：由日志签名",
                     "这是您的回执码。", "这台设备上没有保存这份信访件的任何内容。"]:  # fmt: skip
        assert expected in shown, (expected, shown)
    assert shown.rstrip().endswith(REMINDER_ZH), shown[-400:]
    assert ID_NUMBER not in shown
    assert checkpoint_size(deployment.client) > before
    # The status of what was sent: the events by the web UI's Chinese names.
    code = re.search(r"^\s*(1[0-9A-Z]{3}(?:-[0-9A-Z]{4}){6})\s*$", shown.replace("\r", ""), re.M)
    assert code is not None, shown
    status = deployment.run("petitioner", "status", env={**zh, "PETITION_CODE": code.group(1)})
    assert status.returncode == 0, status.stderr
    for expected in ["信访件 ", "提交给 国家信访局（national）", "事件（每一项都已用",
                     "已收到，办理机关：国家信访局 (national)", "已在日志中",
                     "期限（2022 年《信访工作条例》）", REPLY_NONE_ZH]:  # fmt: skip
        assert expected in status.stdout, (expected, status.stdout)


def test_lang_en_and_petition_lang_override_the_locale(deployment: Deployment) -> None:
    """``--lang en`` before the command, or PETITION_LANG=en, keeps a Chinese locale English;
    ``--lang zh`` makes the one error line Chinese (an ID number's mistake by its rule)."""
    zh = _env(deployment, LANG="zh_CN.UTF-8")
    args = ["submit", "--bureau", BUREAU_ID, *_given("--id-number"), "--id-number", MISTYPED_ID]
    english = deployment.run("petitioner", "--lang", "en", *args, env=zh)
    assert english.returncode == 1
    assert english.stderr.startswith("petition: error: ")
    assert "check character" in english.stderr
    by_variable = deployment.run("petitioner", *args, env={**zh, "PETITION_LANG": "en"})
    assert by_variable.stderr == english.stderr
    chinese = deployment.run("petitioner", "--lang", "zh", *args, env={"LANG": "C.UTF-8"})
    assert chinese.stderr == "petition: error: 最后一位校验码与前 17 位不符，可能有一位输错了。\n"
