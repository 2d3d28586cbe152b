"""Public statistics counted from the log alone (issue 17, "anyone can count"; Regulations Art. 41).

Everyone who holds the log (verified against a checkpoint) and the signed directory can count,
per bureau and per period, how petitions were handled: how many were received, how many
deadlines were met, how many are overdue today, how long answers took, where cases were sent,
and which bureaus are most often taken to the next level. The server publishes the same figures
(``GET /v1/stats``); an auditor recomputes them and shows that they follow from the log.

This module is pure: no I/O and no clock (``today`` is passed in). The counting rules are the
statute's own: every deadline, and whether it was met, comes from :func:`crypto.statutory.deadlines`
(``Deadline.in_time``; a duty is overdue when it is still open and its due day is before
``today``, as :func:`crypto.statutory.status` says), never from a second implementation.

Who a figure belongs to, and when:

* The **period** of every figure of a petition is the period (``YYYY-MM``, ``YYYY`` or ``all``)
  of the day it was received, so a petition is counted in one period only, and the figures of a
  period do not change when later months arrive except as its own petitions move on.
* A **duty** (acknowledge, decide, answer a review, answer a re-review) belongs to the bureau
  that owes it: the bureau addressed (``received``) or sent the case (``transferred``,
  ``assigned``: ``detail.to``) for the 15-day acknowledgement; the bureau that acknowledged for
  the 60 (+ extension) days to decide; the bureau asked for the (re-)review. The decision duty
  of an extended case is counted once, as the extended one.
* **Received** counts the petitions addressed to a bureau; **transferred in** the cases sent to
  it by a transfer or an assignment.
* **Median days to answer** is counted over the petitions a bureau decided (its first
  decision of each), from the petition's ``received`` day to that decision: the petitioner's
  wait. It is the *lower* median in whole days (canonical JSON has no fractions).
* **Complained about** (Art. 41, "the bodies complained about most") counts each
  ``review_requested`` against the bureau whose written answer is reviewed (the last bureau
  that decided), and each ``re_review_requested`` against the bureau whose review opinion is
  re-reviewed; when the request comes because a deadline passed with no answer, against the
  bureau that was handling the case.

The checks an auditor makes while counting. Nothing is dropped silently: each finding is
counted and listed with its leaf index, and the figures say what was done with the entry.

* ``malformed``: the leaf is not a log entry. Not counted.
* ``bad_signature``: a bureau-recorded entry whose signature does not verify with the
  directory's key of its bureau (:func:`crypto.case_event.verify_entry_signature`). It is not
  the bureau's word, so it is not counted: a forged acknowledgement does not make a bureau look
  in time.
* ``future_day``: dated after ``today``. Not counted (its day cannot be true).
* ``backdated``: dated before an entry that the log holds before it: the log is append-only and
  every entry carries the day it was recorded, so days never go backwards along it. It is
  counted at the day the log vouches for (the latest day before it, ``log_day``), so a
  backdated acknowledgement counts as late when it was.
* ``not_handling``: signed by a bureau that was not handling the petition at that point of its
  history (the server refuses those). Not counted.
* ``impossible``: the statutory clock refuses the history at this entry
  (:func:`crypto.statutory.deadlines` raises). The history before it is counted; this entry and
  every later one of the same petition are not (the message says how many).

The JSON form (:meth:`CaseStats.to_json`, canonical JSON, version 1)::

    {"format": "sealed-petition-stats", "version": 1,
     "period": "month" | "year" | "all", "today": "YYYY-MM-DD", "tree_size": int,
     "periods": [                       # oldest first; only periods with a received petition
       {"period": "2026-03" | "2026" | "all",
        "bureaus": [BUREAU, ...],       # every directory bureau in directory order, then any
                                        # other bureau id the log names, sorted
        "total": BUREAU,                # the sum over bureaus ("bureau_id": null)
        "most_reviewed": [{"bureau_id", "reviews", "re_reviews", "total"}, ...]}],
                                        # total > 0, most first, then by bureau id
     "problem_counts": {KIND: int for every kind above},
     "problems": [{"kind", "leaf_index", "petition_id", "bureau_id", "event", "day",
                   "log_day", "message"}, ...]}   # by leaf index; unknown members are null

    BUREAU = {"bureau_id": str | null, "name": str | null, "parent": str | null,
      "received": int, "transferred_in": int,
      "acknowledge" | "decide" | "answer_review" | "answer_re_review":
          {"started", "in_time", "late", "running", "overdue"},  # DUTY, ints
      "overdue": int,                   # petitions with a duty of this bureau overdue today
      "decided": {"supported", "explained", "not_supported"},   # ints
      "median_days_to_answer": int | null,
      "extended": int, "closed": int,
      "transferred": {BUREAU_ID: int}, "assigned": {BUREAU_ID: int},
      "not_competent": {BUREAU_ID: int},     # refusals, by the bureau named as competent
      "reviews": {"requested", "upheld", "changed"},       # as the reviewing body
      "re_reviews": {"requested", "upheld", "changed"},
      "complained_about": {"reviews", "re_reviews"}}       # Art. 41

A DUTY's ``started`` is ``in_time + late + running + overdue``: ``in_time`` and ``late`` ended
(by any answer the article accepts), ``running`` is open and not yet due, ``overdue`` is open
and past due on ``today``.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from crypto import cjson
from crypto.case_event import (
    DecisionOutcome,
    LogEntry,
    ReviewOutcome,
    to_step,
    verify_entry_signature,
)
from crypto.errors import InvalidSignature, MalformedInput
from crypto.fields import format_day
from crypto.keys import VerifyKey
from crypto.objects import Directory
from crypto.statutory import Deadline, Event, Kind, Step, deadlines

FORMAT = "sealed-petition-stats"
VERSION = 1
PERIODS = ("month", "year", "all")
DEFAULT_PERIOD = "month"

PROBLEM_KINDS = (
    "malformed",
    "bad_signature",
    "future_day",
    "backdated",
    "not_handling",
    "impossible",
)
DUTIES = ("acknowledge", "decide", "answer_review", "answer_re_review")
#: Which figure each statutory bureau duty is counted in.
_DUTY_OF = {
    "acknowledge": "acknowledge",
    "decide": "decide",
    "decide_extended": "decide",
    "answer_review": "answer_review",
    "answer_re_review": "answer_re_review",
}
_ROUTED = frozenset({Event.TRANSFERRED, Event.ASSIGNED})
_REQUESTS = frozenset({Event.REVIEW_REQUESTED, Event.RE_REVIEW_REQUESTED})


def period_of(day: date, period: str) -> str:
    """The period label of a day: ``YYYY-MM``, ``YYYY`` or ``all``."""
    if period == "month":
        return f"{day.year:04d}-{day.month:02d}"
    if period == "year":
        return f"{day.year:04d}"
    if period == "all":
        return "all"
    raise MalformedInput(f"unknown period {period[:20]!r}; expected one of: {', '.join(PERIODS)}")


@dataclass(frozen=True)
class Problem:
    """One finding of the auditor's checks (see the module docstring for each kind)."""

    kind: str
    leaf_index: int
    message: str
    petition_id: str | None = None
    bureau_id: str | None = None
    event: str | None = None
    day: date | None = None
    log_day: date | None = None  # backdated: the latest day the log held before this entry

    def to_json(self) -> dict[str, cjson.JsonValue]:
        return {
            "kind": self.kind,
            "leaf_index": self.leaf_index,
            "petition_id": self.petition_id,
            "bureau_id": self.bureau_id,
            "event": self.event,
            "day": None if self.day is None else format_day(self.day),
            "log_day": None if self.log_day is None else format_day(self.log_day),
            "message": self.message,
        }


