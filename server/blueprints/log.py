"""What auditors use: signed tree heads, proofs and the entries themselves.

Every answer is computed inside one read transaction, so a proof and the size it is checked
against come from the same committed state.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response

from crypto import cjson, merkle
from server.database import latest_head
from server.http_edge import fail, json_response, query_int
from server.merkle_store import StoredTree, log_size, read_leaves
from server.services import services

blueprint = Blueprint("log", __name__, url_prefix="/v1/log")

MAX_ENTRIES = 1000
MAX_SIZE = 2**53 - 1


@blueprint.get("/head")
def head() -> Response:
    with services().database.snapshot() as conn:
        signed = latest_head(conn)
    if signed is None:
        fail(503, "unavailable", "the log has no signed head yet", 5)
    return json_response(json.loads(signed))


@blueprint.get("/proof/inclusion")
def inclusion() -> Response:
    index = query_int("index", None, 0, MAX_SIZE)
    tree_size = query_int("tree_size", None, 1, MAX_SIZE)
    with services().database.snapshot() as conn:
        size = log_size(conn)
        if tree_size > size or index >= tree_size:
            fail(400, "invalid_range", f"need index < tree_size <= {size}")
        proof = merkle.inclusion_proof(StoredTree(conn, size), index, tree_size)
    return json_response(
        {"index": index, "tree_size": tree_size, "proof": [cjson.b64encode(p) for p in proof]}
    )


@blueprint.get("/proof/consistency")
def consistency() -> Response:
    first = query_int("first", None, 0, MAX_SIZE)
    second = query_int("second", None, 0, MAX_SIZE)
    with services().database.snapshot() as conn:
        size = log_size(conn)
        if not first <= second <= size:
            fail(400, "invalid_range", f"need first <= second <= {size}")
        proof = merkle.consistency_proof(StoredTree(conn, size), first, second)
    return json_response(
        {"first": first, "second": second, "proof": [cjson.b64encode(p) for p in proof]}
    )


@blueprint.get("/entries")
def entries() -> Response:
    start = query_int("start", None, 0, MAX_SIZE)
    end = query_int("end", None, 0, MAX_SIZE)
    with services().database.snapshot() as conn:
        size = log_size(conn)
        if not start < end <= size or end - start > MAX_ENTRIES:
            fail(
                400,
                "invalid_range",
                f"need start < end <= {size} and at most {MAX_ENTRIES} entries",
            )
        leaves = read_leaves(conn, start, end)
    return json_response({"start": start, "entries": [cjson.b64encode(leaf) for leaf in leaves]})
