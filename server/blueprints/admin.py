"""What operators and load balancers use: liveness, readiness and the API description."""

from __future__ import annotations

from flask import Blueprint, Response

from server.http_edge import fail, json_response
from server.services import services
from server.store_guard import disk_space_low

blueprint = Blueprint("admin", __name__)


@blueprint.get("/healthz")
def healthz() -> Response:
    """Liveness only: this worker answers. Readiness (the writer, the directory) is below."""
    return json_response({"status": "ok"})


@blueprint.get("/v1/openapi.json")
def openapi() -> Response:
    return Response(services().openapi, mimetype="application/json")


@blueprint.get("/v1/admin/readiness")
def readiness() -> Response:
    """Ready or not, and nothing more: this route is as public as every other.

    It used to report the writer's queue depth and the log size; polled, those timed petitions
    and showed the load. Now the only answers are ``{"status": "ready"}`` and a 503 error body:
    the writer cannot be reached, is stopping, or has met a damaged store; the PostgreSQL store
    cannot be read; the data directory's
    disk is nearly full (a commit would fail: better out of rotation first); or no directory
    has been published yet.
    """
    state = services()
    outcome, _ = state.writer.call({"op": "status"})  # WriterUnavailable (503) if unreachable
    if outcome.get("result") != "ok":
        fail(503, "unavailable", "the petition store is not ready", retry_after=5)
    state.database.check_reachable()  # PostgreSQL: StorageError (503) when it cannot be read
    if disk_space_low(state.data.path):
        fail(503, "unavailable", "the petition store's disk is nearly full", retry_after=5)
    state.directory()  # 503 directory_unavailable until `petition admin init` has run
    return json_response({"status": "ready"})
