"""Issue 17's "Done when": one petition through every event type across three bureaus.

National (the top), guangdong (a province under it) and a county under guangdong, published
with their places as an authority would. The walk, all on the server's day:

    received at national -> national: not competent, should go to guangdong -> national
    transfers it to guangdong -> guangdong assigns it to the county -> the county acknowledges
    -> extends by 30 days -> decides -> the petitioner asks for a review (at guangdong, the
    county's parent) -> guangdong reviews -> the petitioner asks for a re-review (at national,
    guangdong's parent) -> national re-reviews -> national closes.

After each step the petitioner's own client (``petition_status``: every event's signature and
inclusion checked) must show the deadline this test expects. At the end every deadline the
statutory module derives from the entries the server returns is checked against the article's
own day count, computed here from the text of the Regulations (15 days, 5 working days,
60 days + the extension, 30 + 30 days for a review and for a re-review), not by the module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from harness import THREE_LEVELS, RunningServer, Submission, start_server, stop_server

from client.home import ClientHome
from client.petitioner import StatusReport, petition_status
from client.session import NetworkOptions, Session, pin_server
from crypto import cjson
from crypto.case_event import (
    DecisionOutcome,
    Detail,
    ExtensionReason,
    LogEntry,
    ReviewOutcome,
    to_step,
)
from crypto.statutory import FINAL, DayCount, Deadline, Event, Kind, deadlines
from crypto.transfer import reseal

COUNTY = "shenzhen-futian"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("walk"), bureaus=THREE_LEVELS)
    try:
        yield running
    finally:
        stop_server(running)


# --- the Regulations' day counts, written out here ---------------------------------------------


def body_due(start: date, days: int) -> date:
    """A body's "within N days": the start day not counted; a Saturday or Sunday due day moves
    to the Monday (the reading that makes a missed deadline missed under every reading)."""
    due = start + timedelta(days=days)
    while due.weekday() >= 5:
        due += timedelta(days=1)
    return due


def petitioner_due(start: date, days: int) -> date:
    """A petitioner's "within N days": the start day is day 1 (in time under every reading)."""
    return start + timedelta(days=days - 1)


def working_due(start: date, days: int) -> date:
    """N working days (Monday to Friday) after the start day."""
    due = start
    while days:
        due += timedelta(days=1)
        days -= due.weekday() < 5
    return due


@dataclass(frozen=True)
class Expected:
    """One deadline as the article states it: what, days, count, who, article, started by."""

    what: str
    days: int
    count: DayCount
    kind: Kind
    article: str
    started_by: Event
    ended_by: Event

    def due(self, start: date) -> date:
        if self.count is DayCount.WORKING:
            return working_due(start, self.days)
        if self.kind is Kind.PETITIONER_RIGHT:
            return petitioner_due(start, self.days)
        return body_due(start, self.days)


BODY, CAL = Kind.BUREAU_DUTY, DayCount.CALENDAR
#: Every deadline the walk starts, in order, with the event that ends it in this walk.
EXPECTED = [
    # Art. 22/23: 15 days from receipt to register and answer or forward; not competent ends it.
    Expected("acknowledge", 15, CAL, BODY, "Art. 22; Art. 23", Event.RECEIVED,
             Event.NOT_COMPETENT),
    # The transfer starts 15 days again at guangdong, and its 5 working days to object.
    Expected("acknowledge", 15, CAL, BODY, "Art. 22; Art. 23", Event.TRANSFERRED,
             Event.ASSIGNED),
    Expected("object_not_competent", 5, DayCount.WORKING, Kind.BUREAU_OPTION, "Art. 23",
             Event.TRANSFERRED, Event.ASSIGNED),
    # The assignment: the same two at the county; the acknowledgement meets both.
    Expected("acknowledge", 15, CAL, BODY, "Art. 22; Art. 23", Event.ASSIGNED,
             Event.ACKNOWLEDGED),
    Expected("object_not_competent", 5, DayCount.WORKING, Kind.BUREAU_OPTION, "Art. 23",
             Event.ASSIGNED, Event.ACKNOWLEDGED),
    # Art. 34: 60 days from acceptance; the extension (30 days) replaces it with 60 + 30.
    Expected("decide", 60, CAL, BODY, "Art. 34", Event.ACKNOWLEDGED, Event.EXTENDED),
    Expected("decide_extended", 60 + 30, CAL, BODY, "Art. 34", Event.ACKNOWLEDGED,
             Event.DECIDED),
    # Art. 35: 30 days to ask for a review, 30 for the reviewer to answer.
    Expected("request_review", 30, CAL, Kind.PETITIONER_RIGHT, "Art. 35", Event.DECIDED,
             Event.REVIEW_REQUESTED),
    Expected("answer_review", 30, CAL, BODY, "Art. 35", Event.REVIEW_REQUESTED, Event.REVIEWED),
    # Art. 36: the same for the re-review.
    Expected("request_re_review", 30, CAL, Kind.PETITIONER_RIGHT, "Art. 36", Event.REVIEWED,
             Event.RE_REVIEW_REQUESTED),
    Expected("answer_re_review", 30, CAL, BODY, "Art. 36", Event.RE_REVIEW_REQUESTED,
             Event.RE_REVIEWED),
]  # fmt: skip


