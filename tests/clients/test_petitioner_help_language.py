"""The petitioner's ``--help`` is in the chosen language, chosen before the parser is built.

A petitioner who reads Chinese types ``petition --lang zh submit --help`` before anything else:
the help texts of ``petition`` itself, of the petitioner's commands and of their shared flags
(client/cli/options.py: ``--home``, ``--proxy``, ``--passphrase-file`` …) come from the shared
catalogs (cli_support/locales) like every other line the commands print. That works only if
``--lang`` is read before the parser is built (petition/cli.py reads it ahead of argparse, as
argparse will accept it: ``--lang X``, ``--lang=X``, a prefix such as ``--la``, and only before
the command). What is not prose stays as typed in every language: the usage line, flag names,
metavars, the ``PETITION_*`` variable after each flag. argparse's own words ("usage:",
"options:", "show this help message and exit") are argparse's and stay English.

The texts are read from the modules' source, where they are given to argparse, so a text added
later is checked without being listed here. Each command runs the real ``petition`` program
(tests/support/harness.py), as a person would.
"""

from __future__ import annotations

import ast
import re
import textwrap
import unicodedata
from pathlib import Path

import pytest
from harness import run_petition
from help_language import HELP_ARGUMENTS, help_output, marked

from cli_support.i18n import load_translation
from petition.cli import _lang_flag
from petition.parser import NO_LINE_START, HelpFormatter, wrap_columns

ROOT = Path(__file__).resolve().parents[2]
MODULES = (
    "petition/cli.py",
    "client/cli/petitioner.py",
    "client/cli/offline.py",
    "client/cli/options.py",
    "client/cli/demo.py",
)
COMMANDS = [
    (),
    ("init",),
    ("bureaus",),
    ("submit",),
    ("status",),
    ("review",),
    ("seal",),
    ("deliver",),
    ("directory",),
    ("directory", "export"),
    ("demo",),
]
CJK = re.compile(r"[\u4e00-\u9fff]")


def _help_texts() -> set[str]:
    """Every text the petitioner's modules give argparse, and their tables of help (``*_HELP``).

    A text with a ``%(name)s`` value is left out (argparse shows it filled in); a table's entry
    that a petitioner's command never shows (the keystore's passphrase) is simply not found.
    """
    texts: set[str] = set()
    for module in MODULES:
        tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
        constants: dict[str, str] = {}
        for statement in tree.body:
            if not (
                isinstance(statement, ast.Assign) and isinstance(statement.targets[0], ast.Name)
            ):
                continue
            name, value = statement.targets[0].id, statement.value
            text = marked(value, {})
            if text is not None:
                constants[name] = text
            if name.endswith("_HELP") and isinstance(value, ast.Dict):
                texts.update(text for item in value.values if (text := marked(item, {})))
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg in HELP_ARGUMENTS:
                if isinstance(node.value, ast.Constant):  # a title or help left unmarked
                    raise AssertionError(f"{module}:{node.value.lineno}: not marked")
                text = marked(node.value, constants)
                if text is not None:
                    texts.add(text)
    return {text for text in texts if "%(" not in text}


HELP_TEXTS = _help_texts()


def _whole(text: str, shown: str) -> bool:
    """Whether ``text`` is one whole text of the help: a line, a title, or a flag's help.

    Not a part of another (``the submission server`` is in another command's summary).
    """
    pattern = rf"(?:^|  ){re.escape(text)}(?: \(PETITION_\w+\)|:)?$"
    return re.search(pattern, shown, re.MULTILINE) is not None


_help = help_output


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: " ".join(command) or "petition")
def test_the_help_is_in_the_chosen_language(command: tuple[str, ...]) -> None:
    english, chinese = _help("--lang", "en", *command), _help("--lang", "zh", *command)
    assert english == _help(*command)  # the suite's C locale: the English of old
    assert not CJK.search(english), english
    zh = load_translation("zh")
    shown = [text for text in HELP_TEXTS if _whole(text, english)]
    # The description and at least one flag or command (``demo`` has no flag of its own).
    assert len(shown) >= (1 if command == ("demo",) else 2), english
    for text in shown:
        assert not _whole(text, chinese), text
        assert _whole(zh.gettext(text), chinese), text
    # What is not prose is the same in both: the usage line after its word, and each flag's
    # variable. argparse's own words are in the chosen language too.
    assert chinese.splitlines()[0].removeprefix("用法：") == english.splitlines()[0].removeprefix(
        "usage: "
    )
    assert re.search(r"^  -h, --help +显示本帮助信息并退出$", chinese, re.MULTILINE), chinese
    assert "选项:" in chinese.splitlines()
    for variable in re.findall(r"\((PETITION_\w+)\)", english):
        assert f"({variable})" in chinese


def test_filled_in_values_and_shared_flags_are_translated_too() -> None:
    """A number put into the sentence, and the flags every network command shares."""
    english, chinese = _help("--lang", "en", "seal"), _help("--lang", "zh", "seal")
    assert "pinned authority and at most 30 days old (PETITION_DIRECTORY)" in english
    assert "且不超过 30 天 (PETITION_DIRECTORY)" in chinese
    english, chinese = _help("--lang", "en", "status"), _help("--lang", "zh", "status")
    assert "retries included (default 60; an upload adds time for its size)" in english
    assert "（默认 60；上传会按大小增加时间）" in chinese
    assert "read the receipt file passphrase from the first line of this file" in english
    assert "从这个文件的第一行读取回执文件的口令" in chinese


