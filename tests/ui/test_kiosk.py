"""Kiosk mode (issue 19, item 5; docs/ui.md "Kiosk mode"): the next petitioner finds nothing.

``petition ui --kiosk`` serves one petitioner after another on a helper's machine. The
done-when test runs Debian's Chromium with an on-disk profile (a persistent context, as in
test_device_traces.py): petitioner A writes and submits, reads the code, presses "Finish and
start over"; petitioner B then finds nothing of A on the start page, in the empty form, back
through the whole history, or at any address A's browser visited (pressing "show the code
again" wherever it is offered), and submits their own petition. After the browser is closed,
every file of the profile, of the client home and of the queue folder is searched as raw bytes
for A's name, ID number, a phrase of A's text and A's receipt code.

It runs twice. ``defence-on``: the kiosk as shipped; nothing of A may be found. ``defence-off``:
the test-only app switch ``TEST_START_OVER_KEEPS_THE_PETITIONER`` (an app config flag that no
command line reaches) makes start over a mere link to the start page, wiping nothing; the same
test body must then reach A's receipt code, which shows that it can fail.

The UI runs in this process for that switch (``create_app`` served by werkzeug as ``petition
ui`` serves it). The queue (sealing for later delivery with the server unreachable, then a real
``petition deliver``), the idle wipe and the command line's checks need no browser.
"""

from __future__ import annotations

import http.client
import re
import secrets
import shutil
import stat
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from http.cookies import SimpleCookie
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from deployment import BUREAU_ID, BUREAU_NAME, Deployment
from flask.testing import FlaskClient
from harness import free_port
from inprocess_ui import serve_in_process
from playwright.sync_api import Page, Playwright, Request, expect
from trace_scan import encoded_forms, files_holding
from werkzeug.test import TestResponse

from client.home import ClientHome
from client.session import NetworkOptions
from client.transport import RetryPolicy
from crypto.idnumber import mod11_2_check_character
from crypto.receipt import ReceiptSecret
from crypto.sealed_file import decode_sealed_file
from tests.ui.conftest import CHROMIUM, CHROMIUM_ARGS
from webui import security
from webui.app import UiRuntime, create_app
from webui.kiosk import KioskSettings
from webui.views import TEST_START_OVER_KEEPS_THE_PETITIONER

if TYPE_CHECKING:
    from tests.ui.conftest import RunningUi

#: Drives Debian's Chromium: slow; CI runs it (README, Tests).
pytestmark = pytest.mark.browser

CODE = re.compile(r"1[0-9A-Z]{3}(?:-[0-9A-Z]{4}){6}")
START_OVER = "结束并重新开始"
SHOW_AGAIN = "再次显示回执码"
QUEUE_BUTTON = "封存，稍后递交（无需联网）"
ERROR_PREFIX = "petition: error: "


def _id_number() -> str:
    """A valid resident ID number drawn for this run, so that a hit can only be this test's."""
    birth = f"{1950 + secrets.randbelow(40)}0{1 + secrets.randbelow(9)}1{secrets.randbelow(9)}"
    first17 = f"110105{birth}{secrets.randbelow(1000):03d}"
    return first17 + mod11_2_check_character(first17)


@dataclass(frozen=True)
class Petitioner:
    """What one person types; every value carries a marker drawn for this run."""

    name: str
    id_number: str
    subject: str
    phrase: str
    respondent: str

    @classmethod
    def draw(cls, surname: str) -> Petitioner:
        marker = secrets.token_hex(4)
        return cls(
            name=f"{surname}{marker}",
            id_number=_id_number(),
            subject=f"拖欠工资 {marker}",
            phrase=f"{marker}号工地至今未付",
            respondent=f"某建筑公司{marker}",
        )

    @property
    def body(self) -> str:
        return f"本人工资被拖欠八个月，{self.phrase}。\n恳请督促处理。\n"

    @property
    def form(self) -> dict[str, str]:
        return {
            "real_name": self.name, "id_number": self.id_number, "contact": "手机 13900000000",
            "subject": self.subject, "category": "劳动与社会保障", "region": "北京市西城区",
            "respondent": self.respondent, "body": self.body,
        }  # fmt: skip

    def secrets_with(self, code: str) -> dict[str, list[str]]:
        return {
            "ID number": [self.id_number],
            "real name": [self.name],
            "petition text": [self.phrase],
            "receipt code": [code, code.replace("-", ""), code.lower()],
        }


