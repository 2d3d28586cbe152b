"""tests/support/clean_checkout.py on a throwaway git repository: a real pytest run (in its own
process, with and without pytest-xdist) fails when a test writes into the checkout, naming the
path, and passes when the tests leave it alone; outside a git checkout nothing is checked.

The suite's own run is checked by the same plugin (tests/conftest.py loads it): this file shows
that the check can fail, which the suite's green run alone cannot.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SUPPORT = Path(__file__).resolve().parent / "support"
GIT = shutil.which("git")
# A test that writes into the checkout when WRITE names a file, as a careless test would.
WRITER = """
import os
from pathlib import Path


def test_writes() -> None:
    if os.environ.get("WRITE"):
        Path(os.environ["WRITE"]).write_text("changed")


def test_another() -> None:
    pass
"""
pytestmark = pytest.mark.skipif(GIT is None, reason="git is not installed")


def _repository(root: Path, *, git: bool = True) -> Path:
    root.mkdir()
    (root / "pytest.ini").write_text("[pytest]\n")
    (root / "test_writer.py").write_text(WRITER)
    (root / "tracked.txt").write_text("as committed\n")
    if git:
        _git(root, "init", "-q")
        _git(root, "add", ".")
        _git(root, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "t")
    return root


def _git(root: Path, *args: str) -> None:
    assert GIT is not None
    subprocess.run([GIT, *args], check=True, capture_output=True, cwd=root)  # noqa: S603


def _pytest(root: Path, *args: str, write: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(SUPPORT),
        "PYTHONDONTWRITEBYTECODE": "1",
        "WRITE": write,
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",  # only what is named: a faster start
    }
    command = [sys.executable, "-m", "pytest", "-p", "clean_checkout", "-p", "no:cacheprovider"]
    return subprocess.run(  # noqa: S603
        [*command, "--rootdir", str(root), *args, str(root)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=root,
        env=env,
        check=False,
    )


def test_a_run_that_writes_into_the_checkout_fails_naming_the_paths(tmp_path: Path) -> None:
    root = _repository(tmp_path / "checkout")
    clean = _pytest(root)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "changed the checkout" not in clean.stdout

    changed = _pytest(root, write=str(root / "tracked.txt"))
    assert changed.returncode == 1, changed.stdout + changed.stderr
    assert "the test run changed the checkout" in changed.stdout
    assert "now:     M tracked.txt" in changed.stdout
    assert "2 passed" in changed.stdout  # every test passed; the run fails all the same

    # A new file is named too; the tracked file, already modified at the start, is not news.
    added = _pytest(root, write=str(root / "new.png"))
    assert added.returncode == 1, added.stdout + added.stderr
    assert "now:    ?? new.png" in added.stdout
    assert "tracked.txt" not in added.stdout


def test_under_xdist_the_controller_checks_once(tmp_path: Path) -> None:
    root = _repository(tmp_path / "checkout")
    result = _pytest(root, "-p", "xdist", "-n", "2", write=str(root / "tracked.txt"))
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.count("the test run changed the checkout") == 1, result.stdout
    assert "now:     M tracked.txt" in result.stdout


def test_outside_a_git_checkout_nothing_is_checked(tmp_path: Path) -> None:
    root = _repository(tmp_path / "plain", git=False)
    result = _pytest(root, write=str(root / "tracked.txt"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "changed the checkout" not in result.stdout
