"""What operators and load balancers use: liveness, readiness and the API description."""

from __future__ import annotations

from flask import Blueprint, Response

from server.http_edge import json_response
from server.services import services

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
    state = services()
    outcome, _ = state.writer.call({"op": "status"})
    published = state.directory_file.current()
    return json_response(
        {
            "status": "ready",
            "queue_depth": outcome.get("queue_depth", 0),
            "queue_capacity": outcome.get("queue_capacity", 0),
            "tree_size": outcome.get("tree_size", 0),
            "directory_serial": None if published is None else published.directory.serial,
        }
    )
