"""Issue 21's browser test: a reviewer clears a worklist of 30 petitions on the desk.

A real server, 30 petitions to national from three people (and eight more for the page checks
below), ``petition bureau ui`` as a real subprocess with national's full keystore, a real
headless Chromium. Without JavaScript, 1280 px wide, in Chinese, the reviewer acknowledges all
30 (each through its confirm page), transfers one, assigns one (交办) to the body below,
decides several with a written answer and extends one; the public log and the petitioners' own
status lookups then show exactly that and nothing else.

Then every combination of JavaScript on and off, 1280 and 320 px, Chinese and English visits
the worklist, a case page and a confirm page and records one acknowledgement: the page's
language, no sideways scrolling of the page at 320 px (the worklist table scrolls in its own
box), the action forms working. axe-core (axe-playwright-python: the rules bundled, run in the
same Chromium, nothing fetched) finds no violation on the worklist, a case page with a form
error, a confirm page and a refusal page, at both widths in both languages.

The clearing runs once, in one combination, to keep this file inside its time on a loaded
machine; the pages it uses are the same in the others (no page has a script).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from harness import ID_NUMBERS
from playwright.sync_api import Browser, Page

from client.home import ClientHome
from client.petitioner import petition_status
from client.session import NetworkOptions, Session
from crypto.case_event import LogEntry
from crypto.statutory import Event
from tests.ui.desk_support import act, confirm, running_world, short_numbers, start_desk

if TYPE_CHECKING:
    from tests.ui.conftest import Watched
    from tests.ui.desk_support import RunningDesk, World

#: Drives Debian's Chromium for about a minute.
pytestmark = [pytest.mark.browser, pytest.mark.slow]

PETITIONS = 30
#: One fresh petition per combination of the page checks, acknowledged there.
COMBINATIONS = [
    (javascript, width, language)
    for javascript in (False, True)
    for width in (1280, 320)
    for language in ("zh", "en")
]
LOCALES = {"zh": "zh-CN", "en": "en-US"}
HTML_LANG = {"zh": "zh-Hans", "en": "en"}
TRANSFERRED = 4  # of the 30, by position
ASSIGNED = 15  # 交办 to the body below
EXTENDED = 9
#: Decided with a written answer, by position, and the public outcome of each.
DECIDED = {1: "supported", 12: "explained", 20: "not_supported", 27: "supported"}
ACKNOWLEDGED_ZH = "已受理（书面告知）"
ENTRY_NUMBER = re.compile(r"(\d+)\D*$")  # the log entry number ends every result line
LOG_PAGE = 1000


def _answer(position: int) -> str:
    return f"第{position}号信访件的书面答复：经核查，已按规定处理。"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    people = [ID_NUMBERS[i % 3] for i in range(PETITIONS + len(COMBINATIONS))]
    with running_world(tmp_path_factory.mktemp("clearing"), [(p, "") for p in people]) as built:
        yield built


@pytest.fixture(scope="module")
def desk(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDesk]:
    with start_desk(world, world.full, tmp_path_factory.mktemp("clearing-desk")) as running:
        yield running


def _entry_number(result: str) -> int:
    found = ENTRY_NUMBER.search(result)
    assert found is not None, result
    return int(found.group(1))


def _leaves_the_worklist(page: Page, desk: RunningDesk, number: int) -> None:
    """A case handed on leaves the worklist when the desk reads the inbox again, which the
    action starts at once in the background: within moments, not necessarily on the first
    page after the redirect."""
    deadline = time.monotonic() + 10
    while page.locator(f"#row-{number}").count() and time.monotonic() < deadline:
        time.sleep(0.1)
        page.goto(desk.base + "/")
    assert page.locator(f"#row-{number}").count() == 0


def test_a_reviewer_clears_a_worklist_of_30(
    world: World, desk: RunningDesk, open_page: Callable[..., Watched]
) -> None:
    watched = open_page(locale="zh-CN", javascript=False, width=1280)
    page: Page = watched.page
    page.goto(desk.launch_url)
    assert page.locator("html").get_attribute("lang") == "zh-Hans"
    numbers = short_numbers(page, desk)
    cleared = world.filed[:PETITIONS]
    n = [numbers[filed.petition_id] for filed in cleared]
    shown_entries: dict[str, list[int]] = {filed.petition_id: [] for filed in cleared}

    for position, number in enumerate(n):  # every acknowledgement through its confirm page
        act(page, desk, number, "acknowledge")
        assert page.locator("#public-event").inner_text() == ACKNOWLEDGED_ZH
        result = confirm(page)
        assert "已受理" in result
        shown_entries[cleared[position].petition_id].append(_entry_number(result))

    act(page, desk, n[TRANSFERRED], "transfer", to="guangdong")
    result = confirm(page)  # a transfer leaves the inbox: back to the worklist
    shown_entries[cleared[TRANSFERRED].petition_id].append(_entry_number(result))
    _leaves_the_worklist(page, desk, n[TRANSFERRED])

    act(page, desk, n[ASSIGNED], "assign", to="guangdong")
    assert page.locator("#public-event").inner_text() == "已交办"
    assert page.locator("#confirm-consent").get_attribute("data-consent") == "no"
    result = confirm(page)  # an assignment leaves the inbox too
    shown_entries[cleared[ASSIGNED].petition_id].append(_entry_number(result))
    _leaves_the_worklist(page, desk, n[ASSIGNED])

    act(page, desk, n[EXTENDED], "extend", days="15", reason="complex_facts")
    assert "15" in page.locator(".public-detail").inner_text()
    shown_entries[cleared[EXTENDED].petition_id].append(_entry_number(confirm(page)))

    for position, outcome in DECIDED.items():
        act(page, desk, n[position], "decide", outcome=outcome, message=_answer(position))
        assert page.locator("#sealed-message").inner_text() == _answer(position)
        assert _answer(position) not in page.locator("#public-entry").inner_text()
        shown_entries[cleared[position].petition_id].append(_entry_number(confirm(page)))

    # The decided ones are found by their status.
    page.goto(desk.base + "/?status=decided")
    decided_rows = {
        row.get_attribute("data-petition") for row in page.locator("tr[data-petition]").all()
    }
    assert decided_rows == {cleared[p].petition_id for p in DECIDED}
    assert watched.console == []
    assert all(url.startswith(desk.base) for url in watched.requests)

    # What the petitioners see on their own devices is exactly that.
    with Session.open(ClientHome(world.petitioner), NetworkOptions()) as session:
        for position, filed in enumerate(cleared):
            expected = ["received", "acknowledged"]
            if position == TRANSFERRED:
                expected.append("transferred")
            if position == ASSIGNED:
                expected.append("assigned")
            if position == EXTENDED:
                expected.append("extended")
            if position in DECIDED:
                expected.append("decided")
            report = petition_status(session, filed.secret)
            assert [shown.entry.event.value for shown in report.events] == expected, position
            # The desk numbers log entries from 1, as the petitioner's pages do.
            recorded = [shown.leaf_index + 1 for shown in report.events[1:]]
            assert shown_entries[filed.petition_id] == recorded, position
            if position in DECIDED:
                assert [reply.message for reply in report.replies] == [_answer(position)]
                public = report.events[-1].entry.detail.outcome
                assert public is not None
                assert public.value == DECIDED[position]
            else:
                assert report.replies == ()

        # The public log holds, for these 30 petitions, exactly these entries.
        size = world.server.checkpoint().size
        leaves: list[bytes] = []
        for start in range(0, size, LOG_PAGE):
            leaves += session.api.entries(start, min(size, start + LOG_PAGE))
    ours = {filed.petition_id for filed in cleared}
    entries = [e for e in map(LogEntry.from_leaf, leaves) if e.petition_id in ours]
    assert Counter(e.event for e in entries) == {
        Event.RECEIVED: PETITIONS,
        Event.ACKNOWLEDGED: PETITIONS,
        Event.TRANSFERRED: 1,
        Event.ASSIGNED: 1,
        Event.EXTENDED: 1,
        Event.DECIDED: len(DECIDED),
    }
    by_event = {e.event: e for e in entries if e.event is not Event.DECIDED}
    assert by_event[Event.TRANSFERRED].petition_id == cleared[TRANSFERRED].petition_id
    assert by_event[Event.TRANSFERRED].detail.to == "guangdong"
    assert by_event[Event.ASSIGNED].petition_id == cleared[ASSIGNED].petition_id
    assert by_event[Event.ASSIGNED].detail.to == "guangdong"
    assert by_event[Event.EXTENDED].petition_id == cleared[EXTENDED].petition_id
    assert by_event[Event.EXTENDED].detail.days == 15
    decided = {e.petition_id: e.detail.outcome for e in entries if e.event is Event.DECIDED}
    assert {k: v.value for k, v in decided.items() if v is not None} == {
        cleared[p].petition_id: outcome for p, outcome in DECIDED.items()
    }
    assert all(e.bureau_id == "national" for e in entries)
    assert "Traceback" not in desk.stderr_path.read_text()


# --- every combination: language, width, JavaScript, accessibility --------------------------


def _no_sideways_scrolling(page: Page) -> None:
    """The page itself never scrolls sideways (the worklist table may, inside its own box)."""
    wide = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert wide <= 0, f"{page.url} scrolls sideways by {wide} px"


def _check(page: Page, language: str) -> None:
    assert page.locator("html").get_attribute("lang") == HTML_LANG[language], page.url
    _no_sideways_scrolling(page)


@pytest.mark.parametrize(("javascript", "width", "language"), COMBINATIONS)
def test_every_combination_works_the_desk(
    world: World,
    desk: RunningDesk,
    open_page: Callable[..., Watched],
    javascript: bool,
    width: int,
    language: str,
) -> None:
    fresh = world.filed[PETITIONS + COMBINATIONS.index((javascript, width, language))]
    watched = open_page(locale=LOCALES[language], javascript=javascript, width=width)
    page: Page = watched.page
    page.goto(desk.launch_url)
    number = short_numbers(page, desk)[fresh.petition_id]
    page.goto(desk.base + "/")
    _check(page, language)
    act(page, desk, number, "acknowledge")  # the case page, its form, the confirm page
    assert "/confirm/" in page.url
    _check(page, language)
    confirm(page)
    _check(page, language)  # the case page again, with the result
    page.locator("#action-decide summary").click()  # the longest form, open
    _no_sideways_scrolling(page)
    assert watched.console == []
    with Session.open(ClientHome(world.petitioner), NetworkOptions()) as session:
        report = petition_status(session, fresh.secret)
    assert [shown.entry.event.value for shown in report.events] == ["received", "acknowledged"]


@pytest.mark.parametrize("width", [1280, 320])
@pytest.mark.parametrize("language", ["zh", "en"])
def test_axe_finds_no_violation_on_the_desk(
    world: World, desk: RunningDesk, browser: Browser, width: int, language: str
) -> None:
    # axe-core is a script: the desk's CSP forbids every script, so this context alone bypasses
    # the CSP (and runs JavaScript). The pages are the same without JavaScript: none has a
    # script, so one run per width and language covers both.
    context = browser.new_context(
        locale=LOCALES[language],
        java_script_enabled=True,
        bypass_csp=True,
        viewport={"width": width, "height": 900},
    )
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(desk.launch_url)
        number = short_numbers(page, desk)[world.filed[0].petition_id]
        axe = Axe()
        visited: dict[str, str] = {}

        def scan(what: str) -> None:
            assert page.locator("html").get_attribute("lang") == HTML_LANG[language]
            results = axe.run(page)
            if results.violations_count:
                visited[what] = results.generate_report()

        page.goto(desk.base + "/")
        scan("worklist")
        act(page, desk, number, "decide", outcome="supported")  # no answer: the form's error
        assert page.locator("#action-error").count() == 1
        scan("case page with a form error")
        act(page, desk, number, "close")
        assert "/confirm/" in page.url
        scan("confirm page")
        page.goto(desk.base + "/case/99999")
        scan("refusal page")
        assert visited == {}, "\n\n".join(f"{k}:\n{v}" for k, v in visited.items())
    finally:
        context.close()
