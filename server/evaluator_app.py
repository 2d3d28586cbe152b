"""A stand-alone token evaluator, for running on the bureau's own host.

It serves exactly one route, the same ``POST /v1/bureaus/<id>/token`` the server exposes, from
a key directory. The server forwards to it (``petition serve --token-evaluator URL``) after
applying its per-source limit, so every request here comes from the server's address: only the
per-bureau ceiling is applied here, as a second brake should the server be compromised. It has
no database and no other state.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Response

from crypto import cjson
from crypto.errors import MalformedInput
from crypto.fields import validate_bureau_id
from crypto.token import ELEMENT_LENGTH
from server.config import RateLimit
from server.evaluator import KeyDirectoryEvaluator
from server.http_edge import bytes_member, fail, json_body, json_response, register_error_handlers
from server.ratelimit import TokenBuckets


def create_evaluator_app(keys_dir: Path, per_bureau: RateLimit) -> Flask:
    app = Flask("sealed_petition_evaluator")
    evaluator = KeyDirectoryEvaluator(keys_dir)
    limiter = TokenBuckets(per_bureau, max_keys=10_000)

    @app.post("/v1/bureaus/<bureau_id>/token")
    def token(bureau_id: str) -> Response:
        try:
            validate_bureau_id(bureau_id)
        except MalformedInput:
            fail(404, "unknown_bureau", "no such bureau")
        blinded = bytes_member(
            json_body({"blinded_element"}), "blinded_element", length=ELEMENT_LENGTH
        )
        wait = limiter.take(bureau_id.encode())
        if wait is not None:
            fail(429, "rate_limited", "too many token requests; try again later", int(wait) + 1)
        response = evaluator.evaluate(bureau_id, None, blinded)
        return json_response(
            {
                "evaluated_element": cjson.b64encode(response.evaluated_element),
                "proof": cjson.b64encode(response.proof),
            }
        )

    @app.get("/healthz")
    def healthz() -> Response:
        return json_response({"status": "ok"})

    register_error_handlers(app)
    return app
