"""Case events as log leaves (protocol §9.3.4): strict parsing, bureau signatures, the clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from crypto import cjson
from crypto.case_event import (
    DETAIL_MEMBERS,
    SERVER_RECORDED,
    DecisionOutcome,
    Detail,
    ExtensionReason,
    LogEntry,
    ReviewOutcome,
    review_request,
    sign_entry,
    to_step,
    verify_entry_signature,
)
from crypto.errors import InvalidSignature, MalformedInput, SchemaViolation, UnsupportedVersion
from crypto.fields import petition_id_for
from crypto.keys import SigningKey, VerifyKey
from crypto.objects import Reply
from crypto.statutory import Event, Step, deadlines

PID = petition_id_for(b"envelope")
DAY = date(2026, 12, 7)
KEY = SigningKey.generate()
OTHER = SigningKey.generate()

#: One valid detail per event.
DETAILS: dict[Event, Detail] = {
    event: Detail(to="guangdong")
    if "to" in DETAIL_MEMBERS[event]
    else Detail(days=30, reason=ExtensionReason.COMPLEX_FACTS)
    if event is Event.EXTENDED
    else Detail(outcome=DecisionOutcome.SUPPORTED)
    if event is Event.DECIDED
    else Detail(outcome=ReviewOutcome.UPHELD)
    if event in (Event.REVIEWED, Event.RE_REVIEWED)
    else Detail()
    for event in Event
}


def _entry(event: Event, **changes: Any) -> LogEntry:
    entry = LogEntry(PID, "national", bytes(32), event, DAY, DETAILS[event])
    entry = replace(entry, **changes)
    return entry if not entry.signed else sign_entry(entry, KEY)


def _keys(bureau_id: str) -> VerifyKey | None:
    return KEY.public_key() if bureau_id == "national" else None


@pytest.mark.parametrize("event", list(Event), ids=lambda e: e.value)
def test_every_event_round_trips_and_verifies(event: Event) -> None:
    entry = _entry(event)
    assert LogEntry.from_leaf(entry.leaf()) == entry
    assert (entry.signature is None) == (event in SERVER_RECORDED)
    verify_entry_signature(entry, _keys)
    assert set(cjson.decode_object(entry.leaf())["detail"]) == DETAIL_MEMBERS[event]


def test_a_bureau_event_signed_by_another_key_or_altered_does_not_verify() -> None:
    entry = _entry(Event.DECIDED)
    verify_entry_signature(entry, _keys)  # control
    by_other = sign_entry(replace(entry, signature=None), OTHER)
    with pytest.raises(InvalidSignature):
        verify_entry_signature(by_other, _keys)
    for altered in (
        replace(entry, day=date(2026, 12, 6)),  # backdated after signing
        replace(entry, detail=Detail(outcome=DecisionOutcome.NOT_SUPPORTED)),
        replace(entry, bureau_id="guangdong"),  # claimed for another bureau
    ):
        with pytest.raises(InvalidSignature):
            verify_entry_signature(altered, _keys)
    with pytest.raises(InvalidSignature, match="not signed"):
        verify_entry_signature(replace(entry, signature=None), _keys)


def test_the_signature_member_is_required_exactly_where_a_bureau_records_the_event() -> None:
    received = _entry(Event.RECEIVED).to_json()
    with pytest.raises(SchemaViolation, match="unsigned"):
        LogEntry.from_json({**received, "signature": cjson.b64encode(bytes(64))})
    decided = _entry(Event.DECIDED).to_json()
    with pytest.raises(SchemaViolation, match="signed"):
        LogEntry.from_json({**decided, "signature": None})
    with pytest.raises(MalformedInput):
        sign_entry(_entry(Event.RECEIVED), KEY)


@pytest.mark.parametrize(
    ("event", "detail"),
    [
        (Event.ACKNOWLEDGED, {"to": "guangdong"}),
        (Event.TRANSFERRED, {}),
        (Event.TRANSFERRED, {"to": "national"}),  # to itself
        (Event.TRANSFERRED, {"to": "Guangdong"}),  # not a bureau id
        (Event.EXTENDED, {"days": 31, "reason": "other"}),
        (Event.EXTENDED, {"days": 0, "reason": "other"}),
        (Event.EXTENDED, {"days": True, "reason": "other"}),
        (Event.EXTENDED, {"days": 10, "reason": "the director is on holiday"}),
        (Event.DECIDED, {"outcome": "upheld"}),  # a review outcome
        (Event.REVIEWED, {"outcome": "supported"}),  # a decision outcome
        (Event.DECIDED, {"outcome": "supported", "note": "free text"}),
        (Event.CLOSED, {"reason": "other"}),
    ],
)
def test_detail_is_exactly_what_the_event_carries(event: Event, detail: dict[str, Any]) -> None:
    body = _entry(event).to_json()
    assert LogEntry.from_json(body) == _entry(event)  # control
    with pytest.raises(MalformedInput):
        LogEntry.from_json({**body, "detail": detail})


def test_entries_refuse_unknown_members_events_and_versions() -> None:
    body = _entry(Event.ACKNOWLEDGED).to_json()
    with pytest.raises(SchemaViolation, match="unknown"):
        LogEntry.from_json({**body, "token": "AAAA"})
    with pytest.raises(MalformedInput, match="unknown event"):
        LogEntry.from_json({**body, "event": "answered"})  # a version 1 status
    for version in (1, 3):
        with pytest.raises(UnsupportedVersion):
            LogEntry.from_json({**body, "version": version})
    with pytest.raises(MalformedInput):
        LogEntry.from_json({**body, "day": "2026-12-07T10:00:00"})
    with pytest.raises(SchemaViolation):
        LogEntry(PID, "national", bytes(32), Event.RECEIVED, DAY, reply_hash=bytes(32))


def test_a_reply_accompanies_a_bureau_event_only() -> None:
    reply = Reply(PID, "national", Event.DECIDED, 0, b"c", DAY).to_json()
    assert Reply.from_json(reply).event is Event.DECIDED
    for event in SERVER_RECORDED:
        with pytest.raises(SchemaViolation):
            Reply.from_json({**reply, "event": event.value})


def test_entries_become_the_statutory_clock_steps() -> None:
    history = [
        _entry(Event.RECEIVED, day=date(2026, 3, 2)),
        _entry(Event.ACKNOWLEDGED, day=date(2026, 3, 9)),
        _entry(Event.EXTENDED, day=date(2026, 4, 20)),
        _entry(Event.DECIDED, day=date(2026, 5, 20)),
    ]
    steps = [to_step(entry) for entry in history]
    assert steps[2] == Step(Event.EXTENDED, date(2026, 4, 20), 30, "complex_facts")
    decide = next(d for d in deadlines(steps) if d.what == "decide_extended")
    assert decide.due == date(2026, 6, 8)  # 60 + 30 days after 2026-03-09 (a Monday)
    assert decide.in_time is True


def test_the_next_request_contests_the_last_answer_or_the_bureau_that_gave_none() -> None:
    def at(bureau_id: str, event: Event) -> LogEntry:
        return _entry(event, bureau_id=bureau_id)

    history = [at("county", Event.RECEIVED), at("county", Event.ACKNOWLEDGED)]
    # No answer yet: a review (once a duty is overdue) contests the bureau handling the case.
    assert review_request(history, "county") == (Event.REVIEW_REQUESTED, "county")
    history.append(at("county", Event.DECIDED))
    assert review_request(history, "county") == (Event.REVIEW_REQUESTED, "county")
    history.append(at("guangdong", Event.REVIEW_REQUESTED))
    # The reviewer let its 30 days pass: a re-review contests the reviewer handling it.
    assert review_request(history, "guangdong") == (Event.RE_REVIEW_REQUESTED, "guangdong")
    history.append(at("guangdong", Event.REVIEWED))
    assert review_request(history, "guangdong") == (Event.RE_REVIEW_REQUESTED, "guangdong")
