"""The reviewer's desk (``petition bureau ui``) tested as a reviewer uses it.

A real server with two bureaus (national, guangdong), six petitions filed as devices file them,
``petition bureau ui`` started as a real subprocess with national's full keystore and, apart,
with a case handler's keystore, and a real headless Chromium. The reviewer acknowledges three
petitions, extends one, transfers one, is refused the transfer of one to the body it complains
about (Art. 30, the typed text kept), and decides one with a written answer; the petitioners'
own status lookups (client.petitioner.petition_status, as ``petition status CODE``) then show
exactly those events and that answer. The handler's pages never hold a name or an ID number;
the desk's defences are those of ``petition ui``.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit

import pytest
from harness import (
    ID_NUMBERS,
    PASSPHRASE,
    PETITION,
    RunningServer,
    start_server,
    stop_server,
)
from playwright.sync_api import Page

from client.bureau import ROLE_KEYS, BureauKeys
from client.home import ClientHome
from client.petitioner import petition_status
from client.session import NetworkOptions, Session, pin_server
from crypto.keystore import write_keystore_file
from crypto.receipt import ReceiptSecret
from webui.security import CONTENT_SECURITY_POLICY

if TYPE_CHECKING:
    from tests.ui.conftest import Watched

#: Drives Debian's Chromium: slow; CI runs it (README, Tests).
pytestmark = pytest.mark.browser

URL_LINE = re.compile(r"^\s*(http://127\.0\.0\.1:(\d+)/\?key=[A-Za-z0-9_-]+)\s*$")
START_TIMEOUT = 60.0
AUDIT_HOOK = Path(__file__).resolve().parent / "audit_hook"  # records every file opened to write
NAME = "张三"  # the harness seals every identity with this name
CONTACT = "13800000000"
ANSWER = "经核查，道路已安排维修，预计下月完工。"
REFUSED_TEXT = "这段说明在被拒绝后仍应保留。"
ALL_KEYS = ("identity-key", "case-key", "signing-key", "token-key")


@dataclass
class Filed:
    petition_id: str
    secret: ReceiptSecret = field(repr=False)


@dataclass
class World:
    server: RunningServer
    root: Path
    petitioner: Path  # PETITION_HOME of the petitioners
    bureau: Path  # PETITION_HOME of national's staff
    full: Path  # national's keystore with every key
    handler: Path  # national's case handler keystore
    intake: Path  # national's intake keystore
    passphrase: Path
    filed: list[Filed]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("desk")
    server = start_server(root)
    try:
        homes = {}
        for role in ("petitioner", "bureau"):
            homes[role] = root / role
            pin_server(ClientHome(homes[role]), server.client.base,
                       server.authority_fingerprint, NetworkOptions())  # fmt: skip
        national = server.bureaus["national"]
        keys = BureauKeys(national.bundle(), national.identity, national.case,
                          national.signing, national.token)  # fmt: skip
        full, handler = root / "national.keystore", root / "handler.keystore"
        intake = root / "intake.keystore"
        write_keystore_file(full, keys.secrets(ALL_KEYS), PASSPHRASE)
        write_keystore_file(handler, keys.secrets(ROLE_KEYS["handler"]), PASSPHRASE)
        write_keystore_file(intake, keys.secrets(ROLE_KEYS["intake"]), PASSPHRASE)
        # Six petitions from three people; the fourth complains about guangdong.
        filed = []
        for number, id_number in enumerate(
            [ID_NUMBERS[0], ID_NUMBERS[0], ID_NUMBERS[1], ID_NUMBERS[1], ID_NUMBERS[2],
             ID_NUMBERS[2]]
        ):  # fmt: skip
            respondent = "广东省信访局" if number == 3 else ""
            submission = server.seal("national", id_number=id_number, respondent=respondent)
            answer = server.client.post("/v1/petitions", submission.body())
            assert answer.status == 201, answer.raw
            filed.append(Filed(submission.petition_id, submission.secret))
        yield World(server, root, homes["petitioner"], homes["bureau"], full, handler, intake,
                    root / "passphrase", filed)  # fmt: skip
    finally:
        stop_server(server)


@dataclass
class RunningDesk:
    process: subprocess.Popen[str]
    launch_url: str
    port: int
    stderr_path: Path
    tmpdir: Path  # the process's TMPDIR: must stay empty

    def files_written(self) -> list[str]:
        """Every file the process opened for writing (tests/ui/audit_hook/sitecustomize.py)."""
        log = self.stderr_path.parent / "writes.log"
        return log.read_text(encoding="utf-8").splitlines() if log.exists() else []

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


def start_desk(world: World, keystore: Path, workdir: Path) -> RunningDesk:
    """``petition bureau ui --no-browser``; returns once it printed its address."""
    workdir.mkdir(parents=True, exist_ok=True)
    stderr_path = workdir / "desk.stderr"
    tmpdir = workdir / "tmp"
    tmpdir.mkdir()
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
            [*PETITION, "bureau", "ui", "--no-browser", "--home", str(world.bureau),
             "--keystore", str(keystore), "--passphrase-file", str(world.passphrase)],
            stdout=subprocess.PIPE, stderr=stderr, text=True, env=env, cwd=workdir,
        )  # fmt: skip
    watchdog = threading.Timer(START_TIMEOUT, process.kill)
    watchdog.start()
    try:
        assert process.stdout is not None
        while True:
            line = process.stdout.readline()
            if not line:
                raise AssertionError(f"petition bureau ui exited: {stderr_path.read_text()}")
            found = URL_LINE.match(line)
            if found:
                break
    finally:
        watchdog.cancel()
    return RunningDesk(process, found.group(1), int(found.group(2)), stderr_path, tmpdir)


@pytest.fixture(scope="module")
def desk(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDesk]:
    running = start_desk(world, world.full, tmp_path_factory.mktemp("desk-full"))
    try:
        yield running
    finally:
        running.stop()


def _numbers(page: Page, desk: RunningDesk) -> dict[str, int]:
    """The desk's short number of each petition id, read from the worklist."""
    page.goto(desk.base + "/")
    rows = page.locator("tr[data-petition]")
    found = {}
    for i in range(rows.count()):
        row = rows.nth(i)
        number = int((row.get_attribute("id") or "").removeprefix("row-"))
        found[row.get_attribute("data-petition") or ""] = number
    return found


