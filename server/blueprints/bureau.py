"""What bureaus use: their inbox, their copy of the petitions they handle, and case events.

Every route authenticates the request as the bureau named in the path first
(:func:`server.auth.authenticate_bureau`); every query is then scoped to that bureau, and a
petition that never came to this bureau is reported exactly like one that does not exist.

A case event (``POST .../events``) is a log entry the bureau signed itself, with the encrypted
reply that carried the written notice or answer and, for a transfer or an assignment, the case
re-sealed for the receiving bureau. What needs no history is checked here; what depends on the
stored history (who handles the petition now, whether the statutory history stays possible,
the day, the reply's sequence) is checked by the writer inside its transaction.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable

from flask import Blueprint, Response

from crypto import cjson
from crypto.case_event import ROUTING, SERVER_RECORDED, LogEntry, verify_entry_signature
from crypto.envelope import MAX_ENVELOPE_LENGTH, parse_header
from crypto.errors import InvalidSignature
from crypto.fields import signed_reply_hash
from crypto.keys import VerifyKey
from crypto.labels import SignedKind
from crypto.objects import BureauBundle, Reply
from crypto.signing import SignedObject
from crypto.statutory import Event
from server.auth import authenticate_bureau
from server.blueprints.public import event_list
from server.database import copy_for, petition_events, petition_row, signed_replies
from server.http_edge import bytes_member, fail, json_body, json_response, object_member, query_int
from server.published import PublishedDirectory
from server.services import Services, services
from server.submission import bureau_or_404, overloaded

blueprint = Blueprint("bureau", __name__, url_prefix="/v1/bureaus/<bureau_id>")

MAX_CURSOR = 2**53 - 1
#: Events whose entry moves the case to another bureau, with a copy re-sealed for it.
MOVES_THE_CASE = frozenset({Event.TRANSFERRED, Event.ASSIGNED})


def _authenticated(bureau_id: str) -> tuple[Services, BureauBundle]:
    state = services()
    bureau_or_404(state.directory(), bureau_id)
    bundle = authenticate_bureau(
        bureau_id,
        state.directory(),
        state.writer,
        state.config.request_window_seconds,
        state.database.claim_nonce,
    )
    return state, bundle


@blueprint.get("/inbox")
def inbox(bureau_id: str) -> Response:
    """The petitions this bureau handles now (transferred ones included), with their events."""
    state, _ = _authenticated(bureau_id)
    after = query_int("after", 0, 0, MAX_CURSOR)
    limit = query_int("limit", 100, 1, 500)
    items = state.database.inbox(bureau_id, after, limit)
    return json_response(
        {
            "petitions": [
                {
                    "cursor": item.cursor,
                    "petition_id": item.petition_id,
                    "day": item.day,
                    "event": item.event,
                    "events": event_list(events),
                }
                for item, events in items
            ],
            "next_cursor": items[-1][0].cursor if items else after,
        }
    )


@blueprint.get("/petitions/<petition_id>")
def petition(bureau_id: str, petition_id: str) -> Response:
    """This bureau's copy of the envelope (as submitted, or as re-sealed for it) and the
    petition's events and replies."""
    state, _ = _authenticated(bureau_id)
    with state.database.snapshot() as conn:
        row = petition_row(conn, petition_id) if len(petition_id) == 32 else None
        copy = None if row is None else copy_for(conn, row, bureau_id)
        if row is None or copy is None:
            fail(404, "not_found", "no such petition in this bureau's inbox")
        events = petition_events(conn, petition_id)
        replies = signed_replies(conn, petition_id)
    return json_response(
        {
            "petition_id": row.petition_id,
            "bureau_id": bureau_id,
            "envelope": cjson.b64encode(copy),
            "day": row.day,
            "leaf_index": row.leaf_index,
            "events": event_list(events),
            "replies": [json.loads(reply) for reply in replies],
        }
    )


def _key_of(published: PublishedDirectory) -> Callable[[str], VerifyKey | None]:
    def key_of(bureau_id: str) -> VerifyKey | None:
        bundle = published.bureau(bureau_id)
        return None if bundle is None else bundle.signing_key

    return key_of


