"""A test run leaves the checkout as it found it (issue 20, item 6).

Tests write into temporary folders only; a run that changed a tracked file or left a new one
would make every checkout dirty after ``./dev.sh test`` (as the UI screenshots once did). This
plugin records ``git status --porcelain`` when the session starts and compares it when it
ends; a difference fails the run, naming each path that changed.

Under pytest-xdist only the controller checks (a worker has ``config.workerinput``): the
workers' sessions start and end inside the controller's, and one check is enough. Nothing is
checked outside a git checkout or without git, nor with ``--update-screenshots``, whose point
is to change tracked files. It is a plugin of its own (loaded by tests/conftest.py) so that
tests/test_clean_checkout.py can run it on a throwaway repository, and so that someone who
edits files while tests run can leave it out (``-p no:clean_checkout``).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

_BEFORE = pytest.StashKey[list[str]]()
_CHANGED = pytest.StashKey[list[str]]()
TITLE = "the test run changed the checkout"


def git_status(root: Path) -> list[str] | None:
    """Every changed, added, deleted or untracked (not ignored) path, or None when ``root`` is
    not in a git checkout or git is missing."""
    git = shutil.which("git")
    if git is None:
        return None
    try:
        result = subprocess.run(  # noqa: S603
            [git, "-C", str(root), "status", "--porcelain", "--untracked-files=all"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:  # not a git checkout (or one git cannot read)
        return None
    return sorted(result.stdout.splitlines())


def _checks(config: pytest.Config) -> bool:
    if hasattr(config, "workerinput"):  # an xdist worker: the controller checks
        return False
    return not config.getoption("update_screenshots", default=False)


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if not _checks(config):
        return
    before = git_status(config.rootpath)
    if before is not None:
        config.stash[_BEFORE] = before


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    before = config.stash.get(_BEFORE, None)
    if before is None:
        return
    after = git_status(config.rootpath)
    if after is None or after == before:
        return
    config.stash[_CHANGED] = sorted(
        [f"now:    {line}" for line in set(after) - set(before)]
        + [f"before: {line}" for line in set(before) - set(after)]
    )
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    changed = terminalreporter.config.stash.get(_CHANGED, None)
    if not changed:
        return
    terminalreporter.write_sep("=", TITLE, red=True, bold=True)
    terminalreporter.write_line(
        "`git status --porcelain` differs from the start of the run; a test wrote into the "
        "checkout instead of a temporary folder:"
    )
    for line in changed:
        terminalreporter.write_line(f"  {line}", red=True)
