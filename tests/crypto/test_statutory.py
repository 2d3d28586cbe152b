"""Tests for crypto.statutory: each article's clock against its own sentence, a full history across
three bodies, calendar edge cases, the status a petitioner sees, and impossible histories.

The article sentences are quoted from the 2022 Regulations on Letters and Visits Work
(信访工作条例) as data, so the tests never read the reference copy. Expected due days are written
out by hand (with the weekday), never recomputed with the module's own arithmetic.
"""

from __future__ import annotations

from datetime import date

import pytest

from crypto.errors import MalformedInput
from crypto.statutory import (
    FINAL,
    DayCount,
    Deadline,
    Event,
    Kind,
    Step,
    deadlines,
    status,
)

ART = {
    "19": "信访事项已经受理或者正在办理的，信访人在规定期限内向受理、办理机关、单位的上级机关、"
    "单位又提出同一信访事项的，上级机关、单位不予受理。",
    "22": "各级党委和政府信访部门收到信访事项，应当予以登记，并区分情况，"
    "在15日内分别按照下列方式处理",
    "23-2": "不能当场告知的，应当自收到信访事项之日起15日内书面告知信访人",
    "23-3": "属于本机关、单位职权范围的，有关机关、单位应当自收到之日起15日内书面告知信访人接收情况"
    "以及处理途径和程序；不属于本机关、单位或者本系统职权范围的，有关机关、单位应当自收到之日起"
    "5个工作日内提出异议",
    "34": "应当自受理之日起60日内办结；情况复杂的，经本机关、单位负责人批准，可以适当延长办理期限，"
    "但延长期限不得超过30日，并告知信访人延期理由。",
    "35": "信访人对信访处理意见不服的，可以自收到书面答复之日起30日内请求原办理机关、单位的上一级"
    "机关、单位复查。收到复查请求的机关、单位应当自收到复查请求之日起30日内提出复查意见，"
    "并予以书面答复。",
    "36": "信访人对复查意见不服的，可以自收到书面答复之日起30日内向复查机关、单位的上一级机关、"
    "单位请求复核。收到复核请求的机关、单位应当自收到复核请求之日起30日内提出复核意见。",
    "36-3": "信访人对复核意见不服，仍然以同一事实和理由提出投诉请求的，各级党委和政府信访部门和"
    "其他机关、单位不再受理。",
    "45-1": "推诿、敷衍、拖延信访事项办理或者未在规定期限内办结信访事项",
}

R = Event.RECEIVED
ACK = Event.ACKNOWLEDGED
NC = Event.NOT_COMPETENT
TR = Event.TRANSFERRED
AS = Event.ASSIGNED
DEC = Event.DECIDED
RQ = Event.REVIEW_REQUESTED
RV = Event.REVIEWED
RRQ = Event.RE_REVIEW_REQUESTED
RRV = Event.RE_REVIEWED
CL = Event.CLOSED


def s(event: Event, day: str) -> Step:
    return Step(event, date.fromisoformat(day))


def ext(day: str, days: int = 30, reason: str = "complex") -> Step:
    return Step(Event.EXTENDED, date.fromisoformat(day), extension_days=days, reason=reason)


def only(found: list[Deadline], what: str) -> Deadline:
    matching = [d for d in found if d.what == what]
    assert len(matching) == 1, matching
    return matching[0]


def d(text: str) -> date:
    return date.fromisoformat(text)


# --- each article's clock ---------------------------------------------------------------------


def test_the_quoted_day_counts_are_the_ones_the_module_uses() -> None:
    assert "15日内" in ART["22"]
    assert "15日内" in ART["23-2"]
    assert "5个工作日内" in ART["23-3"]
    assert "60日内" in ART["34"]
    assert "不得超过30日" in ART["34"]
    assert ART["35"].count("30日内") == 2
    assert ART["36"].count("30日内") == 2
    events = [R, TR, ACK, Event.EXTENDED, DEC, RQ, RV, RRQ]
    found = deadlines(
        [ext("2024-03-04") if e is Event.EXTENDED else s(e, "2024-03-04") for e in events]
    )
    days = {(x.what, x.days, x.count) for x in found}
    assert days == {
        ("acknowledge", 15, DayCount.CALENDAR),
        ("object_not_competent", 5, DayCount.WORKING),
        ("decide", 60, DayCount.CALENDAR),
        ("decide_extended", 90, DayCount.CALENDAR),
        ("request_review", 30, DayCount.CALENDAR),
        ("answer_review", 30, DayCount.CALENDAR),
        ("request_re_review", 30, DayCount.CALENDAR),
        ("answer_re_review", 30, DayCount.CALENDAR),
    }


