"""Builds the Go conformance programs of tests/interop, offline, once per test session.

They are compiled in GOPATH mode against Debian's packaged sources of golang.org/x/mod
(``golang-golang-x-mod-dev``), so no module is downloaded. A machine without Go fails these
tests rather than skipping them, because a conformance check that silently disappears proves
nothing (``./dev.sh test`` installs Go).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

GO_SUMDB = Path("/usr/share/gocode/src/golang.org/x/mod/sumdb")


@pytest.fixture(scope="session")
def go_build(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path], Path]:
    """A function that builds one Go source file into a binary (cached) and returns its path."""
    go = shutil.which("go")
    if go is None or not (GO_SUMDB / "note").is_dir() or not (GO_SUMDB / "tlog").is_dir():
        pytest.fail("the interop tests need: apt-get install golang-go golang-golang-x-mod-dev")
    build = tmp_path_factory.mktemp("go")
    env = os.environ | {
        "GO111MODULE": "off",
        "GOPATH": "/usr/share/gocode",
        "GOCACHE": str(build / "cache"),
        "GOFLAGS": "",
    }
    built: dict[Path, Path] = {}

    def build_program(source: Path) -> Path:
        if source not in built:
            binary = build / source.stem
            command = [go, "build", "-o", str(binary), str(source)]
            subprocess.run(command, env=env, check=True, cwd=build)  # noqa: S603
            built[source] = binary
        return built[source]

    return build_program
