"""The status page says what the petitioner's device concluded, in Chinese and in English.

A report built from constructed, signed events (client.petitioner.status_report, no server) is
left for the page the way a lookup leaves it, and the page is fetched through the real Flask
app: the events, a flagged forgery, the overdue deadline with its article and the action the
law gives, Art. 19, and the warning for a transfer to the body complained about.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from client.api import LoggedEvent, PetitionStatusAnswer
from client.home import ClientHome
from client.petitioner import StatusReport, status_report
from client.session import NetworkOptions
from crypto import note
from crypto.case_event import Detail, LogEntry, sign_entry
from crypto.keys import EncryptionPrivateKey, SigningKey
from crypto.objects import BureauBundle, Directory, Place, default_policy
from crypto.receipt import ReceiptSecret
from crypto.statutory import Event
from crypto.token import TokenParams, generate_token_salt
from webui import security
from webui.app import UiRuntime, create_app
from webui.state import StatusAnswer

#: Drives Debian's Chromium: slow; CI runs it (README, Tests).
pytestmark = pytest.mark.browser

PORT = 38001
LOG = note.Verifier("petition.example.org/log", SigningKey.generate().public_key())
KEYS = {"national": SigningKey.generate(), "guangdong": SigningKey.generate()}
NAMES = {"national": "国家信访局", "guangdong": "广东省信访局"}
ENVELOPE_HASH = hashlib.sha256(b"envelope").digest()
PID = ENVELOPE_HASH.hex()[:32]


def _directory() -> Directory:
    bundles = tuple(
        BureauBundle(
            bureau_id=bureau,
            name=NAMES[bureau],
            identity_key=EncryptionPrivateKey.generate().public_key(),
            case_key=EncryptionPrivateKey.generate().public_key(),
            signing_key=KEYS[bureau].public_key(),
            token_salt=generate_token_salt(),
            token_params=TokenParams(),
        )
        for bureau in NAMES
    )
    places = (Place("national", None, "全国"), Place("guangdong", "national", "广东省"))
    return Directory(1, date(2026, 1, 1), bundles, LOG, default_policy(LOG), places)


def _entry(event: Event, day: date, bureau: str, detail: Detail, key: str) -> LogEntry:
    entry = LogEntry(PID, bureau, ENVELOPE_HASH, event, day, detail)
    return sign_entry(entry, KEYS[key]) if entry.signed else entry


def _report(respondent: str) -> StatusReport:
    """Received, transferred to the province; the province never answers in its 15 days; a
    'decision' signed with the wrong key is listed too."""
    entries = [
        _entry(Event.RECEIVED, date(2026, 3, 2), "national", Detail(), "national"),
        _entry(Event.TRANSFERRED, date(2026, 3, 3), "national", Detail(to="guangdong"), "national"),
        _entry(Event.ACKNOWLEDGED, date(2026, 3, 4), "guangdong", Detail(), "national"),
    ]
    answer = PetitionStatusAnswer(
        PID,
        "national",
        tuple(LoggedEvent(i, entry) for i, entry in enumerate(entries)),
        (),
        None,
    )
    return status_report(
        _directory(),
        answer,
        ReceiptSecret.generate(),
        respondent=respondent,
        today=date(2026, 3, 25),
    )


@pytest.fixture
def ui(tmp_path: Path) -> Iterator[tuple[UiRuntime, FlaskClient]]:
    runtime = UiRuntime(ClientHome(tmp_path / "home"), NetworkOptions(), port=PORT)
    app = create_app(runtime)
    with app.test_client() as client:
        yield runtime, client


def _page(ui: tuple[UiRuntime, FlaskClient], report: StatusReport, language: str) -> str:
    runtime, client = ui
    session = runtime.store.open_session()
    session.lang = language
    once = runtime.store.leave(session, StatusAnswer(report, None))
    client.set_cookie(security.SESSION_COOKIE, session.session_id, domain="127.0.0.1")
    answer = client.get(f"/status?once={once}", base_url=f"http://127.0.0.1:{PORT}")
    assert answer.status_code == 200, answer.text
    return answer.text


def test_the_status_page_shows_events_deadline_action_and_the_transfer_warning_in_chinese(
    ui: tuple[UiRuntime, FlaskClient],
) -> None:
    page = _page(ui, _report("广东省人民政府"), "zh")
    assert "已转送" in page
    assert "转至：广东省信访局" in page
    assert "未通过核验：这条记录没有所列信访部门的有效签名" in page
    # The forged acknowledgement is not counted: the province's 15 days ran out on 3-18.
    assert 'data-state="overdue"' in page
    assert "期限至 2026年3月18日（第22条、第23条）" in page
    assert "已超过期限天数：7" in page
    assert 'data-action="ask_next_level"' in page
    assert "第43条、第44条第（3）项" in page
    assert "其上级机关应责令改正，您可以向上一级机关提出" in page
    assert "第十九条不再限制您向上一级机关提出" in page
    assert "警告：此次转送把您的事项交给了广东省信访局" in page
    assert "名录中没有国家信访局的上一级机关" in page
    assert "目前办理机关" in page


def test_the_status_page_in_english_and_without_a_respondent(
    ui: tuple[UiRuntime, FlaskClient],
) -> None:
    page = _page(ui, _report(""), "en")
    assert "Transferred" in page
    assert "Sent to: 广东省信访局" in page
    assert "Due by March 18, 2026 (Art. 22; Art. 23)" in page
    assert "Days past the due day: 7" in page
    assert "you can take the case to the next level" in page
    assert "transfer-warning" not in page  # control: no respondent named, no warning


def test_a_running_deadline_explains_article_19(ui: tuple[UiRuntime, FlaskClient]) -> None:
    report = _report("")
    in_time = replace(report, clock=None)
    page = _page(ui, in_time, "en")
    assert "cannot be worked out" in page
    fresh = status_report(
        _directory(),
        PetitionStatusAnswer(
            PID,
            "national",
            (LoggedEvent(0, report.events[0].entry),),
            (),
            None,
        ),
        ReceiptSecret.generate(),
        today=date(2026, 3, 5),
    )
    page = _page(ui, fresh, "zh")
    assert 'data-state="running"' in page
    assert "剩余天数：12" in page
    assert "第十九条：有关机关仍在规定期限内办理时" in page
