"""The desk's Flask application: the same defences as ``petition ui`` around the desk's views.

Order of the checks on every request (static files included), as in webui/app.py: the
``Host`` header (DNS rebinding), then the launch secret or the session cookie, then, for a
POST, the CSRF token and ``Origin``/``Sec-Fetch-Site``. Only then does a view run. The checks
themselves, the headers (a strict CSP with no script at all, no-store) and the secrets are
webui/security.py's; this module only applies them to the desk's own session store.

A POST is never answered by a page, not even a refusal: the browser would keep its body (a
written answer to a petitioner) in its session files. Refusals of a POST redirect (303) to
``/refused/<kind>``, a GET that explains.

The session cookie has its own name: cookies are shared by every port of 127.0.0.1, and a
reviewer may run ``petition ui`` in the same browser.
"""

from __future__ import annotations

import sys
from io import BytesIO
from pathlib import Path
from typing import IO, Any, cast
from urllib.parse import urlencode

from flask import Flask, Request, g, redirect, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from client.errors import ServerRefused
from crypto.errors import SealedPetitionError
from webui import i18n, security
from webui.desk.state import DeskSession, DeskState
from webui.i18n import N_

EXTENSION = "petition_desk"
SESSION_COOKIE = "petition_desk_session"
#: A written answer is at most a few pages; nothing is uploaded to the desk.
MAX_REQUEST_BYTES = 1024 * 1024
MAX_FIELD_BYTES = 512 * 1024
#: The petitioner UI's stylesheet, served as the desk's own static folder.
STATIC = Path(__file__).resolve().parent.parent / "static"

CSRF = "csrf"
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


class InMemoryRequest(Request):
    """A request whose body never goes to a temporary file (nothing of a petition on disk)."""

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        return BytesIO()


def state() -> DeskState:
    from flask import current_app

    return cast(DeskState, current_app.extensions[EXTENSION])


def translator() -> i18n.Translator:
    return cast(i18n.Translator, g.t)


def current_session() -> DeskSession:
    return cast(DeskSession, g.desk_session)


def create_desk_app(desk: DeskState) -> Flask:
    """The desk's app for one launch; ``desk.port`` must be set before the first request."""
    app = Flask(__name__, static_folder=str(STATIC), static_url_path="/static")
    app.request_class = InMemoryRequest
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
        MAX_FORM_MEMORY_SIZE=MAX_FIELD_BYTES,
        TEMPLATES_AUTO_RELOAD=False,
    )
    app.extensions[EXTENSION] = desk
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda message: translator().gettext(message),
        ngettext=lambda singular, plural, n: translator().ngettext(singular, plural, n),
        newstyle=True,
    )
    app.before_request(_check_request)
    app.after_request(_add_headers)
    app.context_processor(_template_globals)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(SealedPetitionError, _server_error)
    app.register_error_handler(Exception, _unexpected_error)

    from webui.desk.views import desk_pages

    app.register_blueprint(desk_pages)
    return app


def _set_cookie(response: Response, value: str) -> None:
    response.set_cookie(SESSION_COOKIE, value, httponly=True, samesite="Strict", path="/")


def _check_request() -> Response | None:
    desk = state()
    g.t = i18n.Translator(i18n.negotiate(request.accept_languages), desk.translations)
    if not security.host_allowed(request.headers.get("Host"), desk.port):
        return refuse("421")
    launch_key = request.args.get(security.LAUNCH_PARAMETER)
    if launch_key is not None:
        if request.method != "GET" or not desk.secrets.launch_key_matches(launch_key):
            return refuse("403")
        # The secret opens a session and leaves the address bar at once.
        opened = desk.open_session()
        response = redirect("/", code=303)
        _set_cookie(response, opened.session_id)
        return response
    session_id = request.cookies.get(SESSION_COOKIE, "")
    session = desk.find_session(session_id) if session_id else None
    if session is None:
        return refuse("403")
    g.desk_session = session
    if session.lang is not None:
        g.t = i18n.Translator(session.lang, desk.translations)
    if request.method == "POST":
        token = request.form.get(security.CSRF_FIELD, "")
        if not (
            desk.secrets.csrf_token_matches(session.session_id, token)
            and security.post_allowed(
                request.headers.get("Origin"), request.headers.get("Sec-Fetch-Site"), desk.port
            )
        ):
            return refuse(CSRF)
    chosen = request.args.get("lang")
    if request.method == "GET" and chosen is not None:
        if chosen in i18n.LANGUAGES:
            session.lang = chosen
        rest = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
        return redirect(request.path + ("?" + urlencode(rest) if rest else ""), code=303)
    return None