@pytest.mark.parametrize(
    "spelling",
    [("--lang=zh",), ("--la", "zh"), ("--verbose", "--lang", "zh")],
    ids=" ".join,
)
def test_every_spelling_argparse_takes_chooses_the_language(spelling: tuple[str, ...]) -> None:
    assert _help(*spelling, "submit") == _help("--lang", "zh", "submit")


def test_the_flag_wins_over_the_environment_and_belongs_before_the_command() -> None:
    english = _help("--lang", "en", "init")
    assert _help("--lang", "en", "init", env={"PETITION_LANG": "zh"}) == english
    assert _help("init", env={"PETITION_LANG": "zh"}) == _help("--lang", "zh", "init")
    # After the command, ``--lang`` is not petition's: it chooses nothing.
    assert _help("init", "--lang", "zh") == english


def test_a_language_argparse_refuses_is_still_a_usage_error() -> None:
    result = run_petition("--lang", "fr", "init", "--help")
    assert result.returncode == 2
    assert "argument --lang: invalid choice: 'fr'" in result.stderr
    assert not result.stdout


@pytest.mark.parametrize(
    ("arguments", "english", "chinese"),
    [
        (("bureau", "show"), "the following arguments are required: PETITION_ID, --keystore",
         "缺少必需的参数：PETITION_ID, --keystore"),
        (("bureau", "export-keys", "--role", "x"),
         "argument --role: invalid choice: 'x' (choose from 'handler', 'intake')",
         "参数 --role：无效的选项值：'x'（可选：'handler', 'intake'）"),
        (("bureaus", "--nope"), "unrecognized arguments: --nope", "无法识别的参数：--nope"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, tuple) else "",
)  # fmt: skip
def test_argparse_usage_errors_are_in_the_chosen_language(
    arguments: tuple[str, ...], english: str, chinese: str
) -> None:
    """The usage line and the error line, with the ASCII ``PROG: error:`` prefix in both; the
    English exactly argparse's."""
    for language, sentence, usage in (("en", english, "usage: "), ("zh", chinese, "用法：")):
        result = run_petition("--lang", language, *arguments)
        assert result.returncode == 2
        lines = result.stderr.splitlines()
        assert lines[0].startswith(usage + "petition")
        assert lines[-1].endswith(": error: " + sentence), result.stderr
        assert lines[-1].startswith("petition")


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["--lang", "zh", "status"], "zh"),
        (["--lang=en", "status"], "en"),
        (["--l", "zh"], "zh"),
        (["--verbose", "--lan=zh"], "zh"),
        (["--lang"], None),  # no value: argparse's error, nothing chosen
        (["status", "--lang", "zh"], None),  # the command's options are not petition's
        (["--", "--lang", "zh"], None),
        (["--language", "zh"], None),  # not a prefix of --lang: argparse refuses it
    ],
)
def test_the_flag_is_read_as_argparse_reads_it(arguments: list[str], expected: str | None) -> None:
    assert _lang_flag(arguments) == expected


def _columns(line: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in line)


@pytest.mark.parametrize("command", [(), ("review",), ("seal",), ("deliver",)], ids=" ".join)
def test_the_chinese_help_fits_the_terminal(command: tuple[str, ...]) -> None:
    """A Chinese character takes two columns: lines are wrapped by columns, not characters, so
    none runs past the terminal's edge, out of its indentation (the usage line is argparse's,
    as wide in English)."""
    chinese = _help("--lang", "zh", *command, env={"COLUMNS": "80"})
    body = chinese.split("\n\n", 1)[1]
    assert all(_columns(line) <= 80 for line in body.splitlines()), body
    assert not any(line.strip()[:1] in NO_LINE_START for line in body.splitlines()), body


@pytest.mark.parametrize(
    ("text", "width", "lines"),
    [
        ("一二三四五", 4, ["一二", "三四", "五"]),
        ("一二，三四", 4, ["一二，", "三四"]),  # a comma stays with what it ends
        ("一二（三）", 6, ["一二", "（三）"]),  # a bracket with what it opens
        ("中文 abc def", 7, ["中文", "abc def"]),  # a space counts
        ("中文 abc def", 8, ["中文 abc", "def"]),
        (
            "见 `petition seal --directory FILE`。",
            12,
            ["见 `petition", "seal", "--directory", "FILE`。"],
        ),
    ],
)
def test_chinese_is_wrapped_by_columns(text: str, width: int, lines: list[str]) -> None:
    assert wrap_columns(text, width) == lines


def test_english_is_wrapped_by_argparse_as_always() -> None:
    text = "give up when the server has not finished answering after this many seconds in all"
    formatter = HelpFormatter("petition")
    assert formatter._split_lines(text, 30) == textwrap.wrap(text, 30)
    assert formatter._fill_text(text, 30, "  ") == textwrap.fill(
        text, 30, initial_indent="  ", subsequent_indent="  "
    )
