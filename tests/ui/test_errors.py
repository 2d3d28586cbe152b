"""Failures shown as plain sentences in the reader's language, and the text never lost.

A server that cannot be reached, a directory not signed by the pinned authority, and a
submission that meets dropped connections and a surge of 503s (through the real flaky front
of tests/support/flaky_front.py): each is one message on the page, the petition's text stays
on screen, and the next try submits it, once.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from deployment import BUREAU_NAME, Deployment
from flaky_front import Action, FlakyFront
from harness import free_port
from playwright.sync_api import Page, expect

from client.home import ClientHome
from crypto.keys import SigningKey

#: Drives Debian's Chromium: slow; CI runs it (README, Tests).
pytestmark = pytest.mark.browser

if TYPE_CHECKING:
    from tests.ui.conftest import RunningUi, Watched

ID_NUMBER = "440524198001010013"
UNREACHABLE = "无法连接信访服务器"
BUSY = "信访服务器繁忙，未接受请求"
#: What a network failure cost, worded for the page it happened on (webui/messages.py).
NOTHING_WRITTEN_YET = "您也还没有填写任何内容"
KEPT_IN_THIS_WINDOW = "您的信访件仍保留在这个窗口中"
#: A page gives up on a server that refuses connections within this many seconds.
A_FEW_SECONDS = 8.0
UNTRUSTED = "服务器发来的机构名录没有您在 petition init 时信任的名录机构的签名"


def _copy_home(
    deployment: Deployment,
    target: Path,
    *,
    server: str | None = None,
    authority_key: bytes | None = None,
) -> Path:
    """The petitioner's pinned settings, with one thing changed as an attacker or fault would."""
    source = ClientHome(deployment.homes["petitioner"]).load_config()
    changed = replace(
        source,
        server=server or source.server,
        authority_key=authority_key or source.authority_key,
    )
    ClientHome(target).save_config(changed)
    return target


def test_an_unreachable_server_is_one_plain_sentence(
    deployment: Deployment,
    ui_factory: Callable[..., RunningUi],
    open_page: Callable[..., Watched],
    tmp_path: Path,
) -> None:
    """With the command line's default of six tries, a page still gives up within a few
    seconds, and says that nothing was lost because nothing had been written yet."""
    dead = f"http://127.0.0.1:{free_port()}"
    ui = ui_factory(_copy_home(deployment, tmp_path / "dead", server=dead))
    page = open_page(javascript=False).page
    started = time.monotonic()
    page.goto(ui.launch_url)
    took = time.monotonic() - started
    expect(page.get_by_role("alert")).to_contain_text(UNREACHABLE)
    expect(page.get_by_role("alert")).to_contain_text(NOTHING_WRITTEN_YET)
    assert took < A_FEW_SECONDS
    assert "保留在这里" not in page.content()  # "what you wrote is kept here": nothing was
    assert "Traceback" not in page.content()
    assert "httpx" not in page.content()

    english = open_page(locale="en-US", javascript=False).page
    english.goto(ui.launch_url)
    expect(english.get_by_role("alert")).to_contain_text("The petition server cannot be reached")
    expect(english.get_by_role("alert")).to_contain_text("you had not written anything yet")
    expect(english).to_have_title(re.compile(r"^Error: "))


def test_a_directory_not_signed_by_the_pinned_authority_is_refused(
    deployment: Deployment,
    ui_factory: Callable[..., RunningUi],
    open_page: Callable[..., Watched],
    tmp_path: Path,
) -> None:
    other_authority = SigningKey.generate().public_key().to_bytes()
    home = _copy_home(deployment, tmp_path / "untrusted", authority_key=other_authority)
    ui = ui_factory(home)
    page = open_page(javascript=False).page
    page.goto(ui.launch_url)
    expect(page.get_by_role("alert")).to_contain_text(UNTRUSTED)
    expect(page.get_by_text(BUREAU_NAME)).to_have_count(0)  # no key from it is ever shown
    page.goto(ui.base + "/write?bureau=national")
    expect(page.get_by_role("alert")).to_contain_text(UNTRUSTED)


