"""The local web UI tested as a petitioner uses it: a real deployment (server, authority and
bureau set up through the real CLI), ``petition ui`` started as a real subprocess with the
petitioner's home, and a real headless Chromium (Debian's ``chromium``, driven by Playwright;
no browser is downloaded, ``./dev.sh test`` installs the package).

One deployment, one browser and one UI process serve the whole folder; each test opens its own
browser context (its own cookies), so tests do not see each other's sessions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pytest
from deployment import Deployment, deploy
from local_app import LocalApp, launch
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from webui.security import SESSION_COOKIE

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


@dataclass
class RunningUi(LocalApp):
    """One ``petition ui`` process and what it printed."""

    SESSION_COOKIE: ClassVar[str] = SESSION_COOKIE

    home: Path
    stdout_lines: list[str] = field(default_factory=list)


def start_ui(home: Path, workdir: Path, *extra: str) -> RunningUi:
    """``petition ui --no-browser`` for ``home``; returns once it printed its address."""
    launched = launch(["ui"], ["--home", str(home), *extra], workdir, "ui.stderr")
    assert launched.process.stdout is not None
    launched.stdout_lines.append(launched.process.stdout.readline())  # the warning after it
    return RunningUi(
        launched.process,
        launched.launch_url,
        launched.port,
        launched.stderr_path,
        launched.tmpdir,
        home=home,
        stdout_lines=launched.stdout_lines,
    )


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