@dataclass
class Duty:
    """How often one kind of statutory duty was met, missed, or is running or overdue."""

    in_time: int = 0
    late: int = 0
    running: int = 0
    overdue: int = 0

    @property
    def started(self) -> int:
        return self.in_time + self.late + self.running + self.overdue

    def add(self, other: Duty) -> None:
        self.in_time += other.in_time
        self.late += other.late
        self.running += other.running
        self.overdue += other.overdue

    def to_json(self) -> dict[str, cjson.JsonValue]:
        return {
            "started": self.started,
            "in_time": self.in_time,
            "late": self.late,
            "running": self.running,
            "overdue": self.overdue,
        }


@dataclass
class Figures:
    """Every figure of one bureau (or of all bureaus: ``bureau_id`` None) in one period."""

    bureau_id: str | None
    name: str | None = None
    parent: str | None = None
    received: int = 0
    transferred_in: int = 0
    duties: dict[str, Duty] = field(default_factory=lambda: {name: Duty() for name in DUTIES})
    overdue: int = 0
    decided: Counter[str] = field(default_factory=Counter)
    answer_days: list[int] = field(default_factory=list)
    extended: int = 0
    closed: int = 0
    transferred: Counter[str] = field(default_factory=Counter)
    assigned: Counter[str] = field(default_factory=Counter)
    not_competent: Counter[str] = field(default_factory=Counter)
    reviews: Counter[str] = field(default_factory=Counter)
    re_reviews: Counter[str] = field(default_factory=Counter)
    complained_reviews: int = 0
    complained_re_reviews: int = 0

    @property
    def median_days_to_answer(self) -> int | None:
        return statistics.median_low(self.answer_days) if self.answer_days else None

    @property
    def decided_total(self) -> int:
        return sum(self.decided.values())

    def add(self, other: Figures) -> None:
        """Add another bureau's figures (for the total)."""
        self.received += other.received
        self.transferred_in += other.transferred_in
        for name, duty in other.duties.items():
            self.duties[name].add(duty)
        self.overdue += other.overdue
        self.decided.update(other.decided)
        self.answer_days += other.answer_days
        self.extended += other.extended
        self.closed += other.closed
        self.transferred.update(other.transferred)
        self.assigned.update(other.assigned)
        self.not_competent.update(other.not_competent)
        self.reviews.update(other.reviews)
        self.re_reviews.update(other.re_reviews)
        self.complained_reviews += other.complained_reviews
        self.complained_re_reviews += other.complained_re_reviews

    def to_json(self) -> dict[str, cjson.JsonValue]:
        def reviews(counter: Counter[str]) -> dict[str, cjson.JsonValue]:
            return {name: counter[name] for name in ("requested", "upheld", "changed")}

        return {
            "bureau_id": self.bureau_id,
            "name": self.name,
            "parent": self.parent,
            "received": self.received,
            "transferred_in": self.transferred_in,
            **{name: self.duties[name].to_json() for name in DUTIES},
            "overdue": self.overdue,
            "decided": {o.value: self.decided[o.value] for o in DecisionOutcome},
            "median_days_to_answer": self.median_days_to_answer,
            "extended": self.extended,
            "closed": self.closed,
            "transferred": dict(sorted(self.transferred.items())),
            "assigned": dict(sorted(self.assigned.items())),
            "not_competent": dict(sorted(self.not_competent.items())),
            "reviews": reviews(self.reviews),
            "re_reviews": reviews(self.re_reviews),
            "complained_about": {
                "reviews": self.complained_reviews,
                "re_reviews": self.complained_re_reviews,
            },
        }


