"""First run in the browser (issue 20 item 3): no ``petition init``, no terminal command.

A fresh ``PETITION_HOME``, ``petition ui`` and Debian's Chromium: the setup page takes the
server address and a photo of the poster's QR code (the fingerprint text ``petition admin
init`` prints as a QR code, photographed askew as a phone would), checks the server's authority
key against it with ``petition init``'s own function, and only then saves; the petition is then
written and submitted, and the bureau finds it in its inbox. Before that, the mistakes a person
makes on this page are each one message in the error summary, and nothing is saved: a wrong
fingerprint (which must say to stop and must not show the server's), a mistyped one, a host
name that does not resolve.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import qrcode
from deployment import BUREAU_NAME, Deployment
from PIL import Image
from playwright.sync_api import Page, expect

from crypto.keys import format_fingerprint

#: Drives Debian's Chromium: slow; CI runs it (README, Tests).
pytestmark = pytest.mark.browser

if TYPE_CHECKING:
    from tests.ui.conftest import RunningUi, Watched

ID_NUMBER = "440524198001010013"
SETUP_URL = re.compile(r"/setup(\?once=[A-Za-z0-9_-]+)?$")


def _poster_photo(text: str) -> bytes:
    """A phone's JPEG of the poster's QR code: on a grey wall, turned by a few degrees."""
    code = qrcode.make(text, border=4, box_size=10).get_image().convert("L")
    wall = Image.new("L", (code.width + 400, code.height + 300), 150)
    wall.paste(code, (180, 120))
    photo = wall.rotate(7, expand=True, fillcolor=150)
    buffer = BytesIO()
    photo.save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def _digits(text: str) -> str:
    return re.sub(r"[^0-9a-f]", "", text.lower())


def _shows_no_part_of(page: Page, fingerprint: str) -> None:
    """Not one group of eight hex digits of ``fingerprint`` on the page, in any spacing."""
    shown = _digits(page.content())
    real = _digits(fingerprint)
    for start in range(0, len(real) - 8 + 1, 4):
        assert real[start : start + 8] not in shown, real[start : start + 8]


def _nothing_saved(home: Path) -> None:
    assert not home.exists() or not any(home.rglob("*")), list(home.rglob("*"))


def _check_and_save(page: Page, name: str = "核对并保存") -> None:
    page.get_by_role("button", name=name).click()


def test_a_fresh_home_is_set_up_from_a_poster_photo_and_submits_without_a_terminal(
    deployment: Deployment,
    ui_factory: Callable[..., RunningUi],
    open_page: Callable[..., Watched],
    tmp_path: Path,
) -> None:
    home = tmp_path / "fresh-home"
    ui = ui_factory(home)
    assert ui.process.stdout is not None
    assert "No server is set up yet" in ui.process.stdout.readline()  # after the address
    watched = open_page()
    page = watched.page
    page.goto(ui.launch_url)
    expect(page).to_have_url(SETUP_URL)
    expect(page.locator("#why-fingerprint")).to_contain_text("为什么指纹很重要")
    expect(page.locator("#why-fingerprint")).to_contain_text("在保存任何内容之前核对")

    # A fingerprint that is not the server's: stop, check the poster; the server's is not shown.
    page.get_by_label("信访服务器地址").fill(deployment.url)
    page.get_by_label("名录机构的指纹").fill(format_fingerprint(secrets.token_bytes(32)))
    _check_and_save(page)
    expect(page).to_have_url(SETUP_URL)
    expect(page).to_have_title(re.compile(r"^错误：设置本程序"))
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("请停下：这个服务器不是您输入的指纹所对应的服务器")
    expect(summary).to_contain_text("对照海报")
    expect(summary.get_by_role("link")).to_have_attribute("href", "#fingerprint")
    expect(page.get_by_label("信访服务器地址")).to_have_value(deployment.url)  # kept
    _shows_no_part_of(page, deployment.fingerprint)
    _nothing_saved(home)

    # Mistyped: a group missing. Said without asking the server.
    page.get_by_label("名录机构的指纹").fill(deployment.fingerprint[:-5])
    _check_and_save(page)
    expect(page.get_by_role("alert")).to_contain_text("可能少了、多了或输错了一个")
    _nothing_saved(home)

    # A photo that shows something else than the fingerprint's QR code.
    page.get_by_label("名录机构的指纹").fill("")
    page.get_by_label("海报二维码的照片").set_input_files(
        {"name": "other.jpg", "mimeType": "image/jpeg",
         "buffer": _poster_photo("https://petition.example/")}
    )  # fmt: skip
    _check_and_save(page)
    expect(page.get_by_role("alert").get_by_role("link")).to_have_attribute("href", "#qr")
    expect(page.get_by_role("alert")).to_contain_text("不含指纹")
    _nothing_saved(home)

    # The poster's QR code, photographed: checked with the server, then saved.
    page.get_by_label("海报二维码的照片").set_input_files(
        {"name": "poster.jpg", "mimeType": "image/jpeg",
         "buffer": _poster_photo(deployment.fingerprint)}
    )  # fmt: skip
    _check_and_save(page)
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_text(BUREAU_NAME)).to_be_visible()
    expect(page.locator(".facts")).to_contain_text(deployment.fingerprint)
    assert (home / "config.json").exists() or any(home.iterdir())
    page.goto(ui.base + "/setup")  # pinned: whom to trust is not changed by a form
    expect(page).to_have_url(re.compile(r"/$"))

    # And the petition, without any terminal command.
    page.get_by_label(BUREAU_NAME).check()
    page.get_by_role("button", name="向这个机构写信访件").click()
    page.get_by_label("真实姓名").fill("赵六")
    page.get_by_label("居民身份证号码").fill(ID_NUMBER)
    page.get_by_label("标题").fill("第一次使用")
    page.get_by_label("类别").fill("其他")
    page.get_by_label("地区").fill("广东")
    page.get_by_label("信访内容").fill("第一次在浏览器中设置后提交。")
    page.get_by_role("button", name="检查并核对").click()
    page.get_by_role("button", name="加密并提交").click()
    expect(page).to_have_url(re.compile(r"/receipt/"))
    petition_id = page.locator("#petition-id").inner_text().strip()
    inbox = deployment.ok("bureau", "bureau", "inbox", "--no-open", *deployment.bureau_flags())
    assert inbox.count(petition_id) == 1
    assert ui.tmpdir.exists()
    assert not any(ui.tmpdir.iterdir())  # the photo never reached the disk
    assert not [name for name in ui.files_written() if "poster" in name or name.endswith(".jpg")]


def test_a_typed_fingerprint_in_any_grouping_and_a_wrong_host_name(
    deployment: Deployment,
    ui_factory: Callable[..., RunningUi],
    open_page: Callable[..., Watched],
    tmp_path: Path,
) -> None:
    """In English and without JavaScript: a host name that does not resolve is said at once
    and saves nothing; then the fingerprint typed in upper case with dashes is accepted."""
    home = tmp_path / "typed-home"
    ui = ui_factory(home)
    page = open_page(locale="en-US", javascript=False).page
    page.goto(ui.launch_url)
    expect(page).to_have_url(SETUP_URL)
    port = deployment.url.rsplit(":", 1)[1]
    page.get_by_label("Address of the petition server").fill(
        f"http://petition-server.invalid:{port}"
    )
    typed = deployment.fingerprint.upper().replace(" ", "-")
    page.get_by_label("Fingerprint of the directory authority").fill(typed)
    _check_and_save(page, "Check and save")
    expect(page).to_have_title(re.compile(r"^Error: Set up this program"))
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("its name is unknown")
    expect(summary).to_contain_text("Nothing was saved.")
    expect(summary.get_by_role("link")).to_have_attribute("href", "#server")
    expect(page.get_by_label("Fingerprint of the directory authority")).to_have_value(typed)
    _nothing_saved(home)

    page.get_by_label("Address of the petition server").fill(deployment.url)
    _check_and_save(page, "Check and save")
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_text(BUREAU_NAME)).to_be_visible()
