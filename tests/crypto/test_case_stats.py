"""crypto/case_stats.py: the public figures, counted by the statute's own clock, and the checks.

Each test builds a small log of bureau-signed entries across three levels (national, a
province, a county) and checks figures that could come out otherwise; the attacks (a forged
signature, a backdated entry, an impossible history, an entry by a bureau not handling the
case) are each run against a control log where the same event is honest.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from harness import Bureau

from crypto import cjson, note
from crypto.case_event import (
    DecisionOutcome,
    Detail,
    ExtensionReason,
    LogEntry,
    ReviewOutcome,
    sign_entry,
)
from crypto.case_stats import (
    PROBLEM_KINDS,
    CaseStats,
    count,
    count_leaves,
    decode,
    period_of,
)
from crypto.errors import MalformedInput
from crypto.fields import petition_id_for
from crypto.keys import SigningKey
from crypto.objects import Directory, Place, default_policy
from crypto.statutory import Event

LOG = note.Verifier("petition.example.org/log", SigningKey.generate().public_key())
NATIONAL, PROVINCE, COUNTY = "national", "guangdong", "shenzhen-futian"
BUREAUS = {
    NATIONAL: Bureau(NATIONAL, "国家信访局"),
    PROVINCE: Bureau(PROVINCE, "广东省信访局"),
    COUNTY: Bureau(COUNTY, "福田区信访局"),
}
DIRECTORY = Directory(
    1,
    date(2026, 1, 1),
    tuple(b.bundle() for b in BUREAUS.values()),
    LOG,
    default_policy(LOG),
    (
        Place(NATIONAL, None, "全国"),
        Place(PROVINCE, NATIONAL, "广东省"),
        Place(COUNTY, PROVINCE, "深圳市福田区"),
    ),
)
START = date(2026, 3, 2)  # a Monday
NO_DETAIL = Detail()
TODAY = date(2026, 6, 30)


class Log:
    """Entries in log order; bureau events signed with the bureau's key unless told not to."""

    def __init__(self) -> None:
        self.entries: list[LogEntry] = []

    def add(
        self,
        seed: str,
        bureau: str,
        event: Event,
        day: int | date,
        detail: Detail = NO_DETAIL,
        *,
        key: SigningKey | None = None,
    ) -> LogEntry:
        envelope_hash = bytes(32)
        when = day if isinstance(day, date) else START + timedelta(days=day)
        entry = LogEntry(petition_id_for(seed.encode()), bureau, envelope_hash, event, when, detail)
        if entry.signed:
            entry = sign_entry(entry, key or BUREAUS[bureau].signing)
        self.entries.append(entry)
        return entry

    def count(self, period: str = "all", today: date = TODAY) -> CaseStats:
        return count(self.entries, DIRECTORY, period=period, today=today)


def _decided(outcome: DecisionOutcome = DecisionOutcome.SUPPORTED) -> Detail:
    return Detail(outcome=outcome)


def test_one_history_across_three_levels_is_counted_where_each_duty_lies() -> None:
    log = Log()
    # Received by the county, declared not competent, sent up to the province, which
    # acknowledges, extends, decides; the petitioner asks national for a review.
    log.add("a", COUNTY, Event.RECEIVED, 0)
    log.add("a", COUNTY, Event.NOT_COMPETENT, 3, Detail(to=PROVINCE))
    log.add("a", COUNTY, Event.TRANSFERRED, 4, Detail(to=PROVINCE))
    log.add("a", PROVINCE, Event.ACKNOWLEDGED, 10)
    log.add("a", PROVINCE, Event.EXTENDED, 60, Detail(days=20, reason=ExtensionReason.OTHER))
    log.add("a", PROVINCE, Event.DECIDED, 85, _decided(DecisionOutcome.NOT_SUPPORTED))
    log.add("a", NATIONAL, Event.REVIEW_REQUESTED, 90)
    log.add("a", NATIONAL, Event.REVIEWED, 100, Detail(outcome=ReviewOutcome.CHANGED))
    stats = log.count()
    assert stats.problems == ()
    period = stats.get("all")
    county, province, national = (period.bureau(b) for b in (COUNTY, PROVINCE, NATIONAL))
    assert county.received == 1
    assert county.not_competent == {PROVINCE: 1}
    assert county.transferred == {PROVINCE: 1}
    assert county.duties["acknowledge"].in_time == 1
    assert province.transferred_in == 1
    assert province.duties["acknowledge"].in_time == 1
    # 60 + 20 days from acceptance on day 10: due on day 90 or the Monday after; day 85 is in
    # time. The decide duty replaced by the extension is not counted a second time.
    assert province.duties["decide"].to_json() == {
        "started": 1, "in_time": 1, "late": 0, "running": 0, "overdue": 0,
    }  # fmt: skip
    assert province.extended == 1
    assert province.decided["not_supported"] == 1
    assert province.median_days_to_answer == 85
    assert province.complained_reviews == 1
    assert national.reviews == {"requested": 1, "changed": 1}
    assert national.duties["answer_review"].in_time == 1
    assert [line.bureau_id for line in period.most_reviewed] == [PROVINCE]
    assert period.total.received == 1
    assert period.total.overdue == 0


