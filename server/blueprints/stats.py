"""``GET /v1/stats``: the public figures of the log (issue 17, "anyone can count").

The server counts what its published log shows, with the same function every auditor runs
(:func:`crypto.case_stats.count_leaves`), over exactly the entries the published checkpoint
covers and on the server's day (UTC). The answer is the canonical JSON of
:meth:`crypto.case_stats.CaseStats.encode`: it names the tree size and the day, so ``petition
audit stats --compare`` can recount the same entries on the same day and show the figures
follow from the log, or that they do not.

Counting reads the whole log, so the answer is kept per application for one (checkpoint,
day, period): the published checkpoint changes with each batch, and the day once a day.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from flask import Blueprint, Response, current_app, request

from crypto.case_stats import DEFAULT_PERIOD, PERIODS, count_leaves
from server.clock import utc_today
from server.http_edge import fail
from server.merkle_store import log_size, read_leaves
from server.services import services

blueprint = Blueprint("stats", __name__, url_prefix="/v1")

CACHE_EXTENSION = "sealed_petition_stats"
#: A few periods' answers for the current checkpoint; older ones are dropped.
CACHE_ENTRIES = len(PERIODS) * 2
READ_CHUNK = 4096


@dataclass
class _Cache:
    lock: threading.Lock = field(default_factory=threading.Lock)
    answers: dict[tuple[bytes, str, str], bytes] = field(default_factory=dict)


def _cache() -> _Cache:
    """This application's cache (kept on the app, never in a module global)."""
    cache = current_app.extensions.get(CACHE_EXTENSION)
    if not isinstance(cache, _Cache):
        cache = current_app.extensions.setdefault(CACHE_EXTENSION, _Cache())
    return cache


@blueprint.get("/stats")
def stats() -> Response:
    period = request.args.get("period", DEFAULT_PERIOD)
    if period not in PERIODS:
        fail(400, "invalid_period", f"period must be one of: {', '.join(PERIODS)}")
    state = services()
    published = state.checkpoint.current()
    if published is None:
        fail(503, "unavailable", "the log has not published a checkpoint yet", 5)
    message, checkpoint = published
    today = utc_today()
    key = (message, period, today.isoformat())
    cache = _cache()
    with cache.lock:
        body = cache.answers.get(key)
    if body is None:
        directory = state.directory().directory
        with state.database.snapshot() as conn:
            if log_size(conn) < checkpoint.size:
                fail(503, "unavailable", "the log's entries are not all readable right now", 5)
            leaves: list[bytes] = []
            for start in range(0, checkpoint.size, READ_CHUNK):
                leaves += read_leaves(conn, start, min(checkpoint.size, start + READ_CHUNK))
        body = count_leaves(leaves, directory, period=period, today=today).encode()
        with cache.lock:
            if len(cache.answers) >= CACHE_ENTRIES:
                cache.answers.clear()
            cache.answers[key] = body
    return Response(body, mimetype="application/json")
