"""What petitioners use: the directory, submission and status.

Nothing here computes anything from an ID number, and nothing a petitioner sends is per-person:
a submission is the sealed envelope and the hash of a random lookup key (protocol v2).
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from flask import Blueprint, Response, request

from crypto import cjson
from crypto.envelope import MAX_ENVELOPE_LENGTH, parse_header
from crypto.errors import MalformedInput
from crypto.fields import envelope_hash, petition_id_for, validate_bureau_id
from crypto.objects import BureauBundle
from crypto.receipt import lookup_key_hash
from crypto.wire import LOOKUP_KEY_HEADER
from server.database import (
    Connection,
    PetitionRow,
    petition_events,
    petition_row,
    signed_replies,
)
from server.errors import ApiError
from server.http_edge import bytes_member, fail, json_body, json_response
from server.published_log import receipt_for
from server.services import Services, services

blueprint = Blueprint("public", __name__, url_prefix="/v1")

HASH_LENGTH = 32


def bureau_or_404(state: Services, bureau_id: str) -> BureauBundle:
    try:
        validate_bureau_id(bureau_id)
    except MalformedInput:
        fail(404, "unknown_bureau", "there is no such bureau in the directory")
    bundle = state.directory().bureau(bureau_id)
    if bundle is None:
        fail(404, "unknown_bureau", "there is no such bureau in the directory")
    return bundle


@blueprint.get("/directory")
def directory() -> Response:
    return Response(services().directory().wire, mimetype="application/json")


@blueprint.get("/authority")
def authority() -> Response:
    """The directory authority's public key, which ``petition init`` checks against the pin."""
    key = services().directory().authority_key
    if key is None:
        fail(503, "directory_unavailable", "the authority's public key is not published", 30)
    return json_response({"algorithm": "ed25519", "public_key": cjson.b64encode(key.to_bytes())})


@blueprint.post("/petitions")
def submit() -> Response:
    state = services()
    body = json_body({"envelope", "lookup_key_hash"})
    envelope = bytes_member(body, "envelope", max_length=MAX_ENVELOPE_LENGTH)
    lookup_hash = bytes_member(body, "lookup_key_hash", length=HASH_LENGTH)
    # The bureau is named only inside the envelope's fixed-width header, so the request's size
    # depends on the padding bucket alone. A version 1 envelope raises UnsupportedVersion (400).
    header = parse_header(envelope)
    bundle = bureau_or_404(state, header.bureau_id)
    if not (
        hmac.compare_digest(header.identity_key_id, bundle.identity_key.key_id)
        and hmac.compare_digest(header.case_key_id, bundle.case_key.key_id)
    ):
        fail(
            409,
            "stale_bureau_key",
            "the envelope is sealed to keys that are not the bureau's current keys; "
            "fetch the directory again and reseal",
        )
    bureau_id = bundle.bureau_id
    petition_id = petition_id_for(envelope)
    # No read here to spot a resubmission: the writer checks every petition id against the
    # database inside its transaction anyway, and a second read per submission was a fifth of
    # a worker's time in a surge (docs/performance.md).
    outcome, receipt = state.writer.call(
        {
            "op": "submit",
            "petition_id": petition_id,
            "bureau_id": bureau_id,
            "envelope_hash": envelope_hash(envelope).hex(),
            "lookup_key_hash": lookup_hash.hex(),
        },
        envelope,
    )
    result = outcome.get("result")
    if result == "created":
        return _receipt_response(petition_id, receipt, 201)
    if result == "existing":
        return _receipt_response(petition_id, receipt, 200)
    if result == "conflict":
        fail(409, "conflict", "this envelope was already submitted with another receipt")
    raise overloaded(state, result)


def overloaded(state: Services, result: object) -> ApiError:
    """The 503 for a job the writer did not take (``busy``) or could not store."""
    if result == "busy":
        return ApiError(
            503,
            "busy",
            "the server is taking in more than it can store right now; nothing was stored, "
            "please send the same request again shortly",
            retry_after=state.config.retry_after_seconds,
        )
    # Not "nothing was stored": a commit whose confirmation was lost (a broken connection, a
    # receipt that waited too long for its checkpoint) may have stored it. The retry is safe
    # either way: the same envelope gets the same receipt.
    return ApiError(
        503,
        "unavailable",
        "the petition store could not confirm this right now; nothing was acknowledged: send the "
        "same request again (it is safe)",
        retry_after=5,
    )


def _receipt_response(petition_id: str, receipt: bytes, status: int) -> Response:
    return json_response(
        {"petition_id": petition_id, "receipt": receipt.decode("utf-8")}, status=status
    )


@blueprint.get("/petitions/<petition_id>/status")
def status(petition_id: str) -> Response:
    state = services()
    key_hash = lookup_key_hash(_lookup_key())
    with state.database.snapshot() as conn:
        row = petition_row(conn, petition_id) if len(petition_id) == 32 else None
        # Unknown petition and wrong key look the same, so ids cannot be probed for existence.
        if row is None or not hmac.compare_digest(row.lookup_key_hash, key_hash):
            fail(404, "not_found", "no petition with this id and lookup key")
        body = _status_body(conn, row)
    return json_response(body)