# --- the walk -----------------------------------------------------------------------------------


def _entries(server: RunningServer, submission: Submission) -> list[tuple[int, LogEntry]]:
    answer = server.client.get(
        f"/v1/petitions/{submission.petition_id}/status",
        headers={"Petition-Lookup-Key": cjson.b64encode(submission.secret.lookup_key())},
    )
    assert answer.status == 200, answer.raw
    return [(i["leaf_index"], LogEntry.from_json(i["entry"])) for i in answer.json["events"]]


def _copy(server: RunningServer, submission: Submission, bureau_id: str) -> bytes:
    bureau = server.bureaus[bureau_id]
    target = f"/v1/bureaus/{bureau_id}/petitions/{submission.petition_id}"
    answer, _ = server.client.signed(bureau, "GET", target)
    assert answer.status == 200, answer.raw
    return cjson.b64decode(answer.json["envelope"])


def _move(server: RunningServer, submission: Submission, event: Event, at: str, to: str) -> None:
    """A transfer or assignment: the case re-sealed by ``at`` for ``to`` (no consent given, so
    the identity stays with the first bureau)."""
    bureau = server.bureaus[at]
    moved = reseal(
        _copy(server, submission, at),
        bureau_id=at,
        case_key=bureau.case,
        identity_key=bureau.identity,
        to=server.bureaus[to].bundle().sealing_keys(),
    )
    assert not moved.identity_shared
    _event(server, submission, at, event, detail=Detail(to=to), envelope=moved.envelope)


def _event(
    server: RunningServer, submission: Submission, bureau_id: str, event: Event, **kwargs: object
) -> None:
    answer = server.post_event(submission, bureau_id, event, **kwargs)
    assert answer.status == 201, (event, answer.raw)
    assert server.receipt(answer.json["receipt"]).entry.event is event


def _review(server: RunningServer, submission: Submission, to: str, event: Event) -> None:
    """What the petitioner's device sends: the same receipt code, sealed to the next level."""
    request = server.seal(to, secret=submission.secret, body="不服，申请复查。")
    answer = server.post_review(submission, request)
    assert answer.status == 201, answer.raw
    entry = server.receipt(answer.json["receipt"]).entry
    assert (entry.event, entry.bureau_id) == (event, to)


def _petitioner_sees(session: Session, submission: Submission) -> StatusReport:
    report = petition_status(session, submission.secret)
    assert not report.flagged, [e.problems for e in report.flagged]
    assert report.clock is not None, report.clock_problem
    return report