def _act(page: Page, desk: RunningDesk, number: int, action: str, **fields: str) -> Page:
    """Fill one action's form on the case page and go to its confirm page."""
    page.goto(f"{desk.base}/case/{number}")
    page.locator(f"#action-{action} summary").click()  # each action's form is folded away
    form = page.locator(f"#action-{action} form")
    if "to" in fields:
        form.locator("select[name=to]").select_option(fields["to"])
    if "days" in fields:
        form.locator("input[name=days]").fill(fields["days"])
    if "reason" in fields:
        form.locator("select[name=reason]").select_option(fields["reason"])
    if "outcome" in fields:
        form.locator("select[name=outcome]").select_option(fields["outcome"])
    if "message" in fields:
        form.locator("textarea[name=message]").fill(fields["message"])
    form.locator("button[type=submit]").click()
    return page


def _confirm(page: Page) -> str:
    page.locator("#confirm").click()
    page.wait_for_url(re.compile(r"/(case/\d+)?\?once="))
    assert page.locator("#result-1").count() == 1, page.locator("main").inner_text()[:600]
    return page.locator("#result-1").inner_text()


def test_a_reviewer_works_the_worklist(
    world: World, desk: RunningDesk, open_page: Callable[..., Watched], screenshots: Path
) -> None:
    watched = open_page(locale="zh-CN")
    page: Page = watched.page
    page.goto(desk.launch_url)
    assert page.url == desk.base + "/"  # the secret left the address bar at once
    assert page.locator("html").get_attribute("lang") == "zh-Hans"
    assert page.locator("#count-total").inner_text() == "6"
    numbers = _numbers(page, desk)
    assert len(numbers) == 6
    n = [numbers[f.petition_id] for f in world.filed]

    # The identity is never shown by default; on request once, and every showing is counted.
    page.goto(f"{desk.base}/case/{n[0]}")
    assert NAME not in page.content()
    assert ID_NUMBERS[0] not in page.content()
    assert page.locator("#subject").inner_text() == "道路维修"
    assert page.locator(f"#others a[href='/case/{n[1]}']").count() == 1  # the same person
    page.locator("#show-identity").click()
    assert page.locator("#identity-name").inner_text() == NAME
    assert page.locator("#identity-number").inner_text() == ID_NUMBERS[0]
    assert "1" in page.locator("#reveals").inner_text()
    page.reload()
    assert NAME not in page.content()  # a reload shows it no more
    page.screenshot(path=str(screenshots / "desk-case.png"), full_page=True)
    assert "1" in page.locator("#reveals").inner_text()

    for index in (0, 1, 4):
        _act(page, desk, n[index], "acknowledge")
        assert page.locator("#public-event").inner_text() == "已受理（书面告知）"
        assert "已受理" in _confirm(page)

    _act(page, desk, n[1], "extend", days="15", reason="complex_facts")
    assert "15" in page.locator(".public-detail").inner_text()
    _confirm(page)

    _act(page, desk, n[2], "transfer", to="guangdong")
    assert page.locator("#confirm-consent").get_attribute("data-consent") == "no"
    _confirm(page)
    assert page.locator("#result-2").count() == 1

    # Art. 30: the body complained about is refused on the form, the typed text kept.
    _act(page, desk, n[3], "transfer", to="guangdong", message=REFUSED_TEXT)
    page.wait_for_url(re.compile(r"/case/\d+\?once="))
    assert "第三十条" in page.locator("#action-error").inner_text()
    assert page.locator("#transfer-message").input_value() == REFUSED_TEXT

    # A decision without its answer is refused, and nothing typed is lost.
    _act(page, desk, n[4], "decide", outcome="supported")
    assert page.locator("#action-error").count() == 1
    assert page.locator("#decide-outcome").input_value() == "supported"
    page.locator("#decide-message").fill(ANSWER)
    page.locator("#prepare-decide").click()
    assert page.locator("#sealed-message").inner_text() == ANSWER
    page.screenshot(path=str(screenshots / "desk-confirm.png"), full_page=True)
    assert ANSWER not in page.locator("#public-entry").inner_text()
    assert page.locator("#public-message").inner_text() != ""
    _confirm(page)

    page.goto(desk.base + "/")
    page.screenshot(path=str(screenshots / "desk-worklist.png"), full_page=True)
    assert watched.console == []
    assert all(url.startswith(desk.base) for url in watched.requests)

    # English by the switch; the worklist filters by status.
    page.goto(desk.base + "/?" + urlencode({"lang": "en"}))
    assert page.locator("html").get_attribute("lang") == "en"
    page.goto(desk.base + "/?" + urlencode({"status": "acknowledged"}))
    shown = {row.get_attribute("data-petition") for row in page.locator("tr[data-petition]").all()}
    assert shown == {world.filed[0].petition_id}

    # What the petitioners see, checked on their own devices, is exactly that.
    expected = [
        ["received", "acknowledged"],
        ["received", "acknowledged", "extended"],
        ["received", "transferred"],
        ["received"],
        ["received", "acknowledged", "decided"],
        ["received"],
    ]
    with Session.open(ClientHome(world.petitioner), NetworkOptions()) as session:
        for filed, events in zip(world.filed, expected, strict=True):
            report = petition_status(session, filed.secret)
            assert [shown.entry.event.value for shown in report.events] == events
        decided = petition_status(session, world.filed[4].secret)
        assert [reply.message for reply in decided.replies] == [ANSWER]
        assert petition_status(session, world.filed[3].secret).replies == ()
    assert "Traceback" not in desk.stderr_path.read_text()
    # Nothing of a petition was written: only the client state every bureau command keeps.
    written = desk.files_written()
    assert all(line.startswith(repr(str(world.bureau))[:-1]) for line in written), written
    assert not list(desk.tmpdir.iterdir())