def test_art_23_written_notice_within_15_days_of_receipt() -> None:
    # ART["23-2"]: the starting day is not counted; day 15 is 2024-03-19 (Tue).
    (ack,) = deadlines([s(R, "2024-03-04")])
    assert (ack.what, ack.due, ack.article) == ("acknowledge", d("2024-03-19"), "Art. 22; Art. 23")
    assert ack.kind is Kind.BUREAU_DUTY
    assert ack.started_on == d("2024-03-04")
    assert ack.open
    assert ack.in_time is None


def test_art_23_notice_due_on_a_saturday_moves_to_monday() -> None:
    # Received Fri 2024-03-01: day 15 is Sat 2024-03-16, so the body has until Mon 2024-03-18.
    (ack,) = deadlines([s(R, "2024-03-01")])
    assert ack.due == d("2024-03-18")


@pytest.mark.parametrize("answer", [ACK, NC, TR, AS, DEC])
def test_art_22_23_every_answer_the_text_allows_meets_the_15_days(answer: Event) -> None:
    # ART["22"]: a petition bureau forwards or assigns; Art. 23 ¶1: a body acknowledges, forwards
    # with the destination, or says where to go.
    found = deadlines([s(R, "2024-03-04"), s(answer, "2024-03-19")])
    ack = found[0]  # a transfer or assignment starts the receiver's own clock after it
    assert ack.what == "acknowledge"
    assert (ack.ended_on, ack.ended_by, ack.in_time) == (d("2024-03-19"), answer, True)


def test_art_23_an_answer_on_day_16_is_late() -> None:
    ack = only(deadlines([s(R, "2024-03-04"), s(ACK, "2024-03-20")]), "acknowledge")
    assert ack.in_time is False


def test_art_23_forwarded_case_notice_and_objection_window() -> None:
    # ART["23-3"]: forwarded on Fri 2024-03-08. 5 working days: Mon 11 .. Fri 15.
    # 15 calendar days end on Sat 2024-03-23, moved to Mon 2024-03-25.
    found = deadlines([s(R, "2024-03-04"), s(TR, "2024-03-08")])
    objection = only(found, "object_not_competent")
    assert (objection.due, objection.count, objection.kind) == (
        d("2024-03-15"),
        DayCount.WORKING,
        Kind.BUREAU_OPTION,
    )
    assert objection.article == "Art. 23"
    notices = [x for x in found if x.what == "acknowledge"]
    assert [x.due for x in notices] == [d("2024-03-19"), d("2024-03-25")]
    assert notices[0].ended_by is TR
    assert notices[1].open


def test_art_23_working_days_skip_the_weekend_when_received_on_saturday() -> None:
    found = deadlines([s(R, "2024-03-04"), s(AS, "2024-03-09")])
    assert only(found, "object_not_competent").due == d("2024-03-15")


def test_art_23_objection_ends_the_window_and_the_forwarder_reroutes() -> None:
    found = deadlines(
        [s(R, "2024-03-04"), s(TR, "2024-03-08"), s(NC, "2024-03-14"), s(TR, "2024-03-15")]
    )
    objections = [x for x in found if x.what == "object_not_competent"]
    assert objections[0].ended_by is NC
    assert objections[0].in_time is True
    assert objections[1].open
    assert objections[1].due == d("2024-03-22")


def test_art_34_sixty_days_from_acceptance_across_the_leap_day() -> None:
    # ART["34"]: accepted Tue 2024-01-02; day 60 is Sat 2024-03-02 (29 days in February 2024),
    # moved to Mon 2024-03-04.
    found = deadlines([s(R, "2024-01-01"), s(ACK, "2024-01-02")])
    decide = only(found, "decide")
    assert (decide.due, decide.started_on, decide.article) == (
        d("2024-03-04"),
        d("2024-01-02"),
        "Art. 34",
    )


