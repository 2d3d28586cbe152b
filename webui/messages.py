"""Plain-language text for everything that can go wrong, chosen by stable error code.

The client's exceptions carry English sentences for the command line and a stable ``code``
(client/errors.py, crypto/errors.py); the UI picks its own translated sentence by that code
and never shows the English detail, which may name files or mention things a petitioner
cannot act on.
"""

from __future__ import annotations

from cli_support.messages import ACTION_TEXT as ACTION_TEXT
from cli_support.messages import ARTICLE as ARTICLE
from cli_support.messages import ARTICLE_ITEM as ARTICLE_ITEM
from cli_support.messages import DEADLINE_RULE_TEXT as DEADLINE_RULE_TEXT
from cli_support.messages import ERROR_TEXT as CLI_ERROR_TEXT
from cli_support.messages import EVENT_TEXT as EVENT_TEXT
from cli_support.messages import ID_RULE_TEXT as ID_RULE_TEXT
from cli_support.messages import OUTCOME_TEXT as OUTCOME_TEXT
from cli_support.messages import REASON_TEXT as REASON_TEXT
from client.errors import ServerRefused
from crypto.errors import InvalidIdNumber, SealedPetitionError
from webui.i18n import N_, Translator

#: The codes whose sentence is the command line's, word for word (cli_support/messages.py
#: holds it; same msgid, one translation). The network failures among them say what happened;
#: what it cost is said by the page (CONSEQUENCE).
SHARED_ERROR_CODES = (
    "server_unreachable",
    "server_busy",
    "server_name_unknown",
    "tls_failed",
    "fingerprint_mismatch",
    "petition_not_found",
    "invalid_receipt_code",
    "invalid_id_number",
)
#: By exception code: the shared sentences, then those worded for a page (which say what to
#: do on the page, not which command to run).
ERROR_TEXT = {
    **{code: CLI_ERROR_TEXT[code] for code in SHARED_ERROR_CODES},
    "directory_untrusted": N_(
        "The list of bureaus sent by the server is not signed by the directory authority you "
        "trusted with petition init. It may have been tampered with, so nothing was sent."
    ),
    "server_misbehaved": N_(
        "The petition server answered something that does not verify (for example a receipt "
        "that is not correctly signed). Nothing was accepted as proof; try again later, and "
        "if this repeats, do not rely on this server."
    ),
    "not_initialised": N_(
        "No petition server is set up on this device yet. Open the start page to set it up."
    ),
    "client_state_invalid": N_(
        "The settings of this program on this device are damaged. Run petition init again."
    ),
    "directory_stale": N_(
        "The list of bureaus kept on this device is more than 30 days old, and a bureau's keys "
        "may have changed since, so nothing can be sealed with it. Connect this device to the "
        "Internet once and open the start page: the list is then renewed."
    ),
    "queue_unwritable": N_(
        "The folder for later delivery cannot take the sealed petition (it was removed, is "
        "full or not allowed). Nothing was sealed into it, and what you wrote is kept here. "
        "Please tell the helper."
    ),
    "unknown_bureau": N_("This bureau is not in the verified list of bureaus (any more)."),
    "wrong_passphrase": N_(
        "The passphrase does not open this receipt file (or the file was changed)."
    ),
    "keystore_invalid": N_("This file is not a saved receipt of this program."),
    "unsupported_version": N_(
        "The petition server uses a version of the petition protocol that this program does "
        "not support. Install the current version of this program. Nothing was submitted."
    ),
    "too_large": N_("The petition with its attachments is larger than the 16 MiB limit."),
    "invalid_input": N_("An attachment cannot be used (its name or size is not allowed)."),
    "schema_violation": N_("A field is not filled in correctly."),
}

#: By the server's error code, for :class:`ServerRefused`.
SERVER_REFUSAL_TEXT = {
    "stale_bureau_key": N_(
        "The bureau's key changed while you were writing. Submit again: the new key is used."
    ),
    "rate_limited": ERROR_TEXT["server_busy"],
    "too_large": ERROR_TEXT["too_large"],
    "unknown_bureau": ERROR_TEXT["unknown_bureau"],
    "unsupported_version": ERROR_TEXT["unsupported_version"],
}
#: The network failures whose sentence is followed by what the failure cost on this page.
NETWORK_CODES = frozenset(
    {"server_unreachable", "server_busy", "server_name_unknown", "tls_failed"}
)
#: What a network failure cost, by the page it happened on: nothing had been written on the
#: start page, and a lookup is not a submission.
CONSEQUENCE = {
    "start": N_("Nothing was sent, and you had not written anything yet."),
    "review": N_("Nothing was submitted: your petition is kept in this window."),
    "status": N_("Nothing was looked up. Try again later."),
    "setup": N_("Nothing was saved."),
}
SERVER_REFUSED = N_("The petition server refused the request (%(code)s). Nothing was submitted.")
UNEXPECTED = N_("Something went wrong (%(code)s). Nothing was submitted.")


