"""The status page's content: the checked events, the statutory clock and Art. 30 warnings.

``client.petitioner`` decides (signatures, inclusion, the clock, transfers to the body
complained about); this module only says it in the reader's language, choosing each sentence by
a stable code (an event, a deadline, an action, a problem) and never showing the client's
English detail.
"""

from __future__ import annotations

from typing import Any

from cli_support.messages import article_text
from client.petitioner import Inclusion, ShownEvent, StatusReport
from crypto.statutory import Event, Kind
from webui.i18n import N_, Translator
from webui.messages import (
    ACTION_TEXT,
    DEADLINE_RULE_TEXT,
    DEADLINE_TEXT,
    EVENT_PROBLEM_TEXT,
    EVENT_TEXT,
    OUTCOME_TEXT,
    REASON_TEXT,
)

NOT_LISTED = N_("a bureau not in the directory (%(id)s)")
TO = N_("Sent to: %(bureau)s")
SHOULD_GO_TO = N_("Should go to: %(bureau)s")
EXTENDED_BY = N_("Extended by %(days)s days: %(reason)s")
OUTCOME = N_("Outcome: %(outcome)s")
CAME_WITH_REPLY = N_("The written notice or answer is reply %(number)s below.")
INCLUSION_TEXT = {
    Inclusion.PROVEN: N_("In the public log (checked)."),
    Inclusion.PENDING: N_("Logged after the log state checked now; the next lookup checks it."),
    Inclusion.UNCHECKED: N_("Not checked against the public log."),
    Inclusion.FAILED: N_("Not found in the public log."),
}
TRANSFER_WARNING = N_(
    "Warning: this sends your case to %(bureau)s, which your petition names as the body you "
    "complain about (or part of it). Articles 30 and 46(5) of the Regulations forbid passing a "
    "complaint to the body it is about."
)
ASK_NEXT_LEVEL = N_("You can ask %(bureau)s, one level above %(sender)s, to put this right.")
NO_NEXT_LEVEL = N_("The directory lists no level above %(sender)s.")
STATE_TEXT = {
    "running": N_("Running"),
    "overdue": N_("Overdue"),
    "open": N_("Open to you"),
    "lapsed": N_("Passed"),
}
DUE = N_("Due by %(day)s (%(article)s)")
DAYS_LEFT = N_("Days left: %(days)s")
DUE_TODAY = N_("The due day is today.")
DAYS_OVERDUE = N_("Days past the due day: %(days)s")
ARTICLE_19_BARRED = N_(
    "Art. 19: while a body is still within its time limit, the same petition brought to a "
    "higher level is not accepted. Wait for the answer, or until the due day has passed."
)
ARTICLE_19_FREE = N_("Art. 19 no longer holds the case at this level: the time limit has passed.")
CLOCK_UNKNOWN = N_(
    "The time limits cannot be worked out: the verified events are not a sequence the "
    "Regulations allow. Do not rely on this server."
)


def _bureau(name: str | None, bureau_id: str, t: Translator) -> str:
    return name or t.gettext(NOT_LISTED, id=bureau_id)


def event_view(shown: ShownEvent, t: Translator) -> dict[str, Any]:
    entry = shown.entry
    detail = entry.detail
    details = []
    if detail.to is not None:
        where = SHOULD_GO_TO if entry.event is Event.NOT_COMPETENT else TO
        details.append(t.gettext(where, bureau=_bureau(shown.to_name, detail.to, t)))
    if detail.days is not None and detail.reason is not None:
        reason = t.gettext(REASON_TEXT[detail.reason.value])
        details.append(t.gettext(EXTENDED_BY, days=detail.days, reason=reason))
    if detail.outcome is not None:
        outcome = t.gettext(OUTCOME_TEXT[detail.outcome.value])
        details.append(t.gettext(OUTCOME, outcome=outcome))
    if shown.reply_sequence is not None:
        details.append(t.gettext(CAME_WITH_REPLY, number=shown.reply_sequence + 1))
    warning: list[str] = []
    if shown.to_respondent is not None and detail.to is not None:
        sender = _bureau(shown.bureau_name, entry.bureau_id, t)
        warning.append(t.gettext(TRANSFER_WARNING, bureau=_bureau(shown.to_name, detail.to, t)))
        if shown.next_level is not None:
            warning.append(t.gettext(ASK_NEXT_LEVEL, bureau=shown.next_level[1], sender=sender))
        else:
            warning.append(t.gettext(NO_NEXT_LEVEL, sender=sender))
    return {
        "index": shown.leaf_index,
        "day": t.day(entry.day.isoformat()),
        "event": entry.event.value,
        "label": t.gettext(EVENT_TEXT[entry.event.value]),
        "at": _bureau(shown.bureau_name, entry.bureau_id, t),
        "details": details,
        "verified": shown.verified,
        "problems": [t.gettext(EVENT_PROBLEM_TEXT[p.code]) for p in shown.problems],
        "inclusion": t.gettext(INCLUSION_TEXT[shown.inclusion]),
        "warning": warning,
    }


def clock_view(report: StatusReport, t: Translator) -> dict[str, Any]:
    """The running deadline, the action the law gives, and Art. 19, as sentences."""
    clock = report.clock
    if clock is None:
        return {"unknown": t.gettext(CLOCK_UNKNOWN)}
    view: dict[str, Any] = {"unknown": None, "today": t.day(clock.today.isoformat())}
    deadline = clock.deadline
    if deadline is not None and clock.days_left is not None:
        if deadline.kind is Kind.PETITIONER_RIGHT:
            state = "lapsed" if clock.overdue else "open"
        else:
            state = "overdue" if clock.overdue else "running"
        if clock.days_left > 0:
            when = t.gettext(DAYS_LEFT, days=clock.days_left)
        elif clock.days_left == 0:
            when = t.gettext(DUE_TODAY)
        else:
            when = t.gettext(DAYS_OVERDUE, days=clock.days_overdue)
        view["deadline"] = {
            "state": state,
            "state_text": t.gettext(STATE_TEXT[state]),
            "what": t.gettext(DEADLINE_TEXT[deadline.what]),
            "due": t.gettext(
                DUE,
                day=t.day(deadline.due.isoformat()),
                article=article_text(deadline.article, t),
            ),
            "when": when,
            "rule": t.gettext(DEADLINE_RULE_TEXT[deadline.what]),
        }
    else:
        view["deadline"] = None
    action = clock.action
    view["action"] = None
    if action is not None:
        key = (action.code, "" if deadline is None else deadline.what)
        text = ACTION_TEXT.get(key)
        view["action"] = {
            "code": action.code,
            "text": t.gettext(text) if text is not None else action.rule,
            "article": article_text(action.article, t),
        }
    if clock.parallel_petition_barred:
        view["article_19"] = t.gettext(ARTICLE_19_BARRED)
    elif action is not None and action.code == "ask_next_level":
        view["article_19"] = t.gettext(ARTICLE_19_FREE)
    else:
        view["article_19"] = None
    return view
