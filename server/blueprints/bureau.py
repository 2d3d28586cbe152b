"""What bureaus use: their inbox, the envelopes addressed to them, and replies.

Every route authenticates the request as the bureau named in the path first
(:func:`server.auth.authenticate_bureau`); every query is then scoped to that bureau, and a
petition of another bureau is reported exactly like one that does not exist.
"""

from __future__ import annotations

import json
from datetime import timedelta

from flask import Blueprint, Response

from crypto import cjson
from crypto.errors import InvalidSignature
from crypto.fields import signed_reply_hash
from crypto.labels import SignedKind
from crypto.objects import BureauBundle, Reply
from crypto.signing import SignedObject
from server.auth import authenticate_bureau
from server.blueprints.public import bureau_or_404, overloaded
from server.clock import utc_today
from server.database import PetitionRow
from server.http_edge import fail, json_body, json_response, object_member, query_int
from server.services import Services, services

blueprint = Blueprint("bureau", __name__, url_prefix="/v1/bureaus/<bureau_id>")

MAX_CURSOR = 2**53 - 1


def _authenticated(bureau_id: str) -> tuple[Services, BureauBundle]:
    state = services()
    bureau_or_404(state, bureau_id)
    bundle = authenticate_bureau(
        bureau_id, state.directory(), state.writer, state.config.request_window_seconds
    )
    return state, bundle


def _own_petition(state: Services, bureau_id: str, petition_id: str) -> PetitionRow:
    row = state.database.petition(petition_id) if len(petition_id) == 32 else None
    if row is None or row.bureau_id != bureau_id:
        fail(404, "not_found", "no such petition in this bureau's inbox")
    return row


@blueprint.get("/inbox")
def inbox(bureau_id: str) -> Response:
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
                    "status": item.status,
                    "day": item.day,
                }
                for item in items
            ],
            "next_cursor": items[-1].cursor if items else after,
        }
    )


@blueprint.get("/petitions/<petition_id>")
def petition(bureau_id: str, petition_id: str) -> Response:
    state, _ = _authenticated(bureau_id)
    row = _own_petition(state, bureau_id, petition_id)
    return json_response(
        {
            "petition_id": row.petition_id,
            "bureau_id": row.bureau_id,
            "envelope": cjson.b64encode(row.envelope),
            "status": row.status,
            "day": row.day,
            "leaf_index": row.leaf_index,
            "replies": [json.loads(reply) for reply in state.database.replies(petition_id)],
        }
    )


@blueprint.post("/petitions/<petition_id>/replies")
def reply(bureau_id: str, petition_id: str) -> Response:
    state, bundle = _authenticated(bureau_id)
    body = json_body({"reply"})
    signed = SignedObject.from_json(object_member(body, "reply"), SignedKind.REPLY)
    try:
        parsed = Reply.from_json(signed.verify(bundle.signing_key))
    except InvalidSignature:
        fail(401, "invalid_signature", "the reply is not signed by this bureau's signing key")
    if parsed.petition_id != petition_id or parsed.bureau_id != bureau_id:
        fail(400, "reply_mismatch", "the reply names another petition or bureau")
    today = utc_today()
    if abs(parsed.day - today) > timedelta(days=1):
        fail(400, "invalid_day", "the reply's day must be within one day of the server's day")
    _own_petition(state, bureau_id, petition_id)
    wire = signed.encode()
    outcome, receipt = state.writer.call(
        {
            "op": "reply",
            "petition_id": petition_id,
            "bureau_id": bureau_id,
            "sequence": parsed.sequence,
            "status": parsed.status.value,
            "reply_hash": signed_reply_hash(wire).hex(),
        },
        wire,
    )
    result = outcome.get("result")
    if result in ("created", "existing"):
        return json_response(
            {"leaf_index": outcome["leaf_index"], "receipt": receipt.decode("utf-8")},
            201 if result == "created" else 200,
        )
    if result == "not_found":
        fail(404, "not_found", "no such petition in this bureau's inbox")
    if result == "out_of_order":
        fail(
            409,
            "reply_out_of_order",
            f"the next reply to this petition must have sequence {outcome.get('expected')}",
        )
    raise overloaded(state, result)
