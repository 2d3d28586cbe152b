"""The reviewer desk's worklist: every petition this bureau handles, nearest statutory deadline
first, with filters, counts and paging that stay fast at 100,000 petitions (issue 21).

This is pure in-memory logic (no HTTP, no Flask), so the web desk (``webui/desk/``) and its
tests share one index, and the benchmark (``bench/desk_worklist.py``) measures exactly what the
desk serves. What the decrypted cases add (:class:`CaseFacts`: category, region, pseudonym,
subject) lives only in this process's memory and is never written anywhere: the desk decrypts
on the reviewer's machine, and plaintext reaching the disk is the reviewer's explicit choice
(saving an attachment), not a side effect of an index.

Why the index looks the way it does:

* **The clock is the statutory one** (:func:`crypto.statutory.status` over
  :func:`crypto.case_event.to_step` of the public log entries), exactly as ``petition bureau
  inbox --due`` computes it, so the desk and the command line can never disagree about a
  deadline. An impossible history is shown with its reason, never hidden.
* **Sort keys are kept up to date on write**, not computed per request: a request only slices a
  sorted list. A single write (one case answered) moves one key with :mod:`bisect`; a large
  batch (the first sync, a new day) marks the order stale, and the next read sorts once, which
  is cheaper than thousands of list insertions.
* **Counts are tallied on write** (each item adds its contribution, a replaced item first takes
  its old one back), so the counts at the top of every page cost nothing per request.
* **Filters start from indexes** kept on write (the numbers with each status, category,
  region and pseudonym), so a filtered page is a set intersection plus a pass over the order,
  not a test of every line.
* **The clock depends only on the history and the day**, and many petitions share a history
  (received on the same day, nothing since), so equal histories are one object and clocks are
  memoised per history for the current day; a new day (:meth:`Worklist.set_today`) reads them
  all again. Only what the clock needs is kept (the steps and the events' leaf indexes, not the
  log entries): 100,000 petitions are few enough objects for the garbage collector to walk.
* **Short numbers** (``#12``) are handed out in the order petitions are first seen (the inbox's
  cursor order on a sync) and never reused, so a number the reviewer noted keeps meaning the
  same petition for the whole session, even after petitions leave the inbox.
* **One lock** guards everything: the desk's background sync writes while requests read, and a
  reader never sees half a write. Only a new day's clocks (a second or more at 100,000) are
  computed outside it, from a snapshot, and swapped in at once.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, insort
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType

from client.bureau import BureauDesk
from client.errors import ServerMisbehaved
from crypto.case_event import LogEntry, to_step
from crypto.errors import MalformedInput
from crypto.statutory import ClockStatus, Kind, Step, status

#: The largest page the desk serves; larger requests are clamped (a page is HTML for a person).
MAX_PER_PAGE = 500
#: A write batch that changes more sort keys than this re-sorts once on the next read instead
#: of moving each key (a list insertion moves on average half the list).
_INCREMENTAL_LIMIT = 64
#: "Due soon" in the counts: the duty's due day is at most this many days away.
DUE_SOON_DAYS = 7

# The sort groups (first member of a sort key), in the order the worklist shows them.
_DUE = 0  # a duty of this bureau: overdue (days_left < 0) first, then the nearest
_IMPOSSIBLE = 1  # the history cannot be: shown after what is due, never hidden
_NOTHING_DUE = 2  # nothing asked of this bureau now (answered, or the petitioner's turn)

_SortKey = tuple[int, int, int]
_Events = tuple[tuple[int, LogEntry], ...]


@dataclass(frozen=True, slots=True)
class CaseFacts:
    """What the decrypted case adds to a worklist line (memory only)."""

    category: str
    region: str
    pseudonym: str | None  # None when the keystore has no token key
    subject: str  # for the worklist line (shortened by the page)


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One petition on the worklist, as of the worklist's day.

    ``duty`` is the code of the statutory deadline this bureau must meet now (``acknowledge``,
    ``decide``, ``decide_extended``, ``answer_review``, ``answer_re_review``: the
    :attr:`~crypto.statutory.Deadline.what` of the clock's deadline when that deadline is a
    body's duty), else ``None``: when the clock's deadline is the petitioner's window (after an
    answer), nothing is asked of the bureau, although ``days_left`` still counts that window.
    """

    number: int  # the desk's short number, 1-based, in inbox order (stable)
    petition_id: str
    latest: str  # the latest event's value (crypto.statutory.Event value), "?" if none
    clock: ClockStatus | None  # None: impossible history (then `problem` says why)
    problem: str | None
    duty: str | None  # what is due of this bureau now (the deadline's code), else None
    days_left: int | None  # clock.days_left
    facts: CaseFacts | None  # None until the case was opened

    @property
    def overdue(self) -> bool:
        """A duty of this bureau whose due day has passed (a lapsed petitioner's window is not)."""
        return self.duty is not None and self.days_left is not None and self.days_left < 0


