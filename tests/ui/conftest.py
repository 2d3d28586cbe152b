"""The local web UI tested as a petitioner uses it: a real deployment (server, authority and
bureau set up through the real CLI), ``petition ui`` started as a real subprocess with the
petitioner's home, and a real headless Chromium (Debian's ``chromium``, driven by Playwright;
no browser is downloaded, ``./dev.sh test`` installs the package).

One deployment, one browser and one UI process serve the whole folder; each test opens its own
browser context (its own cookies), so tests do not see each other's sessions.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from deployment import Deployment, deploy
from harness import PETITION
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium's own connections fail on a closed network
# and slow every launch; QUIC is off because nothing here speaks it.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AUDIT_HOOK = Path(__file__).resolve().parent / "audit_hook"  # records every file opened to write
URL_LINE = re.compile(r"^\s*(http://127\.0\.0\.1:(\d+)/\?key=[A-Za-z0-9_-]+)\s*$")
START_TIMEOUT = 60.0


@dataclass
class RunningUi:
    """One ``petition ui`` process and what it printed."""

    process: subprocess.Popen[str]
    launch_url: str
    port: int
    home: Path
    tmpdir: Path  # the process's TMPDIR: must stay empty (nothing spooled to disk)
    stderr_path: Path
    stdout_lines: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def launch_key(self) -> str:
        return urlsplit(self.launch_url).query.removeprefix("key=")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def files_written(self) -> list[str]:
        """Every file the process opened for writing so far (see audit_hook/sitecustomize.py)."""
        log = self.stderr_path.parent / "writes.log"
        return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def start_ui(home: Path, workdir: Path, *extra: str) -> RunningUi:
    """``petition ui --no-browser`` for ``home``; returns once it printed its address."""
    workdir.mkdir(parents=True, exist_ok=True)
    tmpdir = workdir / "tmp"
    tmpdir.mkdir()
    stderr_path = workdir / "ui.stderr"
    env = {
        **os.environ,
        "TMPDIR": str(tmpdir),
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(AUDIT_HOOK), os.environ.get("PYTHONPATH")])
        ),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PETITION_TEST_WRITE_LOG": str(workdir / "writes.log"),
    }
    env.pop("PETITION_DEBUG", None)
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(  # noqa: S603
            [*PETITION, "ui", "--no-browser", "--home", str(home), *extra],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
            cwd=workdir,
        )
    watchdog = threading.Timer(START_TIMEOUT, process.kill)
    watchdog.start()
    lines: list[str] = []
    try:
        assert process.stdout is not None
        while True:
            line = process.stdout.readline()
            if not line:
                raise AssertionError(f"petition ui exited: {stderr_path.read_text()}")
            lines.append(line)
            found = URL_LINE.match(line)
            if found:
                break
    finally:
        watchdog.cancel()
    lines.append(process.stdout.readline())  # the warning after the address
    return RunningUi(process, found.group(1), int(found.group(2)), home, tmpdir, stderr_path, lines)


#: Where the screenshots belong in the documentation (README.md, docs/ui.md).
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def screenshots(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """Where the browser tests write their screenshots: docs/screenshots/ only when asked
    (``--update-screenshots``, ``./dev.sh screenshots``), else this test's temporary folder,
    so that a normal run never changes tracked files (tests/support/clean_checkout.py)."""
    if request.config.getoption("update_screenshots"):
        return DOCS_SCREENSHOTS
    return tmp_path / "screenshots"


@pytest.fixture(scope="session")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    running = deploy(tmp_path_factory.mktemp("ui-deployment"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def ui(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningUi]:
    running = start_ui(deployment.homes["petitioner"], tmp_path_factory.mktemp("ui"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def ui_factory(tmp_path: Path) -> Iterator[Callable[..., RunningUi]]:
    """More UI processes for one test (another home, other flags); stopped after it."""
    started: list[RunningUi] = []

    def make(home: Path, *extra: str) -> RunningUi:
        running = start_ui(home, tmp_path / f"ui-{len(started)}", *extra)
        started.append(running)
        return running

    yield make
    for running in started:
        running.stop()


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    """One Playwright driver for the folder (the sync API allows one per thread)."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield launched
    finally:
        launched.close()


@dataclass
class Watched:
    """A page with every request it made and every console message it printed."""

    page: Page
    requests: list[str]
    console: list[str]


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Callable[..., Watched]]:
    """A new context (its own cookies) and page; closed after the test."""
    contexts = []

    def make(*, locale: str = "zh-CN", javascript: bool = True, width: int = 1280) -> Watched:
        context = browser.new_context(
            locale=locale,
            java_script_enabled=javascript,
            viewport={"width": width, "height": 900},
            accept_downloads=True,
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        watched = Watched(page, [], [])
        page.on("request", lambda request: watched.requests.append(request.url))
        page.on("console", lambda message: watched.console.append(message.text))
        return watched

    yield make
    for context in contexts:
        context.close()