@dataclass(frozen=True)
class Complained:
    """One line of Art. 41's list: how often a bureau's answers were taken to the next level."""

    bureau_id: str
    reviews: int
    re_reviews: int

    @property
    def total(self) -> int:
        return self.reviews + self.re_reviews

    def to_json(self) -> dict[str, cjson.JsonValue]:
        return {
            "bureau_id": self.bureau_id,
            "reviews": self.reviews,
            "re_reviews": self.re_reviews,
            "total": self.total,
        }


@dataclass(frozen=True)
class PeriodStats:
    period: str
    bureaus: tuple[Figures, ...]
    total: Figures

    @property
    def most_reviewed(self) -> tuple[Complained, ...]:
        lines = [
            Complained(f.bureau_id, f.complained_reviews, f.complained_re_reviews)
            for f in self.bureaus
            if f.bureau_id is not None and f.complained_reviews + f.complained_re_reviews
        ]
        return tuple(sorted(lines, key=lambda line: (-line.total, line.bureau_id)))

    def bureau(self, bureau_id: str) -> Figures:
        for figures in self.bureaus:
            if figures.bureau_id == bureau_id:
                return figures
        raise KeyError(bureau_id)

    def to_json(self) -> dict[str, cjson.JsonValue]:
        return {
            "period": self.period,
            "bureaus": [figures.to_json() for figures in self.bureaus],
            "total": self.total.to_json(),
            "most_reviewed": [line.to_json() for line in self.most_reviewed],
        }


@dataclass(frozen=True)
class CaseStats:
    """The figures of a log of ``tree_size`` entries on ``today``, and the findings."""

    period: str
    today: date
    tree_size: int
    periods: tuple[PeriodStats, ...]
    problems: tuple[Problem, ...]

    def problem_counts(self) -> dict[str, int]:
        counts = Counter(problem.kind for problem in self.problems)
        return {kind: counts[kind] for kind in PROBLEM_KINDS}

    def get(self, period: str) -> PeriodStats:
        for stats in self.periods:
            if stats.period == period:
                return stats
        raise KeyError(period)

    def to_json(self) -> dict[str, cjson.JsonValue]:
        counts: dict[str, cjson.JsonValue] = dict(self.problem_counts())
        return {
            "format": FORMAT,
            "version": VERSION,
            "period": self.period,
            "today": format_day(self.today),
            "tree_size": self.tree_size,
            "periods": [stats.to_json() for stats in self.periods],
            "problem_counts": counts,
            "problems": [problem.to_json() for problem in self.problems],
        }

    def encode(self) -> bytes:
        """The canonical JSON bytes: what the server serves and the auditor compares."""
        return cjson.encode(self.to_json())


