"""The desk's Flask application: the same defences as ``petition ui`` around the desk's views.

Order of the checks on every request (static files included), as in webui/app.py: the
``Host`` header (DNS rebinding), then the launch secret or the session cookie, then, for a
POST, the CSRF token and ``Origin``/``Sec-Fetch-Site``. Only then does a view run. The checks
themselves, the headers (a strict CSP with no script at all, no-store) and the secrets are
webui/security.py's, applied to requests by webui/guard.py (the same steps, refusal pages and
error handlers as ``petition ui``); this module gives them the desk's own session store, its
refusal texts and its answer to a server that fails while a page is being made.

A POST is never answered by a page, not even a refusal: the browser would keep its body (a
written answer to a petitioner) in its session files. Refusals of a POST redirect (303) to
``/refused/<kind>``, a GET that explains.

The session cookie has its own name: cookies are shared by every port of 127.0.0.1, and a
reviewer may run ``petition ui`` in the same browser.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, cast

from flask import Flask, g, redirect, request
from werkzeug.wrappers import Response

from client.errors import ServerRefused
from crypto.errors import SealedPetitionError
from webui import guard
from webui.desk.state import DeskSession, DeskState
from webui.i18n import N_

EXTENSION = "petition_desk"
SESSION_COOKIE = "petition_desk_session"
#: A written answer is at most a few pages; nothing is uploaded to the desk.
MAX_REQUEST_BYTES = 1024 * 1024
MAX_FIELD_BYTES = 512 * 1024
#: The petitioner UI's stylesheet, served as the desk's own static folder.
STATIC = Path(__file__).resolve().parent.parent / "static"

CSRF = guard.CSRF
#: Every refusal by its kind (the last part of ``/refused/<kind>``): status, title, text.
REFUSALS: dict[str, tuple[int, str, str]] = {
    "400": (400, N_("Request not understood"), N_("This request could not be understood.")),
    "403": (
        403,
        N_("Not allowed"),
        N_(
            "This desk opens only through the address printed by petition bureau ui, in the "
            "browser that opened it. Open that address again."
        ),
    ),
    "404": (404, N_("Not found"), N_("There is no such page or petition on this desk.")),
    "405": (405, N_("Not allowed"), N_("This page cannot be used that way.")),
    "413": (413, N_("Too large"), N_("What was sent is too large for this desk.")),
    "421": (
        421,
        N_("Wrong address"),
        N_("This desk answers only at 127.0.0.1 or localhost with its own port."),
    ),
    "500": (
        500,
        N_("Something went wrong"),
        N_("Something went wrong inside this desk. Nothing was recorded; please try again."),
    ),
    "502": (
        502,
        N_("The server did not answer"),
        N_(
            "The petition server could not be reached, or answered something that does not "
            "verify. Nothing was recorded; try again shortly."
        ),
    ),
    CSRF: (
        403,
        N_("Form refused"),
        N_(
            "This form did not come from a page of this desk (or the desk was restarted since "
            "it was shown). Nothing was recorded. Open the page again and repeat."
        ),
    ),
}


def state() -> DeskState:
    from flask import current_app

    return cast(DeskState, current_app.extensions[EXTENSION])


translator = guard.translator


def current_session() -> DeskSession:
    return cast(DeskSession, g.desk_session)


def create_desk_app(desk: DeskState) -> Flask:
    """The desk's app for one launch; ``desk.port`` must be set before the first request."""
    app = Flask(__name__, static_folder=str(STATIC), static_url_path="/static")
    GUARD.install(
        app,
        desk,
        max_request_bytes=MAX_REQUEST_BYTES,
        max_field_bytes=MAX_FIELD_BYTES,
        check_request=_check_request,
        template_globals=_template_globals,
    )
    app.register_error_handler(SealedPetitionError, _server_error)

    from webui.desk.views import desk_pages

    app.register_blueprint(desk_pages)
    return app


def _check_request() -> Response | None:
    desk = state()
    GUARD.negotiate()
    refused = GUARD.check_host()
    if refused is not None:
        return refused
    launched = GUARD.check_launch(_launched)
    if launched is not None:
        return launched
    session_id = request.cookies.get(SESSION_COOKIE, "")
    session = desk.find_session(session_id) if session_id else None
    if session is None:
        return refuse("403")
    return GUARD.enter(session)


def _launched() -> Response:
    """The launch secret was right: a fresh session in the desk's own cookie."""
    opened = state().open_session()
    response = redirect("/", code=303)
    guard.set_cookie(response, SESSION_COOKIE, opened.session_id)
    return response


def _server_error(error: SealedPetitionError) -> Response:
    """A failure of the server or of a check while a page was being made (never a value of a
    petition in the message: only the failure's code goes to the terminal)."""
    print(f"petition bureau ui: a page could not be made ({error.code})", file=sys.stderr,
          flush=True)  # fmt: skip
    GUARD.ensure_translator()
    if isinstance(error, ServerRefused) and error.server_code == "not_found":
        return refuse("404")
    return refuse("502")


#: The checks, refusals and error pages of webui/guard.py, with the desk's session and texts.
GUARD = guard.Guard(
    EXTENSION,
    "desk_session",
    REFUSALS,
    one_time_parameters=frozenset({"lang", "once"}),  # one-time results: the switch drops them
    command="petition bureau ui",
)
refuse, refusal_page = GUARD.refuse, GUARD.refusal_page


def _template_globals() -> dict[str, Any]:
    bureau = state().desk.keys
    return {
        **GUARD.template_globals(),
        "bureau_name": bureau.bundle.name,
        "bureau_id": bureau.bureau_id,
    }