@dataclass(frozen=True)
class WorklistQuery:
    """Filters (exact values; ``None``: any) and the page wanted."""

    status: str | None = None  # a latest-event value
    category: str | None = None
    region: str | None = None
    pseudonym: str | None = None
    page: int = 1  # 1-based; past the end gives the last page
    per_page: int = 50  # clamped to 1..MAX_PER_PAGE

    @property
    def filtered(self) -> bool:
        return any(v is not None for v in (self.status, self.category, self.region, self.pseudonym))


@dataclass(frozen=True)
class WorklistCounts:
    """The numbers at the top of the desk, over the whole worklist (filters do not change them:
    a reviewer looking at one region must still see that others are overdue)."""

    total: int
    overdue: int
    due_within_7_days: int  # duties due today or within DUE_SOON_DAYS days (not overdue)
    by_duty: Mapping[str, int]
    by_status: Mapping[str, int]
    not_yet_opened: int


@dataclass(frozen=True)
class WorklistPage:
    """One page of the (filtered) worklist, with what the page around it needs."""

    items: tuple[WorkItem, ...]
    matching: int  # items matching the query's filters
    page: int
    pages: int
    counts: WorklistCounts  # over the whole worklist (not the filtered part)
    categories: tuple[str, ...]  # values seen, for the filter selects
    regions: tuple[str, ...]


class _Tally:
    """The counts at the top of the desk, kept by adding each item's contribution on write (and
    taking the old one back), so that no request counts 100,000 items."""

    __slots__ = ("by_duty", "by_status", "due_soon", "overdue", "unopened")

    def __init__(self) -> None:
        self.by_status: Counter[str] = Counter()
        self.by_duty: Counter[str] = Counter()
        self.overdue = 0
        self.due_soon = 0
        self.unopened = 0

    def add(self, item: WorkItem, sign: int) -> None:
        self.by_status[item.latest] += sign
        if item.duty is not None:
            self.by_duty[item.duty] += sign
            if item.days_left is not None:
                if item.days_left < 0:
                    self.overdue += sign
                elif item.days_left <= DUE_SOON_DAYS:
                    self.due_soon += sign
        if item.facts is None:
            self.unopened += sign

    def counts(self, total: int) -> WorklistCounts:
        return WorklistCounts(
            total=total,
            overdue=self.overdue,
            due_within_7_days=self.due_soon,
            by_duty=MappingProxyType({k: v for k, v in sorted(self.by_duty.items()) if v}),
            by_status=MappingProxyType({k: v for k, v in sorted(self.by_status.items()) if v}),
            not_yet_opened=self.unopened,
        )


