"""The Flask application: request checks, headers, languages and error pages around the views.

Order of the checks on every request (static files included): the ``Host`` header (DNS
rebinding), then the launch secret or the session cookie, then, for a POST, the CSRF token and
``Origin``. Only then does a view run. See webui/security.py and docs/ui.md.

In kiosk mode (webui/kiosk.py) a request without a live session but with the kiosk cookie is
not refused: the kiosk's browser gets a fresh, empty petitioner session and lands on the start
page, which is how the next person starts after start over or the idle wipe.

A POST is never answered by a page, not even a refusal or an error: the browser would keep its
body (the petition, the ID number, the receipt code) in its session files. Refusals of a POST
redirect (303) to ``/refused/<kind>``, a GET that explains.
"""

from __future__ import annotations

import gettext
import sys
from dataclasses import dataclass, field, replace
from io import BytesIO
from typing import IO, Any, cast
from urllib.parse import urlencode

from flask import Flask, Request, g, redirect, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from client.home import ClientHome
from client.session import NetworkOptions
from crypto.padding import MAX_CONTENT_LENGTH
from webui import i18n, security
from webui.kiosk import IdleWipe, KioskSettings
from webui.messages import CSRF_REFUSED, HTTP_ERROR_TEXT
from webui.state import Store, UiSession

#: A whole petition (16 MiB) with the form's text around it; larger posts get a 413 page.
MAX_REQUEST_BYTES = MAX_CONTENT_LENGTH + 2 * 1024 * 1024
#: The body field may hold 50,000 characters of up to 4 bytes each.
MAX_FIELD_BYTES = 512 * 1024
EXTENSION = "petition_ui"
#: Sent when a kiosk's browser changes hands (start over, or a session that the idle wipe
#: ended): the browser drops its cache (back-forward cache included) and any site storage.
#: Not "cookies": that would drop the fresh session cookie set by the same answer.
CLEAR_SITE_DATA = '"cache", "storage"'
#: Seconds a page waits for a server that refuses connections before it says so (the command
#: line's retries take 20 s and more; a person looking at a page should not wait that long).
CONNECT_WINDOW = 4.0
#: What a browser may open before ``petition init`` (or the setup page) pinned a server.
SETUP_ENDPOINTS = frozenset(
    {"pages.setup_page", "pages.setup_check", "pages.refused", "pages.start_over", "static"}
)


class InMemoryRequest(Request):
    """A request whose uploads stay in memory.

    Werkzeug spools uploads larger than 500 KB to a temporary file by default; a petition's
    attachment must never reach the disk, so every upload goes to a :class:`BytesIO`.
    """

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        return BytesIO()


@dataclass
class UiRuntime:
    """Everything one launch holds: where to find the server, the secrets, the memory."""

    home: ClientHome
    network: NetworkOptions
    secrets: security.LaunchSecrets = field(default_factory=security.LaunchSecrets)
    store: Store = field(default_factory=Store)
    translations: dict[str, gettext.GNUTranslations] = field(default_factory=i18n.load_translations)
    port: int = 0  # set once the listening socket is bound
    kiosk: KioskSettings | None = None  # ``--kiosk``: one petitioner after another
    #: ``petition ui`` sets it: while no server is pinned, every page leads to the setup page
    #: (webui/setup.py). An app made without it answers as before a setup page existed.
    first_run_setup: bool = False
    idle_wipe: IdleWipe | None = field(default=None, init=False, repr=False)
    _started: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.network.retry.connect_window is None:
            retry = replace(self.network.retry, connect_window=CONNECT_WINDOW)
            self.network = replace(self.network, retry=retry)
        if self.kiosk is not None:
            self.idle_wipe = IdleWipe(self.store, self.kiosk.idle_seconds)

    def initialised(self) -> bool:
        """A server is pinned (``petition init``, or the setup page)."""
        return self.home.config_path.exists()

    def needs_setup(self) -> bool:
        """The setup page is what this launch shows: offered, and no server pinned yet."""
        return self.first_run_setup and not self.initialised()

    def launch_url(self) -> str:
        query = urlencode({security.LAUNCH_PARAMETER: self.secrets.launch_key})
        return f"http://127.0.0.1:{self.port}/?{query}"

    def start(self) -> None:
        """Start what runs beside the requests: a kiosk's idle timer (once)."""
        if self.idle_wipe is not None and not self._started:
            self._started = True
            self.idle_wipe.start()

    def close(self) -> None:
        """Stop the idle timer and forget everything held (the end of the launch)."""
        if self.idle_wipe is not None:
            self.idle_wipe.stop()
        self.store.wipe()

    def touch(self) -> None:
        """A request of this UI's own browser: a kiosk's idle time starts again."""
        if self.idle_wipe is not None:
            self.idle_wipe.touch()


