"""The installed ``petition`` program, run as a user runs it (a real subprocess)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

PETITION = shutil.which("petition", path=os.path.dirname(sys.executable))


def _run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    assert PETITION is not None, "the petition console script is not installed in this venv"
    return subprocess.run(  # noqa: S603 - our own console script
        [PETITION, *args], capture_output=True, text=True, timeout=60, check=False, env=env,
        cwd=cwd,
    )  # fmt: skip


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


# -- arguments the system refuses as file names (issue 15, item 9) ------------------------------

LONG_CODE = "A" * 300  # a mistyped or pasted-twice code: longer than any file name may be
LONG_PATH = "/tmp/" + "a" * 300  # noqa: S108 - never created: the name itself is refused


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("status", LONG_CODE), "is neither a receipt code"),
        (("status", LONG_PATH), "nor a receipt file (File name too long)"),
        (("audit", "receipt", LONG_CODE), "is neither a receipt code"),
        (("audit", "export-checkpoints", "--out", LONG_PATH), "File name too long"),
        (("submit", "--bureau", "b", "--save-receipt", LONG_PATH), "File name too long"),
        (("submit", "--bureau", "b", "--qr-png", LONG_PATH), "File name too long"),
        (("seal", "--bureau", "b", "--out", LONG_PATH), "File name too long"),
        (("seal", "--bureau", "b", "--out", "p.sealed", "--qr-png", LONG_PATH),
         "File name too long"),
        (("directory", "export", LONG_PATH), "File name too long"),
        (("bureau", "init", "--id", "b", "--name", "B", "--keystore", "k", "--bundle", LONG_PATH),
         "File name too long"),
        (("bureau", "export-keys", "--keystore", "k", "--role", "intake", "--out", LONG_PATH),
         "File name too long"),
        (("bureaus", "--home", LONG_PATH), "File name too long"),
        (("serve", "--data", LONG_PATH), "File name too long"),
        (("admin", "init", "--data", LONG_PATH), "File name too long"),
        (("admin", "inspect", "--data", LONG_PATH, "0" * 32), "File name too long"),
        (("audit", "store", "--data", LONG_PATH), "File name too long"),
        (("audit", "threat-model", "--data", LONG_PATH), "File name too long"),
    ],
    ids=lambda value: "-".join(a[:12] for a in value) if isinstance(value, tuple) else "",
)  # fmt: skip
def test_an_argument_too_long_for_a_file_name_is_one_specific_line(
    tmp_path: Path, args: tuple[str, ...], expected: str
) -> None:
    """Every "code or file" and path argument: one line naming the problem, exit 1.

    Before the fix the name was looked up with ``Path.is_file``/``exists``, which raise for a name
    over 255 bytes, and the person saw "internal error (OSError)".
    """
    env = {**os.environ, "PETITION_HOME": str(tmp_path / "home")}
    env.pop("PETITION_DEBUG", None)
    result = _run(*args, env=env, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("petition: error: ")
    assert "internal error" not in lines[0]
    assert expected in lines[0]


@pytest.mark.parametrize("command", [("status",), ("audit", "receipt")])
def test_a_missing_receipt_file_is_named_as_a_missing_file(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    """A path that is not there is reported as a missing file, not as a code of the wrong length
    (issue 20: "a receipt code has 18 characters; this one has 24" for a mistyped path)."""
    env = {**os.environ, "PETITION_HOME": str(tmp_path / "home")}
    result = _run(*command, "receipts/petition.receipt", env=env, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines() == [
        "petition: error: there is no receipt file receipts/petition.receipt "
        "(and it is not a receipt code)"
    ]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("status", "--on", "2027-02-30"), "--on"),
        (("status", "--on", "2000-01-01"), "--on: a day from today on"),
        (("audit", "stats", "--today", "yesterday"), "--today"),
    ],
)
def test_a_bad_day_is_one_specific_line(
    tmp_path: Path, args: tuple[str, ...], expected: str
) -> None:
    """Days given on the command line are checked before anything is asked or sent."""
    env = {**os.environ, "PETITION_HOME": str(tmp_path / "home")}
    env.pop("PETITION_DEBUG", None)
    result = _run(*args, env=env, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("petition: error: ")
    assert expected in lines[0]