@blueprint.post("/petitions/<petition_id>/review")
def review(petition_id: str) -> Response:
    """A request for review (or re-review) by the next level, from the receipt holder.

    The lookup key proves that the sender holds the receipt code, exactly as for the status;
    an unknown petition and a wrong key are the same 404. The envelope is a normal submission
    envelope, sealed on the petitioner's device to the bureau one level above the one whose
    answer is contested. Which request it is, and which bureau that must be, depend on the
    history, so the writer decides both inside its transaction (protocol §15.5).
    """
    state = services()
    key_hash = lookup_key_hash(_lookup_key())
    body = json_body({"envelope"})
    envelope = bytes_member(body, "envelope", max_length=MAX_ENVELOPE_LENGTH)
    with state.database.snapshot() as conn:
        row = petition_row(conn, petition_id) if len(petition_id) == 32 else None
        if row is None or not hmac.compare_digest(row.lookup_key_hash, key_hash):
            fail(404, "not_found", "no petition with this id and lookup key")
    header = parse_header(envelope)
    bundle = bureau_or_404(state, header.bureau_id)
    if not (
        hmac.compare_digest(header.identity_key_id, bundle.identity_key.key_id)
        and hmac.compare_digest(header.case_key_id, bundle.case_key.key_id)
    ):
        fail(
            409,
            "stale_bureau_key",
            "the envelope is sealed to keys that are not the bureau's current keys; "
            "fetch the directory again and reseal",
        )
    published = state.directory()
    parents = {place.bureau_id: place.parent for place in published.directory.places}
    outcome, receipt = state.writer.call(
        {
            "op": "review",
            "petition_id": row.petition_id,
            "lookup_key_hash": key_hash.hex(),
            "bureau_id": bundle.bureau_id,
            "parents": parents,
        },
        envelope,
    )
    result = outcome.get("result")
    if result in ("created", "existing"):
        return json_response(
            {"leaf_index": outcome["leaf_index"], "receipt": receipt.decode("utf-8")},
            201 if result == "created" else 200,
        )
    if result == "not_found":
        fail(404, "not_found", "no petition with this id and lookup key")
    if result == "impossible_event":
        message = str(outcome.get("message", ""))[:400]
        fail(409, "impossible_event", f"no review can be asked now: {message}")
    if result == "no_next_level":
        contested = _bureau_name(state, str(outcome.get("contested")))
        fail(
            409,
            "no_next_level",
            f"the directory lists no level above {contested}: there is nobody to ask",
        )
    if result == "wrong_level":
        expected = _bureau_name(state, str(outcome.get("expected")))
        contested = _bureau_name(state, str(outcome.get("contested")))
        fail(
            400,
            "wrong_level",
            f"this request goes to {expected}, one level above {contested}; seal it to that bureau",
        )
    if result == "malformed":
        fail(400, "malformed", "the request could not be read")
    raise overloaded(state, result)


def _bureau_name(state: Services, bureau_id: str) -> str:
    bundle = state.directory().bureau(bureau_id)
    return f"{bureau_id}" if bundle is None else f"{bundle.name} ({bureau_id})"


@blueprint.get("/lookup")
def lookup() -> Response:
    """The petition of a receipt code, found by the lookup key alone (protocol §15).

    A petitioner who kept only the code has no petition id; a receipt comes back too, built
    against the latest published checkpoint (with the witnesses' cosignatures gathered since the
    petition was accepted), so the code alone is enough to read replies and to audit it.
    """
    state = services()
    key_hash = lookup_key_hash(_lookup_key())
    published = state.checkpoint.current()
    if published is None:
        fail(503, "unavailable", "the log has not published a checkpoint yet", 5)
    with state.database.snapshot() as conn:
        found = conn.execute(
            "SELECT petition_id FROM petitions WHERE lookup_key_hash = ? LIMIT 1", (key_hash,)
        ).fetchone()
        row = None if found is None else petition_row(conn, found[0])
        if row is None:
            fail(404, "not_found", "no petition with this lookup key")
        receipt = receipt_for(conn, row.leaf_index, published)
        body = _status_body(conn, row)
    return json_response({**body, "receipt": receipt.decode("utf-8")})


def _lookup_key() -> bytes:
    header = request.headers.get(LOOKUP_KEY_HEADER)
    if header is None:
        fail(400, "missing_lookup_key", f"send the lookup key in the {LOOKUP_KEY_HEADER} header")
    return cjson.b64decode(header.strip(), field=LOOKUP_KEY_HEADER, length=HASH_LENGTH)


def event_list(events: list[tuple[int, bytes]]) -> list[dict[str, Any]]:
    """A petition's events as every endpoint shows them: leaf index and entry, in log order."""
    return [{"leaf_index": index, "entry": json.loads(leaf)} for index, leaf in events]


def _status_body(conn: Connection, row: PetitionRow) -> dict[str, object]:
    """What the receipt holder sees: the bureau first addressed, every event and reply."""
    return {
        "petition_id": row.petition_id,
        "bureau_id": row.bureau_id,
        "events": event_list(petition_events(conn, row.petition_id)),
        "replies": [json.loads(reply) for reply in signed_replies(conn, row.petition_id)],
    }