def test_art_34_extension_counts_from_acceptance_and_records_the_old_deadline() -> None:
    # 60 + 30 days from Tue 2024-01-02 is Mon 2024-04-01.
    found = deadlines([s(R, "2024-01-01"), s(ACK, "2024-01-02"), ext("2024-02-20", 30)])
    decide = only(found, "decide")
    assert (decide.ended_by, decide.ended_on) == (Event.EXTENDED, d("2024-02-20"))
    extended = only(found, "decide_extended")
    assert (extended.due, extended.days, extended.article) == (d("2024-04-01"), 90, "Art. 34")
    assert extended.open


def test_art_34_a_shorter_extension_is_counted_exactly() -> None:
    # 60 + 10 = 70 days from Tue 2024-01-02 is Tue 2024-03-12.
    found = deadlines([s(R, "2024-01-01"), s(ACK, "2024-01-02"), ext("2024-01-10", 10)])
    assert only(found, "decide_extended").due == d("2024-03-12")


def test_art_35_thirty_days_counting_the_day_of_the_answer_in_a_leap_year() -> None:
    # ART["35"]: a petitioner's window counts the day of the answer as day 1: 1 February 2024 to
    # 1 March 2024 is 30 days (29 in February); in 2023 it is 2 March.
    leap = only(deadlines([s(R, "2024-01-10"), s(DEC, "2024-02-01")]), "request_review")
    plain = only(deadlines([s(R, "2023-01-10"), s(DEC, "2023-02-01")]), "request_review")
    assert (leap.due, plain.due) == (d("2024-03-01"), d("2023-03-02"))
    assert leap.kind is Kind.PETITIONER_RIGHT
    assert leap.article == "Art. 35"


def test_art_35_a_petitioners_window_never_moves_past_a_weekend() -> None:
    # Decided Fri 2024-06-14: day 30 is Sat 2024-07-13, and stays there.
    found = deadlines([s(R, "2024-06-01"), s(DEC, "2024-06-14")])
    assert only(found, "request_review").due == d("2024-07-13")


def test_art_35_review_answered_within_30_days_of_the_request() -> None:
    # Requested Mon 2024-07-01; day 30 is Wed 2024-07-31.
    found = deadlines([s(R, "2024-06-01"), s(DEC, "2024-06-14"), s(RQ, "2024-07-01")])
    assert only(found, "request_review").ended_by is RQ
    answer = only(found, "answer_review")
    assert (answer.due, answer.article, answer.kind) == (
        d("2024-07-31"),
        "Art. 35",
        Kind.BUREAU_DUTY,
    )
    assert "fixes no period" not in answer.rule


def test_art_36_re_review_window_and_answer() -> None:
    # ART["36"]: reviewed Thu 2024-07-25 -> ask by Fri 2024-08-23; asked Tue 2024-08-20 ->
    # answer by Thu 2024-09-19.
    found = deadlines(
        [
            s(R, "2024-06-01"),
            s(DEC, "2024-06-14"),
            s(RQ, "2024-07-01"),
            s(RV, "2024-07-25"),
            s(RRQ, "2024-08-20"),
        ]
    )
    assert only(found, "request_re_review").due == d("2024-08-23")
    answer = only(found, "answer_re_review")
    assert (answer.due, answer.article) == (d("2024-09-19"), "Art. 36")


def test_month_end_start_days() -> None:
    # Received Tue 2023-01-31: day 15 is Wed 2023-02-15. Decided the same day: the 30-day window
    # (day 1 = 31 January) ends Wed 2023-03-01.
    found = deadlines([s(R, "2023-01-31"), s(DEC, "2023-01-31")])
    assert only(found, "acknowledge").due == d("2023-02-15")
    assert only(found, "request_review").due == d("2023-03-01")