def test_overdue_late_and_running_duties_follow_the_statutory_clock() -> None:
    log = Log()
    log.add("late", PROVINCE, Event.RECEIVED, 0)
    log.add("never", PROVINCE, Event.RECEIVED, 1)  # nothing since: overdue on TODAY
    log.add("undecided", PROVINCE, Event.RECEIVED, 2)
    log.add("undecided", PROVINCE, Event.ACKNOWLEDGED, 3)  # 60 days ran out in May
    log.add("late", PROVINCE, Event.ACKNOWLEDGED, 20)  # due day 15 (or the Monday after)
    log.add("late", PROVINCE, Event.DECIDED, 21, _decided())
    log.add("fresh", PROVINCE, Event.RECEIVED, TODAY - timedelta(days=2))  # still running
    stats = log.count()
    assert stats.problems == ()
    province = stats.get("all").bureau(PROVINCE)
    assert province.duties["acknowledge"].to_json() == {
        "started": 4, "in_time": 1, "late": 1, "running": 1, "overdue": 1,
    }  # fmt: skip
    assert province.duties["decide"].to_json() == {
        "started": 2, "in_time": 1, "late": 0, "running": 0, "overdue": 1,
    }  # fmt: skip
    assert province.overdue == 2
    assert province.median_days_to_answer == 21
    # On an earlier day nothing was overdue yet, and what the log holds after it is listed.
    early = log.count(today=START + timedelta(days=14))
    assert early.get("all").bureau(PROVINCE).overdue == 0
    assert early.problem_counts()["future_day"] == 3


def test_periods_follow_the_day_each_petition_was_received() -> None:
    log = Log()
    log.add("march", COUNTY, Event.RECEIVED, date(2026, 3, 31))
    log.add("april", COUNTY, Event.RECEIVED, date(2026, 4, 1))
    log.add("march", COUNTY, Event.ACKNOWLEDGED, date(2026, 4, 2))
    stats = log.count("month")
    assert [p.period for p in stats.periods] == ["2026-03", "2026-04"]
    assert stats.get("2026-03").bureau(COUNTY).duties["acknowledge"].in_time == 1
    assert stats.get("2026-04").bureau(COUNTY).duties["acknowledge"].overdue == 1
    assert [p.period for p in log.count("year").periods] == ["2026"]
    assert period_of(date(2026, 4, 1), "month") == "2026-04"
    with pytest.raises(MalformedInput):
        log.count("week")


def test_a_forged_acknowledgement_is_listed_and_not_counted() -> None:
    """Defence: the bureau signature. Control: the same entry, signed by the bureau."""
    forger = SigningKey.generate()
    for forged in (False, True):
        log = Log()
        log.add("p", COUNTY, Event.RECEIVED, 0)
        log.add("p", COUNTY, Event.ACKNOWLEDGED, 3, key=forger if forged else None)
        stats = log.count(today=START + timedelta(days=20))
        county = stats.get("all").bureau(COUNTY)
        if not forged:
            assert stats.problems == ()
            assert county.duties["acknowledge"].in_time == 1
            assert county.overdue == 0
            continue
        [problem] = stats.problems
        assert (problem.kind, problem.leaf_index, problem.event) == (
            "bad_signature", 1, "acknowledged",
        )  # fmt: skip
        assert stats.problem_counts()["bad_signature"] == 1
        assert county.duties["acknowledge"].in_time == 0
        assert county.overdue == 1  # the bureau never acknowledged, as far as anyone can prove


