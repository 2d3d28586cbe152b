"""What the ``--help`` language tests share (tests/clients/test_*_help_language.py): reading a
help text where a module gives it to argparse, and running ``petition … --help`` so that each
text is shown whole.

Each test module keeps its own rule for *which* texts of its modules are help (the petitioner's
every keyword and ``*_HELP`` table, the bureau's the functions that build its parsers).
"""

from __future__ import annotations

import ast

from harness import run_petition

#: The keywords of argparse that take prose.
HELP_ARGUMENTS = ("help", "description", "title")


def marked(value: ast.expr, constants: dict[str, str]) -> str | None:
    """The text of ``_("…")``, ``N_("…")`` or ``_(CONSTANT)``; None for anything else."""
    if not (isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.args):
        return None
    if value.func.id not in ("_", "N_"):
        return None
    argument = value.args[0]
    if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
        return argument.value
    if isinstance(argument, ast.Name):
        return constants.get(argument.id)
    return None


def help_output(*arguments: str, env: dict[str, str] | None = None) -> str:
    """``petition ARGUMENTS --help``'s output, which must succeed."""
    # A wide terminal: argparse then wraps no line, so each text is shown whole.
    result = run_petition(*arguments, "--help", env={"COLUMNS": "3000", **(env or {})})
    assert result.returncode == 0, result.stderr
    return result.stdout