def runtime() -> UiRuntime:
    from flask import current_app

    return cast(UiRuntime, current_app.extensions[EXTENSION])


def translator() -> i18n.Translator:
    return cast(i18n.Translator, g.t)


def current_session() -> UiSession:
    return cast(UiSession, g.ui_session)


def create_app(ui: UiRuntime) -> Flask:
    app = Flask(__name__)
    app.request_class = InMemoryRequest
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
        MAX_FORM_MEMORY_SIZE=MAX_FIELD_BYTES,
        TEMPLATES_AUTO_RELOAD=False,
    )
    app.extensions[EXTENSION] = ui
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
    app.register_error_handler(Exception, _unexpected_error)

    from webui.views import pages

    app.register_blueprint(pages)
    ui.start()
    return app


def set_cookie(response: Response, name: str, value: str) -> None:
    """A cookie of this UI: script cannot read it, other sites' requests do not carry it, and
    it lasts until the browser closes."""
    response.set_cookie(name, value, httponly=True, samesite="Strict", path="/")


def fresh_session(ui: UiRuntime) -> Response:
    """Open an empty petitioner session for this browser and go to the start page."""
    opened = ui.store.open_session()
    response = redirect("/", code=303)
    set_cookie(response, security.SESSION_COOKIE, opened.session_id)
    return response


def _check_request() -> Response | None:
    ui = runtime()
    g.t = i18n.Translator(i18n.negotiate(request.accept_languages), ui.translations)
    if not security.host_allowed(request.headers.get("Host"), ui.port):
        return refuse("421")
    if ui.idle_wipe is not None:
        ui.idle_wipe.check()  # a session idle for too long is gone before it is looked up
    launch_key = request.args.get(security.LAUNCH_PARAMETER)
    if launch_key is not None:
        if request.method != "GET" or not ui.secrets.launch_key_matches(launch_key):
            return refuse("403")
        # The secret opens a session and leaves the address bar at once.
        ui.touch()
        response = fresh_session(ui)
        if ui.kiosk is not None:
            set_cookie(response, security.KIOSK_COOKIE, ui.secrets.kiosk_key)
        return response
    session_id = request.cookies.get(security.SESSION_COOKIE, "")
    session = ui.store.session(session_id) if session_id else None
    if session is None:
        if ui.kiosk is not None and ui.secrets.kiosk_key_matches(
            request.cookies.get(security.KIOSK_COOKIE, "")
        ):
            # The kiosk's browser, whose petitioner was wiped (start over in another tab, or
            # the idle wipe): whatever it asked for, the next person starts afresh. A POST's
            # body is dropped unread.
            ui.touch()
            response = fresh_session(ui)
            response.headers["Clear-Site-Data"] = CLEAR_SITE_DATA
            return response
        return refuse("403")
    ui.touch()
    g.ui_session = session
    if session.lang is not None:
        g.t = i18n.Translator(session.lang, ui.translations)
    if request.method == "POST":
        token = request.form.get(security.CSRF_FIELD, "")
        if not (
            ui.secrets.csrf_token_matches(session.session_id, token)
            and security.post_allowed(
                request.headers.get("Origin"), request.headers.get("Sec-Fetch-Site"), ui.port
            )
        ):
            return refuse(CSRF)
    chosen = request.args.get("lang")
    if request.method == "GET" and chosen is not None:
        if chosen in i18n.LANGUAGES:
            session.lang = chosen
        rest = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
        return redirect(request.path + ("?" + urlencode(rest) if rest else ""), code=303)
    if request.endpoint not in SETUP_ENDPOINTS and ui.needs_setup():
        return redirect("/setup", code=303)  # first run: nothing works before a pinned server
    return None


