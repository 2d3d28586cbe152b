"""The reviewer desk's worklist index (client/desk_worklist.py, issue 21).

The unit tests feed the index real log entries (bureau events signed with a bureau signing key,
``received`` unsigned as the server records it) and read it as the web desk does: order,
filters, counts, paging, refresh, a new day, one person's petitions, what is left to open. The
last tests sync it from a real server's inbox with the real ``BureauDesk`` and follow a case
answered and one transferred away.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from harness import RunningServer, start_server, stop_server, utc_today

from client.bureau import BureauDesk, BureauKeys
from client.desk_worklist import (
    MAX_PER_PAGE,
    CaseFacts,
    WorkItem,
    Worklist,
    WorklistQuery,
    sync,
)
from client.home import ClientHome
from client.session import NetworkOptions, Session, pin_server
from crypto.case_event import DecisionOutcome, Detail, ExtensionReason, LogEntry, sign_entry
from crypto.keys import SigningKey
from crypto.statutory import Event

TODAY = date(2026, 12, 7)  # a Monday
BUREAU = "national"
KEY = SigningKey.generate()
_leaves = iter(range(10**9))


def _entry(pid: str, event: Event, day: date, detail: Detail | None = None) -> LogEntry:
    entry = LogEntry(pid, BUREAU, bytes(32), event, day, detail or Detail())
    return entry if not entry.signed else sign_entry(entry, KEY)


def _history(
    pid: str, received: date, *later: tuple[Event, int]
) -> tuple[tuple[int, LogEntry], ...]:
    """``received`` on a day, then each (event, days after receipt), with their leaf indexes."""
    events = [(next(_leaves), _entry(pid, Event.RECEIVED, received))]
    for event, after in later:
        detail = (
            Detail(days=10, reason=ExtensionReason.COMPLEX_FACTS)
            if event is Event.EXTENDED
            else Detail(outcome=DecisionOutcome.SUPPORTED)
            if event is Event.DECIDED
            else None
        )
        events.append((next(_leaves), _entry(pid, event, received + timedelta(after), detail)))
    return tuple(events)


def _item(received: date, *later: tuple[Event, int], pid: str | None = None) -> dict[str, object]:
    pid = pid or secrets.token_hex(16)
    return {"petition_id": pid, "events": _history(pid, received, *later)}


def _ago(days: int) -> date:
    return TODAY - timedelta(days=days)


def _numbers(items: tuple[WorkItem, ...]) -> list[int]:
    return [item.number for item in items]


@pytest.fixture
def mixed() -> tuple[Worklist, list[dict[str, object]]]:
    """Six petitions, one of each kind the order distinguishes, added in this order (#1-#6)."""
    items: list[dict[str, object]] = [
        _item(_ago(2)),  # 1: acknowledge, 13 days left
        _item(_ago(30)),  # 2: acknowledge, 15 days overdue
        _item(_ago(40), (Event.ACKNOWLEDGED, 1), (Event.DECIDED, 5)),  # 3: nothing due
        _item(_ago(20)),  # 4: acknowledge, 5 days overdue
        {  # 5: impossible (acknowledged before it was received)
            "petition_id": (pid := secrets.token_hex(16)),
            "events": ((next(_leaves), _entry(pid, Event.ACKNOWLEDGED, _ago(3))),),
        },
        _item(_ago(10), (Event.ACKNOWLEDGED, 1)),  # 6: decide, 51 days left
    ]
    worklist = Worklist(TODAY)
    assert worklist.add_inbox_items(items) == 6
    return worklist, items


def test_overdue_first_then_nearest_then_impossible_then_nothing_due(
    mixed: tuple[Worklist, list[dict[str, object]]],
) -> None:
    worklist, _ = mixed
    page = worklist.page(WorklistQuery())
    assert _numbers(page.items) == [2, 4, 1, 6, 5, 3]
    most_overdue, impossible, nothing = page.items[0], page.items[4], page.items[5]
    assert (most_overdue.duty, most_overdue.days_left, most_overdue.overdue) == (
        "acknowledge",
        -14,  # received on a Saturday: day 15 is a Sunday, moved to the Monday
        True,
    )
    assert most_overdue.clock is not None
    assert most_overdue.clock.deadline is not None
    assert most_overdue.clock.deadline.article == "Art. 22; Art. 23"
    assert (page.items[3].duty, page.items[3].days_left) == ("decide", 51)
    assert impossible.clock is None
    assert impossible.duty is None
    assert impossible.days_left is None
    assert impossible.problem is not None
    assert "received" in impossible.problem
    assert impossible.latest == "acknowledged"
    # The petitioner's window after the answer is not this bureau's duty, and not overdue.
    assert (nothing.latest, nothing.duty, nothing.overdue) == ("decided", None, False)
    assert nothing.clock is not None
    assert nothing.clock.deadline is not None
    assert nothing.clock.deadline.what == "request_review"


def test_ties_are_broken_by_number() -> None:
    worklist = Worklist(TODAY)
    worklist.add_inbox_items([_item(_ago(5)) for _ in range(4)])
    assert _numbers(worklist.page(WorklistQuery()).items) == [1, 2, 3, 4]


def test_counts_cover_the_whole_worklist(
    mixed: tuple[Worklist, list[dict[str, object]]],
) -> None:
    worklist, items = mixed
    worklist.set_facts(str(items[0]["petition_id"]), CaseFacts("劳动", "440300", "p-1", "工资"))
    counts = worklist.page(WorklistQuery(category="劳动")).counts
    assert counts.total == 6
    assert counts.overdue == 2
    assert counts.due_within_7_days == 0
    assert dict(counts.by_duty) == {"acknowledge": 3, "decide": 1}
    assert dict(counts.by_status) == {"acknowledged": 2, "decided": 1, "received": 3}
    assert counts.not_yet_opened == 5
    # A duty due within a week (today counts, overdue does not).
    worklist.add_inbox_items([_item(_ago(8)), _item(_ago(15))])
    counts = worklist.counts()
    assert (counts.total, counts.due_within_7_days, counts.overdue) == (8, 2, 2)


def test_filters_by_status_category_region_and_pseudonym(
    mixed: tuple[Worklist, list[dict[str, object]]],
) -> None:
    worklist, items = mixed
    pid = [str(item["petition_id"]) for item in items]
    worklist.set_facts(pid[0], CaseFacts("劳动", "440300", "p-aaa", "拖欠工资"))
    worklist.set_facts(pid[1], CaseFacts("劳动", "110105", "p-bbb", "工伤"))
    worklist.set_facts(pid[3], CaseFacts("土地", "440300", "p-aaa", "征地补偿"))

    def numbers(query: WorklistQuery) -> list[int]:
        return _numbers(worklist.page(query).items)

    assert numbers(WorklistQuery(status="received")) == [2, 4, 1]
    assert numbers(WorklistQuery(status="decided")) == [3]
    assert numbers(WorklistQuery(category="劳动")) == [2, 1]
    assert numbers(WorklistQuery(region="440300")) == [4, 1]
    assert numbers(WorklistQuery(category="劳动", region="440300")) == [1]
    assert numbers(WorklistQuery(pseudonym="p-aaa")) == [4, 1]
    assert numbers(WorklistQuery(pseudonym="p-aaa", status="acknowledged")) == []
    assert numbers(WorklistQuery(category="无此类")) == []
    page = worklist.page(WorklistQuery(category="劳动"))
    assert page.matching == 2
    assert page.pages == 1
    assert page.categories == ("劳动", "土地")  # every value seen, not only the filtered ones
    assert page.regions == ("110105", "440300")
    # Changing a case's facts moves it between the filters and the selects' values.
    worklist.set_facts(pid[3], CaseFacts("劳动", "440300", "p-aaa", "征地补偿"))
    assert numbers(WorklistQuery(category="土地")) == []
    assert worklist.page(WorklistQuery()).categories == ("劳动",)


def test_paging_edges() -> None:
    worklist = Worklist(TODAY)
    worklist.add_inbox_items([_item(_ago(day % 40)) for day in range(23)])
    first = worklist.page(WorklistQuery(per_page=10))
    assert (len(first.items), first.page, first.pages, first.matching) == (10, 1, 3, 23)
    last = worklist.page(WorklistQuery(page=3, per_page=10))
    assert (len(last.items), last.page) == (3, 3)
    # Past the end: the last page; before the start: the first.
    assert worklist.page(WorklistQuery(page=99, per_page=10)) == last
    assert worklist.page(WorklistQuery(page=0, per_page=10)) == first
    assert worklist.page(WorklistQuery(page=-5, per_page=10)).page == 1
    # Pages follow each other without gap or overlap, in the worklist's order.
    everything = worklist.page(WorklistQuery(per_page=MAX_PER_PAGE)).items
    paged = [
        item for n in (1, 2, 3) for item in worklist.page(WorklistQuery(page=n, per_page=10)).items
    ]
    assert paged == list(everything)
    assert len(everything) == 23
    # per_page is clamped to 1..MAX_PER_PAGE.
    one = worklist.page(WorklistQuery(per_page=0))
    assert (len(one.items), one.pages) == (1, 23)
    assert worklist.page(WorklistQuery(per_page=-3)).pages == 23
    assert len(worklist.page(WorklistQuery(per_page=10**6)).items) == 23
    # A filter that matches nothing, and an empty worklist: one empty page.
    none = worklist.page(WorklistQuery(status="closed", page=4))
    assert (none.items, none.matching, none.page, none.pages) == ((), 0, 1, 1)
    empty = Worklist(TODAY).page(WorklistQuery(page=2))
    assert (empty.items, empty.page, empty.pages, empty.counts.total) == ((), 1, 1, 0)


def test_numbers_are_stable_in_inbox_order() -> None:
    worklist = Worklist(TODAY)
    first = [_item(_ago(1)), _item(_ago(50)), _item(_ago(3))]
    worklist.add_inbox_items(first)
    later = [_item(_ago(60))]
    # A re-read of the inbox, with one more petition: known ones keep their numbers.
    assert worklist.add_inbox_items([*first, *later]) == 1
    for number, item in enumerate([*first, *later], start=1):
        assert worklist.by_id(str(item["petition_id"])).number == number
        assert worklist.by_number(number).petition_id == item["petition_id"]
    assert len(worklist) == 4
    with pytest.raises(KeyError):
        worklist.by_number(5)
    with pytest.raises(KeyError):
        worklist.by_number(0)
    with pytest.raises(KeyError):
        worklist.by_id("0" * 32)
    # A petition that left the inbox leaves the worklist; no number is reused.
    assert worklist.retain({str(item["petition_id"]) for item in first[1:]}) == 2
    assert len(worklist) == 2
    with pytest.raises(KeyError):
        worklist.by_number(1)
    worklist.add_inbox_items([_item(_ago(2))])
    assert _numbers(worklist.page(WorklistQuery()).items) == [2, 3, 5]
    assert worklist.counts().total == 3
    # One petition transferred away from the desk leaves at once, as after a full re-read.
    assert worklist.remove(worklist.by_number(3).petition_id)
    assert not worklist.remove("0" * 32)
    assert _numbers(worklist.page(WorklistQuery()).items) == [2, 5]
    assert worklist.counts().total == 2


def test_a_refresh_replaces_the_events_and_moves_the_item() -> None:
    worklist = Worklist(TODAY)
    pid = secrets.token_hex(16)
    other = _item(_ago(10))
    worklist.add_inbox_items([_item(_ago(20), pid=pid), other])
    assert _numbers(worklist.page(WorklistQuery()).items) == [1, 2]
    assert worklist.counts().overdue == 1
    # The same inbox item, now acknowledged and extended: new events, new clock, new place.
    refreshed = {
        "petition_id": pid,
        "events": _history(pid, _ago(20), (Event.ACKNOWLEDGED, 1), (Event.EXTENDED, 3)),
    }
    assert worklist.add_inbox_items([refreshed, other]) == 0
    item = worklist.by_id(pid)
    assert (item.number, item.latest, item.duty) == (1, "extended", "decide_extended")
    assert item.days_left == 60 + 10 - 19
    assert _numbers(worklist.page(WorklistQuery()).items) == [2, 1]
    counts = worklist.counts()
    assert (counts.overdue, dict(counts.by_status)) == (0, {"extended": 1, "received": 1})
    # set_events (after the desk recorded an action) does the same for one petition.
    decided = _history(pid, _ago(20), (Event.ACKNOWLEDGED, 1), (Event.DECIDED, 19))
    worklist.set_events(pid, decided)
    assert (worklist.by_id(pid).latest, worklist.by_id(pid).duty) == ("decided", None)
    assert dict(worklist.counts().by_duty) == {"acknowledge": 1}
    with pytest.raises(KeyError):
        worklist.set_events("f" * 32, decided)
    with pytest.raises(TypeError):
        worklist.add_inbox_items([{"petition_id": pid, "events": "not events"}])


def test_facts_survive_a_refresh() -> None:
    worklist = Worklist(TODAY)
    pid = secrets.token_hex(16)
    worklist.add_inbox_items([_item(_ago(3), pid=pid)])
    facts = CaseFacts("劳动", "440300", "p-1", "工资")
    worklist.set_facts(pid, facts)
    worklist.add_inbox_items(
        [{"petition_id": pid, "events": _history(pid, _ago(3), (Event.ACKNOWLEDGED, 1))}]
    )
    assert worklist.by_id(pid).facts == facts
    assert worklist.counts().not_yet_opened == 0


def test_set_today_moves_days_left(mixed: tuple[Worklist, list[dict[str, object]]]) -> None:
    worklist, _ = mixed
    before = {item.number: item.days_left for item in worklist.page(WorklistQuery()).items}
    worklist.set_today(TODAY + timedelta(days=15))
    after = worklist.page(WorklistQuery())
    assert worklist.today == TODAY + timedelta(days=15)
    # #1 was received 2 days ago (a Saturday): due in 14 days, now one day overdue.
    assert before[1] == 14
    assert {item.number: item.days_left for item in after.items} == {
        number: None if left is None else left - 15 for number, left in before.items()
    }
    assert after.counts.overdue == 3
    assert _numbers(after.items) == [2, 4, 1, 6, 5, 3]
    # A day before an entry is an impossible reading of the clock, shown with its reason.
    worklist.set_today(_ago(5))
    late = worklist.by_number(1)
    assert late.clock is None
    assert late.problem is not None
    assert "before" in late.problem


def test_same_person_and_unopened(mixed: tuple[Worklist, list[dict[str, object]]]) -> None:
    worklist, items = mixed
    pid = [str(item["petition_id"]) for item in items]
    assert worklist.unopened(3) == (pid[0], pid[1], pid[2])
    assert worklist.unopened(100) == tuple(pid)
    worklist.set_facts(pid[0], CaseFacts("劳动", "440300", "p-aaa", "工资"))
    worklist.set_facts(pid[2], CaseFacts("劳动", "440300", None, "没有令牌密钥"))
    worklist.set_facts(pid[4], CaseFacts("土地", "440300", "p-aaa", "征地"))
    worklist.set_facts(pid[5], CaseFacts("土地", "440300", "p-bbb", "征地"))
    assert worklist.unopened(2) == (pid[1], pid[3])
    assert [item.petition_id for item in worklist.same_person("p-aaa")] == [pid[0], pid[4]]
    assert worklist.same_person("p-nobody") == ()
    worklist.set_facts(pid[1], CaseFacts("劳动", "440300", "p-ccc", "工伤"))
    worklist.set_facts(pid[3], CaseFacts("劳动", "440300", "p-ccc", "工伤"))
    assert worklist.unopened(10) == ()
    assert worklist.counts().not_yet_opened == 0
    # A petition added later is found after the opened ones.
    late = _item(_ago(1))
    worklist.add_inbox_items([late])
    assert worklist.unopened(10) == (late["petition_id"],)
    assert worklist.unopened(0) == ()
    # One that left the inbox no longer counts as this person's.
    worklist.retain(set(pid) - {pid[4]} | {str(late["petition_id"])})
    assert [item.petition_id for item in worklist.same_person("p-aaa")] == [pid[0]]
    with pytest.raises(KeyError):
        worklist.set_facts(pid[4], CaseFacts("土地", "440300", "p-aaa", "征地"))


def test_readers_see_whole_writes_while_a_sync_runs() -> None:
    """The desk's background sync writes while requests read: every page a reader gets is
    consistent (its counts add up, its order is the desk's order)."""
    worklist = Worklist(TODAY)
    # Batches small and large: keys moved one by one, and the order re-sorted on read.
    batches = [[_item(_ago((n * 7 + k) % 45)) for k in range(30 + 5 * n)] for n in range(20)]
    problems: list[str] = []

    def read() -> None:
        for _ in range(200):
            page = worklist.page(WorklistQuery(per_page=MAX_PER_PAGE))
            if sum(page.counts.by_status.values()) != page.counts.total:
                problems.append("counts")
            keys = [(i.days_left if i.duty else 10**6, i.number) for i in page.items]
            if keys != sorted(keys):
                problems.append("order")

    reader = threading.Thread(target=read)
    reader.start()
    for batch in batches:
        worklist.add_inbox_items(batch)
    reader.join()
    assert problems == []
    assert len(worklist) == sum(30 + 5 * n for n in range(20))


def _check_consistent(worklist: Worklist) -> None:
    """Everything a page says agrees with its lines, read one by one."""
    page = worklist.page(WorklistQuery(per_page=MAX_PER_PAGE))
    lines = [
        item
        for n in range(1, page.pages + 1)
        for item in worklist.page(WorklistQuery(page=n, per_page=MAX_PER_PAGE)).items
    ]
    assert len(lines) == len(worklist) == page.counts.total
    today = worklist.today
    assert all(item.clock is None or item.clock.today == today for item in lines)
    keys = [
        (0, item.days_left, item.number)
        if item.duty is not None and item.days_left is not None
        else (1 if item.clock is None else 2, 0, item.number)
        for item in lines
    ]
    assert keys == sorted(keys)
    counts = page.counts
    assert counts.overdue == sum(1 for item in lines if item.overdue)
    assert counts.not_yet_opened == sum(1 for item in lines if item.facts is None)
    assert sum(counts.by_status.values()) == len(lines)
    assert sum(counts.by_duty.values()) == sum(1 for item in lines if item.duty is not None)


def test_a_new_day_while_the_desk_writes() -> None:
    """set_today reads the clocks outside the lock: lines written meanwhile are read again, and
    afterwards every line, count and position is the new day's."""
    worklist = Worklist(TODAY)
    items = [
        _item(_ago(n % 60), *([(Event.ACKNOWLEDGED, 1)] if n % 3 else [])) for n in range(3000)
    ]
    worklist.add_inbox_items(items)
    stop = threading.Event()

    def write() -> None:
        n = 0
        while not stop.is_set():
            item = items[n % len(items)]
            pid = str(item["petition_id"])
            events = item["events"]
            assert isinstance(events, tuple)
            worklist.set_events(pid, events[:1] if n % 2 else events)
            worklist.set_facts(pid, CaseFacts("劳动", "440300", f"p-{n % 7}", "工资"))
            if n % 50 == 0:
                worklist.add_inbox_items([_item(_ago(n % 30))])
            n += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        for days in range(1, 6):
            worklist.set_today(TODAY + timedelta(days=days))
    finally:
        stop.set()
        writer.join()
    assert worklist.today == TODAY + timedelta(days=5)
    _check_consistent(worklist)


# -- against a real server -------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("desk-worklist"))
    try:
        yield running
    finally:
        stop_server(running)


def _desk(server: RunningServer, home: Path) -> BureauDesk:
    bureau = server.bureaus[BUREAU]
    pin_server(ClientHome(home), server.client.base, server.authority_fingerprint, NetworkOptions())
    keys = BureauKeys(bureau.bundle(), None, bureau.case, bureau.signing, bureau.token)
    return BureauDesk(Session.open(ClientHome(home), NetworkOptions()), keys)


def test_sync_reads_the_whole_inbox_and_follows_it(server: RunningServer, tmp_path: Path) -> None:
    """Seven petitions (two by one person) read with pages of three; then one acknowledged and
    one transferred away through the desk, and the next sync shows exactly that."""
    id_numbers = ["11010519491231002X", "11010519491231002X", *["440524198001010013"] * 5]
    submissions = []
    for id_number in id_numbers:
        submission = server.seal(BUREAU, id_number=id_number)
        answer = server.client.post("/v1/petitions", submission.body())
        assert answer.status == 201, answer.raw
        submissions.append(submission)
    desk = _desk(server, tmp_path)
    ours = {s.petition_id for s in submissions}
    worklist = Worklist(utc_today())
    with desk.session:
        assert sync(desk, worklist, page_size=3) == 7
        # Earlier tests of this module may share the server: only ours are looked at.
        mine = [worklist.by_id(s.petition_id) for s in submissions]
        assert [item.number for item in mine] == sorted(item.number for item in mine)
        assert {(item.latest, item.duty) for item in mine} == {("received", "acknowledge")}
        # 15 days, the last one moved off a weekend.
        assert all(item.days_left in (15, 16, 17) for item in mine)
        # The background opener's work: open each case, keep its facts in memory.
        for petition_id in worklist.unopened(100):
            opened = desk.open_case(petition_id)
            assert opened.case is not None
            worklist.set_facts(
                petition_id,
                CaseFacts(
                    opened.case.category, opened.case.region, opened.pseudonym, opened.case.subject
                ),
            )
        assert worklist.counts().not_yet_opened == 0
        first = worklist.by_id(submissions[0].petition_id)
        assert first.facts is not None
        assert first.facts.pseudonym is not None
        assert first.facts.category == "infrastructure"
        assert first.facts.subject == "道路维修"
        same = worklist.same_person(first.facts.pseudonym)
        assert [item.petition_id for item in same if item.petition_id in ours] == [
            submissions[0].petition_id,
            submissions[1].petition_id,
        ]

        acknowledged = desk.record(
            submissions[2].petition_id, Event.ACKNOWLEDGED, message="已受理。"
        )
        desk.record(submissions[3].petition_id, Event.TRANSFERRED, detail=Detail(to="guangdong"))
        # The desk refreshes the one it acted on at once...
        worklist.set_events(
            submissions[2].petition_id, desk.fetch(submissions[2].petition_id).events
        )
        assert worklist.by_id(submissions[2].petition_id).duty == "decide"
        # ...and the next sync catches up with everything: nothing new, one gone.
        before = len(worklist)
        assert sync(desk, worklist, page_size=3) == 0
    assert len(worklist) == before - 1
    with pytest.raises(KeyError):
        worklist.by_id(submissions[3].petition_id)
    answered = worklist.by_id(submissions[2].petition_id)
    assert answered.latest == "acknowledged"
    assert answered.duty == "decide"
    assert answered.days_left is not None
    assert answered.days_left >= 60
    assert acknowledged.entry.event is Event.ACKNOWLEDGED
    assert answered.facts is not None  # the facts stay with a refreshed item
    counts = worklist.counts()
    assert counts.by_status.get("acknowledged", 0) >= 1
    assert worklist.page(WorklistQuery(category="infrastructure")).matching == len(worklist)
