"""Messages both user interfaces show, in the shared catalogs (cli_support/i18n.py).

The web UI (webui/messages.py, webui/timeline.py) and the command line (client/cli/) show the
same words for the same thing: an ID number's mistake by its rule, a public event, outcome or
reason by its value; a deadline's rule, what the law then lets the petitioner do, and the
articles of the Regulations. Each table holds msgids marked with ``N_``, translated where shown.
"""

from __future__ import annotations

import re

from cli_support.i18n import N_, Translator

#: By the rule of :class:`InvalidIdNumber` (crypto/idnumber.py).
ID_RULE_TEXT = {
    "empty": N_("Enter your ID number."),
    "length": N_("A resident ID number has 18 characters; check that none is missing or extra."),
    "characters": N_("Only digits are allowed, and X only as the 18th character."),
    "birth_date": N_("Characters 7 to 14 must be a real birth date (YYYYMMDD) in the past."),
    "check_digit": N_(
        "The last character does not match the first 17: one character is probably mistyped."
    ),
}

#: The public events of a petition (crypto.statutory.Event), by value.
EVENT_TEXT = {
    "received": N_("Received"),
    "acknowledged": N_("Taken up (written notice)"),
    "not_competent": N_("Not within this body's powers"),
    "transferred": N_("Transferred"),
    "assigned": N_("Assigned"),
    "extended": N_("Time limit extended"),
    "decided": N_("Written answer given"),
    "review_requested": N_("Review requested"),
    "reviewed": N_("Reviewed"),
    "re_review_requested": N_("Re-review requested"),
    "re_reviewed": N_("Re-reviewed"),
    "closed": N_("Closed"),
}

#: The public outcome of a decision or review (crypto.case_event), by value.
OUTCOME_TEXT = {
    "supported": N_("request supported"),
    "explained": N_("explained"),
    "not_supported": N_("request not supported"),
    "upheld": N_("answer upheld"),
    "changed": N_("answer changed or overturned"),
}

#: The public reason category of an extension (crypto.case_event.ExtensionReason), by value.
REASON_TEXT = {
    "complex_facts": N_("complex facts"),
    "further_investigation": N_("further investigation needed"),
    "several_bodies": N_("several bodies involved"),
    "expert_opinion": N_("an expert opinion is needed"),
    "other": N_("another reason"),
}

#: The rule behind each deadline, in plain words (crypto.statutory's rules), by its code.
DEADLINE_RULE_TEXT = {
    "acknowledge": N_(
        "Within 15 days of receiving a petition, the body registers it and tells you in "
        "writing that it took it up, where it sent it, or where to take it."
    ),
    "object_not_competent": N_(
        "A body sent a petition outside its powers may object, with reasons, within 5 working "
        "days of receiving it."
    ),
    "decide": N_(
        "A petition taken up is concluded with a written answer within 60 days of its acceptance."
    ),
    "decide_extended": N_(
        "A complex case may be extended once, by at most 30 days, and the reason is told to you."
    ),
    "request_review": N_(
        "If you disagree with the written answer, you may ask the body one level up for a "
        "review within 30 days of receiving it."
    ),
    "answer_review": N_(
        "The body asked for a review answers in writing within 30 days of receiving the request."
    ),
    "request_re_review": N_(
        "If you disagree with the review opinion, you may ask the body one level above the "
        "reviewer for a re-review within 30 days of receiving it."
    ),
    "answer_re_review": N_(
        "The body asked for a re-review answers within 30 days of receiving the request, not "
        "counting time spent on a hearing."
    ),
}

#: What the Regulations let the petitioner do (crypto.statutory.Action), by (code, deadline).
ACTION_TEXT = {
    ("ask_next_level", "acknowledge"): N_(
        "The body did not answer within 15 days. Its superior body is to order it to put this "
        "right, and you can take the case to the next level."
    ),
    ("ask_next_level", "decide"): N_(
        "The body did not conclude the case in time. Its superior body is to order it to put "
        "this right, and you can take the case to the next level."
    ),
    ("ask_next_level", "answer_review"): N_(
        "The reviewing body did not answer within 30 days. Its superior body is to order it to "
        "put this right, and you can ask for a re-review."
    ),
    ("ask_next_level", "answer_re_review"): N_(
        "The re-reviewing body did not answer within 30 days. Its superior body is to order it "
        "to put this right."
    ),
    ("request_review", "request_review"): N_(
        "You may ask the body one level up to review the written answer."
    ),
    ("request_re_review", "request_re_review"): N_(
        "You may ask the body one level above the reviewer for a re-review."
    ),
    ("answer_stands", "request_review"): N_(
        "The 30 days to ask for a review have passed; the written answer stands."
    ),
    ("answer_stands", "request_re_review"): N_(
        "The 30 days to ask for a re-review have passed; the review opinion stands."
    ),
    ("final", ""): N_(
        "After a re-review, a complaint on the same facts and reasons is not accepted again."
    ),
}
ACTION_TEXT[("ask_next_level", "decide_extended")] = ACTION_TEXT[("ask_next_level", "decide")]

#: One article of the Regulations: "Art. 34" or "Art. 44(3)".
ARTICLE = N_("Art. %(number)s")
ARTICLE_ITEM = N_("Art. %(number)s, item %(item)s")
_ARTICLE = re.compile(r"Art\. (\d+)(?:\((\d+)\))?")


def article_text(article: str, t: Translator) -> str:
    """ "Art. 43; Art. 44(3)" in the reader's language, each article translated."""
    parts = []
    for number, item in _ARTICLE.findall(article):
        if item:
            parts.append(t.gettext(ARTICLE_ITEM, number=number, item=item))
        else:
            parts.append(t.gettext(ARTICLE, number=number))
    return ("、" if t.language == "zh" else "; ").join(parts) or article