def _add_headers(response: Response) -> Response:
    for name, value in security.SECURITY_HEADERS.items():
        response.headers[name] = value
    return response


def _answers_a_form() -> bool:
    return request.method not in {"GET", "HEAD"}


def refuse(kind: str) -> Response:
    """A refusal: a page for a GET; for a POST, a redirect to that page (never a page)."""
    if kind not in REFUSALS:
        kind = "400"
    if _answers_a_form():
        return redirect(f"/refused/{kind}", code=303)
    return refusal_page(kind)


def refusal_page(kind: str) -> Response:
    """The page that explains a refusal; with no link into the desk without a session."""
    if kind not in REFUSALS:
        kind = "404"
    status, title, text = REFUSALS[kind]
    t = translator()
    bare = g.get("desk_session") is None
    body = render_template("message.html", title=t.gettext(title), text=t.gettext(text), bare=bare)
    return Response(body, status=status, mimetype="text/html")


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    if not hasattr(g, "t"):
        g.t = i18n.Translator(i18n.DEFAULT_LANGUAGE, state().translations)
    response = refuse(str(status) if str(status) in REFUSALS else "400")
    if status == 405 and error.valid_methods and not _answers_a_form():  # type: ignore[attr-defined]
        response.headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
    return response


def _server_error(error: SealedPetitionError) -> Response:
    """A failure of the server or of a check while a page was being made (never a value of a
    petition in the message: only the failure's code goes to the terminal)."""
    print(f"petition bureau ui: a page could not be made ({error.code})", file=sys.stderr,
          flush=True)  # fmt: skip
    if not hasattr(g, "t"):
        g.t = i18n.Translator(i18n.DEFAULT_LANGUAGE, state().translations)
    if isinstance(error, ServerRefused) and error.server_code == "not_found":
        return refuse("404")
    return refuse("502")


def _unexpected_error(error: Exception) -> Response:
    # One line for the reviewer's terminal, never a traceback with a petition's values.
    print(f"petition bureau ui: internal error ({type(error).__name__})", file=sys.stderr,
          flush=True)  # fmt: skip
    if not hasattr(g, "t"):
        g.t = i18n.Translator(i18n.DEFAULT_LANGUAGE, state().translations)
    return refuse("500")


#: Query parameters that name a one-time result: the language switch leaves them out.
ONE_TIME_PARAMETERS = {"lang", "once"}


def _switch_url(language: str) -> str:
    """This page in another language (every page is a GET: POSTs are answered by redirects)."""
    here = request.path
    rest = [(k, v) for k, v in request.args.items(multi=True) if k not in ONE_TIME_PARAMETERS]
    if rest:
        here += "?" + urlencode(rest)
    separator = "&" if "?" in here else "?"
    return f"{here}{separator}{urlencode({'lang': language})}"


def _template_globals() -> dict[str, Any]:
    t = translator()
    session: DeskSession | None = g.get("desk_session")
    desk = state()
    return {
        "t": t,
        "lang": t.language,
        "html_lang": i18n.HTML_LANG[t.language],
        "html_langs": i18n.HTML_LANG,
        "native_names": i18n.NATIVE_NAMES,
        "languages": i18n.LANGUAGES,
        "csrf_field": security.CSRF_FIELD,
        "csrf_token": desk.secrets.csrf_token(session.session_id) if session else "",
        "switch_url": _switch_url,
        "bureau_name": desk.desk.keys.bundle.name,
        "bureau_id": desk.desk.keys.bureau_id,
    }