# -- counting --------------------------------------------------------------------------------


@dataclass
class _Placed:
    index: int
    entry: LogEntry
    day: date  # the day it is counted at (the log's day for a backdated entry)


class _Counter:
    def __init__(self, directory: Directory, period: str, today: date) -> None:
        self.directory = directory
        self.period = period
        self.today = today
        self.keys: dict[str, VerifyKey] = {b.bureau_id: b.signing_key for b in directory.bureaus}
        self.figures: dict[tuple[str, str], Figures] = {}
        self.bureau_ids: set[str] = set()
        self.periods: set[str] = set()
        self.problems: list[Problem] = []

    def at(self, period: str, bureau_id: str) -> Figures:
        self.bureau_ids.add(bureau_id)
        key = (period, bureau_id)
        if key not in self.figures:
            self.figures[key] = Figures(bureau_id)
        return self.figures[key]

    def problem(
        self, kind: str, index: int, message: str, entry: LogEntry, log_day: date | None = None
    ) -> None:
        self.problems.append(
            Problem(
                kind=kind,
                leaf_index=index,
                message=message,
                petition_id=entry.petition_id,
                bureau_id=entry.bureau_id,
                event=entry.event.value,
                day=entry.day,
                log_day=log_day,
            )
        )

    # -- the global pass: signatures and the log's days --

    def place(self, entries: Sequence[tuple[int, LogEntry]]) -> dict[str, list[_Placed]]:
        petitions: dict[str, list[_Placed]] = {}
        log_day: date | None = None
        for index, entry in entries:
            try:
                verify_entry_signature(entry, self.keys.get)
            except InvalidSignature as exc:
                self.problem("bad_signature", index, exc.message, entry)
                continue
            if entry.day > self.today:
                self.problem(
                    "future_day",
                    index,
                    f"dated {format_day(entry.day)}, after today ({format_day(self.today)})",
                    entry,
                )
                continue
            day = entry.day
            if log_day is not None and entry.day < log_day:
                day = log_day
                self.problem(
                    "backdated",
                    index,
                    f"dated {format_day(entry.day)} but appended after an entry of "
                    f"{format_day(log_day)}; counted at {format_day(log_day)}",
                    entry,
                    log_day,
                )
            else:
                log_day = entry.day
            petitions.setdefault(entry.petition_id, []).append(_Placed(index, entry, day))
        return petitions

    # -- one petition's history --

    def history(self, placed: list[_Placed]) -> None:
        steps: list[Step] = []
        started: list[tuple[Deadline, str]] = []  # every deadline so far, with who owes it
        handler: str | None = None
        answered_by: str | None = None
        received: date | None = None
        period = ""
        decided_once = False
        for position, item in enumerate(placed):
            entry = item.entry
            if entry.signed and handler is not None and entry.bureau_id != handler:
                self.problem(
                    "not_handling",
                    item.index,
                    f"signed by {entry.bureau_id}, but {handler} was handling the petition",
                    entry,
                )
                continue
            step = to_step(replace(entry, day=item.day))
            try:
                now = deadlines([*steps, step])
            except MalformedInput as exc:
                later = len(placed) - position - 1
                self.problem(
                    "impossible",
                    item.index,
                    f"{exc.message}; this entry and {later} later one(s) of the petition are "
                    "not counted",
                    entry,
                )
                break
            steps.append(step)
            # Who owes what this step starts: the bureau a case is sent to, else the bureau.
            owner = (entry.detail.to if entry.event in _ROUTED else None) or entry.bureau_id
            started = [(d, started[i][1]) for i, d in enumerate(now[: len(started)])]
            started += [(d, owner) for d in now[len(started) :]]

            if entry.event is Event.RECEIVED:
                received, handler = item.day, entry.bureau_id
                period = period_of(item.day, self.period)
                self.periods.add(period)
            if received is None:  # pragma: no cover - the clock requires "received" first
                return
            mine = self.at(period, entry.bureau_id)
            event = entry.event
            if event is Event.RECEIVED:
                mine.received += 1
            elif event in _ROUTED:
                destination = entry.detail.to or ""
                (mine.transferred if event is Event.TRANSFERRED else mine.assigned)[
                    destination
                ] += 1
                self.at(period, destination).transferred_in += 1
                handler, answered_by = destination, None
            elif event is Event.NOT_COMPETENT:
                mine.not_competent[entry.detail.to or ""] += 1
            elif event is Event.EXTENDED:
                mine.extended += 1
            elif event is Event.DECIDED:
                outcome = entry.detail.outcome
                mine.decided[outcome.value if outcome is not None else ""] += 1
                if not decided_once:
                    decided_once = True
                    mine.answer_days.append((item.day - received).days)
                answered_by = entry.bureau_id
            elif event in _REQUESTS:
                counter = mine.reviews if event is Event.REVIEW_REQUESTED else mine.re_reviews
                counter["requested"] += 1
                complained = answered_by or handler or entry.bureau_id
                target = self.at(period, complained)
                if event is Event.REVIEW_REQUESTED:
                    target.complained_reviews += 1
                else:
                    target.complained_re_reviews += 1
                handler, answered_by = entry.bureau_id, None
            elif event in (Event.REVIEWED, Event.RE_REVIEWED):
                counter = mine.reviews if event is Event.REVIEWED else mine.re_reviews
                outcome = entry.detail.outcome
                counter[outcome.value if isinstance(outcome, ReviewOutcome) else ""] += 1
                answered_by = entry.bureau_id
            elif event is Event.CLOSED:
                mine.closed += 1

        if received is None:
            return
        overdue_at: set[str] = set()
        for deadline, owner in started:
            name = _DUTY_OF.get(deadline.what)
            if name is None or deadline.kind is not Kind.BUREAU_DUTY:
                continue
            if deadline.what == "decide" and deadline.ended_by is Event.EXTENDED:
                continue  # counted once, as the extended duty that replaced it
            duty = self.at(period, owner).duties[name]
            if deadline.open:
                if deadline.due < self.today:
                    duty.overdue += 1
                    overdue_at.add(owner)
                else:
                    duty.running += 1
            elif deadline.in_time:
                duty.in_time += 1
            else:
                duty.late += 1
        for owner in overdue_at:
            self.at(period, owner).overdue += 1

    def result(self, tree_size: int) -> CaseStats:
        listed = [b.bureau_id for b in self.directory.bureaus]
        others = sorted(self.bureau_ids - set(listed))
        names = {b.bureau_id: b.name for b in self.directory.bureaus}
        parents = {p.bureau_id: p.parent for p in self.directory.places}
        periods: list[PeriodStats] = []
        for period in sorted(self.periods):
            bureaus: list[Figures] = []
            total = Figures(None)
            for bureau_id in [*listed, *others]:
                figures = self.figures.get((period, bureau_id), Figures(bureau_id))
                figures.name = names.get(bureau_id)
                figures.parent = parents.get(bureau_id)
                bureaus.append(figures)
                total.add(figures)
            periods.append(PeriodStats(period, tuple(bureaus), total))
        problems = sorted(self.problems, key=lambda p: (p.leaf_index, p.kind))
        return CaseStats(self.period, self.today, tree_size, tuple(periods), tuple(problems))


