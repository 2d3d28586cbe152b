"""Attacks by a bureau on the petitioner's case: sending it back to the body complained about
(T-DD-8), backdating what it did (T-REP-3), and leaving it unanswered behind a closed file
(T-REP-4).

The transfer attack runs against a real server with the real bureau tools; the other two count
a log of bureau-signed entries with the project's statistics (``crypto.case_stats``), which is
what anyone holding the log runs (``petition audit stats``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from adversary import Defence
from harness import Bureau, RunningServer, start_server, stop_server, utc_today

import client.bureau
from client.bureau import Art30Refusal, BureauDesk, BureauKeys
from client.home import ClientHome
from client.session import NetworkOptions, Session, pin_server
from client.transport import RetryPolicy
from crypto import note
from crypto.case_event import Detail, LogEntry, sign_entry, to_step
from crypto.case_stats import count
from crypto.fields import envelope_hash, petition_id_for
from crypto.keys import SigningKey
from crypto.objects import Directory, Place, default_policy
from crypto.statutory import Event, status

ACCUSED = "广东省信访局"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("accountability"))
    try:
        yield running
    finally:
        stop_server(running)


def _desk(server: RunningServer, bureau_id: str, home: Path) -> BureauDesk:
    bureau = server.bureaus[bureau_id]
    network = NetworkOptions(retry=RetryPolicy(attempts=1))
    client_home = ClientHome(home)
    pin_server(client_home, server.client.base, server.authority_fingerprint, network)
    keys = BureauKeys(bureau.bundle(), bureau.identity, bureau.case, bureau.signing, bureau.token)
    return BureauDesk(Session.open(client_home, network), keys)


@pytest.mark.threat("T-DD-8")
def test_a_case_is_not_transferred_to_the_body_complained_about(
    server: RunningServer, tmp_path: Path, defence: Defence, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The national bureau tries to send a complaint about the Guangdong bureau to it."""
    submission = server.seal("national", respondent=ACCUSED)
    answer = server.client.post("/v1/petitions", submission.body())
    assert answer.status == 201, answer.raw
    petition_id = answer.json["petition_id"]
    national = _desk(server, "national", tmp_path / "national")
    accused = _desk(server, "guangdong", tmp_path / "guangdong")
    try:
        national.record(petition_id, Event.ACKNOWLEDGED)
        if defence.off:  # a bureau using a tool without the rule
            monkeypatch.setattr(client.bureau, "names_destination", lambda *args: None)
        with contextlib.suppress(Art30Refusal):  # the refusal is the defence
            national.record(petition_id, Event.TRANSFERRED, detail=Detail(to="guangdong"))
        received, _ = accused.inbox()
        delivered = any(item["petition_id"] == petition_id for item in received)
        defence.judge(delivered, "sending the complaint to the body it is about")
        if delivered:
            # What remains: the transfer is public, with its destination, for the petitioner
            # and the next level to see (the status flags it: tests/clients/test_status_report.py).
            events = national.fetch(petition_id).events
            moved = [entry.detail.to for _, entry in events if entry.event is Event.TRANSFERRED]
            assert moved == ["guangdong"]
    finally:
        national.session.close()
        accused.session.close()


# --- counting a log -----------------------------------------------------------------------

LOG = note.Verifier("petition.example.org/log", SigningKey.generate().public_key())
BUREAUS = {"national": Bureau("national", "国家信访局"), "guangdong": Bureau("guangdong", ACCUSED)}
DIRECTORY = Directory(
    1,
    date(2026, 1, 1),
    tuple(bureau.bundle() for bureau in BUREAUS.values()),
    LOG,
    default_policy(LOG),
    (Place("national", None, "全国"), Place("guangdong", "national", "广东省")),
)
START = date(2026, 3, 2)


NO_DETAIL = Detail()


def _entry(seed: str, event: Event, day: date, detail: Detail = NO_DETAIL) -> LogEntry:
    entry = LogEntry(petition_id_for(seed.encode()), "guangdong", bytes(32), event, day, detail)
    return entry if not entry.signed else sign_entry(entry, BUREAUS["guangdong"].signing)


@pytest.mark.threat("T-REP-3")
def test_a_backdated_acknowledgement_does_not_count_as_in_time(
    server: RunningServer, defence: Defence
) -> None:
    """The bureau misses the 15 days, then records its acknowledgement dated day 3."""
    late = [_entry("a", Event.RECEIVED, START), _entry("b", Event.RECEIVED, START)]
    late.append(_entry("b", Event.ACKNOWLEDGED, START + timedelta(days=30)))  # honest, late
    late.append(_entry("a", Event.ACKNOWLEDGED, START + timedelta(days=3)))  # backdated
    if defence.off:  # a store that lists events by their own day, not an append-only log
        late.sort(key=lambda entry: entry.day)
    stats = count(late, DIRECTORY, period="all", today=START + timedelta(days=40))
    figures = stats.get("all").bureau("guangdong")
    caught = stats.problem_counts()["backdated"] == 1 and figures.duties["acknowledge"].in_time == 0
    defence.judge(not caught, "a backdated acknowledgement counted as in time")
    # And the server takes no event dated other than its own day.
    submission = server.seal("guangdong")
    assert server.client.post("/v1/petitions", submission.body()).status == 201
    body = {
        "entry": sign_entry(
            LogEntry(
                submission.petition_id,
                "guangdong",
                envelope_hash(submission.envelope),
                Event.ACKNOWLEDGED,
                utc_today() - timedelta(days=12),
            ),
            server.bureaus["guangdong"].signing,
        ).to_json(),
        "reply": None,
        "envelope": None,
    }
    target = f"/v1/bureaus/guangdong/petitions/{submission.petition_id}/events"
    refused, _ = server.client.signed(server.bureaus["guangdong"], "POST", target, body)
    assert (refused.status, refused.error_code) == (400, "wrong_day")


@pytest.mark.threat("T-REP-4")
def test_closing_a_case_without_an_answer_leaves_it_overdue(defence: Defence) -> None:
    """Cold treatment: acknowledged, never decided, then closed to look handled."""
    history = [
        _entry("c", Event.RECEIVED, START),
        _entry("c", Event.ACKNOWLEDGED, START + timedelta(days=5)),
        _entry("c", Event.CLOSED, START + timedelta(days=20)),
    ]
    today = START + timedelta(days=100)
    if defence.on:  # the statute's clock: closing answers nothing
        figures = count(history, DIRECTORY, period="all", today=today).get("all")
        overdue = figures.bureau("guangdong").overdue
        clock = status([to_step(entry) for entry in history], today)
        hidden = overdue == 0 and not clock.overdue
    else:  # a tally of the latest status, as version 1 kept it: closed means done
        hidden = history[-1].event is Event.CLOSED
    defence.judge(hidden, "hiding an unanswered case behind a closed file")
