"""A petition submission, checked and answered without Flask.

Two front doors take submissions: the Flask route (``POST /v1/petitions`` in
server/blueprints/public.py) and each worker's submission lane (server/submission_lane.py),
which answers ordinary submissions from the event loop without a thread. Both call these
functions, so a submission is judged and answered the same way whichever door it used; the lane
hands anything it would refuse to the route, whose answer is then the only one given.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crypto.envelope import MAX_ENVELOPE_LENGTH, EnvelopeHeader, parse_header
from crypto.errors import MalformedInput
from crypto.fields import envelope_hash, petition_id_for, validate_bureau_id
from crypto.objects import BureauBundle
from server.errors import ApiError
from server.http_edge import bytes_member, fail, json_object
from server.published import PublishedDirectory

HASH_LENGTH = 32
SUBMISSION_MEMBERS = frozenset({"envelope", "lookup_key_hash"})


@dataclass(frozen=True)
class WriterJob:
    """What the writer is asked to store: the ``submit`` message's header and the envelope."""

    petition_id: str
    header: dict[str, Any]
    envelope: bytes


def bureau_or_404(directory: PublishedDirectory, bureau_id: str) -> BureauBundle:
    try:
        validate_bureau_id(bureau_id)
    except MalformedInput:
        fail(404, "unknown_bureau", "there is no such bureau in the directory")
    bundle = directory.bureau(bureau_id)
    if bundle is None:
        fail(404, "unknown_bureau", "there is no such bureau in the directory")
    return bundle


def sealed_to_current_keys(header: EnvelopeHeader, bundle: BureauBundle) -> None:
    """409 for an envelope sealed to a bureau's previous keys: the client must reseal."""
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


def check_submission(body: bytes, directory: Callable[[], PublishedDirectory]) -> WriterJob:
    """The writer's job for a submission body, or the :class:`ApiError` that refuses it."""
    return submission_job(json_object(body, set(SUBMISSION_MEMBERS)), directory)


def submission_job(value: dict[str, Any], directory: Callable[[], PublishedDirectory]) -> WriterJob:
    """The writer's job for a submission's JSON object (its members already checked).

    ``directory`` is called only once the envelope's header has been read: a worker loads the
    directory on first use, and loading it while a refused 21 MiB body fills the heap would
    leave its long-lived objects among the freed pages, which then cannot go back to the system.
    """
    envelope = bytes_member(value, "envelope", max_length=MAX_ENVELOPE_LENGTH)
    lookup_hash = bytes_member(value, "lookup_key_hash", length=HASH_LENGTH)
    # The bureau is named only inside the envelope's fixed-width header, so the request's size
    # depends on the padding bucket alone. A version 1 envelope raises UnsupportedVersion (400).
    header = parse_header(envelope)
    bundle = bureau_or_404(directory(), header.bureau_id)
    sealed_to_current_keys(header, bundle)
    petition_id = petition_id_for(envelope)
    # No read here to spot a resubmission: the writer checks every petition id against the
    # database inside its transaction anyway, and a second read per submission was a fifth of
    # a worker's time in a surge (docs/performance.md).
    return WriterJob(
        petition_id,
        {
            "op": "submit",
            "petition_id": petition_id,
            "bureau_id": bundle.bureau_id,
            "envelope_hash": envelope_hash(envelope).hex(),
            "lookup_key_hash": lookup_hash.hex(),
        },
        envelope,
    )


def submission_answer(
    petition_id: str, outcome: dict[str, Any], receipt: bytes, retry_after: int
) -> tuple[int, bytes]:
    """The status and JSON body for the writer's answer (201 new, 200 stored before), or the
    :class:`ApiError` for a conflict, a full queue or a store that could not confirm."""
    result = outcome.get("result")
    if result in ("created", "existing"):
        body = json.dumps(
            {"petition_id": petition_id, "receipt": receipt.decode("utf-8")},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        return (201 if result == "created" else 200), body.encode("utf-8")
    if result == "conflict":
        fail(409, "conflict", "this envelope was already submitted with another receipt")
    raise overloaded(retry_after, result)


def overloaded(retry_after: int, result: object) -> ApiError:
    """The 503 for a job the writer did not take (``busy``) or could not store."""
    if result == "busy":
        return ApiError(
            503,
            "busy",
            "the server is taking in more than it can store right now; nothing was stored, "
            "please send the same request again shortly",
            retry_after=retry_after,
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