def _run(
    entries: Sequence[tuple[int, LogEntry]],
    malformed: Sequence[Problem],
    tree_size: int,
    directory: Directory,
    period: str,
    today: date,
) -> CaseStats:
    period_of(today, period)  # refuses an unknown period before anything is counted
    counter = _Counter(directory, period, today)
    counter.problems.extend(malformed)
    for placed in counter.place(entries).values():
        counter.history(placed)
    return counter.result(tree_size)


def count(
    entries: Sequence[LogEntry], directory: Directory, *, period: str, today: date
) -> CaseStats:
    """The figures of a verified log given as its entries, in log order from leaf 0."""
    return _run(list(enumerate(entries)), (), len(entries), directory, period, today)


def count_leaves(
    leaves: Sequence[bytes], directory: Directory, *, period: str, today: date
) -> CaseStats:
    """The figures of a verified log given as its leaves; a leaf that is not an entry is listed."""
    entries: list[tuple[int, LogEntry]] = []
    malformed: list[Problem] = []
    for index, leaf in enumerate(leaves):
        try:
            entries.append((index, LogEntry.from_leaf(leaf)))
        except MalformedInput as exc:
            malformed.append(Problem("malformed", index, exc.message))
    return _run(entries, malformed, len(leaves), directory, period, today)


def decode(data: bytes) -> dict[str, Any]:
    """Parse the canonical JSON of :meth:`CaseStats.encode` (another party's figures)."""
    value = cjson.decode_object(data)
    if value.get("format") != FORMAT or value.get("version") != VERSION:
        raise MalformedInput(f"not {FORMAT} version {VERSION}")
    return value