def _write_and_submit(page: Page, person: Petitioner) -> str:
    """From the start page to the receipt; returns the code the page shows."""
    page.get_by_label(BUREAU_NAME).check()
    page.get_by_role("button", name="向这个机构写信访件").click()
    labels = {
        "real_name": "真实姓名", "id_number": "居民身份证号码", "contact": "联系方式",
        "subject": "标题", "category": "类别", "region": "地区",
        "respondent": "被反映的单位或个人", "body": "信访内容",
    }  # fmt: skip
    for name, value in person.form.items():
        page.get_by_label(labels[name]).fill(value)
    page.get_by_role("button", name="检查并核对").click()
    expect(page).to_have_url(re.compile(r"/review/"))
    page.get_by_role("button", name="加密并提交").click()
    expect(page).to_have_url(re.compile(r"/receipt/"))
    code = page.locator("#receipt-code").inner_text().strip()
    assert CODE.fullmatch(code), code
    return code


def _found_on(page: Page, wanted: dict[str, list[str]]) -> list[str]:
    """Which of the secrets the page shows: in its HTML or in any field's current value."""
    values = page.eval_on_selector_all("input, textarea", "fields => fields.map(f => f.value)")
    shown = page.content() + "\n".join(values)
    return [name for name, texts in wanted.items() if any(text in shown for text in texts)]


@pytest.fixture(params=[True, False], ids=["defence-on", "defence-off"])
def defence(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def test_two_petitioners_in_a_row_the_second_finds_nothing_of_the_first(
    defence: bool, deployment: Deployment, playwright: Playwright, tmp_path: Path
) -> None:
    home = deployment.homes["petitioner"]
    queue = tmp_path / "queue"
    queue.mkdir(mode=0o700)
    served = serve_in_process(
        home,
        switch=TEST_START_OVER_KEEPS_THE_PETITIONER,
        defence=defence,
        kiosk=KioskSettings(queue=queue),
    )
    profile = tmp_path / "profile"
    context = playwright.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
        locale="zh-CN", viewport={"width": 1280, "height": 900},
    )  # fmt: skip
    a, b = Petitioner.draw("李四"), Petitioner.draw("王五")
    visited_by_a: list[str] = []
    found: dict[str, list[str]] = {}  # A's secret -> where B found it

    def note(request: Request) -> None:
        if request.is_navigation_request() and request.method == "GET":
            visited_by_a.append(request.url)

    def check(where: str) -> None:
        for name in _found_on(page, wanted):
            found.setdefault(name, []).append(where)

    try:
        page = context.pages[0] if context.pages else context.new_page()
        page.set_default_timeout(30_000)

        # Petitioner A: the kiosk's first person after the helper opened the launch URL.
        page.on("request", note)
        page.goto(served.runtime.launch_url())
        expect(page.locator("#kiosk")).to_contain_text("这台电脑供多人轮流使用")
        refresh = page.locator('meta[http-equiv="refresh"]').get_attribute("content")
        assert refresh == f"{KioskSettings().refresh_seconds};url=/"
        code_a = _write_and_submit(page, a)
        wanted = a.secrets_with(code_a)
        expect(page.locator("#kiosk-keep")).to_contain_text("打印本页")
        expect(page.get_by_role("button", name="下载回执文件")).to_have_count(0)
        receipt_id = page.url.split("/receipt/")[1].split("?")[0]
        token = page.locator("#kiosk input[name=csrf_token]").get_attribute("value") or ""
        refused = page.request.post(
            f"{served.base}/receipt/{receipt_id}/download",
            form={"csrf_token": token, "passphrase": "x" * 20, "passphrase_again": "x" * 20},
        )
        assert refused.status == 404  # no receipt file in kiosk mode: nothing to download
        page.remove_listener("request", note)
        with page.expect_response(lambda answer: answer.url.endswith("/start-over")) as ended:
            page.get_by_role("button", name=START_OVER).click()
        expect(page).to_have_url(f"{served.base}/")
        if defence:
            assert ended.value.all_headers().get("clear-site-data") == '"cache", "storage"'
            assert served.runtime.store.count() == 1  # only the fresh, empty session
        assert f"{served.base}/" in visited_by_a, visited_by_a
        assert len(visited_by_a) >= 5, visited_by_a

        # Petitioner B: the start page and an empty form.
        expect(page.locator("h1")).to_have_text("您要向哪个机构信访？")
        check("start page")
        page.get_by_label(BUREAU_NAME).check()
        page.get_by_role("button", name="向这个机构写信访件").click()
        expect(page.get_by_label("真实姓名")).to_have_value("")
        check("write form")
        # Back through the whole history of the tab.
        steps = 0
        while page.go_back() is not None and steps < 40:
            steps += 1
            check(f"back {steps}: {page.url}")
        assert steps >= 5
        # Every address A's browser visited; "show the code again" wherever it is offered. The
        # launch URL last: it opens a new, empty session by design (the helper's secret), which
        # would hide A's pages from the rest of the list even with the defence off.
        for url in sorted(dict.fromkeys(visited_by_a), key=lambda url: "?key=" in url):
            page.goto(url)
            check(url)
            show = page.get_by_role("button", name=SHOW_AGAIN)
            if show.count():
                show.click()
                page.wait_for_load_state()
                check(f"{url}, code shown again")
        # B's own petition goes through as usual.
        page.goto(f"{served.base}/")
        code_b = _write_and_submit(page, b)
        assert code_b != code_a
        check("B's receipt")
        page.get_by_role("button", name=START_OVER).click()
        expect(page).to_have_url(f"{served.base}/")
    finally:
        context.close()
        served.stop()

    assert (profile / "Default").is_dir()  # a real profile was written to disk
    assert list(queue.iterdir()) == []  # both were submitted online: nothing queued
    on_disk = {
        where: files_holding(root, wanted)
        for where, root in (("profile", profile), ("client home", home), ("queue", queue))
    }
    if defence:
        assert found == {}, found
        assert on_disk == {"profile": {}, "client home": {}, "queue": {}}, on_disk
    else:  # start over kept A's session: B reaches A's receipt and its code
        assert "receipt code" in found, found


