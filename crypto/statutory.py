"""The statutory clocks of the 2022 Regulations on Letters and Visits Work (信访工作条例).

A petition's handling is a sequence of dated steps (:class:`Step`), one per lifecycle event
(:class:`Event`). :func:`deadlines` derives from that history every deadline the Regulations fix
that the events can express, each with the article it comes from and the entry that started it;
:func:`status` says, for a given day, which deadline is running, how many days are left or how
many days it is overdue, and what the Regulations let the petitioner do about it. Impossible
histories are refused with :class:`~crypto.errors.MalformedInput`.

This module is the pure clock: no wire format, no log entries, no I/O, and no clock of its own
(the caller passes ``today``). Issue 17 turns the events into signed public log entries.

The deadlines (days counted as explained below):

=========================  ====  ========  ==================  ===================================
code                       days  count     article             started by
=========================  ====  ========  ==================  ===================================
``acknowledge``            15    calendar  Art. 22; Art. 23    received, transferred, assigned
``object_not_competent``   5     working   Art. 23             transferred, assigned
``decide``                 60    calendar  Art. 34             acknowledged (acceptance)
``decide_extended``        60+n  calendar  Art. 34             extended (n <= 30, once per body)
``request_review``         30    calendar  Art. 35             decided (the written answer)
``answer_review``          30    calendar  Art. 35             review_requested
``request_re_review``      30    calendar  Art. 36             reviewed (the review opinion)
``answer_re_review``       30    calendar  Art. 36             re_review_requested
=========================  ====  ========  ==================  ===================================

Decisions where the text is silent or the events cannot tell:

* **Counting "within N days".** The Regulations do not say how a period is counted. Chinese law's
  usual rule (Civil Code Arts. 201 and 203; Civil Procedure Law Art. 85) leaves out the starting
  day and moves a last day that falls on a rest day to the next working day; a literal reading of
  "自...之日起" counts the starting day as day 1. The clock takes whichever reading is safer for
  the petitioner: a **body's duty** (Kind.BUREAU_DUTY, Kind.BUREAU_OPTION) uses the later reading
  (the starting day is not counted, day 1 is the next day, and a Saturday or Sunday due day moves
  to Monday), so that a deadline shown as missed is missed under every reading and a complaint
  built on it cannot be turned away as premature (Art. 19); a **petitioner's window**
  (Kind.PETITIONER_RIGHT) uses the earlier reading (the starting day is day 1, no move), so a
  petitioner who acts by the day shown is in time under every reading.
* **Working days** are Monday to Friday. The module does not know official holidays or the
  weekend days swapped to make them (调休): around them a working-day count, and the weekend move
  of a calendar-day due day, can be a few days off. This is a known limitation.
* **Receipt is the day of the entry.** A transfer, an assignment, a written answer and a request
  for review all travel through the system, so the receiving body (or the petitioner) is taken
  to have them on the day of the entry that records them.
* **Acceptance (受理) is the acknowledgement.** Art. 34 counts 60 days from acceptance; the only
  dated evidence of acceptance is the written notice (``acknowledged``), so a body may in effect
  take up to 15 + 60 days. A body that never acknowledges has no decision clock: what shows is
  its missed notice. A decision without an acknowledgement is allowed and ends the notice duty.
* **Art. 22 or Art. 23.** A petition bureau (Art. 22) registers and forwards within 15 days; any
  other body (Art. 23) tells the petitioner in writing within 15 days. Both count 15 days from
  receipt, and the events do not say which kind of body received the case, so one
  ``acknowledge`` deadline cites both and is met by any of the answers they allow
  (acknowledged, not competent, transferred, assigned, decided).
* **Art. 34 covers Art. 31(6) matters** (those answered with a 信访处理意见书). Matters routed into
  litigation, arbitration or an administrative procedure follow that procedure's own periods,
  which this module does not know; the history does not say which kind a case is.
* **Extension** (Art. 34): once per handling body, 1 to 30 days, with a reason, before the
  60 days run out. It lengthens the same period: the new due day is counted from acceptance.
* **Review of an overdue case.** Issue 17 lets a petitioner take an overdue case to the next
  level. Art. 35 speaks of review of a written answer; for a missed deadline the text gives the
  superior body's order to correct (Arts. 43, 44(3), 45(1)) without a day count. The clock
  accepts ``review_requested`` once a body's duty has passed and applies Art. 35's 30 days to
  the answer, saying so in the deadline's rule; ``re_review_requested`` likewise.
* **Closing** answers nothing: a ``closed`` entry ends no deadline, so a case closed without an
  answer stays overdue, and a petitioner's window stays open after it.
* **Not known to the module:** hearing time, which Art. 36 leaves out of the re-review period
  (a re-review with a hearing may show as overdue when it is not); the period a petition bureau
  sets for an assigned case (Art. 22(3)); Art. 23's exception for petitioners whose name or
  address is unclear.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum

from crypto.errors import MalformedInput

MAX_EXTENSION_DAYS = 30
"""Art. 34: an extension may not exceed 30 days."""


class Event(Enum):
    """The lifecycle events of a petition; the values will become log entry kinds."""

    RECEIVED = "received"
    ACKNOWLEDGED = "acknowledged"
    NOT_COMPETENT = "not_competent"
    TRANSFERRED = "transferred"
    ASSIGNED = "assigned"
    EXTENDED = "extended"
    DECIDED = "decided"
    REVIEW_REQUESTED = "review_requested"
    REVIEWED = "reviewed"
    RE_REVIEW_REQUESTED = "re_review_requested"
    RE_REVIEWED = "re_reviewed"
    CLOSED = "closed"


class DayCount(Enum):
    """Whether a deadline counts calendar days or working days (Monday to Friday)."""

    CALENDAR = "calendar"
    WORKING = "working"


class Kind(Enum):
    """Who acts before a deadline, and what passing it means."""

    BUREAU_DUTY = "bureau_duty"
    """A body must act by the due day; passing it is a breach."""
    BUREAU_OPTION = "bureau_option"
    """A body may act until the due day (object to a transfer); after it, the option is gone."""
    PETITIONER_RIGHT = "petitioner_right"
    """The petitioner may act until the due day; after it, the right has lapsed."""


@dataclass(frozen=True)
class Step:
    """One event in a petition's handling, on one day.

    ``extension_days`` and ``reason`` belong to :attr:`Event.EXTENDED` only, and are required
    there (Art. 34: at most 30 days, and the reason is told to the petitioner).
    """

    event: Event
    day: datetime.date
    extension_days: int | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.event is Event.EXTENDED:
            if self.extension_days is None or not self.reason:
                raise MalformedInput(
                    "an extension needs its number of days and its reason (Art. 34)"
                )
            if not 1 <= self.extension_days <= MAX_EXTENSION_DAYS:
                raise MalformedInput(
                    f"an extension of {self.extension_days} days: Art. 34 allows 1 to "
                    f"{MAX_EXTENSION_DAYS}"
                )
        elif self.extension_days is not None or self.reason is not None:
            raise MalformedInput(
                f"only an extension carries days and a reason, not {self.event.value!r}"
            )


@dataclass(frozen=True)
class Deadline:
    """A statutory deadline started by one step of the history.

    ``due`` is the last day on which acting is in time. ``ended_on`` and ``ended_by`` are the
    day and event of the step that ended it (met it, moved it elsewhere, or replaced it by an
    extension), or ``None`` while it is open.
    """

    what: str
    due: datetime.date
    article: str
    rule: str
    days: int
    count: DayCount
    kind: Kind
    started_on: datetime.date
    ended_on: datetime.date | None = None
    ended_by: Event | None = None

    @property
    def open(self) -> bool:
        return self.ended_on is None

    @property
    def in_time(self) -> bool | None:
        """Whether the step that ended it came by the due day; ``None`` while it is open."""
        return None if self.ended_on is None else self.ended_on <= self.due


@dataclass(frozen=True)
class Action:
    """What the Regulations let the petitioner do now: a stable code, the article, a sentence."""

    code: str
    article: str
    rule: str


@dataclass(frozen=True)
class ClockStatus:
    """The clock on one day.

    ``deadline`` is the one that matters now: the earliest missed duty, else the running duty or
    petitioner's window with the nearest due day (a body's option to object is in ``open``
    only), else the petitioner's window that lapsed last. ``days_left`` is ``due - today`` (0 on
    the due day itself, negative once it has passed). ``action`` is what the
    petitioner can do: about a missed duty, with a window that is running, or nothing more.
    ``parallel_petition_barred`` is Art. 19's rule: while a body is within its time, the same
    petition brought to its superior is not accepted.
    """

    today: datetime.date
    deadline: Deadline | None
    days_left: int | None
    action: Action | None
    open: tuple[Deadline, ...]
    parallel_petition_barred: bool

    @property
    def overdue(self) -> bool:
        return self.days_left is not None and self.days_left < 0

    @property
    def days_overdue(self) -> int:
        return -self.days_left if self.days_left is not None and self.days_left < 0 else 0


# What each deadline is: (days, count, kind, article, rule, events that end it).
_ANSWERS_AT_BODY = frozenset(
    {
        Event.ACKNOWLEDGED,
        Event.NOT_COMPETENT,
        Event.TRANSFERRED,
        Event.ASSIGNED,
        Event.DECIDED,
        Event.REVIEW_REQUESTED,
    }
)
_OVERDUE_REVIEW_NOTE = (
    " When the review is requested because a deadline passed, the text fixes no period; the"
    " project applies the same 30 days."
)


@dataclass(frozen=True)
class _Rule:
    days: int
    count: DayCount
    kind: Kind
    article: str
    rule: str
    enders: frozenset[Event]


_RULES: dict[str, _Rule] = {
    "acknowledge": _Rule(
        15,
        DayCount.CALENDAR,
        Kind.BUREAU_DUTY,
        "Art. 22; Art. 23",
        "Within 15 days of receiving a petition, the body registers it and either forwards it"
        " to the competent body or tells the petitioner in writing that it took it up, where it"
        " sent it, or where to take it.",
        _ANSWERS_AT_BODY,
    ),
    "object_not_competent": _Rule(
        5,
        DayCount.WORKING,
        Kind.BUREAU_OPTION,
        "Art. 23",
        "A body sent a petition outside its powers may object, with reasons, within 5 working"
        " days of receiving it.",
        _ANSWERS_AT_BODY,
    ),
    "decide": _Rule(
        60,
        DayCount.CALENDAR,
        Kind.BUREAU_DUTY,
        "Art. 34",
        "A petition taken up for an answer is concluded within 60 days of its acceptance.",
        frozenset(
            {
                Event.DECIDED,
                Event.EXTENDED,
                Event.TRANSFERRED,
                Event.ASSIGNED,
                Event.REVIEW_REQUESTED,
            }
        ),
    ),
    "decide_extended": _Rule(
        60,
        DayCount.CALENDAR,
        Kind.BUREAU_DUTY,
        "Art. 34",
        "A complex case may be extended once, by at most 30 days, with the approval of the"
        " body's head and the reason told to the petitioner.",
        frozenset({Event.DECIDED, Event.TRANSFERRED, Event.ASSIGNED, Event.REVIEW_REQUESTED}),
    ),
    "request_review": _Rule(
        30,
        DayCount.CALENDAR,
        Kind.PETITIONER_RIGHT,
        "Art. 35",
        "A petitioner who disagrees with the written answer may ask the body one level up for a"
        " review within 30 days of receiving it.",
        frozenset({Event.REVIEW_REQUESTED}),
    ),
    "answer_review": _Rule(
        30,
        DayCount.CALENDAR,
        Kind.BUREAU_DUTY,
        "Art. 35",
        "The body asked for a review answers in writing with its review opinion within 30 days"
        " of receiving the request.",
        frozenset({Event.REVIEWED, Event.RE_REVIEW_REQUESTED}),
    ),
    "request_re_review": _Rule(
        30,
        DayCount.CALENDAR,
        Kind.PETITIONER_RIGHT,
        "Art. 36",
        "A petitioner who disagrees with the review opinion may ask the body one level above"
        " the reviewer for a re-review within 30 days of receiving it.",
        frozenset({Event.RE_REVIEW_REQUESTED}),
    ),
    "answer_re_review": _Rule(
        30,
        DayCount.CALENDAR,
        Kind.BUREAU_DUTY,
        "Art. 36",
        "The body asked for a re-review gives its re-review opinion within 30 days of receiving"
        " the request, not counting time spent on a hearing.",
        frozenset({Event.RE_REVIEWED}),
    ),
}

_DUTIES_AT_BODY = ("acknowledge", "decide", "decide_extended")


def _next_working_day(day: datetime.date) -> datetime.date:
    while day.weekday() >= 5:
        day += datetime.timedelta(days=1)
    return day


def _due(start: datetime.date, days: int, count: DayCount, kind: Kind) -> datetime.date:
    """The last day in time, by the counting rule of the module docstring."""
    if count is DayCount.WORKING:
        day, left = start, days
        while left:
            day += datetime.timedelta(days=1)
            if day.weekday() < 5:
                left -= 1
        return day
    if kind is Kind.PETITIONER_RIGHT:
        return start + datetime.timedelta(days=days - 1)
    return _next_working_day(start + datetime.timedelta(days=days))


class _Phase(Enum):
    NEW = "new"
    AT_BODY = "at_body"  # received, transferred or assigned: not yet accepted
    HANDLING = "handling"  # acknowledged (accepted)
    NOT_COMPETENT = "not_competent"
    DECIDED = "decided"
    IN_REVIEW = "in_review"
    REVIEWED = "reviewed"
    IN_RE_REVIEW = "in_re_review"
    RE_REVIEWED = "re_reviewed"


_NEXT: dict[_Phase, frozenset[Event]] = {
    _Phase.NEW: frozenset({Event.RECEIVED}),
    _Phase.AT_BODY: frozenset(
        {
            Event.ACKNOWLEDGED,
            Event.NOT_COMPETENT,
            Event.TRANSFERRED,
            Event.ASSIGNED,
            Event.DECIDED,
            Event.CLOSED,
        }
    ),
    _Phase.HANDLING: frozenset(
        {Event.EXTENDED, Event.DECIDED, Event.TRANSFERRED, Event.ASSIGNED, Event.CLOSED}
    ),
    _Phase.NOT_COMPETENT: frozenset({Event.TRANSFERRED, Event.ASSIGNED, Event.CLOSED}),
    _Phase.DECIDED: frozenset({Event.REVIEW_REQUESTED, Event.CLOSED}),
    _Phase.IN_REVIEW: frozenset({Event.REVIEWED, Event.CLOSED}),
    _Phase.REVIEWED: frozenset({Event.RE_REVIEW_REQUESTED, Event.CLOSED}),
    _Phase.IN_RE_REVIEW: frozenset({Event.RE_REVIEWED, Event.CLOSED}),
    _Phase.RE_REVIEWED: frozenset({Event.CLOSED}),
}
_STATE = {
    _Phase.NEW: "not yet received",
    _Phase.AT_BODY: "received and not yet accepted",
    _Phase.HANDLING: "accepted and not yet decided",
    _Phase.NOT_COMPETENT: "declared outside the body's powers",
    _Phase.DECIDED: "decided",
    _Phase.IN_REVIEW: "awaiting review",
    _Phase.REVIEWED: "reviewed",
    _Phase.IN_RE_REVIEW: "awaiting re-review",
    _Phase.RE_REVIEWED: "re-reviewed",
}
_PETITIONER_REQUESTS = frozenset({Event.REVIEW_REQUESTED, Event.RE_REVIEW_REQUESTED})


class _Clock:
    """Walks a history once, checking order and collecting deadlines."""

    def __init__(self) -> None:
        self.phase = _Phase.NEW
        self.closed = False
        self.extended_here = False
        self.last_day: datetime.date | None = None
        self.deadlines: list[Deadline] = []

    def _open(self, what: str) -> Deadline | None:
        for deadline in self.deadlines:
            if deadline.what == what and deadline.open:
                return deadline
        return None

    def _start(self, what: str, day: datetime.date, days: int | None = None) -> None:
        rule = _RULES[what]
        n = rule.days if days is None else days
        text = rule.rule
        if what == "answer_review" and self.phase is not _Phase.DECIDED:
            text += _OVERDUE_REVIEW_NOTE
        if what == "answer_re_review" and self.phase is not _Phase.REVIEWED:
            text += _OVERDUE_REVIEW_NOTE
        self.deadlines.append(
            Deadline(
                what=what,
                due=_due(day, n, rule.count, rule.kind),
                article=rule.article,
                rule=text,
                days=n,
                count=rule.count,
                kind=rule.kind,
                started_on=day,
            )
        )

    def _passed_duty(self, names: Sequence[str], day: datetime.date) -> bool:
        return any((d := self._open(name)) is not None and d.due < day for name in names)

    def _allowed(self, event: Event, day: datetime.date) -> bool:
        if self.closed and event not in _PETITIONER_REQUESTS:
            return False
        if event in _NEXT[self.phase]:
            return True
        # Issue 17: an overdue case can be taken to the next level.
        if event is Event.REVIEW_REQUESTED and self.phase in (_Phase.AT_BODY, _Phase.HANDLING):
            return self._passed_duty(_DUTIES_AT_BODY, day)
        if event is Event.RE_REVIEW_REQUESTED and self.phase is _Phase.IN_REVIEW:
            return self._passed_duty(("answer_review",), day)
        return False

    def step(self, index: int, step: Step) -> None:
        where = f"entry {index} ({step.event.value}, {step.day.isoformat()})"
        if self.last_day is not None and step.day < self.last_day:
            raise MalformedInput(
                f"{where} is dated before the entry before it ({self.last_day.isoformat()})"
            )
        if not self._allowed(step.event, step.day):
            raise MalformedInput(f"{where} cannot follow {self._describe()}")
        if step.event is Event.EXTENDED:
            self._check_extension(where, step)
        self.last_day = step.day

        for i, deadline in enumerate(self.deadlines):
            if deadline.open and step.event in _RULES[deadline.what].enders:
                self.deadlines[i] = replace(deadline, ended_on=step.day, ended_by=step.event)

        event, day = step.event, step.day
        if event is Event.RECEIVED:
            self._start("acknowledge", day)
            self.phase = _Phase.AT_BODY
        elif event in (Event.TRANSFERRED, Event.ASSIGNED):
            self._start("acknowledge", day)
            self._start("object_not_competent", day)
            self.phase, self.extended_here = _Phase.AT_BODY, False
        elif event is Event.ACKNOWLEDGED:
            self._start("decide", day)
            self.phase = _Phase.HANDLING
        elif event is Event.NOT_COMPETENT:
            self.phase = _Phase.NOT_COMPETENT
        elif event is Event.EXTENDED:
            first = next(d for d in reversed(self.deadlines) if d.what == "decide")
            extra = step.extension_days or 0  # never 0: Step checks it
            self._start("decide_extended", first.started_on, first.days + extra)
            self.extended_here = True
        elif event is Event.DECIDED:
            self._start("request_review", day)
            self.phase = _Phase.DECIDED
        elif event is Event.REVIEW_REQUESTED:
            self._start("answer_review", day)
            self.phase, self.closed = _Phase.IN_REVIEW, False
        elif event is Event.REVIEWED:
            self._start("request_re_review", day)
            self.phase = _Phase.REVIEWED
        elif event is Event.RE_REVIEW_REQUESTED:
            self._start("answer_re_review", day)
            self.phase, self.closed = _Phase.IN_RE_REVIEW, False
        elif event is Event.RE_REVIEWED:
            self.phase = _Phase.RE_REVIEWED
        else:  # Event.CLOSED
            self.closed = True

    def _check_extension(self, where: str, step: Step) -> None:
        if self.extended_here:
            raise MalformedInput(f"{where}: a second extension; Art. 34 allows one")
        decide = self._open("decide")
        if decide is None:  # pragma: no cover - HANDLING always has an open "decide"
            raise MalformedInput(f"{where}: nothing to extend")
        if step.day > decide.due:
            raise MalformedInput(
                f"{where}: the 60 days ran out on {decide.due.isoformat()}; an extension must "
                "come before (Art. 34)"
            )

    def _describe(self) -> str:
        if self.phase is _Phase.NEW:
            return "the start of a history (the first entry must be 'received')"
        state = _STATE[self.phase]
        return f"a closed case ({state})" if self.closed else f"a case {state}"


def _walk(steps: Sequence[Step]) -> _Clock:
    clock = _Clock()
    for index, step in enumerate(steps, start=1):
        clock.step(index, step)
    return clock


def deadlines(steps: Sequence[Step]) -> list[Deadline]:
    """Every deadline this history has started, in the order started, open or ended.

    Raises :class:`~crypto.errors.MalformedInput` for an impossible history.
    """
    return list(_walk(steps).deadlines)


_MISSED: dict[str, Action] = {
    "acknowledge": Action(
        "ask_next_level",
        "Art. 43; Art. 44(3)",
        "The body did not answer within 15 days: its superior body orders it to put this right;"
        " the petitioner can take the case to the next level.",
    ),
    "decide": Action(
        "ask_next_level",
        "Art. 45(1)",
        "The body did not conclude the case in time: its superior body orders it to put this"
        " right; the petitioner can take the case to the next level.",
    ),
    "answer_review": Action(
        "ask_next_level",
        "Art. 45(1)",
        "The reviewing body did not answer within 30 days: its superior body orders it to put"
        " this right; the petitioner can ask for a re-review.",
    ),
    "answer_re_review": Action(
        "ask_next_level",
        "Art. 45(1)",
        "The re-reviewing body did not answer within 30 days: its superior body orders it to"
        " put this right.",
    ),
}
_MISSED["decide_extended"] = _MISSED["decide"]
_WINDOW_OPEN: dict[str, Action] = {
    "request_review": Action(
        "request_review",
        "Art. 35",
        "The petitioner may ask the body one level up to review the written answer.",
    ),
    "request_re_review": Action(
        "request_re_review",
        "Art. 36",
        "The petitioner may ask the body one level above the reviewer for a re-review.",
    ),
}
_WINDOW_LAPSED: dict[str, Action] = {
    "request_review": Action(
        "answer_stands",
        "Art. 35",
        "The 30 days to ask for a review have passed; the written answer stands.",
    ),
    "request_re_review": Action(
        "answer_stands",
        "Art. 36",
        "The 30 days to ask for a re-review have passed; the review opinion stands.",
    ),
}
FINAL = Action(
    "final",
    "Art. 36",
    "After a re-review, a complaint on the same facts and reasons is not accepted again.",
)


def status(steps: Sequence[Step], today: datetime.date) -> ClockStatus:
    """The clock of this history on ``today`` (see :class:`ClockStatus`).

    Raises :class:`~crypto.errors.MalformedInput` for an impossible history or a ``today`` before
    its last entry.
    """
    clock = _walk(steps)
    if clock.last_day is not None and today < clock.last_day:
        raise MalformedInput(
            f"today ({today.isoformat()}) is before the last entry ({clock.last_day.isoformat()})"
        )
    still_open = tuple(d for d in clock.deadlines if d.open)
    duties = [d for d in still_open if d.kind is Kind.BUREAU_DUTY]
    missed = sorted((d for d in duties if d.due < today), key=lambda d: d.due)
    running = sorted(
        (d for d in still_open if d.kind is not Kind.BUREAU_OPTION and d.due >= today),
        key=lambda d: d.due,
    )
    lapsed = sorted(
        (d for d in still_open if d.kind is Kind.PETITIONER_RIGHT and d.due < today),
        key=lambda d: d.due,
        reverse=True,
    )
    barred = any(d.due >= today for d in duties)

    deadline: Deadline | None = None
    action: Action | None = None
    if missed:
        deadline = missed[0]
        action = _MISSED[deadline.what]
    elif running:
        deadline = running[0]
        action = _WINDOW_OPEN.get(deadline.what)
    elif lapsed:
        deadline = lapsed[0]
        action = _WINDOW_LAPSED[deadline.what]
    elif clock.phase is _Phase.RE_REVIEWED:
        action = FINAL
    return ClockStatus(
        today=today,
        deadline=deadline,
        days_left=None if deadline is None else (deadline.due - today).days,
        action=action,
        open=still_open,
        parallel_petition_barred=barred,
    )
