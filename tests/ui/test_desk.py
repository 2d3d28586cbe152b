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

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import pytest
from harness import ID_NUMBERS
from local_app import http_request as _request
from playwright.sync_api import Page

from client.home import ClientHome
from client.petitioner import petition_status
from client.session import NetworkOptions, Session
from tests.ui.desk_support import (
    CONTACT,
    NAME,
    act,
    confirm,
    running_world,
    short_numbers,
    start_desk,
)
from webui.security import CONTENT_SECURITY_POLICY

if TYPE_CHECKING:
    from tests.ui.conftest import Watched
    from tests.ui.desk_support import RunningDesk, World

#: Drives Debian's Chromium: slow; CI runs it (README, Tests).
pytestmark = pytest.mark.browser

ANSWER = "经核查，道路已安排维修，预计下月完工。"
REFUSED_TEXT = "这段说明在被拒绝后仍应保留。"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # Six petitions from three people; the fourth complains about guangdong.
    people = [ID_NUMBERS[0], ID_NUMBERS[0], ID_NUMBERS[1], ID_NUMBERS[1], ID_NUMBERS[2],
              ID_NUMBERS[2]]  # fmt: skip
    petitions = [
        (id_number, "广东省信访局" if i == 3 else "") for i, id_number in enumerate(people)
    ]
    with running_world(tmp_path_factory.mktemp("desk"), petitions) as built:
        yield built


@pytest.fixture(scope="module")
def desk(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDesk]:
    with start_desk(world, world.full, tmp_path_factory.mktemp("desk-full")) as running:
        yield running


def test_a_reviewer_works_the_worklist(
    world: World, desk: RunningDesk, open_page: Callable[..., Watched], screenshots: Path
) -> None:
    watched = open_page(locale="zh-CN")
    page: Page = watched.page
    page.goto(desk.launch_url)
    assert page.url == desk.base + "/"  # the secret left the address bar at once
    assert page.locator("html").get_attribute("lang") == "zh-Hans"
    assert page.locator("#count-total").inner_text() == "6"
    numbers = short_numbers(page, desk)
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

    acknowledged = {}
    for index in (0, 1, 4):
        act(page, desk, n[index], "acknowledge")
        assert page.locator("#public-event").inner_text() == "已受理（书面告知）"
        acknowledged[index] = confirm(page)
        assert "已受理" in acknowledged[index]

    act(page, desk, n[1], "extend", days="15", reason="complex_facts")
    assert "15" in page.locator(".public-detail").inner_text()
    confirm(page)

    act(page, desk, n[2], "transfer", to="guangdong")
    assert page.locator("#confirm-consent").get_attribute("data-consent") == "no"
    confirm(page)
    assert page.locator("#result-2").count() == 1

    # Art. 30: the body complained about is refused on the form, the typed text kept.
    act(page, desk, n[3], "transfer", to="guangdong", message=REFUSED_TEXT)
    page.wait_for_url(re.compile(r"/case/\d+\?once="))
    assert "第三十条" in page.locator("#action-error").inner_text()
    assert page.locator("#transfer-message").input_value() == REFUSED_TEXT

    # A decision without its answer is refused, and nothing typed is lost.
    act(page, desk, n[4], "decide", outcome="supported")
    assert page.locator("#action-error").count() == 1
    assert page.locator("#decide-outcome").input_value() == "supported"
    page.locator("#decide-message").fill(ANSWER)
    page.locator("#prepare-decide").click()
    assert page.locator("#sealed-message").inner_text() == ANSWER
    page.screenshot(path=str(screenshots / "desk-confirm.png"), full_page=True)
    assert ANSWER not in page.locator("#public-entry").inner_text()
    assert page.locator("#public-message").inner_text() != ""
    confirm(page)

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
        for index, result in acknowledged.items():  # entries are numbered from 1, as people do
            report = petition_status(session, world.filed[index].secret)
            assert f"公开日志第 {report.events[1].leaf_index + 1} 条" in result
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
        numbers = short_numbers(page, running)
        pages.append(page.content())
        for number in sorted(numbers.values()):
            page.goto(f"{running.base}/case/{number}")
            pages.append(page.content())
            assert page.locator("#show-identity").count() == 0
            assert page.locator("#identity-sealed").count() == 1
        act(page, running, min(numbers.values()), "close")
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
        number = min(short_numbers(page, running).values())
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