def test_received_on_the_leap_day() -> None:
    # Thu 2024-02-29 + 15 days = Fri 2024-03-15; accepted that day: + 60 = Mon 2024-04-29.
    found = deadlines([s(R, "2024-02-29"), s(ACK, "2024-02-29")])
    assert only(found, "acknowledge").due == d("2024-03-15")
    assert only(found, "decide").due == d("2024-04-29")


# --- a full history: national bureau -> province -> county, extension, review, re-review -----

FULL = [
    s(R, "2024-03-04"),  # the national petition bureau receives it (Mon)
    s(TR, "2024-03-08"),  # forwards it to the province (Fri)
    s(AS, "2024-03-12"),  # the province assigns it to the county (Tue)
    s(ACK, "2024-03-20"),  # the county accepts it (Wed)
    ext("2024-05-10", 30, "needs an inspection"),
    s(DEC, "2024-06-14"),  # written answer (Fri)
    s(RQ, "2024-07-01"),  # review by the province
    s(RV, "2024-07-25"),
    s(RRQ, "2024-08-20"),  # re-review by the national level
    s(RRV, "2024-09-10"),
    s(CL, "2024-09-11"),
]


def test_full_history_every_deadline_in_order() -> None:
    found = deadlines(FULL)
    summary = [(x.what, x.started_on, x.due, x.ended_by, x.in_time) for x in found]
    assert summary == [
        ("acknowledge", d("2024-03-04"), d("2024-03-19"), TR, True),
        ("acknowledge", d("2024-03-08"), d("2024-03-25"), AS, True),
        ("object_not_competent", d("2024-03-08"), d("2024-03-15"), AS, True),
        ("acknowledge", d("2024-03-12"), d("2024-03-27"), ACK, True),
        # Working days Wed 13, Thu 14, Fri 15, Mon 18, Tue 19.
        ("object_not_competent", d("2024-03-12"), d("2024-03-19"), ACK, False),
        # 60 days from Wed 2024-03-20 end on Sun 2024-05-19, moved to Mon 2024-05-20.
        ("decide", d("2024-03-20"), d("2024-05-20"), Event.EXTENDED, True),
        ("decide_extended", d("2024-03-20"), d("2024-06-18"), DEC, True),
        ("request_review", d("2024-06-14"), d("2024-07-13"), RQ, True),
        ("answer_review", d("2024-07-01"), d("2024-07-31"), RV, True),
        ("request_re_review", d("2024-07-25"), d("2024-08-23"), RRQ, True),
        ("answer_re_review", d("2024-08-20"), d("2024-09-19"), RRV, True),
    ]


def test_full_history_status_along_the_way() -> None:
    # After acceptance: the decision clock runs, and Art. 19 bars a parallel petition upward.
    during = status(FULL[:4], d("2024-04-01"))
    assert during.deadline is not None
    assert (during.deadline.what, during.days_left, during.overdue) == ("decide", 49, False)
    assert during.action is None
    assert during.parallel_petition_barred
    assert "上级机关、单位不予受理" in ART["19"]

    # After the answer: the petitioner's review window runs, with the action Art. 35 gives.
    answered = status(FULL[:6], d("2024-07-13"))
    assert answered.deadline is not None
    assert (answered.deadline.what, answered.days_left) == ("request_review", 0)
    assert answered.action is not None
    assert (answered.action.code, answered.action.article) == ("request_review", "Art. 35")
    assert not answered.parallel_petition_barred

    # After the re-review: nothing runs, and Art. 36 ¶3 makes the answer final.
    final = status(FULL, d("2024-12-01"))
    assert (final.deadline, final.days_left, final.action, final.open) == (None, None, FINAL, ())
    assert "不再受理" in ART["36-3"]


# --- status -----------------------------------------------------------------------------------


def test_status_missed_decision_gives_the_next_level_with_art_45() -> None:
    # ART["45-1"]. Accepted Tue 2024-01-02, due Mon 2024-03-04; on 2024-03-14 it is 10 days late.
    late = status([s(R, "2024-01-01"), s(ACK, "2024-01-02")], d("2024-03-14"))
    assert late.deadline is not None
    assert late.deadline.what == "decide"
    assert (late.days_left, late.days_overdue, late.overdue) == (-10, 10, True)
    assert late.action is not None
    assert (late.action.code, late.action.article) == ("ask_next_level", "Art. 45(1)")
    assert not late.parallel_petition_barred