@blueprint.post("/petitions/<petition_id>/events")
def event(bureau_id: str, petition_id: str) -> Response:
    state, bundle = _authenticated(bureau_id)
    published = state.directory()
    body = json_body({"entry", "reply", "envelope"})
    entry = LogEntry.from_json(object_member(body, "entry"))
    if entry.event in SERVER_RECORDED:
        fail(
            400,
            "schema_violation",
            f"the server records {entry.event.value!r} itself; a bureau cannot",
        )
    try:
        verify_entry_signature(entry, _key_of(published))
    except InvalidSignature:
        fail(401, "invalid_signature", "the entry is not signed by its bureau's signing key")
    if entry.bureau_id != bureau_id:
        fail(403, "wrong_bureau", "a bureau records events in its own name only")
    if entry.petition_id != petition_id:
        fail(400, "schema_violation", "the entry names another petition than the path")
    destination = None
    if entry.event in ROUTING:
        destination = published.bureau(str(entry.detail.to))
        if destination is None:
            fail(
                400, "unknown_destination", "the entry names a bureau that is not in the directory"
            )
    reply_wire = _checked_reply(body["reply"], entry, bundle)
    envelope = _checked_copy(body["envelope"], entry, destination)
    outcome, receipt = state.writer.call(
        {
            "op": "event",
            "petition_id": petition_id,
            "bureau_id": bureau_id,
            "leaf": entry.leaf().decode("utf-8"),
            "reply_length": len(reply_wire),
            "sequence": _reply_sequence(reply_wire),
        },
        reply_wire + envelope,
    )
    result = outcome.get("result")
    if result in ("created", "existing"):
        return json_response(
            {"leaf_index": outcome["leaf_index"], "receipt": receipt.decode("utf-8")},
            201 if result == "created" else 200,
        )
    if result == "not_found":
        fail(404, "not_found", "no such petition in this bureau's inbox")
    if result == "envelope_mismatch":
        fail(400, "envelope_mismatch", "the entry's envelope hash is not this petition's")
    if result == "wrong_day":
        fail(400, "wrong_day", f"the entry must be dated the server's day, {outcome.get('day')}")
    if result == "not_handling":
        fail(409, "not_handling", "this bureau does not handle this petition now")
    if result == "impossible_event":
        message = str(outcome.get("message", ""))[:300]
        fail(409, "impossible_event", f"this event cannot follow the petition's history: {message}")
    if result == "out_of_order":
        fail(
            409,
            "reply_out_of_order",
            f"the next reply to this petition must have sequence {outcome.get('expected')}",
        )
    if result == "malformed":
        fail(400, "malformed", "the event could not be read")
    raise overloaded(state.config.retry_after_seconds, result)


def _checked_reply(value: object, entry: LogEntry, bundle: BureauBundle) -> bytes:
    """The signed reply's wire bytes (empty without one), checked against the entry."""
    if value is None:
        if entry.reply_hash is not None:
            fail(400, "reply_mismatch", "the entry commits to a reply, and none was sent")
        return b""
    if not isinstance(value, dict):
        fail(400, "schema_violation", "reply must be a signed reply object or null")
    signed = SignedObject.from_json(value, SignedKind.REPLY)
    try:
        parsed = Reply.from_json(signed.verify(bundle.signing_key))
    except InvalidSignature:
        fail(401, "invalid_signature", "the reply is not signed by this bureau's signing key")
    wire = signed.encode()
    if (
        parsed.petition_id != entry.petition_id
        or parsed.bureau_id != entry.bureau_id
        or parsed.event is not entry.event
        or parsed.day != entry.day
        or entry.reply_hash is None
        or not hmac.compare_digest(entry.reply_hash, signed_reply_hash(wire))
    ):
        fail(
            400,
            "reply_mismatch",
            "the reply must be this bureau's for the same petition, event and day, and the "
            "entry's reply_hash must be its hash",
        )
    return wire


def _reply_sequence(wire: bytes) -> int | None:
    if not wire:
        return None
    return Reply.from_json(SignedObject.decode(wire, SignedKind.REPLY).body).sequence


def _checked_copy(value: object, entry: LogEntry, destination: BureauBundle | None) -> bytes:
    """The copy re-sealed for the receiving bureau (empty for events that move nothing)."""
    if entry.event not in MOVES_THE_CASE:
        if value is not None:
            fail(400, "envelope_unexpected", f"a {entry.event.value} event carries no envelope")
        return b""
    if value is None:
        fail(
            400,
            "envelope_required",
            f"a {entry.event.value} event carries the case re-sealed for the receiving bureau",
        )
    envelope = bytes_member({"envelope": value}, "envelope", max_length=MAX_ENVELOPE_LENGTH)
    header = parse_header(envelope)
    if (
        destination is None
        or header.bureau_id != destination.bureau_id
        or not hmac.compare_digest(header.identity_key_id, destination.identity_key.key_id)
        or not hmac.compare_digest(header.case_key_id, destination.case_key.key_id)
    ):
        fail(
            400,
            "envelope_mismatch",
            "the envelope must be sealed to the current keys of the bureau the entry names",
        )
    return envelope
