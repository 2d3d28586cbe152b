"""What a real browser keeps on disk after the whole UI flow (issue 14, item 4; docs/ui.md).

Chromium keeps, in its session files (``Default/Sessions``), the body of every POST that was
answered by a page, so that a reload can send it again: after an ID error that body was the
whole petition, with the name and the ID number. ``petition ui`` answers every POST with a
redirect (303) and keeps what the next page shows in its own memory.

The test: Debian's Chromium with an on-disk profile (a persistent context, not an incognito
one) goes through the whole flow: a mistyped ID number first, then an attachment through "save
and attach more", the review, the submission, the receipt (the code read from the page, the
receipt file downloaded), a status lookup with the code. Then the browser is closed and every
file under the profile directory is searched, as raw bytes, for the ID numbers, the real name,
a distinctive phrase of the petition and the receipt code, in UTF-8, UTF-16 (both byte
orders), percent-encoded (both cases, ``+`` for spaces) and JSON-escaped forms.

It runs twice. ``defence-on``: the UI as shipped; nothing may be found. ``defence-off``: the
app's test-only switch (``TEST_ANSWER_ID_ERROR_WITH_PAGE``, an app config flag that no command
line option reaches) answers the ID-error POST with a page, as before; the same search must
then find the petition in the profile, which shows that the test can fail.

The UI runs in this process here (``create_app`` served by werkzeug exactly as ``petition ui``
serves it) because the switch is an app config flag; everything else is real: the deployment,
the client code, the browser and its profile on disk.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from deployment import BUREAU_NAME, Deployment
from inprocess_ui import InProcessUi, serve_in_process
from playwright.sync_api import FilePayload, Playwright, Response, expect
from trace_scan import files_holding

from tests.ui.conftest import CHROMIUM, CHROMIUM_ARGS
from webui.views import TEST_ANSWER_ID_ERROR_WITH_PAGE

#: Drives Debian's Chromium: slow; CI runs it (README, Tests).
pytestmark = pytest.mark.browser

ID_NUMBER = "11010519491231002X"
MISTYPED_ID = "110105194912310021"
CODE = re.compile(r"^1[0-9A-Z]{3}(?:-[0-9A-Z]{4}){6}$")


@pytest.fixture(params=[True, False], ids=["defence-on", "defence-off"])
def served(request: pytest.FixtureRequest, deployment: Deployment) -> Iterator[InProcessUi]:
    running = serve_in_process(
        deployment.homes["petitioner"],
        switch=TEST_ANSWER_ID_ERROR_WITH_PAGE,
        defence=bool(request.param),
    )
    try:
        yield running
    finally:
        running.stop()


def test_an_on_disk_browser_profile_keeps_nothing_of_the_petition(
    served: InProcessUi, playwright: Playwright, deployment: Deployment, tmp_path: Path
) -> None:
    defence = served.defence
    marker = secrets.token_hex(4)
    name = f"李四{marker}"
    phrase = f"{marker}号工地至今未付"
    body = f"本人工资被拖欠八个月，{phrase}。\n恳请督促处理。\n"
    profile = tmp_path / "profile"
    context = playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        headless=True,
        locale="zh-CN",
        viewport={"width": 1280, "height": 900},
        accept_downloads=True,
    )
    answers: list[Response] = []
    try:
        page = context.pages[0] if context.pages else context.new_page()
        page.set_default_timeout(30_000)
        page.on("response", lambda answer: answers.append(answer))
        page.goto(served.runtime.launch_url())
        page.get_by_label(BUREAU_NAME).check()
        page.get_by_role("button", name="向这个机构写信访件").click()
        page.get_by_label("真实姓名").fill(name)
        page.get_by_label("居民身份证号码").fill(MISTYPED_ID)
        page.get_by_label("联系方式").fill("手机 13900000000")
        page.get_by_label("标题").fill(f"拖欠工资 {marker}")
        page.get_by_label("类别").fill("劳动与社会保障")
        page.get_by_label("地区").fill("北京市西城区")
        page.get_by_label("被反映的单位或个人").fill(f"某建筑公司{marker}")
        page.get_by_label("信访内容").fill(body)
        page.get_by_role("button", name="检查并核对").click()
        expect(page.locator("#id_number-error")).to_contain_text("校验码")  # the ID error
        expect(page.get_by_label("信访内容")).to_have_value(body)
        expect(page.get_by_label("居民身份证号码")).to_have_value("")

        page.get_by_label("添加文件").set_input_files(
            FilePayload(name="工资条.txt", mimeType="text/plain", buffer="应发 8000 元".encode())
        )
        page.get_by_role("button", name="保存并继续添加附件").click()
        expect(page.locator(".attachments")).to_contain_text("工资条.txt")

        page.get_by_label("居民身份证号码").fill(ID_NUMBER)
        page.get_by_role("button", name="检查并核对").click()
        expect(page).to_have_url(re.compile(r"/review/"))
        page.get_by_role("button", name="加密并提交").click()
        expect(page).to_have_url(re.compile(r"/receipt/"))
        code = page.locator("#receipt-code").inner_text().strip()
        assert CODE.match(code), code

        passphrase = f"回执口令 {secrets.token_hex(8)}"
        page.get_by_label("口令", exact=True).fill(passphrase)
        page.get_by_label("再次输入口令").fill(passphrase)
        with page.expect_download() as download:
            page.get_by_role("button", name="下载回执文件").click()
        assert download.value.suggested_filename == "petition-receipt.keystore"

        page.get_by_role("link", name="查询进度与答复").first.click()
        page.get_by_label("回执码", exact=True).fill(code)
        page.get_by_role("button", name="查询").click()
        expect(page.locator("#petition-status")).to_have_text("已收到")
        page.get_by_role("link", name="写信访件").click()  # leave the result page as a person would
        expect(page.locator("h1")).to_have_text("您要向哪个机构信访？")
    finally:
        context.close()

    ours = [answer for answer in answers if answer.url.startswith(served.base + "/")]
    receipt_pages = [a for a in ours if re.search(r"/receipt/[\w-]+(\?|$)", a.url)]
    assert receipt_pages
    for answer in ours:  # the receipt page included: no answer may be kept in the disk cache
        assert answer.headers.get("cache-control") == "no-store", answer.url
    assert (profile / "Default").is_dir()  # a real profile was written to disk

    hits = files_holding(
        profile,
        {
            "ID number": [ID_NUMBER, MISTYPED_ID],
            "real name": [name],
            "petition text": [phrase],
            "receipt code": [code, code.replace("-", ""), code.lower()],
        },
    )
    if defence:
        assert hits == {}, hits
    else:  # the ID-error POST answered by a page: its body, the whole petition, is on disk
        assert {"ID number", "real name", "petition text"} <= set(hits), hits
        assert any("Sessions/" in path for path in hits["petition text"]), hits