def test_status_on_the_due_day_is_still_in_time() -> None:
    on_time = status([s(R, "2024-01-01"), s(ACK, "2024-01-02")], d("2024-03-04"))
    assert (on_time.days_left, on_time.overdue, on_time.days_overdue) == (0, False, 0)
    assert on_time.action is None


def test_status_missed_notice_points_at_arts_43_and_44() -> None:
    late = status([s(R, "2024-03-04")], d("2024-03-20"))
    assert late.action is not None
    assert (late.action.code, late.action.article) == ("ask_next_level", "Art. 43; Art. 44(3)")


def test_status_shows_the_notice_duty_not_the_bodys_objection_window() -> None:
    now = status([s(R, "2024-03-04"), s(TR, "2024-03-08")], d("2024-03-11"))
    assert now.deadline is not None
    assert now.deadline.what == "acknowledge"
    assert {x.what for x in now.open} == {"acknowledge", "object_not_competent"}
    # Once the objection window lapsed, nothing is overdue because of it.
    later = status([s(R, "2024-03-04"), s(TR, "2024-03-08")], d("2024-03-20"))
    assert later.deadline is not None
    assert (later.deadline.what, later.overdue) == ("acknowledge", False)


def test_status_lapsed_review_window_means_the_answer_stands() -> None:
    lapsed = status([s(R, "2024-06-01"), s(DEC, "2024-06-14")], d("2024-07-14"))
    assert lapsed.deadline is not None
    assert (lapsed.deadline.what, lapsed.days_left) == ("request_review", -1)
    assert lapsed.action is not None
    assert (lapsed.action.code, lapsed.action.article) == ("answer_stands", "Art. 35")


def test_closing_without_an_answer_leaves_the_case_overdue() -> None:
    history = [s(R, "2024-01-01"), s(ACK, "2024-01-02"), s(CL, "2024-01-05")]
    late = status(history, d("2024-03-05"))
    assert late.deadline is not None
    assert (late.deadline.what, late.overdue) == ("decide", True)


def test_closing_does_not_shorten_the_petitioners_window() -> None:
    history = [s(R, "2024-06-01"), s(DEC, "2024-06-14"), s(CL, "2024-06-15"), s(RQ, "2024-07-10")]
    found = deadlines(history)
    assert only(found, "request_review").in_time is True
    assert only(found, "answer_review").open


def test_an_overdue_case_can_be_taken_to_the_next_level() -> None:
    # Issue 17: review of an overdue case. Decision was due Mon 2024-03-04.
    history = [s(R, "2024-01-01"), s(ACK, "2024-01-02"), s(RQ, "2024-03-05")]
    found = deadlines(history)
    decide = only(found, "decide")
    assert (decide.ended_by, decide.in_time) == (RQ, False)
    answer = only(found, "answer_review")
    assert answer.due == d("2024-04-04")
    assert "fixes no period" in answer.rule


