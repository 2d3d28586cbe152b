"""axe-core over the petitioner's pages of ``petition ui``, in both languages.

The start page, the write form showing an error (a mistyped ID number), the review page, the
receipt and the status page with a result, each checked by axe-core (axe-playwright-python:
the rules bundled, run in the same Debian Chromium, nothing fetched). The desk's pages have
the same pass in tests/ui/test_desk_worklist_clearing.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from deployment import BUREAU_NAME
from playwright.sync_api import Browser, Page, expect

from tests.ui.test_flow import EN, ID_NUMBER, MISTYPED_ID, ZH, Words

if TYPE_CHECKING:
    from tests.ui.conftest import RunningUi

#: Drives Debian's Chromium: slow; CI runs it (README, Tests).
pytestmark = pytest.mark.browser

LANGUAGES = {"zh": ("zh-CN", ZH), "en": ("en-US", EN)}


def _scan(page: Page, axe: Axe, words: Words, what: str, found: dict[str, str]) -> None:
    expect(page.locator("html")).to_have_attribute("lang", words.html_lang)
    results = axe.run(page)
    if results.violations_count:
        found[what] = results.generate_report()


@pytest.mark.parametrize("language", ["zh", "en"])
def test_axe_finds_no_violation_on_the_petitioner_pages(
    browser: Browser, ui: RunningUi, language: str
) -> None:
    locale, words = LANGUAGES[language]
    # axe-core is a script and the UI's CSP forbids every script: only this context, made for
    # the accessibility pass, bypasses the CSP (and runs JavaScript).
    context = browser.new_context(
        locale=locale,
        java_script_enabled=True,
        bypass_csp=True,
        viewport={"width": 1280, "height": 900},
    )
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        axe = Axe()
        found: dict[str, str] = {}
        page.goto(ui.launch_url)
        _scan(page, axe, words, "start page", found)

        page.get_by_label(BUREAU_NAME).check()
        page.get_by_role("button", name=words.to_write).click()
        page.get_by_label(words.name).fill("张三")
        page.get_by_label(words.id_number).fill(MISTYPED_ID)
        page.get_by_label(words.contact).fill("手机 13800000000")
        page.get_by_label(words.subject).fill("道路维修")
        page.get_by_label(words.category).fill("城乡建设")
        page.get_by_label(words.region).fill("北京市西城区")
        page.get_by_label(words.body).fill("请修路。\n")
        page.get_by_role("button", name=words.review).click()
        expect(page.locator("#id_number-error")).to_contain_text(words.id_error)
        _scan(page, axe, words, "write form with an error", found)

        page.get_by_label(words.id_number).fill(ID_NUMBER)
        page.get_by_role("button", name=words.review).click()
        expect(page.locator("#review-id_number")).to_have_text(ID_NUMBER)
        _scan(page, axe, words, "review page", found)

        page.get_by_role("button", name=words.submit).click()
        code = page.locator("#receipt-code").inner_text().strip()
        _scan(page, axe, words, "receipt", found)

        page.get_by_role("link", name=words.status_nav).click()
        page.get_by_label(words.code, exact=True).fill(code)
        page.get_by_role("button", name=words.show_status).click()
        expect(page.locator("#petition-status")).to_have_text(words.received)
        _scan(page, axe, words, "status page", found)
        assert found == {}, "\n\n".join(f"{k}:\n{v}" for k, v in found.items())
    finally:
        context.close()