def test_a_handler_never_sees_a_name_or_an_id_number(
    world: World, open_page: Callable[..., Watched], tmp_path: Path
) -> None:
    running = start_desk(world, world.handler, tmp_path / "handler")
    try:
        # A narrow screen, without JavaScript: the desk needs none.
        page: Page = open_page(locale="zh-CN", javascript=False, width=320).page
        page.goto(running.launch_url)
        pages = [page.content()]
        numbers = _numbers(page, running)
        pages.append(page.content())
        for number in sorted(numbers.values()):
            page.goto(f"{running.base}/case/{number}")
            pages.append(page.content())
            assert page.locator("#show-identity").count() == 0
            assert page.locator("#identity-sealed").count() == 1
        _act(page, running, min(numbers.values()), "close")
        pages.append(page.content())
        page.goto(running.base + "/?lang=en")
        pages.append(page.content())
        for html in pages:
            for secret in (NAME, CONTACT, *ID_NUMBERS):
                assert secret not in html
    finally:
        running.stop()


def test_intake_sees_the_identity_on_request_and_no_case(
    world: World, open_page: Callable[..., Watched], tmp_path: Path
) -> None:
    running = start_desk(world, world.intake, tmp_path / "intake")
    try:
        page: Page = open_page(locale="en-US").page
        page.goto(running.launch_url)
        assert page.locator("html").get_attribute("lang") == "en"
        number = min(_numbers(page, running).values())
        page.goto(f"{running.base}/case/{number}")
        assert NAME not in page.content()
        assert page.locator("#subject").count() == 0  # no case key: no case
        assert page.locator("#pseudonym code").count() == 1  # derived from the ID number
        page.locator("#show-identity").click()
        assert page.locator("#identity-name").inner_text() == NAME
        assert "1 time" in page.locator("#reveals").inner_text()
    finally:
        running.stop()