def _fill(page: Page, body: str) -> None:
    page.get_by_label(BUREAU_NAME).check()
    page.get_by_role("button", name="向这个机构写信访件").click()
    page.get_by_label("真实姓名").fill("王五")
    page.get_by_label("居民身份证号码").fill(ID_NUMBER)
    page.get_by_label("标题").fill("网络不稳定时提交")
    page.get_by_label("类别").fill("其他")
    page.get_by_label("地区").fill("广东")
    page.get_by_label("信访内容").fill(body)
    page.get_by_role("button", name="检查并核对").click()
    expect(page).to_have_url(re.compile(r"/review/"))


def _submit(page: Page) -> None:
    page.get_by_role("button", name="加密并提交").click()


def test_dropped_connections_and_a_surge_never_lose_the_text_nor_submit_twice(
    deployment: Deployment,
    ui_factory: Callable[..., RunningUi],
    open_page: Callable[..., Watched],
) -> None:
    body = "第一段。\n第二段：网络中断后，这段文字不能丢失。\n"
    schedule: list[Action] = ["drop", "drop", "503", "503", "503", "forward"]
    # Retry-After: 0 keeps the test quick; the client honours whatever the server says.
    with FlakyFront(deployment.url, schedule, retry_after=0) as front:
        init = deployment.run("flaky", "init", "--server", front.url, "--trust",
                              deployment.fingerprint)  # fmt: skip
        assert init.returncode == 0, init.stderr
        ui = ui_factory(deployment.homes["flaky"], "--retries", "2")
        page = open_page(javascript=False).page
        page.goto(ui.launch_url)
        _fill(page, body)

        _submit(page)  # two dropped connections: unreachable
        expect(page.locator("#submit-error")).to_contain_text(UNREACHABLE)
        expect(page.locator("#submit-error")).to_contain_text(KEPT_IN_THIS_WINDOW)
        expect(page.locator("#review-body")).to_have_text(body.rstrip("\n"))

        _submit(page)  # two 503s: overloaded
        expect(page.locator("#submit-error")).to_contain_text(BUSY)
        page.get_by_role("link", name="返回修改").click()
        expect(page.get_by_label("信访内容")).to_have_value(body)  # nothing typed was lost
        page.get_by_role("button", name="检查并核对").click()

        _submit(page)  # a 503, then the server takes it: the retry is automatic
        expect(page).to_have_url(re.compile(r"/receipt/"))
        petition_id = page.locator("#petition-id").inner_text().strip()
        posts = front.posts

    assert [post.action for post in posts] == schedule
    # One sealed envelope per click: the automatic retries resent the same bytes.
    envelopes = [json.loads(post.body)["envelope"] for post in posts]
    assert envelopes[0] == envelopes[1]
    assert envelopes[2] == envelopes[3]
    assert envelopes[4] == envelopes[5]
    inbox = deployment.ok("bureau", "bureau", "inbox", "--no-open", *deployment.bureau_flags())
    assert inbox.count(petition_id) == 1
    # Going back to the review page, or reloading, shows the same receipt: nothing is resent.
    page.reload()
    page.go_back()
    expect(page).to_have_url(re.compile(r"/receipt/"))
    expect(page.locator("#petition-id")).to_have_text(petition_id)
    assert len(front.posts) == len(schedule)


