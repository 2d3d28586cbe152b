"""Failures shown as plain sentences in the reader's language, and the text never lost.

A server that cannot be reached, a directory not signed by the pinned authority, and a
submission that meets dropped connections and a surge of 503s (through the real flaky front
of tests/support/flaky_front.py): each is one message on the page, the petition's text stays
on screen, and the next try submits it, once.
"""

from __future__ import annotations

import json
import re
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
UNREACHABLE = "多次尝试后仍无法连接信访服务器"
BUSY = "信访服务器繁忙，多次尝试后仍未接受请求"
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
    dead = f"http://127.0.0.1:{free_port()}"
    ui = ui_factory(_copy_home(deployment, tmp_path / "dead", server=dead), "--retries", "1")
    page = open_page(javascript=False).page
    page.goto(ui.launch_url)
    expect(page.get_by_role("alert")).to_contain_text(UNREACHABLE)
    assert "Traceback" not in page.content()
    assert "httpx" not in page.content()

    english = open_page(locale="en-US", javascript=False).page
    english.goto(ui.launch_url)
    expect(english.get_by_role("alert")).to_contain_text("The petition server cannot be reached")


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


def test_without_petition_init_the_command_says_so_in_one_line(deployment: Deployment) -> None:
    result = deployment.run("never-initialised", "ui", "--no-browser", timeout=60)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "run `petition init" in result.stderr
    assert result.stdout == ""  # no address was printed: nothing listens
