"""The bureau's, the auditor's and ``petition ui``'s ``--help`` is in the chosen language.

A reviewer, an auditor or a helper at a kiosk who reads Chinese types ``petition --lang zh
bureau transfer --help`` (or sets PETITION_LANG=zh) and must get the commands' descriptions and
their flags' help from the shared catalogs (cli_support/locales), like every other line those
commands print; ``--lang en`` and the suite's C locale keep the English of old, byte for byte.
What is not prose stays as typed: the usage line, flag names, metavars, choices, and the
``PETITION_*`` variable after each flag. argparse's own words ("usage:", "options") are in the
chosen language too (petition/parser.py).

The texts are read from the modules' source, where they are given to argparse, so a text added
later is checked without being listed here; the commands run the real ``petition`` program.

The bureau's commands also number a log entry from 1 for people, as the web UI and the
petitioner's commands do: on a fresh log, the first petition is "entry 1" everywhere.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from deployment import BUREAU_ID, Deployment
from help_language import HELP_ARGUMENTS, help_output, marked

from cli_support.i18n import load_translation

ROOT = Path(__file__).resolve().parents[2]
MODULES = (
    "client/cli/bureau.py",
    "client/cli/audit.py",
    "petition/threat_audit.py",
    "webui/cli.py",
)
#: The functions that give argparse its texts, and the table of the event commands.
HELP_FUNCTIONS = {"register", "_keystore", "_page_flags", "_server_flag", "_event_description"}
HELP_TABLES = {"EVENT_COMMANDS"}
COMMANDS = [
    ("bureau", "init"),
    ("bureau", "export-keys"),
    ("bureau", "inbox"),
    ("bureau", "show"),
    ("bureau", "intake"),
    ("bureau", "acknowledge"),
    ("bureau", "not-competent"),
    ("bureau", "transfer"),
    ("bureau", "assign"),
    ("bureau", "extend"),
    ("bureau", "decide"),
    ("bureau", "reviewed"),
    ("bureau", "re-reviewed"),
    ("bureau", "close"),
    ("audit", "log"),
    ("audit", "receipt"),
    ("audit", "export-checkpoints"),
    ("audit", "compare"),
    ("audit", "policy"),
    ("audit", "stats"),
    ("audit", "threat-model"),
    ("ui",),
]
CJK = re.compile(r"[\u4e00-\u9fff]")


def _help_texts() -> set[str]:
    """Every text these modules give argparse (a filled-in one, with ``%(name)s``, left out)."""
    texts: set[str] = set()
    for module in MODULES:
        tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
        constants = {
            statement.targets[0].id: text
            for statement in tree.body
            if isinstance(statement, ast.Assign)
            and isinstance(statement.targets[0], ast.Name)
            and isinstance(statement.value, ast.Call)
            and (text := marked(statement.value, {})) is not None
        }
        for statement in tree.body:
            named = isinstance(statement, ast.FunctionDef) and statement.name in HELP_FUNCTIONS
            table = (
                isinstance(statement, ast.Assign)
                and isinstance(statement.targets[0], ast.Name)
                and statement.targets[0].id in HELP_TABLES
            )
            if not (named or table):
                continue
            for node in ast.walk(statement):
                if isinstance(node, ast.keyword) and node.arg in HELP_ARGUMENTS:
                    value = node.value
                    assert not isinstance(value, (ast.Constant, ast.JoinedStr)), (
                        f"{module}:{value.lineno}: a help text not marked for the catalogs"
                    )
                if isinstance(node, ast.Call) and (text := marked(node, constants)):
                    texts.add(text)
    return {text for text in texts if "%(" not in text}


HELP_TEXTS = _help_texts()


_help = help_output


def test_the_texts_are_found() -> None:
    """The source reading finds the event commands' table and the shared helpers' texts."""
    assert "the bureau's keystore file" in HELP_TEXTS  # _keystore()
    assert "close the case (answers nothing: a deadline missed stays missed)" in HELP_TEXTS
    assert any(text.startswith(" With --message, the written notice") for text in HELP_TEXTS)
    assert "print the address, open no browser" in HELP_TEXTS  # webui/cli.py
    assert len(HELP_TEXTS) > 80


def _usage(help_text: str, word: str) -> list[str]:
    """The usage block's words after ``word`` ("usage: " or "用法："), however it is wrapped."""
    block = help_text.split("\n\n")[0]
    assert block.startswith(word), block
    return block.removeprefix(word).split()


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_the_help_is_in_the_chosen_language(command: tuple[str, ...]) -> None:
    english, chinese = _help("--lang", "en", *command), _help("--lang", "zh", *command)
    assert english == _help(*command)  # the suite's C locale: the English of old
    zh = load_translation("zh")
    # A text is looked up as marked; argparse shows it without the space that joins sentences.
    shown = [text for text in HELP_TEXTS if text.strip() in english]
    assert len(shown) >= 2, english  # the description and at least one flag
    for text in shown:
        assert text.strip() not in chinese, text
        assert zh.gettext(text).strip() in chinese, text
    description = chinese.split("\n\n")[1]
    assert CJK.search(description), description
    # What is not prose is the same in both: the usage (after its word, which argparse indents
    # by), and each flag's variable.
    assert _usage(chinese, "用法：") == _usage(english, "usage: ")
    for variable in re.findall(r"\((PETITION_\w+)\)", english):
        assert f"({variable})" in chinese