def test_without_petition_init_the_command_starts_and_opens_the_setup_page(
    ui_factory: Callable[..., RunningUi], open_page: Callable[..., Watched], tmp_path: Path
) -> None:
    """It used to refuse in one line; now the browser does the setup (tests/ui/test_setup.py)."""
    ui = ui_factory(tmp_path / "never-initialised")
    assert ui.process.poll() is None
    page = open_page(javascript=False).page
    page.goto(ui.launch_url)
    expect(page).to_have_url(re.compile(r"/setup$"))
    page.goto(ui.base + "/status")  # every page leads to the setup until a server is pinned
    expect(page).to_have_url(re.compile(r"/setup$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("设置本程序")


def _to_the_write_page(page: Page, ui: RunningUi) -> None:
    page.goto(ui.launch_url)
    page.get_by_label(BUREAU_NAME).check()
    page.get_by_role("button", name="向这个机构写信访件").click()
    expect(page).to_have_url(re.compile(r"/write\?draft="))


def test_the_error_summary_lists_every_error_with_a_link_to_its_field(
    ui: RunningUi, open_page: Callable[..., Watched]
) -> None:
    """GOV.UK's pattern: the title says "错误：", a list at the top, each error a link to the
    field that holds it, in the order of the form."""
    page = open_page().page
    _to_the_write_page(page, ui)
    # As a browser that does not check `required` fields: the server's own check speaks.
    page.evaluate("document.querySelectorAll('[required]').forEach(e => e.required = false)")
    page.get_by_label("居民身份证号码").fill("440524198001010014")  # wrong check digit
    page.get_by_label("标题").fill("只填了标题")
    page.get_by_role("button", name="检查并核对").click()  # name, category… left empty
    expect(page).to_have_title(re.compile(r"^错误：填写信访件"))
    summary = page.get_by_role("alert")
    expect(summary.get_by_role("heading")).to_have_text("出现了问题")
    links = summary.get_by_role("link")
    targets = [links.nth(i).get_attribute("href") for i in range(links.count())]
    assert targets[:2] == ["#real_name", "#id_number"], targets
    assert "#subject" not in targets  # filled in: no error
    for target in targets:
        assert target is not None
        field = page.locator(target)
        expect(field).to_have_attribute("aria-invalid", "true")
        error_id = target[1:] + "-error"
        expect(page.locator(f"#{error_id}")).to_be_visible()
    expect(links.nth(1)).to_contain_text("最后一位校验码与前 17 位不符")
    links.nth(1).click()
    expect(page).to_have_url(re.compile(r"#id_number$"))

    # The status page: one error, leading to the code field.
    page.goto(ui.base + "/status")
    page.get_by_label("回执码", exact=True).fill("AAAA")
    page.get_by_role("button", name="查询", exact=True).click()
    expect(page).to_have_title(re.compile(r"^错误："))
    expect(page.get_by_role("alert").get_by_role("link")).to_have_attribute("href", "#code")


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_back_after_an_id_error_never_asks_to_resubmit_a_form(
    ui: RunningUi, open_page: Callable[..., Watched], javascript: bool
) -> None:
    """Every POST is answered by a redirect (303), so the history holds only GETs: Back and
    Forward after an ID error reload pages, never "Confirm form resubmission"
    (ERR_CACHE_MISS)."""
    watched = open_page(javascript=javascript)
    page = watched.page
    _to_the_write_page(page, ui)
    page.get_by_label("真实姓名").fill("王五")
    page.get_by_label("居民身份证号码").fill("440524198001010014")
    page.get_by_label("标题").fill("返回不重新提交")
    page.get_by_label("类别").fill("其他")
    page.get_by_label("地区").fill("广东")
    page.get_by_label("信访内容").fill("后退时不应出现重新提交表单的提示。")
    page.get_by_role("button", name="检查并核对").click()
    expect(page.locator("#id_number-error")).to_contain_text("校验码")
    after_error = page.url
    page.get_by_role("link", name="查询进度与答复").click()
    expect(page).to_have_url(re.compile(r"/status$"))
    for step in ("back", "back", "forward", "forward"):
        response = page.go_back() if step == "back" else page.go_forward()
        assert response is None or response.ok, (step, page.url)
        content = page.content()
        assert "ERR_CACHE_MISS" not in content, step
        assert "resubmission" not in content.lower(), step
        expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page).to_have_url(re.compile(r"/status$"))
    page.go_back()
    assert page.url == after_error
    expect(page.get_by_label("真实姓名")).to_have_value("王五")  # the draft, from memory
    expect(page.get_by_label("居民身份证号码")).to_have_value("")  # never filled in again
