"""Authenticating bureau requests: an Ed25519 signature over the request, fresh and unreplayed.

The header is ``Authorization: SealedPetition <base64url(signed bureau-request wire form)>``
(protocol §9.3.7). The signer must be the bureau named in the path, whose signing key comes from
the published directory; the signed method, target and body hash must be this request's; the
timestamp must be within the configured window of the server clock; and the nonce must not
have been seen, which the writer process checks because it is shared by every worker (and,
with several front ends on PostgreSQL, the database too).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from flask import request

from crypto import cjson
from crypto.errors import InvalidSignature, MalformedInput
from crypto.labels import SignedKind
from crypto.objects import BureauBundle, BureauRequest
from crypto.signing import SignedObject
from crypto.wire import AUTH_SCHEME, AUTHORIZATION_HEADER, MAX_AUTHORIZATION_LENGTH
from server.http_edge import fail, request_body
from server.ipc import WriterClient
from server.published import PublishedDirectory


def request_target() -> str:
    """The path and query as the client sent them (relative to the application root)."""
    path = request.environ.get("PATH_INFO", "")
    query = request.environ.get("QUERY_STRING", "")
    return f"{path}?{query}" if query else path


def authenticate_bureau(
    bureau_id: str,
    published: PublishedDirectory,
    writer: WriterClient,
    window_seconds: int,
    claim_nonce: Callable[[str, bytes], bool],
) -> BureauBundle:
    bundle = published.bureau(bureau_id)
    if bundle is None:
        fail(404, "unknown_bureau", "there is no such bureau in the directory")
    header = request.headers.get(AUTHORIZATION_HEADER, "")
    scheme, _, credentials = header.partition(" ")
    if scheme != AUTH_SCHEME or not credentials or len(header) > MAX_AUTHORIZATION_LENGTH:
        fail(401, "unauthenticated", f"this endpoint needs a signed request ({AUTH_SCHEME} scheme)")
    try:
        signed = SignedObject.decode(
            cjson.b64decode(credentials.strip(), field="authorization"),
            SignedKind.BUREAU_REQUEST,
        )
    except (MalformedInput, InvalidSignature) as exc:
        fail(401, "unauthenticated", f"the signed request cannot be read: {exc.message}")
    signer = published.bureau(str(signed.body.get("bureau_id", ""))[:64])
    if signer is None:
        fail(401, "invalid_signature", "the request is not signed by a bureau in the directory")
    try:
        claim = BureauRequest.from_json(signed.verify(signer.signing_key))
    except InvalidSignature:
        fail(401, "invalid_signature", "the request signature does not verify")
    except MalformedInput as exc:
        fail(401, "unauthenticated", f"the signed request is malformed: {exc.message}")
    if claim.bureau_id != bundle.bureau_id:
        fail(403, "wrong_bureau", "a bureau can only act on its own petitions")
    body_hash = hashlib.sha256(request_body()).digest()
    if (
        claim.method != request.method
        or claim.target != request_target()
        or not hmac.compare_digest(claim.body_sha256, body_hash)
    ):
        fail(401, "request_mismatch", "the signature is for a different request")
    outcome, _ = writer.call(
        {
            "op": "nonce",
            "bureau_id": claim.bureau_id,
            "nonce": cjson.b64encode(claim.nonce),
            "timestamp": claim.timestamp,
        }
    )
    if outcome.get("result") == "stale":
        fail(
            401,
            "stale_request",
            f"the request timestamp is not within {window_seconds} s of the server clock",
        )
    # The writer's claim covers this front end; the store's covers every other one
    # (PostgreSQL; with SQLCipher the one writer is all there is).
    if outcome.get("result") != "fresh" or not claim_nonce(claim.bureau_id, claim.nonce):
        fail(401, "replayed_request", "this signed request was already used")
    return bundle