#: By :attr:`ReadReply.problem_code`.
REPLY_PROBLEM_TEXT = {
    "bad_signature": N_("Not shown: the bureau's signature on this reply does not verify."),
    "misplaced": N_("Not shown: this reply was signed for another petition or position."),
    "undecryptable": N_("Not shown: this reply cannot be decrypted with this receipt code."),
}


#: What each deadline of crypto.statutory waits for, by its code.
DEADLINE_TEXT = {
    "acknowledge": N_(
        "A written notice: taken up, sent on to the competent body, or where to take it"
    ),
    "object_not_competent": N_("The receiving body may object that the case is not for it"),
    "decide": N_("The written answer"),
    "decide_extended": N_("The written answer (time limit extended)"),
    "request_review": N_("Your request for a review by the next level"),
    "answer_review": N_("The review opinion"),
    "request_re_review": N_("Your request for a re-review"),
    "answer_re_review": N_("The re-review opinion"),
}


#: By :attr:`client.petitioner.EventProblem.code`.
EVENT_PROBLEM_TEXT = {
    "bad_signature": N_(
        "Not verified: this entry is not signed by the bureau it names. It is not counted."
    ),
    "other_petition": N_(
        "Not verified: this entry belongs to another petition. It is not counted."
    ),
    "not_in_log": N_(
        "Not verified: the public log does not hold this entry where the server says. It is "
        "not counted."
    ),
}


#: Pages for HTTP errors and refusals: (title, explanation).
HTTP_ERROR_TEXT = {
    400: (N_("Bad request"), N_("The browser sent a request this page cannot use.")),
    403: (
        N_("Not allowed"),
        N_(
            "Open the address that petition ui printed in its terminal: it contains a secret "
            "for this launch. Other programs and web pages cannot use this interface."
        ),
    ),
    404: (
        N_("Not found"),
        N_(
            "This page does not exist, or it belonged to an earlier launch of petition ui "
            "(drafts and receipts are kept only while the program runs)."
        ),
    ),
    405: (N_("Not allowed"), N_("This page cannot be used this way.")),
    413: (
        N_("Too large"),
        N_("What was sent is too large. A petition with its attachments is limited to 16 MiB."),
    ),
    421: (
        N_("Wrong address"),
        N_(
            "This interface answers only at the address 127.0.0.1 or localhost with its own "
            "port. Another web site tried to reach it under its own name; it was refused."
        ),
    ),
    500: (
        N_("Internal error"),
        N_("Something went wrong inside this program. Nothing was submitted."),
    ),
}
CSRF_REFUSED = (
    N_("Form not accepted"),
    N_(
        "This form did not come from this page of petition ui, or it is from an earlier "
        "launch. Nothing was done. Go back, reload the page and send it again."
    ),
)


def describe(error: SealedPetitionError, t: Translator, page: str = "") -> str:
    """One sentence in the reader's language for a failure of the petition logic.

    ``page`` (a key of :data:`CONSEQUENCE`) adds what a network failure cost there: "what you
    wrote is kept" is true on the review page and false on the start page.
    """
    if isinstance(error, InvalidIdNumber):
        return t.gettext(ID_RULE_TEXT.get(error.rule, ERROR_TEXT["invalid_id_number"]))
    code = error.code
    if isinstance(error, ServerRefused):
        known = SERVER_REFUSAL_TEXT.get(error.server_code)
        if known is None:
            return t.gettext(SERVER_REFUSED, code=error.server_code)
        code = "server_busy" if error.server_code == "rate_limited" else code
    else:
        known = ERROR_TEXT.get(code)
    if known is None:
        return t.gettext(UNEXPECTED, code=code)
    text = t.gettext(known)
    if code in NETWORK_CODES and page in CONSEQUENCE:
        text = f"{text} {t.gettext(CONSEQUENCE[page])}"
    return text