def test_one_petition_through_every_event_across_three_levels(
    server: RunningServer, tmp_path: Path
) -> None:
    home = ClientHome(tmp_path / "petitioner")
    pin_server(home, server.client.base, server.authority_fingerprint, NetworkOptions())
    submission = server.seal("national", body="拖欠工资，请求处理。")
    submitted = server.client.post("/v1/petitions", submission.body())
    assert submitted.status == 201, submitted.raw
    outcome = Detail(outcome=DecisionOutcome.NOT_SUPPORTED)
    extension = Detail(days=30, reason=ExtensionReason.FURTHER_INVESTIGATION)
    steps: list[Callable[[], None]] = [
        lambda: None,  # the submission itself
        lambda: _event(server, submission, "national", Event.NOT_COMPETENT,
                       detail=Detail(to="guangdong"), message="此事属广东省处理。"),
        lambda: _move(server, submission, Event.TRANSFERRED, "national", "guangdong"),
        lambda: _move(server, submission, Event.ASSIGNED, "guangdong", COUNTY),
        lambda: _event(server, submission, COUNTY, Event.ACKNOWLEDGED, message="已受理。",
                       sequence=1),
        lambda: _event(server, submission, COUNTY, Event.EXTENDED, detail=extension,
                       message="需进一步调查，延期三十日。", sequence=2),
        lambda: _event(server, submission, COUNTY, Event.DECIDED, detail=outcome,
                       message="经查，不予支持。", sequence=3),
        lambda: _review(server, submission, "guangdong", Event.REVIEW_REQUESTED),
        lambda: _event(server, submission, "guangdong", Event.REVIEWED,
                       detail=Detail(outcome=ReviewOutcome.UPHELD), message="维持。", sequence=4),
        lambda: _review(server, submission, "national", Event.RE_REVIEW_REQUESTED),
        lambda: _event(server, submission, "national", Event.RE_REVIEWED,
                       detail=Detail(outcome=ReviewOutcome.CHANGED), message="撤销原意见。",
                       sequence=5),
        lambda: _event(server, submission, "national", Event.CLOSED),
    ]  # fmt: skip
    # The deadline the petitioner's status must show after each step (None: nothing runs).
    shown = [
        "acknowledge", None, "acknowledge", "acknowledge", "decide", "decide_extended",
        "request_review", "answer_review", "request_re_review", "answer_re_review", None, None,
    ]  # fmt: skip
    with Session.open(home, NetworkOptions()) as session:
        for number, step in enumerate(steps):
            step()
            report = _petitioner_sees(session, submission)
            clock = report.clock
            assert clock is not None
            entries = [shown_event.entry for shown_event in report.events]
            expected_what = shown[number]
            assert (clock.deadline and clock.deadline.what) == expected_what, (number, clock)
            if clock.deadline is not None:
                # The due day the petitioner sees is the article's, from the entry that started it.
                rule = next(
                    e for e in reversed(EXPECTED)
                    if e.what == clock.deadline.what
                    and any(x.event is e.started_by for x in entries)
                )  # fmt: skip
                assert clock.deadline.due == rule.due(clock.deadline.started_on)
                assert clock.days_left == (clock.deadline.due - clock.today).days
        final = _petitioner_sees(session, submission)
    assert final.clock is not None
    assert final.clock.action == FINAL  # Art. 36: after a re-review, nothing more to ask
    assert final.handling[0] == "national"  # the re-review moved the case to the top

    entries = [entry for _, entry in _entries(server, submission)]
    events = [entry.event for entry in entries]
    assert events == [
        Event.RECEIVED, Event.NOT_COMPETENT, Event.TRANSFERRED, Event.ASSIGNED,
        Event.ACKNOWLEDGED, Event.EXTENDED, Event.DECIDED, Event.REVIEW_REQUESTED,
        Event.REVIEWED, Event.RE_REVIEW_REQUESTED, Event.RE_REVIEWED, Event.CLOSED,
    ]  # fmt: skip
    assert set(events) == set(Event)  # every event type, once
    assert {entry.bureau_id for entry in entries} == {"national", "guangdong", COUNTY}
    where = [(entry.event, entry.bureau_id) for entry in entries]
    assert (Event.REVIEW_REQUESTED, "guangdong") in where  # the county's parent
    assert (Event.RE_REVIEW_REQUESTED, "national") in where  # guangdong's parent

    found = deadlines([to_step(entry) for entry in entries])
    started = {entry.event: entry.day for entry in entries}
    ended = {entry.event: entry.day for entry in entries}
    assert len(found) == len(EXPECTED)
    for deadline, rule in zip(found, EXPECTED, strict=True):
        _check(deadline, rule, started[rule.started_by], ended[rule.ended_by])


def _check(deadline: Deadline, rule: Expected, start: date, end: date) -> None:
    label = f"{rule.what} started by {rule.started_by.value}"
    assert (deadline.what, deadline.article) == (rule.what, rule.article), label
    assert (deadline.days, deadline.count, deadline.kind) == (rule.days, rule.count, rule.kind)
    assert deadline.started_on == start, label
    assert deadline.due == rule.due(start), label
    assert (deadline.ended_by, deadline.ended_on) == (rule.ended_by, end), label
    assert deadline.in_time is True, label
