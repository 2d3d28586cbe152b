"""The installed ``petition`` program, run as a user runs it (a real subprocess)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib import metadata

import pytest

PETITION = shutil.which("petition", path=os.path.dirname(sys.executable))


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    assert PETITION is not None, "the petition console script is not installed in this venv"
    return subprocess.run(  # noqa: S603 - our own console script
        [PETITION, *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_version_matches_the_distribution_metadata() -> None:
    result = _run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"petition {metadata.version('sealed-petition')}"


def test_help_lists_the_contributed_subcommands() -> None:
    result = _run("--help")
    assert result.returncode == 0
    assert "demo" in result.stdout


def test_no_subcommand_prints_help_and_fails() -> None:
    result = _run()
    assert result.returncode == 2
    assert "usage: petition" in result.stdout


@pytest.mark.parametrize("args", [("no-such-command",), ("--no-such-flag",)])
def test_usage_errors_are_one_clear_line_without_traceback(args: tuple[str, ...]) -> None:
    result = _run(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("petition: error:")
