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


# --- Errors raised deep in client/ and crypto/, told on the command line (petition/cli.py) -------

#: By the stable ``code`` of crypto/errors.py and client/errors.py: what happened and what to do,
#: said on the command line by ``petition/cli.py`` in a language other than English (the English
#: line stays the error's own sentence). No sentence says "nothing was sent" unless that holds for
#: every command that can raise the code. An InvalidIdNumber is told by its rule (ID_RULE_TEXT);
#: this table's entry is for a rule it does not know.
ERROR_TEXT = {
    # crypto/errors.py
    "malformed": N_(
        "This data cannot be read: it is not in the required format (a damaged or altered "
        "file, or a faulty answer)."
    ),
    "schema_violation": N_(
        "This data cannot be used: a part of it is missing, unknown or out of range."
    ),
    "unsupported_version": N_(
        "This data is of a protocol version this program does not accept. Install the current "
        "version of this program, or get the data again."
    ),
    "too_large": N_(
        "This is larger than the protocol allows (a petition with its attachments is limited "
        "to 16 MiB)."
    ),
    "invalid_id_number": N_("The ID number is not valid."),
    "unknown_id_scheme": N_("This program does not support this kind of identity number."),
    "decryption_failed": N_(
        "This cannot be decrypted with this key: the key or receipt code is a wrong one, or "
        "the content was changed."
    ),
    "invalid_signature": N_(
        "A signature does not verify: the data is not signed by whom it must be, or it was "
        "changed. Do not rely on it."
    ),
    "untrusted_key": N_(
        "A key does not match the fingerprint that was pinned: do not go on, and check where "
        "the key came from."
    ),
    "token_binding_mismatch": N_(
        "The case part of this petition does not belong to the identity in it: it was put "
        "together from two petitions, or changed."
    ),
    "invalid_receipt_code": N_(
        "This receipt code is not valid: it has 28 letters and digits in groups of four, and "
        "one of them is probably mistyped."
    ),
    "missing_key": N_(
        "This keystore does not hold the key this step needs (an intake keystore cannot open "
        "cases, for example)."
    ),
    "keystore_invalid": N_(
        "This file cannot be used as a keystore or a saved receipt: it is damaged, of another "
        "version, or not such a file."
    ),
    "wrong_passphrase": N_("The passphrase does not open this file (or the file was changed)."),
    "invalid_proof": N_(
        "A proof of the public log does not verify: the log or the receipt is not what it must "
        "be. Do not rely on it."
    ),
    "key_file_invalid": N_(
        "This key file cannot be used: it is damaged, of another version, or not a key file."
    ),
    "policy_not_satisfied": N_(
        "The log's checkpoint is not cosigned by as many witnesses as the trust policy "
        "requires. Try again later."
    ),
    # client/errors.py
    "not_initialised": N_(
        "This device is not set up for this yet: first run the command named in the details."
    ),
    "client_state_invalid": N_(
        "A file this program keeps on this device is missing, damaged or from another version; "
        "the details say what to do."
    ),
    "server_unreachable": N_(
        "The petition server cannot be reached. Check your network connection (or proxy) and "
        "try again in a moment."
    ),
    "server_name_unknown": N_(
        "The address of the petition server cannot be found: its name is unknown. Check the "
        "address for typing mistakes, and your network connection."
    ),
    "tls_failed": N_(
        "No secure connection to the petition server could be made (https and http mixed up, "
        "or a certificate that cannot be verified, as on a network that intercepts "
        "connections). Check the address; do not go on over a network you do not trust."
    ),
    "server_busy": N_(
        "The petition server is overloaded and did not accept the request. Please try again in "
        "a few minutes."
    ),
    "server_refused": N_("The petition server refused the request."),
    "server_misbehaved": N_(
        "The petition server answered something that the protocol does not allow or that does "
        "not verify. Try again later; if this repeats, do not rely on this server."
    ),
    "directory_untrusted": N_(
        "The list of bureaus cannot be trusted: it is not signed by the directory authority "
        "you trusted (or the fingerprint given is not one), or it is older than a list already "
        "seen. Do not use it."
    ),
    "fingerprint_mismatch": N_(
        "Stop: this server is not the one with the fingerprint you entered. Check the "
        "fingerprint against the poster (or whoever gave it to you), character by character. "
        "If it matches the poster, do not use this server: it may be an impostor."
    ),
    "directory_stale": N_(
        "The list of bureaus is too old to seal with (more than 30 days): a bureau's keys may "
        "have changed since. Get a current one (petition directory export, on a device that "
        "is online)."
    ),
    "unknown_bureau": N_(
        "This bureau is not in the verified list of bureaus: check its id (petition bureaus "
        "lists them)."
    ),
    "petition_not_found": N_(
        "The server has no petition for this receipt code. Check the code for typing mistakes."
    ),
    "audit_failed": N_(
        "The audit failed: the public log or a receipt is not what it must be. Keep the "
        "details as evidence."
    ),
}