def _add_headers(response: Response) -> Response:
    for name, value in security.SECURITY_HEADERS.items():
        response.headers[name] = value
    return response


CSRF = "csrf"
#: Every refusal by its kind (the last part of ``/refused/<kind>``): status, title, text.
REFUSALS: dict[str, tuple[int, str, str]] = {
    **{str(status): (status, *text) for status, text in HTTP_ERROR_TEXT.items()},
    CSRF: (403, *CSRF_REFUSED),
}


def _answers_a_form() -> bool:
    """A request whose body the browser would keep if it were answered by a page."""
    return request.method not in {"GET", "HEAD"}


def refuse(kind: str) -> Response:
    """A refusal: a page for a GET; for a POST, a redirect to that page (never a page)."""
    if kind not in REFUSALS:
        kind = "400"
    if _answers_a_form():
        return redirect(f"/refused/{kind}", code=303)
    return refusal_page(kind)


def refusal_page(kind: str) -> Response:
    """The page that explains a refusal; with no link into the interface without a session."""
    if kind not in REFUSALS:
        kind = "404"
    status, title, text = REFUSALS[kind]
    t = translator()
    bare = g.get("ui_session") is None
    body = render_template("message.html", title=t.gettext(title), text=t.gettext(text), bare=bare)
    return Response(body, status=status, mimetype="text/html")


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    if not hasattr(g, "t"):
        g.t = i18n.Translator(i18n.DEFAULT_LANGUAGE, runtime().translations)
    response = refuse(str(status) if status in HTTP_ERROR_TEXT else "400")
    if status == 405 and error.valid_methods and not _answers_a_form():  # type: ignore[attr-defined]
        response.headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
    return response


def _unexpected_error(error: Exception) -> Response:
    # One line for the terminal of the person who started it, never a traceback with values.
    print(f"petition ui: internal error ({type(error).__name__})", file=sys.stderr, flush=True)
    if not hasattr(g, "t"):
        g.t = i18n.Translator(i18n.DEFAULT_LANGUAGE, runtime().translations)
    return refuse("500")


def _template_globals() -> dict[str, Any]:
    t = translator()
    session: UiSession | None = g.get("ui_session")
    ui = runtime()
    return {
        "t": t,
        "lang": t.language,
        "html_lang": i18n.HTML_LANG[t.language],
        "html_langs": i18n.HTML_LANG,
        "native_names": i18n.NATIVE_NAMES,
        "languages": i18n.LANGUAGES,
        "csrf_field": security.CSRF_FIELD,
        "csrf_token": ui.secrets.csrf_token(session.session_id) if session else "",
        "switch_url": _switch_url,
        "kiosk": ui.kiosk,
    }


#: Query parameters that name a one-time result (webui/views.py): already used by the page
#: that shows the switch, so the switch leaves them out.
ONE_TIME_PARAMETERS = {"lang", "once", "view"}


def _switch_url(language: str) -> str:
    """This page in another language (every page is a GET: POSTs are answered by redirects)."""
    here = request.path
    rest = [(k, v) for k, v in request.args.items(multi=True) if k not in ONE_TIME_PARAMETERS]
    if rest:
        here += "?" + urlencode(rest)
    separator = "&" if "?" in here else "?"
    return f"{here}{separator}{urlencode({'lang': language})}"
