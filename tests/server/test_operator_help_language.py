"""The operator's and the witness's ``--help`` is in the chosen language (issue 20, item 1).

An operator reads ``petition serve --help`` or ``petition admin add-witness --help`` before the
manual, so its prose comes from the shared catalogs (cli_support/locales) like everything else
the commands print: ``--lang zh`` gives Chinese help, ``--lang en`` the English of old. What is
not prose stays as typed in every language: flag names, metavars, the ``PETITION_*`` variable
after each flag. argparse's own words ("usage:", "options") are told in the chosen language too.

The texts are read from the modules' source, where they are given to argparse (``help=``,
``description=``, ``title=``), so a text added later is checked without being listed here.
Each command runs the real ``petition`` program (tests/support/harness.py).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from harness import run_petition

from cli_support.i18n import load_translation

ROOT = Path(__file__).resolve().parents[2]
MODULES = ("server/commands.py", "server/witness/commands.py")
COMMANDS = [
    ("serve",),
    ("admin",),
    ("admin", "init"),
    ("admin", "add-bureau"),
    ("admin", "add-witness"),
    ("admin", "republish"),
    ("admin", "inspect"),
    ("audit", "store"),
    ("witness",),
    ("witness", "init"),
    ("witness", "vkey"),
    ("witness", "add-log"),
    ("witness", "logs"),
    ("witness", "serve"),
]
CJK = re.compile(r"[\u4e00-\u9fff]")
#: Chinese in the English help on purpose: an example of what ``admin add-bureau --covers`` takes.
EXAMPLE = "广东省"


def _help_texts() -> set[str]:
    """Every text the operator's modules give argparse as help, description or title.

    A text given as a module constant (``help=_(DATA_HELP)``) is that constant's value. A text
    with a ``%(name)s`` value is left out: argparse shows it filled in.
    """
    texts: set[str] = set()
    for module in MODULES:
        tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
        constants = {
            target.id: _marked_text(node.value)
            for node in tree.body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg in ("help", "description", "title"):
                argument = node.value.args[0] if isinstance(node.value, ast.Call) else None
                if isinstance(argument, ast.Name):
                    text = constants[argument.id]
                else:
                    text = _marked_text(node.value)
                assert text is not None, (
                    f"{module}:{node.value.lineno}: not marked for the catalogs"
                )
                if "%(" not in text:
                    texts.add(text)
    return texts


def _marked_text(value: ast.expr) -> str | None:
    """The text of ``_("…")`` or ``N_("…")``; None for anything else."""
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.args:
        argument = value.args[0]
        if value.func.id in ("_", "N_") and isinstance(argument, ast.Constant):
            return argument.value if isinstance(argument.value, str) else None
    return None


HELP_TEXTS = _help_texts()


def _help(language: str, command: tuple[str, ...]) -> str:
    # A wide terminal: argparse then wraps no line, so each text is shown whole.
    result = run_petition("--lang", language, *command, "--help", env={"COLUMNS": "3000"})
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_the_help_is_in_the_chosen_language(command: tuple[str, ...]) -> None:
    english, chinese = _help("en", command), _help("zh", command)
    assert not CJK.search(english.replace(EXAMPLE, "")), english
    zh = load_translation("zh")
    shown = [text for text in HELP_TEXTS if text in english]
    assert len(shown) >= 2, english  # the description and at least one flag or action
    for text in shown:
        assert text not in chinese, text
        assert zh.gettext(text) in chinese, text
    # What is not prose is the same in both: the usage line after its word, flags and their
    # variables.
    assert chinese.splitlines()[0].removeprefix("用法：") == english.splitlines()[0].removeprefix(
        "usage: "
    )
    for variable in re.findall(r"\((PETITION_\w+)\)", english):
        assert f"({variable})" in chinese


def test_a_filled_in_default_is_translated_too() -> None:
    """``witness serve --port`` names its default port in the sentence, in both languages."""
    assert "the port to listen on (default 8700) (PETITION_WITNESS_PORT)" in _help(
        "en", ("witness", "serve")
    )
    assert "监听的端口（默认 8700） (PETITION_WITNESS_PORT)" in _help("zh", ("witness", "serve"))
