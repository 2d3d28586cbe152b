"""A petitioner's whole story in a real browser: choose the bureau, write in Chinese with
attachments, the body complained about and the two consent choices, correct a mistyped ID
number (typed again: it is never filled back in), review, submit, keep the receipt code (shown
once), read the status; the bureau answers through the CLI; the status page shows the
decrypted reply. Every form is answered by a redirect (docs/ui.md).

The same story runs with JavaScript disabled and in English (chosen by the browser's
Accept-Language). The Chinese run takes screenshots at 1280 and 320 pixels; with
``--update-screenshots`` (``./dev.sh screenshots``) it writes them to docs/screenshots/,
otherwise to the test's temporary folder, so that the test command leaves the checkout clean: a
PNG is never byte-identical from one run to the next (the ``screenshots`` fixture). After it,
the petitioner's home and the UI's temporary directory hold no trace.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from deployment import BUREAU_NAME, Deployment
from playwright.sync_api import FilePayload, Page, expect

#: Drives Debian's Chromium: slow; CI runs it (README, Tests).
pytestmark = pytest.mark.browser

if TYPE_CHECKING:
    from tests.ui.conftest import RunningUi, Watched

ID_NUMBER = "11010519491231002X"
MISTYPED_ID = "110105194912310021"  # the check character is wrong
CODE = re.compile(r"^1[0-9A-Z]{3}(?:-[0-9A-Z]{4}){6}$")
REPLY = "您的信访事项已受理。\n将于30日内答复。"


@dataclass(frozen=True)
class Words:
    """What a petitioner reads on the screen, in one language (the labels they look for)."""

    html_lang: str
    to_write: str
    name: str
    id_number: str
    contact: str
    subject: str
    category: str
    region: str
    respondent: str
    transfer_yes: str
    sealed_apart: str
    body: str
    add_files: str
    review: str
    id_error: str
    id_not_refilled: str
    submit: str
    only_way: str
    code_hidden: str
    show_again: str
    status_nav: str
    code: str
    show_status: str
    received: str
    accepted: str
    no_reply: str
    verified: str
    phrase_field: str
    phrase_again_field: str
    download: str
    save_more: str
    remove: str


ZH = Words(
    html_lang="zh-Hans",
    to_write="向这个机构写信访件",
    name="真实姓名",
    id_number="居民身份证号码",
    contact="联系方式",
    subject="标题",
    category="类别",
    region="地区",
    respondent="被反映的单位或个人",
    transfer_yes="可以，身份信息可以随事项一并转送",
    sealed_apart="办理事项的工作人员只看到一个化名",
    body="信访内容",
    add_files="添加文件",
    review="检查并核对",
    id_error="最后一位校验码与前 17 位不符",
    id_not_refilled="身份证号码不会再次自动填入",
    submit="加密并提交",
    only_way="这个回执码是查看您的信访件和机构答复的唯一凭证",
    code_hidden="回执码已经显示过一次",
    show_again="再次显示回执码",
    status_nav="查询进度与答复",
    code="回执码",
    show_status="查询",
    received="已收到",
    accepted="已受理（书面告知）",
    no_reply="尚无答复。",
    verified="签名已验证",
    phrase_field="口令",
    phrase_again_field="再次输入口令",
    download="下载回执文件",
    save_more="保存并继续添加附件",
    remove="删除 {name}",
)
EN = Words(
    html_lang="en",
    to_write="Write a petition to this bureau",
    name="Real name",
    id_number="Resident ID number",
    contact="How the bureau can reach you",
    subject="Subject",
    category="Category",
    region="Region",
    respondent="Body complained about",
    transfer_yes="Yes, my identity may go with the case",
    sealed_apart="the people who handle the case read it under a pseudonym",
    body="Your petition",
    add_files="Add files",
    review="Check and review",
    id_error="The last character does not match the first 17",
    id_not_refilled="the ID number is not filled in again",
    submit="Encrypt and submit",
    only_way="This code is the only way back to your petition",
    code_hidden="The code was shown once",
    show_again="Show the code again",
    status_nav="Status and replies",
    code="Receipt code",
    show_status="Show status and replies",
    received="Received",
    accepted="Taken up (written notice)",
    no_reply="No reply yet.",
    verified="signature verified",
    phrase_field="Passphrase",
    phrase_again_field="The same passphrase again",
    download="Download the receipt file",
    save_more="Save and attach more",
    remove="Remove {name}",
)


@dataclass(frozen=True)
class Petition:
    name: str
    subject: str
    respondent: str
    body: str
    small: bytes
    photo: bytes


def _petition() -> Petition:
    marker = secrets.token_hex(4)
    return Petition(
        name=f"张三{marker}",
        subject=f"关于拖欠工资的投诉 {marker}",
        respondent=f"某建筑公司{marker}",
        body=f"本人工资被拖欠八个月。{marker}\n恳请督促处理。\n",
        small="应发 8000 元，实发 0 元\n".encode(),
        # Larger than werkzeug's 500 KB spooling threshold: it must still never touch the disk.
        photo=secrets.token_bytes(600_000),
    )


# The lowest WCAG contrast ratio between any visible text and the background behind it.
LOWEST_CONTRAST = """() => {
  const channels = (color) => color.match(/[\\d.]+/g).map(Number);
  const luminance = (color) => {
    const [r, g, b] = channels(color).slice(0, 3).map((value) => {
      const v = value / 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const background = (element) => {
    for (let e = element; e; e = e.parentElement) {
      const color = getComputedStyle(e).backgroundColor;
      const parts = channels(color);
      if (parts.length < 4 || parts[3] > 0) return color;
    }
    return "rgb(255, 255, 255)";
  };
  let lowest = [100, ""];
  for (const element of document.querySelectorAll("body *")) {
    const text = [...element.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!text || element.getClientRects().length === 0) continue;
    const a = luminance(getComputedStyle(element).color);
    const b = luminance(background(element));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < lowest[0]) lowest = [ratio, element.tagName + " " + element.textContent.trim()];
  }
  return lowest;
}"""


def _shoot(page: Page, name: str, *, folder: Path | None) -> None:
    """The page at 1280 and 320 pixels wide, whole; at 320 nothing may scroll sideways. Every
    text on it has a contrast of at least 4.5:1 (WCAG AA). Nothing without a ``folder``."""
    if folder is None:
        return
    ratio, where = page.evaluate(LOWEST_CONTRAST)
    assert ratio >= 4.5, (name, ratio, where)
    folder.mkdir(parents=True, exist_ok=True)
    for width in (1280, 320):
        page.set_viewport_size({"width": width, "height": 900})
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= width, (name, width, overflow)
        page.screenshot(path=folder / f"{name}-{width}.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def _submit_and_read_reply(
    watched: Watched,
    ui: RunningUi,
    deployment: Deployment,
    words: Words,
    tmp_path: Path,
    *,
    shots: Path | None = None,
    edit_attachments: bool = False,
) -> None:
    """The whole story; ``shots``: also the screenshots (into that folder) and the bureau's view
    of the petition; ``edit_attachments``: also attach a file too many and remove it again
    before reviewing."""
    page = watched.page
    petition = _petition()

    page.goto(ui.launch_url)
    assert page.url == ui.base + "/"  # the launch secret left the address bar at once
    expect(page.locator("html")).to_have_attribute("lang", words.html_lang)
    expect(page.get_by_text(BUREAU_NAME)).to_be_visible()
    _shoot(page, "1-bureaus", folder=shots)

    # No bureau is chosen for the petitioner: the form cannot be sent until one is.
    expect(page.get_by_label(BUREAU_NAME)).not_to_be_checked()
    page.get_by_role("button", name=words.to_write).click()
    expect(page).to_have_url(ui.base + "/")
    page.get_by_label(BUREAU_NAME).check()
    page.get_by_role("button", name=words.to_write).click()
    expect(page).to_have_url(re.compile(r"/write\?draft="))
    _shoot(page, "2-write", folder=shots)

    page.get_by_label(words.name).fill(petition.name)
    page.get_by_label(words.id_number).fill(MISTYPED_ID)
    page.get_by_label(words.contact).fill("手机 13800000000")
    page.get_by_label(words.subject).fill(petition.subject)
    page.get_by_label(words.category).fill("劳动与社会保障")
    page.get_by_label(words.region).fill("北京市西城区")
    page.get_by_label(words.respondent).fill(petition.respondent)
    expect(page.locator("#sealed-apart")).to_contain_text(words.sealed_apart)
    # The defaults: the bureau may make contact; the identity does not go with a transfer.
    expect(page.locator("#consent_contact-yes")).to_be_checked()
    expect(page.locator("#consent_share_identity_on_transfer-no")).to_be_checked()
    page.get_by_label(words.transfer_yes).check()
    page.get_by_label(words.body).fill(petition.body)
    page.get_by_label(words.add_files).set_input_files(
        [
            FilePayload(name="工资条.txt", mimeType="text/plain", buffer=petition.small),
            FilePayload(name="现场照片.jpg", mimeType="image/jpeg", buffer=petition.photo),
        ]
    )
    page.get_by_role("button", name=words.review).click()

    # The mistyped ID is shown next to its field, on a page reached by a redirect; nothing
    # typed or attached was lost but the ID number, which is never filled in again.
    expect(page).to_have_url(re.compile(r"/write\?draft=[\w-]+&once=[\w-]+$"))
    id_input = page.get_by_label(words.id_number)
    expect(id_input).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#id_number-error")).to_contain_text(words.id_error)
    expect(page.locator("#id_number-error")).to_contain_text(words.id_not_refilled)
    expect(page.get_by_label(words.name)).to_have_value(petition.name)
    expect(page.get_by_label(words.subject)).to_have_value(petition.subject)
    expect(page.get_by_label(words.respondent)).to_have_value(petition.respondent)
    expect(page.get_by_label(words.body)).to_have_value(petition.body)
    expect(page.get_by_label(words.transfer_yes)).to_be_checked()
    expect(id_input).to_have_value("")
    assert MISTYPED_ID not in page.content()
    expect(page.locator(".attachments")).to_contain_text("工资条.txt")
    expect(page.locator(".attachments")).to_contain_text("现场照片.jpg")
    _shoot(page, "3-write-error", folder=shots)

    if edit_attachments:
        page.get_by_label(words.add_files).set_input_files(
            FilePayload(name="多余.txt", mimeType="text/plain", buffer="放错了".encode())
        )
        page.get_by_role("button", name=words.save_more).click()
        expect(page.locator(".attachments li")).to_have_count(3)
        page.get_by_label(words.remove.format(name="多余.txt")).check()
        page.get_by_role("button", name=words.save_more).click()
        expect(page.locator(".attachments li")).to_have_count(2)
        expect(page.locator(".attachments")).not_to_contain_text("多余.txt")
        expect(page.get_by_label(words.body)).to_have_value(petition.body)

    id_input.fill(ID_NUMBER)
    page.get_by_role("button", name=words.review).click()
    expect(page).to_have_url(re.compile(r"/review/"))
    expect(page.locator("#review-subject")).to_have_text(petition.subject)
    expect(page.locator("#review-body")).to_contain_text("恳请督促处理。")
    expect(page.locator("#review-id_number")).to_have_text(ID_NUMBER)
    expect(page.locator("#review-respondent")).to_have_text(petition.respondent)
    expect(page.locator("#review-consent_share_identity_on_transfer")).to_have_text(
        words.transfer_yes
    )
    _shoot(page, "4-review", folder=shots)

    page.get_by_role("button", name=words.submit).click()
    expect(page).to_have_url(re.compile(r"/receipt/"))
    code = page.locator("#receipt-code").inner_text().strip()
    petition_id = page.locator("#petition-id").inner_text().strip()
    assert CODE.match(code), code
    assert re.fullmatch(r"[0-9a-f]{32}", petition_id)
    expect(page.get_by_text(words.only_way)).to_be_visible()
    qr = page.locator("img.qr")
    assert (qr.get_attribute("src") or "").startswith("data:image/png;base64,")
    _shoot(page, "5-receipt", folder=shots)
    # Shown once: a reload shows the receipt without the code, until it is asked for again.
    page.reload()
    expect(page.locator("#code-hidden")).to_contain_text(words.code_hidden)
    expect(page.locator("#receipt-code")).to_have_count(0)
    assert code not in page.content()
    expect(page.locator("#petition-id")).to_have_text(petition_id)
    page.get_by_role("button", name=words.show_again).click()
    expect(page.locator("#receipt-code")).to_have_text(code)

    if shots is not None:  # the bureau sees exactly what was written and attached
        saved = tmp_path / "saved"
        shown = deployment.ok(
            "bureau", "bureau", "show", petition_id, *deployment.bureau_flags(),
            "--save-attachments", str(saved),
        )  # fmt: skip
        assert petition.name in shown
        assert petition.respondent in shown
        assert ID_NUMBER in shown
        assert (saved / "工资条.txt").read_bytes() == petition.small
        assert (saved / "现场照片.jpg").read_bytes() == petition.photo

    page.get_by_role("link", name=words.status_nav).click()
    expect(page).to_have_url(ui.base + "/status")
    _shoot(page, "6-status", folder=shots)
    page.get_by_label(words.code, exact=True).fill(code.lower().replace("-", " "))
    page.get_by_role("button", name=words.show_status).click()
    expect(page.locator("#petition-status")).to_have_text(words.received)
    expect(page.locator("#no-reply")).to_have_text(words.no_reply)
    expect(page).to_have_url(re.compile(r"/status\?once=[\w-]+$"))
    page.reload()  # the result was shown once: the form again, with no report
    expect(page.locator("#petition-status")).to_have_count(0)

    deployment.ok(
        "bureau", "bureau", "acknowledge", petition_id, *deployment.bureau_flags(),
        "--message", REPLY,
    )  # fmt: skip
    page.get_by_label(words.code, exact=True).fill(code)
    page.get_by_role("button", name=words.show_status).click()
    expect(page.locator("#petition-status")).to_have_text(words.accepted)
    # The clock: Art. 34's 60 days run from the written notice; the events list both steps.
    expect(page.locator("#deadline")).to_have_attribute("data-state", "running")
    expect(page.locator("#events li")).to_have_count(2)
    expect(page.locator("#events li.unverified")).to_have_count(0)
    message = page.locator(".reply .message")
    expect(message).to_contain_text("您的信访事项已受理。")
    expect(message).to_contain_text("将于30日内答复。")
    expect(page.locator(".reply .verified")).to_contain_text(words.verified)
    # The code is never put back into the page or a URL once it has been used.
    expect(page.get_by_label(words.code, exact=True)).to_have_value("")
    assert code not in page.url
    _shoot(page, "7-status-reply", folder=shots)

    # Nothing but this UI was ever asked for anything.
    assert all(url.startswith((ui.base + "/", "data:")) for url in watched.requests), (
        watched.requests
    )
    assert not [line for line in watched.console if "Content Security Policy" in line]


def _home_files(home: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in home.rglob("*") if path.is_file()}


def test_chinese_flow_with_screenshots_leaves_no_trace(
    open_page: Callable[..., Watched],
    ui: RunningUi,
    deployment: Deployment,
    tmp_path: Path,
    screenshots: Path,
) -> None:
    before = _home_files(ui.home)
    watched = open_page(locale="zh-CN")
    _submit_and_read_reply(watched, ui, deployment, ZH, tmp_path, shots=screenshots)
    assert _home_files(ui.home) == before  # no cache, draft, receipt or history file
    # Not one file opened for writing, not even a nameless temporary file for the 600 KB upload.
    assert ui.files_written() == []
    assert list(ui.tmpdir.iterdir()) == []
    assert ui.launch_key not in ui.stderr()  # no request log


def test_the_same_flow_without_javascript(
    open_page: Callable[..., Watched], ui: RunningUi, deployment: Deployment, tmp_path: Path
) -> None:
    watched = open_page(locale="zh-CN", javascript=False)
    _submit_and_read_reply(watched, ui, deployment, ZH, tmp_path, edit_attachments=True)


def test_the_same_flow_in_english_from_accept_language(
    open_page: Callable[..., Watched], ui: RunningUi, deployment: Deployment, tmp_path: Path
) -> None:
    watched = open_page(locale="en-US")
    _submit_and_read_reply(watched, ui, deployment, EN, tmp_path)


def test_a_receipt_file_downloads_and_opens_with_the_cli(
    open_page: Callable[..., Watched], ui: RunningUi, deployment: Deployment, tmp_path: Path
) -> None:
    """The optional receipt file is the CLI's own format; nothing is written unless asked."""
    page = open_page(locale="zh-CN", javascript=False).page
    page.goto(ui.launch_url)
    page.get_by_label(BUREAU_NAME).check()
    page.get_by_role("button", name=ZH.to_write).click()
    petition = _petition()
    for label, value in [
        (ZH.name, petition.name), (ZH.id_number, ID_NUMBER), (ZH.subject, petition.subject),
        (ZH.category, "其他"), (ZH.region, "广东"), (ZH.body, petition.body),
    ]:  # fmt: skip
        page.get_by_label(label).fill(value)
    page.get_by_role("button", name=ZH.review).click()
    page.get_by_role("button", name=ZH.submit).click()
    code = page.locator("#receipt-code").inner_text().strip()

    page.get_by_label(ZH.phrase_field, exact=True).fill("第一个口令 12345")
    page.get_by_label(ZH.phrase_again_field).fill("第二个口令 12345")
    page.get_by_role("button", name=ZH.download).click()  # refused: they differ, no file
    expect(page.locator("#download-error")).to_have_text("两次输入的口令不一致。")

    passphrase = "我的回执口令 correct horse"  # noqa: S105  (a test receipt file)
    page.get_by_label(ZH.phrase_field, exact=True).fill(passphrase)
    page.get_by_label(ZH.phrase_again_field).fill(passphrase)
    with page.expect_download() as download:
        page.get_by_role("button", name=ZH.download).click()
    receipt_file = tmp_path / download.value.suggested_filename
    download.value.save_as(receipt_file)
    receipt_file.chmod(0o600)
    passphrase_file = tmp_path / "passphrase"
    passphrase_file.write_text(passphrase + "\n", encoding="utf-8")
    status = deployment.ok(
        "petitioner", "status", str(receipt_file), "--passphrase-file", str(passphrase_file)
    )
    assert "received at " in status
    assert code.encode() not in receipt_file.read_bytes()  # sealed, not a copy of the code

    # The same file opens on the status page (uploaded, read in memory).
    page.get_by_role("link", name=ZH.status_nav).click()
    page.get_by_label("回执文件", exact=True).set_input_files(str(receipt_file))
    page.get_by_label("回执文件的口令").fill(passphrase)
    page.get_by_role("button", name=ZH.show_status).click()
    expect(page.locator("#petition-status")).to_have_text(ZH.received)


def test_the_language_switch_is_visible_and_remembered(
    open_page: Callable[..., Watched], ui: RunningUi
) -> None:
    page = open_page(locale="zh-CN", javascript=False).page
    page.goto(ui.launch_url)
    expect(page.locator("h1")).to_have_text("您要向哪个机构信访？")
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Which bureau do you want to petition?")
    page.get_by_role("link", name="Status and replies").click()
    expect(page.locator("h1")).to_have_text("Status and replies")  # kept for the session
    page.get_by_role("link", name="中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(page.locator("h1")).to_have_text("查询进度与答复")


def test_keyboard_alone_reaches_the_form(open_page: Callable[..., Watched], ui: RunningUi) -> None:
    page = open_page(locale="zh-CN").page
    page.goto(ui.launch_url)
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="跳到正文")).to_be_focused()
    radio = page.get_by_label(BUREAU_NAME)
    for _ in range(10):
        page.keyboard.press("Tab")
        if radio.evaluate("element => element === document.activeElement"):
            break
    expect(radio).to_be_focused()
    page.keyboard.press("Space")
    expect(radio).to_be_checked()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name=ZH.to_write)).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/write\?draft="))
    page.keyboard.press("Tab")  # the skip link, then the menu, the switch and the fields
    for _ in range(8):
        page.keyboard.press("Tab")
        if page.get_by_label(ZH.name).evaluate("element => element === document.activeElement"):
            break
    expect(page.get_by_label(ZH.name)).to_be_focused()