# -- the queue: sealed for later delivery while the server is unreachable ---------------------

PORT = 38002


def _offline_home(deployment: Deployment, target: Path) -> Path:
    """The petitioner's pinned settings and kept directory, with the server on a closed port."""
    source = ClientHome(deployment.homes["petitioner"])
    config = source.load_config()
    home = ClientHome(target)
    home.save_config(replace(config, server=f"http://127.0.0.1:{free_port()}"))
    shutil.copyfile(source.directory_path, home.directory_path)
    home.directory_path.chmod(0o600)
    return target


def _get(client: FlaskClient, target: str) -> TestResponse:
    return client.get(target, base_url=f"http://127.0.0.1:{PORT}")


def _post(client: FlaskClient, target: str, form: dict[str, str]) -> TestResponse:
    answer = client.post(target, data=form, base_url=f"http://127.0.0.1:{PORT}")
    assert answer.status_code == 303, (target, answer.status_code, answer.text[:300])
    return answer


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page)
    assert found is not None
    return found.group(1)


def test_an_offline_kiosk_seals_into_the_queue_and_a_courier_delivers_it_later(
    deployment: Deployment, tmp_path: Path
) -> None:
    home = _offline_home(deployment, tmp_path / "kiosk-home")
    queue = tmp_path / "queue"
    queue.mkdir(mode=0o700)
    runtime = UiRuntime(
        home=ClientHome(home),
        network=NetworkOptions(retry=RetryPolicy(attempts=1)),
        port=PORT,
        kiosk=KioskSettings(queue=queue),
    )
    person = Petitioner.draw("赵六")
    app = create_app(runtime)
    try:
        with app.test_client() as client:
            launched = _get(client, f"/?key={runtime.secrets.launch_key}")
            assert launched.status_code == 303
            start = _get(client, "/")
            assert start.status_code == 200, start.text[:300]
            assert 'id="offline-notice"' in start.text  # the kept directory, checked again
            draft = _get(client, f"/write?bureau={BUREAU_ID}").headers["Location"]
            token = _csrf(_get(client, draft).text)
            draft_id = draft.split("draft=")[1]
            saved = _post(client, "/write", {**person.form, "draft": draft_id,
                                              "action": "review", "csrf_token": token})  # fmt: skip
            review = _get(client, saved.headers["Location"]).text
            assert QUEUE_BUTTON in review
            # Submitting fails (the server is a closed port); the page offers the queue.
            failed = _post(client, "/submit", {"draft": draft_id, "csrf_token": token})
            shown = _get(client, failed.headers["Location"])
            assert shown.status_code == 503
            assert "无法连接信访服务器" in shown.text
            assert "本机可以现在把它封存，稍后递交" in shown.text
            assert list(queue.iterdir()) == []

            sealed = _post(client, "/seal", {"draft": draft_id, "csrf_token": token})
            location = sealed.headers["Location"]
            assert location.startswith("/sealed/")
            page = _get(client, location).text
            assert "您的信访件已封存，但尚未发出" in page
            found = re.search(r'id="receipt-code">([^<]+)<', page)
            assert found is not None
            code = found.group(1)
            assert CODE.fullmatch(code), code
            assert f"petition deliver {queue.resolve()}/*" in page
            assert person.id_number not in page
            assert person.phrase not in page
            # A second click seals nothing more: it shows the same sealed petition.
            again = _post(client, "/seal", {"draft": draft_id, "csrf_token": token})
            assert again.headers["Location"].split("?")[0] == location.split("?")[0]

            # The queue holds exactly one complete sealed petition file, owner-only, and
            # nothing of the petitioner.
            files = list(queue.iterdir())
            assert len(files) == 1, files
            assert re.fullmatch(r"[0-9a-f]{32}\.sealed", files[0].name)
            assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
            data = files[0].read_bytes()
            petition = decode_sealed_file(data)
            assert petition.lookup_key_hash == ReceiptSecret.from_code(code).lookup_key_hash()
            for name, texts in person.secrets_with(code).items():
                for text in texts:
                    assert not any(form in data for form in encoded_forms(text)), name

            # Start over: the sealed petition's page is gone with the session.
            ended = _post(client, "/start-over", {"csrf_token": token})
            assert ended.headers["Location"] == "/"
            assert ended.headers["Clear-Site-Data"] == '"cache", "storage"'
            assert _get(client, location).status_code == 404
    finally:
        runtime.close()

    # Later, online: anyone who ran `petition init` delivers the folder; the code finds it.
    delivered = deployment.ok("petitioner", "deliver", *map(str, files))
    assert f"{files[0]}: delivered to {BUREAU_NAME} ({BUREAU_ID})" in delivered
    assert petition.petition_id in delivered
    status = deployment.ok("petitioner", "status", code)
    assert f"received at {BUREAU_NAME} ({BUREAU_ID})" in status