def test_a_backdated_entry_is_listed_and_counted_at_the_day_the_log_vouches_for() -> None:
    """Defence: days never go backwards along the log. Control: the same day, in order."""
    for backdated in (False, True):
        log = Log()
        log.add("p", COUNTY, Event.RECEIVED, 0)
        log.add("other", PROVINCE, Event.RECEIVED, 30)
        # Appended after day 30, the acknowledgement claims day 10 (in time) when backdated.
        log.add("p", COUNTY, Event.ACKNOWLEDGED, 10 if backdated else 30)
        stats = log.count()
        county = stats.get("all").bureau(COUNTY)
        assert county.duties["acknowledge"].late == 1  # late either way: appended after day 30
        if backdated:
            [problem] = stats.problems
            assert problem.kind == "backdated"
            assert problem.leaf_index == 2
            assert problem.day == START + timedelta(days=10)
            assert problem.log_day == START + timedelta(days=30)
        else:
            assert stats.problems == ()


def test_an_impossible_history_is_counted_up_to_where_it_breaks() -> None:
    log = Log()
    log.add("p", COUNTY, Event.RECEIVED, 0)
    log.add("p", COUNTY, Event.REVIEWED, 5, Detail(outcome=ReviewOutcome.UPHELD))  # no review
    log.add("p", COUNTY, Event.DECIDED, 6, _decided())
    log.add("q", COUNTY, Event.ACKNOWLEDGED, 7)  # never received
    stats = log.count()
    kinds = [(p.kind, p.leaf_index) for p in stats.problems]
    assert kinds == [("impossible", 1), ("impossible", 3)]
    assert "1 later one(s)" in stats.problems[0].message
    county = stats.get("all").bureau(COUNTY)
    assert county.received == 1
    assert county.decided_total == 0  # the decision after the break is not counted
    assert county.overdue == 1  # and the petition stays overdue: a bogus entry hides nothing


def test_entries_by_a_bureau_not_handling_the_case_and_from_the_future() -> None:
    log = Log()
    log.add("p", COUNTY, Event.RECEIVED, 0)
    log.add("p", PROVINCE, Event.ACKNOWLEDGED, 1)  # signed, but the county handles it
    log.add("p", COUNTY, Event.ACKNOWLEDGED, TODAY + timedelta(days=1))
    stats = log.count()
    assert [(p.kind, p.leaf_index) for p in stats.problems] == [
        ("not_handling", 1), ("future_day", 2),
    ]  # fmt: skip
    assert stats.get("all").bureau(COUNTY).overdue == 1


def test_json_form_is_canonical_stable_and_lists_every_kind() -> None:
    log = Log()
    log.add("p", COUNTY, Event.RECEIVED, 0)
    log.add("p", COUNTY, Event.TRANSFERRED, 1, Detail(to=PROVINCE))
    leaves = [entry.leaf() for entry in log.entries] + [b"not json"]
    stats = count_leaves(leaves, DIRECTORY, period="month", today=TODAY)
    encoded = stats.encode()
    value = decode(encoded)
    assert cjson.encode(value) == encoded
    assert value["tree_size"] == 3
    assert set(value["problem_counts"]) == set(PROBLEM_KINDS)
    assert value["problem_counts"]["malformed"] == 1
    [period] = value["periods"]
    assert period["period"] == "2026-03"
    assert [b["bureau_id"] for b in period["bureaus"]] == [NATIONAL, PROVINCE, COUNTY]
    county = period["bureaus"][2]
    assert county["transferred"] == {PROVINCE: 1}
    assert county["name"] == "福田区信访局"
    assert county["parent"] == PROVINCE
    assert period["bureaus"][1]["transferred_in"] == 1
    assert period["total"]["bureau_id"] is None
    # The same log counted twice gives the same bytes (what --compare relies on).
    assert count_leaves(leaves, DIRECTORY, period="month", today=TODAY).encode() == encoded
    with pytest.raises(MalformedInput):
        decode(cjson.encode({**value, "version": 2}))


def test_entries_of_a_bureau_missing_from_the_directory_are_kept_apart() -> None:
    log = Log()
    entry = log.add("p", COUNTY, Event.RECEIVED, 0)
    log.entries[0] = replace(entry, bureau_id="elsewhere")
    stats = log.count()
    names = [f.bureau_id for f in stats.get("all").bureaus]
    assert names == [NATIONAL, PROVINCE, COUNTY, "elsewhere"]
    assert stats.get("all").bureau("elsewhere").received == 1