class Worklist:
    """Thread-safe (one internal lock): the web desk's background sync writes, requests read.

    ``today`` is the day the clocks are read on; the desk passes the server's day (UTC), the
    day case events are dated with, so that a case answered today is never "before today".
    """

    def __init__(self, today: date) -> None:
        self._lock = threading.Lock()
        self._today = today
        self._numbers: dict[str, int] = {}  # petition id -> number
        self._items: list[WorkItem | None] = []  # by number - 1; None: left the inbox
        # By number: the leaf indexes of its events (log leaves never change, so these say
        # whether a refresh brings anything new) and the clock's view of them. The entries
        # themselves are not kept: fewer objects for the garbage collector to walk.
        self._leaves: dict[int, tuple[int, ...]] = {}
        self._steps: dict[int, tuple[Step, ...] | str] = {}  # by number; str: why impossible
        self._keys: dict[int, _SortKey] = {}  # by number
        self._order: list[_SortKey] = []  # sorted; out of date while _stale
        self._stale = False
        self._clocks: dict[tuple[Step, ...], ClockStatus | str] = {}  # memo for _today
        self._step_pool: dict[Step, Step] = {}
        self._history_pool: dict[tuple[Step, ...], tuple[Step, ...]] = {}
        self._tally = _Tally()
        # The filters' indexes: numbers by ("status" | "category" | "region", value), and by
        # pseudonym (apart: there are as many as people, and the selects list only the others).
        self._index: dict[tuple[str, str], set[int]] = {}
        self._pseudonyms: dict[str, set[int]] = {}
        self._first_unopened = 0  # every item before this index has facts (or left)

    # -- writes ------------------------------------------------------------------------------

    def add_inbox_items(self, items: Iterable[Mapping[str, object]]) -> int:
        """Add or refresh inbox items as BureauDesk.inbox returns them (petition_id, events …);
        returns how many were new. An item already known gets its events (and clock) replaced.

        An item whose events did not change is left alone, so the desk's periodic re-sync of an
        unchanged inbox neither moves nor re-sorts anything.
        """
        parsed = [_item_events(item) for item in items]
        with self._lock:
            batch = len(parsed) > _INCREMENTAL_LIMIT
            new = 0
            for petition_id, events in parsed:
                number = self._numbers.get(petition_id)
                if number is None:
                    number = len(self._items) + 1
                    self._numbers[petition_id] = number
                    self._items.append(None)
                    new += 1
                    self._put_events(number, petition_id, events, None, batch=batch)
                elif self._leaves[number] != _leaves_of(events):
                    facts = self._live(number).facts
                    self._put_events(number, petition_id, events, facts, batch=batch)
            return new

    def set_events(self, petition_id: str, events: Sequence[tuple[int, LogEntry]]) -> None:
        """Replace one petition's events (after the desk recorded an action). KeyError if the
        petition is not on the worklist."""
        checked = _checked_events(petition_id, events)
        with self._lock:
            number = self._number_of(petition_id)
            facts = self._live(number).facts
            self._put_events(number, petition_id, checked, facts, batch=False)

    def set_facts(self, petition_id: str, facts: CaseFacts) -> None:
        """Attach what the opened case says (KeyError if the petition is not on the worklist)."""
        with self._lock:
            number = self._number_of(petition_id)
            old = self._live(number)
            self._index_facts(number, old.facts, add=False)
            self._index_facts(number, facts, add=True)
            new = WorkItem(
                old.number,
                old.petition_id,
                old.latest,
                old.clock,
                old.problem,
                old.duty,
                old.days_left,
                facts,
            )
            self._place(number, old, new, batch=False)

    def set_today(self, today: date) -> None:
        """Read every clock on another day (the desk calls it when the date changes).

        At 100,000 petitions this takes a second or more, nearly all of it the statutory clocks.
        So the new items, counts and sort keys are computed from a snapshot without holding the
        lock, and requests go on being served from the old day meanwhile; then, under the lock,
        the day and everything computed for it are swapped in at once (an item written in
        between is read again), so no reader ever sees two days mixed.
        """
        with self._lock:
            if today == self._today:
                return
            before = list(self._items)
            steps_of = dict(self._steps)
        clocks: dict[tuple[Step, ...], ClockStatus | str] = {}
        # Equal histories are one object (see _shared): looked up by identity here, which
        # spares hashing 100,000 tuples of steps (the snapshot keeps them all alive).
        by_history: dict[int, ClockStatus | str] = {}
        fresh: list[WorkItem | None] = []
        tally = _Tally()
        keys: dict[int, _SortKey] = {}
        for item in before:
            if item is None:
                fresh.append(None)
                continue
            steps = steps_of[item.number]
            read = by_history.get(id(steps))
            if read is None:
                read = by_history[id(steps)] = _memo_read(clocks, steps, today)
            item = _reread(item, read)
            fresh.append(item)
            tally.add(item, +1)
            keys[item.number] = sort_key(item)
        with self._lock:
            if today == self._today:
                return
            self._today, self._clocks = today, clocks
            for index, current in enumerate(self._items):
                earlier = before[index] if index < len(before) else None
                if current is earlier:
                    self._items[index] = fresh[index] if index < len(fresh) else None
                    continue
                # Written while the clocks were read: its precomputed line is out of date.
                number = index + 1
                stale = fresh[index] if index < len(fresh) else None
                if stale is not None:
                    tally.add(stale, -1)
                    keys.pop(number, None)
                if current is not None:
                    item = _reread(current, self._read(self._steps[number]))
                    self._items[index] = item
                    tally.add(item, +1)
                    keys[number] = sort_key(item)
            self._tally, self._keys, self._stale = tally, keys, True

    def retain(self, petition_ids: Collection[str]) -> int:
        """Drop every petition not in ``petition_ids`` (those that left this bureau's inbox, e.g.
        transferred away); returns how many were dropped. Their numbers are not reused."""
        with self._lock:
            gone = [pid for pid in self._numbers if pid not in petition_ids]
            batch = len(gone) > _INCREMENTAL_LIMIT
            for petition_id in gone:
                self._drop(petition_id, batch=batch)
            return len(gone)

    def remove(self, petition_id: str) -> bool:
        """Drop one petition at once (the desk just transferred or assigned it away), without
        waiting for the next full read of the inbox; False if it was not here."""
        with self._lock:
            if petition_id not in self._numbers:
                return False
            self._drop(petition_id, batch=False)
            return True

    def _drop(self, petition_id: str, *, batch: bool) -> None:
        number = self._numbers.pop(petition_id)
        old = self._live(number)
        self._index_facts(number, old.facts, add=False)
        self._place(number, old, None, batch=batch)
        del self._steps[number], self._leaves[number]

    # -- reads -------------------------------------------------------------------------------

    def by_number(self, number: int) -> WorkItem:
        """The petition with this short number (KeyError if unknown or no longer here)."""
        with self._lock:
            return self._live(number)

    def by_id(self, petition_id: str) -> WorkItem:
        """The petition with this id (KeyError if it is not on the worklist)."""
        with self._lock:
            return self._live(self._number_of(petition_id))

    def same_person(self, pseudonym: str) -> tuple[WorkItem, ...]:
        """This person's petitions here (as far as the opened cases tell), in inbox order."""
        with self._lock:
            numbers = sorted(self._pseudonyms.get(pseudonym, ()))
            return tuple(self._live(number) for number in numbers)

    def unopened(self, limit: int) -> tuple[str, ...]:
        """Up to ``limit`` petition ids whose facts are missing, in inbox order (the order the
        desk's background opener works through them).

        Facts are never taken away, so a scan pointer moves past the opened prefix once and the
        call does not rescan 100,000 opened petitions every time.
        """
        with self._lock:
            found: list[str] = []
            index = self._first_unopened
            while index < len(self._items) and _done(self._items[index]):
                index += 1
            self._first_unopened = index
            for item in self._items[index:]:
                if len(found) >= limit:
                    break
                if item is not None and item.facts is None:
                    found.append(item.petition_id)
            return tuple(found)

    def page(self, query: WorklistQuery) -> WorklistPage:
        """One page of the worklist in desk order (see :func:`sort_key`), filtered by ``query``.

        Without filters this slices the sorted order. A filter starts from the indexes (the
        numbers with that status, category, region or pseudonym, intersected): a small result
        is sorted by itself, a large one is picked out of the sorted order in one pass.
        """
        per_page = min(max(query.per_page, 1), MAX_PER_PAGE)
        with self._lock:
            order = self._sorted()
            wanted = self._matching(query)
            if wanted is None:
                keys = order
            elif len(wanted) * 16 < len(order):
                keys = sorted(self._keys[number] for number in wanted)
            else:
                keys = [key for key in order if key[2] in wanted]
            matching = len(keys)
            pages = max(1, -(-matching // per_page))
            page = min(max(query.page, 1), pages)
            start = (page - 1) * per_page
            return WorklistPage(
                items=tuple(self._live(key[2]) for key in keys[start : start + per_page]),
                matching=matching,
                page=page,
                pages=pages,
                counts=self._tally.counts(len(self._numbers)),
                categories=self._values("category"),
                regions=self._values("region"),
            )

    def counts(self) -> WorklistCounts:
        """The counts alone (they are also on every page)."""
        with self._lock:
            return self._tally.counts(len(self._numbers))

    @property
    def today(self) -> date:
        with self._lock:
            return self._today

    def __len__(self) -> int:
        with self._lock:
            return len(self._numbers)

    # -- inside the lock ---------------------------------------------------------------------

    def _number_of(self, petition_id: str) -> int:
        number = self._numbers.get(petition_id)
        if number is None:
            raise KeyError(petition_id)
        return number

    def _live(self, number: int) -> WorkItem:
        item = self._items[number - 1] if 1 <= number <= len(self._items) else None
        if item is None:
            raise KeyError(number)
        return item

    def _put_events(
        self,
        number: int,
        petition_id: str,
        events: _Events,
        facts: CaseFacts | None,
        *,
        batch: bool,
    ) -> None:
        """Store a petition's (new) history and put its recomputed line in place."""
        self._leaves[number] = _leaves_of(events)
        steps = self._steps[number] = self._shared(_steps_of(events))
        latest = events[-1][1].event.value if events else "?"
        item = _line(number, petition_id, latest, facts, self._read(steps))
        self._place(number, self._items[number - 1], item, batch=batch)

    def _shared(self, steps: tuple[Step, ...] | str) -> tuple[Step, ...] | str:
        """One object for equal steps and equal histories: petitions received on the same day
        with nothing since share one, so 100,000 petitions hold a few thousand histories
        instead of 100,000 (memory, and the garbage collector's walks)."""
        if isinstance(steps, str):
            return steps
        shared = tuple(self._step_pool.setdefault(step, step) for step in steps)
        return self._history_pool.setdefault(shared, shared)

    def _place(
        self, number: int, old: WorkItem | None, new: WorkItem | None, *, batch: bool
    ) -> None:
        """Replace one line: the counts, the status index and the sort order follow."""
        if old is not None:
            self._tally.add(old, -1)
            self._unindex("status", old.latest, number)
        self._items[number - 1] = new
        if new is not None:
            self._tally.add(new, +1)
            self._index.setdefault(("status", new.latest), set()).add(number)
        self._move_key(number, None if new is None else sort_key(new), batch=batch)

    def _read(self, steps: tuple[Step, ...] | str) -> ClockStatus | str:
        return _memo_read(self._clocks, steps, self._today)

    def _move_key(self, number: int, key: _SortKey | None, *, batch: bool) -> None:
        """Keep the sorted order in step with one item's new key (None: the item left)."""
        old = self._keys.pop(number, None)
        if key is not None:
            self._keys[number] = key
        if old == key:
            return
        if batch:
            self._stale = True
        if self._stale:
            return
        if old is not None:
            del self._order[bisect_left(self._order, old)]
        if key is not None:
            insort(self._order, key)

    def _sorted(self) -> list[_SortKey]:
        if self._stale:
            self._order = sorted(self._keys.values())
            self._stale = False
        return self._order

    def _matching(self, query: WorklistQuery) -> set[int] | None:
        """The numbers that pass the query's filters; None: no filter."""
        sets: list[set[int]] = []
        for field, value in (
            ("status", query.status),
            ("category", query.category),
            ("region", query.region),
        ):
            if value is not None:
                sets.append(self._index.get((field, value), set()))
        if query.pseudonym is not None:
            sets.append(self._pseudonyms.get(query.pseudonym, set()))
        if not sets:
            return None
        sets.sort(key=len)
        return sets[0].intersection(*sets[1:])

    def _values(self, field: str) -> tuple[str, ...]:
        return tuple(sorted(value for kind, value in self._index if kind == field))

    def _unindex(self, field: str, value: str, number: int) -> None:
        numbers = self._index.get((field, value))
        if numbers is not None:
            numbers.discard(number)
            if not numbers:
                del self._index[field, value]

    def _index_facts(self, number: int, facts: CaseFacts | None, *, add: bool) -> None:
        if facts is None:
            return
        for field, value in (("category", facts.category), ("region", facts.region)):
            if add:
                self._index.setdefault((field, value), set()).add(number)
            else:
                self._unindex(field, value, number)
        if facts.pseudonym is not None:
            if add:
                self._pseudonyms.setdefault(facts.pseudonym, set()).add(number)
            else:
                numbers = self._pseudonyms.get(facts.pseudonym, set())
                numbers.discard(number)
                if not numbers:
                    self._pseudonyms.pop(facts.pseudonym, None)


def sort_key(item: WorkItem) -> _SortKey:
    """The desk's order: overdue first (most overdue first), then by days left, then impossible
    histories, then items with nothing due; ties by number (the inbox order)."""
    if item.duty is not None and item.days_left is not None:
        return (_DUE, item.days_left, item.number)
    if item.clock is None:
        return (_IMPOSSIBLE, 0, item.number)
    return (_NOTHING_DUE, 0, item.number)


def sync(desk: BureauDesk, worklist: Worklist, *, page_size: int = 500) -> int:
    """Read the whole inbox (cursor paging from 0) into the worklist; returns the number of new
    items.

    Petitions no longer in the inbox (transferred away since the last sync) leave the worklist:
    the inbox lists what this bureau handles now, and a case it handed on is no longer its duty.
    """
    after, new = 0, 0
    seen: set[str] = set()
    while True:
        items, next_cursor = desk.inbox(after, page_size)
        if not items:
            break
        new += worklist.add_inbox_items(items)
        seen.update(_item_id(item) for item in items)
        if next_cursor <= after:
            raise ServerMisbehaved("the inbox cursor did not move forward")
        after = next_cursor
        if len(items) < page_size:
            break
    worklist.retain(seen)
    return new


def _item_id(item: Mapping[str, object]) -> str:
    petition_id = item.get("petition_id")
    if not isinstance(petition_id, str):
        raise TypeError("an inbox item needs its petition_id")
    return petition_id


def _leaves_of(events: _Events) -> tuple[int, ...]:
    return tuple(leaf for leaf, _ in events)


def _item_events(item: Mapping[str, object]) -> tuple[str, _Events]:
    petition_id = _item_id(item)
    events = item.get("events", ())
    if not isinstance(events, (tuple, list)):
        raise TypeError("an inbox item's events are a sequence of (leaf index, LogEntry)")
    return petition_id, _checked_events(petition_id, events)


def _checked_events(petition_id: str, events: Sequence[object]) -> _Events:
    """The events in log order, checked to be (leaf index, LogEntry) pairs."""
    pairs: list[tuple[int, LogEntry]] = []
    for pair in events:
        if not (
            isinstance(pair, tuple)
            and len(pair) == 2
            and isinstance(pair[0], int)
            and isinstance(pair[1], LogEntry)
        ):
            raise TypeError(f"events of {petition_id}: expected (leaf index, LogEntry) pairs")
        pairs.append((pair[0], pair[1]))
    return tuple(sorted(pairs, key=lambda pair: pair[0]))


def _steps_of(events: _Events) -> tuple[Step, ...] | str:
    """The clock's view of a history, or why it cannot have one."""
    petition_id = None
    steps = []
    for _, entry in events:
        if petition_id is not None and entry.petition_id != petition_id:
            return "the events belong to different petitions"
        petition_id = entry.petition_id
        try:
            steps.append(to_step(entry))
        except MalformedInput as exc:
            return exc.message
    return tuple(steps)


def _read_clock(steps: tuple[Step, ...], today: date) -> ClockStatus | str:
    """The statutory clock of a history on a day, or why the history cannot be read."""
    try:
        return status(steps, today)
    except MalformedInput as exc:
        return exc.message


def _memo_read(
    memo: dict[tuple[Step, ...], ClockStatus | str], steps: tuple[Step, ...] | str, today: date
) -> ClockStatus | str:
    """The clock of a history on ``today`` through ``memo`` (many petitions share a history)."""
    if isinstance(steps, str):
        return steps
    known = memo.get(steps)
    if known is None:
        known = memo[steps] = _read_clock(steps, today)
    return known


def _line(
    number: int, petition_id: str, latest: str, facts: CaseFacts | None, read: ClockStatus | str
) -> WorkItem:
    """A worklist line from a reading of its clock (the status, or the problem in words).
    The constructor is called directly: at 100,000 lines ``dataclasses.replace`` shows."""
    if isinstance(read, str):
        return WorkItem(number, petition_id, latest, None, read, None, None, facts)
    deadline = read.deadline
    duty = deadline.what if deadline is not None and deadline.kind is Kind.BUREAU_DUTY else None
    return WorkItem(number, petition_id, latest, read, None, duty, read.days_left, facts)


def _reread(item: WorkItem, read: ClockStatus | str) -> WorkItem:
    return _line(item.number, item.petition_id, item.latest, item.facts, read)


def _done(item: WorkItem | None) -> bool:
    """Nothing left to open: the case was opened, or the petition left the worklist."""
    return item is None or item.facts is not None