# -- the idle wipe, and the kiosk's browser after it -----------------------------------------


def test_the_idle_wipe_empties_the_store_without_any_request(tmp_path: Path) -> None:
    home = ClientHome(tmp_path / "home")  # no page that needs the server is asked for
    runtime = UiRuntime(home=home, network=NetworkOptions(), port=PORT,
                        kiosk=KioskSettings(idle_seconds=0.4))  # fmt: skip
    app = create_app(runtime)
    assert runtime.idle_wipe is not None
    try:
        with app.test_client() as client:
            began = time.monotonic()
            assert _get(client, f"/?key={runtime.secrets.launch_key}").status_code == 303
            cookie = client.get_cookie(security.SESSION_COOKIE, domain="127.0.0.1")
            assert cookie is not None
            session = runtime.store.session(cookie.value)
            assert session is not None
            runtime.store.leave(session, "something of this petitioner")
            deadline = began + 10
            while runtime.store.count() and time.monotonic() < deadline:
                time.sleep(0.05)  # no request meanwhile: only the timer thread can wipe
            assert runtime.store.count() == 0
            assert time.monotonic() - began >= 0.4
            assert session.once == {}  # emptied, not only dropped
            runtime.idle_wipe.idle_seconds = 600  # no second wipe during the rest of the test

            # The kiosk's browser comes back with a dead session: a fresh one, at the start.
            back = _get(client, "/status")
            assert back.status_code == 303
            assert back.headers["Location"] == "/"
            assert runtime.store.count() == 1
            page = _get(client, "/status")
            assert page.status_code == 200
            assert '<meta http-equiv="refresh" content="6;url=/">' in page.text
            assert START_OVER in page.text
            # A request without the kiosk cookie (another local program) is still refused.
            client.delete_cookie(security.KIOSK_COOKIE, domain="127.0.0.1")
            client.delete_cookie(security.SESSION_COOKIE, domain="127.0.0.1")
            assert _get(client, "/status").status_code == 403
    finally:
        runtime.close()