def test_empty_history_has_no_clock() -> None:
    assert deadlines([]) == []
    empty = status([], d("2024-01-01"))
    assert (empty.deadline, empty.action, empty.parallel_petition_barred) == (None, None, False)


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("history", "message"),
    [
        ([s(ACK, "2024-03-04")], "the first entry must be 'received'"),
        ([s(R, "2024-03-04"), s(ACK, "2024-03-03")], "dated before the entry before it"),
        ([s(R, "2024-03-04"), s(R, "2024-03-05")], "entry 2 (received, 2024-03-05) cannot"),
        ([s(R, "2024-03-04"), s(RV, "2024-03-05")], "cannot follow a case received"),
        (
            [s(R, "2024-03-04"), s(ACK, "2024-03-05"), s(NC, "2024-03-06")],
            "cannot follow a case accepted",
        ),
        ([s(R, "2024-03-04"), ext("2024-03-05")], "cannot follow a case received"),
        (
            [s(R, "2024-01-01"), s(ACK, "2024-01-02"), ext("2024-02-01"), ext("2024-02-02", 5)],
            "a second extension; Art. 34 allows one",
        ),
        (
            [s(R, "2024-01-01"), s(ACK, "2024-01-02"), ext("2024-03-05")],
            "the 60 days ran out on 2024-03-04",
        ),
        (
            [s(R, "2024-03-04"), s(ACK, "2024-03-05"), s(RQ, "2024-03-06")],
            "entry 3 (review_requested, 2024-03-06) cannot follow a case accepted",
        ),
        ([s(R, "2024-03-04"), s(DEC, "2024-03-05"), s(RRQ, "2024-03-06")], "cannot follow"),
        (
            [s(R, "2024-03-04"), s(DEC, "2024-03-05"), s(RQ, "2024-03-06"), s(DEC, "2024-03-07")],
            "cannot follow a case awaiting review",
        ),
        ([*FULL, s(RQ, "2024-09-12")], "cannot follow a closed case (re-reviewed)"),
        ([s(R, "2024-03-04"), s(CL, "2024-03-05"), s(CL, "2024-03-06")], "closed case"),
        (
            [s(R, "2024-03-04"), s(CL, "2024-03-05"), s(ACK, "2024-03-06")],
            "cannot follow a closed case",
        ),
    ],
)
def test_impossible_histories_are_refused(history: list[Step], message: str) -> None:
    with pytest.raises(MalformedInput) as caught:
        deadlines(history)
    assert message in caught.value.message
    assert "\n" not in caught.value.message


def test_a_second_extension_after_a_transfer_is_the_new_bodys_first() -> None:
    history = [s(R, "2024-01-01"), s(ACK, "2024-01-02"), ext("2024-02-01", 10)]
    history += [s(TR, "2024-02-05"), s(ACK, "2024-02-06"), ext("2024-02-07", 20)]
    extended = [x for x in deadlines(history) if x.what == "decide_extended"]
    assert [x.days for x in extended] == [70, 80]
    assert extended[0].ended_by is TR


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"extension_days": 31, "reason": "x"}, "an extension of 31 days: Art. 34 allows 1 to 30"),
        ({"extension_days": 0, "reason": "x"}, "an extension of 0 days"),
        ({"extension_days": 10}, "needs its number of days and its reason"),
        ({"extension_days": 10, "reason": ""}, "needs its number of days and its reason"),
    ],
)
def test_extension_steps_are_checked(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(MalformedInput, match=message):
        Step(Event.EXTENDED, d("2024-01-05"), **kwargs)  # type: ignore[arg-type]


def test_only_an_extension_carries_days_or_a_reason() -> None:
    with pytest.raises(MalformedInput, match="only an extension carries days"):
        Step(Event.DECIDED, d("2024-01-05"), reason="because")


def test_status_refuses_a_today_before_the_last_entry() -> None:
    with pytest.raises(MalformedInput, match=r"today \(2024-03-03\) is before the last entry"):
        status([s(R, "2024-03-04")], d("2024-03-03"))


def test_event_values_are_the_stable_entry_kinds() -> None:
    assert [e.value for e in Event] == [
        "received",
        "acknowledged",
        "not_competent",
        "transferred",
        "assigned",
        "extended",
        "decided",
        "review_requested",
        "reviewed",
        "re_review_requested",
        "re_reviewed",
        "closed",
    ]


def test_an_unanswered_review_can_be_taken_one_level_further() -> None:
    # Review requested Mon 2024-07-01, due Wed 2024-07-31; not answered by 2024-08-01.
    base = [s(R, "2024-06-01"), s(DEC, "2024-06-14"), s(RQ, "2024-07-01")]
    with pytest.raises(MalformedInput, match="cannot follow a case awaiting review"):
        deadlines([*base, s(RRQ, "2024-07-31")])
    found = deadlines([*base, s(RRQ, "2024-08-01")])
    assert only(found, "answer_review").ended_by is RRQ
    assert only(found, "answer_review").in_time is False
    # Day 30 after Thu 2024-08-01 is Sat 2024-08-31, moved to Mon 2024-09-02.
    assert only(found, "answer_re_review").due == d("2024-09-02")