#: Codes used for many different things: the line stays the error's own sentence, which the
#: raising site words (a command's in the person's language, the library's in English).
GENERIC_CODES = frozenset({"error", "client_error", "invalid_input"})

#: Codes whose every raising site says fixed words that the table's sentence already says
#: better: their sentence stands alone. Every other code's sentence is followed by the error's
#: own (English) detail, which names the file, the server address, the size or the bureau.
PLAIN_CODES = frozenset(
    {
        "decryption_failed",
        "wrong_passphrase",
        "fingerprint_mismatch",
        "invalid_receipt_code",
        "token_binding_mismatch",
    }
)

_REQUEST_NOT_UNDERSTOOD = N_(
    "The petition server did not accept the request as this program sent it: the program and "
    "the server may be of different versions. Install the current version of this program; "
    "if this repeats, report it."
)
_SIGNATURE_REFUSED = N_(
    "The petition server did not accept the bureau's signature on the request: check that the "
    "keystore is the bureau's current one, and this computer's clock."
)
_ENTRY_REFUSED = N_(
    "The petition server refused this entry: it does not match the petition's record. Look "
    "at the petition again, then try again."
)
_SERVER_UNAVAILABLE = N_(
    "The petition server cannot take requests right now. Please try again in a few minutes."
)

#: By the server's stable API code (server/errors.py, docs/protocol.md §15.2), for the
#: ServerRefused of client/errors.py; a code not here is told by ERROR_TEXT["server_refused"].
SERVER_ERROR_TEXT = {
    "malformed_json": _REQUEST_NOT_UNDERSTOOD,
    "schema_violation": _REQUEST_NOT_UNDERSTOOD,
    "malformed": _REQUEST_NOT_UNDERSTOOD,
    "unsupported_media_type": _REQUEST_NOT_UNDERSTOOD,
    "method_not_allowed": _REQUEST_NOT_UNDERSTOOD,
    "missing_lookup_key": _REQUEST_NOT_UNDERSTOOD,
    "invalid_range": _REQUEST_NOT_UNDERSTOOD,
    "uri_too_long": _REQUEST_NOT_UNDERSTOOD,
    "headers_too_large": _REQUEST_NOT_UNDERSTOOD,
    "bad_request": _REQUEST_NOT_UNDERSTOOD,
    "unsupported_version": N_(
        "The petition server no longer accepts what this version of the program sends. Install "
        "the current version of this program and try again."
    ),
    "too_large": N_(
        "The petition server refused it as too large: a petition with its attachments is "
        "limited to 16 MiB."
    ),
    "not_found": N_(
        "The petition server has nothing under this name: check the petition id or the "
        "receipt code."
    ),
    "unknown_bureau": N_("The petition server's list of bureaus has no bureau with this id."),
    "unknown_destination": N_(
        "The bureau the petition is to go to is not in the list of bureaus: check its id."
    ),
    "stale_bureau_key": N_(
        "The bureau's key changed while you were writing. Submit again: the new key is used."
    ),
    "conflict": N_(
        "The petition server already holds this petition under another receipt code; nothing "
        "was changed."
    ),
    "unauthenticated": _SIGNATURE_REFUSED,
    "invalid_signature": _SIGNATURE_REFUSED,
    "request_mismatch": _SIGNATURE_REFUSED,
    "wrong_bureau": _SIGNATURE_REFUSED,
    "stale_request": N_(
        "The petition server refused the request because this computer's clock is wrong: set "
        "the date and time correctly and try again."
    ),
    "replayed_request": N_("The petition server had already seen this signed request. Try again."),
    "wrong_day": N_(
        "The day of the event is not the server's day today (UTC): check this computer's date "
        "and try again."
    ),
    "reply_mismatch": _ENTRY_REFUSED,
    "envelope_mismatch": _ENTRY_REFUSED,
    "envelope_required": _ENTRY_REFUSED,
    "envelope_unexpected": _ENTRY_REFUSED,
    "reply_out_of_order": _ENTRY_REFUSED,
    "not_handling": N_(
        "This petition is now with another bureau (transferred, assigned or under review there)."
    ),
    "wrong_level": N_(
        "A review is asked of the body one level above the one whose answer is contested; the "
        "details name it."
    ),
    "no_next_level": N_(
        "The body whose answer is contested has no level above it in the list of bureaus, so "
        "no review can be asked there."
    ),
    "impossible_event": N_(
        "This step cannot follow the petition's history under the time limits of the Regulations."
    ),
    "busy": ERROR_TEXT["server_busy"],
    "rate_limited": ERROR_TEXT["server_busy"],
    "unavailable": _SERVER_UNAVAILABLE,
    "directory_unavailable": _SERVER_UNAVAILABLE,
    "request_timeout": N_(
        "The request did not reach the petition server in time (a slow or interrupted "
        "connection). Try again."
    ),
    "internal_error": N_(
        "The petition server failed on this request (an error in the server). Try again later; "
        "if this repeats, tell the server's operator."
    ),
}
