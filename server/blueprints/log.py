"""What auditors, witnesses and monitors use: the static log, and proofs on request.

``/log/`` serves ``DATA/public/log/`` exactly as any static web server would
(c2sp.org/tlog-tiles): the checkpoint (mutable, cached for a second) and the hash tiles and entry
bundles (immutable). A path that is not a valid tile path is 404 before the file system is
touched. ``/v1/log/…`` computes proofs and lists entries on request, each inside one read
transaction, as a convenience for clients that do not read tiles.
"""

from __future__ import annotations

from flask import Blueprint, Response

from crypto import cjson, merkle
from crypto.errors import MalformedInput
from crypto.tiles import parse_path
from server.errors import StorageError
from server.http_edge import fail, json_response, query_int
from server.merkle_store import StoredTree, log_size, read_leaves
from server.services import services
from server.tile_store import MAX_STATIC_FILE as MAX_STATIC_FILE  # the cap on a tile's size

blueprint = Blueprint("log", __name__, url_prefix="/v1/log")
static_blueprint = Blueprint("static_log", __name__, url_prefix="/log")

CHECKPOINT_TYPE = "text/plain; charset=utf-8"
TILE_TYPE = "application/octet-stream"
#: The checkpoint changes with every batch: a cache may keep it a second, not more.
CHECKPOINT_CACHE = "public, max-age=1"
#: A tile path names fixed content (a partial tile's width is in its path): cache it for good.
TILE_CACHE = "public, max-age=31536000, immutable"


@static_blueprint.get("/checkpoint")
def checkpoint() -> Response:
    published = services().checkpoint.current()
    if published is None:
        fail(503, "unavailable", "the log has not published a checkpoint yet", 5)
    response = Response(published[0], mimetype=None, content_type=CHECKPOINT_TYPE)
    response.headers["Cache-Control"] = CHECKPOINT_CACHE
    return response


@static_blueprint.get("/tile/<path:rest>")
def tile(rest: str) -> Response:
    path = "tile/" + rest
    try:
        parse_path(path)  # only well-formed tile paths reach the storage
    except MalformedInput:
        fail(404, "not_found", "no such tile")
    try:
        content = services().log_files.read(path)
    except StorageError:
        fail(503, "unavailable", "the tile cannot be read right now", 5)
    if content is None:
        fail(404, "not_found", "no such tile")
    response = Response(content, content_type=TILE_TYPE)
    response.headers["Cache-Control"] = TILE_CACHE
    return response


MAX_ENTRIES = 1000
MAX_SIZE = 2**53 - 1


@blueprint.get("/proof/inclusion")
def inclusion() -> Response:
    index = query_int("index", None, 0, MAX_SIZE)
    tree_size = query_int("tree_size", None, 1, MAX_SIZE)
    published = _published_checkpoint_size()
    with services().database.snapshot() as conn:
        size = min(published, log_size(conn))
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
    published = _published_checkpoint_size()
    with services().database.snapshot() as conn:
        size = min(published, log_size(conn))
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
    published = _published_checkpoint_size()
    with services().database.snapshot() as conn:
        size = min(published, log_size(conn))
        if not start < end <= size or end - start > MAX_ENTRIES:
            fail(
                400,
                "invalid_range",
                f"need start < end <= {size} and at most {MAX_ENTRIES} entries",
            )
        leaves = read_leaves(conn, start, end)
    return json_response({"start": start, "entries": [cjson.b64encode(leaf) for leaf in leaves]})


def _published_checkpoint_size() -> int:
    """The size of the published checkpoint, read before the snapshot is opened.

    Entries a checkpoint does not cover yet (a batch committed but not yet integrated, or never,
    after a refused fork) are nobody's business: the log is what its key signed. The caller
    caps it at what the store holds. It is read first because on PostgreSQL it takes a pooled
    connection of its own: read inside a snapshot, every thread could hold one connection while
    waiting for a second.
    """
    published = services().checkpoint.current()
    return 0 if published is None else published[1].size