@pytest.mark.parametrize(
    ("command", "english", "chinese"),
    [
        (("bureau", "extend"), "1 to 30 days (PETITION_DAYS)", "1 到 30 天 (PETITION_DAYS)"),
        (("ui",), "without a click (default 10)", "无人点击时自动重新开始（默认 10）"),
        (("audit", "stats"), "over all time (default: month);", "按全部时间统计（默认：month）"),
        (("audit", "receipt"), "a receipt file (.tlog-proof),", "回执文件（.tlog-proof）"),
    ],
    ids=["bureau extend --days", "ui --idle-minutes", "audit stats --period", "audit receipt"],
)
def test_a_value_filled_into_a_help_text(
    command: tuple[str, ...], english: str, chinese: str
) -> None:
    assert english in _help("--lang", "en", *command)
    assert chinese in _help("--lang", "zh", *command)


def test_petition_lang_chooses_the_help_language_too() -> None:
    chinese = _help("--lang", "zh", "bureau", "acknowledge")
    assert _help("bureau", "acknowledge", env={"PETITION_LANG": "zh"}) == chinese
    assert "受理信访件：第二十三条规定的书面告知（签名密钥）" in _help(
        "--lang", "zh", "bureau", env={"PETITION_LANG": "en"}
    )


def test_the_bureau_numbers_log_entries_from_1(deployment: Deployment, tmp_path: Path) -> None:
    """A fresh log: the first petition is entry 1 to the petitioner and to the bureau alike,
    and the event the bureau records next is entry 2."""
    body = tmp_path / "body.txt"
    body.write_text("工资被拖欠三个月。", encoding="utf-8")
    submitted = deployment.ok(
        "petitioner", "submit", "--bureau", BUREAU_ID, "--name", "王五",
        "--id-number", "110101199003071751", "--contact", "13900000000",
        "--subject", "拖欠工资", "--category", "劳动保障", "--region", "北京",
        "--body-file", str(body), "--no-qr",
    )  # fmt: skip
    found = re.search(r"petition id ([0-9a-f]{32})", submitted)
    assert found is not None, submitted
    petition_id = found.group(1)
    assert "entry 1 of a log of 1" in submitted

    flags = deployment.bureau_flags()
    shown = deployment.ok("bureau", "bureau", "show", petition_id, *flags)
    assert f"Petition {petition_id} (" in shown
    assert "latest event received, log entry 1, 0 reply/replies)" in shown
    intake = deployment.ok("bureau", "bureau", "intake", petition_id, *flags)
    assert "latest event received, log entry 1)" in intake
    recorded = deployment.ok("bureau", "bureau", "acknowledge", petition_id, *flags)
    assert recorded.rstrip().endswith(": public log entry 2"), recorded
    chinese = deployment.ok("bureau", "--lang", "zh", "bureau", "show", petition_id, *flags)
    assert "日志第 1 条，" in chinese