def test_without_kiosk_start_over_and_the_queue_do_not_exist(tmp_path: Path) -> None:
    """A normal launch has neither: their POSTs are refused by a redirect, as every POST is."""
    runtime = UiRuntime(home=ClientHome(tmp_path / "home"), network=NetworkOptions(), port=PORT)
    with create_app(runtime).test_client() as client:
        assert _get(client, f"/?key={runtime.secrets.launch_key}").status_code == 303
        page = _get(client, "/status").text
        assert START_OVER not in page
        assert 'http-equiv="refresh"' not in page
        token = _csrf(page)
        for target in ("/start-over", "/seal", "/sealed/nothing/show"):
            refused = _post(client, target, {"csrf_token": token, "draft": "nothing"})
            assert refused.headers["Location"] == "/refused/404", target
        assert runtime.store.count() == 1  # nothing was wiped
    assert client.get_cookie(security.KIOSK_COOKIE, domain="127.0.0.1") is None


# -- the command line ----------------------------------------------------------------------


def _one_line_error(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(ERROR_PREFIX), result.stderr
    assert fragment in result.stderr, result.stderr
    assert result.stdout == ""  # no address printed: nothing listens


def test_kiosk_flags_on_the_command_line(
    deployment: Deployment, tmp_path: Path, ui_factory: Callable[..., RunningUi]
) -> None:
    queue = tmp_path / "queue"
    queue.mkdir(mode=0o700)
    without = deployment.run("petitioner", "ui", "--no-browser", "--queue", str(queue))
    _one_line_error(without, "--queue (PETITION_UI_QUEUE) is for kiosk mode: add --kiosk")
    idle = deployment.run("petitioner", "ui", "--no-browser",
                          env={"PETITION_UI_IDLE_MINUTES": "5"})  # fmt: skip
    _one_line_error(idle, "--idle-minutes (PETITION_UI_IDLE_MINUTES) is for kiosk mode")
    missing = tmp_path / "no-such-folder"
    absent = deployment.run("petitioner", "ui", "--no-browser", "--kiosk", "--queue", str(missing))
    _one_line_error(absent, f"--queue {missing}: no such folder")
    assert not missing.exists()  # never created behind the helper's back

    # The real program in kiosk mode: the launch URL sets the session and the kiosk cookie;
    # the kiosk cookie alone opens a fresh session, nothing alone is refused.
    running = ui_factory(deployment.homes["petitioner"], "--kiosk", "--queue", str(queue))
    connection = http.client.HTTPConnection("127.0.0.1", running.port, timeout=30)
    try:
        connection.request("GET", f"/?key={running.launch_key}")
        answer = connection.getresponse()
        answer.read()
        assert answer.status == 303
        jar: SimpleCookie = SimpleCookie()
        for line in answer.headers.get_all("Set-Cookie") or []:
            assert "HttpOnly" in line, line
            assert "SameSite=Strict" in line, line
            jar.load(line)
        assert set(jar) == {security.SESSION_COOKIE, security.KIOSK_COOKIE}
        kiosk = jar[security.KIOSK_COOKIE].value
        connection.request("GET", "/write", headers={"Cookie": f"{security.KIOSK_COOKIE}={kiosk}"})
        fresh = connection.getresponse()
        fresh.read()
        assert fresh.status == 303
        assert fresh.headers["Location"] == "/"
        assert security.SESSION_COOKIE in (fresh.headers["Set-Cookie"] or "")
        connection.request("GET", "/write", headers={"Cookie": f"{security.KIOSK_COOKIE}=guess"})
        refused = connection.getresponse()
        refused.read()
        assert refused.status == 403
    finally:
        connection.close()
