"""The one rule for ``PETITION_*`` variables (cli_support/environment.py), through the real program.

A variable is parsed only by the command that has the flag it stands for; a bad value for a flag
the chosen command uses is one line naming the variable, exit 1. Before issue 15 every server
flag's variable was parsed while the parser was built, so ``PETITION_WORKERS=x petition
--version`` failed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from client.cli.options import flag

PETITION = shutil.which("petition", path=os.path.dirname(sys.executable))


def _run(tmp_path: Path, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    assert PETITION is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("PETITION_")}
    env.update({"PETITION_HOME": str(tmp_path / "home"), **variables})
    return subprocess.run(  # noqa: S603 - our own console script
        [PETITION, *args], capture_output=True, text=True, timeout=60, check=False, env=env,
        cwd=tmp_path,
    )  # fmt: skip


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    "variables",
    [{"PETITION_WORKERS": "x"}, {"PETITION_MAX_BATCH": "1.5"}, {"PETITION_RETRIES": "many"}],
)
def test_a_bad_variable_does_not_touch_a_command_without_its_flag(
    tmp_path: Path, variables: dict[str, str]
) -> None:
    result = _run(tmp_path, "--version", **variables)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("petition ")


def test_a_server_variable_does_not_touch_a_client_command(tmp_path: Path) -> None:
    """``status`` fails on its own argument (a short code), not on PETITION_MAX_BATCH."""
    result = _run(tmp_path, "status", "1234", PETITION_MAX_BATCH="1.5", PETITION_WORKERS="x")
    line = _one_line(result)
    assert "receipt code" in line
    assert "PETITION_" not in line


@pytest.mark.parametrize(
    ("args", "variable", "value", "expected"),
    [
        (("serve",), "PETITION_WORKERS", "x", "PETITION_WORKERS: expected a whole number, got 'x'"),
        (("serve",), "PETITION_MAX_BATCH", "1.5",
         "PETITION_MAX_BATCH: expected a whole number, got '1.5'"),
        (("serve",), "PETITION_BATCH_LINGER", "soon",
         "PETITION_BATCH_LINGER: expected a number, got 'soon'"),
        (("bureaus",), "PETITION_RETRIES", "1.5",
         "PETITION_RETRIES: expected a whole number, got '1.5'"),
        (("bureaus",), "PETITION_DEADLINE", "nan",
         "PETITION_DEADLINE: expected a number, got 'nan'"),
        (("submit", "--bureau", "b"), "PETITION_NO_QR", "maybe",
         "PETITION_NO_QR: expected 1/0, true/false, yes/no or on/off, got 'maybe'"),
        (("bureau", "export-keys", "--keystore", "k", "--out", "o"), "PETITION_ROLE", "boss",
         "PETITION_ROLE: expected one of handler, intake, got 'boss'"),
    ],
)  # fmt: skip
def test_a_bad_variable_for_a_flag_the_command_uses_is_one_line_naming_it(
    tmp_path: Path, args: tuple[str, ...], variable: str, value: str, expected: str
) -> None:
    extra = {} if args[0] != "serve" else {"PETITION_DATA": str(tmp_path / "data")}
    line = _one_line(_run(tmp_path, *args, **{variable: value, **extra}))
    assert line == f"petition: error: {expected}"
    assert not (tmp_path / "data").exists()  # refused before anything was created


def test_the_flag_wins_over_a_bad_variable(tmp_path: Path) -> None:
    """The variable is only a default: a flag on the command line means it is never parsed."""
    result = _run(
        tmp_path, "status", "1234", "--retries", "2", "--deadline", "5",
        PETITION_RETRIES="x", PETITION_DEADLINE="y",
    )  # fmt: skip
    assert "receipt code" in _one_line(result)


def test_a_bad_value_on_the_command_line_is_still_a_usage_error_naming_the_flag(
    tmp_path: Path,
) -> None:
    result = _run(tmp_path, "serve", "--data", str(tmp_path / "data"), "--workers", "x")
    assert result.returncode == 2
    assert "argument --workers: invalid whole number value: 'x'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("value", "expected"), [("0", False), ("no", False), ("1", True)])
def test_a_false_word_in_a_boolean_variable_is_false(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: bool
) -> None:
    """``PETITION_ALLOW_CONTACT=0`` used to become the string "0", which Python counts as true."""
    monkeypatch.setenv("PETITION_ALLOW_CONTACT", value)
    parser = argparse.ArgumentParser()
    flag(parser, "--allow-contact", action=argparse.BooleanOptionalAction, default=None)
    assert parser.parse_args([]).allow_contact is expected
    assert parser.parse_args(["--no-allow-contact"]).allow_contact is False
