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
from crypto.receipt import lookup_key_hash
from crypto.wire import LOOKUP_KEY_HEADER
from server.database import (
    Connection,
    PetitionRow,
    petition_events,
    petition_row,
    signed_replies,
)
from server.http_edge import bytes_member, fail, json_body, json_response
from server.published_log import receipt_for
from server.services import Services, services
from server.submission import (
    HASH_LENGTH,
    SUBMISSION_MEMBERS,
    bureau_or_404,
    overloaded,
    sealed_to_current_keys,
    submission_answer,
    submission_job,
)

blueprint = Blueprint("public", __name__, url_prefix="/v1")


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
    """A submission that the worker's submission lane did not take (server/submission_lane.py):
    judged and answered by the same functions as the lane's."""
    state = services()
    job = submission_job(json_body(set(SUBMISSION_MEMBERS)), state.directory)
    outcome, receipt = state.writer.call(job.header, job.envelope)
    status, body = submission_answer(
        job.petition_id, outcome, receipt, state.config.retry_after_seconds
    )
    return Response(body, status=status, mimetype="application/json")


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
    published = state.directory()
    bundle = bureau_or_404(published, header.bureau_id)
    sealed_to_current_keys(header, bundle)
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
    raise overloaded(state.config.retry_after_seconds, result)


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