# --- the defences of petition ui, over raw HTTP ---------------------------------------------


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: str


def _request(
    desk: RunningDesk,
    method: str,
    target: str,
    *,
    host: str | None = None,
    cookie: str | None = None,
    form: dict[str, str] | None = None,
) -> Answer:
    connection = http.client.HTTPConnection("127.0.0.1", desk.port, timeout=30)
    try:
        headers = {"Host": host or f"127.0.0.1:{desk.port}"}
        if cookie is not None:
            headers["Cookie"] = f"petition_desk_session={cookie}"
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection.request(method, target, body=body, headers=headers)
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read().decode("utf-8"))
    finally:
        connection.close()


def test_the_desk_has_the_defences_of_petition_ui(desk: RunningDesk) -> None:
    launched = _request(desk, "GET", "/?" + urlencode({"key": desk.launch_key}))
    assert launched.status == 303
    cookie = re.search(r"petition_desk_session=([^;]+)", launched.headers["Set-Cookie"])
    assert cookie is not None
    assert "HttpOnly" in launched.headers["Set-Cookie"]
    session = cookie.group(1)

    page = _request(desk, "GET", "/", cookie=session)
    assert page.status == 200
    assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "script-src" not in CONTENT_SECURITY_POLICY
    assert "<script" not in page.body
    assert page.headers["Cache-Control"] == "no-store"

    rebound = _request(desk, "GET", "/", host="attacker.example", cookie=session)
    assert rebound.status == 421
    assert _request(desk, "GET", "/").status == 403  # no launch secret, no session
    assert _request(desk, "GET", "/?key=wrong").status == 403
    assert _request(desk, "GET", "/case/1").status == 403

    forged = _request(desk, "POST", "/case/1/prepare", cookie=session,
                      form={"action": "close"})  # fmt: skip
    assert forged.status == 303
    assert forged.headers["Location"] == "/refused/csrf"
    stranger = _request(desk, "POST", "/case/1/identity", form={"csrf_token": "x"})
    assert stranger.status == 303
    assert stranger.headers["Location"] == "/refused/403"
